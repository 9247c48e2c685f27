//! The Bulwark server: configuration, start-up (database, migrations, services), the HTTP
//! router with its session layer, and graceful shutdown. `main.rs` only parses the
//! command line; everything here is also driven by the integration tests.

mod api_errors;
mod assets;
mod background;
pub mod caller;
pub mod check;
mod compression;
pub mod config;
pub mod export;
pub mod health;
pub mod logging;
pub mod metrics;
mod net;
pub mod provision;
pub mod roles;
pub mod security;
mod startup;

pub use background::{clean_up, spawn_cleanup, spawn_mail_sender};
pub use net::{bind, serve, shutdown_signal};
pub use startup::{leptos_options, migrate_only, prepare, StartupError};

use std::{sync::Arc, time::Duration};

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
    db::Pool,
    devices::Devices,
    mail::{MailTransport, Outbox},
    recovery::Recovery,
    registration::Registration,
    sessions::{HashedStore, SessionData, SessionRegistry},
    throttle::Throttle,
};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::{
    catch_panic::CatchPanicLayer,
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    timeout::{RequestBodyTimeoutLayer, TimeoutLayer},
    trace::TraceLayer,
};
use tower_sessions::{cookie::SameSite, Expiry, SessionManagerLayer};

use crate::config::{network::ServerLimits, Settings};

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
        // Entry pages gzipped for a first visit only: no cookie (BREACH: see `compression`).
        .layer(compression::layer())
        .layer(middleware::from_fn(compression::first_visits_only))
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
