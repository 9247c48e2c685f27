//! Credential stuffing is slowed down; the real owner still gets in; nothing about the
//! throttle tells existing accounts from unknown ones.

use crate::helpers::{client_from, spawn_app, spawn_app_with, Reply, TestApp, PASSWORD};

const ALICE: &str = "alice@example.com";

async fn login_spoofed(app: &TestApp, email: &str, password: &str, forwarded_for: &str) -> Reply {
    let response = app
        .client
        .post(app.url("/api/login"))
        .header("accept", "application/json")
        .header("x-forwarded-for", forwarded_for)
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .expect("request");
    crate::helpers::reply(response).await
}

#[tokio::test]
async fn thirty_wrong_passwords_from_spoofed_addresses_are_throttled_and_the_owner_gets_in_after() {
    let app = spawn_app().await;
    app.register(ALICE, "alice").await;
    let mut statuses = Vec::new();
    for n in 0..30 {
        statuses.push(
            login_spoofed(&app, ALICE, "wrong password guess", &format!("198.51.100.{n}")).await.status,
        );
    }
    assert!(statuses[..5].iter().all(|&s| s == 401), "{statuses:?}");
    assert!(statuses[5..].iter().all(|&s| s == 429), "the spoofed header changes nothing: {statuses:?}");

    // Even the right password waits out the backoff…
    assert_eq!(app.login(ALICE, PASSWORD).await.status, 429);
    // …which is short and ends.
    app.clock.advance(31);
    assert_eq!(app.login(ALICE, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn a_throttled_answer_is_identical_for_existing_and_unknown_accounts() {
    let app = spawn_app().await;
    app.register(ALICE, "alice").await;
    for email in [ALICE, "nobody@example.com"] {
        for _ in 0..5 {
            app.login(email, "wrong password guess").await;
        }
    }
    let existing = app.login(ALICE, "wrong password guess").await;
    let unknown = app.login("nobody@example.com", "wrong password guess").await;
    assert_eq!(existing.status, 429);
    assert_eq!(existing, unknown);
    assert!(existing.body.contains("TooManyRequests"), "{}", existing.body);
}

#[tokio::test]
async fn a_throttled_sign_in_costs_no_hash() {
    let app = spawn_app().await;
    app.register(ALICE, "alice").await;
    for _ in 0..5 {
        app.login(ALICE, "wrong password guess").await;
    }
    let hasher = app.state.accounts.hasher();
    let before = hasher.runs();
    for email in [ALICE, "nobody@example.com", ALICE] {
        let reply = app.login(email, if email == ALICE { PASSWORD } else { "wrong password guess" }).await;
        if email == ALICE {
            assert_eq!(reply.status, 429, "even the right password waits");
        }
    }
    // The unknown address was not throttled: exactly its one (dummy) verification ran.
    assert_eq!(hasher.runs() - before, 1);
}

#[tokio::test]
async fn a_throttled_response_says_when_to_retry() {
    let app = spawn_app().await;
    for _ in 0..5 {
        app.login(ALICE, "wrong password guess").await;
    }
    let response = app
        .client
        .post(app.url("/api/login"))
        .header("accept", "application/json")
        .form(&[("email", ALICE), ("password", "wrong password guess")])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "30");
}

#[tokio::test]
async fn an_ip_spraying_many_accounts_is_blocked_while_other_addresses_are_not() {
    let app = spawn_app().await;
    app.register(ALICE, "alice").await;
    for n in 0..10 {
        let reply = app.login(&format!("victim{n}@example.com"), "spray password 1").await;
        assert_eq!(reply.status, 401);
    }
    assert_eq!(
        app.login("victim99@example.com", "spray password 1").await.status,
        429,
        "the IP is on the ladder"
    );

    let elsewhere = client_from("127.0.0.2");
    let reply =
        app.post_form_with(&elsewhere, "/api/login", &[("email", ALICE), ("password", PASSWORD)]).await;
    assert_eq!(reply.status, 200, "another address, another account: unaffected");

    app.clock.advance(61);
    assert_eq!(app.login("victim99@example.com", "spray password 1").await.status, 401, "the block ends");
}

#[tokio::test]
async fn a_successful_sign_in_clears_the_accounts_failures() {
    let app = spawn_app().await;
    app.register(ALICE, "alice").await;
    for _ in 0..4 {
        app.login(ALICE, "wrong password guess").await;
    }
    assert_eq!(app.login(ALICE, PASSWORD).await.status, 200);
    for _ in 0..4 {
        assert_eq!(app.login(ALICE, "wrong password guess").await.status, 401, "the count started over");
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_client() {
    let app = spawn_app_with(|settings| {
        settings.trusted_proxies = bulwark::throttle::TrustedProxies::parse("127.0.0.1").expect("list");
    })
    .await;
    for n in 0..10 {
        login_spoofed(&app, &format!("victim{n}@example.com"), "spray password 1", "203.0.113.7").await;
    }
    let blocked = login_spoofed(&app, "victim99@example.com", "spray password 1", "203.0.113.7").await;
    assert_eq!(blocked.status, 429);
    let other = login_spoofed(&app, "victim99@example.com", "spray password 1", "203.0.113.8").await;
    assert_eq!(other.status, 401, "a different client behind the same proxy is not blocked");
}

#[tokio::test]
async fn signups_are_capped_per_client_ip() {
    let app = spawn_app_with(|settings| settings.throttle.signups_per_ip_per_hour = 3).await;
    for n in 0..3 {
        assert_eq!(app.signup(&format!("u{n}@example.com"), &format!("user{n}"), PASSWORD).await.status, 200);
    }
    let reply = app.signup("u9@example.com", "user9", PASSWORD).await;
    assert_eq!(reply.status, 429);
    assert_eq!(app.user_count().await, 3);
}
