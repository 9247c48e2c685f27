//! Impersonation: who may start one and on whom, the parked admin session and its return,
//! the hard cap, every endpoint refused meanwhile unless allow-listed, both identities on
//! the events, and every way it ends (Stop, expiry, sign-out, the user, another admin, the
//! account changing), with concurrent starts racing the one-at-a-time rule.

use bulwark::{clock::Clock, Role};
use reqwest::Client;

use crate::helpers::{client_with_cookie, spawn_app, spawn_app_with, Browser, TestApp, PASSWORD};

const ADMIN: &str = "root@example.com";
const OTHER_ADMIN: &str = "olga@example.com";
const USER: &str = "ursula@example.com";
const REASON: &str = "Ticket 4521: checkout button does nothing";

/// An app with an admin signed in and stepped up on `app.client`, and a user.
async fn admin_and_user(app: TestApp) -> (TestApp, i64, i64) {
    let admin = app.create_account(ADMIN, "rootadmin", Role::Admin).await;
    let user = app.create_account(USER, "ursula", Role::User).await;
    assert_eq!(app.login(ADMIN, PASSWORD).await.status, 200);
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    (app, admin, user)
}

async fn start(app: &TestApp, client: &Client, user: i64, reason: &str) -> crate::helpers::Reply {
    let id = user.to_string();
    app.post_form_with(client, "/api/admin/impersonate", &[("id", id.as_str()), ("reason", reason)]).await
}

async fn stop(app: &TestApp, client: &Client) -> crate::helpers::Reply {
    app.post_form_with(client, "/api/impersonation/stop", &[]).await
}

/// `/api/me` on `client` as JSON.
async fn me(app: &TestApp, client: &Client) -> Option<serde_json::Value> {
    let reply = app.post_form_with(client, "/api/me", &[]).await;
    (reply.status == 200).then(|| serde_json::from_str(&reply.body).expect("json"))
}

/// Lets `secs` pass with `client` active every ten minutes (so an admin's session, 15
/// minutes idle at most, stays signed in).
async fn pass_time(app: &TestApp, client: &Client, secs: i64) {
    let mut left = secs;
    while left > 0 {
        let step = left.min(10 * 60);
        app.clock.advance(step);
        left -= step;
        me(app, client).await;
    }
}

fn parked_cookie(app: &TestApp, jar: &reqwest::cookie::Jar) -> Option<String> {
    let url = reqwest::Url::parse(&app.address).expect("url");
    let header = reqwest::cookie::CookieStore::cookies(jar, &url)?;
    header.to_str().ok()?.split("; ").find_map(|pair| pair.strip_prefix("bulwark-admin=").map(str::to_owned))
}

/// An audit row: `(actor, subject, impersonation_id, details)`.
type EventRow<D> = (Option<i64>, Option<i64>, Option<i64>, D);

/// Every event named `event`, oldest first.
async fn events(app: &TestApp, event: &str) -> Vec<EventRow<serde_json::Value>> {
    let rows: Vec<EventRow<String>> = bulwark::on_db!(&app.pool, c => sqlx::query_as(
        "SELECT actor_id, subject_id, impersonation_id, details FROM audit_events WHERE event = $1 ORDER BY id",
    )
    .bind(event)
    .fetch_all(c)
    .await)
    .expect("events");
    rows.into_iter().map(|(a, s, i, d)| (a, s, i, serde_json::from_str(&d).expect("details"))).collect()
}

async fn live_count(app: &TestApp) -> i64 {
    bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT COUNT(*) FROM impersonations WHERE ended_at IS NULL")
        .fetch_one(c)
        .await)
        .expect("count")
}

