//! Pages sent compressed (gzip) to visitors who carry no cookie.
//!
//! The first visit to `/`, `/login` or `/signup` carries no cookie, and its HTML is about a
//! third as big compressed. Compression is kept to those requests because of BREACH: a
//! compressed answer's length leaks whether a guess an attacker made the victim's browser
//! send (reflected in the page) matches a secret elsewhere in the same page. A request
//! without a cookie is answered with the anonymous page, whose only secret is the
//! Content-Security-Policy nonce, made anew for every answer (a guess can never converge on
//! it); a signed-in page holds the person's name and address, and is never compressed. So:
//! - a request carrying any `Cookie` header, or one that is not GET or HEAD, has its
//!   `Accept-Encoding` dropped before the compression layer reads it, and is answered
//!   uncompressed;
//! - only HTML is compressed (server functions' answers never are).
//!
//! Static files are not in this layer: they are compressed once at build time (see
//! `assets`). gzip rather than brotli: on a 4.5 KB page the two differ by about 150 bytes,
//! and gzip is fast enough at its default level to cost nothing measurable per page.

use axum::extract::Request;
use axum::http::{header, HeaderMap, Method, StatusCode, Version};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::compression::{CompressionLayer, Predicate};

/// The compression layer for pages: gzip, HTML only. Put [`only_without_cookies`] outside
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

/// Drops `Accept-Encoding` from every request that may be answered with a page holding a
/// secret: any request with a cookie, and anything but GET and HEAD.
pub async fn only_without_cookies(mut request: Request, next: Next) -> Response {
    if may_compress(request.method(), request.headers()) {
        next.run(request).await
    } else {
        request.headers_mut().remove(header::ACCEPT_ENCODING);
        next.run(request).await
    }
}

fn may_compress(method: &Method, headers: &HeaderMap) -> bool {
    matches!(*method, Method::GET | Method::HEAD) && !headers.contains_key(header::COOKIE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_cookie_less_reads_may_be_compressed() {
        let mut headers = HeaderMap::new();
        assert!(may_compress(&Method::GET, &headers));
        assert!(may_compress(&Method::HEAD, &headers));
        assert!(!may_compress(&Method::POST, &headers));
        headers.insert(header::COOKIE, HeaderValue::from_static("anything=1"));
        assert!(!may_compress(&Method::GET, &headers));
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
