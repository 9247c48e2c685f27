//! The store's rules on SQLite; the flows (and the erasure scan on both backends) are
//! tested through the router (`server/tests/api/deletion.rs`).

use super::store;
use crate::db::{self, Pool};

async fn exec(pool: &Pool, sql: &str) -> Result<(), sqlx::Error> {
    crate::on_db!(pool, c => sqlx::query(sql).execute(c).await.map(|_| ()))
}

/// Two accounts (1: an admin, 2: a user), each with a session; 2's stepped up at 100.
async fn pool() -> (Pool, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = db::connect(&format!("sqlite://{}/a.db", dir.path().display())).await.expect("db");
    db::migrate(&pool).await.expect("migrate");
    exec(
        &pool,
        "INSERT INTO users (id, email, username, display_name, password_hash, role, created_at, email_verified_at) \
         VALUES (1, 'a@example.com', 'ada', 'Ada', 'x', 'admin', 0, 0), \
                (2, 'b@example.com', 'bob', 'Bob', 'x', 'user', 0, 0)",
    )
    .await
    .expect("users");
    exec(
        &pool,
        "INSERT INTO session_registry (store_key, handle, user_id, created_at, last_seen_at, idle_expires_at, \
         absolute_expires_at, ip, device, stepped_up_at) VALUES \
         ('s1', 'h1', 1, 0, 0, 9999999999, 9999999999, '', '', 100), \
         ('s2', 'h2', 2, 0, 0, 9999999999, 9999999999, '', '', 100)",
    )
    .await
    .expect("sessions");
    (pool, dir)
}

#[tokio::test]
async fn only_a_live_session_stepped_up_recently_enough_closes_its_own_account_once() {
    let (pool, _dir) = pool().await;
    let mut c = pool.acquire().await.expect("connection");
    assert!(!store::close_by_owner(&mut c, 2, "s2", 101, 900).await.expect("close"), "step-up too old");
    assert!(!store::close_by_owner(&mut c, 2, "s1", 50, 900).await.expect("close"), "someone else's session");
    assert!(store::close_by_owner(&mut c, 2, "s2", 50, 900).await.expect("close"));
    // The epoch moved: the session that asked is over, and asking again changes nothing.
    assert!(!store::close_by_owner(&mut c, 2, "s2", 50, 900).await.expect("close"));
}

#[tokio::test]
async fn an_admin_cannot_close_their_own_account() {
    let (pool, _dir) = pool().await;
    let mut c = pool.acquire().await.expect("connection");
    assert!(!store::close_by_owner(&mut c, 1, "s1", 50, 900).await.expect("close"));
}

#[tokio::test]
async fn an_undo_and_an_erasure_end_one_way_whichever_comes_first() {
    let (pool, _dir) = pool().await;
    let mut c = pool.acquire().await.expect("connection");
    assert!(store::close_by_owner(&mut c, 2, "s2", 50, 900).await.expect("close"));
    store::record_closing(&mut c, 2, 200, 900, None, "undo-hash").await.expect("record");
    // Before it is due, only the undo works, once.
    assert_eq!(store::take_due(&mut c, 2, 899).await.expect("take"), store::Taken::Nothing);
    assert_eq!(store::undo(&mut c, "undo-hash", 899).await.expect("undo"), Some(2));
    assert_eq!(store::undo(&mut c, "undo-hash", 899).await.expect("undo"), None);
    assert_eq!(
        store::take_due(&mut c, 2, 5000).await.expect("take"),
        store::Taken::Nothing,
        "undone: nothing to erase"
    );
    // Closed again: once due, the erasure takes it and the link is dead.
    exec(&pool, "UPDATE users SET deletion_due_at = 900 WHERE id = 2").await.expect("close");
    store::record_closing(&mut c, 2, 200, 900, None, "undo-2").await.expect("record");
    assert_eq!(store::undo(&mut c, "undo-2", 900).await.expect("undo"), None, "the grace period is over");
    let taken = store::take_due(&mut c, 2, 900).await.expect("take");
    assert_eq!(
        taken,
        store::Taken::Account { email: "b@example.com".to_owned(), username: "bob".to_owned() }
    );
    assert_eq!(store::take_due(&mut c, 2, 900).await.expect("take"), store::Taken::Nothing);
}

#[tokio::test]
async fn the_audit_log_lets_only_an_erased_accounts_events_lose_their_details() {
    let (pool, _dir) = pool().await;
    exec(
        &pool,
        "INSERT INTO audit_events (at, event, outcome, actor_id, subject_id, ip, device, details) \
         VALUES (1, 'user_created', 'success', 2, 2, '192.0.2.1', 'Firefox', '{\"x\":1}'), \
                (2, 'user_disabled', 'success', 1, 2, '198.51.100.7', 'Chrome', '{\"reason\":\"spam\"}')",
    )
    .await
    .expect("event");
    let erase = "UPDATE audit_events SET ip = NULL, device = NULL, details = '{\"erased\":true}'";
    assert!(exec(&pool, erase).await.is_err(), "the account is not erased");
    let mut c = pool.acquire().await.expect("connection");
    store::erase(&mut c, 2, "b@example.com", "reserved", 1000, 2000).await.expect("erase");
    let rows: Vec<(Option<String>, String)> =
        crate::on_db!(&pool, c => sqlx::query_as("SELECT ip, details FROM audit_events ORDER BY id").fetch_all(c).await)
            .expect("rows");
    let erased = "{\"erased\":true}".to_owned();
    assert_eq!(rows[0], (None, erased.clone()), "its own event loses everything but id and kind");
    assert_eq!(
        rows[1],
        (Some("198.51.100.7".to_owned()), erased),
        "an admin's address on it stays; the reason goes"
    );
    // A live account cannot be marked erased for a moment to lose its trail, nor an erased
    // one come back.
    assert!(exec(&pool, "UPDATE users SET erased_at = 5 WHERE id = 1").await.is_err(), "not erased whole");
    assert!(exec(&pool, "UPDATE users SET erased_at = NULL WHERE id = 2").await.is_err(), "erased for good");
    assert!(exec(&pool, "UPDATE users SET email = 'b@example.com' WHERE id = 2").await.is_err());
    // Nor made another way: inserted as erased, given another number, or its row gone.
    let born_erased =
        "INSERT INTO users (id, email, username, display_name, password_hash, role, created_at, erased_at) \
         VALUES (7, '#erased-7', '#erased-7', '', '!', 'user', 0, 1)";
    assert!(exec(&pool, born_erased).await.is_err());
    assert!(exec(&pool, "UPDATE users SET id = 9 WHERE id = 2").await.is_err());
    assert!(exec(&pool, "UPDATE users SET id = 9 WHERE id = 1").await.is_err());
    assert!(exec(&pool, "DELETE FROM users WHERE id = 2").await.is_err());
    let forged = "UPDATE audit_events SET event = 'user_enabled'";
    assert!(exec(&pool, forged).await.is_err(), "nothing else about the event may change");
    assert!(exec(&pool, "DELETE FROM audit_events").await.is_err());
    let user: (String, String, Option<i64>) = crate::on_db!(&pool, c => sqlx::query_as(
        "SELECT email, username, erased_at FROM users WHERE id = 2"
    )
    .fetch_one(c)
    .await)
    .expect("user");
    assert_eq!(user, ("#erased-2".to_owned(), "#erased-2".to_owned(), Some(1000)));
}
