//! Every SQL statement about invitations (`invitations`), in one place. Each change is one
//! conditional statement on the caller's write transaction, so of two admins acting on one
//! invitation at once (approving, resending, revoking) or two browsers accepting it,
//! exactly one changes it.

use crate::{
    accounts::UserId,
    clock::UnixTime,
    db::{AsConn, DbRow, Done, Pool},
};

/// An invitation as stored.
#[derive(Clone)]
pub struct Row {
    pub id: i64,
    pub email: String,
    pub role: String,
    /// Whether it has a link (it has none while it waits for a second admin).
    pub has_link: bool,
    pub invited_by: Option<UserId>,
    pub inviter: Option<String>,
    pub approved_by: Option<UserId>,
    pub approver: Option<String>,
    pub created_at: UnixTime,
    pub sent_at: Option<UnixTime>,
    pub expires_at: UnixTime,
    pub accepted_at: Option<UnixTime>,
    pub accepted_by: Option<UserId>,
    pub revoked_at: Option<UnixTime>,
    /// Its inviter and approver are at the session epoch they had when they vouched for it
    /// (see [`vouched`]; whether they can act now is not part of it).
    pub vouched: bool,
}

impl std::fmt::Debug for Row {
    // Not the address.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Row").field("id", &self.id).field("role", &self.role).finish_non_exhaustive()
    }
}

const COLUMNS: &str = "i.id, i.email, i.role, i.token_hash IS NOT NULL AS has_link, i.invited_by, \
     inv.display_name AS inviter, i.approved_by, app.display_name AS approver, i.created_at, i.sent_at, \
     i.expires_at, i.accepted_at, i.accepted_by, i.revoked_at, \
     COALESCE((i.invited_by IS NULL OR inv.session_epoch = i.inviter_epoch) \
     AND (i.approved_by IS NULL OR app.session_epoch = i.approver_epoch), FALSE) AS vouched";
const FROM: &str = "invitations i LEFT JOIN users inv ON inv.id = i.invited_by \
     LEFT JOIN users app ON app.id = i.approved_by";

fn row(r: &impl DbRow) -> sqlx::Result<Row> {
    Ok(Row {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        role: r.try_get("role")?,
        has_link: r.try_get("has_link")?,
        invited_by: r.try_get("invited_by")?,
        inviter: r.try_get("inviter")?,
        approved_by: r.try_get("approved_by")?,
        approver: r.try_get("approver")?,
        created_at: r.try_get("created_at")?,
        sent_at: r.try_get("sent_at")?,
        expires_at: r.try_get("expires_at")?,
        accepted_at: r.try_get("accepted_at")?,
        accepted_by: r.try_get("accepted_by")?,
        revoked_at: r.try_get("revoked_at")?,
        vouched: r.try_get("vouched")?,
    })
}

/// A new invitation: with a link (`token_hash`, mailed at `created_at`), or without one,
/// waiting for a second admin until `expires_at`.
pub struct New<'a> {
    pub email: &'a str,
    pub role: &'a str,
    pub token_hash: Option<&'a str>,
    pub invited_by: Option<UserId>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

pub async fn insert(connection: &mut impl AsConn, new: &New<'_>) -> sqlx::Result<i64> {
    let sent_at = new.token_hash.map(|_| new.created_at);
    crate::on_db!(connection.conn(), c => sqlx::query_scalar(
        "INSERT INTO invitations (email, role, token_hash, invited_by, inviter_epoch, created_at, sent_at, expires_at) \
         VALUES ($1, $2, $3, $4, (SELECT session_epoch FROM users WHERE id = $4), $5, $6, $7) RETURNING id",
    )
    .bind(new.email)
    .bind(new.role)
    .bind(new.token_hash)
    .bind(new.invited_by)
    .bind(new.created_at)
    .bind(sent_at)
    .bind(new.expires_at)
    .fetch_one(c)
    .await)
}

