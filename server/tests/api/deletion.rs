//! Deleting an account through the router: step-up first, closed at once (every session
//! ends), a sign-in during the grace period answers as for no account, the mailed link
//! keeps the account, an undo and the erasure that race end one way, and the erasure
//! leaves no copy of the address or username anywhere in the database (every table of
//! either backend scanned).

use bulwark::{mail::templates::UNDO_DELETION_PATH, Role};

use crate::helpers::{spawn_app, Reply, TestApp, PASSWORD};

const OLGA: &str = "olga.deleting@example.com";
const USERNAME: &str = "olgadeleting";
const CLOSING: &str = "Your account will be deleted";

async fn delete(app: &TestApp) -> Reply {
    app.post_form("/api/account/delete", &[]).await
}

async fn undo(app: &TestApp, token: &str) -> Reply {
    app.post_form_with(&app.new_browser().client, "/api/account/delete/undo", &[("token", token)]).await
}

async fn user_id(app: &TestApp) -> i64 {
    bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(OLGA)
        .fetch_one(c)
        .await)
    .expect("id")
}

/// Olga signs in and stepped up, closes her account; her id and the undo token.
async fn closed(app: &TestApp) -> (i64, String) {
    app.signed_in_user(OLGA, USERNAME).await;
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    let id = user_id(app).await;
    let reply = delete(app).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let mail = app.mail_titled(OLGA, CLOSING).await;
    let token = mail.link_token(UNDO_DELETION_PATH).expect("undo link");
    (id, token)
}

#[tokio::test]
async fn deleting_needs_a_recent_step_up_and_changes_nothing_without_one() {
    let app = spawn_app().await;
    app.signed_in_user(OLGA, USERNAME).await;
    let reply = delete(&app).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(reply.body.contains("StepUpRequired"), "{}", reply.body);
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    app.clock.advance(11 * 60);
    assert_eq!(delete(&app).await.status, 403, "ten minutes later the step-up is stale");
    assert_eq!(app.me().await.status, 200, "still signed in");
    assert!(app.audit("user_deletion_requested").await.is_empty());
    assert_eq!(app.logout().await.status, 200);
    assert_eq!(delete(&app).await.status, 401);
}

