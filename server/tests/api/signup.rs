use crate::helpers::{spawn_app, PASSWORD};

#[tokio::test]
async fn a_valid_signup_creates_one_account_and_redirects_to_sign_in() {
    let app = spawn_app().await;
    let reply = app.signup("alice@example.com", "Alice", PASSWORD).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.location.as_deref(), Some(app::api::AFTER_SIGNUP));
    assert_eq!(app.user_count().await, 1);
}

#[tokio::test]
async fn the_email_is_stored_trimmed_and_lowercased() {
    let app = spawn_app().await;
    app.signup("  Alice@Example.COM ", "alice", PASSWORD).await;
    let stored: String =
        sqlx::query_scalar("SELECT email FROM users").fetch_one(&app.pool).await.expect("row");
    assert_eq!(stored, "alice@example.com");
}

#[tokio::test]
async fn signing_up_with_a_taken_email_looks_exactly_like_a_new_signup_and_creates_nothing() {
    let app = spawn_app().await;
    let first = app.signup("alice@example.com", "alice", PASSWORD).await;
    let again = app.signup(" ALICE@example.com", "someone-else", "another fine passphrase 42").await;
    assert_eq!(first, again);
    assert_eq!(app.user_count().await, 1);
}

#[tokio::test]
async fn signing_up_with_a_taken_username_looks_exactly_like_a_new_signup_and_creates_nothing() {
    let app = spawn_app().await;
    let first = app.signup("alice@example.com", "alice", PASSWORD).await;
    let again = app.signup("bob@example.com", "ALICE", PASSWORD).await;
    assert_eq!(first, again);
    assert_eq!(app.user_count().await, 1);
}

#[tokio::test]
async fn invalid_fields_get_422_with_a_message_for_each_field() {
    let app = spawn_app().await;
    let reply = app.signup("not-an-email", "ad", "short").await;
    assert_eq!(reply.status, 422);
    let body: serde_json::Value = serde_json::from_str(&reply.body).expect("json");
    let fields = &body["Validation"];
    assert!(
        fields["email"].is_string() && fields["username"].is_string() && fields["password"].is_string(),
        "{body}"
    );
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn a_guessable_password_gets_422_on_the_password_field_with_advice() {
    let app = spawn_app().await;
    let reply = app.signup("kitten@example.com", "kitten", "kittenkittenkitten1").await;
    assert_eq!(reply.status, 422);
    let body: serde_json::Value = serde_json::from_str(&reply.body).expect("json");
    let message = body["Validation"]["password"].as_str().expect("password message");
    assert!(message.starts_with("This password is too easy to guess."), "{message}");
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn a_ten_kilobyte_password_is_refused_as_too_long() {
    let app = spawn_app().await;
    let huge = "a".repeat(10 * 1024);
    let reply = app.signup("alice@example.com", "alice", &huge).await;
    assert_eq!(reply.status, 422);
    assert!(reply.body.contains("at most 128 characters"), "{}", reply.body);
}

#[tokio::test]
async fn a_reserved_username_is_refused() {
    let app = spawn_app().await;
    let reply = app.signup("alice@example.com", "Admin", PASSWORD).await;
    assert_eq!(reply.status, 422);
    assert!(reply.body.contains("reserved"), "{}", reply.body);
}

#[tokio::test]
async fn the_stored_hash_is_argon2id_with_at_least_owasp_parameters() {
    let app = spawn_app().await;
    app.signup("alice@example.com", "alice", PASSWORD).await;
    let hash: String =
        sqlx::query_scalar("SELECT password_hash FROM users").fetch_one(&app.pool).await.expect("row");
    let mut parts = hash.split('$').skip(1);
    assert_eq!(parts.next(), Some("argon2id"));
    assert_eq!(parts.next(), Some("v=19"));
    let params: std::collections::HashMap<&str, u32> = parts
        .next()
        .expect("params")
        .split(',')
        .map(|kv| kv.split_once('=').map(|(k, v)| (k, v.parse().expect("number"))).expect("k=v"))
        .collect();
    assert!(params["m"] >= 19_456 && params["t"] >= 2 && params["p"] >= 1, "{hash}");
    assert!(!hash.contains(PASSWORD));
}

#[tokio::test]
async fn a_plain_form_post_is_redirected_back_to_the_form_with_the_errors() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/signup"))
        .header("accept", "text/html")
        .header("referer", app.url("/signup"))
        .form(&[("email", "nope"), ("username", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 302);
    let location = response.headers()["location"].to_str().expect("ascii");
    assert!(location.starts_with(&app.url("/signup?")) && location.contains("__err="), "{location}");
}
