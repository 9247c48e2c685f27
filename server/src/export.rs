//! `POST /account/export.json`: the signed-in owner's data as a JSON file (see
//! `bulwark::export` and docs/account-export.md). A plain form post, not a server
//! function, so the browser downloads the file with JavaScript on or off. Needs a step-up
//! within the sensitive-action window (a stolen session cannot take the data away
//! unnoticed without the password), and never during an impersonation. A signed-out
//! browser is sent to sign in, one without a fresh step-up to the step-up page (both back
//! to `/account/export` afterwards). CSRF: like every POST, refused from another origin.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Extension,
};
use bulwark::sessions::Resolved;

use crate::AppState;

/// Where the form posts (the page's constant: one path for both).
pub const EXPORT_PATH: &str = app::api::EXPORT_DOWNLOAD;
/// The page with the form.
const EXPORT_PAGE: &str = "/account/export";

pub async fn download(
    State(state): State<AppState>,
    Extension(resolved): Extension<Resolved>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let Resolved(Some(principal)) = resolved else {
        return Redirect::to("/login").into_response();
    };
    if principal.impersonation.is_some() {
        return (StatusCode::FORBIDDEN, "Not while an administrator views the account.").into_response();
    }
    let now = state.registry.now();
    if !principal.stepped_up_within(now, state.settings.access.step_up_secs) {
        return Redirect::to(&format!("{}?next={EXPORT_PAGE}", app::api::STEP_UP_PAGE)).into_response();
    }
    match state.throttle.data_export(principal.user.id).await {
        Ok(Ok(())) => {}
        Ok(Err(throttled)) => {
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                "You have asked for your data several times in the last hour. Please try again later.",
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(throttled.retry_after_secs.max(1)));
            return response;
        }
        Err(error) => {
            tracing::error!(error = %error, "the export allowance could not be read");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    }
    let export = match bulwark::export::export(&state.pool, principal.user.id, now).await {
        Ok(Some(export)) => export,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(error) => {
            tracing::error!(error = %error, "account export failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let body = match serde_json::to_vec_pretty(&export) {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(error = %error, "account export could not be written");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    // In the owner's security activity: a thief with the password cannot take the data
    // away unseen.
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    let context = bulwark::audit::Context {
        ip: Some(app::api::ssr::client_ip_of(&state.settings.client_ip, &headers, peer).to_string()),
        device: Some(bulwark::sessions::describe_device(user_agent)),
        ..bulwark::audit::Context::default()
    };
    let entry = bulwark::audit::Entry::new(
        bulwark::audit::Event::DataExported,
        Some(principal.user.id),
        Some(principal.user.id),
        &context,
    );
    let recorded = match state.pool.acquire().await {
        Ok(mut connection) => bulwark::audit::record(&mut connection, now, &entry).await,
        Err(error) => Err(error),
    };
    if let Err(error) = recorded {
        // No file without its trace.
        tracing::error!(error = %error, "recording an account export failed");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    tracing::info!(event = "user_data_exported", user_id = principal.user.id, bytes = body.len());
    let day = bulwark::utc::minute(now).chars().take(10).collect::<String>();
    let disposition = format!("attachment; filename=\"bulwark-account-{day}.json\"");
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}
