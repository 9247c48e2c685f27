//! Cross-site requests are refused before anything happens.

use reqwest::Client;

use crate::helpers::{spawn_app, TestApp, PASSWORD};

/// POSTs `form` to `path` with extra `headers` (on top of `client`'s defaults); the status.
async fn post(
    app: &TestApp,
    client: &Client,
    path: &str,
    headers: &[(&str, &str)],
    form: &[(&str, &str)],
) -> u16 {
    let mut request = client.post(app.url(path)).header("accept", "application/json").form(form);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request").status().as_u16()
}

const NEW_USER: [(&str, &str); 3] =
    [("email", "victim@example.com"), ("username", "victim"), ("password", PASSWORD)];

#[tokio::test]
async fn a_signup_from_a_foreign_origin_is_refused_and_creates_nothing() {
    let app = spawn_app().await;
    let status =
        post(&app, &app.client, "/api/signup", &[("origin", "https://evil.example")], &NEW_USER).await;
    assert_eq!(status, 403);
    assert_eq!(app.pending_count().await, 0);
}

#[tokio::test]
async fn a_cross_site_sign_in_is_refused_and_sets_no_session() {
    let app = spawn_app().await;
    app.register("alice@example.com", "alice").await;
    let form = [("email", "alice@example.com"), ("password", PASSWORD)];
    let status = post(&app, &app.client, "/api/login", &[("sec-fetch-site", "cross-site")], &form).await;
    assert_eq!(status, 403);
    assert!(app.session_cookie().is_none(), "no session cookie was set");
    assert_eq!(app.me().await.status, 401);
}

#[tokio::test]
async fn a_cross_site_sign_out_leaves_the_session_alone() {
    let app = spawn_app().await;
    app.signed_in_user("alice@example.com", "alice").await;
    let status = post(&app, &app.client, "/api/logout", &[("sec-fetch-site", "same-site")], &[]).await;
    assert_eq!(status, 403);
    assert_eq!(app.me().await.status, 200);
}

#[tokio::test]
async fn a_post_with_no_origin_information_is_refused() {
    let app = spawn_app().await;
    assert_eq!(post(&app, &Client::new(), "/api/signup", &[], &NEW_USER).await, 403);
    assert_eq!(app.pending_count().await, 0);
}

#[tokio::test]
async fn same_origin_fetch_metadata_is_accepted() {
    let app = spawn_app().await;
    let status =
        post(&app, &Client::new(), "/api/signup", &[("sec-fetch-site", "same-origin")], &NEW_USER).await;
    assert_eq!(status, 200);
    app.wait_for_pending(1).await;
}
