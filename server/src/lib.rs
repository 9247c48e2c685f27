//! The Bulwark server: configuration, start-up (database, migrations, services), the HTTP
//! router with its session layer, and graceful shutdown. `main.rs` only parses the
//! command line; everything here is also driven by the integration tests.

pub mod config;
pub mod security;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use app::{shell, App};
use axum::{
    extract::{FromRef, Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    serve::ListenerExt,
    Router,
};
use bulwark::{
    accounts::Accounts,
    clock::SharedClock,
    db::{self, DbError, SqlitePool},
    hashing::{HashError, PasswordHasher},
    mail::{
        self, DevTransport, MailTransport, Outbox, SenderPolicy, SmtpTransport, Templates, TransportError,
    },
    recovery::Recovery,
    registration::Registration,
    sessions::{self, HashedStore, SessionRegistry},
    throttle::Throttle,
};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::TraceLayer,
};
use tower_sessions::{
    cookie::SameSite, session_store::ExpiredDeletion, Expiry, Session, SessionManagerLayer,
};
use tower_sessions_sqlx_store::SqliteStore;

use crate::config::{MailDelivery, Settings};

/// Everything a request handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub accounts: Accounts,
    pub pool: SqlitePool,
    /// Session data, keyed by a hash of the cookie's id.
    pub sessions: HashedStore<SqliteStore>,
    pub registry: SessionRegistry,
    pub throttle: Throttle,
    pub registration: Registration,
    pub recovery: Recovery,
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
    #[error("the server stopped with an error: {0}")]
    Serve(#[source] std::io::Error),
}

/// Opens and migrates the database and builds the services. `clock` is the system clock
/// in production and a manual one in tests.
pub async fn prepare(
    settings: Settings,
    leptos_options: LeptosOptions,
    clock: SharedClock,
) -> Result<AppState, StartupError> {
    let pool = db::connect(&settings.database_url).await?;
    db::migrate(&pool).await?;
    let store = SqliteStore::new(pool.clone());
    store.migrate().await.map_err(StartupError::SessionStore)?;
    let hasher = PasswordHasher::new(settings.hash_params)?;
    let accounts = Accounts::new(pool.clone(), hasher, settings.password_policy, clock.clone());
    let registry = SessionRegistry::new(pool.clone(), clock.clone(), settings.session_lifetimes);
    let throttle =
        Throttle::new(pool.clone(), clock.clone(), settings.throttle.clone(), settings.secret.expose());
    let outbox = Outbox::new(pool.clone(), clock);
    let templates = Templates::new(&settings.public_url.to_string());
    let registration =
        Registration::new(accounts.clone(), throttle.clone(), outbox.clone(), templates.clone());
    let recovery =
        Recovery::new(accounts.clone(), throttle.clone(), outbox.clone(), templates, registry.clone());
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
    Ok(AppState {
        leptos_options,
        accounts,
        pool,
        sessions: HashedStore::new(store),
        registry,
        throttle,
        registration,
        recovery,
        outbox,
        mail_transport,
        settings: Arc::new(settings),
    })
}

/// Applies pending migrations and exits (`server migrate`).
pub async fn migrate_only(settings: &Settings) -> Result<(), StartupError> {
    let pool = db::connect(&settings.database_url).await?;
    db::migrate(&pool).await?;
    SqliteStore::new(pool).migrate().await.map_err(StartupError::SessionStore)?;
    Ok(())
}

/// The whole HTTP surface: pages, server functions under `/api`, static files.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let accounts = state.accounts.clone();
    let registry = state.registry.clone();
    let throttle = state.throttle.clone();
    let registration = state.registration.clone();
    let recovery = state.recovery.clone();
    let proxies = state.settings.trusted_proxies.clone();
    let context = move || {
        provide_context(accounts.clone());
        provide_context(registration.clone());
        provide_context(recovery.clone());
        provide_context(registry.clone());
        provide_context(throttle.clone());
        provide_context(proxies.clone());
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
    Router::new()
        .leptos_routes_with_context(&state, routes, context.clone(), move || shell(leptos_options.clone()))
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(context, shell))
        .layer(middleware::from_fn_with_state(state.clone(), session_guard))
        .layer(sessions)
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
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// Runs on every request inside the session layer: enforces the session's idle and
/// absolute lifetimes before anything else sees it, and marks every dynamic response
/// `Cache-Control: no-store` so no shared or browser cache keeps a signed-in page.
async fn session_guard(
    State(registry): State<SessionRegistry>,
    session: Session,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let is_asset = path.starts_with("/pkg/") || path == "/favicon.svg";
    if !is_asset {
        if let Err(error) = sessions::check(&session, &registry).await {
            tracing::error!(error = %error, "session check failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    }
    let mut response = next.run(request).await;
    if !is_asset {
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
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

/// Deletes expired sessions (registry rows and stored data), expired mail tokens and stale
/// unconfirmed accounts every `every`, until `shutdown` turns true.
pub fn spawn_cleanup(
    state: &AppState,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let registry = state.registry.clone();
    let store = state.sessions.clone();
    let accounts = state.accounts.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    match registry.delete_expired().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(event = "session_expired", count = n, "expired sessions removed"),
                        Err(error) => tracing::warn!(error = %error, "session clean-up failed"),
                    }
                    if let Err(error) = store.delete_expired().await {
                        tracing::warn!(error = %error, "session store clean-up failed");
                    }
                    if let Err(error) = accounts.delete_expired_tokens().await {
                        tracing::warn!(error = %error, "token clean-up failed");
                    }
                    match accounts.delete_stale_unconfirmed().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(event = "user_unconfirmed_deleted", count = n, "stale signups removed"),
                        Err(error) => tracing::warn!(error = %error, "unconfirmed account clean-up failed"),
                    }
                }
                _ = shutdown.changed() => break,
            }
        }
        tracing::debug!("session clean-up stopped");
    })
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

/// Binds the listening socket. Nagle's algorithm is switched off on every connection:
/// with it, small responses wait on delayed ACKs (tens of milliseconds each).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr).await.map_err(|source| StartupError::Bind { addr, source })
}

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartupError> {
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(StartupError::Serve)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
