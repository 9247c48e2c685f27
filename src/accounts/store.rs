//! Every SQL statement about users, in one place. Runtime-checked queries (not the
//! compile-time macros) keep the crate buildable without a database and portable to the
//! PostgreSQL backend.

use crate::db::{AsConn, DbRow, Pool};

use super::{User, UserId};
use crate::{Email, Role};

pub struct NewUser<'a> {
    pub email: &'a str,
    pub username: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub created_at: i64,
}

/// What a one-time token in `email_tokens` is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
        }
    }
}

/// Stores a token bound to the account's current epoch, only while the account still has
/// the address and the epoch the caller looked up (`seen`): an email change or a new
/// password that committed in between must not leave a live link in the old mailbox.
/// Verification tokens are only made for unconfirmed accounts. `false` when there is no
/// such account (or it changed).
pub async fn insert_token(
    executor: &mut impl AsConn,
    hash: &str,
    user_id: UserId,
    seen: (&str, i64),
    purpose: Purpose,
    now: i64,
    expires_at: i64,
) -> sqlx::Result<bool> {
    let condition = match purpose {
        Purpose::VerifyEmail => "AND email_verified_at IS NULL",
        Purpose::ResetPassword => "",
    };
    let done = crate::on_db!(executor.conn(), c => sqlx::query(&format!(
        "INSERT INTO email_tokens (token_hash, user_id, purpose, epoch, created_at, expires_at) \
         SELECT $1, id, $2, session_epoch, $3, $4 FROM users \
         WHERE id = $5 AND email = $6 AND session_epoch = $7 {condition}"
    ))
    .bind(hash)
    .bind(purpose.as_str())
    .bind(now)
    .bind(expires_at)
    .bind(user_id)
    .bind(seen.0)
    .bind(seen.1)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// "Not disabled at `now`" in SQL, the one predicate every statement uses (a disablement
/// whose `disabled_until` has passed is over, as [`Standing`](super::Standing) says in
/// Rust): `prefix` is the table's alias with its dot (or empty), `now` the placeholder
/// bound to the current time.
pub fn not_disabled(prefix: &str, now: &str) -> String {
    // Never NULL (so `NOT` of it is exact): a disablement without an end date is on.
    format!(
        "({prefix}disabled_at IS NULL OR ({prefix}disabled_until IS NOT NULL AND {prefix}disabled_until <= {now}))"
    )
}

/// What a token row says: `(user, epoch it was made at, expires_at)`.
pub type TokenRow = (UserId, i64, i64);

/// Runs `sql` (which binds the hash and the purpose and returns the token's columns).
async fn token_row(
    connection: &mut impl AsConn,
    sql: &str,
    hash: &str,
    purpose: Purpose,
) -> sqlx::Result<Option<TokenRow>> {
    crate::on_db!(connection.conn(), c => {
        let row = sqlx::query(sql).bind(hash).bind(purpose.as_str()).fetch_optional(c).await?;
        row.map(|row| Ok((row.try_get("user_id")?, row.try_get("epoch")?, row.try_get("expires_at")?)))
            .transpose()
    })
}

/// A token's row without using it up.
pub async fn peek_token(pool: &Pool, hash: &str, purpose: Purpose) -> sqlx::Result<Option<TokenRow>> {
    token_row(
        &mut pool.acquire().await?,
        "SELECT user_id, epoch, expires_at FROM email_tokens WHERE token_hash = $1 AND purpose = $2",
        hash,
        purpose,
    )
    .await
}

/// Sets a new password if the account is still at `epoch`, bumping the epoch (which ends
/// every session and kills every outstanding link) and confirming the address (the reset
/// link proved it). `false` if the account moved on meanwhile.
pub async fn set_password(
    connection: &mut impl AsConn,
    user_id: UserId,
    epoch: i64,
    password_hash: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let done = crate::on_db!(connection.conn(), c => sqlx::query(
        "UPDATE users SET password_hash = $1, session_epoch = session_epoch + 1, must_change_password = FALSE, \
         email_verified_at = COALESCE(email_verified_at, $2) WHERE id = $3 AND session_epoch = $4",
    )
    .bind(password_hash)
    .bind(now)
    .bind(user_id)
    .bind(epoch)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// Deletes the token and returns its row. Deleting is what makes it single-use, even for
/// two requests racing with the same link.
pub async fn take_token(
    connection: &mut impl AsConn,
    hash: &str,
    purpose: Purpose,
) -> sqlx::Result<Option<TokenRow>> {
    token_row(
        connection,
        "DELETE FROM email_tokens WHERE token_hash = $1 AND purpose = $2 RETURNING user_id, epoch, expires_at",
        hash,
        purpose,
    )
    .await
}

pub async fn delete_tokens(pool: &Pool, user_id: UserId, purpose: Purpose) -> sqlx::Result<()> {
    crate::on_db!(pool, c => sqlx::query("DELETE FROM email_tokens WHERE user_id = $1 AND purpose = $2")
        .bind(user_id)
        .bind(purpose.as_str())
        .execute(c)
        .await.map(crate::db::Done::from))?;
    Ok(())
}

pub async fn delete_expired_tokens(pool: &Pool, now: i64) -> sqlx::Result<u64> {
    Ok(crate::on_db!(pool, c => sqlx::query("DELETE FROM email_tokens WHERE expires_at <= $1")
        .bind(now)
        .execute(c)
        .await.map(crate::db::Done::from))?
    .rows_affected())
}

pub(crate) const USER_COLUMNS: &str = "id, email, display_name, role, session_epoch, \
     email_verified_at IS NOT NULL AS email_verified, disabled_at, disabled_reason, disabled_until, locked_at, \
     must_change_password, factors_since, deletion_due_at";

pub(crate) fn user_from_row(row: &impl DbRow) -> sqlx::Result<User> {
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        username: row.try_get("display_name")?,
        role: Role::parse_lenient(&row.try_get::<String>("role")?),
        session_epoch: row.try_get("session_epoch")?,
        email_verified: row.try_get("email_verified")?,
        standing: super::Standing {
            disabled_at: row.try_get("disabled_at")?,
            disabled_reason: row.try_get("disabled_reason")?,
            disabled_until: row.try_get("disabled_until")?,
            locked_at: row.try_get("locked_at")?,
            must_change_password: row.try_get("must_change_password")?,
            deletion_due_at: row.try_get("deletion_due_at")?,
        },
        factors_since: row.try_get("factors_since")?,
    })
}

/// The account at `email` and its password hash, for a sign-in. A closing account (see
/// `deletion`) is not found: its sign-in costs and answers exactly what an address without
/// an account does.
pub async fn find_credentials(pool: &Pool, email: &Email) -> sqlx::Result<Option<(User, String)>> {
    crate::on_db!(pool, c => {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1 AND deletion_due_at IS NULL"
        ))
            .bind(email.as_str())
            .fetch_optional(c)
            .await?;
        row.map(|row| Ok((user_from_row(&row)?, row.try_get("password_hash")?))).transpose()
    })
}

