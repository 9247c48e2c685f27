//! Passkeys through the real router, driven by the software authenticator
//! (`bulwark::factors::passkeys::soft`): registration after a step-up, a sign-in with no
//! address (once per answer, whatever the concurrency), the second step, step-up, the
//! throttle on starts, and the admin's factor reset.

use bulwark::{factors::passkeys::soft::SoftAuthenticator, Role};

use crate::helpers::*;

/// The options a `…-start` server function answered with (a JSON string of JSON).
fn options(reply: &Reply) -> String {
    assert_eq!(reply.status, 200, "{}", reply.body);
    serde_json::from_str::<String>(&reply.body).expect("a JSON string")
}

/// Ann, signed in on a browser of her own, adds `authenticator` as a passkey.
async fn ann_with_passkey(app: &TestApp, authenticator: &mut SoftAuthenticator) -> Browser {
    app.create_account("ann@example.com", "ann", Role::User).await;
    let browser = app.browser_signed_in("ann@example.com", PASSWORD).await;
    let refused = app.post_raw(&browser.client, "/api/passkey-add-start", &[("name", "Laptop")]).await;
    assert_eq!(refused.status, 403, "adding a passkey needs a step-up: {}", refused.body);
    let stepped = app.post_raw(&browser.client, "/api/step-up", &[("password", PASSWORD)]).await;
    assert_eq!(stepped.status, 200, "{}", stepped.body);
    let start = app.post_raw(&browser.client, "/api/passkey-add-start", &[("name", "Laptop")]).await;
    let response = authenticator.register(&options(&start));
    let added = app
        .post_raw(&browser.client, "/api/passkey-add", &[("name", "Laptop"), ("response", &response)])
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(
        added.location.as_deref(),
        Some("/account/security/recovery-codes"),
        "the first factor's codes"
    );
    browser
}

async fn passkey_sign_in(app: &TestApp, browser: &Browser, authenticator: &mut SoftAuthenticator) -> Reply {
    let start = app.post_raw(&browser.client, "/api/passkey-sign-in-start", &[]).await;
    let response = authenticator.assert(&options(&start));
    app.post_raw(&browser.client, "/api/passkey-sign-in", &[("response", &response)]).await
}

