//! Email verification: links, their lifetime, the pages around them, and resending.

use crate::helpers::{spawn_app, spawn_app_with, PASSWORD};

const ALICE: &str = "alice@example.com";

async fn signed_up(app: &crate::helpers::TestApp, email: &str, username: &str) -> String {
    let before = app.mails_to(email).len();
    assert_eq!(app.signup(email, username, PASSWORD).await.status, 200);
    app.nth_mail(email, before + 1).await.token().expect("verification link")
}

#[tokio::test]
async fn an_unconfirmed_account_gets_the_generic_sign_in_error_until_the_link_is_followed() {
    let app = spawn_app().await;
    let token = signed_up(&app, ALICE, "alice").await;
    let unconfirmed = app.login(ALICE, PASSWORD).await;
    let wrong_password = app.login(ALICE, "not the right password at all").await;
    assert_eq!(unconfirmed.status, 401);
    assert_eq!(unconfirmed, wrong_password, "indistinguishable from a wrong password");

    let reply = app.verify(&token).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.location, Some(format!("{}?notice=email-verified", app::api::AFTER_VERIFY)));
    assert_eq!(app.login(ALICE, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn a_link_works_once() {
    let app = spawn_app().await;
    let token = signed_up(&app, ALICE, "alice").await;
    assert_eq!(app.verify(&token).await.status, 200);
    let again = app.verify(&token).await;
    assert_eq!(again.status, 400);
    assert!(again.body.contains("InvalidLink"), "{}", again.body);
}

#[tokio::test]
async fn a_link_expires_after_24_hours() {
    let app = spawn_app().await;
    let token = signed_up(&app, ALICE, "alice").await;
    app.clock.advance(24 * 3600);
    assert_eq!(app.verify(&token).await.status, 400);
    assert_eq!(app.login(ALICE, PASSWORD).await.status, 401);
}

#[tokio::test]
async fn only_a_hash_of_the_token_is_stored_and_sent_mail_leaves_the_database() {
    let app = spawn_app().await;
    let token = signed_up(&app, ALICE, "alice").await;
    let stored: Vec<String> =
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT token_hash FROM pending_signups")
        .fetch_all(c)
        .await)
        .expect("rows");
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], token);
    app.outbox_drained().await;
    let dump: Vec<String> =
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT body_text FROM mail_outbox").fetch_all(c).await).expect("rows");
    assert!(dump.is_empty(), "the delivered mail (and its link) is gone from the outbox");
}

#[tokio::test]
async fn links_are_built_from_the_public_url_never_from_the_host_header() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/signup"))
        .header("accept", "application/json")
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .form(&[("email", ALICE), ("username", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    let mail = app.nth_mail(ALICE, 1).await;
    assert!(mail.raw.contains("http://localhost:3000/verify-email?token="), "{}", mail.raw);
    assert!(!mail.raw.contains("evil.example"));
}

#[tokio::test]
async fn opening_the_link_changes_nothing_and_the_page_sends_no_referrer() {
    let app = spawn_app().await;
    let token = signed_up(&app, ALICE, "alice").await;
    let page = app.client.get(app.url(&format!("/verify-email?token={token}"))).send().await.expect("page");
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let other = app.client.get(app.url("/login")).send().await.expect("page");
    assert_eq!(other.headers()["referrer-policy"], "same-origin");
    let html = page.text().await.expect("body");
    assert!(html.contains("Confirm my email address"));
    assert_eq!(app.login(ALICE, PASSWORD).await.status, 401, "a GET (a mail scanner) confirms nothing");
    assert_eq!(app.verify(&token).await.status, 200, "and the token is still good");
}

#[tokio::test]
async fn a_dead_link_posted_without_javascript_lands_on_the_resend_page() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/verify-email"))
        .header("accept", "text/html")
        .form(&[("token", "0".repeat(64))])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 302);
    assert_eq!(
        response.headers()["location"],
        format!("{}?notice=link-invalid", app::api::LINK_INVALID).as_str()
    );
}

