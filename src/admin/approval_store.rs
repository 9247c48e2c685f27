//! Every SQL statement of the two-person rule (`admin_approvals`), in one place. Each
//! decision is one conditional `UPDATE` on the caller's write transaction, so of two
//! admins approving (or one approving while another withdraws) exactly one decides.

use crate::{
    accounts::UserId,
    clock::UnixTime,
    db::{AsConn, DbRow, Pool},
};

use super::{action::AdminAction, Approval};

/// Whether an admin other than `actor` and `target` can act now, and so could approve what
/// `actor` does to `target` (the account a request is about never decides it).
pub async fn second_admin_exists(
    connection: &mut impl AsConn,
    actor: UserId,
    target: UserId,
    now: UnixTime,
) -> sqlx::Result<bool> {
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM users o WHERE o.id != $1 AND o.id != $2 AND {})",
        crate::sessions::guard::admin_can_act("o", 3)
    );
    crate::on_db!(connection.conn(), c => sqlx::query_scalar(&sql).bind(actor).bind(target).bind(now).fetch_one(c).await)
}

/// How many requests of `proposer` wait now.
pub async fn waiting_of(connection: &mut impl AsConn, proposer: UserId, now: UnixTime) -> sqlx::Result<i64> {
    crate::on_db!(connection.conn(), c => sqlx::query_scalar(
        "SELECT COUNT(*) FROM admin_approvals WHERE proposer_id = $1 AND decided_at IS NULL AND expires_at > $2",
    )
    .bind(proposer)
    .bind(now)
    .fetch_one(c)
    .await)
}

/// Records a waiting request; its id.
pub async fn insert(
    connection: &mut impl AsConn,
    target: UserId,
    proposer: UserId,
    action: &AdminAction,
    now: UnixTime,
    expires_at: UnixTime,
) -> sqlx::Result<i64> {
    crate::on_db!(connection.conn(), c => sqlx::query_scalar(
        "INSERT INTO admin_approvals (target_id, proposer_id, action, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(target)
    .bind(proposer)
    .bind(action.to_json())
    .bind(now)
    .bind(expires_at)
    .fetch_one(c)
    .await)
}

/// What was decided: the request's target, proposer and action.
pub type Decided = (UserId, UserId, String);

/// Approves request `id` for `approver`, if it is still waiting, not expired, neither the
/// approver's own nor about the approver, and its proposer is still an admin who can act.
pub async fn claim(
    connection: &mut impl AsConn,
    id: i64,
    approver: UserId,
    now: UnixTime,
) -> sqlx::Result<Option<Decided>> {
    let sql = format!(
        "UPDATE admin_approvals SET decided_by = $1, decided_at = $2, decision = 'approved' \
         WHERE id = $3 AND decided_at IS NULL AND expires_at > $2 AND proposer_id != $1 AND target_id != $1 \
         AND EXISTS (SELECT 1 FROM users p WHERE p.id = admin_approvals.proposer_id AND {}) \
         RETURNING target_id, proposer_id, action",
        crate::sessions::guard::admin_can_act("p", 2)
    );
    crate::on_db!(connection.conn(), c => sqlx::query_as(&sql).bind(approver).bind(now).bind(id).fetch_optional(c).await)
}

/// Withdraws request `id` if it is still waiting and `by` asked for it.
pub async fn withdraw(
    connection: &mut impl AsConn,
    id: i64,
    by: UserId,
    now: UnixTime,
) -> sqlx::Result<Option<Decided>> {
    crate::on_db!(connection.conn(), c => sqlx::query_as(
        "UPDATE admin_approvals SET decided_by = $1, decided_at = $2, decision = 'withdrawn' \
         WHERE id = $3 AND proposer_id = $1 AND decided_at IS NULL AND expires_at > $2 \
         RETURNING target_id, proposer_id, action",
    )
    .bind(by)
    .bind(now)
    .bind(id)
    .fetch_optional(c)
    .await)
}

/// Request `id`'s proposer, target and action, if it still waits.
pub async fn find_waiting(
    pool: &Pool,
    id: i64,
    now: UnixTime,
) -> sqlx::Result<Option<(UserId, UserId, String)>> {
    crate::on_db!(pool, c => sqlx::query_as(
        "SELECT proposer_id, target_id, action FROM admin_approvals \
         WHERE id = $1 AND decided_at IS NULL AND expires_at > $2",
    )
    .bind(id)
    .bind(now)
    .fetch_optional(c)
    .await)
}

/// The requests still waiting (about `target`, or all), oldest first.
pub async fn waiting(pool: &Pool, now: UnixTime, target: Option<UserId>) -> sqlx::Result<Vec<Approval>> {
    crate::on_db!(pool, c => {
        let rows = sqlx::query(
            "SELECT a.id, a.target_id, a.proposer_id, a.action, a.created_at, a.expires_at, \
             t.email AS target_email, t.username AS target_username, p.username AS proposer_username \
             FROM admin_approvals a JOIN users t ON t.id = a.target_id JOIN users p ON p.id = a.proposer_id \
             WHERE a.decided_at IS NULL AND a.expires_at > $1 AND ($2 IS NULL OR a.target_id = $2) \
             ORDER BY a.id LIMIT 200",
        )
        .bind(now)
        .bind(target)
        .fetch_all(c)
        .await?;
        rows.iter().filter_map(|row| approval(row).transpose()).collect()
    })
}

fn approval(row: &impl DbRow) -> sqlx::Result<Option<Approval>> {
    let text: String = row.try_get("action")?;
    let Some(action) = AdminAction::from_json(&text) else { return Ok(None) };
    Ok(Some(Approval {
        id: row.try_get("id")?,
        target: row.try_get("target_id")?,
        proposer: row.try_get("proposer_id")?,
        action,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        target_email: row.try_get("target_email")?,
        target_username: row.try_get("target_username")?,
        proposer_username: row.try_get("proposer_username")?,
    }))
}

/// Every admin's address and username (all of them are told about every request and
/// decision), and a username by id.
pub async fn admins(connection: &mut impl AsConn) -> sqlx::Result<Vec<(String, String)>> {
    crate::on_db!(connection.conn(), c => sqlx::query_as(
        "SELECT email, username FROM users WHERE role = 'admin' AND email_verified_at IS NOT NULL ORDER BY id",
    )
    .fetch_all(c)
    .await)
}

pub async fn username(connection: &mut impl AsConn, id: UserId) -> sqlx::Result<Option<String>> {
    crate::on_db!(connection.conn(), c => sqlx::query_scalar("SELECT username FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(c)
        .await)
}

/// The role of account `id`, read on the caller's transaction.
pub async fn role_of(connection: &mut impl AsConn, id: UserId) -> sqlx::Result<Option<String>> {
    crate::on_db!(connection.conn(), c => sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(c)
        .await)
}

/// Deletes requests decided or expired before `before` (the audit log keeps what
/// happened). How many.
pub async fn delete_old(pool: &Pool, before: UnixTime) -> sqlx::Result<u64> {
    let done = crate::on_db!(pool, c => sqlx::query(
        "DELETE FROM admin_approvals WHERE expires_at < $1 OR decided_at < $2",
    )
    .bind(before)
    .bind(before)
    .execute(c)
    .await
    .map(crate::db::Done::from))?;
    Ok(done.rows_affected())
}
