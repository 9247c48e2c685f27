//! Forgotten passwords: the request, the link, the new password, and what it ends.

use crate::helpers::{spawn_app, PASSWORD};

const ALICE: &str = "alice@example.com";
const NEW_PASSWORD: &str = "a brand new passphrase for alice 31";

#[tokio::test]
async fn asking_for_a_reset_answers_every_address_the_same_and_mails_only_accounts() {
    let app = spawn_app().await;
    app.register(ALICE, "alice").await;
    let known = app.forgot_password(ALICE).await;
    let unknown = app.forgot_password("nobody@example.com").await;
    assert_eq!(known, unknown);
    assert_eq!(known.location.as_deref(), Some(app::api::CHECK_EMAIL));
    let mail = app.nth_mail(ALICE, 2).await;
    assert_eq!(mail.subject(), "Reset your password");
    assert!(mail.raw.contains("http://localhost:3000/reset-password?token="), "{}", mail.raw);
    assert!(mail.raw.contains("expires in 60 minutes"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(app.mails_to("nobody@example.com").is_empty());
}

#[tokio::test]
async fn a_reset_signs_out_every_device_and_only_the_new_password_works() {
    let app = spawn_app().await;
    app.signed_in_user(ALICE, "alice").await;
    let laptop = app.browser_signed_in(ALICE, PASSWORD).await;
    assert_eq!(app.forgot_password(ALICE).await.status, 200);
    let token = app.mail_titled(ALICE, "Reset your password").await.reset_token().expect("reset link");

    let reply = app.reset_password(&token, NEW_PASSWORD).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.location, Some(format!("{}?notice=password-reset", app::api::AFTER_RESET)));
    assert_eq!(app.me().await.status, 401, "this device is signed out");
    assert_eq!(app.status_of(&laptop.client, "/api/me").await, 401, "and the other one");
    let sessions: i64 =
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT COUNT(*) FROM session_registry")
        .fetch_one(c)
        .await)
        .expect("count");
    assert_eq!(sessions, 0, "no session rows are left");

    assert_eq!(app.login(ALICE, PASSWORD).await.status, 401);
    assert_eq!(app.login(ALICE, NEW_PASSWORD).await.status, 200);
    app.mail_titled(ALICE, "Your password was changed").await;
    assert_eq!(app.reset_password(&token, "yet another long passphrase 77").await.status, 400, "used up");
}

#[tokio::test]
async fn a_weak_new_password_is_refused_at_its_field_and_the_link_still_works() {
    let app = spawn_app().await;
    app.register(ALICE, "alice").await;
    app.forgot_password(ALICE).await;
    let token = app.nth_mail(ALICE, 2).await.reset_token().expect("reset link");
    let weak = app.reset_password(&token, "alicealicealice1").await;
    assert_eq!(weak.status, 422);
    assert!(weak.body.contains("password"), "{}", weak.body);
    assert_eq!(app.reset_password(&token, NEW_PASSWORD).await.status, 200);
}

#[tokio::test]
async fn a_reset_link_expires_after_an_hour() {
    let app = spawn_app().await;
    app.register(ALICE, "alice").await;
    app.forgot_password(ALICE).await;
    let token = app.nth_mail(ALICE, 2).await.reset_token().expect("reset link");
    app.clock.advance(3600);
    assert_eq!(app.reset_password(&token, NEW_PASSWORD).await.status, 400);
    assert_eq!(app.login(ALICE, PASSWORD).await.status, 200, "the password is unchanged");
}

#[tokio::test]
async fn a_reset_clears_the_sign_in_backoff_an_attacker_built_up() {
    let app = spawn_app().await;
    app.register(ALICE, "alice").await;
    for _ in 0..6 {
        app.login(ALICE, "attacker guess number one").await;
    }
    assert_eq!(app.login(ALICE, PASSWORD).await.status, 429);
    app.forgot_password(ALICE).await;
    let token = app.nth_mail(ALICE, 2).await.reset_token().expect("reset link");
    assert_eq!(app.reset_password(&token, NEW_PASSWORD).await.status, 200);
    assert_eq!(app.login(ALICE, NEW_PASSWORD).await.status, 200);
}

#[tokio::test]
async fn without_javascript_errors_go_back_to_the_pages_that_can_show_them() {
    let app = spawn_app().await;
    app.register(ALICE, "alice").await;
    app.forgot_password(ALICE).await;
    let token = app.nth_mail(ALICE, 2).await.reset_token().expect("reset link");
    let post = |token: String, password: &'static str| {
        app.client
            .post(app.url("/api/reset-password"))
            .header("accept", "text/html")
            .form(&[("token", token), ("password", password.to_owned())])
            .send()
    };
    let weak = post(token.clone(), "short").await.expect("request");
    assert_eq!(weak.status().as_u16(), 302);
    let location = weak.headers()["location"].to_str().expect("ascii").to_owned();
    assert!(location.starts_with(&format!("/reset-password?token={token}&")), "{location}");
    assert!(location.contains("__err="), "{location}");

    let dead = post("0".repeat(64), "whatever long enough 123").await.expect("request");
    assert_eq!(
        dead.headers()["location"],
        format!("{}?notice=link-invalid", app::api::RESET_LINK_INVALID).as_str()
    );

    let page = app.client.get(app.url(&location)).send().await.expect("page");
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.expect("body");
    assert!(html.contains("Use at least 15 characters"), "the error is shown at the field: {html}");
}

#[tokio::test]
async fn reset_submissions_are_capped_per_client_ip() {
    let app = crate::helpers::spawn_app_with(|s| s.throttle.link_submissions_per_ip_per_hour = 2).await;
    let dead = "0".repeat(64);
    for _ in 0..2 {
        assert_eq!(app.reset_password(&dead, "marble comet lantern fjord 47").await.status, 400);
    }
    let reply = app.reset_password(&dead, "marble comet lantern fjord 47").await;
    assert_eq!(reply.status, 429, "each submission runs a strength check: capped per address");
}
