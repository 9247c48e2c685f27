//! The store's rules on SQLite; the flows are tested through the router
//! (`server/tests/api/invitations.rs`, on both backends).

use super::{store, Status};
use crate::db::{self, Pool};

async fn exec(pool: &Pool, sql: &str) -> Result<(), sqlx::Error> {
    crate::on_db!(pool, c => sqlx::query(sql).execute(c).await.map(|_| ()))
}

/// Two admins (1 and 2) and a disabled admin (3).
async fn pool() -> (Pool, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = db::connect(&format!("sqlite://{}/a.db", dir.path().display())).await.expect("db");
    db::migrate(&pool).await.expect("migrate");
    exec(
        &pool,
        "INSERT INTO users (id, email, username, display_name, password_hash, role, created_at, email_verified_at) \
         VALUES (1, 'a@example.com', 'ada', 'Ada', 'x', 'admin', 0, 0), \
                (2, 'b@example.com', 'bea', 'Bea', 'x', 'admin', 0, 0), \
                (3, 'c@example.com', 'cat', 'Cat', 'x', 'admin', 0, 0)",
    )
    .await
    .expect("users");
    exec(&pool, "UPDATE users SET disabled_at = 0, disabled_reason = 'gone' WHERE id = 3")
        .await
        .expect("disable");
    (pool, dir)
}

fn waiting(by: i64) -> store::New<'static> {
    store::New {
        email: "new@example.com",
        role: "admin",
        token_hash: None,
        invited_by: Some(by),
        created_at: 10,
        expires_at: 1000,
    }
}

#[tokio::test]
async fn an_approval_comes_from_another_admin_once_and_only_while_the_inviter_can_act() {
    let (pool, _dir) = pool().await;
    let mut c = pool.acquire().await.expect("connection");
    let id = store::insert(&mut c, &waiting(1)).await.expect("insert");
    assert!(
        store::approve(&mut c, id, 1, "h1", 20, 500).await.expect("approve").is_none(),
        "not the inviter"
    );
    let approved = store::approve(&mut c, id, 2, "h2", 20, 500).await.expect("approve");
    assert_eq!(approved, Some(("new@example.com".to_owned(), "admin".to_owned())));
    assert!(store::approve(&mut c, id, 2, "h3", 21, 500).await.expect("approve").is_none(), "once");
    // A disabled inviter's request can no longer be approved.
    let theirs = store::insert(&mut c, &waiting(3)).await.expect("insert");
    assert!(store::approve(&mut c, theirs, 2, "h4", 20, 500).await.expect("approve").is_none());
    // Nor a lapsed or revoked one.
    let lapsed = store::insert(&mut c, &waiting(1)).await.expect("insert");
    assert!(store::approve(&mut c, lapsed, 2, "h5", 1000, 5000).await.expect("approve").is_none());
    let revoked = store::insert(&mut c, &waiting(1)).await.expect("insert");
    assert!(store::revoke(&mut c, revoked, Some(2), 30).await.expect("revoke"));
    assert!(store::approve(&mut c, revoked, 2, "h6", 31, 500).await.expect("approve").is_none());
}

#[tokio::test]
async fn a_link_is_claimed_once_and_never_after_its_end_or_a_revocation() {
    let (pool, _dir) = pool().await;
    let mut c = pool.acquire().await.expect("connection");
    let new = store::New { token_hash: Some("t1"), role: "user", ..waiting(1) };
    let id = store::insert(&mut c, &new).await.expect("insert");
    assert!(store::claim(&mut c, "t1", 1000).await.expect("claim").is_none(), "expired");
    assert_eq!(store::claim(&mut c, "t1", 999).await.expect("claim").map(|(i, _, _)| i), Some(id));
    assert!(store::claim(&mut c, "t1", 999).await.expect("claim").is_none(), "used");
    assert!(!store::revoke(&mut c, id, Some(1), 999).await.expect("revoke"), "accepted: nothing to revoke");
    let other = store::New { token_hash: Some("t2"), email: "other@example.com", ..waiting(1) };
    let other = store::insert(&mut c, &other).await.expect("insert");
    assert!(store::revoke(&mut c, other, None, 50).await.expect("revoke"));
    assert!(store::claim(&mut c, "t2", 60).await.expect("claim").is_none(), "revoked");
    // A resend within the quiet period changes nothing; after it, a new link.
    let admin = store::New { token_hash: Some("t5"), email: "fourth@example.com", ..waiting(1) };
    let admin = store::insert(&mut c, &admin).await.expect("insert");
    assert!(
        store::renew(&mut c, admin, ("t6", 2), 20, 2000, 10).await.expect("renew").is_none(),
        "admin: never again"
    );
    let third = store::New { token_hash: Some("t3"), email: "third@example.com", role: "user", ..waiting(1) };
    let third = store::insert(&mut c, &third).await.expect("insert");
    assert!(
        store::renew(&mut c, third, ("t4", 2), 20, 2000, 5).await.expect("renew").is_none(),
        "mailed at 10"
    );
    assert!(store::renew(&mut c, third, ("t4", 2), 20, 2000, 10).await.expect("renew").is_some());
    assert!(store::claim(&mut c, "t3", 30).await.expect("claim").is_none(), "the old link died");
    assert!(store::claim(&mut c, "t4", 1500).await.expect("claim").is_some(), "the new one lives longer");
}

#[tokio::test]
async fn ended_invitations_are_forgotten_after_their_keeping_time() {
    let (pool, _dir) = pool().await;
    let mut c = pool.acquire().await.expect("connection");
    let live = store::New { token_hash: Some("t1"), expires_at: 100_000, ..waiting(1) };
    store::insert(&mut c, &live).await.expect("insert");
    let ended = store::insert(&mut c, &waiting(1)).await.expect("insert");
    assert!(store::revoke(&mut c, ended, Some(1), 50).await.expect("revoke"));
    assert_eq!(store::prune(&pool, 40).await.expect("prune"), 0);
    assert_eq!(store::prune(&pool, 60).await.expect("prune"), 1);
    let rows = store::list(&mut c, 10).await.expect("list");
    assert_eq!(rows.len(), 1);
    assert_eq!(Status::of(&rows[0], 99), Status::Sent);
    assert_eq!(Status::of(&rows[0], 100_000), Status::Expired);
    assert_eq!(rows[0].inviter.as_deref(), Some("Ada"), "as the account shows its name");
}
