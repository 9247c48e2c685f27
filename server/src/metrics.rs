//! Prometheus metrics on a listener of their own (`BULWARK_METRICS_ADDR`, off by default):
//! `GET /metrics` in Prometheus' text format.
//!
//! Everything in the workspace records through the `metrics` facade; this module installs
//! the recorder (`metrics-exporter-prometheus`), counts every request by route class and
//! status with its latency, and, when scraped, reads what only the database knows: live
//! sessions, waiting mail and the oldest one's age, the connection pool, and (PostgreSQL)
//! backends waiting on a lock. The names of what the library counts are in
//! `bulwark::metrics`. No label value carries an address, IP, user id or token: route
//! classes and statuses are fixed words and numbers, never a path.

use std::{
    net::SocketAddr,
    sync::OnceLock,
    time::{Duration, Instant},
};

use axum::{
    extract::{Request, State},
    http::{header, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use bulwark::db::Db;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::{AppState, StartupError};

/// Requests answered, by route `class` and `status`.
pub const HTTP_REQUESTS: &str = "bulwark_http_requests_total";
/// Time to each answer's headers, by route `class`.
pub const HTTP_DURATION: &str = "bulwark_http_request_duration_seconds";
/// Sessions that have not ended.
pub const SESSIONS_LIVE: &str = "bulwark_sessions_live";
/// Mail waiting to be sent.
pub const MAIL_WAITING: &str = "bulwark_mail_waiting";
/// How long the oldest waiting mail has waited (0 when none waits).
pub const MAIL_OLDEST_AGE: &str = "bulwark_mail_oldest_waiting_seconds";
/// This instance's database connections, by `state` (`idle`, `in_use`).
pub const DB_POOL_CONNECTIONS: &str = "bulwark_db_pool_connections";
/// The most connections this instance's pool opens.
pub const DB_POOL_MAX: &str = "bulwark_db_pool_max_connections";
/// PostgreSQL: this database's backends waiting on a lock right now.
pub const DB_LOCK_WAITS: &str = "bulwark_db_lock_waits";
/// Scrapes whose database readings failed (the gauges above keep their last values).
pub const SCRAPE_ERRORS: &str = "bulwark_metrics_scrape_errors_total";

/// How long a scrape may wait for each database reading.
const READING_TIMEOUT: Duration = Duration::from_secs(2);
/// The database is read at most this often, however often (or however many at once) the
/// listener is scraped: scrapes cannot take the site's connections away.
pub const READING_EVERY: Duration = Duration::from_secs(5);
/// When the database readings last succeeded (a gauge: its age tells the readings are stale).
pub const LAST_READING: &str = "bulwark_metrics_last_reading_timestamp_seconds";

/// Installs the process's Prometheus recorder (once: the facade has one global recorder)
/// and returns its handle. Until this runs, every metric call anywhere does nothing.
pub fn install() -> Result<&'static PrometheusHandle, String> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(bulwark::metrics::SECONDS_BUCKETS)
                .and_then(PrometheusBuilder::install_recorder)
                .map_err(|e| format!("the metrics recorder could not be installed: {e}"))?;
            bulwark::metrics::describe();
            describe();
            bulwark::metrics::register_at_zero();
            counter!(SCRAPE_ERRORS).increment(0);
            Ok(handle)
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "Requests answered, by route class (page, api, asset, health) and status"
    );
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "Time to each answer's headers, by route class");
    describe_gauge!(SESSIONS_LIVE, "Sessions that have not ended (every instance's: one database)");
    describe_gauge!(MAIL_WAITING, "Mail waiting to be sent (every instance's)");
    describe_gauge!(MAIL_OLDEST_AGE, Unit::Seconds, "How long the oldest waiting mail has waited (0: none)");
    describe_gauge!(
        DB_POOL_CONNECTIONS,
        "This instance's open database connections, by state (idle, in_use)"
    );
    describe_gauge!(DB_POOL_MAX, "The most database connections this instance opens");
    describe_gauge!(DB_LOCK_WAITS, "PostgreSQL: this database's backends waiting on a lock now");
    describe_counter!(SCRAPE_ERRORS, "Scrapes whose database readings failed or timed out");
    describe_gauge!(LAST_READING, Unit::Seconds, "When the database readings last succeeded (Unix time)");
}

/// The class a request's path belongs to: a fixed word, so a made-up path cannot add a
/// label value.
pub fn route_class(path: &str) -> &'static str {
    if path.starts_with("/api/") || path == crate::export::EXPORT_PATH {
        "api"
    } else if path == crate::health::HEALTH_PATH || path == crate::health::READY_PATH {
        "health"
    } else if path.starts_with("/pkg/") || path.rsplit('/').next().is_some_and(|last| last.contains('.')) {
        "asset"
    } else {
        "page"
    }
}

/// Counts every answer by route class and status, with its latency (to the headers).
pub async fn count_requests(request: Request, next: Next) -> Response {
    let class = route_class(request.uri().path());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    counter!(HTTP_REQUESTS, "class" => class, "status" => status).increment(1);
    histogram!(HTTP_DURATION, "class" => class).record(started.elapsed().as_secs_f64());
    response
}

/// What the metrics listener serves from: the app, and when its database was last read.
#[derive(Clone)]
struct Scraped {
    app: AppState,
    last: std::sync::Arc<tokio::sync::Mutex<Option<Instant>>>,
    every: Duration,
}

/// The metrics listener's routes: `GET /metrics`, reading the database at most once every
/// `every` ([`READING_EVERY`] when serving).
pub fn routes(state: AppState, every: Duration) -> Router {
    let scraped = Scraped { app: state, last: Default::default(), every };
    Router::new().route("/metrics", get(scrape)).with_state(scraped)
}

