//! Static files: the site's `pkg` folder (WASM, JavaScript, CSS) and the favicon, served
//! straight from disk, outside the session layer (no session is read or written for a
//! file, and no request resolver runs).
//!
//! The release build writes a brotli and a gzip copy beside every file
//! (`cargo leptos build --release --precompress`); a client that accepts one gets it, so
//! nothing is compressed per request. With cargo-leptos' `hash-files` the file names
//! carry a hash of their content, so a name never changes meaning and the files are
//! cached for a year, `immutable`: a returning browser sends no request for them at all.
//! Without hashed names (debug builds and tests that do not ask for them) the files must
//! be revalidated (`no-cache`), or a browser would keep last build's WASM.

use std::path::Path;

use axum::{
    body::Body,
    http::{header, HeaderValue, Response, StatusCode},
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

/// The routes for `/pkg/*` and `/favicon.svg`, to be merged beside the pages.
pub fn routes<S: Clone + Send + Sync + 'static>(options: &LeptosOptions) -> Router<S> {
    let root = Path::new(options.site_root.as_ref());
    let pkg_cache = if options.hash_files { IMMUTABLE } else { REVALIDATE };
    let pkg = ServeDir::new(root.join(options.site_pkg_dir.as_ref()))
        .precompressed_br()
        .precompressed_gzip();
    let favicon = ServeFile::new(root.join("favicon.svg"));
    let pkg = Router::new().nest_service("/pkg", pkg).layer(cache_layer(pkg_cache)).layer(vary_layer());
    let favicon = Router::new().route_service("/favicon.svg", favicon).layer(cache_layer(FAVICON));
    pkg.merge(favicon)
}

/// Sets `Cache-Control` on successful answers only: a 404 for a file that is not there
/// yet must not be cached for a year.
fn cache_layer(
    value: &'static str,
) -> SetResponseHeaderLayer<impl Fn(&Response<Body>) -> Option<HeaderValue> + Clone> {
    SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, move |response: &Response<Body>| {
        let cacheable = response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED;
        cacheable.then(|| HeaderValue::from_static(value))
    })
}

/// The same URL is answered in brotli, gzip or plain by `Accept-Encoding`: caches must
/// keep them apart.
fn vary_layer() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::appending(header::VARY, HeaderValue::from_static("accept-encoding"))
}
