//! The admin area: every endpoint refused to non-admins, step-up before any change,
//! lifecycle changes that end sessions at once, the last admin kept, audit events
//! committed with their changes.

use bulwark::admin::AdminAction;
use bulwark::{clock::Clock, Role};

use crate::helpers::{spawn_app, Browser, TestApp, PASSWORD};

const ADMIN: &str = "root@example.com";
const USER: &str = "ursula@example.com";

/// An app with an admin (signed in and stepped up on `app.client`) and a user signed in
/// on a browser of their own.
async fn admin_and_user() -> (TestApp, i64, i64, Browser) {
    let app = spawn_app().await;
    let admin = app.create_account(ADMIN, "rootadmin", Role::Admin).await;
    let user = app.create_account(USER, "ursula", Role::User).await;
    assert_eq!(app.login(ADMIN, PASSWORD).await.status, 200);
    let step = app.step_up_with(&app.client).await;
    assert_eq!(step.status, 200, "{}", step.body);
    let browser = app.browser_signed_in(USER, PASSWORD).await;
    (app, admin, user, browser)
}

fn admin_paths() -> Vec<String> {
    let mut paths: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_owned())
        .filter(|path| path.starts_with(app::api::ADMIN_API_PREFIX))
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

#[tokio::test]
async fn every_admin_endpoint_refuses_anonymous_callers_and_users() {
    let paths = admin_paths();
    assert!(paths.len() >= 10, "the enumeration found only {paths:?}");
    let app = spawn_app().await;
    app.create_account(USER, "ursula", Role::User).await;
    let anonymous = app.new_browser();
    let user = app.browser_signed_in(USER, PASSWORD).await;
    // A user who even stepped up is still not an admin.
    assert_eq!(app.step_up_with(&user.client).await.status, 200);
    let form = [("id", "1"), ("reason", "x"), ("role", "admin")];
    for path in &paths {
        let reply = app.post_form_with(&anonymous.client, path, &form).await;
        assert_eq!(reply.status, 401, "{path} answered an anonymous caller: {}", reply.body);
        let reply = app.post_form_with(&user.client, path, &form).await;
        assert_eq!(reply.status, 403, "{path} answered a user: {}", reply.body);
    }
    let events: i64 = bulwark::on_db!(&app.pool, c => sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE event LIKE 'user_%' AND event != 'user_created'",
    )
    .fetch_one(c)
    .await)
    .expect("count");
    assert_eq!(events, 0, "nothing was changed");
}

#[tokio::test]
async fn admin_pages_do_not_announce_themselves_to_users() {
    let app = spawn_app().await;
    app.create_account(USER, "ursula", Role::User).await;
    let user = app.browser_signed_in(USER, PASSWORD).await;
    for path in ["/admin", "/admin/audit", "/admin/users/1"] {
        let response = user.client.get(app.url(path)).send().await.expect("page");
        assert_eq!(response.status().as_u16(), 404, "{path}");
        let html = response.text().await.expect("body");
        assert!(html.contains("Page not found"), "{path} looks like any unknown page");
        assert!(!html.contains("Users") && !html.contains("Audit log"), "{path} shows nothing of the area");
    }
}

#[tokio::test]
async fn a_change_needs_a_step_up_within_the_admin_window() {
    let app = spawn_app().await;
    app.create_account(ADMIN, "rootadmin", Role::Admin).await;
    let user = app.create_account(USER, "ursula", Role::User).await;
    assert_eq!(app.login(ADMIN, PASSWORD).await.status, 200);
    let id = user.to_string();
    let form = [("id", id.as_str())];
    let lock = || app.post_form("/api/admin/lock", &form);
    let refused = lock().await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("StepUpRequired"), "{}", refused.body);
    // Reading needs no step-up.
    assert_eq!(app.post_form("/api/admin/users", &[]).await.status, 200);

    let before = app.session_cookie();
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    assert_ne!(app.session_cookie(), before, "a step-up rotates the session id");
    let old = crate::helpers::client_with_cookie(&app, &before.expect("cookie"));
    assert_eq!(app.post_form_with(&old, "/api/me", &[]).await.status, 401, "the old id is dead");

    app.clock.advance(5 * 60);
    assert_eq!(lock().await.status, 403, "five minutes later the step-up is stale");
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    assert_eq!(lock().await.status, 200);
}

