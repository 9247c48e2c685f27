use crate::helpers::{spawn_app, spawn_app_with, PASSWORD};

#[tokio::test]
async fn a_valid_signup_stores_one_pending_signup_and_says_check_your_email() {
    let app = spawn_app().await;
    let reply = app.signup("alice@example.com", "Alice", PASSWORD).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.location.as_deref(), Some(app::api::CHECK_EMAIL));
    app.wait_for_pending(1).await;
    assert_eq!((app.pending_count().await, app.user_count().await), (1, 0), "no account until confirmed");
    let mail = app.nth_mail("alice@example.com", 1).await;
    assert_eq!(mail.subject(), "Confirm your email address");
    assert!(!mail.raw.contains("Alice"), "no text the requester chose: {}", mail.raw);
    assert_eq!(mail.token().map(|t| t.len()), Some(64));
}

#[tokio::test]
async fn the_email_is_stored_trimmed_and_lowercased() {
    let app = spawn_app().await;
    app.signup("  Alice@Example.COM ", "alice", PASSWORD).await;
    app.wait_for_pending(1).await;
    let stored: String =
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT email FROM pending_signups").fetch_one(c).await).expect("row");
    assert_eq!(stored, "alice@example.com");
}

#[tokio::test]
async fn signing_up_with_a_taken_email_is_byte_identical_to_a_new_signup_and_only_the_mail_differs() {
    let app = spawn_app().await;
    app.register("alice@example.com", "alice").await;
    let new = app.signup("bob@example.com", "bob", PASSWORD).await;
    let taken = app.signup(" ALICE@example.com", "someone-else", "another fine passphrase 42").await;
    assert_eq!(new, taken, "status, body, redirect: all identical");
    app.nth_mail("alice@example.com", 2).await;
    app.wait_for_pending(1).await;
    assert_eq!(app.user_count().await, 1, "nothing created for the taken address");
    assert_eq!(app.pending_count().await, 1, "only bob's signup waits");

    let to_new = app.nth_mail("bob@example.com", 1).await;
    let to_owner = app.nth_mail("alice@example.com", 2).await;
    assert_eq!(to_new.subject(), "Confirm your email address");
    assert_eq!(to_owner.subject(), "Someone tried to sign up with your email address");
    assert!(to_new.token().is_some());
    assert_eq!(to_owner.token(), None, "no link that could confirm anything");
    assert!(to_owner.raw.contains("http://localhost:3000/forgot-password"));
    assert!(to_owner.raw.contains("http://localhost:3000/login"));
    assert!(app.login("alice@example.com", "another fine passphrase 42").await.status == 401, "unchanged");
}

/// What an attacker who cannot read `victim@example.com`'s mailbox sees of this sequence:
/// sign up the victim's address with a fresh username, then their own address with the
/// same username; then confirm their own signup.
async fn username_probe(victim_has_account: bool) -> (Vec<crate::helpers::Reply>, Vec<String>, u16) {
    let app = spawn_app().await;
    if victim_has_account {
        app.register("victim@example.com", "victim").await;
    }
    let mut replies = Vec::new();
    replies.push(app.signup("victim@example.com", "probe-name", PASSWORD).await);
    replies.push(app.signup("attacker@example.com", "probe-name", PASSWORD).await);
    let mails = app.wait_for_mails("attacker@example.com", 1).await;
    let subjects = mails.iter().map(|m| m.subject().to_owned()).collect();
    let token = mails[0].token().expect("the attacker's own link");
    let confirmed = app.verify(&token).await.status;
    (replies, subjects, confirmed)
}

#[tokio::test]
async fn a_username_probe_reveals_nothing_about_another_address() {
    let with_account = username_probe(true).await;
    let without = username_probe(false).await;
    assert_eq!(with_account, without, "responses, the attacker's own mail and its confirmation");
    assert_eq!(with_account.1, vec!["Confirm your email address".to_owned()]);
    assert_eq!(with_account.2, 200, "a pending signup claims no username");
}

#[tokio::test]
async fn repeated_signups_cannot_flood_an_address_with_mail() {
    let app = spawn_app_with(|s| {
        s.throttle.signups_per_ip_per_hour = 100;
        // Every request here comes from one address: no network shares in the way.
        s.throttle.prefix_shares = Vec::new();
    })
    .await;
    app.register("alice@example.com", "alice").await;
    app.register("bob@example.com", "bob").await;
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(app.signup("alice@example.com", "alice2", PASSWORD).await.status);
        statuses.push(app.signup("carol@example.com", "carol", PASSWORD).await.status);
    }
    // Three an hour per address and network, whatever the address's state, and then an
    // honest 429: Alice's own signup and two more; Carol three.
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 15, "{statuses:?}");
    app.outbox_drained().await;
    // Alice's verification and two notices; Carol three links. Bob is untouched.
    assert_eq!(app.mails_to("alice@example.com").len(), 3);
    assert_eq!(app.mails_to("carol@example.com").len(), 3);
    assert_eq!(app.pending_count().await, 3, "past the cap nothing is stored either");
    assert_eq!(app.mails_to("bob@example.com").len(), 1);
}

