//! Email change through the router: step-up first, nothing changes until the new address
//! confirms, the same answer for a taken address, each mailed link (confirm, cancel,
//! recover), and the races between them.

use bulwark::mail::templates::{CANCEL_PATH, CONFIRM_PATH, RECOVER_PATH};

use crate::helpers::{spawn_app, Reply, TestApp, PASSWORD};

const OLGA: &str = "olga@example.com";
const NEW: &str = "olga.new@example.com";
const ABOUT_TO_CHANGE: &str = "Your email address is about to change";
const CONFIRM: &str = "Confirm your new email address";
const CHANGED: &str = "Your email address was changed";
const RECOVERED: &str = "Your account is back: choose a new password";
const NEW_PASSWORD: &str = "a completely fresh passphrase 62";

async fn ask(app: &TestApp, email: &str) -> Reply {
    app.post_form("/api/email-change", &[("email", email)]).await
}

/// Follows a link from a browser of its own; a confirmation types the account's password.
async fn follow(app: &TestApp, link: &str, token: &str) -> Reply {
    follow_with(app, link, token, PASSWORD).await
}

async fn follow_with(app: &TestApp, link: &str, token: &str, password: &str) -> Reply {
    let form = [("link", link), ("token", token), ("current_password", password)];
    app.post_form_with(&app.new_browser().client, "/api/email-change/link", &form).await
}

async fn current_email(app: &TestApp, id: i64) -> String {
    bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(c)
        .await)
    .expect("email")
}

async fn user_id(app: &TestApp, email: &str) -> i64 {
    bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(c)
        .await)
    .expect("id")
}

/// Olga, signed in and stepped up on the main client; her id.
async fn olga(app: &TestApp) -> i64 {
    app.signed_in_user(OLGA, "olga").await;
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    user_id(app, OLGA).await
}

/// Olga asks to move to `to`; the confirmation and cancel tokens of this request.
async fn asked(app: &TestApp, to: &str) -> (String, String) {
    let (confirms, notices) = (titled(app, to, CONFIRM).len(), titled(app, OLGA, ABOUT_TO_CHANGE).len());
    let reply = ask(app, to).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    app.outbox_drained().await;
    let confirm = titled(app, to, CONFIRM);
    let notice = titled(app, OLGA, ABOUT_TO_CHANGE);
    assert_eq!((confirm.len(), notice.len()), (confirms + 1, notices + 1), "one mail to each address");
    let confirm = confirm.last().and_then(|m| m.link_token(CONFIRM_PATH)).expect("confirm link");
    let cancel = notice.last().and_then(|m| m.link_token(CANCEL_PATH)).expect("cancel link");
    (confirm, cancel)
}

fn titled(app: &TestApp, to: &str, subject: &str) -> Vec<crate::helpers::SentMail> {
    app.mails_to(to).into_iter().filter(|m| m.subject() == subject).collect()
}

#[tokio::test]
async fn asking_needs_a_recent_step_up_and_changes_nothing_without_one() {
    let app = spawn_app().await;
    app.signed_in_user(OLGA, "olga").await;
    let reply = ask(&app, NEW).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(reply.body.contains("StepUpRequired"), "{}", reply.body);
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    app.clock.advance(11 * 60);
    assert_eq!(ask(&app, NEW).await.status, 403, "ten minutes later the step-up is stale");
    let rows: i64 =
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT COUNT(*) FROM email_changes").fetch_one(c).await).expect("count");
    assert_eq!(rows, 0);
    app.outbox_drained().await;
    assert!(app.mails_to(NEW).is_empty());
    assert!(app.audit("user_email_change_requested").await.is_empty());
    // Signed out: nothing at all.
    assert_eq!(app.logout().await.status, 200);
    assert_eq!(ask(&app, NEW).await.status, 401);
}

