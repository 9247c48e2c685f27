//! Invitations through the router: the link makes one account with the invitation's role
//! and never signs in; it works once, expires, dies when revoked or sent again; forty
//! concurrent acceptances make one account; an invitation to the admin role waits for a
//! second admin, and the new admin can do nothing before setting up a factor; an address
//! with an account gets a notice without a link and the inviter sees no difference;
//! invite-only sign-up refuses every address alike; the command line invites too.

use bulwark::{
    mail::templates::{INVITATION_PATH, INVITATION_SUBJECT},
    Role,
};

use crate::helpers::{spawn_app, spawn_app_with, Reply, TestApp, PASSWORD};

const ANN: &str = "ann.admin@example.com";
const BOB: &str = "bob.admin@example.com";
const IVY: &str = "ivy.invited@example.com";

/// An app whose admin Ann is signed in and stepped up on `app.client`.
async fn with_admin() -> TestApp {
    with_admin_on(spawn_app().await).await
}

async fn with_admin_on(app: TestApp) -> TestApp {
    app.create_account(ANN, "annadmin", Role::Admin).await;
    assert_eq!(app.login(ANN, PASSWORD).await.status, 200);
    let step = app.step_up_with(&app.client).await;
    assert_eq!(step.status, 200, "{}", step.body);
    app
}

async fn invite(app: &TestApp, client: &reqwest::Client, email: &str, role: &str) -> Reply {
    app.post_form_with(client, "/api/admin/invite", &[("email", email), ("role", role)]).await
}

async fn list(app: &TestApp, client: &reqwest::Client) -> Vec<app::api::InvitationView> {
    let reply = app.post_form_with(client, "/api/admin/invitations", &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    serde_json::from_str::<app::api::InvitationList>(&reply.body).expect("list").invitations
}

/// The token in the newest invitation mailed to `email`.
async fn link(app: &TestApp, email: &str, count: usize) -> String {
    let mail = app.nth_mail(email, count).await;
    assert_eq!(mail.subject(), INVITATION_SUBJECT);
    mail.link_token(INVITATION_PATH).expect("an invitation link")
}

async fn accept(app: &TestApp, token: &str, username: &str) -> Reply {
    let browser = app.new_browser();
    let form = [("token", token), ("username", username), ("password", PASSWORD)];
    let reply = app.post_form_with(&browser.client, "/api/invitation/accept", &form).await;
    // A mailed link never signs in.
    assert_eq!(app.status_of(&browser.client, "/api/me").await, 401);
    reply
}

async fn role_of(app: &TestApp, email: &str) -> Option<String> {
    bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT role FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(c)
        .await)
    .expect("role")
}

#[tokio::test]
async fn an_invitation_makes_one_account_with_its_role_and_never_signs_in() {
    let app = with_admin().await;
    let reply = invite(&app, &app.client, IVY, "user").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let token = link(&app, IVY, 1).await;
    // Opening the page shows the address and changes nothing.
    let page =
        app.new_browser().client.get(app.url(&format!("{INVITATION_PATH}?token={token}"))).send().await;
    let page = page.expect("page");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("body").contains(IVY), "the page names the invited address");
    let offer =
        app.post_form_with(&app.new_browser().client, "/api/invitation/offer", &[("token", &token)]).await;
    assert_eq!(offer.status, 200, "{}", offer.body);
    assert_eq!(role_of(&app, IVY).await, None);
    // A weak password is refused under its field; the link still works afterwards.
    let weak = [("token", token.as_str()), ("username", "ivy"), ("password", "password1234")];
    let refused = app.post_form_with(&app.new_browser().client, "/api/invitation/accept", &weak).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let reply = accept(&app, &token, "ivy").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(role_of(&app, IVY).await.as_deref(), Some("user"));
    let again = accept(&app, &token, "ivy2").await;
    assert_eq!(again.status, 400, "the link works once: {}", again.body);
    assert!(again.body.contains("InvalidLink"), "{}", again.body);
    // The account signs in with the password it chose.
    assert_eq!(
        app.post_form_with(
            &app.new_browser().client,
            "/api/login",
            &[("email", IVY), ("password", PASSWORD)]
        )
        .await
        .status,
        200
    );
    let listed = list(&app, &app.client).await;
    assert_eq!(listed[0].status, "accepted");
    assert!(listed[0].account.is_some());
    assert_eq!(app.audit("user_invitation_sent").await.len(), 1);
    let created = app.audit("user_created").await;
    let id = listed[0].account;
    assert!(created.contains(&(id, id, "success".to_owned())), "{created:?}");
}