#[tokio::test]
async fn a_link_confirms_exactly_its_own_signup_and_an_attackers_signup_cannot_hijack_the_address() {
    let app = spawn_app().await;
    // The owner signs up; an attacker signs the same pending address up again, with a
    // password of their choosing.
    let owners = signed_up(&app, ALICE, "alice").await;
    let attackers_password = "attacker picks this long passphrase 9";
    assert_eq!(app.signup(ALICE, "mallory", attackers_password).await.status, 200);
    let attackers = app.nth_mail(ALICE, 2).await.token().expect("link");
    // The owner opens the attacker's mail by mistake: their own password does not fit it.
    let refused = app.verify(&attackers).await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("password"), "{}", refused.body);
    // Their own link confirms their own signup, with their own password.
    assert_eq!(app.verify(&owners).await.status, 200);
    assert_eq!(app.login(ALICE, PASSWORD).await.status, 200);
    assert_eq!(app.verify_with(&attackers, attackers_password, "").await.status, 400, "ended by the first");
    assert_eq!(app.login(ALICE, attackers_password).await.status, 401);
}

#[tokio::test]
async fn a_username_taken_since_signing_up_is_replaced_at_confirmation() {
    let app = spawn_app().await;
    let first = signed_up(&app, ALICE, "alice").await;
    app.register("bob@example.com", "alice").await;
    let refused = app.verify(&first).await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("username"), "{}", refused.body);
    assert_eq!(app.verify_with(&first, PASSWORD, "alice-two").await.status, 200);
    app.login(ALICE, PASSWORD).await;
    let me = app.me().await;
    assert!(me.body.contains("alice-two"), "{}", me.body);
}

#[tokio::test]
async fn resend_answers_every_address_the_same_and_mails_only_unconfirmed_accounts() {
    let app = spawn_app().await;
    signed_up(&app, ALICE, "alice").await;
    app.register("bob@example.com", "bob").await;
    let unconfirmed = app.resend(ALICE).await;
    let confirmed = app.resend("bob@example.com").await;
    let unknown = app.resend("nobody@example.com").await;
    assert_eq!(unconfirmed, unknown);
    assert_eq!(confirmed, unknown);
    assert_eq!(unknown.location.as_deref(), Some(app::api::CHECK_EMAIL));

    let fresh = app.nth_mail(ALICE, 2).await.token().expect("a new link");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.mails_to("bob@example.com").len(), 1, "only the first verification");
    assert!(app.mails_to("nobody@example.com").is_empty());
    assert_eq!(app.verify(&fresh).await.status, 200);
}

#[tokio::test]
async fn past_an_addresss_hourly_resends_the_answer_is_the_same_and_nothing_is_mailed() {
    let app = spawn_app_with(|s| {
        s.throttle.mail_requests_per_ip_per_hour = 100;
        s.throttle.link_mails_per_minute = 1000;
    })
    .await;
    signed_up(&app, ALICE, "alice").await;
    for _ in 0..5 {
        assert_eq!(app.resend(ALICE).await.status, 200);
        assert_eq!(app.resend("nobody@example.com").await.status, 200);
    }
    let known = app.resend(ALICE).await;
    let unknown = app.resend("nobody@example.com").await;
    assert_eq!(known.status, 200, "never refused: whoever used the cap up takes nothing from the owner");
    assert_eq!(known, unknown);
    app.outbox_drained().await;
    let mails = app.mails_to(ALICE);
    assert_eq!(mails.len(), 6, "the signup's link and five resends");
    let newest = mails.last().and_then(|m| m.token()).expect("link");
    assert_eq!(app.verify(&newest).await.status, 200, "the newest link works");
}

#[tokio::test]
async fn resend_is_throttled_per_client_ip() {
    let app = spawn_app_with(|s| s.throttle.link_mails_per_minute = 1000).await;
    for n in 0..10 {
        assert_eq!(app.resend(&format!("n{n}@example.com")).await.status, 200);
    }
    assert_eq!(app.resend("n10@example.com").await.status, 429);
}

#[tokio::test]
async fn a_malformed_address_gets_a_field_error() {
    let app = spawn_app().await;
    let reply = app.resend("not an address").await;
    assert_eq!(reply.status, 422);
    assert!(reply.body.contains("email"), "{}", reply.body);
}