/// How many invitations of `admin` wait for a second admin now.
pub async fn waiting_of(connection: &mut impl AsConn, admin: UserId, now: UnixTime) -> sqlx::Result<i64> {
    crate::on_db!(connection.conn(), c => sqlx::query_scalar(
        "SELECT COUNT(*) FROM invitations WHERE invited_by = $1 AND token_hash IS NULL \
         AND revoked_at IS NULL AND accepted_at IS NULL AND expires_at > $2",
    )
    .bind(admin)
    .bind(now)
    .fetch_one(c)
    .await)
}

/// "Invitation `i`'s link is live" (`$now` the current time): not accepted, not revoked,
/// not expired, and vouched for: [`vouched`].
fn live(now: usize) -> String {
    format!("i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > ${now} AND {}", vouched(now))
}

/// "Invitation `i` is still vouched for": its inviter (unless the command line) and its
/// approver (if any) are admins who can act, at the session epoch they had when they sent
/// or approved it. Whatever takes an admin's access away (a demotion, disablement, lock,
/// required new password, deletion), and whatever ends all their sessions (a new
/// password, a changed address), moves the epoch: their invitations die for good, even
/// if the admin is reinstated later (send them again).
fn vouched(now: usize) -> String {
    let can_act = |alias: &str| crate::sessions::guard::admin_can_act(alias, now);
    format!(
        "(i.invited_by IS NULL OR EXISTS (SELECT 1 FROM users p WHERE p.id = i.invited_by \
         AND p.session_epoch = i.inviter_epoch AND {})) \
         AND (i.approved_by IS NULL OR EXISTS (SELECT 1 FROM users q WHERE q.id = i.approved_by \
         AND q.session_epoch = i.approver_epoch AND {}))",
        can_act("p"),
        can_act("q")
    )
}

/// Gives invitation `id`, waiting for a second admin, its link: if `approver` is not the
/// admin who invited, and the invitation is still live (see [`live`]). Its address and
/// role.
pub async fn approve(
    connection: &mut impl AsConn,
    id: i64,
    approver: UserId,
    token_hash: &str,
    now: UnixTime,
    expires_at: UnixTime,
) -> sqlx::Result<Option<(String, String)>> {
    let sql = format!(
        "UPDATE invitations SET token_hash = $1, sent_at = $2, expires_at = $3, approved_by = $4, \
         approver_epoch = (SELECT session_epoch FROM users WHERE id = $4) \
         WHERE id = $5 AND token_hash IS NULL AND invited_by != $4 \
         AND id IN (SELECT i.id FROM invitations i WHERE i.id = $5 AND {}) \
         RETURNING email, role",
        live(2)
    );
    crate::on_db!(connection.conn(), c => sqlx::query_as(&sql)
        .bind(token_hash)
        .bind(now)
        .bind(expires_at)
        .bind(approver)
        .bind(id)
        .fetch_optional(c)
        .await)
}

/// Gives invitation `id` a new link (the old one dies) valid until `expires_at`, sent by
/// `by` (who vouches for it from now on), if it is to the user role (an admin's invitation
/// is approved for one link: it is invited again instead), has a link, was neither
/// accepted nor revoked, and was not mailed after `not_after`. Its address and role.
pub async fn renew(
    connection: &mut impl AsConn,
    id: i64,
    (token_hash, by): (&str, UserId),
    now: UnixTime,
    expires_at: UnixTime,
    not_after: UnixTime,
) -> sqlx::Result<Option<(String, String)>> {
    crate::on_db!(connection.conn(), c => sqlx::query_as(
        "UPDATE invitations SET token_hash = $1, sent_at = $2, expires_at = $3, invited_by = $6, \
         inviter_epoch = (SELECT session_epoch FROM users WHERE id = $6) \
         WHERE id = $4 AND token_hash IS NOT NULL AND revoked_at IS NULL AND accepted_at IS NULL \
         AND role = 'user' AND sent_at <= $5 RETURNING email, role",
    )
    .bind(token_hash)
    .bind(now)
    .bind(expires_at)
    .bind(id)
    .bind(not_after)
    .bind(by)
    .fetch_optional(c)
    .await)
}

