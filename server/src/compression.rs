//! The entry pages sent compressed (gzip) to visitors who carry no cookie.
//!
//! The first visit to `/`, `/login` or `/signup` carries no cookie, and its HTML is about a
//! third as big compressed. Compression is kept that narrow because of BREACH: a
//! compressed answer's length leaks whether a guess an attacker made the victim's browser
//! send (reflected in the page) matches a secret elsewhere in the same page. So a page is
//! compressed only when all of these hold:
//! - the request is GET or HEAD and carries no `Cookie` header, so the page is the
//!   anonymous one, whose only secret is the Content-Security-Policy nonce, made anew for
//!   every answer (a guess can never converge on it); a signed-in page holds the person's
//!   name and address;
//! - its path is one of the entry pages in [`ENTRY_PAGES`], with no query string: pages
//!   opened from mailed links carry a token and show an address even without a cookie;
//! - the answer is HTML (server functions' answers never are compressed).
//!
//! For every other request `Accept-Encoding` is dropped before the compression layer reads
//! it. Static files are not in this layer: they are compressed once at build time (see
//! `assets`). gzip rather than brotli: on a 4.5 KB page the two differ by about 150 bytes.
//! Compressing is not free: measured with `wrk` on a release build, `/login` served 5,161
//! and 5,948 a second gzipped against 6,753 and 7,338 plain (most of it is setting up the
//! compressor, not the level), paid only by first visits to the entry pages.

use axum::extract::Request;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri, Version};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::compression::{CompressionLayer, Predicate};

/// The compression layer for pages: gzip, HTML only. Put [`first_visits_only`] outside
/// it.
pub fn layer() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new().compress_when(is_html)
}

fn is_html(status: StatusCode, _: Version, headers: &HeaderMap, _: &axum::http::Extensions) -> bool {
    // 204 and 304 have no body to compress.
    status != StatusCode::NO_CONTENT
        && status != StatusCode::NOT_MODIFIED
        && headers.get(header::CONTENT_TYPE).is_some_and(|value| value.as_bytes().starts_with(b"text/html"))
}

/// The pages a first visit starts on, which show nothing of anyone's account.
pub const ENTRY_PAGES: &[&str] = &["/", "/login", "/signup", "/forgot-password", "/verify-email/resend"];

/// Drops `Accept-Encoding` from every request but a cookie-less read of an entry page (see
/// the module documentation).
pub async fn first_visits_only(mut request: Request, next: Next) -> Response {
    if !may_compress(request.method(), request.uri(), request.headers()) {
        request.headers_mut().remove(header::ACCEPT_ENCODING);
    }
    next.run(request).await
}

fn may_compress(method: &Method, uri: &Uri, headers: &HeaderMap) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
        && !headers.contains_key(header::COOKIE)
        && uri.query().is_none()
        && ENTRY_PAGES.contains(&uri.path())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_cookie_less_reads_of_entry_pages_may_be_compressed() {
        let login = Uri::from_static("/login");
        let mut headers = HeaderMap::new();
        assert!(may_compress(&Method::GET, &login, &headers));
        assert!(may_compress(&Method::HEAD, &login, &headers));
        assert!(may_compress(&Method::GET, &Uri::from_static("/"), &headers));
        assert!(!may_compress(&Method::POST, &login, &headers));
        assert!(!may_compress(&Method::GET, &Uri::from_static("/login?next=x"), &headers));
        for path in
            crate::security::TOKEN_PAGES.iter().chain(&["/account/sessions", "/admin", "/no-such-page"])
        {
            let uri: Uri = path.parse().expect("a path");
            assert!(!may_compress(&Method::GET, &uri, &headers), "{path}");
        }
        headers.insert(header::COOKIE, HeaderValue::from_static("anything=1"));
        assert!(!may_compress(&Method::GET, &login, &headers));
    }

    #[test]
    fn only_html_is_compressed() {
        let html = HeaderMap::from_iter([(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )]);
        let json =
            HeaderMap::from_iter([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))]);
        let extensions = axum::http::Extensions::new();
        assert!(is_html(StatusCode::OK, Version::HTTP_11, &html, &extensions));
        assert!(is_html(StatusCode::NOT_FOUND, Version::HTTP_11, &html, &extensions));
        assert!(!is_html(StatusCode::NOT_MODIFIED, Version::HTTP_11, &html, &extensions));
        assert!(!is_html(StatusCode::OK, Version::HTTP_11, &json, &extensions));
        assert!(!is_html(StatusCode::OK, Version::HTTP_11, &HeaderMap::new(), &extensions));
    }
}