#[tokio::test]
async fn a_wrong_step_up_code_is_refused_and_the_fifth_ends_the_session() {
    let app = spawn_app().await;
    app.create_account(ADMIN, "rootadmin", Role::Admin).await;
    assert_eq!(app.login(ADMIN, PASSWORD).await.status, 200);
    let mut statuses = Vec::new();
    let mut bodies = Vec::new();
    for _ in 0..12 {
        // An admin steps up with the second factor; the right password does not count.
        let form = [("password", PASSWORD), ("code", "000000"), ("next", "/")];
        let reply = app.post_raw(&app.client, "/api/step-up", &form).await;
        statuses.push(reply.status);
        bodies.push(reply.body);
    }
    assert_eq!(statuses[0], 422, "said under the code field: {statuses:?} {bodies:?}");
    assert!(bodies[0].contains(bulwark::messages::WRONG_CODE), "{}", bodies[0]);
    // The session's own budget: four typos are told so, the fifth ends the session.
    assert_eq!(statuses, [422, 422, 422, 422, 401, 401, 401, 401, 401, 401, 401, 401], "{bodies:?}");
    assert_eq!(app.me().await.status, 401);
    assert_eq!(app.audit("authn_reauth").await.len(), 5);
    assert!(app.audit("authn_reauth").await.iter().all(|(_, _, outcome)| outcome == "failure"));
}

