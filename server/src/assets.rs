//! Static files: the site's `pkg` folder (WASM, JavaScript, CSS), the favicon and the
//! passkey glue (`public/passkey.js`, loaded only by pages with a passkey form), served
//! straight from disk, outside the session layer (no session is read or written for a
//! file, and no request resolver runs).
//!
//! The release build writes a brotli and a gzip copy beside every file
//! (`cargo leptos build --release --precompress`); a client that accepts one gets it, so
//! nothing is compressed per request. With cargo-leptos' `hash-files` the file names
//! carry a hash of their content, so such a name never changes meaning and the file is
//! cached for a year, `immutable`: a returning browser sends no request for it at all.
//! A name without a hash (a debug build, or Leptos falling back to plain names when it
//! cannot read `hash.txt`) must be revalidated (`no-cache`), or a browser would keep an
//! old build's WASM.

use std::path::Path;

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderValue, Response, StatusCode},
    middleware::{self, Next},
    Router,
};
use leptos::config::LeptosOptions;
use tower_http::{
    services::{ServeDir, ServeFile},
    set_header::SetResponseHeaderLayer,
};

/// `Cache-Control` for content-hashed files.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` for files whose name does not change with their content.
pub const REVALIDATE: &str = "no-cache";
/// `Cache-Control` for the favicon (not hashed; it may be a day old).
const FAVICON: &str = "public, max-age=86400";

/// The routes for `/pkg/*`, `/favicon.svg` and `/passkey.js`, to be merged beside the pages.
pub fn routes<S: Clone + Send + Sync + 'static>(options: &LeptosOptions) -> Router<S> {
    let root = Path::new(options.site_root.as_ref());
    let pkg = ServeDir::new(root.join(options.site_pkg_dir.as_ref())).precompressed_br().precompressed_gzip();
    let favicon = ServeFile::new(root.join("favicon.svg"));
    let pkg = Router::new()
        .nest_service("/pkg", pkg)
        .layer(middleware::from_fn_with_state(options.hash_files, pkg_cache))
        .layer(SetResponseHeaderLayer::appending(header::VARY, HeaderValue::from_static("accept-encoding")));
    let favicon =
        Router::new()
            .route_service("/favicon.svg", favicon)
            .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, |response: &Response<Body>| {
                cacheable(response).then(|| HeaderValue::from_static(FAVICON))
            }));
    // Not content-hashed: revalidated, so a new build's glue is never mixed with an old page.
    let passkey = ServeFile::new(root.join("passkey.js")).precompressed_br().precompressed_gzip();
    let passkey = Router::new()
        .route_service("/passkey.js", passkey)
        .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, |response: &Response<Body>| {
            cacheable(response).then(|| HeaderValue::from_static(REVALIDATE))
        }))
        .layer(SetResponseHeaderLayer::appending(header::VARY, HeaderValue::from_static("accept-encoding")));
    pkg.merge(favicon).merge(passkey)
}

/// `immutable` for a found file under a content-hashed name (when the build hashes
/// names), `no-cache` for any other found file, nothing for an error (the router marks
/// it `no-store`): a 404 for a file that is not there yet must not be kept for a year.
async fn pkg_cache(State(hashed_build): State<bool>, request: Request, next: Next) -> Response<Body> {
    let immutable = hashed_build && has_content_hash(request.uri().path());
    let mut response = next.run(request).await;
    if cacheable(&response) {
        let value = if immutable { IMMUTABLE } else { REVALIDATE };
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    }
    response
}

fn cacheable(response: &Response<Body>) -> bool {
    response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED
}

/// Whether the file name looks like cargo-leptos' hashed names: `name.HASH.ext`, with a
/// hash of at least 16 URL-safe base64 characters (cargo-leptos writes 22).
fn has_content_hash(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() >= 3
        && parts[1..parts.len() - 1].iter().any(|part| {
            part.len() >= 16 && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_with_a_content_hash_count_as_hashed() {
        assert!(has_content_hash("/pkg/bulwark.o8oFu9PjM90ucE_2WpKzqQ.wasm"));
        assert!(has_content_hash("/pkg/bulwark.zPhW_bvvmufnj9C_qoJcRA.css"));
        assert!(!has_content_hash("/pkg/bulwark.wasm"));
        assert!(!has_content_hash("/pkg/bulwark_bg.wasm"));
        assert!(!has_content_hash("/pkg/bulwark.short.js"));
        assert!(!has_content_hash("/pkg/o8oFu9PjM90ucE_2WpKzqQ"));
    }
}
