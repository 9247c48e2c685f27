//! A database too busy to answer in time (another transaction holds the write lock past
//! the lock timeout) is not a server fault: the request answers 503 with `Retry-After`,
//! changes nothing, and the same request succeeds once the lock is free. On both backends.

use bulwark::db::{AsConn, Backend};

use crate::helpers::{spawn_app, PASSWORD};

const ALICE: &str = "alice@example.com";

#[tokio::test]
async fn a_lock_wait_that_runs_out_answers_503_with_retry_after_and_a_retry_succeeds() {
    let app = spawn_app().await;
    app.register(ALICE, "alice").await;
    let mut holder = app.pool.acquire().await.expect("connection");
    // What every writing transaction waits for (see `bulwark::db::write`).
    let hold = match app.pool.backend() {
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres => "SELECT pg_advisory_lock(27713656437437035)",
    };
    assert_eq!(bulwark::db::WRITE_LOCK, 27713656437437035);
    bulwark::on_db!(holder.conn(), c => sqlx::query(hold).execute(c).await.map(bulwark::db::Done::from))
        .expect("lock");

    let response = app
        .client
        .post(app.url("/api/login"))
        .header("accept", "application/json")
        .form(&[("email", ALICE), ("password", PASSWORD)])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 503, "busy, not broken");
    assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("2"));
    assert!(response.headers().get("set-cookie").is_none(), "no session was made");

    let release = match app.pool.backend() {
        Backend::Sqlite => "ROLLBACK",
        Backend::Postgres => "SELECT pg_advisory_unlock(27713656437437035)",
    };
    bulwark::on_db!(holder.conn(), c => sqlx::query(release).execute(c).await.map(bulwark::db::Done::from))
        .expect("unlock");
    drop(holder);
    let retried = app.login(ALICE, PASSWORD).await;
    assert_eq!(retried.status, 200, "{}", retried.body);
}
