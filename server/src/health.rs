//! `GET /healthz` and `GET /readyz`, for load balancers and orchestrators. Both sit beside
//! the session layer (no cookie is read or set), are never throttled, answer in a few
//! milliseconds and say nothing secret.
//!
//! - `/healthz`: the process serves requests (200 `ok`). A liveness probe: restart the
//!   instance when it stops answering.
//! - `/readyz`: the instance can serve this build's pages: the database answers within
//!   [`DATABASE_TIMEOUT`], its migrations are exactly this build's (an instance of an
//!   older build, after a newer one migrated, is not ready), and the site's files (the
//!   WASM) are where the server serves them from. 200 with every check `ok`, or 503 with
//!   `failed` naming the first check that failed. A readiness probe: send no traffic to
//!   an instance that is not ready.
//!
//! `/readyz` is on the public port and not throttled, so a flood of it must cost no more
//! than a flood of anything else: the checks run one at a time, and an answer is reused
//! for [`READY_REUSE`]; requests that arrive while a check runs wait for its answer rather
//! than start their own, for at most [`READY_WAIT`] in all (then 503, `failed: timeout`).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use bulwark::db;
use leptos::config::LeptosOptions;

use crate::AppState;

pub const HEALTH_PATH: &str = "/healthz";
pub const READY_PATH: &str = "/readyz";
/// How long the database may take to answer a readiness check.
pub const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a readiness answer is given again without checking anew.
pub const READY_REUSE: Duration = Duration::from_secs(1);
/// The longest a readiness probe waits, its turn and the check together: past it, 503
/// (a disk or database that hangs must not hang the probes).
pub const READY_WAIT: Duration = Duration::from_secs(5);
/// How long the site's files may take to be listed.
const SITE_TIMEOUT: Duration = Duration::from_secs(1);

/// The last readiness answer, and when it was made.
type Answered = Option<(Instant, StatusCode, serde_json::Value)>;

pub fn routes() -> Router<AppState> {
    let last: Arc<tokio::sync::Mutex<Answered>> = Arc::default();
    Router::new().route(HEALTH_PATH, get(healthz)).route(
        READY_PATH,
        get(move |State(state): State<AppState>| {
            let last = Arc::clone(&last);
            async move {
                let answer = tokio::time::timeout(READY_WAIT, async {
                    // Held while a check runs: whoever arrives meanwhile waits for its answer.
                    let mut last = last.lock().await;
                    match &*last {
                        Some((at, status, body)) if at.elapsed() < READY_REUSE => (*status, body.clone()),
                        _ => {
                            let (status, body) = readyz(&state).await;
                            *last = Some((Instant::now(), status, body.clone()));
                            (status, body)
                        }
                    }
                })
                .await;
                let (status, body) = answer.unwrap_or_else(|_| {
                    tracing::warn!(event = "not_ready", check = "timeout", "readiness check took too long");
                    let body = serde_json::json!({ "status": "not ready", "failed": "timeout" });
                    (StatusCode::SERVICE_UNAVAILABLE, body)
                });
                (status, axum::Json(body)).into_response()
            }
        }),
    )
}

async fn healthz() -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "ok\n").into_response()
}

/// One check's outcome: `ok`, or why not (a fixed phrase, never an error's text, which
/// could name a host or a user).
type Outcome = Result<(), &'static str>;

async fn readyz(state: &AppState) -> (StatusCode, serde_json::Value) {
    let database = database(&state.pool).await;
    let migrations = match database {
        Ok(()) => migrations(&state.pool).await,
        Err(_) => Err("not checked: the database did not answer"),
    };
    let site = site(&state.leptos_options).await;
    let checks = [("database", database), ("migrations", migrations), ("site", site)];
    let failed = checks.iter().find(|(_, outcome)| outcome.is_err()).map(|(name, _)| *name);
    let mut body = serde_json::json!({
        "status": if failed.is_some() { "not ready" } else { "ready" },
        "checks": checks.iter().map(|(name, outcome)| (name.to_string(), serde_json::Value::from(outcome.err().unwrap_or("ok")))).collect::<serde_json::Map<_, _>>(),
    });
    if let Some(name) = failed {
        body["failed"] = serde_json::Value::from(name);
        tracing::warn!(event = "not_ready", check = name, "readiness check failed");
    }
    let status = if failed.is_some() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    (status, body)
}

async fn database(pool: &db::Pool) -> Outcome {
    let answer = async {
        bulwark::on_db!(pool, c => sqlx::query_scalar::<_, i64>("SELECT CAST(1 AS BIGINT)").fetch_one(c).await)
    };
    match tokio::time::timeout(DATABASE_TIMEOUT, answer).await {
        Ok(Ok(1)) => Ok(()),
        Ok(_) => Err("the database answered with an error"),
        Err(_) => Err("the database did not answer in time"),
    }
}

async fn migrations(pool: &db::Pool) -> Outcome {
    match tokio::time::timeout(DATABASE_TIMEOUT, db::migration_status(pool)).await {
        Ok(Ok(status)) if status.is_current() => Ok(()),
        Ok(Ok(status)) if !status.unknown.is_empty() => Err("the database has migrations of a newer build"),
        Ok(Ok(_)) => Err("this build's migrations are not all applied, or were altered"),
        Ok(Err(_)) => Err("the migrations could not be read"),
        Err(_) => Err("the database did not answer in time"),
    }
}

/// Listed on a blocking thread, within [`SITE_TIMEOUT`]: a hung disk cannot hold a runtime
/// worker.
async fn site(options: &LeptosOptions) -> Outcome {
    let options = options.clone();
    let listed = tokio::task::spawn_blocking(move || crate::check::site_has_wasm(&options));
    match tokio::time::timeout(SITE_TIMEOUT, listed).await {
        Ok(Ok(true)) => Ok(()),
        Ok(Ok(false)) => Err("the site's WASM is missing"),
        Ok(Err(_)) | Err(_) => Err("the site's files could not be listed in time"),
    }
}