/// Revokes invitation `id` if it was not accepted or revoked: its link dies.
pub async fn revoke(
    connection: &mut impl AsConn,
    id: i64,
    by: Option<UserId>,
    now: UnixTime,
) -> sqlx::Result<bool> {
    let done = crate::on_db!(connection.conn(), c => sqlx::query(
        "UPDATE invitations SET revoked_at = $1, revoked_by = $2 \
         WHERE id = $3 AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(by)
    .bind(id)
    .execute(c)
    .await.map(Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// The invitation whose link is live now (see [`live`]): its id, address, role and end.
pub async fn find_live(
    connection: &mut impl AsConn,
    token_hash: &str,
    now: UnixTime,
) -> sqlx::Result<Option<(i64, String, String, UnixTime)>> {
    let sql = format!(
        "SELECT i.id, i.email, i.role, i.expires_at FROM invitations i WHERE i.token_hash = $1 AND {}",
        live(2)
    );
    crate::on_db!(connection.conn(), c => sqlx::query_as(&sql)
    .bind(token_hash)
    .bind(now)
    .fetch_optional(c)
    .await)
}

/// Marks the invitation behind a live link accepted (its first write, so the transaction
/// holds the write lock from its start); its id, address and role. `None` if the link is
/// not live (used, revoked, expired, unknown, or its inviter can no longer act).
pub async fn claim(
    connection: &mut impl AsConn,
    token_hash: &str,
    now: UnixTime,
) -> sqlx::Result<Option<(i64, String, String)>> {
    let sql = format!(
        "UPDATE invitations SET accepted_at = $1 WHERE token_hash = $2 \
         AND id IN (SELECT i.id FROM invitations i WHERE i.token_hash = $2 AND {}) RETURNING id, email, role",
        live(1)
    );
    crate::on_db!(connection.conn(), c => sqlx::query_as(&sql)
    .bind(now)
    .bind(token_hash)
    .fetch_optional(c)
    .await)
}

/// Records the account invitation `id` became.
pub async fn accepted_as(connection: &mut impl AsConn, id: i64, user: UserId) -> sqlx::Result<()> {
    crate::on_db!(connection.conn(), c => sqlx::query("UPDATE invitations SET accepted_by = $1 WHERE id = $2")
        .bind(user)
        .bind(id)
        .execute(c)
        .await.map(Done::from))?;
    Ok(())
}

pub async fn find(connection: &mut impl AsConn, id: i64) -> sqlx::Result<Option<Row>> {
    let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE i.id = $1");
    crate::on_db!(connection.conn(), c => {
        let found = sqlx::query(&sql).bind(id).fetch_optional(c).await?;
        found.as_ref().map(row).transpose()
    })
}

/// The newest `limit` invitations.
pub async fn list(connection: &mut impl AsConn, limit: i64) -> sqlx::Result<Vec<Row>> {
    let sql = format!("SELECT {COLUMNS} FROM {FROM} ORDER BY i.id DESC LIMIT $1");
    crate::on_db!(connection.conn(), c => {
        let rows = sqlx::query(&sql).bind(limit).fetch_all(c).await?;
        rows.iter().map(row).collect()
    })
}

/// The invitation an account was made from, if any.
pub async fn of_account(connection: &mut impl AsConn, user: UserId) -> sqlx::Result<Option<Row>> {
    let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE i.accepted_by = $1");
    crate::on_db!(connection.conn(), c => {
        let found = sqlx::query(&sql).bind(user).fetch_optional(c).await?;
        found.as_ref().map(row).transpose()
    })
}

/// Forgets invitations that ended (accepted, revoked or expired) before `before`; how many.
pub async fn prune(pool: &Pool, before: UnixTime) -> sqlx::Result<u64> {
    let done = crate::on_db!(pool, c => sqlx::query(
        "DELETE FROM invitations WHERE accepted_at < $1 OR revoked_at < $1 \
         OR (accepted_at IS NULL AND expires_at < $1)",
    )
    .bind(before)
    .execute(c)
    .await.map(Done::from))?;
    Ok(done.rows_affected())
}
