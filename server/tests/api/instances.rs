//! Two instances of one site on one database, as behind a load balancer with no
//! stickiness: requests alternate between them, and every promise holds across them.
//! On SQLite both open the same file; with `BULWARK_TEST_PG_URL` set (as `test.sh` does),
//! both use one PostgreSQL database.

use reqwest::Client;

use crate::helpers::{
    proxied_by_loopback, spawn_app, spawn_app_with, spawn_second_instance, Reply, TestApp, PASSWORD,
};
use bulwark::Role;

const ALICE: &str = "alice@example.com";

/// A and B, one site.
async fn pair() -> (TestApp, TestApp) {
    let a = spawn_app().await;
    let b = spawn_second_instance(&a, |_| {}).await;
    (a, b)
}

async fn me_status(app: &TestApp, client: &Client) -> u16 {
    app.post_form_with(client, "/api/me", &[]).await.status
}

async fn me_json(app: &TestApp, client: &Client) -> serde_json::Value {
    let reply = app.post_form_with(client, "/api/me", &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    serde_json::from_str(&reply.body).expect("json")
}

#[tokio::test]
async fn a_session_made_on_one_instance_works_on_the_other_and_a_revocation_on_either_is_refused_on_the_other_at_once(
) {
    let (a, b) = pair().await;
    a.register(ALICE, "alice").await;
    assert_eq!(a.login(ALICE, PASSWORD).await.status, 200);
    for n in 0..6 {
        let instance = if n % 2 == 0 { &b } else { &a };
        assert_eq!(me_status(instance, &a.client).await, 200, "request {n}");
    }

    // A second browser, signed in on B, ends every session (its own too) on B.
    let phone = b.new_browser();
    assert_eq!(
        b.post_form_with(&phone.client, "/api/login", &[("email", ALICE), ("password", PASSWORD)])
            .await
            .status,
        200
    );
    assert_eq!(me_status(&a, &phone.client).await, 200, "B's session works on A");
    // It needs a fresh password, typed on A.
    assert_eq!(a.step_up_with(&phone.client).await.status, 200);
    let reply = b.post_form_with(&phone.client, "/api/sessions/revoke-all", &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // The very next request, on the other instance, is refused: nothing is cached.
    assert_eq!(me_status(&a, &a.client).await, 401);
    assert_eq!(me_status(&b, &a.client).await, 401);
    assert_eq!(me_status(&a, &phone.client).await, 401);

    // Signing in again on A and out on B: the cookie is dead on A too.
    assert_eq!(a.login(ALICE, PASSWORD).await.status, 200);
    assert_eq!(me_status(&b, &a.client).await, 200);
    assert_eq!(b.post_form_with(&a.client, "/api/logout", &[]).await.status, 200);
    assert_eq!(me_status(&a, &a.client).await, 401);
}

#[tokio::test]
async fn a_password_reset_on_one_instance_ends_sessions_the_other_is_serving() {
    let (a, b) = pair().await;
    a.register(ALICE, "alice").await;
    let thief = a.browser_signed_in(ALICE, PASSWORD).await;
    assert_eq!(me_status(&b, &thief.client).await, 200);
    assert_eq!(b.forgot_password(ALICE).await.status, 200);
    let mail = a.mail_titled(ALICE, "Reset your password").await;
    let token = mail.reset_token().expect("token");
    let reply = a.reset_password(&token, "a brand new passphrase 2026 zebra").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(me_status(&b, &thief.client).await, 401);
    assert_eq!(me_status(&a, &thief.client).await, 401);
}

/// Fifty wrong guesses for one account, at once, half through each instance, each
/// claiming its own address: the account's budget is spent once, not once per instance.
#[tokio::test]
async fn failures_spread_over_both_instances_spend_one_budget_even_all_at_once() {
    let a = spawn_app_with(|s| s.client_ip = proxied_by_loopback()).await;
    let b = spawn_second_instance(&a, |s| s.client_ip = proxied_by_loopback()).await;
    a.register(ALICE, "alice").await;
    let before = a.state.accounts.hasher().runs() + b.state.accounts.hasher().runs();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let url = if i % 2 == 0 { a.url("/api/login") } else { b.url("/api/login") };
            let client = a.client.clone();
            tokio::spawn(async move {
                client
                    .post(url)
                    .header("accept", "application/json")
                    .header("x-forwarded-for", format!("198.51.100.{i}"))
                    .form(&[("email", ALICE), ("password", "wrong password guess")])
                    .send()
                    .await
                    .expect("request")
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("join"));
    }
    let hashes = a.state.accounts.hasher().runs() + b.state.accounts.hasher().runs() - before;
    let checked = statuses.iter().filter(|&&s| s == 401).count();
    assert!(statuses.iter().all(|&s| s == 401 || s == 429), "{statuses:?}");
    assert!(checked <= 5, "the account allows 5 untrusted guesses in all: {statuses:?}");
    assert_eq!(hashes, checked as u64, "a hash for each checked guess and none for the rest");
    // What the burst left is what both instances see, alternating.
    let mut later = 0;
    loop {
        let instance = if later % 2 == 0 { &b } else { &a };
        let reply = crate::throttle::login_spoofed_with(
            instance,
            &a.client,
            ALICE,
            "wrong password guess",
            "203.0.113.1",
        )
        .await;
        if reply.status != 401 {
            assert_eq!(reply.status, 429, "{}", reply.body);
            break;
        }
        later += 1;
    }
    assert_eq!(checked + later, 5, "burst {checked} + later {later}");
    // And the block is one block: refused on both, with the same wait.
    let on_a = crate::throttle::login_spoofed_with(&a, &a.client, ALICE, PASSWORD, "203.0.113.2").await;
    let on_b = crate::throttle::login_spoofed_with(&b, &a.client, ALICE, PASSWORD, "203.0.113.3").await;
    assert_eq!((on_a.status, on_b.status), (429, 429));
}

/// Both mail senders run; each mail goes out once. Signups alternate between the
/// instances, and both senders are woken for every one (each instance's own sender is
/// woken by its own signups, and polls for the rest).
#[tokio::test]
async fn signups_on_either_instance_are_mailed_exactly_once_though_both_senders_run() {
    let (a, b) = pair().await;
    let addresses: Vec<String> = (0..12).map(|n| format!("new{n}@example.com")).collect();
    for (n, address) in addresses.iter().enumerate() {
        let instance = if n % 2 == 0 { &a } else { &b };
        let reply: Reply = instance.signup(address, &format!("newcomer{n}"), PASSWORD).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        // Wake the other sender too, so both race for every mail.
        a.state.outbox.wake();
        b.state.outbox.wake();
        // One client address gets a tenth of the site's signups a minute.
        a.clock.advance(10);
    }
    for address in &addresses {
        a.wait_for_mails(address, 1).await;
    }
    a.outbox_drained().await;
    b.outbox_drained().await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for address in &addresses {
        assert_eq!(a.mails_to(address).len(), 1, "{address} got exactly one mail");
    }
}

/// An admin steps up on A and starts an impersonation on B; the impersonation is seen
/// on A, ended on A, and the admin's own session is back on B. A step-up is per
/// session, not per instance.
#[tokio::test]
async fn step_up_and_impersonation_hold_across_instances() {
    let (a, b) = pair().await;
    let admin = a.create_account("root@example.com", "rootadmin", Role::Admin).await;
    let user = a.create_account("ursula@example.com", "ursula", Role::User).await;
    assert_eq!(a.login("root@example.com", PASSWORD).await.status, 200);
    // Without a step-up, B refuses the start.
    let id = user.to_string();
    let reason = "customer ticket 4242: cannot see invoices";
    let form = [("id", id.as_str()), ("reason", reason)];
    let refused = b.post_form_with(&a.client, "/api/admin/impersonate", &form).await;
    assert_ne!(refused.status, 200, "{}", refused.body);
    // Stepped up on A, B lets it start.
    assert_eq!(a.step_up_with(&a.client).await.status, 200);
    let started = b.post_form_with(&a.client, "/api/admin/impersonate", &form).await;
    assert_eq!(started.status, 200, "{}", started.body);
    let seen = me_json(&a, &a.client).await;
    assert_eq!(seen["id"], user, "A serves the impersonation B started");
    assert_eq!(seen["impersonation"]["admin"], "rootadmin");
    // Stopped on A, the admin is themselves again on B.
    assert_eq!(a.post_form_with(&a.client, "/api/impersonation/stop", &[]).await.status, 200);
    let back = me_json(&b, &a.client).await;
    assert_eq!(back["username"], "rootadmin", "{back}");
    assert!(back["impersonation"].is_null(), "{back}");
    // The time box is the database's, not an instance's: past the cap, B ends it too.
    assert_eq!(a.step_up_with(&a.client).await.status, 200);
    assert_eq!(a.post_form_with(&a.client, "/api/admin/impersonate", &form).await.status, 200);
    for n in 0..5 {
        a.clock.advance(5 * 60);
        let instance = if n % 2 == 0 { &b } else { &a };
        assert_eq!(me_json(instance, &a.client).await["id"], user, "minute {}", (n + 1) * 5);
    }
    a.clock.advance(5 * 60);
    assert_eq!(me_json(&b, &a.client).await["id"], admin, "past the cap, B gives the admin's session back");
}

/// The clean-up pass every instance runs (each step of it, on this test's backend), with
/// something expired for each step to delete.
#[tokio::test]
async fn the_clean_up_pass_runs_every_step_without_an_error() {
    let (a, b) = pair().await;
    a.register(ALICE, "alice").await;
    assert_eq!(a.login(ALICE, PASSWORD).await.status, 200);
    assert_eq!(a.login("nobody@example.com", "wrong password guess").await.status, 401);
    assert_eq!(a.signup("waiting@example.com", "waiting", PASSWORD).await.status, 200);
    a.wait_for_pending(1).await;
    assert_eq!(a.forgot_password(ALICE).await.status, 200);
    a.clock.advance(40 * 24 * 3600);
    assert_eq!(server::clean_up(&a.state).await, Vec::<(&str, String)>::new());
    // Nothing is left for the other instance's pass, which must not fail either.
    assert_eq!(server::clean_up(&b.state).await, Vec::<(&str, String)>::new());
    assert_eq!(me_status(&b, &a.client).await, 401, "the expired session is gone");
    assert_eq!(a.pending_count().await, 0, "the expired signup is gone");
}

/// While one instance holds the write lock (a long write transaction), made-up session
/// cookies sent to the other are still answered at once: forgetting a cookie nobody
/// knows takes no lock. On SQLite every write waits for the one writer anyway.
#[tokio::test]
async fn made_up_cookies_do_not_queue_behind_the_write_lock() {
    let (a, b) = pair().await;
    if a.pool.backend() != bulwark::db::Backend::Postgres {
        return;
    }
    let held = bulwark::db::write(&a.pool).await.expect("the write lock");
    let started = std::time::Instant::now();
    for _ in 0..10 {
        let forged =
            crate::helpers::client_with_cookie(&b, &tower_sessions::session::Id::default().to_string());
        assert_eq!(me_status(&b, &forged).await, 401);
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "{:?}", started.elapsed());
    held.rollback().await.expect("rollback");
}

/// A client that sends `cookie` as the session cookie on every request, whatever the
/// answers say (a refusal's expired cookie does not stop the next request from trying).
fn always_with_cookie(cookie: &str) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::COOKIE,
        reqwest::header::HeaderValue::from_str(&format!("bulwark={cookie}")).expect("header"),
    );
    headers
        .insert(reqwest::header::ORIGIN, reqwest::header::HeaderValue::from_static(crate::helpers::ORIGIN));
    Client::builder().default_headers(headers).build().expect("client")
}

