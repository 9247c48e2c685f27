//! The one place a server function's error becomes an HTTP status.
//!
//! Leptos answers every failed server function `500` with the error's JSON body and a
//! `serverfnerror` header (the body in `ApiError`'s JSON encoding, `JsonEncoding`), whether the function ran and returned the error or its
//! arguments could not even be decoded (in which case none of our code ran). This layer
//! reads the closed-set [`ApiError`] back from that body and gives the answer the error's
//! own status (400 for a request that is not a well-formed call, 401, 403, 429 with
//! `Retry-After`, …), so a malformed request is never reported as a server failure.
//!
//! Only server-function answers carry the header: a page that called a server function
//! while rendering keeps its own status. A plain form post (JavaScript off) that Leptos
//! already sent back to its page, the error encoded in the URL for the form to show, is a
//! redirect and left alone; one that has no page to go back to (the browser sent no
//! `Referer`) gets a small page with the message instead of a JSON body.
//!
//! Decoding runs before the function's own checks, for every endpoint alike: a request
//! that is not a well-formed call answers 400 whoever sends it, and a well-formed one
//! then meets the endpoint's checks (sign-in, role, step-up, throttles) in the order the
//! endpoint gives. The arguments' shapes are public (the browser's code carries them), so
//! the 400 tells an anonymous caller nothing the page did not; it reads no account, spends
//! no throttle budget and changes nothing.

use app::error::ApiError;
use axum::{
    body::Body,
    extract::Request,
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use leptos::server_fn::error::SERVER_FN_ERROR_HEADER;

/// Error bodies are a few hundred bytes at most; anything larger is not one of ours.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// Reads a server function's body before the function does, so a body over the size
/// limit answers 413 and one that stops arriving 408, as when their length says so up
/// front: read inside the function, both would be a decoding error (400).
pub async fn read_body(request: Request, next: Next) -> Response {
    if request.method() != axum::http::Method::POST || !request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    let form_post = accepts_html(&request);
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) if holds_nul(&bytes) => malformed(form_post),
        Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Err(error) => {
            let cause = error.into_inner();
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(cause.as_ref());
            while let Some(error) = source {
                if error.is::<http_body_util::LengthLimitError>() {
                    return (StatusCode::PAYLOAD_TOO_LARGE, "length limit exceeded").into_response();
                }
                if error.is::<tower_http::timeout::TimeoutError>() {
                    return StatusCode::REQUEST_TIMEOUT.into_response();
                }
                source = error.source();
            }
            (StatusCode::BAD_REQUEST, "The request body could not be read.").into_response()
        }
    }
}

/// Whether a body holds the character U+0000, as a byte or URL-encoded (`%00`). No field
/// of any form here may hold it, PostgreSQL cannot store it in text, and in a log or a
/// mail it can cut a line short: such a request is malformed, whoever sends it.
fn holds_nul(body: &[u8]) -> bool {
    body.contains(&0) || body.windows(3).any(|w| w == b"%00")
}

/// The answer to a malformed call made before any endpoint ran: as a decoding error is
/// answered (see [`status_from_error`]).
fn malformed(form_post: bool) -> Response {
    let (mut parts, _) = StatusCode::BAD_REQUEST.into_response().into_parts();
    if form_post {
        return message_page(parts, &ApiError::BadRequest);
    }
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(serde_json::to_vec(&ApiError::BadRequest).unwrap_or_default()))
}

/// Gives every server-function error its own status (see the module's documentation).
pub async fn status_from_error(request: Request, next: Next) -> Response {
    let form_post = accepts_html(&request);
    let has_referer = request.headers().contains_key(header::REFERER);
    let response = next.run(request).await;
    if !response.headers().contains_key(SERVER_FN_ERROR_HEADER) {
        return response;
    }
    if response.status().is_redirection() && (has_referer || !sent_home(&response)) {
        // Back to the page the form was on (or where the endpoint chose), which shows it.
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ERROR_BODY).await else {
        tracing::error!("a server function's error body could not be read");
        return (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side.").into_response();
    };
    let error = match serde_json::from_slice::<ApiError>(&bytes) {
        // The function's own failure (already logged where it happened) or a body that is
        // not an `ApiError`: either way a 500, as Leptos sent it.
        Ok(ApiError::Internal) | Err(_) => return Response::from_parts(parts, Body::from(bytes)),
        Ok(error) => error,
    };
    parts.status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    if let ApiError::TooManyRequests { retry_after_secs } | ApiError::Busy { retry_after_secs } = error {
        parts.headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs.max(1)));
    }
    if form_post {
        parts.headers.remove(header::LOCATION);
        return message_page(parts, &error);
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Whether Leptos sent a failed form post to the home page, as it does when the browser
/// gave no `Referer` to send it back to.
fn sent_home(response: &Response) -> bool {
    response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|location| location == "/" || location.starts_with("/?"))
}

fn accepts_html(request: &Request) -> bool {
    request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// The answer to a plain form post that has no page to return to: the message, and a way
/// back to the start. The messages are fixed text, escaped anyway.
fn message_page(mut parts: axum::http::response::Parts, error: &ApiError) -> Response {
    let message = escape(&error.to_string());
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Bulwark</title></head>\
         <body><main><p role=\"alert\" data-testid=\"form-error\">{message}</p>\
         <p><a href=\"/\">Back to the start</a></p></main></body></html>"
    );
    parts.headers.remove(SERVER_FN_ERROR_HEADER);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(page))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_in_a_body_is_found_raw_or_encoded() {
        assert!(holds_nul(b"q=a\0b"));
        assert!(holds_nul(b"q=a%00b"));
        assert!(!holds_nul(b"q=a%2500b"));
        assert!(!holds_nul(b"q=plain"));
    }

    #[test]
    fn messages_are_escaped() {
        assert_eq!(escape("<a href=\"x\">&</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
    }
}
