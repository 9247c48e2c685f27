//! Every SQL statement about device cookies.

use crate::db::{AsConn, DbRow, Pool};

use super::Device;
use crate::{accounts::UserId, clock::UnixTime};

/// The live device with this key, while its account is still at the epoch it was issued at.
pub async fn find(pool: &Pool, key: &str, now: UnixTime) -> sqlx::Result<Option<Device>> {
    crate::on_db!(pool, c => {
        let row = sqlx::query(
            "SELECT d.key, d.user_id FROM device_cookies d JOIN users u ON u.id = d.user_id AND u.session_epoch = d.epoch \
             WHERE d.key = $1 AND d.expires_at > $2",
        )
            .bind(key)
            .bind(now)
            .fetch_optional(c)
            .await?;
        row.map(|row| Ok(Device { key: row.try_get("key")?, user_id: row.try_get("user_id")? })).transpose()
    })
}

/// Issues a device for the account if it is still at `epoch` (the one its sign-in was
/// checked at); `false` when a reset moved it on meanwhile.
pub async fn insert(
    connection: &mut impl AsConn,
    key: &str,
    user_id: UserId,
    epoch: i64,
    now: UnixTime,
    expires_at: UnixTime,
) -> sqlx::Result<bool> {
    let done = crate::on_db!(connection.conn(), c => sqlx::query(
        "INSERT INTO device_cookies (key, user_id, epoch, created_at, last_used_at, expires_at) \
         SELECT $1, id, session_epoch, $2, $3, $4 FROM users WHERE id = $5 AND session_epoch = $6",
    )
    .bind(key)
    .bind(now)
    .bind(now)
    .bind(expires_at)
    .bind(user_id)
    .bind(epoch)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// How many new-device notices the account was sent since `since`.
pub async fn notices_since(
    connection: &mut impl AsConn,
    user_id: UserId,
    since: UnixTime,
) -> sqlx::Result<i64> {
    crate::on_db!(connection.conn(), c => sqlx::query_scalar("SELECT COUNT(*) FROM device_notices WHERE user_id = $1 AND sent_at > $2")
        .bind(user_id)
        .bind(since)
        .fetch_one(c)
        .await)
}

/// Records a new-device notice sent to the account.
pub async fn record_notice(connection: &mut impl AsConn, user_id: UserId, now: UnixTime) -> sqlx::Result<()> {
    crate::on_db!(connection.conn(), c => sqlx::query("INSERT INTO device_notices (user_id, sent_at) VALUES ($1, $2)")
        .bind(user_id)
        .bind(now)
        .execute(c)
        .await.map(crate::db::Done::from))?;
    Ok(())
}

pub async fn renew(pool: &Pool, key: &str, now: UnixTime, expires_at: UnixTime) -> sqlx::Result<()> {
    crate::on_db!(pool, c => sqlx::query("UPDATE device_cookies SET last_used_at = $1, expires_at = $2 WHERE key = $3")
        .bind(now)
        .bind(expires_at)
        .bind(key)
        .execute(c)
        .await.map(crate::db::Done::from))?;
    Ok(())
}

pub async fn delete(pool: &Pool, key: &str) -> sqlx::Result<()> {
    crate::on_db!(pool, c => sqlx::query("DELETE FROM device_cookies WHERE key = $1").bind(key).execute(c).await.map(crate::db::Done::from))?;
    Ok(())
}

pub async fn delete_for_user(connection: &mut impl AsConn, user_id: UserId) -> sqlx::Result<u64> {
    Ok(crate::on_db!(connection.conn(), c => sqlx::query("DELETE FROM device_cookies WHERE user_id = $1")
        .bind(user_id)
        .execute(c)
        .await.map(crate::db::Done::from))?
    .rows_affected())
}

/// Deletes expired devices, and notices older than a day (the cap looks back an hour).
pub async fn delete_expired(pool: &Pool, now: UnixTime) -> sqlx::Result<u64> {
    crate::on_db!(pool, c => sqlx::query("DELETE FROM device_notices WHERE sent_at <= $1")
        .bind(now.saturating_sub(86_400))
        .execute(c)
        .await.map(crate::db::Done::from))?;
    Ok(crate::on_db!(pool, c => sqlx::query("DELETE FROM device_cookies WHERE expires_at <= $1")
        .bind(now)
        .execute(c)
        .await.map(crate::db::Done::from))?
    .rows_affected())
}

/// How many of the account's devices were used since `since`.
pub async fn used_since(connection: &mut impl AsConn, user_id: UserId, since: UnixTime) -> sqlx::Result<i64> {
    crate::on_db!(connection.conn(), c => sqlx::query_scalar(
        "SELECT COUNT(*) FROM device_cookies WHERE user_id = $1 AND last_used_at >= $2",
    )
    .bind(user_id)
    .bind(since)
    .fetch_one(c)
    .await)
}

/// Deletes the account's devices beyond its `keep` most recently used, but only those not
/// used since `since` (a device in use is never pushed out). How many went.
pub async fn drop_stale_beyond(
    connection: &mut impl AsConn,
    user_id: UserId,
    keep: i64,
    since: UnixTime,
) -> sqlx::Result<u64> {
    let done = crate::on_db!(connection.conn(), c => sqlx::query(
        "DELETE FROM device_cookies WHERE user_id = $1 AND last_used_at < $2 AND key NOT IN ( \
             SELECT key FROM device_cookies WHERE user_id = $3 ORDER BY last_used_at DESC, created_at DESC, key LIMIT $4)",
    )
    .bind(user_id)
    .bind(since)
    .bind(user_id)
    .bind(keep)
    .execute(c)
    .await
    .map(crate::db::Done::from))?;
    Ok(done.rows_affected())
}
