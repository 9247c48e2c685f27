//! Server-side helpers the server functions share: services from context, error mapping,
//! status codes, and the typed session.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::extract::ConnectInfo;
pub use bulwark::{
    accounts::{sign_in, AccountError, Accounts, Attempt, SignInError, User, BUSY_RETRY_AFTER_SECS},
    devices::{Device, Devices, NewDevice},
    flow::FlowError,
    recovery::Recovery,
    registration::Registration,
    sessions::{self, Origin, Principal, Resolved, SessionError, SessionRegistry},
    throttle::{ClientIpSource, Throttle, Throttled},
};
use leptos::prelude::*;
use tower_sessions::Session;

use crate::error::ApiError;

/// Everything the server functions use, provided by the server as one context per
/// request (`Arc<Services>`: one reference count, where a context per service would
/// clone each service for every page, whether it calls a server function or not).
pub struct Services {
    pub accounts: Accounts,
    pub devices: Devices,
    pub device_cookie: DeviceCookie,
    pub registration: Registration,
    pub recovery: Recovery,
    pub registry: SessionRegistry,
    pub throttle: Throttle,
    pub client_ip: ClientIpSource,
    pub audit: bulwark::audit::AuditLog,
    pub admin: bulwark::admin::Admin,
    pub impersonations: bulwark::impersonation::Impersonations,
    pub email_changes: bulwark::email_change::EmailChanges,
    pub deletions: bulwark::deletion::Deletions,
    pub invitations: bulwark::invitations::Invitations,
    /// Sign-up is by invitation only (`BULWARK_SIGNUP=invite`).
    pub invite_only: bool,
    pub factors: bulwark::factors::Factors,
    /// The cookie of a sign-in waiting for its second step.
    pub second_step_cookie: DeviceCookie,
    /// The cookie of a passkey sign-in under way.
    pub passkey_cookie: DeviceCookie,
    /// The cookie that keeps an impersonating admin's own session id.
    pub parked_cookie: DeviceCookie,
    /// Step-up windows (seconds): for sensitive actions, and for admin actions.
    pub access: StepUpWindows,
}

/// How recent a step-up must be.
#[derive(Debug, Clone, Copy)]
pub struct StepUpWindows {
    pub step_up_secs: i64,
    pub admin_step_up_secs: i64,
}

/// The accounts service, provided as context by the server.
pub fn accounts() -> Result<Accounts, ApiError> {
    service(|s| s.accounts.clone())
}

/// Signup, verification and resend, provided as context by the server.
pub fn registration() -> Result<Registration, ApiError> {
    service(|s| s.registration.clone())
}

/// Maps failures of the mail flows (signup, links, resets) to the wire.
pub fn flow_error(error: FlowError) -> ApiError {
    match error {
        FlowError::Throttled(verdict) => too_many(verdict),
        FlowError::Invalid(errors) => ApiError::Validation(errors),
        FlowError::InvalidLink => ApiError::InvalidLink,
        FlowError::Busy => busy(),
        FlowError::ByInvitation => ApiError::SignupByInvitation,
        FlowError::Unexpected(cause) => unexpected("account flow failed unexpectedly", &cause),
    }
}

/// Password reset, provided as context by the server.
pub fn recovery() -> Result<Recovery, ApiError> {
    service(|s| s.recovery.clone())
}

/// A failure on a page opened from a mailed link (`page?token=…`). Such pages send no
/// Referer (their URL carries the token), so Leptos cannot send a plain form post (no
/// JavaScript) back to them by itself; this does: a dead link to `dead_link_page`, any
/// other error back to the page with the error encoded the way Leptos encodes it, so the
/// form shows it as it would with JavaScript. Returns the error for the API answer.
pub fn token_page_failed<S: leptos::server_fn::ServerFn>(
    error: ApiError,
    page: &str,
    token: &str,
    dead_link_page: &str,
) -> ApiError {
    use leptos::server_fn::error::ServerFnUrlError;
    if !is_form_post() {
        return error;
    }
    if error == ApiError::InvalidLink {
        crate::flash::ssr::redirect(dead_link_page, crate::flash::notice::LINK_INVALID);
        return error;
    }
    // Only a well-formed token goes back into the URL. Any absolute base will do: only the
    // path and query of the result are used.
    let token: String = token.chars().filter(char::is_ascii_hexdigit).take(64).collect();
    let back = format!("http://bulwark.invalid{page}?token={token}");
    match ServerFnUrlError::new(S::PATH, error.clone()).to_url(&back) {
        Ok(url) => leptos_axum::redirect(&format!("{}?{}", url.path(), url.query().unwrap_or_default())),
        Err(e) => tracing::error!(error = %e, "could not build the error redirect"),
    }
    error
}

/// The throttle, provided as context by the server.
pub fn throttle() -> Result<Throttle, ApiError> {
    service(|s| s.throttle.clone())
}

/// The wire error for a throttled request, logged (without the identifier).
pub fn too_many(Throttled { retry_after_secs }: Throttled) -> ApiError {
    tracing::warn!(event = "excess_rate_limit_exceeded", retry_after_secs, "request throttled");
    ApiError::TooManyRequests { retry_after_secs }
}

