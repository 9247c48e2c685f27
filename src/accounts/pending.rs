//! Every SQL statement about pending signups (`pending_signups`): a signup waits here,
//! with its own link, username and password hash, until the address's owner confirms it.

use crate::db::{AsConn, DbRow, Pool};

use super::{store::NewUser, UserId};
use crate::clock::UnixTime;

/// A pending signup as stored. `Debug` shows neither the hash nor the address.
pub struct Pending {
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub created_at: UnixTime,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").field("created_at", &self.created_at).finish_non_exhaustive()
    }
}

/// Stores a pending signup made from `network` (a keyed hash of the requester's network)
/// and, in the same transaction, trims the address's live pending signups back to `keep`
/// (expired ones go too). The one pushed out is the oldest of the network with the most,
/// never the one just made: signups from one network push out their own first, and only
/// signups from as many other networks as `keep` can push out the owner's.
pub async fn insert(
    pool: &Pool,
    token_hash: &str,
    signup: &NewUser<'_>,
    network: &str,
    expires_at: UnixTime,
    keep: i64,
) -> sqlx::Result<()> {
    let keep = usize::try_from(keep).unwrap_or(1);
    let mut tx = crate::db::write(pool).await?;
    crate::on_db!(tx.conn(), c => sqlx::query(
        "DELETE FROM pending_signups WHERE email = $1 AND expires_at <= $2",
    )
    .bind(signup.email)
    .bind(signup.created_at)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    crate::on_db!(tx.conn(), c => sqlx::query(
        "INSERT INTO pending_signups (token_hash, email, username, display_name, password_hash, created_at, expires_at, network) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(token_hash)
    .bind(signup.email)
    .bind(signup.username)
    .bind(signup.display_name)
    .bind(signup.password_hash)
    .bind(signup.created_at)
    .bind(expires_at)
    .bind(network)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    let rows: Vec<(String, String)> = crate::on_db!(tx.conn(), c => sqlx::query_as(
        "SELECT token_hash, network FROM pending_signups WHERE email = $1 ORDER BY created_at, token_hash",
    )
    .bind(signup.email)
    .fetch_all(c)
    .await)?;
    for gone in pushed_out(&rows, token_hash, keep) {
        crate::on_db!(tx.conn(), c => sqlx::query("DELETE FROM pending_signups WHERE token_hash = $1")
            .bind(gone)
            .execute(c)
            .await.map(crate::db::Done::from))?;
    }
    tx.commit().await
}

/// Which of an address's pending signups (`(link hash, network)`, oldest first) to push
/// out so that `keep` remain: each time, the oldest of the network with the most (ties:
/// the oldest such row), never `new`.
fn pushed_out<'a>(rows: &'a [(String, String)], new: &str, keep: usize) -> Vec<&'a str> {
    let mut left: Vec<&(String, String)> = rows.iter().collect();
    let mut gone = Vec::new();
    while left.len() > keep.max(1) {
        let count = |network: &str| left.iter().filter(|(_, n)| n == network).count();
        let most = left.iter().map(|(_, n)| count(n)).max().unwrap_or(0);
        let Some(at) = left.iter().position(|(hash, n)| hash != new && count(n) == most) else { break };
        gone.push(left.remove(at).0.as_str());
    }
    gone
}

/// The live pending signup with this link.
pub async fn find(pool: &Pool, token_hash: &str, now: UnixTime) -> sqlx::Result<Option<Pending>> {
    crate::on_db!(pool, c => {
        let row = sqlx::query(
            "SELECT username, display_name, password_hash, created_at FROM pending_signups \
             WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(c)
        .await?;
        row.map(|row| {
            Ok(Pending {
                username: row.try_get("username")?,
                display_name: row.try_get("display_name")?,
                password_hash: row.try_get("password_hash")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .transpose()
    })
}

/// The links (hashes) of the live pending signups of `email`, newest first, at most `limit`.
pub async fn live_of(pool: &Pool, email: &str, now: UnixTime, limit: i64) -> sqlx::Result<Vec<String>> {
    crate::on_db!(pool, c => sqlx::query_scalar(
        "SELECT token_hash FROM pending_signups WHERE email = $1 AND expires_at > $2 \
         ORDER BY created_at DESC, token_hash LIMIT $3",
    )
    .bind(email)
    .bind(now)
    .bind(limit)
    .fetch_all(c)
    .await)
}

/// Gives the live pending signup behind `old_hash` a new link (the old one dies) valid
/// until `expires_at`. `false` when it is gone.
pub async fn renew(
    pool: &Pool,
    old_hash: &str,
    new_hash: &str,
    now: UnixTime,
    expires_at: UnixTime,
) -> sqlx::Result<bool> {
    let done = crate::on_db!(pool, c => sqlx::query(
        "UPDATE pending_signups SET token_hash = $1, expires_at = $2 WHERE token_hash = $3 AND expires_at > $4",
    )
    .bind(new_hash)
    .bind(expires_at)
    .bind(old_hash)
    .bind(now)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// Counts one password check against the signup before it runs (so 40 concurrent wrong
/// passwords cannot all be checked); `false` when its `limit` is used up or it is gone.
pub async fn reserve_attempt(pool: &Pool, token_hash: &str, limit: i64, now: UnixTime) -> sqlx::Result<bool> {
    let done = crate::on_db!(pool, c => sqlx::query(
        "UPDATE pending_signups SET failed_attempts = failed_attempts + 1 \
         WHERE token_hash = $1 AND failed_attempts < $2 AND expires_at > $3",
    )
    .bind(token_hash)
    .bind(limit)
    .bind(now)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// Gives back one counted attempt (the password was right; the username was not free).
pub async fn refund_attempt(pool: &Pool, token_hash: &str) -> sqlx::Result<()> {
    crate::on_db!(pool, c => sqlx::query(
        "UPDATE pending_signups SET failed_attempts = failed_attempts - 1 WHERE token_hash = $1 AND failed_attempts > 0",
    )
    .bind(token_hash)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    Ok(())
}

/// Deletes the signup once its wrong passwords reached `limit`.
pub async fn delete_if_exhausted(pool: &Pool, token_hash: &str, limit: i64) -> sqlx::Result<()> {
    crate::on_db!(pool, c => sqlx::query("DELETE FROM pending_signups WHERE token_hash = $1 AND failed_attempts >= $2")
        .bind(token_hash)
        .bind(limit)
        .execute(c)
        .await.map(crate::db::Done::from))?;
    Ok(())
}

/// What confirming a pending signup did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmed {
    /// The account exists now; every pending signup of the address is gone.
    Created(UserId),
    /// The link is gone or the address was confirmed meanwhile (its pending signups are
    /// gone too).
    Gone,
    /// Someone else holds the username now; the signup stays pending.
    UsernameTaken,
}

/// Turns the pending signup behind `token_hash` into a confirmed account named
/// `username`/`display_name`, in one transaction. `username` comes with the hash it would
/// be reserved under had an erased account held it (such a name counts as taken).
pub async fn confirm(
    pool: &Pool,
    token_hash: &str,
    (username, retired_hash): (&str, &str),
    display_name: &str,
    now: UnixTime,
) -> sqlx::Result<Confirmed> {
    let mut tx = crate::db::write(pool).await?;
    // Write first, so the transaction holds the write lock from its start: a transaction
    // that only read at first would fail to upgrade (SQLite) if another confirmation of
    // the same address committed meanwhile, and would decide on a stale snapshot.
    crate::on_db!(tx.conn(), c => sqlx::query("UPDATE pending_signups SET failed_attempts = failed_attempts WHERE token_hash = $1")
        .bind(token_hash)
        .execute(c)
        .await.map(crate::db::Done::from))?;
    let Some((email, password_hash)) = crate::on_db!(tx.conn(), c => sqlx::query_as::<_, (String, String)>(
        "SELECT email, password_hash FROM pending_signups WHERE token_hash = $1 AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(c)
    .await)?
    else {
        return Ok(Confirmed::Gone);
    };
    let taken: Option<i64> = crate::on_db!(tx.conn(), c => sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(&email)
        .fetch_optional(c)
        .await)?;
    if taken.is_some() {
        crate::on_db!(tx.conn(), c => sqlx::query("DELETE FROM pending_signups WHERE email = $1").bind(&email).execute(c).await.map(crate::db::Done::from))?;
        tx.commit().await?;
        return Ok(Confirmed::Gone);
    }
    let retired: Option<i64> = crate::on_db!(tx.conn(), c => sqlx::query_scalar(
        "SELECT until FROM retired_usernames WHERE username_hash = $1 AND until > $2",
    )
    .bind(retired_hash)
    .bind(now)
    .fetch_optional(c)
    .await)?;
    if retired.is_some() {
        return Ok(Confirmed::UsernameTaken);
    }
    let id: Option<UserId> = crate::on_db!(tx.conn(), c => sqlx::query_scalar(
        "INSERT INTO users (email, username, display_name, password_hash, created_at, email_verified_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(&email)
    .bind(username)
    .bind(display_name)
    .bind(&password_hash)
    .bind(now)
    .bind(now)
    .fetch_optional(c)
    .await)?;
    let Some(id) = id else {
        // Either constraint: a confirmation of the same address that committed meanwhile
        // (the link is then moot), or the username.
        let email_taken: Option<i64> = crate::on_db!(tx.conn(), c => sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
            .bind(&email)
            .fetch_optional(c)
            .await)?;
        return Ok(if email_taken.is_some() { Confirmed::Gone } else { Confirmed::UsernameTaken });
    };
    crate::on_db!(tx.conn(), c => sqlx::query("DELETE FROM pending_signups WHERE email = $1").bind(&email).execute(c).await.map(crate::db::Done::from))?;
    let context = crate::audit::Context::default();
    let entry = crate::audit::Entry::new(crate::audit::Event::UserCreated, Some(id), Some(id), &context)
        .details(serde_json::json!({ "role": "user", "confirmed": true, "via": "email link" }));
    crate::audit::record(&mut tx, now, &entry).await?;
    tx.commit().await?;
    Ok(Confirmed::Created(id))
}

pub async fn delete_expired(pool: &Pool, now: UnixTime) -> sqlx::Result<u64> {
    Ok(crate::on_db!(pool, c => sqlx::query("DELETE FROM pending_signups WHERE expires_at <= $1")
        .bind(now)
        .execute(c)
        .await.map(crate::db::Done::from))?
    .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::pushed_out;

    fn rows(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(h, n)| ((*h).to_owned(), (*n).to_owned())).collect()
    }

    #[test]
    fn the_network_with_the_most_loses_its_oldest_and_the_new_one_stays() {
        // The owner (o) signed up first; an attacker's network (a) floods after.
        let list = rows(&[("o1", "o"), ("a1", "a"), ("a2", "a"), ("a3", "a"), ("a4", "a"), ("a5", "a")]);
        assert_eq!(pushed_out(&list, "a5", 5), vec!["a1"]);
        // Every network has one: the oldest goes, but never the new one.
        let list = rows(&[("x", "1"), ("y", "2"), ("z", "3")]);
        assert_eq!(pushed_out(&list, "x", 2), vec!["y"]);
        assert!(pushed_out(&list, "z", 5).is_empty());
        // The new one's own network has the most: its older ones go first.
        let list = rows(&[("o1", "o"), ("a1", "a"), ("a2", "a")]);
        assert_eq!(pushed_out(&list, "a2", 1), vec!["a1", "o1"]);
    }
}
