//! No site-wide cap is an off-switch (review N2, O1, O2, O7): one allocation draining the
//! site's per-minute allowances from many /64s gets only its networks' share, and everyone
//! else's mail still goes; link mail over the site's rate waits instead of vanishing; a
//! known device skips the site's caps; signups naming an address or email changes naming
//! it cannot keep its owner's verification mail from arriving; a resend reaches the
//! owner's own signup after someone else signed up the address too.

use crate::helpers::{proxied_by_loopback, reply, spawn_app_with, Reply, TestApp, PASSWORD};

const VICTIM: &str = "victim@example.org";

async fn app() -> TestApp {
    spawn_app_with(|s| s.client_ip = proxied_by_loopback()).await
}

async fn post_from(app: &TestApp, path: &str, form: &[(&str, &str)], from: &str) -> Reply {
    let response = app
        .new_browser()
        .client
        .post(app.url(path))
        .header("accept", "application/json")
        .header("x-forwarded-for", from)
        .form(form)
        .send()
        .await
        .expect("request");
    reply(response).await
}

/// `count` requests at once to `path`, each from a /64 (in a /56) of its own inside
/// 2001:db8:1::/48, each naming an address of its own; their statuses.
async fn drain(
    app: &TestApp,
    path: &str,
    count: usize,
    form: fn(usize) -> Vec<(String, String)>,
) -> Vec<u16> {
    let tasks: Vec<_> = (0..count)
        .map(|n| {
            let (client, url) = (app.new_browser().client, app.url(path));
            let form = form(n);
            tokio::spawn(async move {
                let response = client
                    .post(url)
                    .header("accept", "application/json")
                    .header("x-forwarded-for", format!("2001:db8:1:{n:x}00::1"))
                    .form(&form)
                    .send()
                    .await
                    .expect("request");
                response.status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("task"));
    }
    statuses
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

fn email_form(n: usize) -> Vec<(String, String)> {
    vec![("email".into(), format!("r{n}@example.net"))]
}

#[tokio::test]
async fn a_drain_from_many_64s_of_one_48_leaves_everyone_elses_reset_and_verification_mailed() {
    let app = app().await;
    app.register(VICTIM, "victim").await;
    let resets = drain(&app, "/api/forgot-password", 60, email_form).await;
    // Free while the site is quiet, up to half the minute; from then on the /48 is past
    // its share (30%) and everyone else has the other half.
    assert_eq!(count(&resets, 200), 30, "{resets:?}");
    assert_eq!(count(&resets, 429), 30);
    let resends = drain(&app, "/api/resend-verification", 60, email_form).await;
    assert_eq!(count(&resends, 200), 30, "{resends:?}");

    let asked = post_from(&app, "/api/forgot-password", &[("email", VICTIM)], "198.51.100.7").await;
    assert_eq!(asked.status, 200);
    let mail = app.mail_titled(VICTIM, "Reset your password").await;
    assert!(mail.reset_token().is_some(), "sent now, not dropped behind \"check your email\"");
    let newcomer =
        post_from(&app, "/api/signup", &signup_form("new@example.com", "newcomer"), "198.51.100.8").await;
    assert_eq!(newcomer.status, 200);
    app.nth_mail("new@example.com", 1).await;
}

fn signup_form<'a>(email: &'a str, username: &'a str) -> [(&'a str, &'a str); 3] {
    [("email", email), ("username", username), ("password", PASSWORD)]
}

#[tokio::test]
async fn junk_signups_count_nothing_site_wide_and_one_network_gets_only_its_share_of_signups() {
    let app = spawn_app_with(|s| {
        s.client_ip = proxied_by_loopback();
        s.throttle.signups_per_minute = 10;
    })
    .await;
    let junk = drain(&app, "/api/signup", 30, |_| vec![("email".into(), String::new())]).await;
    assert_eq!(count(&junk, 422), 30, "empty forms are field errors: {junk:?}");
    let weak = drain(&app, "/api/signup", 10, |n| {
        vec![
            ("email".into(), format!("w{n}@example.net")),
            ("username".into(), format!("weak{n}")),
            ("password".into(), "password".into()),
        ]
    })
    .await;
    assert_eq!(count(&weak, 422), 10, "weak passwords too");
    let valid = drain(&app, "/api/signup", 10, |n| {
        vec![
            ("email".into(), format!("v{n}@example.net")),
            ("username".into(), format!("valid{n}")),
            ("password".into(), PASSWORD.into()),
        ]
    })
    .await;
    assert_eq!(count(&valid, 200), 5, "half the minute, then past its share: {valid:?}");
    assert_eq!(count(&valid, 429), 5);
    for n in 0..5 {
        let (email, username) = (format!("o{n}@example.com"), format!("other{n}"));
        let reply =
            post_from(&app, "/api/signup", &signup_form(&email, &username), &format!("{}.0.2.1", 11 + n))
                .await;
        assert_eq!(reply.status, 200, "everyone else still signs up: {}", reply.body);
    }
}

#[tokio::test]
async fn the_owners_known_device_resets_at_once_while_the_sites_link_mail_waits() {
    let app = spawn_app_with(|s| {
        s.client_ip = proxied_by_loopback();
        s.throttle.link_mails_per_minute = 10;
    })
    .await;
    app.register(VICTIM, "victim").await;
    let owner = app.browser_signed_in(VICTIM, PASSWORD).await;
    assert_eq!(app.post_form_with(&owner.client, "/api/logout", &[]).await.status, 200);
    // Ten networks fill this minute and the next.
    for n in 0..20 {
        let from = format!("203.{n}.0.1");
        let asked =
            post_from(&app, "/api/forgot-password", &[("email", &format!("r{n}@example.net"))], &from).await;
        assert_eq!(asked.status, 200);
    }
    let stranger = post_from(&app, "/api/forgot-password", &[("email", VICTIM)], "198.51.100.1").await;
    assert_eq!(stranger.status, 200, "queued for a later minute, not refused");
    app.outbox_holds(1).await;
    assert!(app.mails_to(VICTIM).iter().all(|m| m.subject() != "Reset your password"), "it waits");
    let known = app.post_form_with(&owner.client, "/api/forgot-password", &[("email", VICTIM)]).await;
    assert_eq!(known.status, 200);
    let mails = app.wait_for_mails(VICTIM, 2).await;
    assert_eq!(
        mails.iter().filter(|m| m.subject() == "Reset your password").count(),
        1,
        "the known device's, now"
    );
    app.clock.advance(120);
    app.state.outbox.wake();
    app.wait_for_mails(VICTIM, 3).await;
}

#[tokio::test]
async fn email_change_requests_naming_an_address_do_not_block_its_owners_verification_mail() {
    let app = app().await;
    app.signed_in_user("mallory@example.com", "mallory").await;
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    for n in 0..3 {
        let asked = app.post_form("/api/email-change", &[("email", VICTIM)]).await;
        assert_eq!(asked.status, 200, "{}", asked.body);
        assert_eq!(app.post_form("/api/email-change/withdraw", &[]).await.status, 200, "{n}");
    }
    let fourth = app.post_form("/api/email-change", &[("email", VICTIM)]).await;
    assert_eq!(fourth.status, 429, "one network's part of the address's change mail: {}", fourth.body);
    app.outbox_drained().await;
    let signed_up = post_from(&app, "/api/signup", &signup_form(VICTIM, "victim"), "198.51.100.9").await;
    assert_eq!(signed_up.status, 200);
    let mail = app.mail_titled(VICTIM, "Confirm your email address").await;
    assert!(mail.token().is_some(), "the owner's verification mail goes out");
    let resent = post_from(&app, "/api/resend-verification", &[("email", VICTIM)], "198.51.100.9").await;
    assert_eq!(resent.status, 200);
    let mails = app.wait_for_mails(VICTIM, 5).await;
    assert_eq!(mails.iter().filter(|m| m.subject() == "Confirm your email address").count(), 2);
}

#[tokio::test]
async fn email_change_requests_are_capped_per_ip() {
    let app = app().await;
    for n in 0..11 {
        // One client address gets a tenth of the site's signups a minute.
        app.clock.advance(10);
        let email = format!("u{n}@example.com");
        app.register(&email, &format!("user{n}")).await;
        let browser = app.browser_signed_in(&email, PASSWORD).await;
        assert_eq!(app.step_up_with(&browser.client).await.status, 200);
        let asked = app
            .post_form_with(
                &browser.client,
                "/api/email-change",
                &[("email", &format!("moved{n}@example.com"))],
            )
            .await;
        assert_eq!(asked.status, if n < 10 { 200 } else { 429 }, "{n}: {}", asked.body);
    }
}

#[tokio::test]
async fn a_resend_reaches_the_owners_own_signup_after_someone_else_signed_up_the_address() {
    let app = app().await;
    let attacker =
        [("email", VICTIM), ("username", "mallory"), ("password", "the attackers own passphrase 17")];
    assert_eq!(post_from(&app, "/api/signup", &attacker, "203.0.113.5").await.status, 200);
    app.nth_mail(VICTIM, 1).await;
    assert_eq!(
        post_from(&app, "/api/signup", &signup_form(VICTIM, "victim"), "198.51.100.9").await.status,
        200
    );
    app.nth_mail(VICTIM, 2).await;
    app.clock.advance(1);
    let later = [("email", VICTIM), ("username", "mallory2"), ("password", "another long passphrase 93")];
    assert_eq!(post_from(&app, "/api/signup", &later, "203.0.113.5").await.status, 200);
    app.nth_mail(VICTIM, 3).await;

    let resent = post_from(&app, "/api/resend-verification", &[("email", VICTIM)], "198.51.100.9").await;
    assert_eq!(resent.status, 200);
    let mails = app.wait_for_mails(VICTIM, 4).await;
    let links = mails[3].tokens();
    assert_eq!(links.len(), 3, "one mail, with a new link for every waiting signup, the owner's too");
    let mut created = 0;
    for link in &links {
        if app.verify_with(link, PASSWORD, "").await.status == 200 {
            created += 1;
        }
    }
    assert_eq!(created, 1, "exactly the owner's own signup, with the owner's password");
    let name: String =
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT username FROM users WHERE email = $1")
        .bind(VICTIM)
        .fetch_one(c)
        .await)
        .expect("account");
    assert_eq!(name, "victim");
}

#[tokio::test]
async fn signups_from_other_networks_push_out_their_own_before_the_owners() {
    let app = app().await;
    assert_eq!(
        post_from(&app, "/api/signup", &signup_form(VICTIM, "victim"), "198.51.100.9").await.status,
        200
    );
    app.nth_mail(VICTIM, 1).await;
    let password = "the attackers own passphrase 17";
    // Six more from two networks of the attacker's: the address keeps five.
    for (n, from) in ["203.0.113.5", "203.0.113.6", "203.0.113.7", "192.0.2.5", "192.0.2.6", "192.0.2.7"]
        .iter()
        .enumerate()
    {
        app.clock.advance(1);
        let name = format!("mallory{n}");
        let form = [("email", VICTIM), ("username", name.as_str()), ("password", password)];
        assert_eq!(post_from(&app, "/api/signup", &form, from).await.status, 200);
        app.nth_mail(VICTIM, n + 2).await;
    }
    assert_eq!(app.pending_count().await, 5);
    let resent = post_from(&app, "/api/resend-verification", &[("email", VICTIM)], "198.51.100.9").await;
    assert_eq!(resent.status, 200);
    let mails = app.wait_for_mails(VICTIM, 8).await;
    let links = mails[7].tokens();
    assert_eq!(links.len(), 5);
    let mut created = 0;
    for link in &links {
        created += usize::from(app.verify_with(link, PASSWORD, "").await.status == 200);
    }
    assert_eq!(created, 1, "the owner's own signup was not the one pushed out");
}