pub async fn find_user_by_email(pool: &Pool, email: &Email) -> sqlx::Result<Option<User>> {
    crate::on_db!(pool, c => {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1"))
            .bind(email.as_str())
            .fetch_optional(c)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    })
}

/// [`find_user_by_email`] on the caller's connection or transaction.
pub async fn find_user_by_email_in(
    connection: &mut impl AsConn,
    email: &Email,
) -> sqlx::Result<Option<User>> {
    crate::on_db!(connection.conn(), c => {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1"))
            .bind(email.as_str())
            .fetch_optional(c)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    })
}

pub async fn find_user(executor: &mut impl AsConn, id: UserId) -> sqlx::Result<Option<User>> {
    crate::on_db!(executor.conn(), c => {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(c)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    })
}

/// Replaces the password hash if it is still `old` (a reset meanwhile wins).
pub async fn replace_hash(pool: &Pool, user_id: UserId, old: &str, new: &str) -> sqlx::Result<()> {
    crate::on_db!(pool, c => sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3")
        .bind(new)
        .bind(user_id)
        .bind(old)
        .execute(c)
        .await.map(crate::db::Done::from))?;
    Ok(())
}

/// How long after an account is created its first sign-in goes unannounced (every browser
/// is new right after signup; an account an operator made and first used much later is
/// not, and its first sign-in is worth telling the owner about).
pub const FIRST_SIGN_IN_GRACE_SECS: i64 = 60 * 60;

