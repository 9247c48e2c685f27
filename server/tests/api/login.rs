use crate::helpers::{spawn_app, PASSWORD};

#[tokio::test]
async fn the_right_password_signs_in_and_me_returns_the_user() {
    let app = spawn_app().await;
    app.register("alice@example.com", "Alice").await;
    let reply = app.login(" ALICE@example.com ", PASSWORD).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.location.as_deref(), Some("/"));
    let me = app.me().await;
    assert_eq!(me.status, 200);
    let user: serde_json::Value = serde_json::from_str(&me.body).expect("json");
    assert_eq!(user["username"], "Alice");
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["role"], "user");
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_identical_401s() {
    let app = spawn_app().await;
    app.register("alice@example.com", "alice").await;
    let wrong_password = app.login("alice@example.com", "not the right password").await;
    let unknown_email = app.login("nobody@example.com", "not the right password").await;
    let malformed = app.login("not an email", "x").await;
    assert_eq!(wrong_password.status, 401);
    assert_eq!(wrong_password, unknown_email);
    assert_eq!(wrong_password, malformed);
    assert!(wrong_password.body.contains("InvalidCredentials"));
}

#[tokio::test]
async fn a_missing_field_is_the_same_generic_401() {
    let app = spawn_app().await;
    let reply = app.post_form("/api/login", &[("email", "alice@example.com")]).await;
    assert_eq!(reply.status, 401);
}

#[tokio::test]
async fn a_ten_kilobyte_password_is_refused_with_the_generic_401() {
    let app = spawn_app().await;
    app.register("alice@example.com", "alice").await;
    let reply = app.login("alice@example.com", &"a".repeat(10 * 1024)).await;
    assert_eq!(reply.status, 401);
}

#[tokio::test]
async fn signing_in_rotates_the_session_id() {
    let app = spawn_app().await;
    app.register("alice@example.com", "alice").await;
    app.login("alice@example.com", PASSWORD).await;
    let first = app.session_cookie().expect("a session cookie after sign-in");
    app.login("alice@example.com", PASSWORD).await;
    let second = app.session_cookie().expect("a session cookie after the second sign-in");
    assert_ne!(first, second, "the id must change at every sign-in");
    // The pre-rotation id is dead.
    let stale = crate::helpers::client_with_cookie(&app, &first);
    assert_eq!(app.post_form_with(&stale, "/api/me", &[]).await.status, 401);
}

#[tokio::test]
async fn me_without_a_session_is_401() {
    let app = spawn_app().await;
    assert_eq!(app.me().await.status, 401);
}