/// The resolver's reads are shared by requests that arrive while one runs (see
/// `bulwark::db::Batcher`). Under a steady load on the session, a revocation on B must
/// still be refused on A by every request sent after it returned, not only by a polite one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_load_every_request_sent_after_a_revocation_on_the_other_instance_is_refused() {
    use std::sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    };
    let (a, b) = pair().await;
    a.register(ALICE, "alice").await;
    assert_eq!(a.login(ALICE, PASSWORD).await.status, 200);
    let thief = always_with_cookie(&a.session_cookie().expect("a session cookie"));
    let a = Arc::new(a);

    // Sixteen requests at a time on A with the session, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let load: Vec<_> = (0..16)
        .map(|_| {
            let (a, thief, stop, answered) =
                (Arc::clone(&a), thief.clone(), Arc::clone(&stop), Arc::clone(&answered));
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if me_status(&a, &thief).await == 200 {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    // Until the load has been let in a few hundred times.
    while answered.load(Ordering::Relaxed) < 200 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let before = a.state.registry.lookup_counts();

    // The owner, on B, signs every session out.
    let phone = b.new_browser();
    let reply =
        b.post_form_with(&phone.client, "/api/login", &[("email", ALICE), ("password", PASSWORD)]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(b.step_up_with(&phone.client).await.status, 200);
    let reply = b.post_form_with(&phone.client, "/api/sessions/revoke-all", &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    // Forty at once, on A, while the load goes on: every one refused.
    let checks: Vec<_> = (0..40)
        .map(|_| {
            let (a, thief) = (Arc::clone(&a), thief.clone());
            tokio::spawn(async move { a.post_form_with(&thief, "/api/me", &[]).await })
        })
        .collect();
    for check in checks {
        let reply = check.await.expect("task");
        assert_eq!(reply.status, 401, "a request sent after the revocation was let in: {}", reply.body);
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.expect("load");
    }
    // The load did share reads: more requests were answered than statements were run.
    let after = a.state.registry.lookup_counts();
    let (statements, keys) = (after.0 - before.0, after.1 - before.1);
    assert!(keys > statements, "{keys} lookups in {statements} statements: nothing was shared");
}
