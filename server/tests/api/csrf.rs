//! Cross-site requests are refused before anything happens.

use crate::helpers::{spawn_app, PASSWORD};

#[tokio::test]
async fn a_signup_from_a_foreign_origin_is_refused_and_creates_nothing() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/signup"))
        .header("origin", "https://evil.example")
        .form(&[("email", "victim@example.com"), ("username", "victim"), ("password", PASSWORD)])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn a_cross_site_sign_in_is_refused_and_sets_no_session() {
    let app = spawn_app().await;
    app.signup("alice@example.com", "alice", PASSWORD).await;
    let response = app
        .client
        .post(app.url("/api/login"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("email", "alice@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 403);
    assert!(response.headers().get("set-cookie").is_none());
    assert_eq!(app.me().await.status, 401);
}

#[tokio::test]
async fn a_cross_site_sign_out_leaves_the_session_alone() {
    let app = spawn_app().await;
    app.signed_in_user("alice@example.com", "alice").await;
    let response = app
        .client
        .post(app.url("/api/logout"))
        .header("sec-fetch-site", "same-site")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(app.me().await.status, 200);
}

#[tokio::test]
async fn a_post_with_no_origin_information_is_refused() {
    let app = spawn_app().await;
    let bare = reqwest::Client::new();
    let response = bare
        .post(app.url("/api/signup"))
        .form(&[("email", "a@example.com"), ("username", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn same_origin_fetch_metadata_is_accepted() {
    let app = spawn_app().await;
    let bare = reqwest::Client::new();
    let response = bare
        .post(app.url("/api/signup"))
        .header("sec-fetch-site", "same-origin")
        .header("accept", "application/json")
        .form(&[("email", "a@example.com"), ("username", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(app.user_count().await, 1);
}