#[tokio::test]
async fn an_admin_sees_the_account_as_the_user_and_stops_back_to_their_own_session() {
    let (app, admin, user) = admin_and_user(spawn_app().await).await;
    let admin_cookie = app.session_cookie().expect("admin cookie");

    let reply = start(&app, &app.client, user, REASON).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let seen = me(&app, &app.client).await.expect("signed in");
    assert_eq!(seen["id"], user, "the request acts as the user");
    assert_eq!(seen["impersonation"]["admin"], "rootadmin");
    assert_eq!(seen["impersonation"]["reason"], REASON);
    let impersonation_cookie = app.session_cookie().expect("cookie");
    assert_ne!(impersonation_cookie, admin_cookie, "a new session id");
    assert!(parked_cookie(&app, &app.jar).is_some(), "the admin's own session is kept aside");
    // The admin's old cookie is not a way back in while it is parked.
    assert_eq!(
        app.post_form_with(&client_with_cookie(&app, &admin_cookie), "/api/me", &[]).await.status,
        401
    );

    let started = events(&app, "authz_impersonation_start").await;
    assert_eq!(started.len(), 1);
    assert_eq!((started[0].0, started[0].1), (Some(admin), Some(user)), "actor = admin, subject = user");
    assert!(started[0].2.is_some(), "the event names the impersonation");
    assert_eq!(started[0].3["reason"], REASON);

    // The user is told: who, and the reason.
    let mail = app.nth_mail(USER, 1).await;
    assert_eq!(mail.subject(), "An administrator is viewing your account");
    assert!(mail.raw.contains("rootadmin") && mail.raw.contains("Ticket 4521"), "{}", mail.raw);

    app.clock.advance(7 * 60);
    let reply = stop(&app, &app.client).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.location.as_deref(), Some(format!("/admin/users/{user}").as_str()));
    let back = me(&app, &app.client).await.expect("the admin again, with no new sign-in");
    assert_eq!(back["id"], admin);
    assert!(back["impersonation"].is_null());
    assert!(parked_cookie(&app, &app.jar).is_none(), "the parked cookie is spent");
    for old in [admin_cookie, impersonation_cookie] {
        let reply = app.post_form_with(&client_with_cookie(&app, &old), "/api/me", &[]).await;
        assert_eq!(reply.status, 401, "an old session id is dead");
    }
    let ended = events(&app, "authz_impersonation_end").await;
    assert_eq!(ended.len(), 1);
    assert_eq!((ended[0].0, ended[0].1), (Some(admin), Some(user)));
    assert_eq!(ended[0].2, started[0].2);
    assert_eq!(ended[0].3["how"], "stopped");
    assert_eq!(ended[0].3["duration_secs"], 7 * 60);
    assert_eq!(live_count(&app).await, 0);
}

#[tokio::test]
async fn a_start_needs_a_step_up_within_five_minutes() {
    let app = spawn_app().await;
    app.create_account(ADMIN, "rootadmin", Role::Admin).await;
    let user = app.create_account(USER, "ursula", Role::User).await;
    assert_eq!(app.login(ADMIN, PASSWORD).await.status, 200);
    let reply = start(&app, &app.client, user, REASON).await;
    assert_eq!(reply.status, 403);
    assert!(reply.body.contains("StepUpRequired"), "{}", reply.body);
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    app.clock.advance(5 * 60);
    let reply = start(&app, &app.client, user, REASON).await;
    assert_eq!(reply.status, 403, "a step-up five minutes old no longer counts");
    assert!(reply.body.contains("StepUpRequired"));
    assert_eq!(me(&app, &app.client).await.expect("still the admin")["username"], "rootadmin");
    assert_eq!(live_count(&app).await, 0);
    assert!(events(&app, "authz_impersonation_start").await.is_empty());
}

#[tokio::test]
async fn the_reason_must_be_ten_to_five_hundred_characters() {
    let (app, _, user) = admin_and_user(spawn_app().await).await;
    for reason in ["", "too short", &"x".repeat(501)] {
        let reply = start(&app, &app.client, user, reason).await;
        assert_eq!(reply.status, 422, "{reason:?}: {}", reply.body);
        assert!(reply.body.contains("ImpersonationReason"));
    }
    assert_eq!(live_count(&app).await, 0);
    assert_eq!(me(&app, &app.client).await.expect("still the admin")["username"], "rootadmin");
    assert_eq!(start(&app, &app.client, user, &"y".repeat(500)).await.status, 200);
}

