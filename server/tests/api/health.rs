//! `/healthz` and `/readyz`: cheap, outside the session layer (no cookie set), never
//! throttled, and `/readyz` names the check that fails: the database, the migrations, the
//! site's files.

use crate::helpers::{spawn_app_serving, TestApp};

/// An app whose site folder holds a WASM module (or not).
async fn app_with_site(wasm: bool) -> (TestApp, tempfile::TempDir) {
    let site = tempfile::tempdir().expect("tempdir");
    if wasm {
        std::fs::create_dir_all(site.path().join("pkg")).expect("mkdir");
        std::fs::write(site.path().join("pkg/bulwark.abc.wasm"), b"\0asm").expect("write");
    }
    let root = site.path().display().to_string();
    let app = spawn_app_serving(|_| {}, move |options| options.site_root = root.into()).await;
    (app, site)
}

async fn ready(app: &TestApp) -> (u16, serde_json::Value, bool) {
    let response = app.new_browser().client.get(app.url("/readyz")).send().await.expect("request");
    let status = response.status().as_u16();
    let cookie = response.headers().contains_key("set-cookie");
    (status, response.json().await.expect("json"), cookie)
}

#[tokio::test]
async fn healthz_answers_ok_without_a_session_and_many_times_over() {
    let (app, _site) = app_with_site(false).await;
    let client = app.new_browser().client;
    for _ in 0..200 {
        let response = client.get(app.url("/healthz")).send().await.expect("request");
        assert_eq!(response.status().as_u16(), 200);
        assert!(!response.headers().contains_key("set-cookie"), "no session");
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.text().await.expect("body"), "ok\n");
    }
}

#[tokio::test]
async fn readyz_is_ready_with_the_database_this_builds_migrations_and_the_site_files() {
    let (app, _site) = app_with_site(true).await;
    let (status, body, cookie) = ready(&app).await;
    assert_eq!(status, 200, "{body}");
    assert!(!cookie);
    assert_eq!(body["status"], "ready");
    for check in ["database", "migrations", "site"] {
        assert_eq!(body["checks"][check], "ok", "{body}");
    }
}

#[tokio::test]
async fn readyz_names_missing_site_files() {
    let (app, _site) = app_with_site(false).await;
    let (status, body, _) = ready(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["failed"], "site");
    assert_eq!(body["checks"]["database"], "ok");
}

#[tokio::test]
async fn readyz_names_migrations_of_a_newer_build() {
    let (app, _site) = app_with_site(true).await;
    bulwark::on_db!(&app.pool, c => sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99999999999999, 'from a newer build', TRUE, $1, 0)",
    )
    .bind(vec![0u8])
    .execute(c)
    .await
    .map(|_| ()))
    .expect("a newer migration");
    let (status, body, _) = ready(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["failed"], "migrations");
    assert!(body["checks"]["migrations"].as_str().expect("text").contains("newer build"), "{body}");
}

#[tokio::test]
async fn readyz_names_a_database_that_does_not_answer() {
    let (app, _site) = app_with_site(true).await;
    app.pool.close().await;
    let (status, body, _) = ready(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["failed"], "database");
    let healthz = app.new_browser().client.get(app.url("/healthz")).send().await.expect("request");
    assert_eq!(healthz.status().as_u16(), 200, "the process still serves");
}

/// A flood of `/readyz` (public, never throttled) runs one check at a time and reuses its
/// answer for a second: a hundred at once are all answered alike, and a database that goes
/// away is reported within moments all the same.
#[tokio::test]
async fn a_flood_of_readiness_checks_shares_one_check_and_still_sees_a_failure() {
    let (app, _site) = app_with_site(true).await;
    let client = app.new_browser().client;
    let mut flood = tokio::task::JoinSet::new();
    for _ in 0..100 {
        flood.spawn(client.get(app.url("/readyz")).send());
    }
    while let Some(answer) = flood.join_next().await {
        assert_eq!(answer.expect("joined").expect("an answer").status().as_u16(), 200);
    }
    app.pool.close().await;
    let started = std::time::Instant::now();
    loop {
        let (status, body, _) = ready(&app).await;
        if status == 503 {
            assert_eq!(body["failed"], "database");
            break;
        }
        assert!(
            started.elapsed() < server::health::READY_REUSE * 5,
            "still ready after the database went away"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