#[tokio::test]
async fn a_closed_account_ends_every_session_at_once_and_signs_in_like_no_account() {
    let app = spawn_app().await;
    app.signed_in_user(OLGA, USERNAME).await;
    let other = app.browser_signed_in(OLGA, PASSWORD).await;
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    let reply = delete(&app).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(app.me().await.status, 401, "this session ended");
    assert_eq!(app.status_of(&other.client, "/api/me").await, 401, "and every other");
    // The right password and a wrong one, and an address nobody has: one answer.
    let right = app
        .post_form_with(&app.new_browser().client, "/api/login", &[("email", OLGA), ("password", PASSWORD)])
        .await;
    let wrong = app
        .post_form_with(
            &app.new_browser().client,
            "/api/login",
            &[("email", OLGA), ("password", "not the password 12")],
        )
        .await;
    let nobody = app
        .post_form_with(
            &app.new_browser().client,
            "/api/login",
            &[("email", "nobody@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!((right.status, wrong.status, nobody.status), (401, 401, 401));
    assert_eq!(right.body, nobody.body, "a closing account answers as no account does");
    assert_eq!(wrong.body, nobody.body);
    // A password reset mails nothing, as for an address without an account.
    app.outbox_drained().await;
    let before = app.mails_to(OLGA).len();
    assert_eq!(app.forgot_password(OLGA).await.status, 200);
    app.outbox_drained().await;
    assert_eq!(app.mails_to(OLGA).len(), before, "no reset link for a closing account");
    let mail = app.mail_titled(OLGA, CLOSING).await;
    assert!(mail.raw.contains("You asked for your Bulwark account to be deleted"));
    let id = user_id(&app).await;
    assert_eq!(app.audit("user_deletion_requested").await, vec![(Some(id), Some(id), "success".into())]);
}

#[tokio::test]
async fn the_mailed_link_keeps_the_account_once_and_sessions_stay_ended() {
    let app = spawn_app().await;
    let (id, token) = closed(&app).await;
    // Opening the page changes nothing.
    let page = app
        .new_browser()
        .client
        .get(app.url(&format!("{UNDO_DELETION_PATH}?token={token}")))
        .send()
        .await
        .expect("get");
    assert_eq!(page.status(), 200);
    let form = [("email", OLGA), ("password", PASSWORD)];
    assert_eq!(app.post_form_with(&app.new_browser().client, "/api/login", &form).await.status, 401);
    let reply = undo(&app, &token).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(app.me().await.status, 401, "a mailed link never signs in, nor revives a session");
    assert_eq!(app.post_form_with(&app.new_browser().client, "/api/login", &form).await.status, 200);
    let again = undo(&app, &token).await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(again.body.contains("InvalidLink"));
    assert_eq!(app.audit("user_deletion_undone").await, vec![(Some(id), Some(id), "success".into())]);
    // Kept: the clean-up pass after the grace period erases nothing.
    app.clock.advance(8 * 86_400);
    assert!(server::clean_up(&app.state).await.is_empty());
    assert_eq!(user_id(&app).await, id);
}

#[tokio::test]
async fn an_undo_and_the_erasure_racing_end_one_way() {
    for _ in 0..3 {
        let app = spawn_app().await;
        let (id, token) = closed(&app).await;
        app.clock.advance(7 * 86_400 - 1);
        let state = app.state.clone();
        let (undone, _) = tokio::join!(undo(&app, &token), async move { server::clean_up(&state).await });
        let erased: Option<i64> =
            bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT erased_at FROM users WHERE id = $1")
            .bind(id)
            .fetch_one(c)
            .await)
            .expect("row");
        // Not yet due: the undo wins, and nothing is erased.
        assert_eq!(undone.status, 200, "{}", undone.body);
        assert_eq!(erased, None);
        let (_, token) = {
            let form = [("email", OLGA), ("password", PASSWORD)];
            assert_eq!(app.post_form("/api/login", &form).await.status, 200);
            assert_eq!(app.step_up_with(&app.client).await.status, 200);
            assert_eq!(delete(&app).await.status, 200);
            app.outbox_drained().await;
            let mails: Vec<_> = app.mails_to(OLGA).into_iter().filter(|m| m.subject() == CLOSING).collect();
            (id, mails.last().and_then(|m| m.link_token(UNDO_DELETION_PATH)).expect("link"))
        };
        app.clock.advance(7 * 86_400);
        let state = app.state.clone();
        let (undone, _) = tokio::join!(undo(&app, &token), async move { server::clean_up(&state).await });
        let erased: Option<i64> =
            bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT erased_at FROM users WHERE id = $1")
            .bind(id)
            .fetch_one(c)
            .await)
            .expect("row");
        assert_eq!(undone.status, 400, "past the grace period the link is dead: {}", undone.body);
        assert!(erased.is_some());
    }
}

/// Every table's every row, as text.
async fn every_row(app: &TestApp) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    match &app.pool {
        bulwark::db::Db::Sqlite(pool) => {
            let tables: Vec<String> =
                sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                    .fetch_all(pool)
                    .await
                    .expect("tables");
            for table in tables {
                let columns: Vec<String> =
                    sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                        .fetch_all(pool)
                        .await
                        .expect("columns");
                let text = columns
                    .iter()
                    .map(|c| format!("COALESCE(CAST(\"{c}\" AS TEXT), '')"))
                    .collect::<Vec<_>>()
                    .join(" || '|' || ");
                // As bytes: stored session data is binary, and a copy inside it counts too.
                let found: Vec<Vec<u8>> =
                    sqlx::query_scalar(&format!("SELECT CAST({text} AS BLOB) FROM \"{table}\""))
                        .fetch_all(pool)
                        .await
                        .expect("rows");
                rows.extend(
                    found.into_iter().map(|row| (table.clone(), String::from_utf8_lossy(&row).into_owned())),
                );
            }
        }
        bulwark::db::Db::Postgres(pool) => {
            let tables: Vec<(String, String)> = sqlx::query_as(
                "SELECT table_schema, table_name FROM information_schema.tables \
                 WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')",
            )
            .fetch_all(pool)
            .await
            .expect("tables");
            for (schema, table) in tables {
                let found: Vec<String> =
                    sqlx::query_scalar(&format!("SELECT t::text FROM \"{schema}\".\"{table}\" t"))
                        .fetch_all(pool)
                        .await
                        .expect("rows");
                rows.extend(found.into_iter().map(|row| (format!("{schema}.{table}"), row)));
            }
        }
    }
    rows
}