#[tokio::test]
async fn refused_targets_are_refused_with_the_reason_and_nothing_changes() {
    let (app, admin, _) = admin_and_user(spawn_app().await).await;
    let other_admin = app.create_account(OTHER_ADMIN, "olga", Role::Admin).await;
    let mut cases = vec![(admin, "\"Yourself\""), (other_admin, "\"Admin\"")];
    for (name, column, refusal) in [
        ("dora", "disabled_at", "\"Disabled\""),
        ("lars", "locked_at", "\"Locked\""),
        ("maya", "must_change_password", "\"MustChangePassword\""),
        ("ugo", "unconfirmed", "\"Unconfirmed\""),
    ] {
        let id = app.create_account(&format!("{name}@example.com"), name, Role::User).await;
        let sql = if column == "unconfirmed" {
            "UPDATE users SET email_verified_at = NULL WHERE id = $1".to_owned()
        } else {
            let value = if column == "must_change_password" { "TRUE" } else { "1" };
            format!("UPDATE users SET {column} = {value} WHERE id = $1")
        };
        bulwark::on_db!(&app.pool, c => sqlx::query(&sql).bind(id).execute(c).await.map(|_| ()))
            .expect("update");
        cases.push((id, refusal));
    }
    for (target, refusal) in cases {
        let reply = start(&app, &app.client, target, REASON).await;
        assert_eq!(reply.status, 409, "{refusal}: {}", reply.body);
        assert!(reply.body.contains(refusal), "{refusal}: {}", reply.body);
    }
    assert_eq!(start(&app, &app.client, 999_999, REASON).await.status, 404);
    assert_eq!(live_count(&app).await, 0);
    assert!(events(&app, "authz_impersonation_start").await.is_empty());
    assert_eq!(me(&app, &app.client).await.expect("still the admin")["id"], admin);
}

#[tokio::test]
async fn starts_are_limited_per_admin_per_hour() {
    let app = spawn_app_with(|s| s.access.impersonation.per_hour = 3).await;
    let (app, _, user) = admin_and_user(app).await;
    for _ in 0..3 {
        assert_eq!(start(&app, &app.client, user, REASON).await.status, 200);
        assert_eq!(stop(&app, &app.client).await.status, 200);
        assert_eq!(app.step_up_with(&app.client).await.status, 200);
        app.clock.advance(60);
    }
    let response = app
        .client
        .post(app.url("/api/admin/impersonate"))
        .header("accept", "application/json")
        .form(&[("id", user.to_string().as_str()), ("reason", REASON)])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 429);
    let retry: i64 = response.headers()["retry-after"].to_str().expect("text").parse().expect("number");
    // (Each step-up may have moved the clock on by a 30-second step: see `post_form_with`.)
    assert!((3_300..=3_600).contains(&retry), "until the first start leaves the hour: {retry}");
    pass_time(&app, &app.client, retry).await;
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    assert_eq!(start(&app, &app.client, user, REASON).await.status, 200);
}

#[tokio::test]
async fn concurrent_starts_make_one_impersonation() {
    let (app, _, user) = admin_and_user(spawn_app().await).await;
    let second = app.create_account("vera@example.com", "vera", Role::User).await;
    let forms: Vec<Vec<(String, String)>> = (0..20)
        .map(|i| {
            let target = if i % 2 == 0 { user } else { second };
            vec![("id".to_owned(), target.to_string()), ("reason".to_owned(), REASON.to_owned())]
        })
        .collect();
    let replies = app.burst(&app.client, "/api/admin/impersonate", forms).await;
    let started = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(started, 1, "{:?}", replies.iter().map(|r| (r.status, r.body.as_str())).collect::<Vec<_>>());
    assert_eq!(events(&app, "authz_impersonation_start").await.len(), 1);
    let total: i64 =
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT COUNT(*) FROM impersonations").fetch_one(c).await).expect("count");
    assert_eq!(total, 1);
    let sessions: i64 =
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT COUNT(*) FROM session_registry WHERE impersonation_id IS NOT NULL")
            .fetch_one(c)
            .await)
            .expect("count");
    assert!(sessions <= 1);
}

#[tokio::test]
async fn activity_never_extends_the_cap() {
    let (app, admin, user) = admin_and_user(spawn_app().await).await;
    assert_eq!(start(&app, &app.client, user, REASON).await.status, 200);
    // Busy every five minutes: the idle limit never bites, the cap does.
    for _ in 0..5 {
        app.clock.advance(5 * 60);
        assert_eq!(me(&app, &app.client).await.expect("still impersonating")["id"], user);
    }
    app.clock.advance(5 * 60 - 1);
    assert_eq!(me(&app, &app.client).await.expect("one second left")["id"], user);
    app.clock.advance(1);
    let back = me(&app, &app.client).await.expect("the admin's own session comes back");
    assert_eq!(back["id"], admin);
    let ended = events(&app, "authz_impersonation_end").await;
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].3["how"], "expired");
    assert_eq!(ended[0].3["duration_secs"], 30 * 60);
}

