//! Static files: precompressed copies chosen by `Accept-Encoding`, cached for a year when
//! their names carry a content hash, revalidated when they do not; pages never cached.

use std::path::Path;

use crate::helpers::{spawn_app, spawn_app_serving, PASSWORD};

const WASM: &[u8] = b"\0asm\x01\0\0\0 the plain module";
const WASM_BR: &[u8] = b"pretend brotli bytes";
const WASM_GZ: &[u8] = b"pretend gzip bytes";

/// A site folder as `cargo leptos build --release --precompress` leaves it with
/// `hash-files`: each file under its hashed name, with `.br` and `.gz` beside it.
fn site(root: &Path) {
    let pkg = root.join("pkg");
    std::fs::create_dir_all(&pkg).expect("pkg folder");
    std::fs::write(pkg.join("bulwark.Xy12abCDef34ghIJkl56mn.wasm"), WASM).expect("wasm");
    std::fs::write(pkg.join("bulwark.Xy12abCDef34ghIJkl56mn.wasm.br"), WASM_BR).expect("br");
    std::fs::write(pkg.join("bulwark.Xy12abCDef34ghIJkl56mn.wasm.gz"), WASM_GZ).expect("gz");
    std::fs::write(pkg.join("bulwark.wasm"), WASM).expect("a plain name");
    std::fs::write(root.join("favicon.svg"), "<svg xmlns=\"http://www.w3.org/2000/svg\"/>").expect("favicon");
}

async fn hashed_site_app(dir: &Path, hashed: bool) -> crate::helpers::TestApp {
    site(dir);
    let root = dir.display().to_string();
    spawn_app_serving(
        |_| {},
        move |options| {
            options.site_root = root.into();
            options.hash_files = hashed;
        },
    )
    .await
}

#[tokio::test]
async fn the_wasm_goes_out_in_brotli_to_a_browser_that_accepts_it_and_is_cached_immutably() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = hashed_site_app(dir.path(), true).await;
    let url = app.url("/pkg/bulwark.Xy12abCDef34ghIJkl56mn.wasm");

    let br =
        app.client.get(&url).header("accept-encoding", "gzip, deflate, br, zstd").send().await.expect("br");
    assert_eq!(br.status().as_u16(), 200);
    assert_eq!(br.headers()["content-encoding"], "br");
    assert_eq!(br.headers()["content-type"], "application/wasm", "the type of the file, not of the .br copy");
    assert_eq!(br.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert!(br.headers()["vary"].to_str().expect("ascii").contains("accept-encoding"));
    assert!(!br.headers().contains_key("set-cookie"), "files are served outside the session layer");
    assert_eq!(br.bytes().await.expect("body").as_ref(), WASM_BR, "the precompressed copy, as it is on disk");

    let gz = app.client.get(&url).header("accept-encoding", "gzip").send().await.expect("gzip");
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.bytes().await.expect("body").as_ref(), WASM_GZ);

    let plain = app.client.get(&url).send().await.expect("plain");
    assert!(!plain.headers().contains_key("content-encoding"));
    assert_eq!(plain.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(plain.bytes().await.expect("body").as_ref(), WASM);

    let missing =
        app.client.get(app.url("/pkg/bulwark.Zz99zzYY88xxWW77vv66uu.wasm")).send().await.expect("404");
    assert_eq!(missing.status().as_u16(), 404);
    assert_eq!(missing.headers()["cache-control"], "no-store", "a missing file is not cached for a year");
    // Every answer still carries the security headers.
    assert_eq!(missing.headers()["x-content-type-options"], "nosniff");

    // A plain name, even in a hashed build (Leptos falls back to plain names when it cannot
    // read its hash file), is revalidated, not kept for a year.
    let plain_name = app.client.get(app.url("/pkg/bulwark.wasm")).send().await.expect("plain name");
    assert_eq!(plain_name.status().as_u16(), 200);
    assert_eq!(plain_name.headers()["cache-control"], "no-cache");

    let favicon = app.client.get(app.url("/favicon.svg")).send().await.expect("favicon");
    assert_eq!(favicon.status().as_u16(), 200);
    assert_eq!(favicon.headers()["cache-control"], "public, max-age=86400");
}

#[tokio::test]
async fn a_build_without_hashed_names_has_its_files_revalidated_not_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = hashed_site_app(dir.path(), false).await;
    let response = app
        .client
        .get(app.url("/pkg/bulwark.Xy12abCDef34ghIJkl56mn.wasm"))
        .header("accept-encoding", "br")
        .send()
        .await
        .expect("file");
    assert_eq!(response.headers()["content-encoding"], "br");
    assert_eq!(response.headers()["cache-control"], "no-cache");
}

#[tokio::test]
async fn pages_and_server_functions_are_never_stored_signed_in_or_not() {
    let app = spawn_app().await;
    let anonymous = app.client.get(app.url("/")).header("accept-encoding", "br").send().await.expect("page");
    assert_eq!(anonymous.status().as_u16(), 200, "{:?}", anonymous.headers());
    assert_eq!(anonymous.headers()["cache-control"], "no-store");
    assert!(!anonymous.headers().contains_key("content-encoding"), "pages are not compressed per request");

    app.register("carol@example.com", "CarolKing").await;
    app.login("carol@example.com", PASSWORD).await;
    let signed_in = app.client.get(app.url("/")).send().await.expect("page");
    assert_eq!(signed_in.headers()["cache-control"], "no-store");
    assert!(signed_in.text().await.expect("body").contains("CarolKing"));
    let me =
        app.client.post(app.url("/api/me")).header("accept", "application/json").send().await.expect("me");
    assert_eq!(me.status().as_u16(), 200);
    assert_eq!(me.headers()["cache-control"], "no-store");
    let not_found = app.client.get(app.url("/no/such/page")).send().await.expect("404");
    assert_eq!(not_found.headers()["cache-control"], "no-store");
    // Answered before the resolver runs: a refused cross-site request.
    let refused = app
        .client
        .post(app.url("/api/logout"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .expect("refused");
    assert_eq!(refused.status().as_u16(), 403);
    assert_eq!(refused.headers()["cache-control"], "no-store");
}
