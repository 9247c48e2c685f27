//! Revocable, bounded sessions: fixation, revocation, lifetimes on a manual clock, epochs,
//! and ids hashed at rest.

use crate::helpers::{client_with_cookie, spawn_app, PASSWORD};

const ALICE: &str = "alice@example.com";
const MINUTE: i64 = 60;
const HOUR: i64 = 60 * MINUTE;

async fn session_handles(app: &crate::helpers::TestApp, client: &reqwest::Client) -> Vec<(String, bool)> {
    let reply = app.post_form_with(client, "/api/sessions", &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let list: serde_json::Value = serde_json::from_str(&reply.body).expect("json");
    list["sessions"]
        .as_array()
        .expect("array")
        .iter()
        .map(|s| (s["id"].as_str().expect("id").to_owned(), s["current"].as_bool().expect("current")))
        .collect()
}

#[tokio::test]
async fn a_session_id_planted_before_sign_in_is_useless_after_it() {
    let app = spawn_app().await;
    app.register(ALICE, "alice").await;
    let planted = "AAAAAAAAAAAAAAAAAAAAAA";
    let victim = client_with_cookie(&app, planted);
    let reply = app.post_form_with(&victim, "/api/login", &[("email", ALICE), ("password", PASSWORD)]).await;
    assert_eq!(reply.status, 200);
    // The attacker, holding only the planted id, is not signed in.
    let attacker = client_with_cookie(&app, planted);
    assert_eq!(app.status_of(&attacker, "/api/me").await, 401);
    assert_eq!(app.status_of(&victim, "/api/me").await, 200);
}

#[tokio::test]
async fn the_sessions_list_shows_every_session_and_marks_this_one() {
    let app = spawn_app().await;
    app.signed_in_user(ALICE, "alice").await;
    let phone = app.browser_signed_in(ALICE, PASSWORD).await;
    let mine = session_handles(&app, &app.client).await;
    assert_eq!(mine.len(), 2);
    assert_eq!(mine.iter().filter(|(_, current)| *current).count(), 1);
    let from_phone = session_handles(&app, &phone.client).await;
    assert_eq!(
        mine.iter().map(|(h, _)| h).collect::<std::collections::BTreeSet<_>>(),
        from_phone.iter().map(|(h, _)| h).collect()
    );
    // The public handle is not the session id.
    let cookie = app.session_cookie().expect("cookie");
    assert!(mine.iter().all(|(handle, _)| !handle.contains(&cookie)));
}

#[tokio::test]
async fn revoking_one_session_signs_that_device_out_at_once() {
    let app = spawn_app().await;
    app.signed_in_user(ALICE, "alice").await;
    let phone = app.browser_signed_in(ALICE, PASSWORD).await;
    let other =
        session_handles(&app, &app.client).await.into_iter().find(|(_, current)| !current).expect("other");
    // Signing a session out needs the password again: a stolen session cannot sign its
    // owner out.
    let refused = app.post_form("/api/sessions/revoke", &[("id", &other.0)]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(app.status_of(&phone.client, "/api/me").await, 200, "nothing ended");
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    let other =
        session_handles(&app, &app.client).await.into_iter().find(|(_, current)| !current).expect("other");
    let reply = app.post_form("/api/sessions/revoke", &[("id", &other.0)]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(app.status_of(&phone.client, "/api/me").await, 401);
    assert_eq!(app.me().await.status, 200, "the revoking session lives on");
    assert_eq!(session_handles(&app, &app.client).await.len(), 1);
}

#[tokio::test]
async fn revoking_the_others_keeps_only_this_session() {
    let app = spawn_app().await;
    app.signed_in_user(ALICE, "alice").await;
    let phone = app.browser_signed_in(ALICE, PASSWORD).await;
    let laptop = app.browser_signed_in(ALICE, PASSWORD).await;
    // A thief holding the laptop's session cannot sign the owner out everywhere else.
    let thief = app.post_form_with(&laptop.client, "/api/sessions/revoke-others", &[]).await;
    assert_eq!(thief.status, 403, "{}", thief.body);
    assert_eq!(app.me().await.status, 200);
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    let reply = app.post_form("/api/sessions/revoke-others", &[]).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "2"));
    let audit = app.audit("session_revoked").await;
    assert_eq!(audit.len(), 1, "recorded with the deletion");
    assert_eq!(app.status_of(&phone.client, "/api/me").await, 401);
    assert_eq!(app.status_of(&laptop.client, "/api/me").await, 401);
    assert_eq!(app.me().await.status, 200);
}

#[tokio::test]
async fn revoking_all_sessions_signs_out_everywhere_including_here() {
    let app = spawn_app().await;
    app.signed_in_user(ALICE, "alice").await;
    let phone = app.browser_signed_in(ALICE, PASSWORD).await;
    let refused = app.post_form("/api/sessions/revoke-all", &[]).await;
    assert_eq!(refused.status, 403, "signing out everywhere needs the password again");
    assert!(refused.body.contains("StepUpRequired"), "{}", refused.body);
    assert_eq!(app.status_of(&phone.client, "/api/me").await, 200, "nothing ended");
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    let copied = app.session_cookie().expect("cookie");
    let reply = app.post_form("/api/sessions/revoke-all", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(app.status_of(&phone.client, "/api/me").await, 401);
    assert_eq!(app.me().await.status, 401);
    assert_eq!(app.status_of(&client_with_cookie(&app, &copied), "/api/me").await, 401);
}

#[tokio::test]
async fn a_user_cannot_revoke_someone_elses_session() {
    let app = spawn_app().await;
    app.register("bob@example.com", "bob").await;
    let bob = app.browser_signed_in("bob@example.com", PASSWORD).await;
    let bobs_handle = session_handles(&app, &bob.client).await.remove(0).0;

    app.signed_in_user(ALICE, "alice").await;
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    let reply = app.post_form("/api/sessions/revoke", &[("id", &bobs_handle)]).await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert_eq!(app.status_of(&bob.client, "/api/me").await, 200, "Bob stays signed in");
    assert!(
        session_handles(&app, &app.client).await.iter().all(|(h, _)| h != &bobs_handle),
        "nor can Alice see it"
    );
}

#[tokio::test]
async fn the_session_endpoints_need_a_signed_in_caller() {
    let app = spawn_app().await;
    for path in
        ["/api/sessions", "/api/sessions/revoke", "/api/sessions/revoke-others", "/api/sessions/revoke-all"]
    {
        assert_eq!(app.post_form(path, &[("id", "x")]).await.status, 401, "{path}");
    }
}

#[tokio::test]
async fn an_idle_session_ends_after_thirty_minutes() {
    let app = spawn_app().await;
    app.signed_in_user(ALICE, "alice").await;
    app.clock.advance(29 * MINUTE);
    assert_eq!(app.me().await.status, 200, "29 idle minutes are fine, and count as activity");
    app.clock.advance(29 * MINUTE);
    assert_eq!(app.me().await.status, 200, "the idle window restarted at the last request");
    app.clock.advance(30 * MINUTE);
    assert_eq!(app.me().await.status, 401);
}

#[tokio::test]
async fn a_session_active_every_five_minutes_still_ends_at_the_absolute_limit() {
    let app = spawn_app().await;
    app.signed_in_user(ALICE, "alice").await;
    let mut elapsed = 0;
    while elapsed + 5 * MINUTE < 12 * HOUR {
        app.clock.advance(5 * MINUTE);
        elapsed += 5 * MINUTE;
        assert_eq!(app.me().await.status, 200, "alive after {elapsed} s");
    }
    app.clock.advance(12 * HOUR - elapsed);
    assert_eq!(app.me().await.status, 401, "dead at 12 hours despite the activity");
}

#[tokio::test]
async fn expired_sessions_are_removed_from_the_list() {
    let app = spawn_app().await;
    app.signed_in_user(ALICE, "alice").await;
    let _phone = app.browser_signed_in(ALICE, PASSWORD).await;
    app.clock.advance(20 * MINUTE);
    app.me().await;
    app.clock.advance(20 * MINUTE);
    // The phone has been idle 40 minutes; this client only 20.
    assert_eq!(session_handles(&app, &app.client).await.len(), 1);
}

#[tokio::test]
async fn bumping_the_session_epoch_ends_every_older_session() {
    let app = spawn_app().await;
    app.signed_in_user(ALICE, "alice").await;
    let phone = app.browser_signed_in(ALICE, PASSWORD).await;
    bulwark::on_db!(&app.pool, c => sqlx::query("UPDATE users SET session_epoch = session_epoch + 1").execute(c).await.map(|_| ())).expect("bump");
    assert_eq!(app.me().await.status, 401);
    assert_eq!(app.status_of(&phone.client, "/api/me").await, 401);
    // Signing in again picks up the new epoch.
    assert_eq!(app.login(ALICE, PASSWORD).await.status, 200);
    assert_eq!(app.me().await.status, 200);
}

#[tokio::test]
async fn stored_session_keys_cannot_be_replayed_as_cookies() {
    let app = spawn_app().await;
    app.signed_in_user(ALICE, "alice").await;
    let _phone = app.browser_signed_in(ALICE, PASSWORD).await;
    let cookie = app.session_cookie().expect("cookie");
    let keys: Vec<String> =
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar(&format!("SELECT id FROM {}", app.session_table())).fetch_all(c).await).expect("keys");
    assert_eq!(keys.len(), 2);
    assert!(!keys.contains(&cookie), "the cookie's id must not be stored as is");
    for key in keys {
        assert_eq!(app.status_of(&client_with_cookie(&app, &key), "/api/me").await, 401, "{key}");
    }
    assert_eq!(app.me().await.status, 200, "while the real cookie works");
}

#[tokio::test]
async fn sign_out_clears_site_data_and_pages_are_not_cached() {
    let app = spawn_app().await;
    app.signed_in_user(ALICE, "alice").await;
    let page = app.client.get(app.url("/")).send().await.expect("page");
    assert_eq!(page.headers()["cache-control"], "no-store");
    let response = app
        .client
        .post(app.url("/api/logout"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("logout");
    // Storage only: "cookies" would also delete the device cookie (and, on a registrable
    // domain, sibling sites' cookies); the session cookie is expired by name.
    assert_eq!(response.headers()["clear-site-data"], "\"storage\"");
    let registry: i64 =
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT COUNT(*) FROM session_registry").fetch_one(c).await).expect("n");
    assert_eq!(registry, 0, "sign-out removes the registry row too");
}

#[tokio::test]
async fn the_clean_up_task_removes_expired_sessions_and_stops_on_shutdown() {
    let app = spawn_app().await;
    app.signed_in_user(ALICE, "alice").await;
    let _phone = app.browser_signed_in(ALICE, PASSWORD).await;
    app.clock.advance(31 * MINUTE);

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = server::spawn_cleanup(&app.state, std::time::Duration::from_millis(10), stopped);
    let registry_rows = || async {
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM session_registry")
            .fetch_one(c)
            .await)
        .expect("n")
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while registry_rows().await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "expired sessions were not cleaned up");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let stored: i64 =
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", app.session_table())).fetch_one(c).await).expect("n");
    assert_eq!(stored, 0, "their stored data goes with them");

    stop.send(true).expect("signal");
    tokio::time::timeout(std::time::Duration::from_secs(5), task).await.expect("stops").expect("no panic");
}