#[tokio::test]
async fn a_link_expires_dies_when_revoked_and_a_resend_kills_the_old_one() {
    let app = with_admin().await;
    assert_eq!(invite(&app, &app.client, IVY, "user").await.status, 200);
    let first = link(&app, IVY, 1).await;
    let id = list(&app, &app.client).await[0].id.to_string();
    // Sent a moment ago: not again yet (a resend cannot flood a mailbox).
    let soon = app.post_form_with(&app.client, "/api/admin/invitation/resend", &[("id", &id)]).await;
    assert_eq!(soon.status, 429, "{}", soon.body);
    app.clock.advance(3 * 24 * 3600 + 1);
    assert_eq!(accept(&app, &first, "ivy").await.status, 400, "expired");
    // Ann's session ended meanwhile (an admin's lasts 8 hours at most).
    assert_eq!(app.login(ANN, PASSWORD).await.status, 200);
    assert_eq!(list(&app, &app.client).await[0].status, "expired");
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    let resent = app.post_form_with(&app.client, "/api/admin/invitation/resend", &[("id", &id)]).await;
    assert_eq!(resent.status, 200, "{}", resent.body);
    let second = link(&app, IVY, 2).await;
    assert_ne!(first, second);
    assert_eq!(accept(&app, &first, "ivy").await.status, 400, "the old link stays dead");
    let revoked = app.post_form_with(&app.client, "/api/admin/invitation/revoke", &[("id", &id)]).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(accept(&app, &second, "ivy").await.status, 400, "revoked");
    assert_eq!(role_of(&app, IVY).await, None);
    let again = app.post_form_with(&app.client, "/api/admin/invitation/revoke", &[("id", &id)]).await;
    assert_eq!(again.status, 404, "nothing left to revoke");
    assert_eq!(app.audit("user_invitation_revoked").await.len(), 1);
}

#[tokio::test]
async fn forty_concurrent_acceptances_of_one_link_make_one_account() {
    let app = with_admin().await;
    assert_eq!(invite(&app, &app.client, IVY, "user").await.status, 200);
    let token = link(&app, IVY, 1).await;
    let forms = (0..40)
        .map(|n| {
            vec![
                ("token".to_owned(), token.clone()),
                ("username".to_owned(), format!("ivy{n}")),
                ("password".to_owned(), PASSWORD.to_owned()),
            ]
        })
        .collect();
    let replies = app.burst(&app.new_browser().client, "/api/invitation/accept", forms).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| [200, 400, 429, 503].contains(s)), "{statuses:?}");
    let accounts: i64 =
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email = $1")
        .bind(IVY)
        .fetch_one(c)
        .await)
        .expect("count");
    assert_eq!(accounts, 1);
}

