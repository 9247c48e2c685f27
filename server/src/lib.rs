//! The Bulwark server: configuration, start-up (database, migrations, services), the HTTP
//! router with its session layer, and graceful shutdown. `main.rs` only parses the
//! command line; everything here is also driven by the integration tests.

mod api_errors;
mod assets;
pub mod caller;
pub mod check;
pub mod config;
pub mod export;
pub mod health;
pub mod logging;
pub mod metrics;
mod net;
pub mod provision;
pub mod roles;
pub mod security;

pub use net::{bind, serve, shutdown_signal};

use std::{net::SocketAddr, sync::Arc, time::Duration};

use app::api::ssr::{DeviceCookie, Services};
use app::{shell, App};
use axum::{
    extract::FromRef,
    http::{header, HeaderValue, StatusCode},
    middleware,
    response::{IntoResponse, Response},
    Router,
};
use bulwark::{
    accounts::Accounts,
    clock::SharedClock,
    db::{self, DbError, Pool},
    devices::Devices,
    hashing::{HashError, PasswordHasher},
    mail::{
        self, DevTransport, MailTransport, Outbox, SenderPolicy, SmtpTransport, Templates, TransportError,
    },
    recovery::Recovery,
    registration::Registration,
    sessions::{HashedStore, SessionData, SessionRegistry},
    throttle::Throttle,
};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::{sync::watch, task::JoinHandle};
use tower_http::{
    catch_panic::CatchPanicLayer,
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    timeout::{RequestBodyTimeoutLayer, TimeoutLayer},
    trace::TraceLayer,
};
use tower_sessions::{cookie::SameSite, session_store::ExpiredDeletion, Expiry, SessionManagerLayer};

use crate::config::{network::ServerLimits, MailDelivery, Settings};

/// Everything a request handler may need. Cheap to clone (one reference count: the
/// router clones it for every request).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct Shared {
    pub leptos_options: LeptosOptions,
    pub accounts: Accounts,
    pub pool: Pool,
    /// Session data, keyed by a hash of the cookie's id.
    pub sessions: HashedStore<SessionData>,
    pub registry: SessionRegistry,
    pub devices: Devices,
    pub throttle: Throttle,
    pub registration: Registration,
    pub recovery: Recovery,
    pub admin: bulwark::admin::Admin,
    pub impersonations: bulwark::impersonation::Impersonations,
    pub email_changes: bulwark::email_change::EmailChanges,
    pub factors: bulwark::factors::Factors,
    pub deletions: bulwark::deletion::Deletions,
    pub invitations: bulwark::invitations::Invitations,
    pub outbox: Outbox,
    /// Where the mail sender delivers: SMTP, or the development folder.
    pub mail_transport: Arc<dyn MailTransport>,
    pub settings: Arc<Settings>,
}