#[tokio::test]
async fn the_erasure_leaves_no_copy_of_the_address_or_username_anywhere() {
    let app = spawn_app().await;
    // Some history first: a second browser, an email change asked for and withdrawn, an
    // admin who disabled and enabled the account.
    app.signed_in_user(OLGA, USERNAME).await;
    let _other = app.browser_signed_in(OLGA, PASSWORD).await;
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    assert_eq!(
        app.post_form("/api/email-change", &[("email", "olga.elsewhere@example.com")]).await.status,
        200
    );
    assert_eq!(app.post_form("/api/email-change/withdraw", &[]).await.status, 200);
    assert_eq!(app.post_form("/api/account/delete", &[]).await.status, 200);
    let id = user_id(&app).await;
    app.outbox_drained().await;
    let before: Vec<_> = every_row(&app).await.into_iter().filter(|(_, row)| row.contains(OLGA)).collect();
    assert!(!before.is_empty(), "the scan finds the address while the account is closing");
    // A mail still waiting for the address when the erasure comes (due long after it).
    bulwark::on_db!(&app.pool, c => sqlx::query(
        "INSERT INTO mail_outbox (kind, recipient, subject, body_text, body_html, created_at, next_attempt_at) \
         VALUES ('factor_notice', $1, 's', 'Hello olgadeleting', 'h', 0, 9999999999)",
    )
    .bind(OLGA)
    .execute(c)
    .await
    .map(|_| ()))
    .expect("queued");
    app.clock.advance(7 * 86_400);
    assert_eq!(server::clean_up(&app.state).await, Vec::<(&str, String)>::new());
    let left: Vec<_> = every_row(&app)
        .await
        .into_iter()
        .filter(|(_, row)| {
            let row = row.to_lowercase();
            row.contains(OLGA) || row.contains(USERNAME) || row.contains("olga.elsewhere")
        })
        .collect();
    assert_eq!(left, Vec::<(String, String)>::new(), "copies left after the erasure");
    assert_eq!(app.audit("user_erased").await, vec![(None, Some(id), "success".into())]);
    // The events stay, without details; the address is free, the username is not.
    let kept = app.audit("user_deletion_requested").await;
    assert_eq!(kept.len(), 1);
    let mails_before = app.mails_to(OLGA).len();
    let reply = app.signup(OLGA, USERNAME, PASSWORD).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let confirms = |app: &TestApp| {
        app.mails_to(OLGA)
            .into_iter()
            .filter(|m| m.subject() == "Confirm your email address")
            .collect::<Vec<_>>()
    };
    app.wait_for_mails(OLGA, mails_before + 1).await;
    let all = confirms(&app);
    assert_eq!(
        all.len(),
        2,
        "a new verification mail: {:?}",
        app.mails_to(OLGA).iter().map(|m| m.subject().to_owned()).collect::<Vec<_>>()
    );
    let token = all.last().and_then(|m| m.token()).expect("verification link");
    let taken = app.verify(&token).await;
    assert_eq!(taken.status, 422, "the username is reserved: {}", taken.body);
    let renamed = app.verify_with(&token, PASSWORD, "olgaanew").await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_ne!(user_id(&app).await, id, "a new account, never the erased one's id");
}

#[tokio::test]
async fn an_admin_deletes_an_ordinary_account_and_another_admins_only_with_a_second_admin() {
    let app = spawn_app().await;
    let target = app.create_account(OLGA, USERNAME, Role::User).await;
    let admin = app.create_account("ada@example.com", "ada", Role::Admin).await;
    let _second = app.create_account("bea@example.com", "bea", Role::Admin).await;
    // A third admin, so a second one can approve a request about bea.
    let _third = app.create_account("cy@example.com", "cyadmin", Role::Admin).await;
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status, 200);
    let step = app.step_up_with(&app.client).await;
    assert_eq!(step.status, 200, "{}", step.body);
    let target_id = target.to_string();
    let form = [("id", target_id.as_str()), ("reason", "asked by phone")];
    let reply = app.post_form("/api/admin/delete", &form).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let mail = app.mail_titled(OLGA, CLOSING).await;
    assert!(mail.raw.contains("An administrator asked"));
    assert!(!mail.raw.contains("asked by phone"), "the admin's reason is never mailed");
    assert!(mail.link_token(UNDO_DELETION_PATH).is_some(), "the owner can keep it");
    assert_eq!(
        app.audit("user_deletion_requested").await,
        vec![(Some(admin), Some(target), "success".into())]
    );
    // Another admin's account waits for a second admin.
    let bea: i64 = bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT id FROM users WHERE email = 'bea@example.com'").fetch_one(c).await).expect("id");
    let bea_id = bea.to_string();
    let form = [("id", bea_id.as_str()), ("reason", "left the team")];
    let reply = app.post_form("/api/admin/delete", &form).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let closing: Option<i64> = bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT deletion_due_at FROM users WHERE id = $1").bind(bea).fetch_one(c).await).expect("row");
    assert_eq!(closing, None, "waits for approval");
    assert_eq!(app.waiting_approvals(&app.client).await.len(), 1);
}

