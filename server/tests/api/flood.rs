//! Nobody's flood of sign-ins can freeze the owner (review N1): while strangers keep the
//! account's budget for untrusted clients blocked, from many addresses at once, the owner
//! on a signed-in browser steps up, changes the password and signs sessions out; an admin
//! acts; the browser that completed a reset signs in. A re-authentication spends its own
//! session's budget instead, and a stolen session gets a few guesses, ever.

use bulwark::mail::templates::CONFIRM_PATH;
use tokio::task::JoinHandle;

use crate::{
    helpers::{proxied_by_loopback, reply, spawn_app_with, Browser, Reply, TestApp, PASSWORD},
    throttle::login_spoofed_with,
};

const ALICE: &str = "alice@example.com";
const NEW_PASSWORD: &str = "crimson lantern orbit meadow 47";

async fn app() -> TestApp {
    spawn_app_with(|s| s.client_ip = proxied_by_loopback()).await
}

/// One wrong sign-in as `email`, from `from`.
async fn wrong_guess(app: &TestApp, email: &str, n: usize, from: &str) -> u16 {
    let stranger = app.new_browser();
    login_spoofed_with(app, &stranger.client, email, &format!("wrong guess {n}"), from).await.status
}

/// Blocks `email` for untrusted clients: five wrong guesses from five addresses, then
/// shows that a stranger with the right password is refused.
async fn block(app: &TestApp, email: &str, round: usize) {
    for n in 0..5 {
        let status = wrong_guess(app, email, n, &format!("203.0.{round}.{n}")).await;
        assert!(status == 401 || status == 429, "{status}");
    }
    let stranger = app.new_browser();
    let reply = login_spoofed_with(app, &stranger.client, email, PASSWORD, "198.51.100.200").await;
    assert_eq!(reply.status, 429, "the account is blocked for new browsers: {}", reply.body);
}

/// Forty wrong sign-ins at once, each from an address of its own, running while the
/// caller acts; the statuses, once joined (each 401 or 429).
fn flood(app: &TestApp, email: &str, round: usize) -> Vec<JoinHandle<u16>> {
    (0..40)
        .map(|n| {
            let (client, url, email) = (app.new_browser().client, app.url("/api/login"), email.to_owned());
            tokio::spawn(async move {
                let response = client
                    .post(url)
                    .header("accept", "application/json")
                    .header("x-forwarded-for", format!("192.0.{round}.{n}"))
                    .form(&[("email", email.as_str()), ("password", format!("flood {n}").as_str())])
                    .send()
                    .await
                    .expect("request");
                response.status().as_u16()
            })
        })
        .collect()
}

async fn joined(flood: Vec<JoinHandle<u16>>) {
    for task in flood {
        let status = task.await.expect("task");
        assert!(status == 401 || status == 429 || status == 503, "a flood answer: {status}");
    }
}

/// The owner, signed in on a browser of their own (from 127.0.0.1).
async fn owner(app: &TestApp) -> Browser {
    app.register(ALICE, "alice").await;
    app.browser_signed_in(ALICE, PASSWORD).await
}

async fn step_up(app: &TestApp, browser: &Browser, password: &str) -> Reply {
    app.post_form_with(&browser.client, "/api/step-up", &[("password", password), ("next", "/")]).await
}

#[tokio::test]
async fn the_owner_steps_up_changes_the_password_and_signs_others_out_during_a_flood() {
    let app = app().await;
    let laptop = owner(&app).await;
    let thief = app.browser_signed_in(ALICE, PASSWORD).await;
    block(&app, ALICE, 1).await;

    let attack = flood(&app, ALICE, 1);
    let reply = step_up(&app, &laptop, PASSWORD).await;
    assert_eq!(reply.status, 200, "step-up during a flood: {}", reply.body);
    let reply = app.post_form_with(&laptop.client, "/api/sessions/revoke-others", &[]).await;
    assert_eq!(reply.status, 200, "signing the thief out: {}", reply.body);
    assert_eq!(app.post_form_with(&thief.client, "/api/me", &[]).await.status, 401);
    let form = [("current_password", PASSWORD), ("password", NEW_PASSWORD)];
    let reply = app.post_form_with(&laptop.client, "/api/change-password", &form).await;
    assert_eq!(reply.status, 200, "password change during a flood: {}", reply.body);
    joined(attack).await;
    assert_eq!(app.post_form_with(&laptop.client, "/api/me", &[]).await.status, 200);
}