impl FromRef<AppState> for SessionRegistry {
    fn from_ref(state: &AppState) -> Self {
        state.registry.clone()
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("could not prepare the session table: {0}")]
    SessionStore(#[source] sqlx::Error),
    #[error(transparent)]
    Hashing(#[from] HashError),
    #[error("could not set up mail delivery: {0}")]
    Mail(#[from] TransportError),
    #[error("could not listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    /// `--no-migrate`, and the database is not exactly this build's.
    #[error("started with --no-migrate, but {0}: run `server migrate` as the schema's owner first")]
    NotMigrated(String),
}

/// Opens and migrates the database and builds the services. `clock` is the system clock
/// in production and a manual one in tests.
pub async fn prepare(
    settings: Settings,
    leptos_options: LeptosOptions,
    clock: SharedClock,
) -> Result<AppState, StartupError> {
    let pool = db::connect_with_pool(&settings.database_url, settings.db_pool_size).await?;
    let store = SessionData::new(&pool);
    if settings.migrate {
        db::migrate(&pool).await?;
        store.migrate().await.map_err(StartupError::SessionStore)?;
    } else {
        schema_is_current(&pool).await?;
    }
    let hasher = PasswordHasher::new(settings.hash_params)?.with_queue_limit(settings.hash_queue);
    let params = settings.hash_params;
    tracing::info!(
        engine = %PasswordHasher::engine_name(),
        "password hashing: argon2id m={} KiB, t={}, p={}",
        params.memory_kib,
        params.iterations,
        params.parallelism
    );
    let accounts = Accounts::new(pool.clone(), hasher, settings.password_policy, clock.clone())
        .with_breaches(settings.credentials.breaches.clone())
        .with_secret(settings.secret.expose());
    let registry = SessionRegistry::new(pool.clone(), clock.clone(), settings.session_lifetimes)
        .with_admin_lifetimes(settings.access.admin_lifetimes);
    let throttle =
        Throttle::new(pool.clone(), clock.clone(), settings.throttle.clone(), settings.secret.expose());
    let outbox = Outbox::new(pool.clone(), clock.clone());
    let templates = Templates::new(&settings.public_url.to_string());
    let mut devices = Devices::new(pool.clone(), clock.clone());
    if settings.credentials.new_device_notice {
        devices = devices.with_notices(outbox.clone(), templates.clone());
    }
    let registration =
        Registration::new(accounts.clone(), throttle.clone(), outbox.clone(), templates.clone())
            .invite_only(settings.access.signup == config::access::SignupMode::Invite);
    let recovery = Recovery::new(
        accounts.clone(),
        throttle.clone(),
        outbox.clone(),
        templates.clone(),
        registry.clone(),
        devices.clone(),
    );
    let impersonations = bulwark::impersonation::Impersonations::new(
        pool.clone(),
        clock.clone(),
        settings.access.impersonation,
        registry.clone(),
        outbox.clone(),
        templates.clone(),
    );
    let email_changes = bulwark::email_change::EmailChanges::new(bulwark::email_change::Parts {
        pool: pool.clone(),
        clock: clock.clone(),
        accounts: accounts.clone(),
        throttle: throttle.clone(),
        outbox: outbox.clone(),
        templates: templates.clone(),
        recovery: recovery.clone(),
    });
    let factors = bulwark::factors::Factors::new(
        pool.clone(),
        clock.clone(),
        bulwark::factors::FactorKeys::new(settings.secret.expose(), settings.credentials.factor_key_version),
        throttle.clone(),
        outbox.clone(),
        templates.clone(),
        bulwark::factors::ISSUER,
    )
    .with_passkeys(relying_party(&settings.public_url.to_string()));
    let deletions = bulwark::deletion::Deletions::new(bulwark::deletion::Parts {
        pool: pool.clone(),
        clock: clock.clone(),
        registry: registry.clone(),
        devices: devices.clone(),
        outbox: outbox.clone(),
        templates: templates.clone(),
        grace_days: settings.access.deletion_grace_days,
        accounts: accounts.clone(),
    });
    let invitations = bulwark::invitations::Invitations::new(bulwark::invitations::Parts {
        pool: pool.clone(),
        clock: clock.clone(),
        accounts: accounts.clone(),
        throttle: throttle.clone(),
        outbox: outbox.clone(),
        templates: templates.clone(),
    });
    let admin = bulwark::admin::Admin::new(
        pool.clone(),
        clock.clone(),
        accounts.clone(),
        registry.clone(),
        devices.clone(),
        throttle.clone(),
        outbox.clone(),
        templates,
        deletions.clone(),
    );
    let mail_transport: Arc<dyn MailTransport> = match &settings.mail.delivery {
        MailDelivery::Smtp(smtp) => Arc::new(SmtpTransport::new(smtp)?),
        MailDelivery::Folder(dir) => {
            tracing::warn!(
                folder = %dir.display(),
                "no SMTP host set: mail is written to this folder and the log (development only)"
            );
            Arc::new(DevTransport::new(dir))
        }
    };
    Ok(AppState(Arc::new(Shared {
        leptos_options,
        accounts,
        sessions: HashedStore::new(store, pool.clone()),
        pool,
        registry,
        devices,
        throttle,
        registration,
        recovery,
        admin,
        impersonations,
        email_changes,
        invitations,
        factors,
        deletions,
        outbox,
        mail_transport,
        settings: Arc::new(settings),
    })))
}

/// Applies pending migrations and exits (`server migrate`).
/// For `--no-migrate`: the database's migrations are exactly this build's, and the session
/// table exists; else what is wrong.
async fn schema_is_current(pool: &Pool) -> Result<(), StartupError> {
    let status = db::migration_status(pool).await.map_err(|e| StartupError::NotMigrated(e.to_string()))?;
    if !status.is_current() {
        return Err(StartupError::NotMigrated(format!(
            "the database's migrations are not this build's (pending: {:?}, altered: {:?}, unknown: {:?})",
            status.pending, status.altered, status.unknown
        )));
    }
    let table = bulwark::sessions::store_table(pool.backend());
    if !db::table_exists(pool, table).await.map_err(|e| StartupError::NotMigrated(e.to_string()))? {
        return Err(StartupError::NotMigrated("the session table does not exist".into()));
    }
    // Serving without migrating usually means serving as a role that owns nothing; say so
    // when this one could still change the audit log (see `server grant-app-role`).
    match roles::audit_gaps(pool, None).await {
        Ok(gaps) if gaps.is_empty() => {}
        Ok(gaps) => tracing::warn!(
            event = "audit_log_writable",
            can = gaps.join(", "),
            "serving with --no-migrate as a role that can change the audit log"
        ),
        Err(error) => tracing::warn!(error = %error, "could not check the serving role's rights"),
    }
    Ok(())
}

pub async fn migrate_only(settings: &Settings) -> Result<(), StartupError> {
    let pool = db::connect_with_pool(&settings.database_url, settings.db_pool_size).await?;
    db::migrate(&pool).await?;
    SessionData::new(&pool).migrate().await.map_err(StartupError::SessionStore)?;
    Ok(())
}

/// The whole HTTP surface: pages, server functions under `/api`, static files.
pub fn router(state: AppState) -> Router {
    let routes = route_list();
    let services = Arc::new(Services {
        accounts: state.accounts.clone(),
        devices: state.devices.clone(),
        device_cookie: DeviceCookie {
            name: state.settings.cookie.device_name,
            secure: state.settings.cookie.secure,
        },
        registration: state.registration.clone(),
        recovery: state.recovery.clone(),
        registry: state.registry.clone(),
        throttle: state.throttle.clone(),
        client_ip: state.settings.client_ip.clone(),
        audit: bulwark::audit::AuditLog::new(state.pool.clone()),
        admin: state.admin.clone(),
        impersonations: state.impersonations.clone(),
        email_changes: state.email_changes.clone(),
        deletions: state.deletions.clone(),
        invitations: state.invitations.clone(),
        invite_only: state.registration.is_invite_only(),
        factors: state.factors.clone(),
        parked_cookie: DeviceCookie {
            name: state.settings.cookie.parked_name,
            secure: state.settings.cookie.secure,
        },
        second_step_cookie: DeviceCookie {
            name: state.settings.cookie.second_step_name,
            secure: state.settings.cookie.secure,
        },
        passkey_cookie: DeviceCookie {
            name: state.settings.cookie.passkey_name,
            secure: state.settings.cookie.secure,
        },
        access: app::api::ssr::StepUpWindows {
            step_up_secs: state.settings.access.step_up_secs,
            admin_step_up_secs: state.settings.access.admin_step_up_secs,
        },
    });
    let context = move || {
        provide_context(Arc::clone(&services));
        // Runs after Leptos has made this render's nonce: hand it to `security_headers`.
        if let (Some(nonce), Some(parts)) =
            (leptos::nonce::use_nonce(), use_context::<axum::http::request::Parts>())
        {
            if let Some(slot) = parts.extensions.get::<security::NonceSlot>() {
                slot.fill(&nonce);
            }
        }
    };

    let cookie = &state.settings.cookie;
    let sessions = SessionManagerLayer::new(state.sessions.clone())
        .with_name(cookie.name)
        .with_secure(cookie.secure)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time::Duration::seconds(
            state.settings.session_lifetimes.idle_secs,
        )));

    let leptos_options = state.leptos_options.clone();
    let limits = state.settings.limits;
    let router = Router::new()
        .leptos_routes_with_context(&state, routes, context.clone(), move || shell(leptos_options.clone()))
        .route(export::EXPORT_PATH, axum::routing::post(export::download))
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(context, shell))
        // Every server function's error gets its own status here, decoding errors included.
        .layer(middleware::from_fn(api_errors::status_from_error))
        .layer(middleware::from_fn(api_errors::read_body))
        .layer(middleware::from_fn_with_state(state.clone(), caller::resolve_caller))
        .layer(sessions)
        // Static files and the health checks: beside the session layer, not inside it.
        .merge(assets::routes(&state.leptos_options))
        .merge(health::routes());
    harden(router, limits)
        // Outside the session layer: a refused cross-site request never touches a session.
        .layer(middleware::from_fn_with_state(
            security::PublicOrigin::from_url(&state.settings.public_url),
            security::csrf_guard,
        ))
        .layer(middleware::from_fn_with_state(
            security::HeaderPolicy { hsts: state.settings.public_url.scheme_str() == Some("https") },
            security::security_headers,
        ))
        // Every log line of a request carries its id (also returned as `x-request-id`), the
        // method and the path. Never the query string: it can carry tokens.
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let id = request.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok());
            tracing::info_span!("request", id = id.unwrap_or("-"), method = %request.method(), path = request.uri().path())
        }).on_failure(log_failure))
        // Every answer counted by route class and status, refusals made outside included.
        .layer(middleware::from_fn(metrics::count_requests))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        // Answers made outside the resolver (a refused cross-site request, 408, 413, a
        // panic's 500, a missing static file) are not kept by any cache either; a static
        // file that was found has its own policy (see `assets`).
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .with_state(state)
}

