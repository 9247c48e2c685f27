//! Every SQL statement about device cookies.

use sqlx::{Row, SqlitePool};

use super::Device;
use crate::{accounts::UserId, clock::UnixTime};

/// The live device with this key, while its account is still at the epoch it was issued at.
pub async fn find(pool: &SqlitePool, key: &str, now: UnixTime) -> sqlx::Result<Option<Device>> {
    let row = sqlx::query(
        "SELECT d.key, d.user_id FROM device_cookies d JOIN users u ON u.id = d.user_id AND u.session_epoch = d.epoch \
         WHERE d.key = ? AND d.expires_at > ?",
    )
        .bind(key)
        .bind(now)
        .fetch_optional(pool)
        .await?;
    row.map(|row| Ok(Device { key: row.try_get("key")?, user_id: row.try_get("user_id")? })).transpose()
}

/// Issues a device for the account if it is still at `epoch` (the one its sign-in was
/// checked at); `false` when a reset moved it on meanwhile.
pub async fn insert(
    connection: &mut sqlx::SqliteConnection,
    key: &str,
    user_id: UserId,
    epoch: i64,
    now: UnixTime,
    expires_at: UnixTime,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO device_cookies (key, user_id, epoch, created_at, last_used_at, expires_at) \
         SELECT ?, id, session_epoch, ?, ?, ? FROM users WHERE id = ? AND session_epoch = ?",
    )
    .bind(key)
    .bind(now)
    .bind(now)
    .bind(expires_at)
    .bind(user_id)
    .bind(epoch)
    .execute(connection)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How many new-device notices the account was sent since `since`.
pub async fn notices_since(
    connection: &mut sqlx::SqliteConnection,
    user_id: UserId,
    since: UnixTime,
) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM device_notices WHERE user_id = ? AND sent_at > ?")
        .bind(user_id)
        .bind(since)
        .fetch_one(connection)
        .await
}

/// Records a new-device notice sent to the account.
pub async fn record_notice(
    connection: &mut sqlx::SqliteConnection,
    user_id: UserId,
    now: UnixTime,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO device_notices (user_id, sent_at) VALUES (?, ?)")
        .bind(user_id)
        .bind(now)
        .execute(connection)
        .await?;
    Ok(())
}

pub async fn renew(pool: &SqlitePool, key: &str, now: UnixTime, expires_at: UnixTime) -> sqlx::Result<()> {
    sqlx::query("UPDATE device_cookies SET last_used_at = ?, expires_at = ? WHERE key = ?")
        .bind(now)
        .bind(expires_at)
        .bind(key)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn delete(pool: &SqlitePool, key: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM device_cookies WHERE key = ?").bind(key).execute(pool).await?;
    Ok(())
}

pub async fn delete_for_user(pool: &SqlitePool, user_id: UserId) -> sqlx::Result<u64> {
    Ok(sqlx::query("DELETE FROM device_cookies WHERE user_id = ?")
        .bind(user_id)
        .execute(pool)
        .await?
        .rows_affected())
}

/// Deletes expired devices, and notices older than a day (the cap looks back an hour).
pub async fn delete_expired(pool: &SqlitePool, now: UnixTime) -> sqlx::Result<u64> {
    sqlx::query("DELETE FROM device_notices WHERE sent_at <= ?")
        .bind(now.saturating_sub(86_400))
        .execute(pool)
        .await?;
    Ok(sqlx::query("DELETE FROM device_cookies WHERE expires_at <= ?")
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected())
}
