//! The store's state rules; the flows are tested through the router (`server/tests`).

use super::store::{self, Link, NewChange};
use crate::db::{self, Pool};

async fn pool() -> (Pool, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = db::connect(&format!("sqlite://{}/a.db", dir.path().display())).await.expect("db");
    db::migrate(&pool).await.expect("migrate");
    crate::on_db!(&pool, c => sqlx::query(
        "INSERT INTO users (id, email, username, display_name, password_hash, role, created_at, email_verified_at) \
         VALUES (1, 'a@example.com', 'olga', 'olga', 'x', 'user', 0, 0)",
    )
    .execute(c)
    .await.map(|_| ()))
    .expect("user");
    crate::on_db!(&pool, c => sqlx::query(
        "INSERT INTO session_registry (store_key, handle, user_id, created_at, last_seen_at, idle_expires_at, \
         absolute_expires_at, ip, device) VALUES ('s', 'h', 1, 0, 0, 9999999999, 9999999999, '', '')",
    )
    .execute(c)
    .await.map(|_| ()))
    .expect("session");
    (pool, dir)
}

async fn change(pool: &Pool, old: &str, new: &str, n: u32) -> i64 {
    let mut connection = pool.acquire().await.expect("connection");
    let (confirm, cancel) = (format!("confirm{n}"), format!("cancel{n}"));
    let change = NewChange {
        user_id: 1,
        session_key: "s",
        epoch: 0,
        old_email: old,
        new_email: new,
        confirm_hash: &confirm,
        cancel_hash: &cancel,
        now: 10,
        expires_at: 100,
    };
    store::insert(&mut connection, &change).await.expect("insert").expect("stored")
}

async fn state(pool: &Pool, id: i64) -> String {
    crate::on_db!(pool, c => sqlx::query_scalar("SELECT state FROM email_changes WHERE id = $1")
        .bind(id)
        .fetch_one(c)
        .await)
    .expect("state")
}

#[tokio::test]
async fn a_new_request_kills_the_pending_one_and_its_links() {
    let (pool, _dir) = pool().await;
    let first = change(&pool, "a@example.com", "b@example.com", 1).await;
    let second = change(&pool, "a@example.com", "c@example.com", 2).await;
    assert_eq!(state(&pool, first).await, "superseded");
    assert_eq!(state(&pool, second).await, "pending");
    let mut connection = pool.acquire().await.expect("connection");
    assert!(store::find_by_link(&mut connection, Link::Confirm, "confirm1").await.expect("find").is_none());
    let cancel = store::find_by_link(&mut connection, Link::Cancel, "cancel1").await.expect("find");
    assert_eq!(cancel.map(|row| row.state), Some("superseded".into()), "its cancel link still cancels");
    assert_eq!(store::cancel_pending(&mut connection, 1).await.expect("cancel"), 1);
    assert_eq!(state(&pool, second).await, "cancelled");
    drop(connection);
    let third = change(&pool, "a@example.com", "d@example.com", 3).await;
    let mut connection = pool.acquire().await.expect("connection");
    let pending = store::pending(&mut connection, 1, 50).await.expect("pending").expect("one");
    assert_eq!(pending.id, third);
    assert!(store::pending(&mut connection, 1, 100).await.expect("pending").is_none(), "expired");
    crate::on_db!(&pool, c => sqlx::query("UPDATE users SET session_epoch = 1").execute(c).await.map(|_| ()))
        .expect("bump");
    assert!(store::pending(&mut connection, 1, 50).await.expect("pending").is_none(), "a new epoch");
}

#[tokio::test]
async fn nothing_is_stored_for_a_session_that_ended_or_an_account_at_another_epoch() {
    let (pool, _dir) = pool().await;
    let mut connection = pool.acquire().await.expect("connection");
    let mut change = NewChange {
        user_id: 1,
        session_key: "gone",
        epoch: 0,
        old_email: "a@example.com",
        new_email: "b@example.com",
        confirm_hash: "c",
        cancel_hash: "k",
        now: 10,
        expires_at: 100,
    };
    assert_eq!(store::insert(&mut connection, &change).await.expect("insert"), None, "no such session");
    change.session_key = "s";
    crate::on_db!(&pool, c => sqlx::query("UPDATE users SET session_epoch = 1").execute(c).await.map(|_| ()))
        .expect("bump");
    assert_eq!(store::insert(&mut connection, &change).await.expect("insert"), None, "a new epoch");
}