#[tokio::test]
async fn the_cap_is_configurable_up_to_an_hour() {
    let app = spawn_app_with(|s| s.access.impersonation.cap_secs = 10 * 60).await;
    let (app, admin, user) = admin_and_user(app).await;
    assert_eq!(start(&app, &app.client, user, REASON).await.status, 200);
    app.clock.advance(10 * 60);
    assert_eq!(me(&app, &app.client).await.expect("back")["id"], admin);
}

/// Every server function the browser or a script could call, minus the allow-list,
/// refuses an impersonating admin with 403 and changes nothing.
#[tokio::test]
async fn every_endpoint_off_the_allow_list_is_refused_while_impersonating() {
    // The allow-list itself is pinned here: adding to it is a decision a reviewer sees.
    let mut allowed: Vec<&str> = server::caller::IMPERSONATION_MAY_REACH.to_vec();
    allowed.sort_unstable();
    assert_eq!(
        allowed,
        [
            "/api/activity",
            "/api/impersonation/stop",
            "/api/logout",
            "/api/me",
            "/api/session",
            "/api/sessions",
            "/api/support-access",
        ]
    );
    let (app, _, user) = admin_and_user(spawn_app().await).await;
    assert_eq!(start(&app, &app.client, user, REASON).await.status, 200);
    let hash_before: String =
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(user)
        .fetch_one(c)
        .await)
        .expect("hash");
    let events_before: i64 =
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT COUNT(*) FROM audit_events").fetch_one(c).await).expect("count");
    let mut paths: Vec<String> =
        leptos::server_fn::axum::server_fn_paths().map(|(path, _)| path.to_owned()).collect();
    paths.sort();
    paths.dedup();
    assert!(paths.len() >= 30, "the enumeration found only {paths:?}");
    let user_id = user.to_string();
    let form = [
        ("id", user_id.as_str()),
        ("reason", REASON),
        ("password", "a brand new passphrase 77"),
        ("current_password", PASSWORD),
        ("email", USER),
        ("username", "ursula"),
        ("hours", "1"),
        ("role", "admin"),
    ];
    let mut refused = 0;
    for path in paths.iter().filter(|p| !allowed.contains(&p.as_str())) {
        let reply = app.post_form(path, &form).await;
        assert_eq!(reply.status, 403, "{path} was reachable while impersonating: {}", reply.body);
        assert!(reply.body.contains("ImpersonationBlocked"), "{path}: {}", reply.body);
        refused += 1;
    }
    assert!(refused >= 20);
    // A plain form post outside the server functions too (the data export).
    let export = app.post_form(server::export::EXPORT_PATH, &[]).await;
    assert_eq!(export.status, 403, "{}", export.body);
    assert!(export.body.contains("ImpersonationBlocked"), "{}", export.body);
    // Still impersonating, and nothing changed.
    assert_eq!(me(&app, &app.client).await.expect("still impersonating")["id"], user);
    let hash_after: String =
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(user)
        .fetch_one(c)
        .await)
        .expect("hash");
    assert_eq!(hash_before, hash_after);
    let events_after: i64 =
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT COUNT(*) FROM audit_events").fetch_one(c).await).expect("count");
    assert_eq!(events_before, events_after, "no event: nothing happened");
    // The password change, refused without JavaScript too: back to the form with the reason.
    let response = app
        .client
        .post(app.url("/api/change-password"))
        .header("accept", "text/html")
        .header("referer", format!("{}/account/password", app.address))
        .form(&[("current_password", PASSWORD), ("password", "a brand new passphrase 77")])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 303);
    let location = response.headers()["location"].to_str().expect("text").to_owned();
    assert!(location.starts_with("/account/password?"), "{location}");
    assert!(location.contains("__path=%2Fapi%2Fchange-password&__err="), "{location}");
    // A Referer whose path reads as another host is never followed.
    for referer in ["//evil.example/x", "/\\evil.example/x"] {
        let response = app
            .client
            .post(app.url("/api/change-password"))
            .header("accept", "text/html")
            .header("referer", format!("{}{referer}", app.address))
            .form(&[("current_password", PASSWORD)])
            .send()
            .await
            .expect("post");
        assert_eq!(response.status().as_u16(), 403, "{referer}");
        assert!(response.headers().get("location").is_none(), "{referer}");
    }
}