/// The session registry, provided as context by the server.
pub fn registry() -> Result<SessionRegistry, ApiError> {
    service(|s| s.registry.clone())
}

/// The services the server provided for this request.
pub fn services() -> Option<Arc<Services>> {
    use_context::<Arc<Services>>()
}

pub(super) fn service<T>(pick: impl FnOnce(&Services) -> T) -> Result<T, ApiError> {
    services().map(|services| pick(&services)).ok_or_else(|| {
        tracing::error!("the services were not provided as context");
        ApiError::Internal
    })
}

/// Maps service errors to the wire, logging unexpected causes with their chain.
pub fn account_error(error: AccountError) -> ApiError {
    match error {
        AccountError::Invalid(errors) => ApiError::Validation(errors),
        // Logged by the caller, which can name the attempt's (hashed) subject.
        AccountError::InvalidCredentials => ApiError::InvalidCredentials,
        AccountError::Unexpected(cause) => unexpected("account operation failed", &cause),
    }
}

/// The wire error for a request refused because the hashing queue is full.
pub fn busy() -> ApiError {
    ApiError::Busy { retry_after_secs: BUSY_RETRY_AFTER_SECS }
}

/// Maps sign-in failures to the wire.
pub fn sign_in_error(error: SignInError) -> ApiError {
    match error {
        SignInError::Blocked(bulwark::accounts::Block::Disabled) => ApiError::AccountDisabled,
        SignInError::Blocked(bulwark::accounts::Block::Locked) => ApiError::AccountLocked,
        // A closing account answers as no account does.
        SignInError::Blocked(bulwark::accounts::Block::Closing) => ApiError::InvalidCredentials,
        SignInError::Throttled(verdict) => too_many(verdict),
        SignInError::Busy => busy(),
        SignInError::InvalidCredentials => ApiError::InvalidCredentials,
        SignInError::Unexpected(cause) => unexpected("sign-in failed unexpectedly", &cause),
    }
}

pub fn session_error(error: impl Into<SessionError>) -> ApiError {
    unexpected("session operation failed", &error.into())
}

/// How long a request that met a busy database is told to wait before trying again.
pub const CONTENTION_RETRY_AFTER_SECS: i64 = 2;

/// The wire error for an unexpected failure, logged with its chain of causes (which never
/// holds a secret: database and I/O errors, not requests). When the database was only
/// too busy (a lock wait ran out, see `bulwark::db::is_contention`), nothing changed and
/// a retry may work: 503 with `Retry-After`, logged as a warning. Otherwise 500.
pub fn unexpected(what: &'static str, cause: &(dyn std::error::Error + 'static)) -> ApiError {
    let mut chain = cause.to_string();
    let mut next = cause.source();
    while let Some(error) = next {
        let text = error.to_string();
        if !chain.ends_with(&text) {
            chain.push_str(": ");
            chain.push_str(&text);
        }
        next = error.source();
    }
    if bulwark::db::is_contention(cause) {
        tracing::warn!(event = "db_contention", error = %chain, "{what}: the database was too busy");
        ApiError::Busy { retry_after_secs: CONTENTION_RETRY_AFTER_SECS }
    } else {
        tracing::error!(error = %chain, "{what}");
        ApiError::Internal
    }
}

/// Whether this call is a plain HTML form post (JavaScript off), which Leptos answers with
/// a redirect rather than a status.
pub fn is_form_post() -> bool {
    use_context::<http::request::Parts>()
        .and_then(|p| p.headers.get(http::header::ACCEPT).cloned())
        .and_then(|v| v.to_str().ok().map(str::to_owned))
        .is_some_and(|v| v.contains("text/html"))
}

/// Tells the browser to drop this site's storage (sent with sign-out). Not its cookies:
/// `Clear-Site-Data: "cookies"` deletes every cookie of the registrable domain, which would
/// take the device cookie (and sibling sites' cookies) with it. The session cookie is
/// expired by the session layer.
pub fn clear_site_data() {
    if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
        options.insert_header(
            http::header::HeaderName::from_static("clear-site-data"),
            http::HeaderValue::from_static("\"storage\""),
        );
    }
}

/// Who is calling, as the request resolver decided before any handler ran (see
/// `bulwark::sessions::resolve`): the signed-in principal, or `Unauthorized`.
pub fn current() -> Result<Principal, ApiError> {
    let parts = use_context::<http::request::Parts>().ok_or(ApiError::Internal)?;
    match parts.extensions.get::<Resolved>() {
        Some(Resolved(Some(principal))) => Ok(principal.clone()),
        Some(Resolved(None)) => Err(ApiError::Unauthorized),
        None => {
            tracing::error!("no resolver ran on this request");
            Err(ApiError::Internal)
        }
    }
}

/// The signed-in user behind this request, or `Unauthorized`.
pub fn current_user() -> Result<User, ApiError> {
    current().map(|principal| principal.user)
}

/// The factor service, provided as context by the server.
pub fn factors() -> Result<bulwark::factors::Factors, ApiError> {
    service(|s| s.factors.clone())
}

