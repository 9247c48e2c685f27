//! The one guard every change re-checks where it commits: "the caller may still act".
//!
//! A request that started before a revocation, a sign-out everywhere, a password change,
//! a disablement or a demotion can finish after it (a body may trickle in for 30 s). What
//! it was allowed to do when it started counts for nothing then: every change checks its
//! caller again, either in the statement that makes it or on the write transaction that
//! commits it. Write transactions take turns (`BEGIN IMMEDIATE` on SQLite, one advisory
//! lock on PostgreSQL: see `db::write`), so nothing can commit between that check and the
//! change.

use crate::{
    accounts::{store::not_disabled, UserId},
    clock::UnixTime,
    db::AsConn,
};

/// The acting admin: their id, their session's registry key, the oldest step-up that
/// still counts (so a step-up that expired while the request waited counts for nothing
/// when the change is made), and the current time.
pub type ActorKey<'a> = (UserId, &'a str, UnixTime, UnixTime);

/// Who makes a change.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// A signed-in user on their own account: their session's registry row exists, at the
    /// account's current epoch, and is not an admin's session parked for an impersonation.
    Owner { user_id: UserId, session_key: &'a str },
    /// An admin: as [`actor_is_admin`] says.
    Admin(ActorKey<'a>),
}

/// "The caller's session is live" in SQL: `$key` binds its registry key, `$user` its
/// account's id.
pub fn session_is_live(key: usize, user: usize) -> String {
    format!(
        "EXISTS (SELECT 1 FROM session_registry c JOIN users u ON u.id = c.user_id \
         WHERE c.store_key = ${key} AND c.user_id = ${user} AND c.epoch = u.session_epoch AND c.parked = FALSE)"
    )
}

/// "Account `alias` is an admin who can act" (`$now` the current time): confirmed, not
/// disabled, not locked, not due a new password, not closing for deletion, not erased.
pub fn admin_can_act(alias: &str, now: usize) -> String {
    format!(
        "{alias}.role = 'admin' AND {} AND {alias}.locked_at IS NULL AND {alias}.must_change_password = FALSE \
         AND {alias}.email_verified_at IS NOT NULL AND {alias}.deletion_due_at IS NULL AND {alias}.erased_at IS NULL",
        not_disabled(&format!("{alias}."), &format!("${now}"))
    )
}

/// "Another admin who can still act remains": the guard on every change that could take
/// the last one away (placeholder `$n` binds the target's id, `$now` the current time).
pub fn another_active_admin(n: usize, now: usize) -> String {
    format!("EXISTS (SELECT 1 FROM users o WHERE o.id != ${n} AND {})", admin_can_act("o", now))
}

/// "The owner's session is live, their own (not parked, not an impersonation) and stepped
/// up at or after `$since`": `$key` binds its registry key, `$user` its account's id. For
/// the changes that need a fresh step-up: one that expired while the request waited counts
/// for nothing when the change is made.
pub fn owner_stepped_up(key: usize, user: usize, since: usize) -> String {
    format!(
        "EXISTS (SELECT 1 FROM session_registry c JOIN users u ON u.id = c.user_id \
         WHERE c.store_key = ${key} AND c.user_id = ${user} AND c.epoch = u.session_epoch AND c.parked = FALSE \
         AND c.impersonation_id IS NULL AND c.stepped_up_at >= ${since} \
         AND (u.factors_since IS NULL OR c.stepped_up_at >= u.factors_since))"
    )
}

/// "The acting admin is still an admin who can act, on a live session": checked by the
/// statement that makes each admin change (binds the actor's id and session key), so an
/// admin demoted, disabled or signed out while their request was in flight changes
/// nothing, and neither does one whose session was parked meanwhile by an impersonation
/// they started. Its placeholders are `$n` to `$n+3` (see [`bind_actor!`]); `$n+3` is the
/// current time.
pub fn actor_is_admin(n: usize) -> String {
    let (key, stepped_up, now) = (n + 1, n + 2, n + 3);
    format!(
        "EXISTS (SELECT 1 FROM users a JOIN session_registry s ON s.user_id = a.id \
         WHERE a.id = ${n} AND s.store_key = ${key} AND s.epoch = a.session_epoch AND a.role = 'admin' \
         AND {} AND a.locked_at IS NULL AND s.stepped_up_at >= ${stepped_up} \
         AND s.parked = FALSE AND s.impersonation_id IS NULL)",
        not_disabled("a.", &format!("${now}"))
    )
}

/// Binds the four values [`actor_is_admin`] takes, in its order.
#[macro_export]
macro_rules! bind_actor {
    ($query:expr, $actor:expr) => {
        $query.bind($actor.0).bind($actor.1).bind($actor.2).bind($actor.3)
    };
}

/// Whether `caller` may still act. Call it on the write transaction that commits the
/// change (see the module documentation), never on a connection of its own.
pub async fn still_may_act(connection: &mut impl AsConn, caller: Caller<'_>) -> sqlx::Result<bool> {
    match caller {
        Caller::Owner { user_id, session_key } => {
            let sql = format!("SELECT {}", session_is_live(1, 2));
            crate::on_db!(connection.conn(), c => sqlx::query_scalar(&sql).bind(session_key).bind(user_id).fetch_one(c).await)
        }
        Caller::Admin(actor) => {
            let sql = format!("SELECT {}", actor_is_admin(1));
            crate::on_db!(connection.conn(), c => bind_actor!(sqlx::query_scalar(&sql), actor).fetch_one(c).await)
        }
    }
}