#[tokio::test]
async fn a_passkey_signs_in_without_an_address_once_per_answer() {
    let app = spawn_app().await;
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    ann_with_passkey(&app, &mut authenticator).await;
    app.mail_titled("ann@example.com", "A passkey was added").await;
    assert_eq!(app.audit("authn_factor_added").await.len(), 1);

    let browser = app.new_browser();
    let start = app.post_raw(&browser.client, "/api/passkey-sign-in-start", &[]).await;
    assert!(browser.cookie("bulwark-passkey").is_some(), "the ceremony is tied to this browser");
    let response = authenticator.assert(&options(&start));
    // Twenty requests carry the one answer at once: one sign-in.
    let forms = (0..20).map(|_| vec![("response".to_owned(), response.clone())]).collect();
    let replies = app.burst(&browser.client, "/api/passkey-sign-in", forms).await;
    let signed_in = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(signed_in, 1, "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    assert!(replies.iter().all(|r| r.status == 200 || r.status == 401));
    assert_eq!(app.post_raw(&browser.client, "/api/me", &[]).await.status, 200);
    let details: Vec<String> = bulwark::on_db!(&app.pool, c => sqlx::query_scalar(
        "SELECT details FROM audit_events WHERE event = 'authn_login_success' ORDER BY id",
    )
    .fetch_all(c)
    .await)
    .expect("audit");
    assert!(details.last().is_some_and(|d| d.contains("\"factor\":\"passkey\"")), "{details:?}");

    // Replayed from another browser (no ceremony of its own), the answer is nothing.
    let thief = app.new_browser();
    let replay = app.post_raw(&thief.client, "/api/passkey-sign-in", &[("response", &response)]).await;
    assert_eq!(replay.status, 401, "{}", replay.body);
    assert_eq!(app.post_raw(&thief.client, "/api/me", &[]).await.status, 401);
}

#[tokio::test]
async fn after_the_password_a_passkey_answers_the_second_step_and_the_password_alone_no_longer_steps_up() {
    let app = spawn_app().await;
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    ann_with_passkey(&app, &mut authenticator).await;
    let browser = app.new_browser();
    let form = [("email", "ann@example.com"), ("password", PASSWORD)];
    let reply = app.post_raw(&browser.client, "/api/login", &form).await;
    assert_eq!(reply.location.as_deref(), Some(SECOND_STEP), "{}", reply.body);
    let offers = app.post_raw(&browser.client, "/api/second-step-offers", &[]).await;
    assert!(offers.body.contains("\"passkey\":true"), "{}", offers.body);
    let start = app.post_raw(&browser.client, "/api/second-step-passkey-start", &[]).await;
    let response = authenticator.assert(&options(&start));
    let passed = app.post_raw(&browser.client, "/api/second-step-passkey", &[("response", &response)]).await;
    assert_eq!(passed.status, 200, "{}", passed.body);
    assert_eq!(app.post_raw(&browser.client, "/api/me", &[]).await.status, 200);

    // The password alone is no step-up now; the passkey is.
    let password = app.post_raw(&browser.client, "/api/step-up", &[("password", PASSWORD)]).await;
    assert_ne!(password.status, 200, "{}", password.body);
    let start = app.post_raw(&browser.client, "/api/step-up-passkey-start", &[]).await;
    let response = authenticator.assert(&options(&start));
    let stepped = app
        .post_raw(&browser.client, "/api/step-up-passkey", &[("response", &response), ("next", "/")])
        .await;
    assert_eq!(stepped.status, 200, "{}", stepped.body);
    // Without user verification the passkey is refused.
    authenticator.user_verified = false;
    let start = app.post_raw(&browser.client, "/api/step-up-passkey-start", &[]).await;
    let response = authenticator.assert(&options(&start));
    let refused = app
        .post_raw(&browser.client, "/api/step-up-passkey", &[("response", &response), ("next", "/")])
        .await;
    assert_eq!(refused.status, 401, "{}", refused.body);
}

#[tokio::test]
async fn a_passkey_sign_in_answers_nothing_about_accounts_and_its_starts_are_throttled() {
    let app = spawn_app_with(|settings| settings.throttle.passkey_starts_per_minute = 3).await;
    let browser = app.new_browser();
    // Nobody's passkey: the same 401 as a refused one, and no address was ever sent.
    let mut stranger = SoftAuthenticator::new(ORIGIN);
    stranger.user_handle = vec![1; 16];
    let unknown = passkey_sign_in(&app, &browser, &mut stranger).await;
    assert_eq!(unknown.status, 401, "{}", unknown.body);
    for _ in 0..2 {
        assert_eq!(app.post_raw(&browser.client, "/api/passkey-sign-in-start", &[]).await.status, 200);
    }
    let fourth = app.post_raw(&browser.client, "/api/passkey-sign-in-start", &[]).await;
    assert_eq!(fourth.status, 429, "{}", fourth.body);
}

#[tokio::test]
async fn an_admins_factor_reset_removes_the_passkeys_and_a_disabled_account_gets_no_session() {
    let app = spawn_app().await;
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    ann_with_passkey(&app, &mut authenticator).await;
    let ann = bulwark::Email::parse("ann@example.com").expect("email");
    let id =
        bulwark::accounts::store::find_user_by_email(&app.pool, &ann).await.expect("db").expect("user").id;
    app.create_account("boss@example.com", "boss", Role::Admin).await;
    assert_eq!(app.login("boss@example.com", PASSWORD).await.status, 200);
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    let detail = app.post_form("/api/admin/user", &[("id", &id.to_string())]).await;
    assert!(detail.body.contains("Laptop"), "the admin sees the passkey's name: {}", detail.body);

    let disabled = app
        .post_form("/api/admin/disable", &[("id", &id.to_string()), ("reason", "a test of disabling")])
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    let browser = app.new_browser();
    let refused = passkey_sign_in(&app, &browser, &mut authenticator).await;
    assert_eq!(refused.status, 403, "a disabled account: {}", refused.body);
    assert_eq!(app.post_raw(&browser.client, "/api/me", &[]).await.status, 401);

    let reset = app
        .post_form("/api/admin/reset-factors", &[("id", &id.to_string()), ("reason", "lost every device")])
        .await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert!(app.state.factors.passkeys(id).await.expect("passkeys").is_empty(), "the passkeys are gone");
}