#[tokio::test]
async fn invalid_fields_get_422_with_a_message_for_each_field() {
    let app = spawn_app().await;
    let reply = app.signup("not-an-email", "ad", "short").await;
    assert_eq!(reply.status, 422);
    let body: serde_json::Value = serde_json::from_str(&reply.body).expect("json");
    let fields = &body["Validation"];
    assert!(
        fields["email"].is_string() && fields["username"].is_string() && fields["password"].is_string(),
        "{body}"
    );
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn a_guessable_password_gets_422_on_the_password_field_with_advice() {
    let app = spawn_app().await;
    let reply = app.signup("kitten@example.com", "kitten", "kittenkittenkitten1").await;
    assert_eq!(reply.status, 422);
    let body: serde_json::Value = serde_json::from_str(&reply.body).expect("json");
    let message = body["Validation"]["password"].as_str().expect("password message");
    assert!(message.starts_with("This password is too easy to guess."), "{message}");
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn a_ten_kilobyte_password_is_refused_as_too_long() {
    let app = spawn_app().await;
    let huge = "a".repeat(10 * 1024);
    let reply = app.signup("alice@example.com", "alice", &huge).await;
    assert_eq!(reply.status, 422);
    assert!(reply.body.contains("at most 128 characters"), "{}", reply.body);
}

#[tokio::test]
async fn a_reserved_username_is_refused() {
    let app = spawn_app().await;
    let reply = app.signup("alice@example.com", "Admin", PASSWORD).await;
    assert_eq!(reply.status, 422);
    assert!(reply.body.contains("reserved"), "{}", reply.body);
}

#[tokio::test]
async fn the_stored_hash_is_argon2id_with_at_least_owasp_parameters() {
    let app = spawn_app().await;
    app.signup("alice@example.com", "alice", PASSWORD).await;
    app.wait_for_pending(1).await;
    let hash: String =
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT password_hash FROM pending_signups")
        .fetch_one(c)
        .await)
        .expect("row");
    let mut parts = hash.split('$').skip(1);
    assert_eq!(parts.next(), Some("argon2id"));
    assert_eq!(parts.next(), Some("v=19"));
    let params: std::collections::HashMap<&str, u32> = parts
        .next()
        .expect("params")
        .split(',')
        .map(|kv| kv.split_once('=').map(|(k, v)| (k, v.parse().expect("number"))).expect("k=v"))
        .collect();
    assert!(params["m"] >= 19_456 && params["t"] >= 2 && params["p"] >= 1, "{hash}");
    assert!(!hash.contains(PASSWORD));
}

/// A signup with a malformed email posted as a plain form (no JavaScript): its status and
/// the `Location` it is sent back to.
async fn failed_plain_post(app: &crate::helpers::TestApp) -> (u16, String) {
    let response = app
        .client
        .post(app.url("/api/signup"))
        .header("accept", "text/html")
        .header("referer", app.url("/signup"))
        .form(&[("email", "nope"), ("username", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .expect("request");
    let location = response.headers()["location"].to_str().expect("ascii").to_owned();
    (response.status().as_u16(), location)
}

#[tokio::test]
async fn a_plain_form_post_is_redirected_back_to_the_form_with_the_errors() {
    let app = spawn_app().await;
    let (status, location) = failed_plain_post(&app).await;
    assert_eq!(status, 302);
    assert!(location.starts_with(&app.url("/signup?")) && location.contains("__err="), "{location}");
}

#[tokio::test]
async fn a_crafted_error_link_cannot_put_its_own_words_under_a_field() {
    let app = spawn_app().await;
    // The redirect a real failed post gets...
    let (_, genuine) = failed_plain_post(&app).await;
    let page = app.client.get(&genuine).send().await.expect("page").text().await.expect("body");
    assert!(page.contains("Enter an email address like name@example.com."), "the genuine message shows");

    // ...and the same URL with the attacker's words in it.
    use leptos::server_fn::{error::ServerFnUrlError, ServerFn};
    let crafted = app::error::ApiError::Validation(bulwark::FieldErrors::single(
        bulwark::Field::Password,
        "Your account is locked. Call +1 555 0100 to unlock it.",
    ));
    let url =
        ServerFnUrlError::new(app::api::Signup::PATH, crafted).to_url(&app.url("/signup")).expect("url");
    let page = app.client.get(url.as_str()).send().await.expect("page").text().await.expect("body");
    assert!(!page.contains("555 0100"), "the crafted text is not shown");
    assert!(page.contains(bulwark::messages::UNRECOGNISED), "a neutral message stands in for it");
}

#[tokio::test]
async fn over_the_site_wide_link_mail_rate_mail_waits_for_a_later_minute_and_is_never_dropped() {
    let app = spawn_app_with(|s| {
        s.throttle.link_mails_per_minute = 1;
        // Every request here comes from one address: no network shares in the way.
        s.throttle.prefix_shares = Vec::new();
    })
    .await;
    for n in 0..3 {
        let address = format!("n{n}@example.com");
        assert_eq!(app.signup(&address, &format!("newcomer{n}"), PASSWORD).await.status, 200);
        app.nth_mail(&address, 1).await;
    }
    assert_eq!(app.resend("n0@example.com").await.status, 200);
    app.nth_mail("n0@example.com", 2).await;
    assert_eq!(app.resend("n1@example.com").await.status, 200, "the same answer");
    app.outbox_holds(1).await;
    assert_eq!(app.mails_to("n1@example.com").len(), 1, "its mail waits for the next minute");
    app.clock.advance(60);
    app.state.outbox.wake();
    app.nth_mail("n1@example.com", 2).await;
}

#[tokio::test]
async fn past_the_longest_wait_a_link_request_is_refused_honestly() {
    let app = spawn_app_with(|s| {
        s.throttle.link_mails_per_minute = 1;
        s.throttle.link_mail_max_delay_secs = 60;
        s.throttle.prefix_shares = Vec::new();
    })
    .await;
    assert_eq!(app.forgot_password("a@example.com").await.status, 200, "now");
    assert_eq!(app.forgot_password("b@example.com").await.status, 200, "next minute");
    let refused = app.forgot_password("c@example.com").await;
    assert_eq!(refused.status, 429, "not a silent drop behind \"check your email\"");
    assert!(refused.body.contains("\"retry_after_secs\":60"), "{}", refused.body);
}
