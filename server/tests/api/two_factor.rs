//! Two-factor sign-in through the real router: the right password makes no session, only
//! the second step does (once per code, whatever the concurrency), and guessing is bounded
//! per account while the owner's known browser keeps its way in. The other doors are in
//! `two_factor_doors.rs`.

use bulwark::{clock::Clock, factors::TotpSecret, Role};

use crate::helpers::*;

/// A user with an authenticator app ([`TOTP_SECRET`]); their recovery codes.
pub(crate) async fn user_with_factor(app: &TestApp, email: &str, username: &str) -> Vec<String> {
    let id = app.create_account(email, username, Role::User).await;
    let mut connection = app.pool.acquire().await.expect("connection");
    let user = bulwark::accounts::store::find_user(&mut connection, id).await.expect("db").expect("user");
    let secret = TotpSecret::from_base32(TOTP_SECRET).expect("base32");
    app.state.factors.enrol_with_secret(&user, &secret, &Default::default()).await.expect("enrolled")
}

pub(crate) fn code_at(app: &TestApp, steps_back: i64) -> String {
    let secret = TotpSecret::from_base32(TOTP_SECRET).expect("base32");
    secret.code_at_step(TotpSecret::step_at(app.clock.now()) - steps_back)
}

#[tokio::test]
async fn the_right_password_makes_no_session_only_the_second_step_does() {
    let app = spawn_app().await;
    user_with_factor(&app, "ann@example.com", "ann").await;
    let browser = app.new_browser();
    let reply = app
        .post_raw(&browser.client, "/api/login", &[("email", "ann@example.com"), ("password", PASSWORD)])
        .await;
    assert_eq!(reply.location.as_deref(), Some(SECOND_STEP), "{}", reply.body);
    assert_eq!(app.post_raw(&browser.client, "/api/me", &[]).await.status, 401, "no session yet");
    // The pending step's cookie, offered as a session cookie, is nothing.
    let pending = named(&browser, "bulwark-second-step").expect("a second-step cookie");
    let replayed = client_with_cookie(&app, &pending);
    assert_eq!(app.post_raw(&replayed, "/api/me", &[]).await.status, 401);
    let before = browser.session_cookie();
    let wrong = app.post_raw(&browser.client, "/api/second-step", &[("code", "000000")]).await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    let passed = app.post_raw(&browser.client, "/api/second-step", &[("code", &code_at(&app, 0))]).await;
    assert_eq!(passed.status, 200, "{}", passed.body);
    assert_eq!(app.post_raw(&browser.client, "/api/me", &[]).await.status, 200);
    assert_ne!(browser.session_cookie(), before, "a new session id");
    // The pending step is used up.
    let again = app.post_raw(&browser.client, "/api/second-step", &[("code", &code_at(&app, 0))]).await;
    assert_eq!(again.status, 401, "{}", again.body);
    let events = app.audit("authn_login_success").await;
    assert_eq!(events.len(), 1, "one sign-in, written when it completed");
}

fn named(browser: &Browser, name: &str) -> Option<String> {
    browser.cookie(name)
}