#[tokio::test]
async fn an_admin_invitation_waits_for_a_second_admin_and_the_new_admin_needs_a_factor_first() {
    let app = with_admin().await;
    app.create_account(BOB, "bobadmin", Role::Admin).await;
    let reply = invite(&app, &app.client, IVY, "admin").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let waiting = list(&app, &app.client).await;
    assert_eq!(waiting[0].status, "waiting");
    app.mail_titled(BOB, "Approval needed: annadmin invites a new administrator").await;
    app.outbox_drained().await;
    assert!(app.mails_to(IVY).is_empty(), "nothing is mailed before a second admin approves");
    let id = waiting[0].id.to_string();
    let own = app.post_form_with(&app.client, "/api/admin/invitation/approve", &[("id", &id)]).await;
    assert_eq!(own.status, 409, "{}", own.body);
    assert!(own.body.contains("ApprovalOwnRequest"), "{}", own.body);
    let bob = app.browser_signed_in(BOB, PASSWORD).await;
    assert_eq!(app.step_up_with(&bob.client).await.status, 200);
    let approved = app.post_form_with(&bob.client, "/api/admin/invitation/approve", &[("id", &id)]).await;
    assert_eq!(approved.status, 200, "{}", approved.body);
    let twice = app.post_form_with(&bob.client, "/api/admin/invitation/approve", &[("id", &id)]).await;
    assert_eq!(twice.status, 409, "approved once: {}", twice.body);
    let token = link(&app, IVY, 1).await;
    assert_eq!(accept(&app, &token, "ivyadmin").await.status, 200);
    assert_eq!(role_of(&app, IVY).await.as_deref(), Some("admin"));
    // The new admin signs in and reaches nothing of the admin area before a factor.
    let ivy = app.browser_signed_in(IVY, PASSWORD).await;
    let users = app.post_form_with(&ivy.client, "/api/admin/users", &[]).await;
    assert_eq!(users.status, 403, "{}", users.body);
    assert!(users.body.contains("FactorRequired"), "{}", users.body);
    assert_eq!(app.audit("authz_admin_approval_requested").await.len(), 1);
    assert_eq!(app.audit("authz_admin_approval_granted").await.len(), 1);
}

#[tokio::test]
async fn a_lone_admin_invites_an_admin_at_once_and_says_so() {
    let app = with_admin().await;
    assert_eq!(invite(&app, &app.client, IVY, "admin").await.status, 200);
    assert_eq!(list(&app, &app.client).await[0].status, "sent");
    link(&app, IVY, 1).await;
    app.mail_titled(ANN, "Done: annadmin invited a new administrator").await;
    assert_eq!(app.audit("authz_admin_approval_waived").await.len(), 1);
}

#[tokio::test]
async fn inviting_an_address_with_an_account_looks_the_same_to_the_inviter_and_mails_its_owner_no_link() {
    let app = with_admin().await;
    app.create_account(IVY, "ivy", Role::User).await;
    let taken = invite(&app, &app.client, IVY, "user").await;
    let fresh = invite(&app, &app.client, "new.person@example.com", "user").await;
    assert_eq!((taken.status, &taken.body, &taken.location), (fresh.status, &fresh.body, &fresh.location));
    let listed = list(&app, &app.client).await;
    assert_eq!((listed[0].status.as_str(), listed[1].status.as_str()), ("sent", "sent"));
    let notice = app.nth_mail(IVY, 1).await;
    let invitation = app.nth_mail("new.person@example.com", 1).await;
    assert_eq!(notice.subject(), invitation.subject());
    assert!(notice.link_token(INVITATION_PATH).is_none(), "the owner's mail has no link");
    assert!(notice.raw.contains("you already have one"));
    assert!(invitation.link_token(INVITATION_PATH).is_some());
}

#[tokio::test]
async fn invite_only_sign_up_refuses_every_address_alike_and_invitations_still_work() {
    let app = with_admin_on(
        spawn_app_with(|settings| settings.access.signup = server::config::access::SignupMode::Invite).await,
    )
    .await;
    app.create_account(IVY, "ivy", Role::User).await;
    let browser = app.new_browser();
    let existing = app
        .post_form_with(
            &browser.client,
            "/api/signup",
            &[("email", IVY), ("username", "ivy9"), ("password", PASSWORD)],
        )
        .await;
    let new = app
        .post_form_with(
            &browser.client,
            "/api/signup",
            &[("email", "nobody.yet@example.com"), ("username", "nobodyyet"), ("password", PASSWORD)],
        )
        .await;
    let malformed = app
        .post_form_with(&browser.client, "/api/signup", &[("email", "x"), ("username", ""), ("password", "")])
        .await;
    assert_eq!(existing.status, 403, "{}", existing.body);
    assert!(existing.body.contains("SignupByInvitation"), "{}", existing.body);
    assert_eq!((existing.status, &existing.body), (new.status, &new.body));
    assert_eq!((existing.status, &existing.body), (malformed.status, &malformed.body));
    assert_eq!(
        app.post_form_with(&browser.client, "/api/resend-verification", &[("email", IVY)]).await.status,
        403
    );
    app.outbox_drained().await;
    assert_eq!(app.pending_count().await, 0);
    assert!(app.mails_to("nobody.yet@example.com").is_empty());
    let page = browser.client.get(app.url("/signup")).send().await.expect("page").text().await.expect("body");
    assert!(page.contains("Sign-up is by invitation"), "the page says so");
    assert!(!page.contains("name=\"password\""), "and has no form");
    // An invitation is the way in.
    assert_eq!(invite(&app, &app.client, "nobody.yet@example.com", "user").await.status, 200);
    let token = link(&app, "nobody.yet@example.com", 1).await;
    assert_eq!(accept(&app, &token, "nobodyyet").await.status, 200);
}

