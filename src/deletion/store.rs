//! Every SQL statement of account deletion, in one place. Erasing an account touches every
//! table that can hold something about a person: this file is where they are listed, and
//! the erasure test scans every table of both backends to prove the list complete.

use crate::{
    accounts::UserId,
    clock::UnixTime,
    db::{AsConn, Db},
};

/// Marks the account as closing until `due_at` and ends every session (epoch bump), only
/// while the owner's session is live and stepped up since `since` (the guard
/// `sessions::guard::owner_stepped_up`), the account is not already closing, and it is not
/// an admin's (another admin deletes an admin's account). `false` when any of these failed.
pub async fn close_by_owner(
    connection: &mut impl AsConn,
    user_id: UserId,
    session_key: &str,
    since: UnixTime,
    due_at: UnixTime,
) -> sqlx::Result<bool> {
    let sql = format!(
        "UPDATE users SET deletion_due_at = $1, session_epoch = session_epoch + 1 \
         WHERE id = $2 AND deletion_due_at IS NULL AND erased_at IS NULL AND role != 'admin' AND {}",
        crate::sessions::guard::owner_stepped_up(3, 2, 4),
    );
    let done = crate::on_db!(connection.conn(), c => sqlx::query(&sql)
        .bind(due_at)
        .bind(user_id)
        .bind(session_key)
        .bind(since)
        .execute(c)
        .await.map(crate::db::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// Everything a closing account had that still works ends, on the closing's transaction:
/// the undo link is stored, mailed links, pending email changes, sign-ins waiting for a
/// second step, passkey ceremonies and support access go.
pub async fn record_closing(
    connection: &mut impl AsConn,
    user_id: UserId,
    now: UnixTime,
    due_at: UnixTime,
    requested_by: Option<UserId>,
    undo_hash: &str,
) -> sqlx::Result<()> {
    crate::on_db!(connection.conn(), c => sqlx::query(
        "INSERT INTO account_deletions (user_id, requested_at, due_at, requested_by, undo_hash) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user_id)
    .bind(now)
    .bind(due_at)
    .bind(requested_by)
    .bind(undo_hash)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    for sql in [
        "DELETE FROM email_tokens WHERE user_id = $1",
        "DELETE FROM email_changes WHERE user_id = $1 AND state = 'pending'",
        "DELETE FROM second_steps WHERE user_id = $1",
        "DELETE FROM passkey_ceremonies WHERE user_id = $1",
        "UPDATE users SET support_access_until = NULL WHERE id = $1",
    ] {
        crate::on_db!(connection.conn(), c => sqlx::query(sql).bind(user_id).execute(c).await.map(crate::db::Done::from))?;
    }
    Ok(())
}

/// A pending deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Pending {
    pub user_id: UserId,
    pub requested_at: UnixTime,
    pub due_at: UnixTime,
    pub requested_by: Option<UserId>,
}

/// The pending deletion an undo link's token (hashed) belongs to, if it can still be undone.
pub async fn find_by_undo(
    connection: &mut impl AsConn,
    undo_hash: &str,
    now: UnixTime,
) -> sqlx::Result<Option<Pending>> {
    crate::on_db!(connection.conn(), c => sqlx::query_as(
        "SELECT user_id, requested_at, due_at, requested_by FROM account_deletions \
         WHERE undo_hash = $1 AND due_at > $2",
    )
    .bind(undo_hash)
    .bind(now)
    .fetch_optional(c)
    .await)
}

/// Takes the pending deletion the undo link names (once: the row goes), if its grace
/// period has not ended, and opens the account again. The erasure takes the same row
/// first, so an undo and an erasure that race end one way.
pub async fn undo(
    connection: &mut impl AsConn,
    undo_hash: &str,
    now: UnixTime,
) -> sqlx::Result<Option<UserId>> {
    let taken: Option<UserId> = crate::on_db!(connection.conn(), c => sqlx::query_scalar(
        "DELETE FROM account_deletions WHERE undo_hash = $1 AND due_at > $2 RETURNING user_id",
    )
    .bind(undo_hash)
    .bind(now)
    .fetch_optional(c)
    .await)?;
    let Some(user_id) = taken else { return Ok(None) };
    crate::on_db!(connection.conn(), c => sqlx::query(
        "UPDATE users SET deletion_due_at = NULL WHERE id = $1 AND erased_at IS NULL",
    )
    .bind(user_id)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    Ok(Some(user_id))
}

/// Takes back the account's pending deletion whatever its link (an email change's recovery
/// gives the account back to the address it was moved from); whether there was one.
pub async fn cancel(connection: &mut impl AsConn, user_id: UserId) -> sqlx::Result<bool> {
    let taken: Option<UserId> = crate::on_db!(connection.conn(), c => sqlx::query_scalar(
        "DELETE FROM account_deletions WHERE user_id = $1 RETURNING user_id",
    )
    .bind(user_id)
    .fetch_optional(c)
    .await)?;
    crate::on_db!(connection.conn(), c => sqlx::query(
        "UPDATE users SET deletion_due_at = NULL WHERE id = $1 AND erased_at IS NULL",
    )
    .bind(user_id)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    Ok(taken.is_some())
}

/// Accounts whose grace period is over, oldest first.
pub async fn due(connection: &mut impl AsConn, now: UnixTime, limit: i64) -> sqlx::Result<Vec<UserId>> {
    crate::on_db!(connection.conn(), c => sqlx::query_scalar(
        "SELECT user_id FROM account_deletions WHERE due_at <= $1 ORDER BY due_at, user_id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(c)
    .await)
}

/// What taking a due deletion found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// Nothing due (undone meanwhile, or not yet due).
    Nothing,
    /// The row was due but its account is gone or erased already: only the row went.
    Row,
    /// The account to erase: its address and unique username.
    Account { email: String, username: String },
}

/// Takes the account's pending deletion if it is due (the row goes: an undo after this
/// finds nothing).
pub async fn take_due(connection: &mut impl AsConn, user_id: UserId, now: UnixTime) -> sqlx::Result<Taken> {
    let taken: Option<UserId> = crate::on_db!(connection.conn(), c => sqlx::query_scalar(
        "DELETE FROM account_deletions WHERE user_id = $1 AND due_at <= $2 RETURNING user_id",
    )
    .bind(user_id)
    .bind(now)
    .fetch_optional(c)
    .await)?;
    if taken.is_none() {
        return Ok(Taken::Nothing);
    }
    let found: Option<(String, String)> = crate::on_db!(connection.conn(), c => sqlx::query_as("SELECT email, username FROM users WHERE id = $1 AND erased_at IS NULL")
        .bind(user_id)
        .fetch_optional(c)
        .await)?;
    Ok(match found {
        Some((email, username)) => Taken::Account { email, username },
        None => Taken::Row,
    })
}

/// Erases the account: every row about it goes, rows that mention its address go, and the
/// user row keeps only its id, creation time and the time of erasure (so the id is never
/// another account's, and the audit log's ids keep naming one account). The username is
/// reserved under `username_hash` until `reserved_until`.
pub async fn erase(
    connection: &mut impl AsConn,
    user_id: UserId,
    email: &str,
    username_hash: &str,
    now: UnixTime,
    reserved_until: UnixTime,
) -> sqlx::Result<()> {
    // Sessions of other accounts that an impersonation by or of this account opened (they
    // would be ended already; their rows name the impersonation).
    let by_id = [
        "DELETE FROM session_registry WHERE impersonation_id IN \
         (SELECT id FROM impersonations WHERE admin_id = $1 OR user_id = $1)",
        "DELETE FROM session_registry WHERE user_id = $1",
        "DELETE FROM impersonations WHERE admin_id = $1 OR user_id = $1",
        "DELETE FROM device_cookies WHERE user_id = $1",
        "DELETE FROM device_notices WHERE user_id = $1",
        "DELETE FROM email_tokens WHERE user_id = $1",
        "DELETE FROM email_changes WHERE user_id = $1",
        "DELETE FROM totp_factors WHERE user_id = $1",
        "DELETE FROM recovery_codes WHERE user_id = $1",
        "DELETE FROM recovery_code_reveals WHERE user_id = $1",
        "DELETE FROM second_steps WHERE user_id = $1",
        "DELETE FROM passkey_ceremonies WHERE user_id = $1",
        "DELETE FROM passkeys WHERE user_id = $1",
        "DELETE FROM admin_approvals WHERE target_id = $1 OR proposer_id = $1",
        "DELETE FROM mail_log WHERE user_id = $1",
        // The invitation the account was made from (it names the address).
        "DELETE FROM invitations WHERE accepted_by = $1",
        "UPDATE admin_approvals SET decided_by = NULL WHERE decided_by = $1",
    ];
    for sql in by_id {
        crate::on_db!(connection.conn(), c => sqlx::query(sql).bind(user_id).execute(c).await.map(crate::db::Done::from))?;
    }
    let by_address = [
        "DELETE FROM pending_signups WHERE email = $1",
        "DELETE FROM mail_outbox WHERE recipient = $1",
        "DELETE FROM invitations WHERE email = $1",
        // Another account's history that names the address keeps its row without it; the
        // links that would act for the address die with it.
        "UPDATE email_changes SET old_email = '#erased', recover_hash = NULL, cancel_hash = NULL WHERE old_email = $1",
        "UPDATE email_changes SET new_email = '#erased', confirm_hash = NULL, \
         state = CASE WHEN state = 'pending' THEN 'cancelled' ELSE state END WHERE new_email = $1",
    ];
    for sql in by_address {
        crate::on_db!(connection.conn(), c => sqlx::query(sql).bind(email).execute(c).await.map(crate::db::Done::from))?;
    }
    // Placeholders no address or username can equal (no '@', and usernames may not hold
    // a '#').
    crate::on_db!(connection.conn(), c => sqlx::query(
        "UPDATE users SET email = '#erased-' || CAST(id AS TEXT), username = '#erased-' || CAST(id AS TEXT), \
         display_name = '', password_hash = '!', role = 'user', session_epoch = session_epoch + 1, \
         email_verified_at = NULL, disabled_at = NULL, disabled_reason = NULL, disabled_until = NULL, \
         locked_at = NULL, must_change_password = FALSE, last_sign_in_at = NULL, \
         support_access_until = NULL, factors_since = NULL, passkey_handle = NULL, \
         deletion_due_at = NULL, erased_at = $2 WHERE id = $1",
    )
    .bind(user_id)
    .bind(now)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    crate::on_db!(connection.conn(), c => sqlx::query(
        "INSERT INTO retired_usernames (username_hash, until) VALUES ($1, $2) \
         ON CONFLICT (username_hash) DO UPDATE SET until = excluded.until",
    )
    .bind(username_hash)
    .bind(reserved_until)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    // The audit log keeps the ids and events. The account's own events lose their details
    // (and, where it acted itself, its address and browser); an admin's address on an
    // action about it, and what it did to other accounts, stay (but an impersonation's
    // start, whose details name the admin).
    match connection.conn() {
        Db::Sqlite(c) => {
            // The same three steps as PostgreSQL's `bulwark_erase_audit` (see its migration).
            for sql in [
                "UPDATE audit_events SET ip = NULL, device = NULL, details = '{\"erased\":true}' \
                 WHERE subject_id = $1 AND (actor_id IS NULL OR actor_id = $1) \
                 AND (ip IS NOT NULL OR device IS NOT NULL OR details <> '{\"erased\":true}')",
                "UPDATE audit_events SET details = '{\"erased\":true}' \
                 WHERE subject_id = $1 AND actor_id IS NOT NULL AND actor_id <> $1 \
                 AND details <> '{\"erased\":true}'",
                "UPDATE audit_events SET details = '{\"erased\":true}' \
                 WHERE actor_id = $1 AND subject_id IS NOT $1 \
                 AND event = 'authz_impersonation_start' AND details <> '{\"erased\":true}'",
            ] {
                sqlx::query(sql).bind(user_id).execute(&mut *c).await?;
            }
        }
        Db::Postgres(c) => {
            sqlx::query("SELECT bulwark_erase_audit($1)").bind(user_id).execute(c).await?;
        }
    }
    Ok(())
}

/// Forgets reservations that ended.
pub async fn delete_ended_reservations(connection: &mut impl AsConn, now: UnixTime) -> sqlx::Result<u64> {
    Ok(crate::on_db!(connection.conn(), c => sqlx::query("DELETE FROM retired_usernames WHERE until <= $1")
        .bind(now)
        .execute(c)
        .await.map(crate::db::Done::from))?
    .rows_affected())
}