#[tokio::test]
async fn nothing_changes_until_the_new_address_confirms() {
    let app = spawn_app().await;
    let id = olga(&app).await;
    let (confirm, _cancel) = asked(&app, NEW).await;
    let notice = app.mail_titled(OLGA, ABOUT_TO_CHANGE).await;
    assert!(notice.raw.contains(NEW), "the old address is told where to");
    assert_eq!(current_email(&app, id).await, OLGA);
    let status = app.post_form("/api/email-change/status", &[]).await;
    assert!(status.body.contains(NEW), "{}", status.body);
    assert_eq!(app.new_browser().client.get(app.url("/")).send().await.expect("get").status(), 200);
    assert_eq!(app.post_form("/api/login", &[("email", NEW), ("password", PASSWORD)]).await.status, 401);

    // Opening the link's page changes nothing; its form's POST does.
    let page = app.client.get(app.url(&format!("{CONFIRM_PATH}?token={confirm}"))).send().await.expect("get");
    assert_eq!(page.headers().get("referrer-policy").and_then(|v| v.to_str().ok()), Some("no-referrer"));
    assert_eq!(current_email(&app, id).await, OLGA);
    let reply = follow(&app, "confirm", &confirm).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let location = reply.location.as_deref().unwrap_or_default();
    assert!(
        location == "/email-change/confirm?notice=email-change-confirmed",
        "the URL says nothing of what happened: {location}"
    );
    assert_eq!(current_email(&app, id).await, NEW);
    assert!(app.me().await.body.contains(NEW), "this session goes on, with the new address");
    let other = app.new_browser();
    let form = [("email", NEW), ("password", PASSWORD)];
    assert_eq!(app.post_form_with(&other.client, "/api/login", &form).await.status, 200);
    let form = [("email", OLGA), ("password", PASSWORD)];
    assert_eq!(app.post_form_with(&app.new_browser().client, "/api/login", &form).await.status, 401);
    let changed = app.mail_titled(OLGA, CHANGED).await;
    assert!(changed.link_token(RECOVER_PATH).is_some(), "the old address can take the account back");
    assert!(changed.raw.contains("within 7 days"));
    assert_eq!(app.audit("user_email_change_requested").await, vec![(Some(id), Some(id), "success".into())]);
    assert_eq!(app.audit("user_email_changed").await.len(), 1);
    // The link works once.
    let again = follow(&app, "confirm", &confirm).await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(again.body.contains("InvalidLink"));
}

#[tokio::test]
async fn a_taken_address_gets_the_same_answer_and_its_owner_a_mail_without_a_link() {
    let app = spawn_app().await;
    app.register("taken@example.com", "tara").await;
    let id = olga(&app).await;
    let taken = ask(&app, "taken@example.com").await;
    let free = ask(&app, NEW).await;
    assert_eq!(taken, free, "the asker cannot tell a taken address from a free one");
    assert_eq!(
        taken.location,
        Some(format!("{}?notice=email-change-requested", app::api::EMAIL_CHANGE_REQUESTED))
    );
    let warning = app.mail_titled("taken@example.com", "Someone tried to use your email address").await;
    assert!(warning.link_token(CONFIRM_PATH).is_none(), "{}", warning.raw);
    assert!(app.mail_titled(NEW, CONFIRM).await.link_token(CONFIRM_PATH).is_some());
    // The old address hears about both, in the same words.
    app.outbox_drained().await;
    assert_eq!(titled(&app, OLGA, ABOUT_TO_CHANGE).len(), 2);
    assert_eq!(app.audit("user_email_change_requested").await.len(), 2);
    assert_eq!(current_email(&app, id).await, OLGA);
}

#[tokio::test]
async fn a_wrong_address_is_a_field_error_and_so_is_the_accounts_own() {
    let app = spawn_app().await;
    olga(&app).await;
    for (input, message) in
        [("not an address", "like name@example.com"), (OLGA, "already your email address")]
    {
        let reply = ask(&app, input).await;
        assert_eq!(reply.status, 422, "{input}: {}", reply.body);
        assert!(reply.body.contains(message), "{input}: {}", reply.body);
    }
}

#[tokio::test]
async fn the_confirmation_link_dies_after_24_hours_and_with_a_newer_request() {
    let app = spawn_app().await;
    let id = olga(&app).await;
    let (first, _) = asked(&app, NEW).await;
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    let (second, _) = asked(&app, "olga.other@example.com").await;
    assert_eq!(follow(&app, "confirm", &first).await.status, 400, "superseded");
    app.clock.advance(24 * 3600 + 1);
    assert_eq!(follow(&app, "confirm", &second).await.status, 400, "expired");
    assert_eq!(current_email(&app, id).await, OLGA);
}