#[tokio::test]
async fn inviting_needs_a_fresh_step_up_and_a_stale_one_sends_nothing() {
    let app = with_admin().await;
    app.clock.advance(6 * 60);
    let reply = invite(&app, &app.client, IVY, "user").await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(reply.body.contains("StepUpRequired"), "{}", reply.body);
    assert!(list(&app, &app.client).await.is_empty());
    app.create_account("ursula@example.com", "ursula", Role::User).await;
    let user = app.browser_signed_in("ursula@example.com", PASSWORD).await;
    assert_eq!(invite(&app, &user.client, IVY, "admin").await.status, 403, "not an admin");
}

#[tokio::test]
async fn the_command_line_invites_the_first_admin_and_is_told_about_a_taken_address() {
    let app = spawn_app().await;
    let answer =
        server::provision::invite(&app.state.settings, IVY, Role::Admin, true).await.expect("invited");
    let token = answer.rsplit("token=").next().expect("the printed link").trim().to_owned();
    // Queued at the command line's (real) time, which the app's stopped clock has not
    // reached; the running server's sender finds it on its next look (every ten seconds).
    app.clock.advance(60);
    app.state.outbox.wake();
    assert_eq!(token, link(&app, IVY, 1).await, "the printed link is the mailed one");
    assert_eq!(accept(&app, &token, "ivyadmin").await.status, 200);
    assert_eq!(role_of(&app, IVY).await.as_deref(), Some("admin"));
    let again = server::provision::invite(&app.state.settings, IVY, Role::User, false).await;
    assert!(again.expect_err("taken").contains("already exists"));
    let plain = server::provision::invite(&app.state.settings, "other@example.com", Role::User, false).await;
    assert!(!plain.expect("invited").contains("token="), "no link unless asked for");
}

#[tokio::test]
async fn an_erased_account_leaves_no_invitation_naming_it() {
    let app = with_admin().await;
    assert_eq!(invite(&app, &app.client, IVY, "user").await.status, 200);
    let token = link(&app, IVY, 1).await;
    assert_eq!(accept(&app, &token, "ivy").await.status, 200);
    let ivy = app.browser_signed_in(IVY, PASSWORD).await;
    assert_eq!(app.step_up_with(&ivy.client).await.status, 200);
    assert_eq!(app.post_form_with(&ivy.client, "/api/account/delete", &[]).await.status, 200);
    app.clock.advance(8 * 24 * 3600);
    assert!(server::clean_up(&app.state).await.is_empty());
    let left: i64 = bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT COUNT(*) FROM invitations WHERE email = $1")
        .bind(IVY)
        .fetch_one(c)
        .await)
    .expect("count");
    assert_eq!(left, 0);
}

