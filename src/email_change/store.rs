//! The SQL of the email-change aggregate (`email_changes`, and the account's address).
//! Every function runs on the caller's write transaction.

use crate::db::{AsConn, DbRow};

use crate::accounts::UserId;

/// A change as a link finds it.
#[derive(Debug, Clone)]
pub struct ChangeRow {
    pub id: i64,
    pub user_id: UserId,
    /// The account's epoch when it was asked for.
    pub epoch: i64,
    pub old_email: String,
    pub new_email: String,
    pub state: String,
    pub expires_at: i64,
    pub recover_until: Option<i64>,
}

/// Which of a change's three links a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Confirm,
    Cancel,
    Recover,
}

impl Link {
    fn column(self) -> &'static str {
        match self {
            Self::Confirm => "confirm_hash",
            Self::Cancel => "cancel_hash",
            Self::Recover => "recover_hash",
        }
    }
}

const COLUMNS: &str = "id, user_id, epoch, old_email, new_email, state, expires_at, recover_until";

fn change_from_row(row: &impl DbRow) -> sqlx::Result<ChangeRow> {
    Ok(ChangeRow {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        epoch: row.try_get("epoch")?,
        old_email: row.try_get("old_email")?,
        new_email: row.try_get("new_email")?,
        state: row.try_get("state")?,
        expires_at: row.try_get("expires_at")?,
        recover_until: row.try_get("recover_until")?,
    })
}

/// The change a link's token hash belongs to (whatever its state).
pub async fn find_by_link(
    connection: &mut impl AsConn,
    link: Link,
    hash: &str,
) -> sqlx::Result<Option<ChangeRow>> {
    let sql = format!("SELECT {COLUMNS} FROM email_changes WHERE {} = $1", link.column());
    crate::on_db!(connection.conn(), c => {
        let row = sqlx::query(&sql).bind(hash).fetch_optional(c).await?;
        row.as_ref().map(change_from_row).transpose()
    })
}

/// The account's change that waits for confirmation, if any (one asked for at an earlier
/// epoch is dead, whatever its row says).
pub async fn pending(
    connection: &mut impl AsConn,
    user_id: UserId,
    now: i64,
) -> sqlx::Result<Option<ChangeRow>> {
    let columns = COLUMNS.split(", ").map(|c| format!("c.{c}")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT {columns} FROM email_changes c JOIN users u ON u.id = c.user_id \
         WHERE c.user_id = $1 AND c.state = 'pending' AND c.expires_at > $2 AND c.epoch = u.session_epoch \
         ORDER BY c.id DESC LIMIT 1"
    );
    crate::on_db!(connection.conn(), c => {
        let row = sqlx::query(&sql).bind(user_id).bind(now).fetch_optional(c).await?;
        row.as_ref().map(change_from_row).transpose()
    })
}

/// A new pending change, asked for from session `session_key` signed in at `epoch`.
pub struct NewChange<'a> {
    pub user_id: UserId,
    pub session_key: &'a str,
    pub epoch: i64,
    pub old_email: &'a str,
    pub new_email: &'a str,
    pub confirm_hash: &'a str,
    pub cancel_hash: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

/// Stores `change`, only while its session still exists, the account is still at the
/// session's epoch and still has the old address (a request in flight when the session was
/// revoked, the password changed or another change was confirmed stores nothing); every older pending change of the account dies with its
/// links. The new change's id, or `None`: roll the transaction back.
pub async fn insert(connection: &mut impl AsConn, change: &NewChange<'_>) -> sqlx::Result<Option<i64>> {
    supersede_pending(&mut *connection, change.user_id).await?;
    crate::on_db!(connection.conn(), c => sqlx::query_scalar(
        "INSERT INTO email_changes (user_id, old_email, new_email, state, confirm_hash, cancel_hash, \
         epoch, created_at, expires_at) SELECT $1, $2, $3, 'pending', $4, $5, $6, $7, $8 \
         WHERE EXISTS (SELECT 1 FROM users u JOIN session_registry r ON r.user_id = u.id \
         WHERE u.id = $9 AND u.email = $10 AND u.session_epoch = $11 AND r.store_key = $12 AND r.epoch = $13 \
         AND r.parked = FALSE AND r.impersonation_id IS NULL) RETURNING id",
    )
    .bind(change.user_id)
    .bind(change.old_email)
    .bind(change.new_email)
    .bind(change.confirm_hash)
    .bind(change.cancel_hash)
    .bind(change.epoch)
    .bind(change.now)
    .bind(change.expires_at)
    .bind(change.user_id)
    .bind(change.old_email)
    .bind(change.epoch)
    .bind(change.session_key)
    .bind(change.epoch)
    .fetch_optional(c)
    .await)
}