async fn scrape(State(Scraped { app: state, last, every }): State<Scraped>) -> Response {
    let handle = match install() {
        Ok(handle) => handle,
        Err(message) => return (StatusCode::SERVICE_UNAVAILABLE, message).into_response(),
    };
    // One reading at a time, and none within READING_EVERY of the last: concurrent or
    // frequent scrapes are answered from the gauges as they are.
    if let Ok(mut last) = last.try_lock() {
        if last.is_none_or(|at| at.elapsed() >= every) {
            *last = Some(Instant::now());
            match read_database(&state).await {
                Ok(()) => gauge!(LAST_READING).set(now_unix()),
                Err(error) => {
                    counter!(SCRAPE_ERRORS).increment(1);
                    tracing::warn!(error = %error, "a metrics scrape could not read the database");
                }
            }
        }
    }
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle.render()).into_response()
}

fn now_unix() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Sets the gauges only the database knows.
async fn read_database(state: &AppState) -> Result<(), String> {
    let (open, idle, max) = match &state.pool {
        Db::Sqlite(pool) => (pool.size(), pool.num_idle(), pool.options().get_max_connections()),
        Db::Postgres(pool) => (pool.size(), pool.num_idle(), pool.options().get_max_connections()),
    };
    let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(open);
    gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(f64::from(idle));
    gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set(f64::from(open - idle));
    gauge!(DB_POOL_MAX).set(f64::from(max));

    let timed =
        |what: &'static str| move |_| format!("reading {what} took over {} s", READING_TIMEOUT.as_secs());
    let live = tokio::time::timeout(READING_TIMEOUT, state.registry.live())
        .await
        .map_err(timed("live sessions"))?
        .map_err(|e| e.to_string())?;
    gauge!(SESSIONS_LIVE).set(live as f64);
    let (waiting, oldest) = tokio::time::timeout(READING_TIMEOUT, state.outbox.waiting())
        .await
        .map_err(timed("the mail queue"))?
        .map_err(|e| e.to_string())?;
    gauge!(MAIL_WAITING).set(waiting as f64);
    let age = oldest.map_or(0, |queued| state.registry.now().saturating_sub(queued).max(0));
    gauge!(MAIL_OLDEST_AGE).set(age as f64);
    if let Some(waits) = tokio::time::timeout(READING_TIMEOUT, bulwark::db::lock_waits(&state.pool))
        .await
        .map_err(timed("lock waits"))?
        .map_err(|e| e.to_string())?
    {
        gauge!(DB_LOCK_WAITS).set(waits as f64);
    }
    Ok(())
}

/// Binds the metrics listener.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr).await.map_err(|source| StartupError::Bind { addr, source })
}

/// Serves `GET /metrics` on `listener` until `shutdown` resolves, running the recorder's
/// upkeep every few seconds (histograms are drained even when nobody scrapes).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    reading_every: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let upkeep = tokio::spawn(async {
        let mut ticker = tokio::time::interval(Duration::from_secs(5));
        loop {
            ticker.tick().await;
            if let Ok(handle) = install() {
                handle.run_upkeep();
            }
        }
    });
    let served = axum::serve(listener, routes(state, reading_every)).with_graceful_shutdown(shutdown).await;
    upkeep.abort();
    served
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every metric this build exports, by the names Prometheus shows (a histogram's
    /// series too).
    fn exported() -> Vec<String> {
        use bulwark::metrics as lib;
        let counters_and_gauges = [
            lib::SIGNINS,
            lib::SECOND_STEPS,
            lib::HASH_ADMITTED,
            lib::HASH_REFUSED,
            lib::THROTTLE_BLOCKS,
            lib::MAILS,
            lib::BREACHED_UNAVAILABLE,
            HTTP_REQUESTS,
            SESSIONS_LIVE,
            MAIL_WAITING,
            MAIL_OLDEST_AGE,
            DB_POOL_CONNECTIONS,
            DB_POOL_MAX,
            DB_LOCK_WAITS,
            SCRAPE_ERRORS,
        ];
        let histograms = [lib::HASH_WAIT, HTTP_DURATION];
        counters_and_gauges
            .iter()
            .map(|name| (*name).to_owned())
            .chain(
                histograms
                    .iter()
                    .flat_map(|name| ["_bucket", "_sum", "_count"].map(|suffix| format!("{name}{suffix}"))),
            )
            .collect()
    }

    /// The example alert rules watch only metrics this build exports.
    #[test]
    fn the_example_alert_rules_name_only_metrics_that_exist() {
        let exported = exported();
        let rules = include_str!("../../ops/prometheus/alerts.yml");
        let tests = include_str!("../../ops/prometheus/alerts.test.yml");
        let mut named = 0;
        for text in [rules, tests] {
            for piece in text.split("bulwark_").skip(1) {
                let name: String =
                    piece.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                named += 1;
                assert!(exported.contains(&format!("bulwark_{name}")), "bulwark_{name} is not exported");
            }
        }
        assert!(named >= 12, "the rules were not read ({named} names)");
    }

    #[test]
    fn a_route_class_is_a_fixed_word_whatever_the_path() {
        assert_eq!(route_class("/api/login"), "api");
        assert_eq!(route_class(crate::export::EXPORT_PATH), "api");
        assert_eq!(route_class("/healthz"), "health");
        assert_eq!(route_class("/readyz"), "health");
        assert_eq!(route_class("/pkg/bulwark.wasm"), "asset");
        assert_eq!(route_class("/favicon.ico"), "asset");
        assert_eq!(route_class("/login"), "page");
        assert_eq!(route_class("/alice@example.com/secret-token"), "page");
        assert_eq!(route_class("/reset?token=abc"), "page");
    }
}