/// Logs an answer in the 5xx range, at `error` except 503 (the hashing queue full, a lock
/// that timed out: the load speaking, with `Retry-After`, not a fault), which is `warn`.
fn log_failure(
    class: tower_http::classify::ServerErrorsFailureClass,
    latency: Duration,
    _span: &tracing::Span,
) {
    let millis = latency.as_millis();
    match class {
        tower_http::classify::ServerErrorsFailureClass::StatusCode(StatusCode::SERVICE_UNAVAILABLE) => {
            tracing::warn!(status = 503, latency_ms = millis, "answered 503: busy");
        }
        class => tracing::error!(classification = %class, latency_ms = millis, "response failed"),
    }
}

/// The app's routes, listed once per process. Leptos lists them by rendering the app with
/// every resource's loading switched off by a process-wide flag, so a page rendering
/// while a second router was being built would wait for its data for ever (seen as a
/// 408 in the integration tests, which build one router per test). Listed once, before
/// the first router exists, no render can overlap it.
fn route_list() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// The bounds every request gets, inside the CSRF check and the security headers (so
/// their answers carry the headers too): a body larger than any form here is refused (413)
/// before anything reads it, a body that trickles in is cut off (408), as is a request
/// that takes too long in all, and a panic in a handler answers 500 (logged) while the
/// process keeps serving.
fn harden<S: Clone + Send + Sync + 'static>(router: Router<S>, limits: ServerLimits) -> Router<S> {
    router
        .layer(RequestBodyLimitLayer::new(limits.body_limit))
        .layer(RequestBodyTimeoutLayer::new(limits.header_timeout))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, limits.request_timeout))
        .layer(CatchPanicLayer::custom(panic_response))
}