#[tokio::test]
async fn the_cancel_link_stops_the_change_and_after_it_happened_points_to_recovery() {
    let app = spawn_app().await;
    let id = olga(&app).await;
    let (confirm, cancel) = asked(&app, NEW).await;
    let reply = follow(&app, "cancel", &cancel).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(follow(&app, "cancel", &cancel).await.status, 200, "cancelled it stays");
    assert_eq!(follow(&app, "confirm", &confirm).await.status, 400);
    assert_eq!(current_email(&app, id).await, OLGA);
    assert_eq!(app.audit("user_email_change_cancelled").await.len(), 1);

    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    let (confirm, cancel) = asked(&app, NEW).await;
    assert_eq!(follow(&app, "confirm", &confirm).await.status, 200);
    let late = follow(&app, "cancel", &cancel).await;
    assert_eq!(late.status, 409, "{}", late.body);
    assert!(late.body.contains("EmailAlreadyChanged"));
    assert_eq!(current_email(&app, id).await, NEW);
}

#[tokio::test]
async fn recovery_restores_the_address_ends_every_session_and_requires_a_new_password() {
    let app = spawn_app().await;
    let id = olga(&app).await;
    let thief = app.browser_signed_in(OLGA, PASSWORD).await;
    let (confirm, _) = asked(&app, NEW).await;
    assert_eq!(follow(&app, "confirm", &confirm).await.status, 200);
    let recover = app.mail_titled(OLGA, CHANGED).await.link_token(RECOVER_PATH).expect("recover link");

    let page = app.new_browser().client.get(app.url(&format!("{RECOVER_PATH}?token={recover}")));
    assert_eq!(page.send().await.expect("get").status(), 200);
    let reply = follow(&app, "recover", &recover).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(current_email(&app, id).await, OLGA);
    assert_eq!(app.me().await.status, 401, "every session ended");
    assert_eq!(app.status_of(&thief.client, "/api/me").await, 401);
    assert_eq!(app.login(OLGA, PASSWORD).await.status, 401, "the password no longer works");
    assert_eq!(app.login(NEW, PASSWORD).await.status, 401);
    assert_eq!(follow(&app, "recover", &recover).await.status, 400, "once");
    assert_eq!(app.audit("user_email_change_recovered").await, vec![(None, Some(id), "success".into())]);

    let told = app.mail_titled(NEW, "Your account was moved back to its earlier address").await;
    assert!(told.raw.contains(OLGA), "the address it had is told where it went");
    let reset = app.mail_titled(OLGA, RECOVERED).await.reset_token().expect("reset link");
    assert_eq!(app.reset_password(&reset, NEW_PASSWORD).await.status, 200);
    assert_eq!(app.login(OLGA, NEW_PASSWORD).await.status, 200);
}

#[tokio::test]
async fn a_thief_who_moves_the_account_twice_cannot_undo_the_owners_recovery() {
    let app = spawn_app().await;
    let id = olga(&app).await;
    let (confirm, _) = asked(&app, "thief@example.com").await;
    assert_eq!(follow(&app, "confirm", &confirm).await.status, 200);
    let owners = app.mail_titled(OLGA, CHANGED).await.link_token(RECOVER_PATH).expect("owner's link");
    // Now at the thief's address, on to another one.
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    assert_eq!(ask(&app, "thief2@example.com").await.status, 200);
    let confirm =
        app.mail_titled("thief2@example.com", CONFIRM).await.link_token(CONFIRM_PATH).expect("confirm");
    assert_eq!(follow(&app, "confirm", &confirm).await.status, 200);
    let thiefs =
        app.mail_titled("thief@example.com", CHANGED).await.link_token(RECOVER_PATH).expect("thief's");

    // The thief "recovers" to their first address; the owner's link still wins.
    assert_eq!(follow(&app, "recover", &thiefs).await.status, 200);
    assert_eq!(current_email(&app, id).await, "thief@example.com");
    assert_eq!(follow(&app, "recover", &owners).await.status, 200);
    assert_eq!(current_email(&app, id).await, OLGA);
    assert_eq!(follow(&app, "recover", &thiefs).await.status, 400);
    assert_eq!(current_email(&app, id).await, OLGA);
}