#[tokio::test]
async fn the_owner_steps_up_while_strangers_fill_the_hashing_queue() {
    let app = app().await;
    let laptop = owner(&app).await;
    // Sign-ins at random addresses (each costs a dummy hash) hold every ordinary place.
    let hasher = app.state.accounts.hasher();
    let mut strangers = Vec::new();
    while let Ok(ticket) = hasher.admit() {
        strangers.push(ticket);
    }
    let refused = wrong_guess(&app, "random.person@example.net", 0, "203.0.113.50").await;
    assert_eq!(refused, 503, "strangers' share of the queue is full");
    let reply = step_up(&app, &laptop, PASSWORD).await;
    assert_eq!(reply.status, 200, "a signed-in owner still gets a place: {}", reply.body);
    drop(strangers);
}

#[tokio::test]
async fn an_admin_acts_during_a_flood_of_guesses_at_their_address() {
    let app = app().await;
    const ADMIN: &str = "root@example.com";
    app.create_account(ADMIN, "rootadmin", bulwark::Role::Admin).await;
    let target = app.create_account("bob@example.com", "bob", bulwark::Role::User).await;
    let admin = app.browser_signed_in(ADMIN, PASSWORD).await;
    block(&app, ADMIN, 2).await;

    let attack = flood(&app, ADMIN, 2);
    let reply = step_up(&app, &admin, PASSWORD).await;
    assert_eq!(reply.status, 200, "an admin's step-up during a flood: {}", reply.body);
    let id = target.to_string();
    let reply = app.post_form_with(&admin.client, "/api/admin/lock", &[("id", id.as_str())]).await;
    assert_eq!(reply.status, 200, "an admin change during a flood: {}", reply.body);
    joined(attack).await;
}

#[tokio::test]
async fn the_browser_that_completed_a_reset_signs_in_during_a_flood() {
    let app = app().await;
    app.register(ALICE, "alice").await;
    block(&app, ALICE, 3).await;
    // The owner has no device cookie anywhere (a new phone, say), and resets by mail.
    let phone = app.new_browser();
    let reply = app.post_form_with(&phone.client, "/api/forgot-password", &[("email", ALICE)]).await;
    assert_eq!(reply.status, 200);
    let token = app.mail_titled(ALICE, "Reset your password").await.reset_token().expect("reset link");
    let form = [("token", token.as_str()), ("password", NEW_PASSWORD)];
    let reply = app.post_form_with(&phone.client, "/api/reset-password", &form).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(phone.device_cookie().is_some(), "the browser that proved the mailbox is known now");

    // The reset cleared the account's budget; the attackers block it again at once.
    block(&app, ALICE, 4).await;
    let attack = flood(&app, ALICE, 4);
    let reply = login_spoofed_with(&app, &phone.client, ALICE, NEW_PASSWORD, "198.51.100.7").await;
    assert_eq!(reply.status, 200, "the owner signs in right after the reset: {}", reply.body);
    joined(attack).await;
}

#[tokio::test]
async fn a_stolen_session_gets_five_guesses_at_the_password_and_then_ends() {
    let app = app().await;
    let _owner = owner(&app).await;
    let thief = app.browser_signed_in(ALICE, PASSWORD).await;
    // Forty guesses at once: each is counted before it is checked, so at most five run.
    let forms: Vec<Vec<(String, String)>> = (0..40)
        .map(|n| {
            vec![("password".to_owned(), format!("thief guess {n}")), ("next".to_owned(), "/".to_owned())]
        })
        .collect();
    let replies = app.burst(&thief.client, "/api/step-up", forms).await;
    assert!(replies.iter().all(|r| [401, 422, 429, 503].contains(&r.status)), "no step-up passed");
    // Then one guess at a time, until the session ends.
    let mut guesses = 0;
    while step_up(&app, &thief, &format!("one more guess {guesses}")).await.status != 401 {
        guesses += 1;
        assert!(guesses <= 5, "the session outlived its allowance");
    }
    let checked = app.audit("authn_reauth").await.len();
    assert_eq!(checked, 5, "five wrong passwords are checked in all, never more");
    // The session is over, and the right password does not revive it.
    let last = step_up(&app, &thief, PASSWORD).await;
    assert_eq!(last.status, 401, "{}", last.body);
    assert_eq!(app.post_form_with(&thief.client, "/api/me", &[]).await.status, 401);
    // Nothing reached the account's budget for strangers: the owner's new browser signs in.
    let reply = login_spoofed_with(&app, &app.new_browser().client, ALICE, PASSWORD, "198.51.100.9").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test]
