//! The other doors of an account with a second factor, through the real router: a reset
//! link, step-up, an admin without a factor, an admin's reset of a user's factors, the
//! set-up itself, and revocations that must reach sign-ins waiting for their second step.

use bulwark::{clock::Clock, factors::TotpSecret, Role};

use crate::{
    helpers::*,
    two_factor::{code_at, user_with_factor},
};

#[tokio::test]
async fn a_reset_link_alone_does_not_change_the_password_of_an_account_with_a_factor() {
    let app = spawn_app().await;
    user_with_factor(&app, "ann@example.com", "ann").await;
    assert_eq!(app.forgot_password("ann@example.com").await.status, 200);
    let token = app.mail_titled("ann@example.com", "Reset your password").await.reset_token().expect("token");
    let new = "crimson walrus lantern opera 41";
    let without =
        app.post_raw(&app.client, "/api/reset-password", &[("token", &token), ("password", new)]).await;
    assert_eq!(without.status, 422, "{}", without.body);
    assert!(without.body.contains(bulwark::messages::CODE_EMPTY), "{}", without.body);
    let wrong = app
        .post_raw(
            &app.client,
            "/api/reset-password",
            &[("token", &token), ("password", new), ("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    // The link still works, and with a code it sets the password (and signs nobody in).
    let code = code_at(&app, 0);
    let done = app
        .post_raw(
            &app.client,
            "/api/reset-password",
            &[("token", &token), ("password", new), ("code", &code)],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(app.me().await.status, 401, "a mailed link never signs in");
    let browser = app.new_browser();
    let old = app
        .post_raw(&browser.client, "/api/login", &[("email", "ann@example.com"), ("password", PASSWORD)])
        .await;
    assert_eq!(old.status, 401);
}

#[tokio::test]
async fn on_an_account_with_a_factor_the_password_alone_is_no_step_up() {
    let app = spawn_app().await;
    user_with_factor(&app, "ann@example.com", "ann").await;
    let browser = app.browser_signed_in("ann@example.com", PASSWORD).await;
    let password_only =
        app.post_raw(&browser.client, "/api/step-up", &[("password", PASSWORD), ("next", "/")]).await;
    assert_eq!(password_only.status, 422, "{}", password_only.body);
    let revoke = app.post_raw(&browser.client, "/api/sessions/revoke-others", &[]).await;
    assert_eq!(revoke.status, 403, "{}", revoke.body);
    let change = app
        .post_raw(
            &browser.client,
            "/api/change-password",
            &[("current_password", PASSWORD), ("password", "crimson walrus lantern opera 41")],
        )
        .await;
    assert_eq!(change.status, 403, "the current password alone does not change it: {}", change.body);
    app.clock.advance(30);
    let with_code =
        app.post_raw(&browser.client, "/api/step-up", &[("code", &code_at(&app, 0)), ("next", "/")]).await;
    assert_eq!(with_code.status, 200, "{}", with_code.body);
    assert_eq!(app.post_raw(&browser.client, "/api/sessions/revoke-others", &[]).await.status, 200);
}

#[tokio::test]
async fn an_admin_without_a_factor_reaches_only_its_set_up() {
    let app = spawn_app().await;
    // Made the way `server create-admin` makes one (no --totp-secret).
    server::provision::create_account(
        &app.state.settings,
        "root@example.com",
        "chief",
        PASSWORD,
        Role::Admin,
    )
    .await
    .expect("admin");
    let browser = app.browser_signed_in("root@example.com", PASSWORD).await;
    let users = app.post_raw(&browser.client, "/api/admin/users", &[]).await;
    assert_eq!(users.status, 403, "{}", users.body);
    assert!(users.body.contains("FactorRequired"), "{}", users.body);
    let page = browser.client.get(app.url("/admin")).send().await.expect("page");
    assert_eq!(page.headers().get("location").and_then(|v| v.to_str().ok()), Some("/account/security"));
    // Set-up: a step-up with the password, the QR code page, a code.
    assert_eq!(
        app.post_raw(&browser.client, "/api/step-up", &[("password", PASSWORD), ("next", "/")]).await.status,
        200
    );
    let setup = browser.client.get(app.url("/account/security/app")).send().await.expect("page");
    assert_eq!(setup.headers().get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    let html = setup.text().await.expect("html");
    assert!(html.contains("<svg"), "the QR code is drawn on the server");
    let key = app.post_raw(&browser.client, "/api/totp-setup", &[]).await;
    let view: app::api::SetupView = serde_json::from_str(&key.body).expect("setup");
    let secret = TotpSecret::from_base32(&view.key).expect("key");
    let code = secret.code_at_step(TotpSecret::step_at(app.clock.now()));
    let confirmed = app
        .post_raw(&browser.client, "/api/totp-confirm", &[("code", &code), ("sign_out_others", "on")])
        .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    let shown = app.post_raw(&browser.client, "/api/recovery-codes", &[]).await;
    let codes: Option<Vec<String>> = serde_json::from_str(&shown.body).expect("codes");
    assert_eq!(codes.map(|c| c.len()), Some(10));
    assert_eq!(app.post_raw(&browser.client, "/api/recovery-codes-saved", &[]).await.status, 200);
    let shown = app.post_raw(&browser.client, "/api/recovery-codes", &[]).await;
    assert_eq!(shown.body, "null", "shown once");
    assert_eq!(app.post_raw(&browser.client, "/api/admin/users", &[]).await.status, 200);
    app.mail_titled("root@example.com", "Two-factor sign-in is on").await;
    // An admin's factor stays.
    let removed = app.post_raw(&browser.client, "/api/totp-remove", &[]).await;
    assert_eq!(removed.status, 409, "{}", removed.body);
}

#[tokio::test]
async fn an_admin_resets_a_users_lost_factors_with_a_reason_and_every_session_ends() {
    let app = spawn_app().await;
    user_with_factor(&app, "ann@example.com", "ann").await;
    let email = bulwark::Email::parse("ann@example.com").expect("email");
    let ann =
        bulwark::accounts::store::find_user_by_email(&app.pool, &email).await.expect("db").expect("user").id;
    let owner = app.browser_signed_in("ann@example.com", PASSWORD).await;
    app.create_account("boss@example.com", "boss", Role::Admin).await;
    assert_eq!(app.login("boss@example.com", PASSWORD).await.status, 200);
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    let id = ann.to_string();
    let without_reason = app.post_form("/api/admin/reset-factors", &[("id", &id), ("reason", " ")]).await;
    assert_eq!(without_reason.status, 422, "{}", without_reason.body);
    let reset = app
        .post_form(
            "/api/admin/reset-factors",
            &[("id", &id), ("reason", "lost phone, verified by video call")],
        )
        .await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert_eq!(app.post_raw(&owner.client, "/api/me", &[]).await.status, 401, "every session ends");
    app.mail_titled("ann@example.com", "Your two-factor sign-in was reset").await;
    assert_eq!(app.audit("authz_admin_factors_reset").await.len(), 1);
    // Whoever knew the password cannot just set up a factor of their own: the password is
    // gone too, and the owner's mailbox gets the link that sets a new one.
    let again = app.new_browser();
    let old = [("email", "ann@example.com"), ("password", PASSWORD)];
    assert_eq!(app.post_raw(&again.client, "/api/login", &old).await.status, 401);
    let link = app.mail_titled("ann@example.com", "Choose a new password for your account").await;
    let token = link.reset_token().expect("a reset link");
    let new = "crimson walrus lantern opera 41";
    let reset =
        app.post_raw(&again.client, "/api/reset-password", &[("token", &token), ("password", new)]).await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    let reply =
        app.post_raw(&again.client, "/api/login", &[("email", "ann@example.com"), ("password", new)]).await;
    assert_eq!(reply.location.as_deref(), Some("/"), "no second step any more: {}", reply.body);
    // Nothing left to reset: no second event.
    let twice = app.post_form("/api/admin/reset-factors", &[("id", &id), ("reason", "again")]).await;
    assert_eq!(twice.status, 200, "{}", twice.body);
    assert_eq!(app.audit("authz_admin_factors_reset").await.len(), 1);
}

#[tokio::test]
async fn a_second_step_whose_accounts_sessions_were_ended_meanwhile_makes_no_session() {
    let app = spawn_app().await;
    user_with_factor(&app, "ann@example.com", "ann").await;
    let stranger = app.new_browser();
    app.post_raw(&stranger.client, "/api/login", &[("email", "ann@example.com"), ("password", PASSWORD)])
        .await;
    // What a password reset or an admin's "sign out everywhere" does to the account.
    bulwark::on_db!(&app.pool, c => sqlx::query("UPDATE users SET session_epoch = session_epoch + 1").execute(c).await.map(bulwark::db::Done::from))
        .expect("epoch");
    let reply = app.post_raw(&stranger.client, "/api/second-step", &[("code", &code_at(&app, 0))]).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(app.post_raw(&stranger.client, "/api/me", &[]).await.status, 401);
}

#[tokio::test]
async fn an_enrolment_started_by_another_session_shows_it_nothing_and_confirms_nothing() {
    let app = spawn_app().await;
    app.register("ann@example.com", "ann").await;
    let owner = app.browser_signed_in("ann@example.com", PASSWORD).await;
    let thief = app.browser_signed_in("ann@example.com", PASSWORD).await;
    for browser in [&owner, &thief] {
        assert_eq!(
            app.post_raw(&browser.client, "/api/step-up", &[("password", PASSWORD), ("next", "/")])
                .await
                .status,
            200
        );
    }
    let setup = |browser: &Browser| {
        let client = browser.client.clone();
        let url = app.url("/api/totp-setup");
        async move {
            let body = client
                .post(url)
                .header("accept", "application/json")
                .send()
                .await
                .expect("setup")
                .text()
                .await
                .expect("body");
            serde_json::from_str::<app::api::SetupView>(&body).expect("view").key
        }
    };
    let owners = setup(&owner).await;
    let thiefs = setup(&thief).await;
    assert_ne!(owners, thiefs, "the thief never sees the owner's secret");
    // The owner's confirmation now fails (the thief's start replaced it): they start again.
    let code =
        TotpSecret::from_base32(&owners).expect("key").code_at_step(TotpSecret::step_at(app.clock.now()));
    let stale = app.post_raw(&owner.client, "/api/totp-confirm", &[("code", &code)]).await;
    assert_eq!(stale.status, 409, "{}", stale.body);
    let again = setup(&owner).await;
    let code =
        TotpSecret::from_base32(&again).expect("key").code_at_step(TotpSecret::step_at(app.clock.now()));
    let done = app.post_raw(&owner.client, "/api/totp-confirm", &[("code", &code)]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    // The thief's session was signed out with it.
    assert_eq!(app.post_raw(&thief.client, "/api/me", &[]).await.status, 401);
    assert_eq!(app.post_raw(&owner.client, "/api/me", &[]).await.status, 200);
}

#[tokio::test]
async fn a_password_step_up_stops_counting_once_the_owner_sets_up_an_app() {
    let app = spawn_app().await;
    app.register("ann@example.com", "ann").await;
    let owner = app.browser_signed_in("ann@example.com", PASSWORD).await;
    let thief = app.browser_signed_in("ann@example.com", PASSWORD).await;
    for browser in [&owner, &thief] {
        let form = [("password", PASSWORD), ("next", "/")];
        assert_eq!(app.post_raw(&browser.client, "/api/step-up", &form).await.status, 200);
    }
    let reply = app.post_raw(&owner.client, "/api/totp-setup", &[]).await;
    let view: app::api::SetupView = serde_json::from_str(&reply.body).expect("view");
    let code =
        TotpSecret::from_base32(&view.key).expect("key").code_at_step(TotpSecret::step_at(app.clock.now()));
    // The owner keeps their other browsers (the thief's among them).
    let done =
        app.post_raw(&owner.client, "/api/totp-confirm", &[("code", &code), ("keep_others", "on")]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(app.post_raw(&thief.client, "/api/me", &[]).await.status, 200, "kept, as asked");
    // The thief's password step-up no longer counts, the new codes are not theirs to see,
    // and the password alone does not step up again.
    let codes = app.post_raw(&thief.client, "/api/recovery-codes", &[]).await;
    assert_eq!(codes.status, 403, "{}", codes.body);
    let removed = app.post_raw(&thief.client, "/api/totp-remove", &[]).await;
    assert_eq!(removed.status, 403, "{}", removed.body);
    let again = app.post_raw(&thief.client, "/api/step-up", &[("password", PASSWORD), ("next", "/")]).await;
    assert_eq!(again.status, 422, "{}", again.body);
    // The owner sees their codes.
    let shown = app.post_raw(&owner.client, "/api/recovery-codes", &[]).await;
    let codes: Option<Vec<String>> = serde_json::from_str(&shown.body).expect("codes");
    assert_eq!(codes.map(|c| c.len()), Some(10));
}

#[tokio::test]
async fn signing_out_everywhere_ends_sign_ins_waiting_for_their_second_step() {
    let app = spawn_app().await;
    user_with_factor(&app, "ann@example.com", "ann").await;
    let owner = app.browser_signed_in("ann@example.com", PASSWORD).await;
    let stranger = app.new_browser();
    app.post_raw(&stranger.client, "/api/login", &[("email", "ann@example.com"), ("password", PASSWORD)])
        .await;
    assert_eq!(app.step_up_with(&owner.client).await.status, 200);
    assert_eq!(app.post_raw(&owner.client, "/api/sessions/revoke-others", &[]).await.status, 200);
    app.clock.advance(30);
    let reply = app.post_raw(&stranger.client, "/api/second-step", &[("code", &code_at(&app, 0))]).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
}