#[tokio::test]
async fn a_reset_link_mailed_to_the_old_address_dies_with_the_change() {
    let app = spawn_app().await;
    let id = olga(&app).await;
    assert_eq!(app.forgot_password(OLGA).await.status, 200);
    let reset = app.mail_titled(OLGA, "Reset your password").await.reset_token().expect("reset link");
    let (confirm, _) = asked(&app, NEW).await;
    assert_eq!(follow(&app, "confirm", &confirm).await.status, 200);
    assert_eq!(app.reset_password(&reset, NEW_PASSWORD).await.status, 400);
    assert_eq!(current_email(&app, id).await, NEW);
}

#[tokio::test]
async fn a_new_password_kills_a_waiting_change() {
    let app = spawn_app().await;
    let id = olga(&app).await;
    let (confirm, _) = asked(&app, NEW).await;
    let form = [("current_password", PASSWORD), ("password", NEW_PASSWORD)];
    assert_eq!(app.post_form("/api/change-password", &form).await.status, 200);
    assert_eq!(follow(&app, "confirm", &confirm).await.status, 400);
    assert_eq!(current_email(&app, id).await, OLGA);
}

#[tokio::test]
async fn an_address_taken_since_the_request_is_not_given_away() {
    let app = spawn_app().await;
    let id = olga(&app).await;
    let (confirm, _) = asked(&app, NEW).await;
    app.register(NEW, "newcomer").await;
    let reply = follow(&app, "confirm", &confirm).await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    assert!(reply.body.contains("AddressTaken"));
    assert_eq!(current_email(&app, id).await, OLGA);
    assert_eq!(app.audit("user_email_changed").await, vec![(Some(id), Some(id), "failure".into())]);
}

#[tokio::test]
async fn a_disabled_account_keeps_its_address_until_a_temporary_disablement_lapses() {
    let app = spawn_app().await;
    let id = olga(&app).await;
    let (confirm, _) = asked(&app, NEW).await;
    let until = app.state.registry.now() + 600;
    bulwark::on_db!(&app.pool, c => sqlx::query("UPDATE users SET disabled_at = 1, disabled_until = $1 WHERE id = $2")
        .bind(until)
        .bind(id)
        .execute(c)
        .await.map(|_| ()))
        .expect("disable");
    assert_eq!(follow(&app, "confirm", &confirm).await.status, 400);
    assert_eq!(current_email(&app, id).await, OLGA);
    app.clock.advance(601);
    assert_eq!(follow(&app, "confirm", &confirm).await.status, 200, "the disablement lapsed");
    assert_eq!(current_email(&app, id).await, NEW);
}

#[tokio::test]
async fn a_stranger_who_clicks_the_link_cannot_put_their_address_on_someone_elses_account() {
    let app = spawn_app().await;
    let id = olga(&app).await;
    // Olga is the attacker here: the new address is a stranger's, who clicks the genuine
    // link but does not know Olga's password.
    let (confirm, _) = asked(&app, NEW).await;
    for guess in ["", "the strangers own password 12"] {
        let reply = follow_with(&app, "confirm", &confirm, guess).await;
        assert_eq!(reply.status, 422, "{}", reply.body);
        assert!(reply.body.contains("current_password"), "{}", reply.body);
    }
    assert_eq!(current_email(&app, id).await, OLGA);
    // Whoever followed the link is not known to be the account: no actor.
    assert_eq!(app.audit("user_email_changed").await, vec![(None, Some(id), "failure".into())]);
    assert_eq!(follow(&app, "confirm", &confirm).await.status, 200, "the link was not used up");
}

#[tokio::test]
async fn any_cancel_link_cancels_the_change_that_waits_now() {
    let app = spawn_app().await;
    let id = olga(&app).await;
    let (_, first_cancel) = asked(&app, NEW).await;
    let (confirm, _) = asked(&app, "olga.third@example.com").await;
    assert_eq!(follow(&app, "cancel", &first_cancel).await.status, 200);
    assert_eq!(follow(&app, "confirm", &confirm).await.status, 400, "the newer change was cancelled too");
    assert_eq!(current_email(&app, id).await, OLGA);
}

