//! The request resolver's middleware: who is calling, decided once per request (see
//! `bulwark::sessions::resolve`), and what a caller in a restricted state may reach.

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use bulwark::sessions;
use tower_sessions::{session::Id, Session};

use crate::AppState;

/// The request resolver, on every request inside the session layer: decides once who is
/// calling (see `bulwark::sessions::resolve`) and puts the answer in the request's
/// extensions, where server functions and pages read it. Also marks every dynamic
/// response `Cache-Control: no-store` so no shared or browser cache keeps a signed-in page
/// (static files are routed around this layer: see `assets`).
pub async fn resolve_caller(
    State(state): State<AppState>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Response {
    let cookies = &state.settings.cookie;
    let parked_value = app::api::ssr::cookie_in(request.headers(), cookies.parked_name);
    let parked = parked_value.as_deref().and_then(|v| v.parse::<Id>().ok());
    let drop_parked = match sessions::resolve(&session, &state.registry, parked).await {
        Ok(sessions::Resolution { resolved, drop_parked }) => {
            // A parked cookie that is not even an id is dropped too.
            let drop_parked = drop_parked || (parked_value.is_some() && parked.is_none());
            let path = request.uri().path();
            let impersonating = resolved.0.as_ref().is_some_and(|p| p.impersonation.is_some());
            // Every server function off the allow-list, and any other request that is not
            // a read (a plain form post such as the data export): a route added later is
            // refused without anyone remembering to.
            let reads = matches!(*request.method(), axum::http::Method::GET | axum::http::Method::HEAD);
            let off_list = (path.starts_with("/api/") || !reads) && !IMPERSONATION_MAY_REACH.contains(&path);
            if impersonating && off_list {
                return blocked_answer(&request);
            }
            let confined = resolved.0.as_ref().is_some_and(sessions::Principal::confined);
            if confined && !impersonating && !CONFINED_MAY_REACH.contains(&path) {
                return confined_answer(path);
            }
            let needs_factor = resolved.0.as_ref().is_some_and(sessions::Principal::needs_factor);
            if needs_factor && !confined && !FACTOR_SETUP_MAY_REACH.contains(&path) {
                return factor_setup_answer(path);
            }
            // The admin area's pages send an anonymous visitor to sign in (for anyone
            // signed in who is not an admin, they are the ordinary "not found" page).
            if resolved.0.is_none() && (path == app::api::ADMIN_PAGE || path.starts_with("/admin/")) {
                let mut response = axum::response::Redirect::to("/login").into_response();
                response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                return response;
            }
            request.extensions_mut().insert(resolved);
            drop_parked
        }
        Err(error) => {
            tracing::error!(error = %error, "resolving the caller failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut response = next.run(request).await;
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Unless the handler set the parked cookie itself (a start): its value wins.
    let prefix = format!("{}=", cookies.parked_name);
    let handler_set_it = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.starts_with(&prefix)));
    if drop_parked && !handler_set_it {
        let parked_cookie = app::api::ssr::DeviceCookie { name: cookies.parked_name, secure: cookies.secure };
        let expired = app::api::ssr::set_cookie_value(parked_cookie, "", 0, "Strict");
        if let Ok(value) = HeaderValue::from_str(&expired) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Everything an admin impersonating someone may call: reading what the user sees, and
/// ending the impersonation (Stop, or signing out). Anything else, including every
/// endpoint added later, is refused with 403 and changes nothing. A test enumerates every
/// registered server function against this list.
pub const IMPERSONATION_MAY_REACH: &[&str] = &[
    "/api/session",
    "/api/me",
    "/api/sessions",
    "/api/activity",
    "/api/support-access",
    "/api/impersonation/stop",
    "/api/logout",
];

/// The refusal while impersonating: 403 with the reason; a plain form post (no
/// JavaScript) goes back to its page with the error, as Leptos encodes it for the form.
fn blocked_answer(request: &Request) -> Response {
    use leptos::server_fn::error::ServerFnUrlError;
    let error = app::error::ApiError::ImpersonationBlocked;
    let path = request.uri().path();
    let accepts_html = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let referer = request.headers().get(header::REFERER).and_then(|v| v.to_str().ok());
    let mut response = match (accepts_html, referer) {
        (true, Some(referer)) => match ServerFnUrlError::new(path, error.clone()).to_url(referer) {
            // Only the path and query of the page: never a redirect to another site.
            Ok(url) if is_local_path(url.path()) => {
                let back = match url.query() {
                    Some(query) => format!("{}?{query}", url.path()),
                    None => url.path().to_owned(),
                };
                axum::response::Redirect::to(&back).into_response()
            }
            Ok(_) => json_error(&error),
            Err(_) => json_error(&error),
        },
        _ => json_error(&error),
    };
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A path on this site: `/…`, but not `//…` or `/\…` (which browsers read as another host).
fn is_local_path(path: &str) -> bool {
    path.starts_with('/') && !path.starts_with("//") && !path.starts_with("/\\")
}

fn json_error(error: &app::error::ApiError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::FORBIDDEN);
    let body = serde_json::to_string(error).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// All a caller whose account must change its password may reach: the change itself,
/// sign-out, the header's "who is signed in", and the email-change links mailed to an old
/// address (cancel, recover), which protect the account whoever's browser opens them.
const CONFINED_MAY_REACH: &[&str] = &[
    app::api::PASSWORD_PAGE,
    "/api/change-password",
    "/api/logout",
    "/api/session",
    // The old address's links protect the account, whoever's browser opens them.
    bulwark::mail::templates::CANCEL_PATH,
    bulwark::mail::templates::RECOVER_PATH,
    "/api/email-change/link",
];

/// All an admin without a second factor may reach: setting one up (after a step-up with
/// the password), and signing out. Promoting a user to admin, or `server create-admin`,
/// makes an admin who meets this at their next request.
const FACTOR_SETUP_MAY_REACH: &[&str] = &[
    app::api::SECURITY_PAGE,
    app::api::SETUP_APP_PAGE,
    app::api::RECOVERY_CODES_PAGE,
    app::api::STEP_UP_PAGE,
    "/api/security",
    "/api/totp-setup",
    "/api/totp-confirm",
    "/api/recovery-codes",
    "/api/recovery-codes-saved",
    "/api/step-up",
    // A passkey may be an admin's first factor too.
    "/api/passkey-add-start",
    "/api/passkey-add",
    "/api/step-up-offers",
    "/api/logout",
    "/api/session",
    "/api/me",
];

/// Anything else for such an admin: pages go to the security page, server functions
/// answer 403 with the reason (and change nothing).
fn factor_setup_answer(path: &str) -> Response {
    let mut response = if path.starts_with("/api/") {
        let error = app::error::ApiError::FactorRequired;
        let body = serde_json::to_string(&error).unwrap_or_default();
        (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    } else {
        axum::response::Redirect::to(app::api::SECURITY_PAGE).into_response()
    };
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Anything else: pages send the browser to the password page, server functions answer
/// 403 with the reason (and change nothing).
fn confined_answer(path: &str) -> Response {
    let mut response = if path.starts_with("/api/") {
        let error = app::error::ApiError::PasswordChangeRequired;
        let body = serde_json::to_string(&error).unwrap_or_default();
        (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    } else {
        axum::response::Redirect::to(app::api::PASSWORD_PAGE).into_response()
    };
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
