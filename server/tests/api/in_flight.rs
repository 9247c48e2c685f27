//! Every change re-checks its caller where it commits (review N3): a request whose body
//! trickles in, finished after its session was signed out everywhere (or its admin
//! demoted), changes nothing. One test per change that used to check only at the start.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{spawn_app, TestApp, ORIGIN, PASSWORD};

const ALICE: &str = "alice@example.com";
const REASON: &str = "Investigating a support ticket about billing";

/// Sends the headers of a form POST to `path` with the session `cookie` and the first
/// byte of `body`; the rest waits for [`finish`].
async fn slow_post(app: &TestApp, path: &str, cookie: &str, body: &str) -> (TcpStream, String) {
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nOrigin: {ORIGIN}\r\nAccept: application/json\r\n\
         Cookie: bulwark={cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{}",
        body.len(),
        &body[..1]
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    // Long enough for the server to have read the headers and resolved the caller.
    tokio::time::sleep(Duration::from_millis(300)).await;
    (stream, body[1..].to_owned())
}

/// Sends the rest of a [`slow_post`]'s body; the answer's status.
async fn finish((mut stream, rest): (TcpStream, String)) -> u16 {
    stream.write_all(rest.as_bytes()).await.expect("write");
    let mut response = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut response))
        .await
        .expect("an answer")
        .expect("read");
    let head = String::from_utf8_lossy(&response[..read]);
    head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line")
}

async fn scalar_i64(app: &TestApp, sql: &str) -> Option<i64> {
    bulwark::on_db!(&app.pool, c => sqlx::query_scalar(sql).fetch_one(c).await).expect("query")
}

/// The owner signs out everywhere from a phone.
async fn owner_signs_out_everywhere(app: &TestApp) {
    let phone = app.browser_signed_in(ALICE, PASSWORD).await;
    assert_eq!(app.step_up_with(&phone.client).await.status, 200);
    let reply = app.post_form_with(&phone.client, "/api/sessions/revoke-all", &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test]
async fn a_support_access_grant_in_flight_across_sign_out_everywhere_grants_nothing() {
    let app = spawn_app().await;
    app.signed_in_user(ALICE, "alice").await;
    let stolen = app.session_cookie().expect("a session cookie");
    let thief = slow_post(&app, "/api/support-access/grant", &stolen, "hours=1").await;
    owner_signs_out_everywhere(&app).await;
    assert_eq!(finish(thief).await, 401);
    let until = scalar_i64(&app, "SELECT support_access_until FROM users").await;
    assert_eq!(until, None, "no access granted after the owner signed everything out");
}

#[tokio::test]
async fn a_support_access_withdrawal_in_flight_across_sign_out_everywhere_withdraws_nothing() {
    let app = spawn_app().await;
    app.signed_in_user(ALICE, "alice").await;
    assert_eq!(app.post_form("/api/support-access/grant", &[("hours", "2")]).await.status, 200);
    let stolen = app.session_cookie().expect("a session cookie");
    let thief = slow_post(&app, "/api/support-access/revoke", &stolen, "x=1").await;
    owner_signs_out_everywhere(&app).await;
    assert_eq!(finish(thief).await, 401);
    let until = scalar_i64(&app, "SELECT support_access_until FROM users").await;
    assert!(until.is_some(), "the owner's grant stands");
}

#[tokio::test]
async fn an_email_change_withdrawal_needs_a_step_up_and_one_in_flight_withdraws_nothing() {
    let app = spawn_app().await;
    app.signed_in_user(ALICE, "alice").await;
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    let reply = app.post_form("/api/email-change", &[("email", "alice.new@example.com")]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let pending = "SELECT COUNT(*) FROM email_changes WHERE state = 'pending'";

    // Without a recent step-up, a session (a thief's, say) cannot withdraw the change.
    app.clock.advance(10 * 60);
    let reply = app.post_form("/api/email-change/withdraw", &[]).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(scalar_i64(&app, pending).await, Some(1));

    // Stepped up, but signed out everywhere while the request was in flight.
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    let stolen = app.session_cookie().expect("a session cookie");
    let thief = slow_post(&app, "/api/email-change/withdraw", &stolen, "x=1").await;
    owner_signs_out_everywhere(&app).await;
    assert_eq!(finish(thief).await, 401);
    assert_eq!(scalar_i64(&app, pending).await, Some(1), "the owner's change still waits");
}

/// Admins A and B (A on the main client, stepped up) and user Alice; their ids.
async fn two_admins(app: &TestApp) -> (i64, i64, i64) {
    let a = app.create_account("a@example.com", "admina", bulwark::Role::Admin).await;
    let b = app.create_account("b@example.com", "adminb", bulwark::Role::Admin).await;
    let alice = app.create_account(ALICE, "alice", bulwark::Role::User).await;
    assert_eq!(app.login("a@example.com", PASSWORD).await.status, 200);
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    (a, b, alice)
}

/// Admin B demotes admin A (B signs in and steps up on a browser of its own), and, where a
/// third admin could approve it (the two-person rule), admin D does.
async fn demote(app: &TestApp, a: i64) {
    let b = app.browser_signed_in("b@example.com", PASSWORD).await;
    assert_eq!(app.step_up_with(&b.client).await.status, 200);
    let id = a.to_string();
    let reply =
        app.post_form_with(&b.client, "/api/admin/role", &[("id", id.as_str()), ("role", "user")]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    if !app.waiting_approvals(&b.client).await.is_empty() {
        app.create_account("d@example.com", "admind", bulwark::Role::Admin).await;
        let reply = app.approve_newest("d@example.com").await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
}

#[tokio::test]
async fn an_admins_session_revocation_in_flight_across_their_demotion_ends_nothing() {
    let app = spawn_app().await;
    let (a, _, alice) = two_admins(&app).await;
    let alices = app.browser_signed_in(ALICE, PASSWORD).await;
    let cookie = app.session_cookie().expect("a session cookie");
    let request = slow_post(&app, "/api/admin/revoke-sessions", &cookie, &format!("id={alice}")).await;
    demote(&app, a).await;
    let status = finish(request).await;
    assert!(status == 401 || status == 403, "{status}");
    assert_eq!(app.status_of(&alices.client, "/api/me").await, 200, "Alice's session lives");
}

#[tokio::test]
async fn ending_an_impersonation_in_flight_across_the_admins_demotion_ends_nothing() {
    let app = spawn_app().await;
    let (a, _, alice) = two_admins(&app).await;
    // A third admin impersonates Alice.
    app.create_account("c@example.com", "adminc", bulwark::Role::Admin).await;
    let c = app.browser_signed_in("c@example.com", PASSWORD).await;
    assert_eq!(app.step_up_with(&c.client).await.status, 200);
    let id = alice.to_string();
    let form = [("id", id.as_str()), ("reason", REASON)];
    let reply = app.post_form_with(&c.client, "/api/admin/impersonate", &form).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let live = "SELECT COUNT(*) FROM impersonations WHERE ended_at IS NULL";
    let impersonation = scalar_i64(&app, "SELECT id FROM impersonations").await.expect("an impersonation");

    let cookie = app.session_cookie().expect("a session cookie");
    let request =
        slow_post(&app, "/api/admin/impersonations/end", &cookie, &format!("id={impersonation}")).await;
    demote(&app, a).await;
    let status = finish(request).await;
    assert!(status == 401 || status == 403, "{status}");
    assert_eq!(scalar_i64(&app, live).await, Some(1), "the impersonation goes on");
}