#[tokio::test]
async fn admin_pages_are_refused_while_impersonating() {
    let (app, _, user) = admin_and_user(spawn_app().await).await;
    assert_eq!(start(&app, &app.client, user, REASON).await.status, 200);
    for path in ["/admin", "/admin/audit", "/admin/impersonations", &format!("/admin/users/{user}")] {
        let response = app.client.get(app.url(path)).send().await.expect("page");
        assert_eq!(response.status().as_u16(), 403, "{path}");
        let html = response.text().await.expect("body");
        assert!(html.contains("while you are viewing"), "{path}: a clear message");
    }
    // The banner is on every page, with the reason and a Stop button.
    for path in ["/", "/account/sessions", "/account/password"] {
        let html = app.client.get(app.url(path)).send().await.expect("page").text().await.expect("body");
        assert!(html.contains("data-testid=\"impersonation-banner\""), "{path}");
        assert!(html.contains(REASON), "{path}");
        assert!(html.contains("/api/impersonation/stop"), "{path}");
    }
}

#[tokio::test]
async fn the_user_sees_it_on_their_sessions_page_and_ends_it_there() {
    let (app, admin, user) = admin_and_user(spawn_app().await).await;
    let owner = app.browser_signed_in(USER, PASSWORD).await;
    assert_eq!(start(&app, &app.client, user, REASON).await.status, 200);
    let list = app.post_form_with(&owner.client, "/api/sessions", &[]).await;
    let list: serde_json::Value = serde_json::from_str(&list.body).expect("json");
    let support: Vec<&serde_json::Value> =
        list["sessions"].as_array().expect("list").iter().filter(|s| !s["support"].is_null()).collect();
    assert_eq!(support.len(), 1, "{list}");
    assert_eq!(support[0]["support"]["admin"], "rootadmin");
    assert_eq!(support[0]["support"]["reason"], REASON);
    assert_eq!(support[0]["ip"], "", "where the admin is is not for the user to see");
    assert_eq!(support[0]["device"], "");
    let handle = support[0]["id"].as_str().expect("handle").to_owned();
    // No step-up needed to end it; an ordinary session's handle is not accepted here.
    let own = list["sessions"].as_array().expect("list").iter().find(|s| s["current"] == true).expect("own");
    let own_handle = own["id"].as_str().expect("handle");
    let reply = app.post_form_with(&owner.client, "/api/sessions/end-support", &[("id", own_handle)]).await;
    assert_eq!(reply.status, 404);
    let reply = app.post_form_with(&owner.client, "/api/sessions/end-support", &[("id", &handle)]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(me(&app, &app.client).await.expect("the admin is back")["id"], admin);
    let ended = events(&app, "authz_impersonation_end").await;
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].3["how"], "ended_by_user");
    assert_eq!(ended[0].3["ended_by"], user);
    // And it is on their activity page.
    let activity = app.post_form_with(&owner.client, "/api/activity", &[]).await;
    assert!(
        activity.body.contains("rootadmin") && activity.body.contains("Ticket 4521"),
        "{}",
        activity.body
    );
}