/// The device cookie service, provided as context by the server.
pub fn devices() -> Result<Devices, ApiError> {
    service(|s| s.devices.clone())
}

/// A typed view of the tower-sessions session; the keys and the lifecycle live in
/// `bulwark::sessions`.
pub struct SessionState(Session);

impl SessionState {
    pub async fn extract() -> Result<Self, ApiError> {
        leptos_axum::extract::<Session>().await.map(Self).map_err(|e| {
            tracing::error!(error = %e, "no session layer on this request");
            ApiError::Internal
        })
    }

    /// Begins the session of a completed sign-in (see `bulwark::completion`) under a fresh
    /// id, with a registry row that remembers where the sign-in came from.
    pub async fn log_in(&self, completed: &sessions::Completed) -> Result<(), ApiError> {
        let origin = request_origin();
        match sessions::begin(&self.0, &registry()?, completed, &origin).await {
            Ok(_) => Ok(()),
            // A reset changed the password while this sign-in was being checked: the
            // password just checked is no longer the account's.
            Err(SessionError::Superseded) => Err(ApiError::InvalidCredentials),
            Err(other) => Err(session_error(other)),
        }
    }

    /// Records a passed step-up on this signed-in session (a new id, the time), made with
    /// the second factor or not (`with_factor`: one made without it does not happen once
    /// the account has a factor). What the session owned under its old key moves with it.
    pub async fn step_up(&self, principal: &Principal, with_factor: bool) -> Result<(), ApiError> {
        let registry = registry()?;
        match sessions::step_up(&self.0, &registry, principal.session, principal.user.role, with_factor).await
        {
            Ok(_) => {
                if let Some(new_key) = self.key() {
                    factors()?
                        .session_moved(principal.user.id, &principal.session_key, &new_key)
                        .await
                        .map_err(|e| unexpected("moving the set-up with the session failed", &e))?;
                }
                Ok(())
            }
            Err(SessionError::Superseded) => Err(ApiError::Unauthorized),
            Err(other) => Err(session_error(other)),
        }
    }

    /// The key this session is registered under.
    pub fn key(&self) -> Option<String> {
        sessions::current_key(&self.0)
    }

    /// Deletes the session record and its registry row, and expires the cookie. An admin
    /// signing out of an impersonation signs out of their own, parked session too.
    pub async fn log_out(self) -> Result<(), ApiError> {
        let registry = registry()?;
        // The impersonation first (ended as signed out, by the admin, from this request),
        // then its session, then the admin's parked session.
        let impersonating = current().ok().and_then(|principal| principal.impersonation);
        if let Some(impersonation) = &impersonating {
            let how = bulwark::impersonation::Ended::SignedOut;
            let by = Some(impersonation.admin_id);
            impersonations()?
                .end(impersonation.id, how, by, None, &audit_context())
                .await
                .map_err(impersonation_error)?;
        }
        sessions::end(&self.0, &registry).await.map_err(session_error)?;
        if let Some(impersonation) = impersonating {
            registry.forget(&impersonation.admin_session_key).await.map_err(session_error)?;
            expire_parked_cookie();
        }
        Ok(())
    }

    /// The tower-sessions session.
    pub fn session(&self) -> &Session {
        &self.0
    }
}

/// The client's address: the TCP peer, or what a trusted proxy says it forwarded for.
pub fn client_ip() -> Result<IpAddr, ApiError> {
    let parts = use_context::<http::request::Parts>().ok_or(ApiError::Internal)?;
    let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
        tracing::error!("no peer address on the request (serve with connect info)");
        return Err(ApiError::Internal);
    };
    let services = services().ok_or(ApiError::Internal)?;
    Ok(client_ip_of(&services.client_ip, &parts.headers, *peer))
}

/// The client's address for a request with `headers` from `peer`, as `source` says to read
/// it (also for handlers outside the server functions).
pub fn client_ip_of(
    source: &bulwark::throttle::ClientIpSource,
    headers: &http::HeaderMap,
    peer: SocketAddr,
) -> IpAddr {
    // A line that is not readable text stands for a hop of unknown address, which ends the
    // walk at the nearest trusted proxy (dropping it would skip an entry).
    let unreadable = match source.header() {
        Some(bulwark::throttle::ForwardedHeader::Forwarded) => "for=unknown",
        _ => "unknown",
    };
    let lines: Vec<&str> = match source.header() {
        Some(header) => {
            headers.get_all(header.name()).iter().map(|v| v.to_str().unwrap_or(unreadable)).collect()
        }
        None => Vec::new(),
    };
    source.client_ip(peer.ip(), &lines)
}

/// The client's address and a readable device summary.
pub(super) fn request_origin() -> Origin {
    let ip = client_ip().map_or_else(|_| "unknown".to_owned(), |ip| ip.to_string());
    let parts = use_context::<http::request::Parts>();
    let user_agent =
        parts.as_ref().and_then(|p| p.headers.get(http::header::USER_AGENT)).and_then(|v| v.to_str().ok());
    Origin { ip, device: sessions::describe_device(user_agent) }
}

pub use super::access::*;
pub use super::cookies::*;
