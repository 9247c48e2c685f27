//! Entry pages are gzipped only for requests without a cookie (BREACH: see
//! server/src/compression.rs). A signed-in page holds the person's name and address, and a
//! page opened from a mailed link its token and an address: neither is ever compressed,
//! whatever the browser accepts.

use std::io::Read;

use reqwest::{Client, Response};

use crate::helpers::{spawn_app, PASSWORD};

const GZIP_FIRST: &str = "gzip, deflate, br, zstd";

/// GETs `url` as Chromium does, accepting gzip first, with `client`'s cookies.
async fn get_accepting_gzip(client: &Client, url: String) -> Response {
    client.get(url).header("accept-encoding", GZIP_FIRST).send().await.expect("page")
}

/// POSTs a sign-in form accepting gzip and `accept`, from a browser without cookies.
async fn post_login_accepting_gzip(client: &Client, url: String, accept: &str) -> Response {
    client
        .post(url)
        .header("accept-encoding", GZIP_FIRST)
        .header("accept", accept)
        .form(&[("email", "nobody@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .expect("login")
}

fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes).read_to_string(&mut text).expect("a gzip stream");
    text
}

#[tokio::test]
async fn a_first_visit_gets_its_page_gzipped_and_whole() {
    let app = spawn_app().await;
    for path in ["/", "/login", "/signup", "/forgot-password"] {
        let browser = app.new_browser();
        let plain = browser.client.get(app.url(path)).send().await.expect("plain");
        assert!(!plain.headers().contains_key("content-encoding"), "{path}: asked for nothing, got it plain");
        let plain = plain.text().await.expect("body");

        let zipped = get_accepting_gzip(&browser.client, app.url(path)).await;
        assert_eq!(zipped.headers()["content-encoding"], "gzip", "{path}");
        assert!(zipped.headers()["vary"].to_str().expect("ascii").contains("accept-encoding"), "{path}");
        assert!(zipped.headers()["content-type"].to_str().expect("ascii").starts_with("text/html"));
        let bytes = zipped.bytes().await.expect("body");
        let page = gunzip(&bytes);
        assert!(
            bytes.len() * 3 < page.len() * 2,
            "{path}: {} bytes zipped, {} unzipped",
            bytes.len(),
            page.len()
        );
        // The same page but for its nonce, made anew for every answer.
        let nonce = |page: &str| {
            page.split("nonce=\"").nth(1).and_then(|rest| rest.split('"').next()).map(str::to_owned)
        };
        let (a, b) = (nonce(&plain).expect("a nonce"), nonce(&page).expect("a nonce"));
        assert_ne!(a, b, "a nonce is never reused");
        assert_eq!(
            plain.replace(&a, "N"),
            page.replace(&b, "N"),
            "{path}: the gzipped page is the plain one"
        );
    }
}

#[tokio::test]
async fn a_request_with_any_cookie_is_answered_uncompressed() {
    let app = spawn_app().await;
    let browser = app.new_browser();
    let reply = browser
        .client
        .get(app.url("/login"))
        .header("accept-encoding", GZIP_FIRST)
        .header("cookie", "anything=1")
        .send()
        .await
        .expect("page");
    assert_eq!(reply.status().as_u16(), 200);
    assert!(!reply.headers().contains_key("content-encoding"));
    assert!(reply.text().await.expect("body").contains("<form action=\"/api/login\""));
}

#[tokio::test]
async fn a_signed_in_page_holding_the_name_and_address_is_never_compressed() {
    let app = spawn_app().await;
    app.create_account("zipped@example.com", "zipped_person", bulwark::Role::User).await;
    let browser = app.browser_signed_in("zipped@example.com", PASSWORD).await;
    for path in ["/", "/account/password", "/account/sessions"] {
        let reply = get_accepting_gzip(&browser.client, app.url(path)).await;
        assert_eq!(reply.status().as_u16(), 200, "{path}");
        assert!(!reply.headers().contains_key("content-encoding"), "{path}");
        assert!(reply.text().await.expect("body").contains("zipped_person"), "{path}: a signed-in page");
    }
}

#[tokio::test]
async fn a_page_opened_from_a_mailed_link_is_never_compressed() {
    let app = spawn_app().await;
    app.register("linked@example.com", "linked_person").await;
    app.forgot_password("linked@example.com").await;
    let mail = app.mail_titled("linked@example.com", "Reset your password").await;
    let token = mail.reset_token().expect("a reset link");
    let browser = app.new_browser();
    for path in
        [format!("/reset-password?token={token}"), "/no-such-page".to_owned(), "/login?x=1".to_owned()]
    {
        let reply = get_accepting_gzip(&browser.client, app.url(&path)).await;
        assert!(!reply.headers().contains_key("content-encoding"), "{path}");
        let page = reply.text().await.expect("body");
        assert!(page.contains("<html"), "{path}: a page");
        if path.starts_with("/reset-password") {
            assert!(page.contains(&token), "the reset page holds its token");
        }
    }
}

#[tokio::test]
async fn a_form_post_answered_with_a_page_and_server_functions_are_never_compressed() {
    let app = spawn_app().await;
    let browser = app.new_browser();
    // Without JavaScript (and without a Referer to go back to) a refused form post is
    // answered with a page of its own.
    let page = post_login_accepting_gzip(&browser.client, app.url("/api/login"), "text/html").await;
    assert!(page.headers()["content-type"].to_str().expect("ascii").starts_with("text/html"));
    assert!(!page.headers().contains_key("content-encoding"), "status {}", page.status());
    let json = post_login_accepting_gzip(&browser.client, app.url("/api/login"), "application/json").await;
    assert_eq!(json.status().as_u16(), 401);
    assert!(!json.headers().contains_key("content-encoding"));
}
