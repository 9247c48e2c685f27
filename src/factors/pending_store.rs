//! Every SQL statement about pending second steps (see `second_step`), re-exported by
//! `store`.

use crate::{
    accounts::UserId,
    clock::UnixTime,
    db::{AsConn, DbRow, Done, Pool},
};

/// A pending second step as stored.
#[derive(Debug, Clone)]
pub struct StepRow {
    pub user_id: UserId,
    /// The account's epoch when the password was given.
    pub epoch: i64,
    pub device_key: Option<String>,
    pub failures: i32,
}

/// Stores a pending second step under `key` for the account at its current `epoch`.
pub async fn insert_step(
    connection: &mut impl AsConn,
    key: &str,
    user_id: UserId,
    epoch: i64,
    device_key: Option<&str>,
    now: UnixTime,
    expires_at: UnixTime,
) -> sqlx::Result<()> {
    crate::on_db!(connection.conn(), c => sqlx::query(
        "INSERT INTO second_steps (step_key, user_id, epoch, device_key, created_at, expires_at, failures) \
         VALUES ($1, $2, $3, $4, $5, $6, 0)",
    )
    .bind(key)
    .bind(user_id)
    .bind(epoch)
    .bind(device_key)
    .bind(now)
    .bind(expires_at)
    .execute(c)
    .await.map(Done::from))?;
    Ok(())
}

/// The live pending step under `key`: not expired, not failed out, and made at its
/// account's current epoch (a password reset or an admin's "sign out everywhere" since
/// voids it).
pub async fn live_step(
    connection: &mut impl AsConn,
    key: &str,
    now: UnixTime,
    max_failures: i32,
) -> sqlx::Result<Option<StepRow>> {
    crate::on_db!(connection.conn(), c => {
        let row = sqlx::query(
            "SELECT s.user_id, s.epoch, s.device_key, s.failures FROM second_steps s JOIN users u ON u.id = s.user_id \
             WHERE s.step_key = $1 AND s.expires_at > $2 AND s.failures < $3 AND s.epoch = u.session_epoch",
        )
        .bind(key)
        .bind(now)
        .bind(max_failures)
        .fetch_optional(c)
        .await?;
        row.map(|row| {
            Ok(StepRow {
                user_id: row.try_get("user_id")?,
                epoch: row.try_get("epoch")?,
                device_key: row.try_get("device_key")?,
                failures: row.try_get("failures")?,
            })
        })
        .transpose()
    })
}

/// Counts a wrong code on the pending step; the failures it now has (-1: the step is gone).
pub async fn step_failed(pool: &Pool, key: &str) -> sqlx::Result<i32> {
    crate::on_db!(pool, c => {
        let failures: Option<i32> = sqlx::query_scalar(
            "UPDATE second_steps SET failures = failures + 1 WHERE step_key = $1 RETURNING failures",
        )
        .bind(key)
        .fetch_optional(c)
        .await?;
        Ok(failures.unwrap_or(-1))
    })
}

/// Ends a pending step (completed, or given up). `true` for the one request that did,
/// and only while the account is still at the step's epoch: of two completions racing on
/// one step, one gets a session, and a step whose account's sessions were ended meanwhile
/// (a reset, "sign out everywhere") gives none.
pub async fn take_step(connection: &mut impl AsConn, key: &str) -> sqlx::Result<bool> {
    let done = crate::on_db!(connection.conn(), c => sqlx::query(
        "DELETE FROM second_steps WHERE step_key = $1 \
         AND epoch = (SELECT session_epoch FROM users WHERE users.id = second_steps.user_id)",
    )
    .bind(key)
    .execute(c)
    .await.map(Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// Ends every pending second step of the account (its sessions were signed out).
pub async fn delete_steps_of(connection: &mut impl AsConn, user_id: UserId) -> sqlx::Result<()> {
    crate::on_db!(connection.conn(), c => sqlx::query("DELETE FROM second_steps WHERE user_id = $1")
        .bind(user_id)
        .execute(c)
        .await.map(Done::from))?;
    Ok(())
}

/// Deletes expired pending steps. How many.
pub async fn delete_expired_steps(pool: &Pool, now: UnixTime) -> sqlx::Result<u64> {
    let done = crate::on_db!(pool, c => sqlx::query("DELETE FROM second_steps WHERE expires_at <= $1")
        .bind(now)
        .execute(c)
        .await.map(Done::from))?;
    Ok(done.rows_affected())
}