#[tokio::test]
async fn forty_concurrent_confirmations_change_the_address_once() {
    let app = spawn_app().await;
    let id = olga(&app).await;
    let (confirm, _) = asked(&app, NEW).await;
    let form = [("link", "confirm"), ("token", confirm.as_str()), ("current_password", PASSWORD)];
    let form: Vec<(String, String)> = form.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let forms = (0..40).map(|_| form.clone()).collect();
    let replies = app.burst(&app.new_browser().client, "/api/email-change/link", forms).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?} {}", replies[0].body);
    // The rest: the link is used up (400), or the account's password checks in flight
    // are at their cap (429) or the hashing queue is full (503).
    assert!(statuses.iter().all(|s| [200, 400, 429, 503].contains(s)), "{statuses:?}");
    assert_eq!(app.audit("user_email_changed").await, vec![(Some(id), Some(id), "success".into())]);
    app.outbox_drained().await;
    assert_eq!(titled(&app, OLGA, CHANGED).len(), 1);
    assert_eq!(current_email(&app, id).await, NEW);
}

#[tokio::test]
async fn a_confirmation_racing_its_cancellation_ends_one_way_only() {
    let app = spawn_app().await;
    let id = olga(&app).await;
    let (confirm, cancel) = asked(&app, NEW).await;
    let forms = (0..20)
        .map(|i| {
            let (link, token) = if i % 2 == 0 { ("confirm", &confirm) } else { ("cancel", &cancel) };
            vec![
                ("link".into(), link.into()),
                ("token".into(), token.clone()),
                ("current_password".into(), PASSWORD.into()),
            ]
        })
        .collect();
    let replies = app.burst(&app.new_browser().client, "/api/email-change/link", forms).await;
    let confirmed = replies.iter().step_by(2).filter(|r| r.status == 200).count();
    let cancelled = replies.iter().skip(1).step_by(2).filter(|r| r.status == 200).count();
    let changed = current_email(&app, id).await == NEW;
    if changed {
        assert_eq!(confirmed, 1);
        assert_eq!(cancelled, 0, "a cancel after the change says so and changes nothing");
        assert!(app.audit("user_email_change_cancelled").await.is_empty());
    } else {
        assert_eq!(confirmed, 0);
        assert_eq!(app.audit("user_email_change_cancelled").await.len(), 1);
        assert!(app.audit("user_email_changed").await.is_empty());
    }
}

#[tokio::test]
async fn asking_is_throttled_per_account() {
    let app = spawn_app().await;
    olga(&app).await;
    let mut statuses = Vec::new();
    for i in 0..7 {
        statuses.push(ask(&app, &format!("olga{i}@example.com")).await.status);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429]);
}