#[tokio::test]
async fn another_admin_lists_live_impersonations_and_ends_one() {
    let (app, admin, user) = admin_and_user(spawn_app().await).await;
    app.create_account(OTHER_ADMIN, "olga", Role::Admin).await;
    let other = app.browser_signed_in(OTHER_ADMIN, PASSWORD).await;
    assert_eq!(start(&app, &app.client, user, REASON).await.status, 200);
    let list = app.post_form_with(&other.client, "/api/admin/impersonations", &[("live", "true")]).await;
    let list: serde_json::Value = serde_json::from_str(&list.body).expect("json");
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["admin"], "rootadmin");
    assert_eq!(items[0]["username"], "ursula");
    let id = items[0]["id"].to_string();
    let reply = app.post_form_with(&other.client, "/api/admin/impersonations/end", &[("id", &id)]).await;
    assert_eq!(reply.status, 403, "ending one needs a step-up too");
    assert_eq!(app.step_up_with(&other.client).await.status, 200);
    let reply = app.post_form_with(&other.client, "/api/admin/impersonations/end", &[("id", &id)]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(me(&app, &app.client).await.expect("back")["id"], admin);
    let ended = events(&app, "authz_impersonation_end").await;
    assert_eq!(ended[0].3["how"], "ended_by_admin");
    let reply = app.post_form_with(&other.client, "/api/admin/impersonations/end", &[("id", &id)]).await;
    assert_eq!(reply.status, 404, "already over");
    let all = app.post_form_with(&other.client, "/api/admin/impersonations", &[]).await;
    assert!(all.body.contains("\"ended_how\":\"ended_by_admin\""), "{}", all.body);
}

#[tokio::test]
async fn it_ends_when_the_account_is_disabled_or_the_admin_loses_the_role() {
    let (app, admin, user) = admin_and_user(spawn_app().await).await;
    app.create_account(OTHER_ADMIN, "olga", Role::Admin).await;
    let other = app.browser_signed_in(OTHER_ADMIN, PASSWORD).await;
    assert_eq!(app.step_up_with(&other.client).await.status, 200);
    assert_eq!(start(&app, &app.client, user, REASON).await.status, 200);
    let id = user.to_string();
    let reply = app
        .post_form_with(&other.client, "/api/admin/disable", &[("id", id.as_str()), ("reason", "fraud")])
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(me(&app, &app.client).await.expect("back")["id"], admin, "the admin is themselves again");
    assert_eq!(events(&app, "authz_impersonation_end").await[0].3["how"], "account_changed");

    // Demoted mid-impersonation: it ends, and the parked session does not come back.
    let second = app.create_account("vera@example.com", "vera", Role::User).await;
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    assert_eq!(start(&app, &app.client, second, REASON).await.status, 200);
    let admin_id = admin.to_string();
    let reply = app
        .post_form_with(&other.client, "/api/admin/role", &[("id", admin_id.as_str()), ("role", "user")])
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    assert!(me(&app, &app.client).await.is_none(), "signed out: no impersonation, no admin session");
    assert_eq!(live_count(&app).await, 0);
}

#[tokio::test]
async fn signing_out_while_impersonating_ends_both_sessions() {
    let (app, admin, user) = admin_and_user(spawn_app().await).await;
    assert_eq!(start(&app, &app.client, user, REASON).await.status, 200);
    let parked = parked_cookie(&app, &app.jar).expect("parked");
    assert_eq!(app.logout().await.status, 200);
    assert!(me(&app, &app.client).await.is_none());
    let rows: i64 = bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT COUNT(*) FROM session_registry WHERE user_id IN ($1, $2)")
        .bind(admin)
        .bind(user)
        .fetch_one(c)
        .await)
        .expect("count");
    assert_eq!(rows, 0, "neither the impersonation nor the admin's parked session is left");
    // The parked id is worth nothing now, as a session cookie or as a parked cookie.
    assert!(me(&app, &client_with_cookie(&app, &parked)).await.is_none());
    let ended = events(&app, "authz_impersonation_end").await;
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].3["how"], "signed_out");
    assert_eq!(ended[0].3["ended_by"], admin, "the admin signed out, from this request");
}

#[tokio::test]
async fn stolen_cookies_give_no_more_than_they_are() {
    let (app, admin, user) = admin_and_user(spawn_app().await).await;
    assert_eq!(start(&app, &app.client, user, REASON).await.status, 200);
    let parked = parked_cookie(&app, &app.jar).expect("parked");
    let impersonation = app.session_cookie().expect("cookie");
    // The parked id offered as a session cookie is refused, and stays parked.
    assert!(me(&app, &client_with_cookie(&app, &parked)).await.is_none());
    assert_eq!(me(&app, &app.client).await.expect("still impersonating")["id"], user);
    // The impersonation cookie alone cannot become the admin: Stop without the parked
    // cookie ends it and signs the admin out.
    let thief = client_with_cookie(&app, &impersonation);
    let reply = stop(&app, &thief).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.location.as_deref(), Some("/login"));
    assert!(me(&app, &thief).await.is_none());
    assert!(me(&app, &app.client).await.is_none(), "the admin signs in again");
    let admin_rows: i64 = bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT COUNT(*) FROM session_registry WHERE user_id = $1")
        .bind(admin)
        .fetch_one(c)
        .await)
        .expect("count");
    assert_eq!(admin_rows, 0);
}

