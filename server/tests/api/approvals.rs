//! The two-person rule: what one admin does to another admin's account (or making an
//! account an admin) waits for a second admin's approval; the proposer cannot approve it;
//! concurrent approvals commit it once; a single remaining admin acts alone and is told so;
//! and the command line's break-glass (`enable`, `unlock`, `set-role`) is audited as the
//! operator.

use bulwark::{admin::OperatorAction, clock::Clock, Role};
use reqwest::Client;

use crate::helpers::{spawn_app, Browser, TestApp, PASSWORD};

const ANN: &str = "ann@example.com";
const BOB: &str = "bob@example.com";
const CAT: &str = "cat@example.com";

/// Three admins, each signed in and stepped up on a browser of their own.
async fn three_admins() -> (TestApp, [i64; 3], [Browser; 3]) {
    let app = spawn_app().await;
    let mut ids = [0; 3];
    for (i, (email, name)) in
        [(ANN, "annadmin"), (BOB, "bobadmin"), (CAT, "catadmin")].into_iter().enumerate()
    {
        ids[i] = app.create_account(email, name, Role::Admin).await;
    }
    let mut browsers = Vec::new();
    for email in [ANN, BOB, CAT] {
        let browser = app.browser_signed_in(email, PASSWORD).await;
        assert_eq!(app.step_up_with(&browser.client).await.status, 200);
        browsers.push(browser);
    }
    let browsers: [Browser; 3] = browsers.try_into().unwrap_or_else(|_| panic!("three browsers"));
    (app, ids, browsers)
}

async fn locked(app: &TestApp, id: i64) -> bool {
    let at: Option<i64> =
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT locked_at FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(c)
        .await)
        .expect("user");
    at.is_some()
}

async fn role(app: &TestApp, id: i64) -> String {
    bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(c)
        .await)
    .expect("user")
}

async fn approve(app: &TestApp, client: &Client, id: i64) -> crate::helpers::Reply {
    app.post_form_with(client, "/api/admin/approve", &[("id", &id.to_string())]).await
}

#[tokio::test]
async fn one_admin_alone_cannot_act_on_another_and_every_admin_is_told() {
    let (app, [_, bob, _], [ann_browser, bob_browser, _]) = three_admins().await;
    let id = bob.to_string();
    let actions: [(&str, Vec<(&str, &str)>); 5] = [
        ("/api/admin/disable", vec![("id", &id), ("reason", "rogue, see https://evil.example/x")]),
        ("/api/admin/lock", vec![("id", &id)]),
        ("/api/admin/force-reset", vec![("id", &id)]),
        ("/api/admin/role", vec![("id", &id), ("role", "user")]),
        ("/api/admin/revoke-sessions", vec![("id", &id), ("session", "")]),
    ];
    for (path, form) in &actions {
        let reply = app.post_form_with(&ann_browser.client, path, form).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    }
    // Nothing happened to Bob: he is still an admin, signed in, able to act.
    assert_eq!(app.post_form_with(&bob_browser.client, "/api/me", &[]).await.status, 200);
    assert!(!locked(&app, bob).await);
    assert_eq!(role(&app, bob).await, "admin");
    for event in
        ["user_disabled", "user_locked", "authz_admin_password_reset", "authz_role_change", "session_revoked"]
    {
        assert!(app.audit(event).await.is_empty(), "{event} happened");
    }
    let requested = app.audit("authz_admin_approval_requested").await;
    assert_eq!(requested.len(), 5);
    assert!(requested.iter().all(|(actor, subject, _)| *subject == Some(bob) && actor.is_some()));
    // Every admin hears of each request, Bob included.
    for email in [ANN, BOB, CAT] {
        let mail =
            app.mail_titled(email, "Approval needed: annadmin asks to change bobadmin's account").await;
        assert!(mail.raw.contains("/admin/approvals"));
    }
    // A proposer's free text is never mailed (it is shown on the page, apart from the action).
    app.outbox_drained().await;
    assert!(app.mails_to(CAT).iter().all(|m| !m.raw.contains("evil.example")));
    // Each waits, listed for everyone; Ann may withdraw her own but not approve them.
    let waiting = app.waiting_approvals(&ann_browser.client).await;
    assert_eq!(waiting.len(), 5);
    assert!(waiting.iter().all(|a| a.mine));
    let about_bob = app.waiting_approvals(&bob_browser.client).await;
    assert!(about_bob.iter().all(|a| !a.mine && a.about_you));
    assert!(about_bob.iter().any(|a| a.reason.as_deref() == Some("rogue, see https://evil.example/x")));
    // One admin has at most ten requests waiting.
    for _ in 5..10 {
        assert_eq!(
            app.post_form_with(&ann_browser.client, "/api/admin/lock", &[("id", &id)]).await.status,
            200
        );
    }
    let eleventh = app.post_form_with(&ann_browser.client, "/api/admin/lock", &[("id", &id)]).await;
    assert_eq!((eleventh.status, eleventh.body.as_str()), (429, "\"ApprovalTooMany\""));
}