#[tokio::test]
async fn the_owner_can_withdraw_a_waiting_change() {
    let app = spawn_app().await;
    let id = olga(&app).await;
    let (confirm, _) = asked(&app, NEW).await;
    let reply = app.post_form("/api/email-change/withdraw", &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(follow(&app, "confirm", &confirm).await.status, 400);
    assert_eq!(current_email(&app, id).await, OLGA);
    let status = app.post_form("/api/email-change/status", &[]).await;
    assert!(!status.body.contains(NEW), "{}", status.body);
}

#[tokio::test]
async fn a_malformed_or_unknown_link_is_one_answer() {
    let app = spawn_app().await;
    let unknown = "ab".repeat(32);
    for link in ["confirm", "cancel", "recover"] {
        for token in ["", "nonsense", unknown.as_str()] {
            let reply = follow(&app, link, token).await;
            assert_eq!(reply.status, 400, "{link} {token}: {}", reply.body);
            assert!(reply.body.contains("InvalidLink"), "{}", reply.body);
        }
    }
    assert_eq!(follow(&app, "explode", &unknown).await.status, 400);
}

#[tokio::test]
async fn an_old_cancel_link_cancels_nothing_once_its_day_is_over() {
    let app = spawn_app().await;
    let id = olga(&app).await;
    let (_, old_cancel) = asked(&app, "olga.once@example.com").await;
    // A day later, whoever reads the old mailbox still has that link; the owner asks anew.
    app.clock.advance(24 * 3600 + 1);
    assert_eq!(app.login(OLGA, PASSWORD).await.status, 200);
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    let (confirm, _) = asked(&app, NEW).await;
    assert_eq!(follow(&app, "cancel", &old_cancel).await.status, 400);
    assert_eq!(follow(&app, "confirm", &confirm).await.status, 200, "the owner's change went through");
    assert_eq!(current_email(&app, id).await, NEW);
}

/// A change is deleted a day after its last link died (the recovery link, 7 days after the
/// change), never while a link still works.
#[tokio::test]
async fn a_change_is_pruned_a_day_after_its_last_link_died() {
    let app = spawn_app().await;
    olga(&app).await;
    let (confirm, _cancel) = asked(&app, NEW).await;
    assert_eq!(follow(&app, "confirm", &confirm).await.status, 200);
    let rows = |app: &TestApp| {
        let pool = app.pool.clone();
        async move {
            bulwark::on_db!(&pool, c => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM email_changes")
                .fetch_one(c)
                .await)
            .expect("count")
        }
    };
    app.clock.advance(bulwark::email_change::RECOVER_VALID_SECS);
    assert!(server::clean_up(&app.state).await.is_empty());
    assert_eq!(rows(&app).await, 1, "kept while the recovery link has just died");
    app.clock.advance(bulwark::email_change::DEAD_KEPT_SECS + 1);
    assert!(server::clean_up(&app.state).await.is_empty());
    assert_eq!(rows(&app).await, 0, "gone a day later");
}

/// The text of the page at `path`, as a browser of its own opens it (no JavaScript).
async fn page(app: &TestApp, path: &str) -> String {
    let response = app.new_browser().client.get(app.url(path)).send().await.expect("get");
    assert_eq!(response.status(), 200);
    response.text().await.expect("body")
}

fn names(page: &str, address: &str) -> bool {
    page.contains("This link is for the account at ")
        && page.contains(&format!("<strong><bdi>{address}</bdi></strong>"))
}

/// Review N6's variant: an attacker mails a victim a genuine cancel, recovery or reset link
/// for the attacker's own account. Each page names the account it acts for, before the
/// button and after it, from the server's lookup of the link, never from the URL.
#[tokio::test]
async fn a_link_page_names_the_account_the_link_acts_for_before_and_after() {
    let app = spawn_app().await;
    olga(&app).await;
    let (confirm, cancel) = asked(&app, NEW).await;
    let cancel_page = format!("{CANCEL_PATH}?token={cancel}");
    assert!(names(&page(&app, &cancel_page).await, OLGA), "before");
    assert!(
        !names(&page(&app, &format!("{CONFIRM_PATH}?token={confirm}")).await, OLGA),
        "not the confirmation"
    );
    assert_eq!(follow(&app, "cancel", &cancel).await.status, 200);
    assert!(names(&page(&app, &cancel_page).await, OLGA), "after: it says whose change it cancelled");

    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    let (confirm, _) = asked(&app, NEW).await;
    assert_eq!(follow(&app, "confirm", &confirm).await.status, 200);
    let recover = app.mail_titled(OLGA, CHANGED).await.link_token(RECOVER_PATH).expect("recover link");
    let recover_page = format!("{RECOVER_PATH}?token={recover}");
    assert!(names(&page(&app, &recover_page).await, OLGA));
    assert_eq!(follow(&app, "recover", &recover).await.status, 200);
    assert!(names(&page(&app, &recover_page).await, OLGA), "after: whose account is back");

    let reset = app.mail_titled(OLGA, RECOVERED).await.reset_token().expect("reset link");
    let reset_page = format!("/reset-password?token={reset}");
    assert!(names(&page(&app, &reset_page).await, OLGA));
    for dead in ["", "00", &"0".repeat(64)] {
        let page = page(&app, &format!("/reset-password?token={dead}")).await;
        assert!(!page.contains("This link is for the account at "), "a dead link names nobody");
    }
    let crafted = page(&app, &format!("{CANCEL_PATH}?token=x&email=attacker@example.com")).await;
    assert!(!crafted.contains("attacker@example.com"), "nothing from the URL is shown");
    let api = app.post_form("/api/link-address", &[("link", "reset"), ("token", &reset)]).await;
    assert_eq!((api.status, api.body.as_str()), (200, "\"olga@example.com\""));
    assert_eq!(
        app.post_form("/api/link-address", &[("link", "confirm"), ("token", &reset)]).await.status,
        400
    );
    assert_eq!(app.reset_password(&reset, NEW_PASSWORD).await.status, 200, "looking used nothing up");
}
