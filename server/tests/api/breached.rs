//! Breached passwords at signup, reset and change: the offline list shipped as a sample,
//! and the range API through a local server speaking its protocol (up, and down).

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{extract::Path, http::HeaderMap, routing::get, Router};
use bulwark::breached::{Breaches, OfflineList, RangeApi};

use crate::helpers::{spawn_app_with, TestApp, PASSWORD};

/// In the sample list (`fixtures/pwned-passwords-sample.txt`) 3,784 times, and strong
/// enough for zxcvbn: only the breach check refuses it.
const BREACHED: &str = "correct horse battery staple";
const BREACHED_MESSAGE: &str = "This password has appeared in 3,784 data breaches";

fn sample_list() -> OfflineList {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/pwned-passwords-sample.txt");
    OfflineList::open(std::path::Path::new(path)).expect("the sample list")
}

async fn app_with_list() -> TestApp {
    spawn_app_with(|s| s.credentials.breaches = Breaches::new(Some(sample_list()), None)).await
}

fn password_message(body: &str) -> String {
    let body: serde_json::Value = serde_json::from_str(body).expect("json");
    body["Validation"]["password"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_breached_password_is_refused_at_signup_with_its_count_and_nothing_is_stored() {
    let app = app_with_list().await;
    let reply = app.signup("alice@example.com", "alice", BREACHED).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert!(password_message(&reply.body).starts_with(BREACHED_MESSAGE), "{}", reply.body);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.pending_count().await, 0);
    assert!(app.mails_to("alice@example.com").is_empty());
    assert_eq!(app.signup("alice@example.com", "alice", PASSWORD).await.status, 200, "another is fine");
}

#[tokio::test]
async fn a_breached_password_gets_the_same_answer_for_a_taken_address() {
    let app = app_with_list().await;
    app.register("alice@example.com", "alice").await;
    let taken = app.signup("alice@example.com", "alice2", BREACHED).await;
    let free = app.signup("bob@example.com", "bob", BREACHED).await;
    assert_eq!((taken.status, password_message(&taken.body)), (free.status, password_message(&free.body)));
}

#[tokio::test]
async fn a_breached_password_is_refused_at_reset_and_the_link_still_works() {
    let app = app_with_list().await;
    app.register("alice@example.com", "alice").await;
    app.forgot_password("alice@example.com").await;
    let token = app.nth_mail("alice@example.com", 2).await.reset_token().expect("reset link");
    let refused = app.reset_password(&token, BREACHED).await;
    assert_eq!(refused.status, 422);
    assert!(password_message(&refused.body).starts_with(BREACHED_MESSAGE), "{}", refused.body);
    assert_eq!(app.reset_password(&token, "a brand new passphrase for alice 31").await.status, 200);
}

#[tokio::test]
async fn a_breached_password_is_refused_at_change_and_the_old_one_still_works() {
    let app = app_with_list().await;
    app.create_account("olive@example.com", "olive", bulwark::Role::User).await;
    assert_eq!(app.login("olive@example.com", PASSWORD).await.status, 200);
    let reply = app
        .post_form("/api/change-password", &[("current_password", PASSWORD), ("password", BREACHED)])
        .await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert!(password_message(&reply.body).starts_with(BREACHED_MESSAGE), "{}", reply.body);
    let fresh = app.new_browser();
    let login = [("email", "olive@example.com"), ("password", PASSWORD)];
    assert_eq!(app.post_form_with(&fresh.client, "/api/login", &login).await.status, 200);
}

#[tokio::test]
async fn without_javascript_the_breach_message_shows_under_the_field_after_the_redirect() {
    let app = app_with_list().await;
    let response = app
        .client
        .post(app.url("/api/signup"))
        .header("accept", "text/html")
        .header("referer", app.url("/signup"))
        .form(&[("email", "alice@example.com"), ("username", "alice"), ("password", BREACHED)])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().expect("ascii").to_owned();
    let page = app.client.get(&location).send().await.expect("page").text().await.expect("body");
    assert!(page.contains(BREACHED_MESSAGE), "the message is in the closed set and shows");
}

/// A local range server: `known` passwords with their counts, every answer padded with
/// zero-count lines. It records each prefix asked for and whether padding was asked for.
async fn range_server(known: &[(&str, u64)]) -> (String, Arc<Mutex<Vec<(String, bool)>>>) {
    use sha1::{Digest, Sha1};
    let lines: Vec<String> = known
        .iter()
        .map(|(password, count)| {
            let hash = bulwark::token::hex(&Sha1::digest(password.as_bytes())).to_ascii_uppercase();
            format!("{hash}:{count}")
        })
        .collect();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let router = Router::new().route(
        "/range/{prefix}",
        get(move |Path(prefix): Path<String>, headers: HeaderMap| {
            let (lines, log) = (lines.clone(), log.clone());
            async move {
                let padded = headers.get("add-padding").is_some_and(|v| v == "true");
                log.lock().expect("log").push((prefix.clone(), padded));
                let mut answer: Vec<String> = lines
                    .iter()
                    .filter(|line| line.starts_with(&prefix.to_ascii_uppercase()))
                    .map(|line| line[5..].to_owned())
                    .collect();
                answer.extend((0..100).map(|i| format!("{i:035X}:0")));
                answer.join("\r\n")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}"), seen)
}

fn range_api(base: &str) -> Breaches {
    Breaches::new(None, Some(RangeApi::new(base, Duration::from_millis(800)).expect("client")))
}

#[tokio::test]
async fn the_range_api_refuses_a_breached_password_seeing_only_five_hex_digits() {
    let (base, seen) = range_server(&[("lantern orchard whistle pebble", 12)]).await;
    let app = spawn_app_with(|s| s.credentials.breaches = range_api(&base)).await;
    let reply = app.signup("alice@example.com", "alice", "lantern orchard whistle pebble").await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert!(password_message(&reply.body).starts_with("This password has appeared in 12 data breaches"));
    assert_eq!(app.signup("alice@example.com", "alice", PASSWORD).await.status, 200);
    let seen = seen.lock().expect("log").clone();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|(prefix, padded)| prefix.len() == 5 && *padded), "{seen:?}");
}

#[tokio::test]
async fn with_the_range_api_down_signup_fails_open() {
    // A port nothing listens on.
    let port = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind").local_addr().expect("addr");
    let app = spawn_app_with(|s| s.credentials.breaches = range_api(&format!("http://{port}"))).await;
    let reply = app.signup("alice@example.com", "alice", "lantern orchard whistle pebble").await;
    assert_eq!(reply.status, 200, "an outage elsewhere never blocks a signup: {}", reply.body);
    app.wait_for_pending(1).await;
}

#[tokio::test]
async fn the_breach_check_runs_only_once_the_password_is_strong() {
    let (base, seen) = range_server(&[]).await;
    let app = spawn_app_with(|s| s.credentials.breaches = range_api(&base)).await;
    let reply = app.signup("kitten@example.com", "kitten", "kittenkittenkitten1").await;
    assert!(password_message(&reply.body).starts_with("This password is too easy to guess."));
    assert!(seen.lock().expect("log").is_empty(), "a weak password never leaves");
}