/// The answer to a request whose handler panicked: a plain 500, the panic logged.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %message, "a request handler panicked");
    (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side. Please try again in a moment.")
        .into_response()
}

/// Delivers queued mail in the background until `shutdown` turns true.
pub fn spawn_mail_sender(state: &AppState, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    mail::spawn_sender(
        state.outbox.clone(),
        state.mail_transport.clone(),
        state.settings.mail.from.clone(),
        SenderPolicy::default(),
        shutdown,
    )
}

/// Deletes expired sessions (registry rows and stored data), throttle counters that can no
/// longer matter, expired device cookies, expired mail tokens and expired pending
/// signups every `every`, until `shutdown` turns true.
pub fn spawn_cleanup(
    state: &AppState,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    for (what, error) in clean_up(&state).await {
                        tracing::warn!(error = %error, "{what} clean-up failed");
                    }
                }
                _ = shutdown.changed() => break,
            }
        }
        tracing::debug!("session clean-up stopped");
    })
}

/// One clean-up pass (see [`spawn_cleanup`]): every step runs even when one before it
/// failed; the failures, named, are returned.
pub async fn clean_up(state: &AppState) -> Vec<(&'static str, String)> {
    let mut failures = Vec::new();
    match state.registry.delete_expired().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(event = "session_expired", count = n, "expired sessions removed"),
        Err(error) => failures.push(("session", error.to_string())),
    }
    if let Err(error) = state.sessions.delete_expired().await {
        failures.push(("session store", error.to_string()));
    }
    if let Err(error) = state.throttle.delete_stale().await {
        failures.push(("throttle counter", error.to_string()));
    }
    if let Err(error) = state.factors.delete_expired().await {
        tracing::warn!(error = %error, "deleting expired second steps failed");
    }
    if let Err(error) = state.devices.delete_expired().await {
        failures.push(("device cookie", error.to_string()));
    }
    if let Err(error) = state.accounts.delete_expired_tokens().await {
        failures.push(("token", error.to_string()));
    }
    if let Err(error) = state.email_changes.delete_dead().await {
        failures.push(("email change", error.to_string()));
    }
    if let Err(error) = state.admin.delete_old_approvals().await {
        failures.push(("admin approval", error.to_string()));
    }
    let audit = bulwark::audit::AuditLog::new(state.pool.clone());
    let before = state.registry.now().saturating_sub(bulwark::audit::UNKNOWN_FAILURES_KEPT_SECS);
    match audit.prune_unknown_failures(before).await {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(event = "audit_pruned", count = n, "old failed sign-ins naming no account removed")
        }
        Err(error) => failures.push(("audit retention", error.to_string())),
    }
    if let Err(error) = state.outbox.prune_log().await {
        failures.push(("mail log", error.to_string()));
    }
    match state.deletions.erase_due().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(event = "user_erased", count = n, "accounts past their grace period erased"),
        Err(error) => failures.push(("account erasure", error.to_string())),
    }
    match state.accounts.delete_expired_pending().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(event = "user_signup_expired", count = n, "expired signups removed"),
        Err(error) => failures.push(("pending signup", error.to_string())),
    }
    match state.invitations.prune().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(event = "user_invitation_pruned", count = n, "ended invitations forgotten"),
        Err(error) => failures.push(("invitations", error.to_string())),
    }
    failures
}