#[tokio::test]
async fn a_code_signs_in_once_even_when_twenty_requests_carry_it() {
    let app = spawn_app().await;
    user_with_factor(&app, "ann@example.com", "ann").await;
    let mut browsers = Vec::new();
    for _ in 0..20 {
        let browser = app.new_browser();
        let form = [("email", "ann@example.com"), ("password", PASSWORD)];
        let reply = app.post_raw(&browser.client, "/api/login", &form).await;
        assert_eq!(reply.location.as_deref(), Some(SECOND_STEP));
        browsers.push(browser);
    }
    let code = code_at(&app, 0);
    let tasks: Vec<_> = browsers
        .iter()
        .map(|browser| {
            let (client, url, code) = (browser.client.clone(), app.url("/api/second-step"), code.clone());
            tokio::spawn(async move {
                let response = client
                    .post(url)
                    .header("accept", "application/json")
                    .form(&[("code", code)])
                    .send()
                    .await;
                response.expect("request").status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("task"));
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    let signed_in = {
        let mut count = 0;
        for browser in &browsers {
            if app.post_raw(&browser.client, "/api/me", &[]).await.status == 200 {
                count += 1;
            }
        }
        count
    };
    assert_eq!(signed_in, 1);
    // The previous step's code still works once (a clock a little behind); older ones never.
    let fresh = app.new_browser();
    app.post_raw(&fresh.client, "/api/login", &[("email", "ann@example.com"), ("password", PASSWORD)]).await;
    let older = app.post_raw(&fresh.client, "/api/second-step", &[("code", &code_at(&app, 2))]).await;
    assert_eq!(older.status, 422, "t-2 is refused");
}

#[tokio::test]
async fn a_burst_of_wrong_codes_checks_at_most_the_budget_and_the_owner_still_gets_in() {
    let app = spawn_app().await;
    user_with_factor(&app, "ann@example.com", "ann").await;
    // The owner's browser signed in before: it holds a device cookie.
    let owner = app.browser_signed_in("ann@example.com", PASSWORD).await;
    assert!(owner.device_cookie().is_some());
    app.post_form_with(&owner.client, "/api/logout", &[]).await;
    app.clock.advance(60);
    // A stranger who has the password opens eight pending steps and sends forty guesses.
    let mut strangers = Vec::new();
    for _ in 0..8 {
        let stranger = app.new_browser();
        app.post_raw(&stranger.client, "/api/login", &[("email", "ann@example.com"), ("password", PASSWORD)])
            .await;
        strangers.push(stranger);
    }
    let mut tasks = Vec::new();
    for n in 0..40 {
        let stranger = &strangers[n % 8];
        let (client, url) = (stranger.client.clone(), app.url("/api/second-step"));
        let guess = format!("{:06}", (n * 7919) % 1_000_000);
        tasks.push(tokio::spawn(async move {
            let response =
                client.post(url).header("accept", "application/json").form(&[("code", guess)]).send().await;
            response.expect("request").status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("task"));
    }
    let checked = statuses.iter().filter(|s| **s == 422).count();
    assert!(checked <= 5, "{checked} guesses were checked: {statuses:?}");
    assert!(statuses.iter().all(|s| [422, 429, 401].contains(s)), "{statuses:?}");
    // The owner's known browser: the password, then a right code.
    let reply = app
        .post_form_with(&owner.client, "/api/login", &[("email", "ann@example.com"), ("password", PASSWORD)])
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(app.post_raw(&owner.client, "/api/me", &[]).await.status, 200);
}

#[tokio::test]
async fn wrong_codes_after_the_right_password_tell_the_owner_once_an_hour() {
    let app = spawn_app().await;
    user_with_factor(&app, "ann@example.com", "ann").await;
    let stranger = app.new_browser();
    app.post_raw(&stranger.client, "/api/login", &[("email", "ann@example.com"), ("password", PASSWORD)])
        .await;
    let first = app.post_raw(&stranger.client, "/api/second-step", &[("code", "000000")]).await;
    assert_eq!(first.status, 422);
    assert!(
        app.mails_to("ann@example.com").iter().all(|m| m.subject() != "Someone may know your password"),
        "one typo is not an alarm"
    );
    assert_eq!(app.post_raw(&stranger.client, "/api/second-step", &[("code", "111111")]).await.status, 422);
    let alarm = app.mail_titled("ann@example.com", "Someone may know your password").await;
    assert!(alarm.raw.contains("/account/password"), "with the way to change it");
    assert!(!alarm.raw.contains("127.0.0.1"), "the network, not the address");
    // More wrong codes within the hour: no second mail.
    let again = app.new_browser();
    app.post_raw(&again.client, "/api/login", &[("email", "ann@example.com"), ("password", PASSWORD)]).await;
    for code in ["222222", "333333"] {
        app.post_raw(&again.client, "/api/second-step", &[("code", code)]).await;
    }
    app.outbox_drained().await;
    let alarms = app
        .mails_to("ann@example.com")
        .iter()
        .filter(|m| m.subject() == "Someone may know your password")
        .count();
    assert_eq!(alarms, 1);
    assert_eq!(app.audit("authn_second_step").await.len(), 4, "every wrong code is on the audit log");
}

#[tokio::test]
async fn a_recovery_code_signs_in_once_and_the_owner_is_told_how_many_are_left() {
    let app = spawn_app().await;
    let codes = user_with_factor(&app, "ann@example.com", "ann").await;
    let first = app.new_browser();
    app.post_raw(&first.client, "/api/login", &[("email", "ann@example.com"), ("password", PASSWORD)]).await;
    let reply =
        app.post_raw(&first.client, "/api/second-step", &[("recovery_code", &codes[0].to_lowercase())]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let mail = app.mail_titled("ann@example.com", "A recovery code was used").await;
    assert!(mail.raw.contains("9 unused codes are left"), "{}", mail.raw);
    let second = app.new_browser();
    app.post_raw(&second.client, "/api/login", &[("email", "ann@example.com"), ("password", PASSWORD)]).await;
    let reused = app.post_raw(&second.client, "/api/second-step", &[("recovery_code", &codes[0])]).await;
    assert_eq!(reused.status, 422, "{}", reused.body);
}
