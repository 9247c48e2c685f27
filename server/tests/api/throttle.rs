//! Credential stuffing is slowed down; the real owner still gets in; nothing about the
//! throttle tells existing accounts from unknown ones.

use std::time::Duration;

use crate::helpers::{client_from, proxied_by_loopback, spawn_app, spawn_app_with, Reply, TestApp, PASSWORD};

const ALICE: &str = "alice@example.com";

async fn login_spoofed(app: &TestApp, email: &str, password: &str, forwarded_for: &str) -> Reply {
    login_spoofed_with(app, &app.client, email, password, forwarded_for).await
}

/// A sign-in from `client` claiming (through the `X-Forwarded-For` header) to come from
/// `forwarded_for`: believed only when the app trusts the loopback proxy.
pub async fn login_spoofed_with(
    app: &TestApp,
    client: &reqwest::Client,
    email: &str,
    password: &str,
    forwarded_for: &str,
) -> Reply {
    let response = client
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
async fn after_a_successful_sign_in_the_browser_spends_its_own_budget() {
    let app = spawn_app().await;
    app.register(ALICE, "alice").await;
    for _ in 0..4 {
        app.login(ALICE, "wrong password guess").await;
    }
    assert_eq!(app.login(ALICE, PASSWORD).await.status, 200);
    for _ in 0..4 {
        assert_eq!(app.login(ALICE, "wrong password guess").await.status, 401, "the device's own count");
    }
    // A new browser still finds the four earlier failures counted: the success did not
    // wipe them (that would tell an attacker the owner had just signed in).
    let stranger = app.new_browser();
    let reply = app
        .post_form_with(&stranger.client, "/api/login", &[("email", ALICE), ("password", "wrong guess 5")])
        .await;
    assert_eq!(reply.status, 401, "the fifth untrusted failure is still checked");
    let reply = app
        .post_form_with(&stranger.client, "/api/login", &[("email", ALICE), ("password", "wrong guess 6")])
        .await;
    assert_eq!(reply.status, 429, "and then blocked");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_client() {
    let app = spawn_app_with(|settings| {
        settings.client_ip = proxied_by_loopback();
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
    app.wait_for_pending(3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.pending_count().await, 3, "the refused one stored nothing");
}

/// `n` concurrent sign-ins; returns their statuses.
async fn burst(app: &TestApp, n: usize, attempt: impl Fn(usize) -> (String, String)) -> Vec<u16> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (email, forwarded_for) = attempt(i);
            let client = app.client.clone();
            let url = app.url("/api/login");
            tokio::spawn(async move {
                let mut request = client
                    .post(url)
                    .header("accept", "application/json")
                    .form(&[("email", email.as_str()), ("password", "wrong password guess")]);
                if !forwarded_for.is_empty() {
                    request = request.header("x-forwarded-for", forwarded_for);
                }
                request.send().await.expect("request").status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("join"));
    }
    statuses
}

#[tokio::test]
async fn fifty_concurrent_guesses_for_one_account_spend_at_most_its_allowance_of_hashes() {
    let app = spawn_app_with(|s| s.client_ip = proxied_by_loopback()).await;
    app.register(ALICE, "alice").await;
    let before = app.state.accounts.hasher().runs();
    let statuses = burst(&app, 50, |i| (ALICE.to_owned(), format!("198.51.100.{i}"))).await;
    let hashes = app.state.accounts.hasher().runs() - before;
    let rejected = statuses.iter().filter(|&&s| s == 401).count();
    assert!(statuses.iter().all(|&s| s == 401 || s == 429), "{statuses:?}");
    assert!(rejected <= 5, "the untrusted budget allows 5 before blocking: {statuses:?}");
    assert_eq!(hashes, rejected as u64, "a hash for each checked guess and none for the rest");
    // Every checked guess was counted: the budget has exactly what the burst left.
    let mut later = 0;
    while login_spoofed(&app, ALICE, "wrong password guess", "203.0.113.1").await.status == 401 {
        later += 1;
    }
    assert_eq!(rejected + later, 5, "burst {rejected} + later {later}");
}

#[tokio::test]
async fn fifty_concurrent_guesses_from_one_address_across_accounts_are_capped_by_its_ladder() {
    let app = spawn_app().await;
    let before = app.state.accounts.hasher().runs();
    let statuses = burst(&app, 50, |i| (format!("victim{i}@example.com"), String::new())).await;
    let hashes = app.state.accounts.hasher().runs() - before;
    let rejected = statuses.iter().filter(|&&s| s == 401).count();
    assert!(statuses.iter().all(|&s| s == 401 || s == 429), "{statuses:?}");
    assert!(rejected <= 10, "the address's ladder blocks at 10: {statuses:?}");
    assert_eq!(hashes, rejected as u64);
    let mut later = 0;
    while app.login(&format!("victim{}@example.com", 100 + later), "wrong password guess").await.status == 401
    {
        later += 1;
    }
    assert_eq!(rejected + later, 10, "burst {rejected} + later {later}");
}

#[tokio::test]
async fn a_full_hashing_queue_answers_503_at_once_costs_no_hash_and_no_attempt() {
    let app = spawn_app().await;
    app.register(ALICE, "alice").await;
    let hasher = app.state.accounts.hasher();
    let mut held = Vec::new();
    while let Ok(ticket) = hasher.admit() {
        held.push(ticket);
    }
    let before = hasher.runs();
    let response = app
        .client
        .post(app.url("/api/login"))
        .header("accept", "application/json")
        .form(&[("email", ALICE), ("password", PASSWORD)])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers()["retry-after"], "2");
    assert_eq!(hasher.runs(), before, "no hash ran");
    drop(held);
    // Nothing was counted against the account or the address: five wrong guesses are
    // still answered 401, and the owner then gets in.
    for _ in 0..4 {
        assert_eq!(app.login(ALICE, "wrong password guess").await.status, 401);
    }
    assert_eq!(app.login(ALICE, PASSWORD).await.status, 200);
}
