//! Request and response security: cross-site request forgery protection (below) and the
//! security headers every response carries ([`security_headers`]).
//!
//! ## CSRF
//!
//! Every state-changing request (anything but GET, HEAD, OPTIONS) must show it came from
//! this site: `Sec-Fetch-Site: same-origin` (or `none`, a request the user started
//! themselves), or, from clients that do not send Fetch Metadata, an `Origin` equal to the
//! public URL's origin. Anything else gets 403 before any handler runs. This covers sign-in
//! too, so an attacker cannot sign a victim into the attacker's account (login CSRF).
//! See the OWASP CSRF Prevention Cheat Sheet, "Fetch Metadata headers" and "Verifying
//! Origin with standard headers". SameSite=Lax cookies are a second, independent layer.

use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

/// The scheme, host and port requests must come from, e.g. `https://auth.example.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicOrigin(pub String);

impl PublicOrigin {
    pub fn from_url(url: &axum::http::Uri) -> Self {
        let scheme = url.scheme_str().unwrap_or("https");
        let authority = url.authority().map_or("", |a| a.as_str());
        Self(format!("{scheme}://{authority}"))
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Refused(&'static str),
}

/// The decision, separate from HTTP plumbing so it can be tested exhaustively.
pub fn judge(method: &Method, headers: &HeaderMap, origin: &PublicOrigin) -> Verdict {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Verdict::Allowed;
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.as_bytes() {
            b"same-origin" | b"none" => Verdict::Allowed,
            _ => Verdict::Refused("Sec-Fetch-Site is not same-origin"),
        };
    }
    match headers.get(header::ORIGIN) {
        Some(value) if value.as_bytes() == origin.0.as_bytes() => Verdict::Allowed,
        Some(_) => Verdict::Refused("Origin does not match the public URL"),
        None => Verdict::Refused("neither Sec-Fetch-Site nor Origin was sent"),
    }
}

pub async fn csrf_guard(State(origin): State<PublicOrigin>, request: Request, next: Next) -> Response {
    match judge(request.method(), request.headers(), &origin) {
        Verdict::Allowed => next.run(request).await,
        Verdict::Refused(reason) => {
            tracing::warn!(
                event = "input_validation_fail",
                reason,
                path = request.uri().path(),
                "cross-site request refused"
            );
            (StatusCode::FORBIDDEN, "Cross-site request refused.").into_response()
        }
    }
}

/// What [`security_headers`] needs to know.
#[derive(Debug, Clone, Copy)]
pub struct HeaderPolicy {
    /// Send `Strict-Transport-Security` (only when the public URL is https).
    pub hsts: bool,
}

/// For responses that are not pages (API answers, files, errors): nothing may load, nothing
/// may frame them.
const DEFAULT_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// A page's policy, keyed to the nonce Leptos put on the page's scripts: only those scripts
/// (and what they load, via `'strict-dynamic'`) run, and the WASM may be compiled
/// (`'wasm-unsafe-eval'`). An injected `<script>` has no nonce and does not run.
fn page_csp(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'nonce-{nonce}' 'strict-dynamic' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
         form-action 'self'"
    )
}

/// Where a page render leaves the nonce it used. The middleware puts an empty slot in the
/// request's extensions; Leptos' per-request context hook fills it (see `server::router`);
/// the middleware reads it back to write the page's policy. Requests that render no page
/// leave it empty and get [`DEFAULT_CSP`].
#[derive(Clone, Default)]
pub struct NonceSlot(std::sync::Arc<std::sync::Mutex<Option<String>>>);

impl NonceSlot {
    pub fn fill(&self, nonce: &str) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(nonce.to_owned());
        }
    }

    fn take(&self) -> Option<String> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// Pages opened from a link in a mail, with a one-time token in the query string.
pub const TOKEN_PAGES: &[&str] = &[
    bulwark::mail::templates::VERIFY_PATH,
    bulwark::mail::templates::RESET_PATH,
    bulwark::mail::templates::CONFIRM_PATH,
    bulwark::mail::templates::CANCEL_PATH,
    bulwark::mail::templates::RECOVER_PATH,
    bulwark::mail::templates::UNDO_DELETION_PATH,
    bulwark::mail::templates::INVITATION_PATH,
];

/// Adds the headers every response carries (OWASP Secure Headers Project): a nonce-based
/// Content-Security-Policy on pages and [`DEFAULT_CSP`] on everything else.
/// `Referrer-Policy: same-origin` keeps full URLs off other sites while still telling this
/// site where a form was posted from (the no-JavaScript error redirect needs that). Pages
/// whose URL carries a token ([`TOKEN_PAGES`]) send no Referer at all.
pub async fn security_headers(
    State(policy): State<HeaderPolicy>,
    mut request: Request,
    next: Next,
) -> Response {
    let referrer_policy =
        if TOKEN_PAGES.contains(&request.uri().path()) { "no-referrer" } else { "same-origin" };
    let slot = NonceSlot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    let csp = match slot.take().map(|nonce| HeaderValue::from_str(&page_csp(&nonce))) {
        Some(Ok(value)) => value,
        _ => HeaderValue::from_static(DEFAULT_CSP),
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static(referrer_policy));
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if policy.hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    headers.remove(header::SERVER);
    response
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn origin() -> PublicOrigin {
        PublicOrigin::from_url(&"https://auth.example.com".parse().expect("uri"))
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_public_origin_is_scheme_host_and_port() {
        assert_eq!(origin().0, "https://auth.example.com");
        let local = PublicOrigin::from_url(&"http://localhost:3000".parse().expect("uri"));
        assert_eq!(local.0, "http://localhost:3000");
    }

    #[test]
    fn reads_are_always_allowed() {
        assert_eq!(
            judge(&Method::GET, &headers(&[("sec-fetch-site", "cross-site")]), &origin()),
            Verdict::Allowed
        );
    }

    #[test]
    fn same_origin_and_user_initiated_posts_are_allowed() {
        for site in ["same-origin", "none"] {
            let h = headers(&[("sec-fetch-site", site)]);
            assert_eq!(judge(&Method::POST, &h, &origin()), Verdict::Allowed, "{site}");
        }
    }

    #[test]
    fn cross_site_and_same_site_posts_are_refused_whatever_the_origin_says() {
        for site in ["cross-site", "same-site"] {
            let h = headers(&[("sec-fetch-site", site), ("origin", "https://auth.example.com")]);
            assert!(matches!(judge(&Method::POST, &h, &origin()), Verdict::Refused(_)), "{site}");
        }
    }

    #[test]
    fn without_fetch_metadata_the_origin_must_match_exactly() {
        let ok = headers(&[("origin", "https://auth.example.com")]);
        assert_eq!(judge(&Method::POST, &ok, &origin()), Verdict::Allowed);
        for bad in ["https://evil.example", "http://auth.example.com", "https://auth.example.com:444", "null"]
        {
            let mut h = HeaderMap::new();
            h.insert("origin", HeaderValue::from_str(bad).expect("value"));
            assert!(matches!(judge(&Method::POST, &h, &origin()), Verdict::Refused(_)), "{bad}");
        }
    }

    #[test]
    fn a_post_with_neither_header_is_refused() {
        assert!(matches!(judge(&Method::POST, &HeaderMap::new(), &origin()), Verdict::Refused(_)));
        assert!(matches!(judge(&Method::DELETE, &HeaderMap::new(), &origin()), Verdict::Refused(_)));
    }
}