/// Every pending change of the account is superseded: its confirmation link dies; its
/// cancel link still cancels whatever waits then. How many.
pub async fn supersede_pending(connection: &mut impl AsConn, user_id: UserId) -> sqlx::Result<u64> {
    let done = crate::on_db!(connection.conn(), c => sqlx::query(
        "UPDATE email_changes SET state = 'superseded', confirm_hash = NULL WHERE user_id = $1 AND state = 'pending'",
    )
    .bind(user_id)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    Ok(done.rows_affected())
}

/// Every pending change of the account is cancelled (by a cancel link, or by the signed-in
/// owner); how many. Their cancel links keep working, as a no-op that says so.
pub async fn cancel_pending(connection: &mut impl AsConn, user_id: UserId) -> sqlx::Result<u64> {
    let done = crate::on_db!(connection.conn(), c => sqlx::query(
        "UPDATE email_changes SET state = 'cancelled', confirm_hash = NULL WHERE user_id = $1 AND state = 'pending'",
    )
    .bind(user_id)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    Ok(done.rows_affected())
}

/// The pending change `id` dies (its confirmation link had too many wrong passwords); its
/// cancel link keeps working, as a no-op that says so. Whether it was pending.
pub async fn kill(connection: &mut impl AsConn, id: i64) -> sqlx::Result<bool> {
    let done = crate::on_db!(connection.conn(), c => sqlx::query(
        "UPDATE email_changes SET state = 'cancelled', confirm_hash = NULL WHERE id = $1 AND state = 'pending'",
    )
    .bind(id)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// Whether an account other than `user_id` has `email`.
pub async fn taken_by_other(
    connection: &mut impl AsConn,
    email: &str,
    user_id: UserId,
) -> sqlx::Result<bool> {
    let found: Option<i64> = crate::on_db!(connection.conn(), c => sqlx::query_scalar("SELECT id FROM users WHERE email = $1 AND id <> $2")
        .bind(email)
        .bind(user_id)
        .fetch_optional(c)
        .await)?;
    Ok(found.is_some())
}

/// The account's address becomes the change's new one, only while it still has the old
/// one, is still at the epoch the change was asked at, and is neither disabled (a lapsed
/// temporary disablement does not count) nor locked;
/// whether it did. The address counts as proven (its owner followed the link).
pub async fn set_address(connection: &mut impl AsConn, change: &ChangeRow, now: i64) -> sqlx::Result<bool> {
    let sql = format!(
        "UPDATE users SET email = $1, email_verified_at = $2 WHERE id = $3 AND email = $4 \
         AND session_epoch = $5 AND {} AND locked_at IS NULL",
        crate::accounts::store::not_disabled("", "$6")
    );
    let done = crate::on_db!(connection.conn(), c => sqlx::query(&sql)
    .bind(&change.new_email)
    .bind(now)
    .bind(change.user_id)
    .bind(&change.old_email)
    .bind(change.epoch)
    .bind(now)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// A pending change happened: its confirmation link dies, its cancel link now only says
/// so, and its recovery link (for the old address) works until `recover_until`; whether
/// it was still pending.
pub async fn mark_changed(
    connection: &mut impl AsConn,
    id: i64,
    recover_hash: &str,
    now: i64,
    recover_until: i64,
) -> sqlx::Result<bool> {
    let done = crate::on_db!(connection.conn(), c => sqlx::query(
        "UPDATE email_changes SET state = 'changed', confirm_hash = NULL, \
         recover_hash = $1, changed_at = $2, recover_until = $3 WHERE id = $4 AND state = 'pending'",
    )
    .bind(recover_hash)
    .bind(now)
    .bind(recover_until)
    .bind(id)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// The account goes back to `old_email` with an unusable password that must be replaced,
/// at a new epoch (every session and link ends); whether the account still exists.
pub async fn restore(
    connection: &mut impl AsConn,
    user_id: UserId,
    old_email: &str,
    unusable_hash: &str,
) -> sqlx::Result<bool> {
    let done = crate::on_db!(connection.conn(), c => sqlx::query(
        "UPDATE users SET email = $1, password_hash = $2, must_change_password = TRUE, \
         session_epoch = session_epoch + 1 WHERE id = $3",
    )
    .bind(old_email)
    .bind(unusable_hash)
    .bind(user_id)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// A recovery through change `id`: it is recovered, and every change of the account made
/// after it (which the recovery undoes) dies with its links. Changes made before it keep
/// theirs, so a later change's recovery link can never undo an earlier one's recovery.
/// Whether `id` was still recoverable.
pub async fn mark_recovered(connection: &mut impl AsConn, id: i64, user_id: UserId) -> sqlx::Result<bool> {
    let done = crate::on_db!(connection.conn(), c => sqlx::query(
        "UPDATE email_changes SET state = 'recovered', cancel_hash = NULL WHERE id = $1 AND state = 'changed'",
    )
    .bind(id)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    // The recovery link's hash stays on its row: the state ('recovered') makes it worthless,
    // and its page can still name the account it brought back (see `link_address`).
    // Every later change loses its links, whatever its state (a cancelled one's cancel link
    // included); the live ones are superseded, the rest keep their history.
    crate::on_db!(connection.conn(), c => sqlx::query(
        "UPDATE email_changes SET state = CASE WHEN state IN ('pending', 'changed') THEN 'superseded' \
         ELSE state END, confirm_hash = NULL, cancel_hash = NULL, recover_hash = NULL \
         WHERE user_id = $1 AND id > $2",
    )
    .bind(user_id)
    .bind(id)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    Ok(true)
}

/// The account's one-time links mailed before (verification, password reset) die.
pub async fn delete_links(connection: &mut impl AsConn, user_id: UserId) -> sqlx::Result<()> {
    crate::on_db!(connection.conn(), c => sqlx::query("DELETE FROM email_tokens WHERE user_id = $1").bind(user_id).execute(c).await.map(crate::db::Done::from))?;
    Ok(())
}

/// Deletes the changes whose every link died before `before` (the confirmation and cancel
/// links at `expires_at`, the recovery link at `recover_until`). How many. The audit log
/// keeps what happened.
pub async fn delete_dead(pool: &crate::db::Pool, before: i64) -> sqlx::Result<u64> {
    let done = crate::on_db!(pool, c => sqlx::query(
        "DELETE FROM email_changes WHERE expires_at <= $1 AND (recover_until IS NULL OR recover_until <= $2)",
    )
    .bind(before)
    .bind(before)
    .execute(c)
    .await
    .map(crate::db::Done::from))?;
    Ok(done.rows_affected())
}
