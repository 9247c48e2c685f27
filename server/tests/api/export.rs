//! "Download my data" through the router: step-up first, the file checked against the
//! database, and no secret in it (every stored secret, hash and cookie of the account
//! looked for in the file).

use crate::helpers::{spawn_app, TestApp, PASSWORD};

const OLGA: &str = "olga.export@example.com";
const PATH: &str = server::export::EXPORT_PATH;

async fn scalar_strings(app: &TestApp, sql: &str, id: i64) -> Vec<String> {
    bulwark::on_db!(&app.pool, c => sqlx::query_scalar::<_, String>(sql).bind(id).fetch_all(c).await)
        .expect("rows")
}

#[tokio::test]
async fn the_export_needs_a_fresh_step_up_and_a_signed_in_owner() {
    let app = spawn_app().await;
    let signed_out = app.post_form(PATH, &[]).await;
    assert_eq!((signed_out.status, signed_out.location.as_deref()), (303, Some("/login")));
    app.signed_in_user(OLGA, "olgaexport").await;
    let stale = app.post_form(PATH, &[]).await;
    assert_eq!(stale.status, 303);
    assert_eq!(stale.location.as_deref(), Some("/step-up?next=/account/export"));
    assert!(!stale.body.contains(OLGA));
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    let response = app.client.post(app.url(PATH)).send().await.expect("post");
    assert_eq!(response.status(), 200);
    let disposition =
        response.headers().get("content-disposition").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(disposition.starts_with("attachment; filename=\"bulwark-account-"), "{disposition}");
    assert_eq!(
        response.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    assert_eq!(response.headers().get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    // Another site cannot make the browser fetch it.
    let forged =
        app.client.post(app.url(PATH)).header("origin", "https://evil.example").send().await.expect("post");
    assert_eq!(forged.status(), 403);
    app.clock.advance(11 * 60);
    assert_eq!(app.post_form(PATH, &[]).await.status, 303, "ten minutes later the step-up is stale");
}

#[tokio::test]
async fn the_file_holds_what_the_database_holds_and_no_secret() {
    let app = spawn_app().await;
    app.signed_in_user(OLGA, "olgaexport").await;
    let other = app.browser_signed_in(OLGA, PASSWORD).await;
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    assert_eq!(app.post_form("/api/email-change", &[("email", "olga.next@example.com")]).await.status, 200);
    assert_eq!(app.post_form("/api/email-change/withdraw", &[]).await.status, 200);
    app.outbox_drained().await;
    let id: i64 = bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT id FROM users WHERE email = $1").bind(OLGA).fetch_one(c).await)
        .expect("id");

    let response = app.client.post(app.url(PATH)).send().await.expect("post");
    assert_eq!(response.status(), 200);
    let body = response.text().await.expect("body");
    let file: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(file["format"], "bulwark-account-export");
    assert_eq!(file["version"], 1);
    assert_eq!(file["profile"]["account_number"], id);
    assert_eq!(file["profile"]["email"], OLGA);
    assert_eq!(file["profile"]["username"], "olgaexport");
    let sessions: i64 = bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT COUNT(*) FROM session_registry WHERE user_id = $1").bind(id).fetch_one(c).await)
        .expect("count");
    assert_eq!(file["sessions"].as_array().map(Vec::len), Some(sessions as usize));
    assert_eq!(sessions, 2);
    let changes = file["email_changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["to"], "olga.next@example.com");
    assert_eq!(changes[0]["state"], "cancelled");
    let events: i64 = bulwark::on_db!(&app.pool, c => sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE subject_id = $1 AND event <> 'user_data_exported'").bind(id).fetch_one(c).await)
        .expect("count");
    assert_eq!(file["security_activity"].as_array().map(Vec::len), Some(events as usize));
    assert!(body.contains("user_email_change_requested"));
    let subjects: Vec<&str> =
        file["mail_sent"].as_array().expect("mail").iter().filter_map(|m| m["subject"].as_str()).collect();
    assert!(subjects.contains(&"Your email address is about to change"), "{subjects:?}");
    assert!(
        !subjects.contains(&"Confirm your new email address"),
        "mail to another address is not the account's"
    );

    // Every secret the database holds for the account, and the browsers' cookies.
    let mut secrets = scalar_strings(&app, "SELECT password_hash FROM users WHERE id = $1", id).await;
    secrets
        .extend(scalar_strings(&app, "SELECT store_key FROM session_registry WHERE user_id = $1", id).await);
    secrets.extend(scalar_strings(&app, "SELECT handle FROM session_registry WHERE user_id = $1", id).await);
    secrets.extend(scalar_strings(&app, "SELECT key FROM device_cookies WHERE user_id = $1", id).await);
    secrets.extend(scalar_strings(&app, "SELECT token_hash FROM email_tokens WHERE user_id = $1", id).await);
    secrets.extend(
        scalar_strings(&app, "SELECT COALESCE(confirm_hash, '') FROM email_changes WHERE user_id = $1", id)
            .await,
    );
    secrets.extend(
        scalar_strings(&app, "SELECT COALESCE(cancel_hash, '') FROM email_changes WHERE user_id = $1", id)
            .await,
    );
    secrets
        .extend([app.session_cookie(), other.session_cookie(), other.device_cookie()].into_iter().flatten());
    let secrets: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 16).collect();
    assert!(secrets.len() >= 6, "the test looks for real secrets: {}", secrets.len());
    for secret in &secrets {
        assert!(!body.contains(secret.as_str()), "a secret in the export");
    }
    assert!(!body.contains("argon2"), "no password hash");
    // The owner's security activity shows it.
    assert_eq!(app.audit("user_data_exported").await, vec![(Some(id), Some(id), "success".into())]);
}

/// Ten downloads an hour per account, each audited: the eleventh is refused (429 with
/// `Retry-After`) and writes no audit event; concurrent downloads cannot get past the
/// allowance either; an hour later the owner can download again.
#[tokio::test]
async fn downloads_are_limited_per_account_and_hour() {
    let app = spawn_app().await;
    app.signed_in_user(OLGA, "olgaexport").await;
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    let mut downloads = tokio::task::JoinSet::new();
    for _ in 0..30 {
        downloads.spawn(app.client.post(app.url(PATH)).send());
    }
    let (mut ok, mut refused) = (0, 0);
    while let Some(response) = downloads.join_next().await {
        let response = response.expect("joined").expect("post");
        match response.status().as_u16() {
            200 => ok += 1,
            429 => {
                assert!(response.headers().contains_key("retry-after"));
                refused += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, refused), (bulwark::throttle::EXPORTS_PER_ACCOUNT_PER_HOUR as usize, 20));
    assert_eq!(app.audit("user_data_exported").await.len(), ok, "every file, and only a file, is audited");
    app.clock.advance(3601);
    // The session ended meanwhile (idle): sign in again.
    assert_eq!(app.login(OLGA, PASSWORD).await.status, 200);
    assert_eq!(app.step_up_with(&app.client).await.status, 200);
    assert_eq!(app.client.post(app.url(PATH)).send().await.expect("post").status(), 200);
}