#[tokio::test]
async fn the_second_admins_approval_commits_it_with_both_in_the_audit_log() {
    let (app, [ann, bob, cat], [ann_browser, bob_browser, cat_browser]) = three_admins().await;
    let reply = app.post_form_with(&ann_browser.client, "/api/admin/lock", &[("id", &bob.to_string())]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let request = app.waiting_approvals(&cat_browser.client).await.pop().expect("waiting");
    assert_eq!((request.target, request.action.as_str()), (bob, "lock the account"));

    // The proposer's own approval is refused, and so is the approval of the admin it is
    // about; neither changes anything.
    let own = approve(&app, &ann_browser.client, request.id).await;
    assert_eq!((own.status, own.body.as_str()), (409, "\"ApprovalOwnRequest\""));
    let about = approve(&app, &bob_browser.client, request.id).await;
    assert_eq!((about.status, about.body.as_str()), (409, "\"ApprovalAboutYou\""));
    assert!(!locked(&app, bob).await);

    let reply = approve(&app, &cat_browser.client, request.id).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(locked(&app, bob).await);
    assert_eq!(
        app.post_form_with(&bob_browser.client, "/api/me", &[]).await.status,
        401,
        "Bob is signed out"
    );
    assert_eq!(app.audit("user_locked").await, vec![(Some(cat), Some(bob), "success".to_owned())]);
    let granted: String = bulwark::on_db!(&app.pool, c => sqlx::query_scalar(
        "SELECT details FROM audit_events WHERE event = 'authz_admin_approval_granted'",
    )
    .fetch_one(c)
    .await)
    .expect("granted");
    let granted: serde_json::Value = serde_json::from_str(&granted).expect("json");
    assert_eq!(granted["proposed_by"], ann);
    assert_eq!(granted["approval"], request.id);
    app.mail_titled(ANN, "Done: bobadmin's account was changed").await;
    app.mail_titled(BOB, "Your account has been locked").await;
    // Once decided, it waits no more.
    assert!(app.waiting_approvals(&cat_browser.client).await.is_empty());
    let again = approve(&app, &cat_browser.client, request.id).await;
    assert_eq!((again.status, again.body.as_str()), (409, "\"ApprovalNotWaiting\""));
}

#[tokio::test]
async fn of_forty_concurrent_approvals_exactly_one_commits() {
    let (app, [_, bob, _], [ann_browser, _, cat_browser]) = three_admins().await;
    app.create_account("dan@example.com", "danadmin", Role::Admin).await;
    let dan = app.browser_signed_in("dan@example.com", PASSWORD).await;
    assert_eq!(app.step_up_with(&dan.client).await.status, 200);
    let form = [("id", bob.to_string()), ("role", "user".to_owned())];
    let reply = app
        .post_form_with(&ann_browser.client, "/api/admin/role", &[("id", &form[0].1), ("role", "user")])
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let id = app.waiting_approvals(&cat_browser.client).await.pop().expect("waiting").id.to_string();
    let forms: Vec<Vec<(String, String)>> = (0..20).map(|_| vec![("id".to_owned(), id.clone())]).collect();
    let (from_cat, from_dan) = tokio::join!(
        app.burst(&cat_browser.client, "/api/admin/approve", forms.clone()),
        app.burst(&dan.client, "/api/admin/approve", forms)
    );
    let replies: Vec<_> = from_cat.into_iter().chain(from_dan).collect();
    let wins = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(wins, 1, "{:?}", replies.iter().map(|r| (r.status, r.body.clone())).collect::<Vec<_>>());
    assert!(replies.iter().all(|r| r.status == 200 || r.body == "\"ApprovalNotWaiting\""));
    assert_eq!(app.audit("authz_role_change").await.len(), 1);
    assert_eq!(app.audit("authz_admin_approval_granted").await.len(), 1);
    assert_eq!(role(&app, bob).await, "user");
}

#[tokio::test]
async fn a_withdrawn_or_lapsed_request_cannot_be_approved_nor_one_whose_proposer_lost_the_role() {
    let (app, [ann, bob, cat], [ann_browser, bob_browser, cat_browser]) = three_admins().await;
    let lock_bob = [("id", bob.to_string())];
    let lock = |client: Client| {
        let app = &app;
        let form = lock_bob.clone();
        async move {
            let reply = app.post_form_with(&client, "/api/admin/lock", &[("id", form[0].1.as_str())]).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            app.waiting_approvals(&client).await.pop().expect("waiting").id
        }
    };
    // Only whoever asked may withdraw it: not the admin it is about (who would withdraw every
    // request to remove them), nor any other.
    let first = lock(ann_browser.client.clone()).await;
    let id = first.to_string();
    for client in [&bob_browser.client, &cat_browser.client] {
        let reply = app.post_form_with(client, "/api/admin/withdraw", &[("id", &id)]).await;
        assert_eq!((reply.status, reply.body.as_str()), (409, "\"ApprovalNotYours\""));
    }
    let reply = app.post_form_with(&ann_browser.client, "/api/admin/withdraw", &[("id", &id)]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(approve(&app, &cat_browser.client, first).await.status, 409);
    assert_eq!(
        app.audit("authz_admin_approval_withdrawn").await,
        vec![(Some(ann), Some(bob), "success".to_owned())]
    );

    // Lapsed after a day.
    let second = lock(ann_browser.client.clone()).await;
    app.clock.advance(bulwark::admin::APPROVAL_WINDOW_SECS + 1);
    let cat_browser = app.browser_signed_in(CAT, PASSWORD).await;
    assert_eq!(app.step_up_with(&cat_browser.client).await.status, 200);
    assert_eq!(approve(&app, &cat_browser.client, second).await.status, 409);
    assert!(!locked(&app, bob).await);

    // The proposer lost the role meanwhile (Cat asks to demote Ann, Bob approves): Ann's
    // request still waiting may not be approved.
    let ann_browser = app.browser_signed_in(ANN, PASSWORD).await;
    assert_eq!(app.step_up_with(&ann_browser.client).await.status, 200);
    let bob_browser = app.browser_signed_in(BOB, PASSWORD).await;
    assert_eq!(app.step_up_with(&bob_browser.client).await.status, 200);
    let third = lock(ann_browser.client.clone()).await;
    let demote_ann = [("id", ann.to_string()), ("role", "user".to_owned())];
    let form: Vec<(&str, &str)> = demote_ann.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(app.post_form_with(&cat_browser.client, "/api/admin/role", &form).await.status, 200);
    let demotion = app
        .waiting_approvals(&bob_browser.client)
        .await
        .into_iter()
        .find(|a| a.target == ann)
        .expect("waiting");
    assert_eq!(approve(&app, &bob_browser.client, demotion.id).await.status, 200);
    assert_eq!(role(&app, ann).await, "user");
    assert_eq!(approve(&app, &cat_browser.client, third).await.status, 409, "Ann is no admin now");
    assert!(!locked(&app, bob).await);
    assert_eq!(app.audit("user_locked").await.len(), 0);
    let _ = cat;
}

#[tokio::test]
async fn a_single_remaining_admin_acts_alone_and_is_told_so() {
    let app = spawn_app().await;
    let ann = app.create_account(ANN, "annadmin", Role::Admin).await;
    let bob = app.create_account(BOB, "bobadmin", Role::Admin).await;
    let user = app.create_account("uma@example.com", "umauser", Role::User).await;
    // Bob cannot act (locked from the command line's point of view: set directly).
    bulwark::on_db!(&app.pool, c => sqlx::query("UPDATE users SET locked_at = $1 WHERE id = $2")
        .bind(app.clock.now())
        .bind(bob)
        .execute(c)
        .await
        .map(bulwark::db::Done::from))
    .expect("lock");
    let browser = app.browser_signed_in(ANN, PASSWORD).await;
    assert_eq!(app.step_up_with(&browser.client).await.status, 200);
    let detail = app.post_form_with(&browser.client, "/api/admin/user", &[("id", &bob.to_string())]).await;
    assert!(detail.body.contains("\"second_admin\":false"), "{}", detail.body);
    let form = [("id", bob.to_string())];
    let reply =
        app.post_form_with(&browser.client, "/api/admin/force-reset", &[("id", form[0].1.as_str())]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(app.audit("authz_admin_password_reset").await.len(), 1, "it took effect at once");
    assert_eq!(
        app.audit("authz_admin_approval_waived").await,
        vec![(Some(ann), Some(bob), "success".to_owned())]
    );
    app.mail_titled(ANN, "Done: annadmin changed bobadmin's account").await;
    // Acting on a user is not under the rule at all.
    let reply = app.post_form_with(&browser.client, "/api/admin/lock", &[("id", &user.to_string())]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(app.audit("authz_admin_approval_waived").await.len(), 1);
    // The page says so (rendered by the server, JavaScript off).
    let page = browser.client.get(app.url(&format!("/admin/users/{bob}"))).send().await.expect("page");
    let html = page.text().await.expect("html");
    assert!(html.contains("No other administrator can act to approve"), "the page says the rule is waived");
}

#[tokio::test]
async fn the_command_line_enables_unlocks_and_sets_roles_audited_as_the_operator() {
    let app = spawn_app().await;
    let ann = app.create_account(ANN, "annadmin", Role::Admin).await;
    let bob = app.create_account(BOB, "bobadmin", Role::Admin).await;
    bulwark::on_db!(&app.pool, c => sqlx::query(
        "UPDATE users SET locked_at = 1, disabled_at = 1, disabled_reason = 'rogue', role = 'user' WHERE id = $1",
    )
    .bind(bob)
    .execute(c)
    .await
    .map(bulwark::db::Done::from))
    .expect("rogue admin's work");
    let settings = &app.state.settings;
    let run = |action| server::provision::operator(settings, BOB, action);
    assert!(run(OperatorAction::Unlock).await.expect("unlock").starts_with("done"));
    assert!(run(OperatorAction::Unlock).await.expect("again").starts_with("nothing to change"));
    assert!(run(OperatorAction::Enable).await.expect("enable").starts_with("done"));
    assert!(run(OperatorAction::SetRole(Role::Admin)).await.expect("role").starts_with("done"));
    assert_eq!(role(&app, bob).await, "admin");
    assert!(!locked(&app, bob).await);
    assert_eq!(app.login(BOB, PASSWORD).await.status, 200, "Bob is back");
    for event in ["user_unlocked", "user_enabled", "authz_role_change"] {
        assert_eq!(app.audit(event).await, vec![(None, Some(bob), "success".to_owned())], "{event}");
    }
    let device: Option<String> = bulwark::on_db!(&app.pool, c => sqlx::query_scalar(
        "SELECT device FROM audit_events WHERE event = 'user_unlocked'",
    )
    .fetch_one(c)
    .await)
    .expect("event");
    assert_eq!(device.as_deref(), Some("command line"));
    // Never the last admin who can act; an unknown address is said plainly.
    server::provision::operator(settings, BOB, OperatorAction::SetRole(Role::User))
        .await
        .expect("Ann remains");
    let last = server::provision::operator(settings, ANN, OperatorAction::SetRole(Role::User)).await;
    assert!(last.expect_err("refused").contains("no administrator who can act"));
    assert_eq!(role(&app, ann).await, "admin");
    let unknown = server::provision::operator(settings, "nobody@example.com", OperatorAction::Enable).await;
    assert_eq!(unknown.expect_err("refused"), "no account has that address");
}
