//! The metrics listener (`BULWARK_METRICS_ADDR`): the counters move with what happens
//! (requests, sign-ins and their second steps, throttle blocks, the hashing queue, mail,
//! breached-list outages), the gauges read the database when scraped, and no label value
//! carries an address, IP, username or token.
//!
//! The recorder is one per process (the `metrics` facade's), shared by every test in this
//! binary: counters are compared before and after (they only grow, whatever runs beside),
//! and the tests that read a gauge a scrape sets hold [`SCRAPES`] so no other app's scrape
//! moves it in between.

use std::{net::SocketAddr, time::Duration};

use bulwark::breached::{Breaches, RangeApi};

use crate::helpers::{spawn_app_with, TestApp, PASSWORD, SECOND_STEP};

static SCRAPES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// An app with the recorder installed and its metrics listener serving.
async fn app_with_metrics(configure: impl FnOnce(&mut server::config::Settings)) -> (TestApp, String) {
    server::metrics::install().expect("the recorder");
    let app = spawn_app_with(configure).await;
    let listener = server::metrics::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(server::metrics::serve(listener, app.state.clone(), Duration::ZERO, std::future::pending()));
    (app, format!("http://{addr}/metrics"))
}

async fn scrape(url: &str) -> String {
    let response = reqwest::get(url).await.expect("scrape");
    assert_eq!(response.status().as_u16(), 200);
    let kind = response.headers()["content-type"].to_str().expect("ascii").to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    response.text().await.expect("body")
}

/// The sum of the samples of `name` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| {
            let (series_name, series_labels) = series.split_once('{').unwrap_or((series, ""));
            series_name == name && labels.iter().all(|(k, v)| series_labels.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, value)| value.parse::<f64>().expect("a number"))
        .sum()
}

#[tokio::test]
async fn sign_ins_second_steps_requests_mail_and_the_hashing_queue_move_their_counters() {
    let (app, metrics) = app_with_metrics(|_| {}).await;
    app.create_account("user@example.com", "someone", bulwark::Role::User).await;
    app.create_account("admin@example.com", "boss", bulwark::Role::Admin).await;
    let before = scrape(&metrics).await;

    assert_eq!(app.login("user@example.com", "wrong password entirely").await.status, 401);
    assert_eq!(app.login("nobody@example.com", PASSWORD).await.status, 401);
    assert_eq!(app.login("user@example.com", PASSWORD).await.status, 200);
    let admin = app.new_browser();
    let reply = app
        .post_raw(&admin.client, "/api/login", &[("email", "admin@example.com"), ("password", PASSWORD)])
        .await;
    assert_eq!(reply.location.as_deref(), Some(SECOND_STEP), "{}", reply.body);
    let wrong = app.post_raw(&admin.client, "/api/second-step", &[("code", "000000")]).await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    assert_eq!(app.pass_second_step(&admin.client).await.status, 200);
    assert_eq!(app.forgot_password("user@example.com").await.status, 200);
    app.outbox_drained().await;
    let after = scrape(&metrics).await;

    let moved =
        |name: &str, labels: &[(&str, &str)]| sample(&after, name, labels) - sample(&before, name, labels);
    let signins = "bulwark_signins_total";
    assert!(moved(signins, &[("method", "password"), ("outcome", "failed")]) >= 2.0);
    assert!(moved(signins, &[("method", "password"), ("outcome", "signed_in")]) >= 1.0);
    assert!(moved(signins, &[("method", "password"), ("outcome", "second_step_owed")]) >= 1.0);
    assert!(moved(signins, &[("method", "second_step"), ("outcome", "signed_in")]) >= 1.0);
    let steps = "bulwark_second_steps_total";
    assert!(moved(steps, &[("factor", "totp"), ("outcome", "wrong")]) >= 1.0);
    assert!(moved(steps, &[("factor", "totp"), ("outcome", "passed")]) >= 1.0);
    assert!(moved("bulwark_http_requests_total", &[("class", "api"), ("status", "401")]) >= 2.0);
    assert!(moved("bulwark_mails_total", &[("event", "queued")]) >= 1.0);
    assert!(moved("bulwark_mails_total", &[("event", "sent")]) >= 1.0);
    assert!(moved("bulwark_http_request_duration_seconds_count", &[("class", "api")]) >= 7.0, "{after}");
    assert!(
        moved("bulwark_hash_wait_seconds_count", &[]) >= 3.0,
        "every verification waited, if only a moment"
    );
    assert!(after.contains("# TYPE bulwark_hash_admitted gauge"), "{after}");
}