#[tokio::test]
async fn the_address_changes_only_from_the_old_one_at_the_same_epoch_and_never_on_a_disabled_account() {
    let (pool, _dir) = pool().await;
    let id = change(&pool, "a@example.com", "b@example.com", 1).await;
    let mut connection = pool.acquire().await.expect("connection");
    let row =
        store::find_by_link(&mut connection, Link::Confirm, "confirm1").await.expect("find").expect("row");
    assert_eq!(row.id, id);
    let elsewhere = store::ChangeRow { old_email: "other@example.com".into(), ..row.clone() };
    assert!(!store::set_address(&mut connection, &elsewhere, 5).await.expect("set"));
    let older = store::ChangeRow { epoch: -1, ..row.clone() };
    assert!(!store::set_address(&mut connection, &older, 5).await.expect("set"));
    crate::on_db!(&pool, c => sqlx::query("UPDATE users SET disabled_at = 1").execute(c).await.map(|_| ()))
        .expect("disable");
    assert!(!store::set_address(&mut connection, &row, 5).await.expect("set"));
    crate::on_db!(&pool, c => sqlx::query("UPDATE users SET disabled_at = NULL").execute(c).await.map(|_| ())).expect("enable");
    assert!(store::set_address(&mut connection, &row, 5).await.expect("set"));
}

/// The owner's address a; a thief moves the account to b, then on to c. Both changes
/// happened; their recovery links are `recover1` and `recover2`.
async fn moved_twice(pool: &Pool) -> (i64, i64) {
    let first = change(pool, "a@example.com", "b@example.com", 1).await;
    let mut connection = pool.acquire().await.expect("connection");
    assert!(store::mark_changed(&mut connection, first, "recover1", 20, 1000).await.expect("changed"));
    drop(connection);
    crate::on_db!(pool, c => sqlx::query("UPDATE users SET email = 'b@example.com'").execute(c).await.map(crate::db::Done::from)).expect("moved");
    let second = change(pool, "b@example.com", "c@example.com", 2).await;
    let mut connection = pool.acquire().await.expect("connection");
    assert!(store::mark_changed(&mut connection, second, "recover2", 30, 1000).await.expect("changed"));
    (first, second)
}

#[tokio::test]
async fn a_recovery_undoes_later_changes_but_never_an_earlier_one() {
    let (pool, _dir) = pool().await;
    let (first, second) = moved_twice(&pool).await;
    let mut connection = pool.acquire().await.expect("connection");
    // The thief recovers through the second change (back to b): the first keeps its link.
    assert!(store::mark_recovered(&mut connection, second, 1).await.expect("recovered"));
    assert_eq!(state(&pool, first).await, "changed");
    let found = store::find_by_link(&mut connection, Link::Recover, "recover1").await.expect("find");
    assert_eq!(found.map(|row| row.id), Some(first));
    // The owner recovers through the first: the second (already used) stays dead.
    assert!(store::mark_recovered(&mut connection, first, 1).await.expect("recovered"));
    assert!(!store::mark_recovered(&mut connection, first, 1).await.expect("only once"));
    assert!(!store::mark_recovered(&mut connection, second, 1).await.expect("dead"));
}

#[tokio::test]
async fn the_owners_recovery_kills_the_thiefs_later_recovery_link() {
    let (pool, _dir) = pool().await;
    let (first, second) = moved_twice(&pool).await;
    let mut connection = pool.acquire().await.expect("connection");
    assert!(store::mark_recovered(&mut connection, first, 1).await.expect("recovered"));
    assert_eq!(state(&pool, second).await, "superseded");
    assert!(store::find_by_link(&mut connection, Link::Recover, "recover2").await.expect("find").is_none());
    assert!(store::find_by_link(&mut connection, Link::Cancel, "cancel2").await.expect("find").is_none());
}