/// Leptos' own settings: from the variables cargo-leptos sets when it builds and runs the
/// server, or, for a binary built without it (the test builds), this workspace's layout
/// with `LEPTOS_SITE_ROOT` still honoured.
pub fn leptos_options(site_addr: SocketAddr) -> LeptosOptions {
    let from_cargo_leptos =
        std::env::var_os("LEPTOS_OUTPUT_NAME").is_some() || option_env!("LEPTOS_OUTPUT_NAME").is_some();
    let mut options = from_cargo_leptos
        .then(|| get_configuration(None).ok())
        .flatten()
        .map(|conf| conf.leptos_options)
        .unwrap_or_else(|| {
            let site_root = std::env::var("LEPTOS_SITE_ROOT").unwrap_or_else(|_| "target/site".to_owned());
            LeptosOptions::builder().output_name("bulwark").site_root(site_root).build()
        });
    options.site_addr = site_addr;
    options
}

/// Passkeys' relying party: the public URL. Production refuses a URL that cannot be one
/// (see config); in development an IP address leaves passkeys off, with a warning.
fn relying_party(public_url: &str) -> Option<bulwark::factors::RelyingParty> {
    match bulwark::factors::RelyingParty::new(public_url, bulwark::factors::ISSUER) {
        Ok(relying_party) => {
            tracing::info!(
                event = "passkeys_ready",
                rp_id = relying_party.id(),
                "passkeys are bound to this host"
            );
            Some(relying_party)
        }
        Err(e) => {
            tracing::warn!(event = "passkeys_off", reason = %e, "passkeys are off");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request, routing::get};
    use tower::ServiceExt as _;

    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_router_keeps_serving() {
        let app = harden(
            Router::new()
                .route("/boom", get(|| async { panic!("a bug in one handler") as &'static str }))
                .route("/fine", get(|| async { "fine" })),
            ServerLimits::default(),
        );
        let boom = app.clone().oneshot(Request::get("/boom").body(Body::empty()).expect("request")).await;
        assert_eq!(boom.expect("an answer").status(), StatusCode::INTERNAL_SERVER_ERROR);
        let fine = app.oneshot(Request::get("/fine").body(Body::empty()).expect("request")).await;
        assert_eq!(fine.expect("an answer").status(), StatusCode::OK);
    }
}
