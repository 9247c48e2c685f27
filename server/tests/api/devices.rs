//! Device cookies: an attacker's flood of guesses blocks only clients the account has never
//! seen; the owner's browser keeps its own budget, signs in at once, and can still reset
//! the password.

use crate::{
    helpers::{proxied_by_loopback, spawn_app_with, Browser, TestApp, PASSWORD},
    throttle::login_spoofed_with,
};

const ALICE: &str = "alice@example.com";

async fn app() -> TestApp {
    spawn_app_with(|s| s.client_ip = proxied_by_loopback()).await
}

/// The owner's laptop: signed in once (so it holds a device cookie), then signed out.
async fn owners_laptop(app: &TestApp) -> Browser {
    let laptop = app.browser_signed_in(ALICE, PASSWORD).await;
    assert!(laptop.device_cookie().is_some(), "a device cookie after a successful sign-in");
    let reply = app.post_form_with(&laptop.client, "/api/logout", &[]).await;
    assert_eq!(reply.status, 200);
    assert!(laptop.session_cookie().is_none(), "signed out");
    laptop
}

#[tokio::test]
async fn a_flood_of_guesses_blocks_new_browsers_but_not_the_owners_known_one() {
    let app = app().await;
    app.register(ALICE, "alice").await;
    let laptop = owners_laptop(&app).await;
    let attacker = app.new_browser();

    // 300 wrong guesses from ever-changing addresses, waiting out every block the answers
    // announce, so the account's consecutive failures pass the long-run cap of 100.
    let mut checked = 0;
    for n in 0..300 {
        let from = format!("203.0.{}.{}", n / 250, n % 250);
        let response = attacker
            .client
            .post(app.url("/api/login"))
            .header("accept", "application/json")
            .header("x-forwarded-for", &from)
            .form(&[("email", ALICE), ("password", format!("guess number {n}").as_str())])
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let set_cookie: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().expect("ascii").to_owned())
            .collect();
        assert!(set_cookie.iter().all(|c| !c.contains("bulwark-device")), "no device cookie for a failure");
        match status {
            401 => checked += 1,
            429 => {
                let wait: i64 =
                    response.headers()["retry-after"].to_str().expect("ascii").parse().expect("secs");
                if wait <= 15 * 60 {
                    app.clock.advance(wait);
                }
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(checked, 100, "guesses stop being checked at the long-run cap");
    assert!(attacker.device_cookie().is_none(), "the attacker never got a device cookie");

    // A browser the account has never seen is refused, even with the right password...
    let stranger = app.new_browser();
    let reply = login_spoofed_with(&app, &stranger.client, ALICE, PASSWORD, "198.51.100.1").await;
    assert_eq!(reply.status, 429);
    // ...while the owner's laptop signs in at once.
    let reply = login_spoofed_with(&app, &laptop.client, ALICE, PASSWORD, "198.51.100.2").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

/// Asks for a reset link for `email` from `browser`, claiming to come from `from`.
async fn forgot_from(app: &TestApp, browser: &Browser, email: &str, from: &str) -> u16 {
    let response = browser
        .client
        .post(app.url("/api/forgot-password"))
        .header("accept", "application/json")
        .header("x-forwarded-for", from)
        .form(&[("email", email)])
        .send()
        .await
        .expect("request");
    response.status().as_u16()
}

#[tokio::test]
async fn an_attacker_cannot_keep_the_owner_from_a_reset_link() {
    let app = app().await;
    app.register(ALICE, "alice").await;
    let laptop = owners_laptop(&app).await;
    // Signups naming the address use the address's general mail cap, not its reset mail.
    for n in 0..6 {
        app.post_form(
            "/api/signup",
            &[("email", ALICE), ("username", &format!("squat{n}")), ("password", PASSWORD)],
        )
        .await;
    }
    // Reset requests from many addresses: every one answered alike, at most five mailed.
    for n in 0..10 {
        assert_eq!(forgot_from(&app, &app.new_browser(), ALICE, &format!("203.0.113.{n}")).await, 200);
    }
    wait_for_reset_mails(&app, 5).await;
    // A stranger's request is answered the same way and mails nothing more...
    assert_eq!(forgot_from(&app, &app.new_browser(), ALICE, "198.51.100.20").await, 200);
    // ...while the owner's known browser always gets a fresh link.
    assert_eq!(forgot_from(&app, &laptop, ALICE, "198.51.100.21").await, 200);
    wait_for_reset_mails(&app, 6).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    app.outbox_drained().await;
    assert_eq!(reset_mails(&app), 6, "exactly: five for the attacker's requests, one for the owner's");
}

fn reset_mails(app: &TestApp) -> usize {
    app.mails_to(ALICE).iter().filter(|m| m.reset_token().is_some()).count()
}

/// Waits (up to 10 s) until `ALICE` has received `count` reset mails.
async fn wait_for_reset_mails(app: &TestApp, count: usize) {
    for _ in 0..200 {
        if reset_mails(app) >= count {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{count} reset mails did not arrive; got {}", reset_mails(app));
}

#[tokio::test]
async fn a_device_cookie_that_fails_too_often_is_revoked() {
    let app = app().await;
    app.register(ALICE, "alice").await;
    let laptop = owners_laptop(&app).await;
    let mut failures = 0;
    while failures < 10 {
        let reply =
            login_spoofed_with(&app, &laptop.client, ALICE, "wrong password guess", "198.51.100.3").await;
        match reply.status {
            401 => failures += 1,
            429 => app.clock.advance(15 * 60),
            other => panic!("unexpected status {other}"),
        }
    }
    let devices: i64 =
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT COUNT(*) FROM device_cookies").fetch_one(c).await).expect("count");
    assert_eq!(devices, 0, "revoked after its tenth failure");
    // From now on the laptop is an untrusted client like any other: its failures count
    // against the account's shared budget.
    let mut untrusted = 0;
    let mut n = 10;
    while untrusted < 5 {
        n += 1;
        let from = format!("198.51.100.{n}");
        if login_spoofed_with(&app, &laptop.client, ALICE, "wrong password guess", &from).await.status == 401
        {
            untrusted += 1;
        }
    }
    let stranger = app.new_browser();
    assert_eq!(login_spoofed_with(&app, &stranger.client, ALICE, PASSWORD, "198.51.100.4").await.status, 429);
}

#[tokio::test]
async fn a_device_cookie_is_bound_to_its_account() {
    let app = app().await;
    app.register(ALICE, "alice").await;
    app.register("bob@example.com", "bob").await;
    let laptop = owners_laptop(&app).await;
    // Bob's account is under attack; Alice's laptop is a stranger to Bob's account.
    for n in 0..5 {
        let from = format!("203.0.113.{n}");
        login_spoofed_with(&app, &app.new_browser().client, "bob@example.com", "wrong password guess", &from)
            .await;
    }
    let reply = login_spoofed_with(&app, &laptop.client, "bob@example.com", PASSWORD, "198.51.100.5").await;
    assert_eq!(reply.status, 429);
}

#[tokio::test]
async fn signing_out_keeps_the_device_cookie_and_clears_only_storage() {
    let app = app().await;
    app.register(ALICE, "alice").await;
    let laptop = app.browser_signed_in(ALICE, PASSWORD).await;
    let response = laptop
        .client
        .post(app.url("/api/logout"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("request");
    assert_eq!(response.headers()["clear-site-data"], "\"storage\"");
    let set_cookie: Vec<&str> =
        response.headers().get_all("set-cookie").iter().map(|v| v.to_str().expect("ascii")).collect();
    assert!(set_cookie.iter().all(|c| !c.starts_with("bulwark-device")), "{set_cookie:?}");
    assert!(laptop.device_cookie().is_some());
}

#[tokio::test]
async fn a_password_reset_revokes_every_device_cookie_but_gives_the_resetting_browser_one() {
    let app = app().await;
    app.register(ALICE, "alice").await;
    let _laptop = owners_laptop(&app).await;
    assert_eq!(app.forgot_password(ALICE).await.status, 200);
    let mail = app.nth_mail(ALICE, 2).await;
    let token = mail.reset_token().expect("a reset link");
    assert_eq!(app.reset_password(&token, "marble comet lantern fjord 47").await.status, 200);
    // The laptop's is gone; the browser that completed the reset (it proved the mailbox)
    // has the only one, made at the new epoch.
    let devices: Vec<i64> =
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT epoch FROM device_cookies").fetch_all(c).await).expect("devices");
    let epoch: i64 =
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT session_epoch FROM users").fetch_one(c).await).expect("epoch");
    assert_eq!(devices, [epoch]);
}

#[tokio::test]
async fn a_known_browser_gets_a_hashing_place_when_strangers_have_filled_theirs() {
    let app = app().await;
    app.register(ALICE, "alice").await;
    let laptop = owners_laptop(&app).await;
    let hasher = app.state.accounts.hasher();
    let mut strangers = Vec::new();
    while let Ok(ticket) = hasher.admit() {
        strangers.push(ticket);
    }
    let stranger = app.new_browser();
    let refused = login_spoofed_with(&app, &stranger.client, ALICE, PASSWORD, "198.51.100.6").await;
    assert_eq!(refused.status, 503, "strangers' share of the queue is full");
    let reply = login_spoofed_with(&app, &laptop.client, ALICE, PASSWORD, "198.51.100.7").await;
    assert_eq!(reply.status, 200, "the owner's known browser still gets in: {}", reply.body);
    drop(strangers);
}

/// The new-device notices `address` has received so far.
fn notices(app: &TestApp, address: &str) -> Vec<crate::helpers::SentMail> {
    app.mails_to(address).into_iter().filter(|m| m.subject() == "New sign-in to your account").collect()
}

#[tokio::test]
async fn a_sign_in_from_a_new_browser_mails_the_owner_but_not_the_first_nor_a_known_one() {
    let app = app().await;
    app.register(ALICE, "alice").await;
    let laptop = owners_laptop(&app).await;
    app.outbox_drained().await;
    assert!(notices(&app, ALICE).is_empty(), "the first sign-in after signup is not announced");

    // The same browser again: known, nothing to tell.
    let form = [("email", ALICE), ("password", PASSWORD)];
    assert_eq!(app.post_form_with(&laptop.client, "/api/login", &form).await.status, 200);
    app.outbox_drained().await;
    assert!(notices(&app, ALICE).is_empty(), "a known browser is not announced");

    // A new one, from elsewhere.
    let phone = app.new_browser();
    let response = phone
        .client
        .post(app.url("/api/login"))
        .header("x-forwarded-for", "198.51.100.23")
        .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
        .form(&form)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    app.outbox_drained().await;
    let notices = notices(&app, ALICE);
    assert_eq!(notices.len(), 1);
    let text = &notices[0].raw;
    assert!(text.contains("Firefox on Linux"), "{text}");
    assert!(text.contains("198.51.100.x") && !text.contains("198.51.100.23"), "the network, not the address");
    assert!(text.contains("http://localhost:3000/account/sessions"), "{text}");
}

#[tokio::test]
async fn a_wrong_password_from_a_new_browser_mails_nothing() {
    let app = app().await;
    app.register(ALICE, "alice").await;
    owners_laptop(&app).await;
    let stranger = app.new_browser();
    let form = [("email", ALICE), ("password", "not the password at all, sorry")];
    assert_eq!(app.post_form_with(&stranger.client, "/api/login", &form).await.status, 401);
    app.outbox_drained().await;
    assert!(notices(&app, ALICE).is_empty());
}

#[tokio::test]
async fn notices_can_be_turned_off() {
    let app = spawn_app_with(|s| {
        s.client_ip = proxied_by_loopback();
        s.credentials.new_device_notice = false;
    })
    .await;
    app.register(ALICE, "alice").await;
    owners_laptop(&app).await;
    app.browser_signed_in(ALICE, PASSWORD).await;
    app.outbox_drained().await;
    assert!(notices(&app, ALICE).is_empty());
}

#[tokio::test]
async fn two_first_sign_ins_at_once_announce_exactly_one_of_them() {
    let app = app().await;
    app.register(ALICE, "alice").await;
    // Two at once (an account has at most two checks in flight), from two networks.
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..2 {
        let (client, url) = (app.new_browser().client, app.url("/api/login"));
        tasks.spawn(async move {
            let form = [("email", ALICE), ("password", PASSWORD)];
            let request = client.post(url).header("x-forwarded-for", format!("198.51.100.{n}")).form(&form);
            request.send().await.expect("request").status().as_u16()
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.expect("task"), 200);
    }
    app.outbox_drained().await;
    assert_eq!(notices(&app, ALICE).len(), 1, "the first is not announced, the other is");
}

#[tokio::test]
async fn someone_with_the_password_cannot_flood_the_owner_with_notices() {
    let app = app().await;
    app.register(ALICE, "alice").await;
    owners_laptop(&app).await;
    // Six new browsers, two at a time (as many as an account lets be checked at once), so
    // the count of notices sent and the next notice race each other.
    for round in 0..3 {
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..2 {
            let (client, url) = (app.new_browser().client, app.url("/api/login"));
            tasks.spawn(async move {
                let form = [("email", ALICE), ("password", PASSWORD)];
                let from = format!("198.51.100.{}", round * 2 + n);
                client
                    .post(url)
                    .header("x-forwarded-for", from)
                    .form(&form)
                    .send()
                    .await
                    .expect("request")
                    .status()
            });
        }
        while let Some(status) = tasks.join_next().await {
            assert_eq!(status.expect("task").as_u16(), 200);
        }
    }
    app.outbox_drained().await;
    // Three notices in the hour (the laptop's first sign-in, never announced, uses none
    // of them); the rest of the hour's new browsers are not announced.
    assert_eq!(notices(&app, ALICE).len(), bulwark::devices::NOTICES_PER_HOUR as usize);
    // Deleting the devices (as a password change or a device's failures do) frees no
    // notice: the cap counts notices sent, not devices alive.
    let id: i64 = bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(ALICE)
        .fetch_one(c)
        .await)
    .expect("alice");
    app.state.devices.revoke_all(id).await.expect("revoke");
    app.browser_signed_in(ALICE, PASSWORD).await;
    app.outbox_drained().await;
    assert_eq!(notices(&app, ALICE).len(), bulwark::devices::NOTICES_PER_HOUR as usize);
    app.clock.advance(3601);
    app.browser_signed_in(ALICE, PASSWORD).await;
    app.outbox_drained().await;
    assert_eq!(
        notices(&app, ALICE).len(),
        bulwark::devices::NOTICES_PER_HOUR as usize + 1,
        "a new hour, a new notice"
    );
}

#[tokio::test]
async fn the_browser_that_changed_the_password_stays_known() {
    let app = app().await;
    app.register(ALICE, "alice").await;
    let laptop = owners_laptop(&app).await;
    let form = [("email", ALICE), ("password", PASSWORD)];
    assert_eq!(app.post_form_with(&laptop.client, "/api/login", &form).await.status, 200);
    let before = laptop.device_cookie().expect("a device cookie");
    let new_password = "a sturdier passphrase for alice 44";
    let form = [("current_password", PASSWORD), ("password", new_password)];
    let reply = app.post_form_with(&laptop.client, "/api/change-password", &form).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let after = laptop.device_cookie().expect("a new device cookie");
    assert_ne!(after, before, "the old cookie died with the old password");
    assert_eq!(app.post_form_with(&laptop.client, "/api/logout", &[]).await.status, 200);
    let form = [("email", ALICE), ("password", new_password)];
    assert_eq!(app.post_form_with(&laptop.client, "/api/login", &form).await.status, 200);
    app.outbox_drained().await;
    assert!(notices(&app, ALICE).is_empty(), "the owner's own browser is not announced as new");
}

#[tokio::test]
async fn an_account_an_operator_made_long_ago_has_its_first_sign_in_announced() {
    let app = app().await;
    app.create_account(ALICE, "alice", bulwark::Role::User).await;
    app.clock.advance(bulwark::accounts::store::FIRST_SIGN_IN_GRACE_SECS + 60);
    app.browser_signed_in(ALICE, PASSWORD).await;
    app.outbox_drained().await;
    assert_eq!(notices(&app, ALICE).len(), 1, "its initial password may be known to others");
}

/// An account has at most twenty devices, and a device in use is never pushed out: a
/// password holder signing in from ever new browsers can neither grow the table without
/// bound nor make the owner's own browsers strangers (whom a flood then blocks). At the
/// cap a new browser gets no device cookie; a device unused for thirty days makes room.
#[tokio::test]
async fn an_account_has_at_most_twenty_devices_and_none_in_use_is_pushed_out() {
    let app = app().await;
    app.register(ALICE, "alice").await;
    let first = app.browser_signed_in(ALICE, PASSWORD).await;
    let first_device = first.device_cookie().expect("a device cookie");
    let count = |app: &TestApp| {
        let pool = app.pool.clone();
        async move {
            bulwark::on_db!(&pool, c => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM device_cookies")
                .fetch_one(c)
                .await)
            .expect("count")
        }
    };
    for _ in 1..bulwark::devices::MAX_DEVICES_PER_ACCOUNT {
        app.clock.advance(1);
        assert!(app.browser_signed_in(ALICE, PASSWORD).await.device_cookie().is_some());
    }
    assert_eq!(count(&app).await, bulwark::devices::MAX_DEVICES_PER_ACCOUNT);
    let one_more = app.browser_signed_in(ALICE, PASSWORD).await;
    assert!(one_more.device_cookie().is_none(), "at the cap, a new browser gets none");
    assert_eq!(count(&app).await, bulwark::devices::MAX_DEVICES_PER_ACCOUNT);
    assert!(app.state.devices.recognise(Some(&first_device)).await.expect("db").is_some(), "still known");

    // A month on, the owner's first browser signs in (in use again); the next new browser
    // pushes out one that was not used since.
    app.clock.advance(bulwark::devices::DEVICE_IN_USE_SECS + 1);
    let form = [("email", ALICE), ("password", PASSWORD)];
    assert_eq!(app.post_form_with(&first.client, "/api/login", &form).await.status, 200);
    let newest = app.browser_signed_in(ALICE, PASSWORD).await;
    assert!(newest.device_cookie().is_some());
    assert_eq!(count(&app).await, bulwark::devices::MAX_DEVICES_PER_ACCOUNT);
    assert!(app.state.devices.recognise(Some(&first_device)).await.expect("db").is_some(), "in use: kept");
}