/// Records a sign-in; whether it is worth telling the owner about as a new browser: the
/// account signed in before, or was created longer than [`FIRST_SIGN_IN_GRACE_SECS`] ago.
/// Run it in a write transaction, so two first sign-ins cannot both see none.
pub async fn touch_sign_in(connection: &mut impl AsConn, user_id: UserId, now: i64) -> sqlx::Result<bool> {
    let row: Option<(Option<i64>, i64)> = crate::on_db!(connection.conn(), c => sqlx::query_as("SELECT last_sign_in_at, created_at FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(c)
            .await)?;
    crate::on_db!(connection.conn(), c => sqlx::query("UPDATE users SET last_sign_in_at = $1 WHERE id = $2")
        .bind(now)
        .bind(user_id)
        .execute(c)
        .await.map(crate::db::Done::from))?;
    Ok(row.is_some_and(|(last, created)| last.is_some() || created < now - FIRST_SIGN_IN_GRACE_SECS))
}

/// The owner's password change: a new hash, a new epoch (every session ends), and no more
/// "must change password", only while the caller's session (`session_key`, signed in at
/// `epoch`) still exists and the account is still at that epoch. `false` otherwise.
pub async fn change_password(
    connection: &mut impl AsConn,
    user_id: UserId,
    epoch: i64,
    session_key: &str,
    password_hash: &str,
) -> sqlx::Result<bool> {
    let done = crate::on_db!(connection.conn(), c => sqlx::query(
        "UPDATE users SET password_hash = $1, session_epoch = session_epoch + 1, must_change_password = FALSE \
         WHERE id = $2 AND session_epoch = $3 \
         AND EXISTS (SELECT 1 FROM session_registry r WHERE r.store_key = $4 AND r.user_id = $5 AND r.epoch = $6 \
         AND r.parked = FALSE AND r.impersonation_id IS NULL)",
    )
    .bind(password_hash)
    .bind(user_id)
    .bind(epoch)
    .bind(session_key)
    .bind(user_id)
    .bind(epoch)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// A confirmed account (made by an operator); `None` when the address or username is taken.
pub async fn insert_confirmed(
    connection: &mut impl AsConn,
    user: &NewUser<'_>,
    role: Role,
) -> sqlx::Result<Option<UserId>> {
    let id = crate::on_db!(connection.conn(), c => sqlx::query_scalar(
        "INSERT INTO users (email, username, display_name, password_hash, role, created_at, email_verified_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(user.email)
    .bind(user.username)
    .bind(user.display_name)
    .bind(user.password_hash)
    .bind(role.as_str())
    .bind(user.created_at)
    .bind(user.created_at)
    .fetch_optional(c)
    .await)?;
    if id.is_some() {
        // A pending signup of the address could no longer become an account.
        delete_pending_signups(connection, user.email).await?;
    }
    Ok(id)
}

/// Every signup waiting for `email` ends (the address now belongs to an account).
pub async fn delete_pending_signups(connection: &mut impl AsConn, email: &str) -> sqlx::Result<()> {
    crate::on_db!(connection.conn(), c => sqlx::query("DELETE FROM pending_signups WHERE email = $1").bind(email).execute(c).await.map(crate::db::Done::from))?;
    Ok(())
}

pub async fn email_exists(connection: &mut impl AsConn, email: &str) -> sqlx::Result<bool> {
    let found: Option<i64> = crate::on_db!(connection.conn(), c => sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(c)
        .await)?;
    Ok(found.is_some())
}