#[tokio::test]
async fn an_admin_invitation_is_sent_once_and_its_link_dies_with_its_inviters_power() {
    let app = with_admin().await;
    assert_eq!(invite(&app, &app.client, IVY, "admin").await.status, 200);
    let token = link(&app, IVY, 1).await;
    let id = list(&app, &app.client).await[0].id.to_string();
    app.clock.advance(11 * 60);
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    // Approved (here: waived) for one link: not sent again, even after it expired.
    let again = app.post_form_with(&app.client, "/api/admin/invitation/resend", &[("id", &id)]).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body.contains("InvitationAdminResend"), "{}", again.body);
    // Ann is demoted (from the command line; Bob stays an admin): her link dies with it.
    app.create_account(BOB, "bobadmin", Role::Admin).await;
    let demoted = server::provision::operator(
        &app.state.settings,
        ANN,
        bulwark::admin::OperatorAction::SetRole(Role::User),
    )
    .await;
    assert!(demoted.is_ok(), "{demoted:?}");
    let offer =
        app.post_form_with(&app.new_browser().client, "/api/invitation/offer", &[("token", &token)]).await;
    assert_eq!(offer.status, 400, "{}", offer.body);
    assert_eq!(accept(&app, &token, "ivyadmin").await.status, 400);
    assert_eq!(role_of(&app, IVY).await, None);
}

#[tokio::test]
async fn one_address_gets_a_few_invitations_a_day_whoever_sends_them() {
    let app = with_admin().await;
    for _ in 0..5 {
        assert_eq!(invite(&app, &app.client, IVY, "user").await.status, 200);
    }
    let flood = invite(&app, &app.client, IVY, "user").await;
    assert_eq!(flood.status, 429, "{}", flood.body);
    // The same for an address that has an account: the cap says nothing about it.
    app.create_account("owner@example.com", "oliveowner", Role::User).await;
    for _ in 0..5 {
        assert_eq!(invite(&app, &app.client, "owner@example.com", "user").await.status, 200);
    }
    assert_eq!(invite(&app, &app.client, "owner@example.com", "user").await.status, 429);
    app.outbox_drained().await;
    assert_eq!(app.mails_to(IVY).len(), 5);
}

#[tokio::test]
async fn the_data_export_says_which_invitation_made_the_account_without_naming_the_admin() {
    let app = with_admin().await;
    assert_eq!(invite(&app, &app.client, IVY, "user").await.status, 200);
    let token = link(&app, IVY, 1).await;
    assert_eq!(accept(&app, &token, "ivy").await.status, 200);
    let id = role_id(&app, IVY).await;
    let export = bulwark::export::export(&app.pool, id, bulwark::clock::Clock::now(&app.clock))
        .await
        .expect("export")
        .expect("account");
    let json = serde_json::to_value(&export).expect("json");
    assert_eq!(json["invitation"]["role"], "user");
    assert_eq!(json["invitation"]["invited_by"], "an administrator");
    assert!(!json.to_string().contains("annadmin"), "the admin is not named");
}

async fn role_id(app: &TestApp, email: &str) -> i64 {
    bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(c)
        .await)
    .expect("id")
}

#[tokio::test]
async fn a_link_stays_dead_once_its_inviter_lost_access_and_another_admins_resend_revives_it() {
    let app = with_admin().await;
    app.create_account(BOB, "bobadmin", Role::Admin).await;
    assert_eq!(invite(&app, &app.client, IVY, "user").await.status, 200);
    let token = link(&app, IVY, 1).await;
    let id = list(&app, &app.client).await[0].id.to_string();
    // Ann is demoted and promoted again (from the command line): her link stays dead.
    for role in [Role::User, Role::Admin] {
        let changed = server::provision::operator(
            &app.state.settings,
            ANN,
            bulwark::admin::OperatorAction::SetRole(role),
        )
        .await;
        assert!(changed.is_ok(), "{changed:?}");
    }
    assert_eq!(accept(&app, &token, "ivy").await.status, 400, "dead for good");
    let bob = app.browser_signed_in(BOB, PASSWORD).await;
    assert_eq!(app.step_up_with(&bob.client).await.status, 200);
    assert_eq!(list(&app, &bob.client).await[0].status, "void");
    app.clock.advance(11 * 60);
    assert_eq!(app.step_up_with(&bob.client).await.status, 200);
    let resent = app.post_form_with(&bob.client, "/api/admin/invitation/resend", &[("id", &id)]).await;
    assert_eq!(resent.status, 200, "{}", resent.body);
    let fresh = link(&app, IVY, 2).await;
    assert_eq!(accept(&app, &fresh, "ivy").await.status, 200, "Bob vouches for it now");
}