#[tokio::test]
async fn disabling_signs_the_user_out_at_once_and_sign_in_says_why_only_to_the_right_password() {
    let (app, admin, user, browser) = admin_and_user().await;
    assert_eq!(app.post_form_with(&browser.client, "/api/me", &[]).await.status, 200);
    let id = user.to_string();
    let reply = app
        .post_form("/api/admin/disable", &[("id", &id), ("reason", "chargeback fraud"), ("until", "")])
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    assert_eq!(app.post_form_with(&browser.client, "/api/me", &[]).await.status, 401, "signed out at once");
    let again = app.new_browser();
    let right =
        app.post_form_with(&again.client, "/api/login", &[("email", USER), ("password", PASSWORD)]).await;
    assert_eq!(right.status, 403);
    assert!(right.body.contains("AccountDisabled"), "{}", right.body);
    let wrong = app
        .post_form_with(
            &again.client,
            "/api/login",
            &[("email", USER), ("password", "wrong password entirely")],
        )
        .await;
    assert_eq!(wrong.status, 401, "a wrong password learns nothing about the state");
    assert_eq!(app.audit("user_disabled").await, vec![(Some(admin), Some(user), "success".to_owned())]);
    let mails = app.wait_for_mails(USER, 1).await;
    assert_eq!(mails[0].subject(), "Your account has been disabled");
    assert!(!mails[0].raw.contains("chargeback"), "the admin's reason stays with admins");

    assert_eq!(app.post_form("/api/admin/enable", &[("id", &id)]).await.status, 200);
    assert_eq!(
        app.post_form_with(&again.client, "/api/login", &[("email", USER), ("password", PASSWORD)])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_disablement_needs_a_reason_and_ends_at_its_date() {
    let (app, _, user, browser) = admin_and_user().await;
    let id = user.to_string();
    let no_reason =
        app.post_form("/api/admin/disable", &[("id", &id), ("reason", "  "), ("until", "")]).await;
    assert_eq!(no_reason.status, 422);
    assert_eq!(app.post_form_with(&browser.client, "/api/me", &[]).await.status, 200, "nothing changed");
    assert!(app.audit("user_disabled").await.is_empty(), "a refused change leaves no event");

    let tomorrow = bulwark::utc::minute(app.clock.now() + 2 * 86_400)[..10].to_owned();
    let reply = app
        .post_form("/api/admin/disable", &[("id", &id), ("reason", "cooling off"), ("until", &tomorrow)])
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let again = app.new_browser();
    assert_eq!(
        app.post_form_with(&again.client, "/api/login", &[("email", USER), ("password", PASSWORD)])
            .await
            .status,
        403
    );
    app.clock.advance(3 * 86_400);
    // The admin's own session is long gone by now; the user's sign-in works again.
    assert_eq!(
        app.post_form_with(&again.client, "/api/login", &[("email", USER), ("password", PASSWORD)])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_forced_reset_ends_every_session_and_the_old_password_stops_working() {
    let (app, admin, user, browser) = admin_and_user().await;
    let second = app.browser_signed_in(USER, PASSWORD).await;
    let reply = app.post_form("/api/admin/force-reset", &[("id", &user.to_string())]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    for client in [&browser.client, &second.client] {
        assert_eq!(app.post_form_with(client, "/api/me", &[]).await.status, 401);
    }
    let old = app
        .post_form_with(&app.new_browser().client, "/api/login", &[("email", USER), ("password", PASSWORD)])
        .await;
    assert_eq!(old.status, 401, "the old password no longer works");
    assert_eq!(
        app.audit("authz_admin_password_reset").await,
        vec![(Some(admin), Some(user), "success".to_owned())]
    );

    let mail = app.mail_titled(USER, "Choose a new password for your account").await;
    let token = mail.reset_token().expect("a reset link");
    let new = "copper lantern meadow violin 51";
    assert_eq!(app.reset_password(&token, new).await.status, 200);
    assert_eq!(app.audit("authn_password_reset").await, vec![(Some(user), Some(user), "success".to_owned())]);
    let fresh = app.new_browser();
    assert_eq!(
        app.post_form_with(&fresh.client, "/api/login", &[("email", USER), ("password", new)]).await.status,
        200
    );
    assert_eq!(
        app.post_form_with(&fresh.client, "/api/me", &[]).await.status,
        200,
        "not confined after the reset"
    );
}

#[tokio::test]
async fn a_role_change_ends_the_targets_sessions_and_the_last_admin_stays() {
    let (app, admin, user, browser) = admin_and_user().await;
    let own = app.post_form("/api/admin/role", &[("id", &admin.to_string()), ("role", "user")]).await;
    assert_eq!(own.status, 409, "the only admin cannot step down: {}", own.body);
    assert!(app.audit("authz_role_change").await.is_empty());

    let reply = app.post_form("/api/admin/role", &[("id", &user.to_string()), ("role", "admin")]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        app.post_form_with(&browser.client, "/api/me", &[]).await.status,
        401,
        "signed out to sign in as admin"
    );
    app.mail_titled(USER, "Your account's role has changed").await;
    // Admins are told who made whom an admin, though nobody else could approve it.
    assert_eq!(app.audit("authz_admin_approval_waived").await.len(), 1);
    app.mail_titled(ADMIN, "Done: rootadmin changed ursula's account").await;
    // Now there are two: either may demote the other (no third could approve it, so the
    // two-person rule cannot hold and each acts alone), but not both at once.
    let other = app.browser_signed_in(USER, PASSWORD).await;
    assert_eq!(app.step_up_with(&other.client).await.status, 200);
    let (user_id, admin_id) = (user.to_string(), admin.to_string());
    let (first, second) =
        ([("id", user_id.as_str()), ("role", "user")], [("id", admin_id.as_str()), ("role", "user")]);
    let demote_other = app.post_form("/api/admin/role", &first);
    let demote_me = app.post_form_with(&other.client, "/api/admin/role", &second);
    let (a, b) = tokio::join!(demote_other, demote_me);
    let wins = [a.status, b.status].iter().filter(|status| **status == 200).count();
    assert_eq!(wins, 1, "exactly one demotion wins: {} {}", a.body, b.body);
    let admins: i64 =
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'")
        .fetch_one(c)
        .await)
        .expect("count");
    assert_eq!(admins, 1);
}

#[tokio::test]
async fn admins_cannot_disable_or_lock_themselves() {
    let (app, admin, _, _) = admin_and_user().await;
    let id = admin.to_string();
    assert_eq!(
        app.post_form("/api/admin/disable", &[("id", &id), ("reason", "oops"), ("until", "")]).await.status,
        409
    );
    assert_eq!(app.post_form("/api/admin/lock", &[("id", &id)]).await.status, 409);
    assert_eq!(app.post_form("/api/me", &[]).await.status, 200);
}

#[tokio::test]
async fn a_lock_is_lifted_only_by_unlock_which_also_clears_the_throttle() {
    let (app, admin, user, browser) = admin_and_user().await;
    let id = user.to_string();
    assert_eq!(app.post_form("/api/admin/lock", &[("id", &id)]).await.status, 200);
    assert_eq!(app.post_form_with(&browser.client, "/api/me", &[]).await.status, 401);
    let stranger = app.new_browser();
    let locked =
        app.post_form_with(&stranger.client, "/api/login", &[("email", USER), ("password", PASSWORD)]).await;
    assert_eq!(locked.status, 403);
    assert!(locked.body.contains("AccountLocked"), "{}", locked.body);
    for _ in 0..8 {
        app.post_form_with(
            &stranger.client,
            "/api/login",
            &[("email", USER), ("password", "a wrong guess here")],
        )
        .await;
    }
    assert_eq!(app.post_form("/api/admin/unlock", &[("id", &id)]).await.status, 200);
    assert_eq!(app.audit("user_unlocked").await, vec![(Some(admin), Some(user), "success".to_owned())]);
    let owner = app.new_browser();
    let back =
        app.post_form_with(&owner.client, "/api/login", &[("email", USER), ("password", PASSWORD)]).await;
    assert_eq!(back.status, 200, "unlocked and unthrottled: {}", back.body);
}

#[tokio::test]
async fn an_admin_can_end_one_session_or_all_of_a_users() {
    let (app, admin, user, browser) = admin_and_user().await;
    let second = app.browser_signed_in(USER, PASSWORD).await;
    let detail = app.post_form("/api/admin/user", &[("id", &user.to_string())]).await;
    assert_eq!(detail.status, 200);
    let detail: app::api::AdminUserDetail = serde_json::from_str(&detail.body).expect("json");
    assert_eq!(detail.sessions.len(), 2);
    let one = detail.sessions[0].handle.clone();
    let reply =
        app.post_form("/api/admin/revoke-sessions", &[("id", &user.to_string()), ("session", &one)]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let alive = [
        app.post_form_with(&browser.client, "/api/me", &[]).await.status,
        app.post_form_with(&second.client, "/api/me", &[]).await.status,
    ];
    assert_eq!(alive.iter().filter(|s| **s == 200).count(), 1, "{alive:?}");
    let all =
        app.post_form("/api/admin/revoke-sessions", &[("id", &user.to_string()), ("session", "")]).await;
    assert_eq!(all.status, 200);
    assert_eq!(app.post_form_with(&browser.client, "/api/me", &[]).await.status, 401);
    assert_eq!(app.post_form_with(&second.client, "/api/me", &[]).await.status, 401);
    assert_eq!(app.audit("session_revoked").await.len(), 2);
    assert!(app.audit("session_revoked").await.iter().all(|(actor, _, _)| *actor == Some(admin)));
}

#[tokio::test]
async fn users_are_searched_by_prefix_and_paged_by_keyset() {
    let (app, _, _, _) = admin_and_user().await;
    for n in 0..30 {
        app.create_account(&format!("zed{n:02}@example.com"), &format!("zed{n:02}"), Role::User).await;
    }
    let first = app.post_form("/api/admin/users", &[("q", "zed")]).await;
    let first: app::api::AdminUserPage = serde_json::from_str(&first.body).expect("json");
    assert_eq!(first.total, 30);
    assert_eq!(first.users.len(), 25);
    // An account created between two pages does not shift the second.
    app.create_account("zed99@example.com", "zed99", Role::User).await;
    let before = first.next_before.expect("a next page").to_string();
    let second = app.post_form("/api/admin/users", &[("q", "zed"), ("before", &before)]).await;
    let second: app::api::AdminUserPage = serde_json::from_str(&second.body).expect("json");
    assert_eq!(second.users.len(), 5);
    let mut seen: Vec<i64> = first.users.iter().chain(&second.users).map(|u| u.id).collect();
    seen.dedup();
    assert_eq!(seen.len(), 30);
    let admins = app.post_form("/api/admin/users", &[("role", "admin")]).await;
    let admins: app::api::AdminUserPage = serde_json::from_str(&admins.body).expect("json");
    assert_eq!(admins.total, 1);
    let wild = app.post_form("/api/admin/users", &[("q", "%")]).await;
    let wild: app::api::AdminUserPage = serde_json::from_str(&wild.body).expect("json");
    assert_eq!(wild.total, 0, "LIKE wildcards are matched literally");
}

#[tokio::test]
async fn an_admin_action_in_flight_when_its_admin_was_demoted_changes_nothing() {
    let (app, admin, user, browser) = admin_and_user().await;
    let context = bulwark::audit::Context::default();
    // As if the admin's session had ended after the guard let the request in.
    let actor = bulwark::admin::Actor {
        id: admin,
        session_key: "a-session-that-ended",
        stepped_up_since: 0,
        context: &context,
    };
    let outcome = app
        .state
        .admin
        .act(actor, user, AdminAction::Disable { reason: "in flight".into(), until: None })
        .await;
    assert!(matches!(outcome, Err(bulwark::admin::AdminError::ActorGone)), "{outcome:?}");
    let outcome = app.state.admin.act(actor, user, AdminAction::SetRole { role: Role::Admin }).await;
    assert!(matches!(outcome, Err(bulwark::admin::AdminError::ActorGone)), "{outcome:?}");
    assert_eq!(app.post_form_with(&browser.client, "/api/me", &[]).await.status, 200, "nothing ended");
    assert!(app.audit("user_disabled").await.is_empty());
    assert!(app.audit("authz_role_change").await.is_empty());
}

#[tokio::test]
async fn the_dashboard_renders_for_admins_and_sends_anonymous_visitors_to_sign_in() {
    let (app, _, user, _) = admin_and_user().await;
    let list = app.client.get(app.url("/admin?q=urs")).send().await.expect("page");
    assert_eq!(list.status().as_u16(), 200);
    let html = list.text().await.expect("html");
    assert!(html.contains(USER) && html.contains("1 matching"), "the search result is on the page");
    let detail = app.client.get(app.url(&format!("/admin/users/{user}"))).send().await.expect("page");
    assert!(detail.text().await.expect("html").contains("Force a password reset"));
    let audit = app.client.get(app.url("/admin/audit?event=user_created")).send().await.expect("page");
    assert!(audit.text().await.expect("html").contains("user_created"));

    let anonymous = app.new_browser();
    let response = anonymous.client.get(app.url("/admin")).send().await.expect("page");
    assert!(response.status().is_redirection(), "{}", response.status());
    assert_eq!(response.headers()["location"], "/login");
}

#[test]
fn the_viewers_event_list_is_the_audit_logs() {
    let mut names: Vec<&str> = bulwark::audit::Event::ALL.iter().map(|event| event.as_str()).collect();
    let mut viewer = app::api::AUDIT_EVENTS.to_vec();
    names.sort_unstable();
    viewer.sort_unstable();
    assert_eq!(names, viewer);
}

#[tokio::test]
async fn a_step_up_that_expired_while_the_change_waited_counts_for_nothing() {
    let (app, admin, user, browser) = admin_and_user().await;
    let key: String = bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT store_key FROM session_registry WHERE user_id = $1")
        .bind(admin)
        .fetch_one(c)
        .await)
        .expect("the admin's session");
    let context = bulwark::audit::Context::default();
    // The admin's live session, but a step-up older than the window by the time the
    // statement runs.
    let stale = bulwark::admin::Actor {
        id: admin,
        session_key: &key,
        stepped_up_since: app.clock.now() + 1,
        context: &context,
    };
    let outcome = app.state.admin.act(stale, user, AdminAction::Lock).await;
    assert!(matches!(outcome, Err(bulwark::admin::AdminError::ActorGone)), "{outcome:?}");
    assert_eq!(app.post_form_with(&browser.client, "/api/me", &[]).await.status, 200, "nothing ended");
    let fresh = bulwark::admin::Actor { stepped_up_since: app.clock.now() - 60, ..stale };
    assert!(app.state.admin.act(fresh, user, AdminAction::Lock).await.is_ok());
}

#[tokio::test]
async fn an_admin_cannot_strand_the_site_with_forced_resets_or_spam_a_user_with_no_ops() {
    let (app, admin, user, _) = admin_and_user().await;
    let id = user.to_string();
    // Make the user an admin, then force-reset them: they cannot act until they choose a
    // new password, so they do not count as an admin who can act.
    assert_eq!(app.post_form("/api/admin/role", &[("id", &id), ("role", "admin")]).await.status, 200);
    assert_eq!(app.post_form("/api/admin/force-reset", &[("id", &id)]).await.status, 200);
    let demote_me = app.post_form("/api/admin/role", &[("id", &admin.to_string()), ("role", "user")]).await;
    assert_eq!(demote_me.status, 409, "{}", demote_me.body);
    assert_eq!(app.post_form("/api/admin/force-reset", &[("id", &admin.to_string())]).await.status, 409);

    // Enabling an account that is not disabled records nothing and mails nobody.
    app.outbox_drained().await;
    let before = app.mails_to(USER).len();
    assert_eq!(app.post_form("/api/admin/enable", &[("id", &id)]).await.status, 200);
    assert!(app.audit("user_enabled").await.is_empty());
    app.outbox_drained().await;
    assert_eq!(app.mails_to(USER).len(), before);
}

#[tokio::test]
async fn the_owner_sees_what_an_admin_did_but_not_where_from() {
    let (app, _, user, browser) = admin_and_user().await;
    assert_eq!(
        app.post_form("/api/admin/revoke-sessions", &[("id", &user.to_string()), ("session", "")])
            .await
            .status,
        200
    );
    let owner = app.browser_signed_in(USER, PASSWORD).await;
    let reply = app.post_form_with(&owner.client, "/api/activity", &[]).await;
    let events: Vec<app::api::ActivityView> = serde_json::from_str(&reply.body).expect("json");
    let by_admin = events.iter().find(|e| e.by_admin).expect("the admin's action is listed");
    assert_eq!(by_admin.what, "Sessions signed out");
    assert_eq!((by_admin.ip.as_deref(), by_admin.device.as_deref()), (None, None));
    drop(browser);
}

#[tokio::test]
async fn an_admins_session_ends_after_fifteen_idle_minutes_where_a_users_lives_on() {
    let (app, _, _, browser) = admin_and_user().await;
    app.clock.advance(16 * 60);
    assert_eq!(app.me().await.status, 401, "the admin's session ended");
    assert_eq!(app.post_form_with(&browser.client, "/api/me", &[]).await.status, 200, "the user's did not");
}

#[tokio::test]
async fn confirming_a_signup_by_email_link_is_recorded() {
    let app = spawn_app().await;
    app.register("newcomer@example.com", "newcomer").await;
    let created = app.audit("user_created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].0, created[0].1, "the owner created it");
}

#[tokio::test]
async fn forty_concurrent_wrong_step_ups_check_at_most_the_sessions_allowance() {
    let app = spawn_app().await;
    app.create_account(ADMIN, "rootadmin", Role::Admin).await;
    assert_eq!(app.login(ADMIN, PASSWORD).await.status, 200);
    // A user's step-up: the password (an admin's takes a code: see two_factor.rs).
    app.logout().await;
    app.register("user@example.com", "someuser").await;
    assert_eq!(app.login("user@example.com", PASSWORD).await.status, 200);
    let before = app.state.accounts.hasher().runs();
    let forms = (0..40)
        .map(|_| {
            vec![
                ("password".to_owned(), "not the password at all".to_owned()),
                ("next".to_owned(), "/".to_owned()),
            ]
        })
        .collect();
    let replies = app.burst(&app.client, "/api/step-up", forms).await;
    let checked = replies.iter().filter(|r| r.status == 422 || r.status == 401).count();
    assert!(
        replies.iter().all(|r| [401, 422, 429].contains(&r.status)),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(checked <= 5, "the session's allowance is 5: {checked} were checked");
    assert_eq!(app.state.accounts.hasher().runs() - before, checked as u64, "a hash per checked guess only");
    assert_eq!(app.audit("authn_reauth").await.len(), checked, "an event per checked guess");
    // The session was never stepped up.
    assert!([401, 403].contains(&app.post_form("/api/admin/lock", &[("id", "1")]).await.status));
}

#[tokio::test]
async fn an_admin_whose_temporary_disablement_lapsed_acts_and_counts_as_an_admin() {
    let (app, first, user, _) = admin_and_user().await;
    let second = app.create_account("second@example.com", "secondadmin", Role::Admin).await;
    let until = bulwark::utc::minute(app.clock.now() + 2 * 86_400)[..10].to_owned();
    let form = [("id", second.to_string()), ("reason", "cooling off".to_owned()), ("until", until)];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(app.post_form("/api/admin/disable", &form).await.status, 200);
    app.clock.advance(3 * 86_400);

    // The disablement is over: the second admin signs in, steps up and acts...
    let browser = app.browser_signed_in("second@example.com", PASSWORD).await;
    assert_eq!(app.step_up_with(&browser.client).await.status, 200);
    let id = user.to_string();
    let reply = app.post_form_with(&browser.client, "/api/admin/lock", &[("id", id.as_str())]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // ...and counts as an admin who can act: the first may step down.
    let reply = app
        .post_form_with(
            &browser.client,
            "/api/admin/role",
            &[("id", first.to_string().as_str()), ("role", "user")],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test]
async fn the_status_filters_tell_disabled_for_good_from_lapsed_and_active() {
    let (app, _, user, _) = admin_and_user().await;
    let id = user.to_string();
    let reply =
        app.post_form("/api/admin/disable", &[("id", &id), ("reason", "for good"), ("until", "")]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let disabled = app.post_form("/api/admin/users", &[("status", "disabled")]).await;
    assert!(disabled.body.contains(USER), "a disablement without an end date is listed: {}", disabled.body);
    let active = app.post_form("/api/admin/users", &[("status", "active")]).await;
    assert!(!active.body.contains(USER), "{}", active.body);
}
