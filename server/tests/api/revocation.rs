//! Revocation nothing can undo: a request that was already in flight when every session was
//! revoked (here: one whose body trickles in) finishes without bringing its session back.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{client_with_cookie, spawn_app, ORIGIN, PASSWORD};

const ALICE: &str = "alice@example.com";

/// Starts a POST to `path` with `cookie` whose body is held back: headers and half the
/// body now, the rest when [`finish`] is called.
async fn slow_request(app: &crate::helpers::TestApp, path: &str, cookie: &str) -> TcpStream {
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nOrigin: {ORIGIN}\r\nAccept: application/json\r\n\
         Cookie: bulwark={cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: 8\r\n\r\nslow="
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    // Long enough for the server to have read the headers and resolved the caller.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream
}

/// Sends the rest of a [`slow_request`]'s body and waits for the answer.
async fn finish(mut stream: TcpStream) {
    stream.write_all(b"body").await.expect("write");
    let mut response = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut response))
        .await
        .expect("an answer")
        .expect("read");
    assert!(read > 0, "the request was answered");
}

async fn count(app: &crate::helpers::TestApp, table: &str) -> i64 {
    bulwark::on_db!(&app.pool, c => sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(c).await).expect("count")
}

#[tokio::test]
async fn a_request_in_flight_during_sign_out_everywhere_cannot_revive_its_session() {
    let app = spawn_app().await;
    app.signed_in_user(ALICE, "alice").await;
    let stolen = app.session_cookie().expect("a session cookie");
    // Past the interval at which "last seen" is written back: the in-flight request has
    // something to write.
    app.clock.advance(120);

    // A thief's request with the stolen cookie: headers now, the body later.
    let thief = slow_request(&app, "/api/me", &stolen).await;

    // Meanwhile the owner signs out everywhere from their phone.
    let phone = app.browser_signed_in(ALICE, PASSWORD).await;
    assert_eq!(app.step_up_with(&phone.client).await.status, 200);
    let reply = app.post_form_with(&phone.client, "/api/sessions/revoke-all", &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(count(&app, "session_registry").await, 0);

    // The thief's request finishes.
    finish(thief).await;

    // Nothing came back: the cookie is dead, and no session record or registry row exists.
    let replay = client_with_cookie(&app, &stolen);
    assert_eq!(app.status_of(&replay, "/api/me").await, 401);
    assert_eq!(count(&app, app.session_table()).await, 0, "no session record was re-created");
    assert_eq!(count(&app, "session_registry").await, 0);

    // The owner's sessions page lists every live session: exactly the new one.
    let laptop = app.browser_signed_in(ALICE, PASSWORD).await;
    let list = app.post_form_with(&laptop.client, "/api/sessions", &[]).await;
    let list: serde_json::Value = serde_json::from_str(&list.body).expect("json");
    assert_eq!(list["sessions"].as_array().expect("array").len(), 1);
    assert_eq!(count(&app, app.session_table()).await, 1);
}

#[tokio::test]
async fn a_thiefs_sign_out_the_others_in_flight_during_a_revocation_ends_nothing_afterwards() {
    let app = spawn_app().await;
    app.signed_in_user(ALICE, "alice").await;
    let stolen = app.session_cookie().expect("a session cookie");

    // The thief asks to sign out every other session, with a body that trickles in.
    let thief = slow_request(&app, "/api/sessions/revoke-others", &stolen).await;

    // Meanwhile the owner signs out everywhere from the phone, then back in on the laptop.
    let phone = app.browser_signed_in(ALICE, PASSWORD).await;
    assert_eq!(app.step_up_with(&phone.client).await.status, 200);
    let reply = app.post_form_with(&phone.client, "/api/sessions/revoke-all", &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let laptop = app.browser_signed_in(ALICE, PASSWORD).await;

    // The thief's request finishes: its own session is gone, so it ends nothing.
    finish(thief).await;
    assert_eq!(app.status_of(&laptop.client, "/api/me").await, 200, "the owner's new session lives");
}

#[tokio::test]
async fn a_session_from_before_a_password_change_cannot_act_even_before_its_row_is_gone() {
    let app = spawn_app().await;
    app.signed_in_user(ALICE, "alice").await;
    let stolen = app.session_cookie().expect("a session cookie");
    let thief = slow_request(&app, "/api/sessions/revoke-others", &stolen).await;
    // A reset's first step: the epoch moves on. (Its registry rows go a moment later.)
    bulwark::on_db!(&app.pool, c => sqlx::query("UPDATE users SET session_epoch = session_epoch + 1")
        .execute(c)
        .await.map(|_| ()))
    .expect("epoch bump");
    let laptop = app.browser_signed_in(ALICE, PASSWORD).await;
    finish(thief).await;
    assert_eq!(app.status_of(&laptop.client, "/api/me").await, 200, "the new session lives");
}
