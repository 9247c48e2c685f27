//! Device cookies: an attacker's flood of guesses blocks only clients the account has never
//! seen; the owner's browser keeps its own budget, signs in at once, and can still reset
//! the password.

use crate::{
    helpers::{proxied_by_loopback, spawn_app_with, Browser, TestApp, PASSWORD},
    throttle::login_spoofed_with,
};

const ALICE: &str = "alice@example.com";

async fn app() -> TestApp {
    spawn_app_with(|s| s.client_ip = proxied_by_loopback()).await
}

/// The owner's laptop: signed in once (so it holds a device cookie), then signed out.
async fn owners_laptop(app: &TestApp) -> Browser {
    let laptop = app.browser_signed_in(ALICE, PASSWORD).await;
    assert!(laptop.device_cookie().is_some(), "a device cookie after a successful sign-in");
    let reply = app.post_form_with(&laptop.client, "/api/logout", &[]).await;
    assert_eq!(reply.status, 200);
    assert!(laptop.session_cookie().is_none(), "signed out");
    laptop
}

#[tokio::test]
async fn a_flood_of_guesses_blocks_new_browsers_but_not_the_owners_known_one() {
    let app = app().await;
    app.register(ALICE, "alice").await;
    let laptop = owners_laptop(&app).await;
    let attacker = app.new_browser();

    // 300 wrong guesses from ever-changing addresses, waiting out every block the answers
    // announce, so the account's consecutive failures pass the long-run cap of 100.
    let mut checked = 0;
    for n in 0..300 {
        let from = format!("203.0.{}.{}", n / 250, n % 250);
        let response = attacker
            .client
            .post(app.url("/api/login"))
            .header("accept", "application/json")
            .header("x-forwarded-for", &from)
            .form(&[("email", ALICE), ("password", format!("guess number {n}").as_str())])
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let set_cookie: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().expect("ascii").to_owned())
            .collect();
        assert!(set_cookie.iter().all(|c| !c.contains("bulwark-device")), "no device cookie for a failure");
        match status {
            401 => checked += 1,
            429 => {
                let wait: i64 =
                    response.headers()["retry-after"].to_str().expect("ascii").parse().expect("secs");
                if wait <= 15 * 60 {
                    app.clock.advance(wait);
                }
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(checked, 100, "guesses stop being checked at the long-run cap");
    assert!(attacker.device_cookie().is_none(), "the attacker never got a device cookie");

    // A browser the account has never seen is refused, even with the right password...
    let stranger = app.new_browser();
    let reply = login_spoofed_with(&app, &stranger.client, ALICE, PASSWORD, "198.51.100.1").await;
    assert_eq!(reply.status, 429);
    // ...while the owner's laptop signs in at once.
    let reply = login_spoofed_with(&app, &laptop.client, ALICE, PASSWORD, "198.51.100.2").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test]
async fn the_owner_can_ask_for_a_reset_after_an_attacker_used_up_the_addresss_mail_cap() {
    let app = app().await;
    app.register(ALICE, "alice").await;
    let laptop = owners_laptop(&app).await;
    for n in 0..6 {
        let reply =
            app.post_form_with(&app.new_browser().client, "/api/forgot-password", &[("email", ALICE)]).await;
        let _ = (n, reply);
    }
    let stranger = app.new_browser();
    let refused = app.post_form_with(&stranger.client, "/api/forgot-password", &[("email", ALICE)]).await;
    assert_eq!(refused.status, 429, "the address's cap is used up for unknown browsers");
    let owner = app.post_form_with(&laptop.client, "/api/forgot-password", &[("email", ALICE)]).await;
    assert_eq!(owner.status, 200, "{}", owner.body);
}

#[tokio::test]
async fn a_device_cookie_that_fails_too_often_is_revoked() {
    let app = app().await;
    app.register(ALICE, "alice").await;
    let laptop = owners_laptop(&app).await;
    let mut failures = 0;
    while failures < 10 {
        let reply =
            login_spoofed_with(&app, &laptop.client, ALICE, "wrong password guess", "198.51.100.3").await;
        match reply.status {
            401 => failures += 1,
            429 => app.clock.advance(15 * 60),
            other => panic!("unexpected status {other}"),
        }
    }
    let devices: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM device_cookies").fetch_one(&app.pool).await.expect("count");
    assert_eq!(devices, 0, "revoked after its tenth failure");
    // From now on the laptop is an untrusted client like any other: its failures count
    // against the account's shared budget.
    let mut untrusted = 0;
    let mut n = 10;
    while untrusted < 5 {
        n += 1;
        let from = format!("198.51.100.{n}");
        if login_spoofed_with(&app, &laptop.client, ALICE, "wrong password guess", &from).await.status == 401
        {
            untrusted += 1;
        }
    }
    let stranger = app.new_browser();
    assert_eq!(login_spoofed_with(&app, &stranger.client, ALICE, PASSWORD, "198.51.100.4").await.status, 429);
}

#[tokio::test]
async fn a_device_cookie_is_bound_to_its_account() {
    let app = app().await;
    app.register(ALICE, "alice").await;
    app.register("bob@example.com", "bob").await;
    let laptop = owners_laptop(&app).await;
    // Bob's account is under attack; Alice's laptop is a stranger to Bob's account.
    for n in 0..5 {
        let from = format!("203.0.113.{n}");
        login_spoofed_with(&app, &app.new_browser().client, "bob@example.com", "wrong password guess", &from)
            .await;
    }
    let reply = login_spoofed_with(&app, &laptop.client, "bob@example.com", PASSWORD, "198.51.100.5").await;
    assert_eq!(reply.status, 429);
}

#[tokio::test]
async fn signing_out_keeps_the_device_cookie_and_clears_only_storage() {
    let app = app().await;
    app.register(ALICE, "alice").await;
    let laptop = app.browser_signed_in(ALICE, PASSWORD).await;
    let response = laptop
        .client
        .post(app.url("/api/logout"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("request");
    assert_eq!(response.headers()["clear-site-data"], "\"storage\"");
    let set_cookie: Vec<&str> =
        response.headers().get_all("set-cookie").iter().map(|v| v.to_str().expect("ascii")).collect();
    assert!(set_cookie.iter().all(|c| !c.starts_with("bulwark-device")), "{set_cookie:?}");
    assert!(laptop.device_cookie().is_some());
}

#[tokio::test]
async fn a_password_reset_revokes_every_device_cookie_of_the_account() {
    let app = app().await;
    app.register(ALICE, "alice").await;
    let _laptop = owners_laptop(&app).await;
    assert_eq!(app.forgot_password(ALICE).await.status, 200);
    let mail = app.nth_mail(ALICE, 2).await;
    let token = mail.reset_token().expect("a reset link");
    assert_eq!(app.reset_password(&token, "marble comet lantern fjord 47").await.status, 200);
    let devices: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM device_cookies").fetch_one(&app.pool).await.expect("count");
    assert_eq!(devices, 0);
}

#[tokio::test]
async fn a_known_browser_gets_a_hashing_place_when_strangers_have_filled_theirs() {
    let app = app().await;
    app.register(ALICE, "alice").await;
    let laptop = owners_laptop(&app).await;
    let hasher = app.state.accounts.hasher();
    let mut strangers = Vec::new();
    while let Ok(ticket) = hasher.admit() {
        strangers.push(ticket);
    }
    let stranger = app.new_browser();
    let refused = login_spoofed_with(&app, &stranger.client, ALICE, PASSWORD, "198.51.100.6").await;
    assert_eq!(refused.status, 503, "strangers' share of the queue is full");
    let reply = login_spoofed_with(&app, &laptop.client, ALICE, PASSWORD, "198.51.100.7").await;
    assert_eq!(reply.status, 200, "the owner's known browser still gets in: {}", reply.body);
    drop(strangers);
}
