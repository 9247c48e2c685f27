//! PostgreSQL with the audit log owned by a role the server does not serve as (review
//! O11): `server migrate` as the owner, `server grant-app-role`, then `serve --no-migrate`
//! as the serving role. The server works; the serving role can read and add audit events
//! but cannot change, delete, truncate, drop or alter them, nor the migrations' record;
//! the clean-up pass still prunes old failed sign-ins naming no account, and nothing
//! younger than 30 days. SQLite has no roles: these tests pass there without running.

use bulwark::{
    clock::Clock,
    db::{self, Pool},
};
use server::config::Settings;

use crate::helpers::{database_url, spawn_app_at, PASSWORD, PG_URL_VAR};

const ALICE: &str = "alice@example.com";
const ROLE_PASSWORD: &str = "the serving roles own password 41";

fn on_postgres() -> bool {
    std::env::var(PG_URL_VAR).is_ok_and(|url| !url.is_empty())
}

/// A fresh database migrated by its owner, and a serving role granted on it: the owner's
/// pool and the serving role's URL.
async fn split_roles(dir: &std::path::Path) -> (Pool, String) {
    let owner_url = database_url(dir).await;
    server::migrate_only(&Settings::local(owner_url.clone())).await.expect("migrated by the owner");
    let owner = db::connect(&owner_url).await.expect("owner");
    let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_nanos();
    let role = format!("serving_{unique}");
    let create = format!("CREATE ROLE {role} LOGIN PASSWORD '{ROLE_PASSWORD}'");
    bulwark::on_db!(&owner, c => sqlx::query(&create).execute(c).await.map(db::Done::from)).expect("role");
    server::roles::grant_app_role(&Settings::local(owner_url.clone()), &role).await.expect("granted");
    let mut url = reqwest::Url::parse(&owner_url).expect("url");
    url.set_username(&role).expect("user");
    url.set_password(Some(ROLE_PASSWORD)).expect("password");
    (owner, url.to_string())
}

async fn refused(pool: &Pool, statement: &str) -> String {
    let result = bulwark::on_db!(pool, c => sqlx::query(statement).execute(c).await.map(db::Done::from));
    let error = result.expect_err(statement);
    let code = error.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned());
    assert_eq!(code.as_deref(), Some("42501"), "{statement}: {error}");
    error.to_string()
}

#[tokio::test]
async fn the_serving_role_reads_and_appends_the_audit_log_and_changes_nothing_in_it() {
    if !on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (owner, serving_url) = split_roles(dir.path()).await;
    let app = spawn_app_at(serving_url, |s| s.migrate = false).await;
    app.register(ALICE, "alice").await;
    assert_eq!(app.login(ALICE, PASSWORD).await.status, 200);
    assert_eq!(app.login("nobody@example.com", "a wrong guess at it").await.status, 401);
    assert_eq!(app.audit("authn_login_fail").await.len(), 1, "appended as the serving role");

    for statement in [
        "DELETE FROM audit_events",
        "UPDATE audit_events SET event = 'nothing happened'",
        "TRUNCATE audit_events",
        "DROP TABLE audit_events",
        "ALTER TABLE audit_events DISABLE TRIGGER ALL",
        "DROP TRIGGER audit_events_no_delete ON audit_events",
        "DELETE FROM _sqlx_migrations",
        "CREATE TABLE mine (id BIGINT)",
    ] {
        refused(&app.pool, statement).await;
    }

    // Old failed sign-ins naming no account go; the rest stays, and nothing younger than
    // 30 days by the database's clock, whatever the server's clock says.
    let old = app.clock.now() - 31 * 24 * 3600;
    let insert = "INSERT INTO audit_events (at, event, outcome, subject_id) VALUES \
                  ($1, 'authn_login_fail', 'failure', NULL), ($1, 'authn_login_fail', 'failure', 1), \
                  ($1, 'user_enabled', 'success', NULL)";
    bulwark::on_db!(&owner, c => sqlx::query(insert).bind(old).execute(c).await.map(db::Done::from))
        .expect("old");
    app.clock.advance(31 * 24 * 3600);
    assert_eq!(server::clean_up(&app.state).await, Vec::<(&str, String)>::new());
    let left: Vec<(i64, String, Option<i64>)> = bulwark::on_db!(&owner, c => sqlx::query_as(
        "SELECT at, event, subject_id FROM audit_events WHERE event IN ('authn_login_fail', 'user_enabled') ORDER BY id",
    )
    .fetch_all(c)
    .await)
    .expect("rows");
    let unknown_failures =
        left.iter().filter(|(_, event, subject)| event == "authn_login_fail" && subject.is_none());
    assert_eq!(unknown_failures.map(|(at, ..)| *at > old).collect::<Vec<_>>(), [true], "only the recent one");
    assert!(left
        .iter()
        .any(|(at, event, subject)| *at == old && event == "authn_login_fail" && *subject == Some(1)));
    assert!(left.iter().any(|(at, event, _)| *at == old && event == "user_enabled"));
}

#[tokio::test]
async fn a_role_that_could_still_change_the_audit_log_is_refused() {
    if !on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (owner, _) = split_roles(dir.path()).await;
    let owner_user: String =
        bulwark::on_db!(&owner, c => sqlx::query_scalar("SELECT current_user::text").fetch_one(c).await)
            .expect("me");
    let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_nanos();
    let member = format!("member_{unique}");
    let create = format!("CREATE ROLE {member} LOGIN IN ROLE {owner_user}");
    bulwark::on_db!(&owner, c => sqlx::query(&create).execute(c).await.map(db::Done::from)).expect("role");
    let url: String = bulwark::on_db!(&owner, c => sqlx::query_scalar("SELECT current_database()::text").fetch_one(c).await)
        .expect("db");
    let admin = std::env::var(PG_URL_VAR).expect("pg");
    let mut owner_url = reqwest::Url::parse(&admin).expect("url");
    owner_url.set_path(&url);
    let refused = server::roles::grant_app_role(&Settings::local(owner_url.to_string()), &member).await;
    let message = refused.expect_err("a member of the owner's role");
    assert!(
        message.contains("act as the audit log's owner") && message.contains("nothing was granted"),
        "{message}"
    );
}

#[tokio::test]
async fn serving_without_migrating_refuses_a_database_that_is_not_this_builds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = database_url(dir.path()).await;
    let mut settings = Settings::local(url);
    settings.migrate = false;
    let refused = server::prepare(
        settings,
        server::leptos_options(([127, 0, 0, 1], 0).into()),
        std::sync::Arc::new(bulwark::clock::SystemClock),
    )
    .await;
    let Err(error) = refused else { panic!("started on an empty database") };
    assert!(error.to_string().contains("--no-migrate"), "{error}");
}
