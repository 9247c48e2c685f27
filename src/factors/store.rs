//! Every SQL statement about second factors and pending second steps, in one place. Each
//! statement compiles for both backends (see `db::seam`). The guards that must hold under
//! concurrency are single statements: a code's step is burnt by a conditional `UPDATE`
//! (`last_step < $step`), a recovery code spent by one (`used_at IS NULL`), an enrolment
//! confirmed by one (`confirmed_at IS NULL`), so of two requests racing, one wins.

use super::cipher::Sealed;
use crate::{
    accounts::UserId,
    clock::UnixTime,
    db::{AsConn, DbRow, Done, Pool},
};

/// An account's authenticator app as stored.
#[derive(Debug, Clone)]
pub struct TotpRow {
    pub sealed: Sealed,
    pub created_at: UnixTime,
    pub confirmed_at: Option<UnixTime>,
    /// The session that started the enrolment (its registry key).
    pub started_by: String,
}

/// The account's authenticator row, confirmed or not.
pub async fn totp(connection: &mut impl AsConn, user_id: UserId) -> sqlx::Result<Option<TotpRow>> {
    crate::on_db!(connection.conn(), c => {
        let row = sqlx::query(
            "SELECT secret, key_version, created_at, confirmed_at, started_by FROM totp_factors WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(c)
        .await?;
        row.map(|row| {
            Ok(TotpRow {
                sealed: Sealed { hex: row.try_get("secret")?, version: row.try_get("key_version")? },
                created_at: row.try_get("created_at")?,
                confirmed_at: row.try_get("confirmed_at")?,
                started_by: row.try_get("started_by")?,
            })
        })
        .transpose()
    })
}

/// Starts (or restarts) an enrolment with a new sealed secret for the session
/// `started_by`, unless the account already has a confirmed app. `false` when it has.
pub async fn start_enrolment(
    pool: &Pool,
    user_id: UserId,
    sealed: &Sealed,
    now: UnixTime,
    started_by: &str,
) -> sqlx::Result<bool> {
    let done = crate::on_db!(pool, c => sqlx::query(
        "INSERT INTO totp_factors (user_id, secret, key_version, created_at, confirmed_at, last_step, started_by) \
         VALUES ($1, $2, $3, $4, NULL, 0, $5) \
         ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, key_version = excluded.key_version, \
         created_at = excluded.created_at, last_step = 0, started_by = excluded.started_by \
         WHERE totp_factors.confirmed_at IS NULL",
    )
    .bind(user_id)
    .bind(&sealed.hex)
    .bind(sealed.version)
    .bind(now)
    .bind(started_by)
    .execute(c)
    .await.map(Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// Confirms the enrolment whose sealed secret is `seen` (not one restarted since), burning
/// the confirming code's step, and marks the account as having factors from `now` (unless
/// it had some already). `false` if that enrolment is no longer waiting.
pub async fn confirm(
    connection: &mut impl AsConn,
    user_id: UserId,
    seen: &Sealed,
    step: i64,
    now: UnixTime,
) -> sqlx::Result<bool> {
    crate::on_db!(connection.conn(), c => {
        let done = sqlx::query(
            "UPDATE totp_factors SET confirmed_at = $1, last_step = $2 \
             WHERE user_id = $3 AND confirmed_at IS NULL AND secret = $4",
        )
        .bind(now)
        .bind(step)
        .bind(user_id)
        .bind(&seen.hex)
        .execute(&mut *c)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("UPDATE users SET factors_since = COALESCE(factors_since, $1) WHERE id = $2")
            .bind(now)
            .bind(user_id)
            .execute(&mut *c)
            .await?;
        Ok(true)
    })
}

/// Since when the account has factors (`None`: it has none).
pub async fn factors_since(connection: &mut impl AsConn, user_id: UserId) -> sqlx::Result<Option<UnixTime>> {
    crate::on_db!(connection.conn(), c => sqlx::query_scalar::<_, Option<i64>>("SELECT factors_since FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(c)
        .await)
    .map(Option::flatten)
}

/// Accepts `step` for the account's confirmed app, once: `true` for the one request that
/// moved `last_step` forward, `false` for a step already used (or older than one used).
pub async fn burn_step(connection: &mut impl AsConn, user_id: UserId, step: i64) -> sqlx::Result<bool> {
    let done = crate::on_db!(connection.conn(), c => sqlx::query(
        "UPDATE totp_factors SET last_step = $1 \
         WHERE user_id = $2 AND confirmed_at IS NOT NULL AND last_step < $1",
    )
    .bind(step)
    .bind(user_id)
    .execute(c)
    .await.map(Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// Re-seals a secret under a newer key version (after a successful use).
pub async fn reseal(pool: &Pool, user_id: UserId, old: &Sealed, new: &Sealed) -> sqlx::Result<()> {
    crate::on_db!(pool, c => sqlx::query(
        "UPDATE totp_factors SET secret = $1, key_version = $2 WHERE user_id = $3 AND secret = $4",
    )
    .bind(&new.hex)
    .bind(new.version)
    .bind(user_id)
    .bind(&old.hex)
    .execute(c)
    .await.map(Done::from))?;
    Ok(())
}

/// Removes every factor of the account (app, passkeys) and its recovery codes; it has no
/// factor any more. Whether it had one.
pub async fn remove_all(connection: &mut impl AsConn, user_id: UserId) -> sqlx::Result<bool> {
    crate::on_db!(connection.conn(), c => {
        let done = sqlx::query("DELETE FROM totp_factors WHERE user_id = $1").bind(user_id).execute(&mut *c).await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *c).await?;
        sqlx::query("DELETE FROM second_steps WHERE user_id = $1").bind(user_id).execute(&mut *c).await?;
        sqlx::query("DELETE FROM recovery_code_reveals WHERE user_id = $1").bind(user_id).execute(&mut *c).await?;
        let passkeys = sqlx::query("DELETE FROM passkeys WHERE user_id = $1").bind(user_id).execute(&mut *c).await?;
        sqlx::query("DELETE FROM passkey_ceremonies WHERE user_id = $1").bind(user_id).execute(&mut *c).await?;
        sqlx::query("UPDATE users SET factors_since = NULL WHERE id = $1").bind(user_id).execute(&mut *c).await?;
        Ok(done.rows_affected() + passkeys.rows_affected() > 0)
    })
}

/// Removes the account's authenticator app only (it keeps other factors). Whether it had one.
pub async fn remove_totp(connection: &mut impl AsConn, user_id: UserId) -> sqlx::Result<bool> {
    let done = crate::on_db!(connection.conn(), c => sqlx::query("DELETE FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL")
        .bind(user_id)
        .execute(c)
        .await.map(Done::from))?;
    Ok(done.rows_affected() > 0)
}

/// The account has factors from `now` on, unless it had some already.
pub async fn mark_factors(connection: &mut impl AsConn, user_id: UserId, now: UnixTime) -> sqlx::Result<()> {
    crate::on_db!(connection.conn(), c => sqlx::query("UPDATE users SET factors_since = COALESCE(factors_since, $1) WHERE id = $2")
        .bind(now)
        .bind(user_id)
        .execute(c)
        .await.map(Done::from))?;
    Ok(())
}

/// Replaces the account's recovery codes with `hashes` (the old set dies).
pub async fn replace_recovery_codes(
    connection: &mut impl AsConn,
    user_id: UserId,
    hashes: &[String],
    now: UnixTime,
) -> sqlx::Result<()> {
    crate::on_db!(connection.conn(), c => {
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *c).await?;
        for hash in hashes {
            sqlx::query("INSERT INTO recovery_codes (code_hash, user_id, created_at, used_at) VALUES ($1, $2, $3, NULL)")
                .bind(hash)
                .bind(user_id)
                .bind(now)
                .execute(&mut *c)
                .await?;
        }
        Ok(())
    })
}

/// Spends the account's unused code with this hash: `true` for the one request that did.
pub async fn spend_recovery_code(
    connection: &mut impl AsConn,
    user_id: UserId,
    hash: &str,
    now: UnixTime,
) -> sqlx::Result<bool> {
    let done = crate::on_db!(connection.conn(), c => sqlx::query(
        "UPDATE recovery_codes SET used_at = $1 WHERE code_hash = $2 AND user_id = $3 AND used_at IS NULL",
    )
    .bind(now)
    .bind(hash)
    .bind(user_id)
    .execute(c)
    .await.map(Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// How many of the account's recovery codes are unused.
pub async fn recovery_codes_left(connection: &mut impl AsConn, user_id: UserId) -> sqlx::Result<i64> {
    crate::on_db!(connection.conn(), c => sqlx::query_scalar(
        "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(c)
    .await)
}

/// Keeps a new set of recovery codes (sealed) to be shown until `expires_at`.
pub async fn put_reveal(
    connection: &mut impl AsConn,
    user_id: UserId,
    sealed: &Sealed,
    expires_at: UnixTime,
    session_key: &str,
) -> sqlx::Result<()> {
    crate::on_db!(connection.conn(), c => sqlx::query(
        "INSERT INTO recovery_code_reveals (user_id, codes, key_version, expires_at, session_key) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (user_id) DO UPDATE SET codes = excluded.codes, key_version = excluded.key_version, \
         expires_at = excluded.expires_at, session_key = excluded.session_key",
    )
    .bind(user_id)
    .bind(&sealed.hex)
    .bind(sealed.version)
    .bind(expires_at)
    .bind(session_key)
    .execute(c)
    .await.map(Done::from))?;
    Ok(())
}

/// The recovery codes waiting to be shown to the session `session_key` (only the session
/// that made them sees them), if any and not expired.
pub async fn reveal(
    connection: &mut impl AsConn,
    user_id: UserId,
    now: UnixTime,
    session_key: &str,
) -> sqlx::Result<Option<Sealed>> {
    crate::on_db!(connection.conn(), c => {
        let row = sqlx::query(
            "SELECT codes, key_version FROM recovery_code_reveals \
             WHERE user_id = $1 AND expires_at > $2 AND session_key = $3",
        )
        .bind(user_id)
        .bind(now)
        .bind(session_key)
        .fetch_optional(c)
        .await?;
        row.map(|row| Ok(Sealed { hex: row.try_get("codes")?, version: row.try_get("key_version")? })).transpose()
    })
}

/// Forgets the recovery codes waiting to be shown (saved, or expired: `before`).
pub async fn drop_reveals(pool: &Pool, user_id: Option<UserId>, before: UnixTime) -> sqlx::Result<()> {
    crate::on_db!(pool, c => sqlx::query(
        "DELETE FROM recovery_code_reveals WHERE user_id = COALESCE($1, user_id) AND ($1 IS NOT NULL OR expires_at <= $2)",
    )
    .bind(user_id)
    .bind(before)
    .execute(c)
    .await.map(Done::from))?;
    Ok(())
}

/// A step-up that counts only with the factor: every other session of the account loses
/// its step-up (made with the password before the factor existed).
pub async fn forget_other_step_ups(
    connection: &mut impl AsConn,
    user_id: UserId,
    keep: &str,
) -> sqlx::Result<()> {
    crate::on_db!(connection.conn(), c => sqlx::query(
        "UPDATE session_registry SET stepped_up_at = NULL WHERE user_id = $1 AND store_key <> $2",
    )
    .bind(user_id)
    .bind(keep)
    .execute(c)
    .await.map(Done::from))?;
    Ok(())
}

/// The session that started an enrolment, or was shown new recovery codes, moved to a new
/// key (its id was rotated): what it owns moves with it.
pub async fn session_moved(pool: &Pool, user_id: UserId, old: &str, new: &str) -> sqlx::Result<()> {
    for table in [
        "totp_factors SET started_by = $1 WHERE user_id = $2 AND started_by = $3",
        "recovery_code_reveals SET session_key = $1 WHERE user_id = $2 AND session_key = $3",
    ] {
        crate::on_db!(pool, c => sqlx::query(&format!("UPDATE {table}"))
            .bind(new)
            .bind(user_id)
            .bind(old)
            .execute(c)
            .await.map(Done::from))?;
    }
    Ok(())
}

pub use super::pending_store::*;