#[tokio::test]
async fn an_admin_account_is_deleted_by_another_admin_and_a_closing_account_takes_no_more_admin_actions() {
    let app = spawn_app().await;
    let target = app.create_account(OLGA, USERNAME, Role::User).await;
    app.create_account("ada@example.com", "ada", Role::Admin).await;
    app.create_account("bea@example.com", "bea", Role::Admin).await;
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status, 200);
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    let own = delete(&app).await;
    assert_eq!(own.status, 409, "{}", own.body);
    assert!(own.body.contains("AdminAccountDeletion"), "{}", own.body);
    assert_eq!(app.me().await.status, 200, "nothing happened");
    let id = target.to_string();
    let form = [("id", id.as_str()), ("reason", "asked by phone")];
    assert_eq!(app.post_form("/api/admin/delete", &form).await.status, 200);
    // Closing: nothing more is done to it (a reset link, a role, an impersonation).
    for path in ["/api/admin/force-reset", "/api/admin/lock"] {
        let reply = app.post_form(path, &[("id", id.as_str())]).await;
        assert_eq!(reply.status, 409, "{path}: {}", reply.body);
        assert!(reply.body.contains("AccountClosing"), "{}", reply.body);
    }
    let again = app.post_form("/api/admin/delete", &form).await;
    assert_eq!(again.status, 409, "{}", again.body);
}

#[tokio::test]
async fn taking_a_moved_account_back_by_its_recovery_link_takes_its_deletion_back_too() {
    let app = spawn_app().await;
    app.signed_in_user(OLGA, USERNAME).await;
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    // A thief with the session moves the account to their address, then deletes it.
    let thief = "thief@example.com";
    assert_eq!(app.post_form("/api/email-change", &[("email", thief)]).await.status, 200);
    let confirm = app.mail_titled(thief, "Confirm your new email address").await;
    let token = confirm.link_token(bulwark::mail::templates::CONFIRM_PATH).expect("confirm link");
    let form = [("link", "confirm"), ("token", token.as_str()), ("current_password", PASSWORD)];
    assert_eq!(
        app.post_form_with(&app.new_browser().client, "/api/email-change/link", &form).await.status,
        200
    );
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    assert_eq!(delete(&app).await.status, 200);
    app.mail_titled(thief, CLOSING).await;
    // The owner follows the recovery link mailed to the old address.
    let changed = app.mail_titled(OLGA, "Your email address was changed").await;
    let recover = changed.link_token(bulwark::mail::templates::RECOVER_PATH).expect("recover link");
    let form = [("link", "recover"), ("token", recover.as_str()), ("current_password", "")];
    let reply = app.post_form_with(&app.new_browser().client, "/api/email-change/link", &form).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let due: Option<i64> = bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT deletion_due_at FROM users WHERE email = $1")
        .bind(OLGA)
        .fetch_one(c)
        .await)
    .expect("row");
    assert_eq!(due, None, "the account is not closing any more");
    app.clock.advance(8 * 86_400);
    assert!(server::clean_up(&app.state).await.is_empty());
    assert!(app.audit("user_erased").await.is_empty(), "and it is never erased");
    assert_eq!(app.audit("user_deletion_undone").await.len(), 1);
}

#[tokio::test]
async fn forty_concurrent_closings_close_once_mail_once_and_audit_once() {
    let app = spawn_app().await;
    app.signed_in_user(OLGA, USERNAME).await;
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    let replies = app.burst(&app.client, "/api/account/delete", (0..40).map(|_| Vec::new()).collect()).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    // The rest found the session ended (401) or its step-up gone with it (403).
    assert!(statuses.iter().all(|s| [200, 401, 403].contains(s)), "{statuses:?}");
    let id = user_id(&app).await;
    assert_eq!(app.audit("user_deletion_requested").await, vec![(Some(id), Some(id), "success".into())]);
    app.outbox_drained().await;
    let closing = app.mails_to(OLGA).into_iter().filter(|m| m.subject() == CLOSING).count();
    assert_eq!(closing, 1, "one undo link");
}
