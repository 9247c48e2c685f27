//! The request resolver's middleware: who is calling, decided once per request (see
//! `bulwark::sessions::resolve`), and what a caller in a restricted state may reach.

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use bulwark::sessions::{self, SessionRegistry};
use tower_sessions::Session;

/// The request resolver, on every request inside the session layer: decides once who is
/// calling (see `bulwark::sessions::resolve`) and puts the answer in the request's
/// extensions, where server functions and pages read it. Also marks every dynamic
/// response `Cache-Control: no-store` so no shared or browser cache keeps a signed-in page
/// (static files are routed around this layer: see `assets`).
pub async fn resolve_caller(
    State(registry): State<SessionRegistry>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Response {
    match sessions::resolve(&session, &registry).await {
        Ok(resolved) => {
            let path = request.uri().path();
            let confined = resolved.0.as_ref().is_some_and(sessions::Principal::confined);
            if confined && !CONFINED_MAY_REACH.contains(&path) {
                return confined_answer(path);
            }
            // The admin area's pages send an anonymous visitor to sign in (for anyone
            // signed in who is not an admin, they are the ordinary "not found" page).
            if resolved.0.is_none() && (path == app::api::ADMIN_PAGE || path.starts_with("/admin/")) {
                let mut response = axum::response::Redirect::to("/login").into_response();
                response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                return response;
            }
            request.extensions_mut().insert(resolved);
        }
        Err(error) => {
            tracing::error!(error = %error, "resolving the caller failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    }
    let mut response = next.run(request).await;
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// All a caller whose account must change its password may reach: the change itself,
/// sign-out, and the header's "who is signed in".
const CONFINED_MAY_REACH: &[&str] =
    &[app::api::PASSWORD_PAGE, "/api/change-password", "/api/logout", "/api/session"];

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