#[tokio::test]
async fn throttle_blocks_are_counted_by_budget() {
    let (app, metrics) = app_with_metrics(|_| {}).await;
    let before = scrape(&metrics).await;
    let mut throttled = 0;
    for _ in 0..14 {
        if app.login("target@example.com", "a wrong guess at this").await.status == 429 {
            throttled += 1;
        }
    }
    assert!(throttled > 0, "the address's ladder or the account's backoff refused some");
    let after = scrape(&metrics).await;
    let name = "bulwark_throttle_blocks_total";
    let blocks = sample(&after, name, &[]) - sample(&before, name, &[]);
    assert!(blocks >= f64::from(throttled), "{blocks} blocks for {throttled} refusals");
    let signins = sample(&after, "bulwark_signins_total", &[("outcome", "throttled")])
        - sample(&before, "bulwark_signins_total", &[("outcome", "throttled")]);
    assert!(signins >= f64::from(throttled));
    for line in after.lines().filter(|l| l.starts_with(name)) {
        let budget =
            line.split("budget=\"").nth(1).and_then(|rest| rest.split('"').next()).expect("a budget");
        assert!(budget.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{line}");
    }
}

#[tokio::test]
async fn mail_is_counted_and_the_oldest_waiting_mails_age_is_read_when_scraped() {
    let (app, metrics) = app_with_metrics(|_| {}).await;
    app.create_account("user@example.com", "someone", bulwark::Role::User).await;
    let _scrapes = SCRAPES.lock().await;
    let before = scrape(&metrics).await;
    app.stop_mail_sender();
    assert_eq!(app.forgot_password("user@example.com").await.status, 200);
    app.outbox_holds(1).await;
    app.clock.advance(300);
    let waiting = scrape(&metrics).await;
    assert_eq!(sample(&waiting, "bulwark_mail_waiting", &[]), 1.0, "{waiting}");
    assert!(sample(&waiting, "bulwark_mail_oldest_waiting_seconds", &[]) >= 300.0);
    let queued = sample(&waiting, "bulwark_mails_total", &[("event", "queued")])
        - sample(&before, "bulwark_mails_total", &[("event", "queued")]);
    assert!(queued >= 1.0);
    assert!(sample(&waiting, "bulwark_sessions_live", &[]) >= 0.0);
    assert!(waiting.contains("bulwark_db_pool_connections{state=\"in_use\"}"), "{waiting}");
    assert!(sample(&waiting, "bulwark_db_pool_max_connections", &[]) >= 1.0);
    if matches!(app.pool, bulwark::db::Db::Postgres(_)) {
        assert!(waiting.contains("bulwark_db_lock_waits "), "PostgreSQL's lock waits are read: {waiting}");
    }
}

#[tokio::test]
async fn live_sessions_are_read_from_the_database_when_scraped() {
    let (app, metrics) = app_with_metrics(|_| {}).await;
    app.create_account("user@example.com", "someone", bulwark::Role::User).await;
    let _scrapes = SCRAPES.lock().await;
    assert_eq!(sample(&scrape(&metrics).await, "bulwark_sessions_live", &[]), 0.0);
    let browsers = [app.new_browser(), app.new_browser(), app.new_browser()];
    for browser in &browsers {
        let reply = app
            .post_raw(&browser.client, "/api/login", &[("email", "user@example.com"), ("password", PASSWORD)])
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    assert_eq!(sample(&scrape(&metrics).await, "bulwark_sessions_live", &[]), 3.0);
    // Past the idle lifetime every one has ended, whether or not clean-up has run.
    app.clock.advance(31 * 60);
    assert_eq!(sample(&scrape(&metrics).await, "bulwark_sessions_live", &[]), 0.0);
}

#[tokio::test]
async fn a_breached_list_outage_is_counted() {
    // A port nothing listens on.
    let port = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind").local_addr().expect("addr");
    let range = RangeApi::new(&format!("http://{port}"), Duration::from_millis(800)).expect("client");
    let (app, metrics) =
        app_with_metrics(|s| s.credentials.breaches = Breaches::new(None, Some(range))).await;
    let name = "bulwark_breached_lookups_unavailable_total";
    let before = sample(&scrape(&metrics).await, name, &[("source", "range_api")]);
    let reply = app.signup("alice@example.com", "alice", "lantern orchard whistle pebble").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    app.wait_for_pending(1).await;
    let after = sample(&scrape(&metrics).await, name, &[("source", "range_api")]);
    assert!(after >= before + 1.0, "{before} → {after}");
}

#[tokio::test]
async fn no_label_value_carries_an_address_an_ip_a_username_or_a_token() {
    let (app, metrics) = app_with_metrics(|_| {}).await;
    app.create_account("label.check@example.com", "labelcheck", bulwark::Role::User).await;
    assert_eq!(app.login("label.check@example.com", PASSWORD).await.status, 200);
    let cookie = app.session_cookie().expect("a session");
    assert_eq!(app.login("label.check@example.com", "not the password at all").await.status, 401);
    let _ = app.client.get(app.url("/reset?token=secret-looking-token-value")).send().await;
    let _ = app.client.get(app.url("/label.check@example.com/whatever")).send().await;
    app.forgot_password("label.check@example.com").await;
    let text = scrape(&metrics).await;
    // Every counter is there from the start, at 0 if nothing happened: a series born at 1
    // would read as no increase to an alert.
    for series in [
        "bulwark_mails_total{event=\"failed\"}",
        "bulwark_signins_total{method=\"passkey\",outcome=\"queue_full\"}",
        "bulwark_throttle_blocks_total{budget=\"invitation\"}",
        "bulwark_breached_lookups_unavailable_total{source=\"offline\"}",
        "bulwark_metrics_scrape_errors_total",
    ] {
        assert!(text.contains(series), "{series} is not registered");
    }
    for needle in ["@", "127.0.0.1", "labelcheck", "label.check", "secret-looking", cookie.as_str()] {
        assert!(!text.contains(needle), "the metrics hold {needle:?}");
    }
    for line in text.lines().filter(|l| !l.starts_with('#') && l.contains('{')) {
        let labels = line.split_once('{').and_then(|(_, rest)| rest.rsplit_once('}')).expect("labels").0;
        for pair in labels.split(',') {
            let value = pair.split_once('=').expect("k=v").1.trim_matches('"');
            assert!(
                value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '+'),
                "a label value that is not a fixed word or number: {line}"
            );
        }
    }
}