#[tokio::test]
async fn consent_mode_needs_the_owners_grant_and_its_withdrawal_ends_it() {
    let app = spawn_app_with(|s| s.access.impersonation.consent_required = true).await;
    let (app, admin, user) = admin_and_user(app).await;
    let owner: Browser = app.browser_signed_in(USER, PASSWORD).await;
    let reply = start(&app, &app.client, user, REASON).await;
    assert_eq!(reply.status, 409);
    assert!(reply.body.contains("NoConsent"), "{}", reply.body);
    let view = app.post_form_with(&owner.client, "/api/support-access", &[]).await;
    assert!(view.body.contains("\"consent_required\":true"), "{}", view.body);
    let reply = app.post_form_with(&owner.client, "/api/support-access/grant", &[("hours", "1")]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(start(&app, &app.client, user, REASON).await.status, 200);
    assert_eq!(me(&app, &app.client).await.expect("impersonating")["id"], user);
    let reply = app.post_form_with(&owner.client, "/api/support-access/revoke", &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(me(&app, &app.client).await.expect("back")["id"], admin);
    assert_eq!(events(&app, "authz_support_access_granted").await.len(), 1);
    assert_eq!(events(&app, "authz_support_access_revoked").await.len(), 1);
    // A grant's end caps the impersonation too.
    assert_eq!(
        app.post_form_with(&owner.client, "/api/support-access/grant", &[("hours", "1")]).await.status,
        200
    );
    let granted_until = app.clock.now() + 3600;
    pass_time(&app, &app.client, 50 * 60).await;
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    assert_eq!(start(&app, &app.client, user, REASON).await.status, 200);
    let expires_at: i64 =
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT expires_at FROM impersonations ORDER BY id DESC LIMIT 1")
            .fetch_one(c)
            .await)
            .expect("row");
    assert_eq!(expires_at, granted_until, "the grant ends before the 30-minute cap");
    app.clock.advance(10 * 60);
    assert_eq!(me(&app, &app.client).await.expect("back at the grant's end")["id"], admin);
}

/// An admin change that was accepted on the admin's session just before that session was
/// parked (a second tab, a slow request) commits nothing when it finishes.
#[tokio::test]
async fn an_admin_change_in_flight_when_the_session_was_parked_commits_nothing() {
    let (app, admin, user) = admin_and_user(spawn_app().await).await;
    let second = app.create_account("vera@example.com", "vera", Role::User).await;
    let key: String = bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT store_key FROM session_registry WHERE user_id = $1")
        .bind(admin)
        .fetch_one(c)
        .await)
        .expect("the admin's session");
    // The change was checked against this session, with a fresh step-up...
    let context = bulwark::audit::Context::default();
    let actor = bulwark::admin::Actor {
        id: admin,
        session_key: &key,
        stepped_up_since: app.clock.now() - 60,
        context: &context,
    };
    // ...and the same session starts an impersonation before it commits.
    assert_eq!(start(&app, &app.client, user, REASON).await.status, 200);
    let parked: bool = bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT parked FROM session_registry WHERE store_key = $1")
        .bind(&key)
        .fetch_one(c)
        .await)
        .expect("parked row");
    assert!(parked);
    let outcome = app.state.admin.act(actor, second, bulwark::admin::AdminAction::Lock).await;
    assert!(matches!(outcome, Err(bulwark::admin::AdminError::ActorGone)), "{outcome:?}");
    assert!(events(&app, "user_locked").await.is_empty(), "nothing was recorded");
    let locked: Option<i64> =
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT locked_at FROM users WHERE id = $1")
        .bind(second)
        .fetch_one(c)
        .await)
        .expect("user");
    assert_eq!(locked, None, "nothing changed");
}