async fn four_wrong_step_ups_leave_the_session_and_the_fifth_ends_it() {
    let app = app().await;
    let laptop = owner(&app).await;
    for n in 0..4 {
        let reply = step_up(&app, &laptop, &format!("typo {n}")).await;
        assert_eq!(reply.status, 422, "{}", reply.body);
    }
    assert_eq!(app.post_form_with(&laptop.client, "/api/me", &[]).await.status, 200);
    let reply = step_up(&app, &laptop, "typo 4").await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(app.post_form_with(&laptop.client, "/api/me", &[]).await.status, 401);
}

#[tokio::test]
async fn an_email_change_is_confirmed_during_a_flood_and_its_link_dies_after_five_wrong_passwords() {
    let app = app().await;
    let laptop = owner(&app).await;
    assert_eq!(step_up(&app, &laptop, PASSWORD).await.status, 200);
    let ask = |to: &'static str| {
        let client = laptop.client.clone();
        let url = app.url("/api/email-change");
        async move {
            let response =
                client.post(url).header("accept", "application/json").form(&[("email", to)]).send().await;
            reply(response.expect("request")).await
        }
    };
    let confirm_token = |to: &'static str| {
        let app = &app;
        async move {
            let mail = app.mail_titled(to, "Confirm your new email address").await;
            mail.link_token(CONFIRM_PATH).expect("confirmation link")
        }
    };
    let follow = |token: String, password: String| {
        let app = &app;
        async move {
            let form =
                [("link", "confirm"), ("token", token.as_str()), ("current_password", password.as_str())];
            app.post_form_with(&app.new_browser().client, "/api/email-change/link", &form).await
        }
    };

    // A link followed with wrong passwords dies at the fifth.
    assert_eq!(ask("first.new@example.com").await.status, 200);
    let first = confirm_token("first.new@example.com").await;
    for n in 0..5 {
        let reply = follow(first.clone(), format!("not it {n}")).await;
        assert_eq!(reply.status, 422, "{}", reply.body);
    }
    assert_eq!(follow(first, PASSWORD.to_owned()).await.status, 400, "the link is dead");
    let cancelled = app.audit("user_email_change_cancelled").await;
    assert_eq!(cancelled.len(), 1, "the change died with its event");
    assert_eq!(cancelled[0].0, None, "whoever held the link is not known to be the owner");

    // Meanwhile strangers block the account; the owner's next link still works.
    block(&app, ALICE, 5).await;
    assert_eq!(ask("second.new@example.com").await.status, 200);
    let second = confirm_token("second.new@example.com").await;
    let attack = flood(&app, ALICE, 5);
    let reply = follow(second, PASSWORD.to_owned()).await;
    assert_eq!(reply.status, 200, "confirmed during a flood: {}", reply.body);
    joined(attack).await;
}

#[tokio::test]
async fn step_up_and_password_change_share_the_sessions_five_guesses() {
    let app = app().await;
    let laptop = owner(&app).await;
    for n in 0..3 {
        assert_eq!(step_up(&app, &laptop, &format!("typo {n}")).await.status, 422);
    }
    let change = |current: &'static str| {
        let form = [("current_password", current), ("password", NEW_PASSWORD)];
        let client = laptop.client.clone();
        let app = &app;
        async move { app.post_form_with(&client, "/api/change-password", &form).await }
    };
    assert_eq!(change("typo 3").await.status, 422);
    assert_eq!(app.post_form_with(&laptop.client, "/api/me", &[]).await.status, 200);
    let reply = change("typo 4").await;
    assert_eq!(reply.status, 401, "the fifth wrong password ends the session: {}", reply.body);
    assert_eq!(app.post_form_with(&laptop.client, "/api/me", &[]).await.status, 401);
    assert_eq!(change(PASSWORD).await.status, 401, "and nothing revives it");
}
