//! Every SQL statement of the admin area, in one place. Each change bumps what it must in
//! one statement, with its condition (the target exists, the last active admin stays),
//! on the caller's transaction so its audit event commits with it.

use crate::db::{AsConn, DbRow, Pool};

use super::{StatusFilter, UserFilter, UserSummary};
use crate::{
    accounts::{
        store::{not_disabled, USER_COLUMNS},
        UserId,
    },
    clock::UnixTime,
    Role,
};

pub use crate::sessions::guard::another_active_admin;
pub use crate::sessions::guard::ActorKey;
use crate::{bind_actor, sessions::guard::actor_is_admin};

/// What a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    NoSuchUser,
    /// The guard that keeps an admin who can act refused it.
    LastAdmin,
    /// The acting admin no longer may (demoted, disabled, signed out meanwhile).
    ActorGone,
    /// Nothing to change (already so): no event, no mail, no sessions ended.
    Unchanged,
}

/// What an `UPDATE` that changed `affected` rows means; `refused` is the answer when the
/// target exists and the actor may act (the statement's own condition said no).
async fn outcome(
    connection: &mut impl AsConn,
    affected: u64,
    target: UserId,
    actor: ActorKey<'_>,
    refused: Outcome,
) -> sqlx::Result<Outcome> {
    if affected == 1 {
        return Ok(Outcome::Done);
    }
    if !actor_may_act(&mut *connection, actor).await? {
        return Ok(Outcome::ActorGone);
    }
    let exists: Option<i64> = crate::on_db!(connection.conn(), c => sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
        .bind(target)
        .fetch_optional(c)
        .await)?;
    Ok(if exists.is_some() { refused } else { Outcome::NoSuchUser })
}

/// Disables (or locks, with `lock`) and ends every session (epoch bump); never the last
/// active admin.
pub async fn block(
    connection: &mut impl AsConn,
    actor: ActorKey<'_>,
    target: UserId,
    now: UnixTime,
    disable: Option<(&str, Option<UnixTime>)>,
) -> sqlx::Result<Outcome> {
    let sql = match disable {
        Some(_) => format!(
            "UPDATE users SET disabled_at = $1, disabled_reason = $2, disabled_until = $3, \
             session_epoch = session_epoch + 1 WHERE id = $4 AND (role != 'admin' OR {}) AND {}",
            another_active_admin(5, 9),
            actor_is_admin(6)
        ),
        None => format!(
            "UPDATE users SET locked_at = $1, session_epoch = session_epoch + 1 \
             WHERE id = $2 AND (role != 'admin' OR {}) AND {}",
            another_active_admin(3, 7),
            actor_is_admin(4)
        ),
    };
    let done = crate::on_db!(connection.conn(), c => {
        let mut query = sqlx::query(&sql).bind(now);
        if let Some((reason, until)) = disable {
            query = query.bind(reason).bind(until);
        }
        bind_actor!(query.bind(target).bind(target), actor).execute(c).await.map(crate::db::Done::from)
    })?;
    outcome(connection, done.rows_affected(), target, actor, Outcome::LastAdmin).await
}

/// Closes the account for deletion, erased at `due_at` unless its owner undoes it, and
/// ends every session (epoch bump); never the last active admin. `Unchanged` when it is
/// closing already.
pub async fn close_for_deletion(
    connection: &mut impl AsConn,
    actor: ActorKey<'_>,
    target: UserId,
    due_at: UnixTime,
) -> sqlx::Result<Outcome> {
    let closing: Option<bool> = crate::on_db!(connection.conn(), c => sqlx::query_scalar(
        "SELECT deletion_due_at IS NOT NULL OR erased_at IS NOT NULL FROM users WHERE id = $1",
    )
    .bind(target)
    .fetch_optional(c)
    .await)?;
    let sql = format!(
        "UPDATE users SET deletion_due_at = $1, session_epoch = session_epoch + 1 \
         WHERE id = $2 AND deletion_due_at IS NULL AND erased_at IS NULL AND (role != 'admin' OR {}) AND {}",
        another_active_admin(3, 7),
        actor_is_admin(4)
    );
    let done = crate::on_db!(connection.conn(), c => {
        bind_actor!(sqlx::query(&sql).bind(due_at).bind(target).bind(target), actor).execute(c).await.map(crate::db::Done::from)
    })?;
    let refused = if closing == Some(true) { Outcome::Unchanged } else { Outcome::LastAdmin };
    outcome(connection, done.rows_affected(), target, actor, refused).await
}

/// Lifts a disablement (`disabled`) or the admin lock.
pub async fn unblock(
    connection: &mut impl AsConn,
    actor: ActorKey<'_>,
    target: UserId,
    disabled: bool,
) -> sqlx::Result<Outcome> {
    // Enabling an account that is not disabled changes nothing; unlocking always clears
    // the sign-in throttle too, so it is always a change.
    let (set, only_if) = if disabled {
        ("disabled_at = NULL, disabled_reason = NULL, disabled_until = NULL", "disabled_at IS NOT NULL")
    } else {
        ("locked_at = NULL", "TRUE")
    };
    let sql = format!("UPDATE users SET {set} WHERE id = $1 AND {only_if} AND {}", actor_is_admin(2));
    let done = crate::on_db!(connection.conn(), c => bind_actor!(sqlx::query(&sql).bind(target), actor).execute(c).await.map(crate::db::Done::from))?;
    outcome(connection, done.rows_affected(), target, actor, Outcome::Unchanged).await
}

/// Requires a new password: the old one is replaced by `unusable_hash` (a hash of a
/// secret nobody holds, so the old password stops working), every session ends, and the
/// account must choose a new password (the reset link does it).
pub async fn require_new_password(
    connection: &mut impl AsConn,
    actor: ActorKey<'_>,
    target: UserId,
    unusable_hash: &str,
) -> sqlx::Result<Outcome> {
    let sql = format!(
        "UPDATE users SET password_hash = $1, must_change_password = TRUE, session_epoch = session_epoch + 1 \
         WHERE id = $2 AND (role != 'admin' OR {}) AND {}",
        another_active_admin(3, 7),
        actor_is_admin(4)
    );
    let done = crate::on_db!(connection.conn(), c => {
        bind_actor!(sqlx::query(&sql).bind(unusable_hash).bind(target).bind(target), actor).execute(c).await.map(crate::db::Done::from)
    })?;
    outcome(connection, done.rows_affected(), target, actor, Outcome::LastAdmin).await
}

/// Removes every second factor of the account (its app, recovery codes, pending second
/// steps) and, like a forced reset, its password (replaced by `unusable_hash`, a new one
/// required through the mailed link): whoever knew the password cannot just set up a
/// factor of their own again. Every session ends (epoch bump). `Unchanged` when it had no
/// factor.
pub async fn reset_factors(
    connection: &mut impl AsConn,
    actor: ActorKey<'_>,
    target: UserId,
    unusable_hash: &str,
) -> sqlx::Result<Outcome> {
    let sql = format!(
        "UPDATE users SET factors_since = NULL, password_hash = $1, must_change_password = TRUE, \
         session_epoch = session_epoch + 1 WHERE id = $2 AND factors_since IS NOT NULL AND {}",
        actor_is_admin(3)
    );
    let done = crate::on_db!(connection.conn(), c => {
        bind_actor!(sqlx::query(&sql).bind(unusable_hash).bind(target), actor).execute(c).await.map(crate::db::Done::from)
    })?;
    if done.rows_affected() == 1 {
        crate::factors::store::remove_all(connection, target).await?;
    }
    outcome(connection, done.rows_affected(), target, actor, Outcome::Unchanged).await
}

/// The operator (break-glass) removes every second factor and ends every session.
/// Whether it changed.
pub async fn operator_reset_factors(connection: &mut impl AsConn, target: UserId) -> sqlx::Result<bool> {
    let done = crate::on_db!(connection.conn(), c => sqlx::query(
        "UPDATE users SET factors_since = NULL, session_epoch = session_epoch + 1 WHERE id = $1 AND factors_since IS NOT NULL",
    )
    .bind(target)
    .execute(c)
    .await
    .map(crate::db::Done::from))?;
    if done.rows_affected() == 1 {
        crate::factors::store::remove_all(connection, target).await?;
    }
    Ok(done.rows_affected() == 1)
}

/// Sets the role and ends every session; never removes the last active admin.
pub async fn set_role(
    connection: &mut impl AsConn,
    actor: ActorKey<'_>,
    target: UserId,
    role: Role,
) -> sqlx::Result<Outcome> {
    let sql = format!(
        "UPDATE users SET role = $1, session_epoch = session_epoch + 1 \
         WHERE id = $2 AND role != $3 AND ($4 = 'admin' OR {}) AND {}",
        another_active_admin(5, 9),
        actor_is_admin(6)
    );
    let done = crate::on_db!(connection.conn(), c => {
        let query = sqlx::query(&sql)
            .bind(role.as_str())
            .bind(target)
            .bind(role.as_str())
            .bind(role.as_str())
            .bind(target);
        bind_actor!(query, actor).execute(c).await.map(crate::db::Done::from)
    })?;
    if done.rows_affected() == 0 {
        if outcome(&mut *connection, 0, target, actor, Outcome::LastAdmin).await? == Outcome::ActorGone {
            return Ok(Outcome::ActorGone);
        }
        let current: Option<String> = crate::on_db!(connection.conn(), c => sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
            .bind(target)
            .fetch_optional(c)
            .await)?;
        return Ok(match current {
            None => Outcome::NoSuchUser,
            // Already that role (another admin got there first): nothing to do.
            Some(current) if current == role.as_str() => Outcome::Unchanged,
            Some(_) => Outcome::LastAdmin,
        });
    }
    Ok(Outcome::Done)
}

/// The operator lifts a disablement (break-glass: no actor to check). Whether it changed.
pub async fn operator_enable(connection: &mut impl AsConn, target: UserId) -> sqlx::Result<bool> {
    let done = crate::on_db!(connection.conn(), c => sqlx::query(
        "UPDATE users SET disabled_at = NULL, disabled_reason = NULL, disabled_until = NULL \
         WHERE id = $1 AND disabled_at IS NOT NULL",
    )
    .bind(target)
    .execute(c)
    .await
    .map(crate::db::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// The operator lifts the admin lock. Whether it changed.
pub async fn operator_unlock(connection: &mut impl AsConn, target: UserId) -> sqlx::Result<bool> {
    let done = crate::on_db!(connection.conn(), c => sqlx::query(
        "UPDATE users SET locked_at = NULL WHERE id = $1 AND locked_at IS NOT NULL",
    )
    .bind(target)
    .execute(c)
    .await
    .map(crate::db::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// The operator sets the role (every session ends); never removes the last admin who can
/// act. Whether it changed.
pub async fn operator_set_role(
    connection: &mut impl AsConn,
    target: UserId,
    role: Role,
    now: UnixTime,
) -> sqlx::Result<bool> {
    let sql = format!(
        "UPDATE users SET role = $1, session_epoch = session_epoch + 1 \
         WHERE id = $2 AND role != $3 AND ($4 = 'admin' OR {})",
        another_active_admin(5, 6)
    );
    let done = crate::on_db!(connection.conn(), c => sqlx::query(&sql)
        .bind(role.as_str())
        .bind(target)
        .bind(role.as_str())
        .bind(role.as_str())
        .bind(target)
        .bind(now)
        .execute(c)
        .await
        .map(crate::db::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// Whether the actor may act now (for changes not made by one statement here: call it on
/// the write transaction that commits the change).
pub async fn actor_may_act(connection: &mut impl AsConn, actor: ActorKey<'_>) -> sqlx::Result<bool> {
    crate::sessions::guard::still_may_act(connection, crate::sessions::guard::Caller::Admin(actor)).await
}

fn summary(row: &impl DbRow) -> sqlx::Result<UserSummary> {
    Ok(UserSummary {
        user: crate::accounts::store::user_from_row(row)?,
        created_at: row.try_get("created_at")?,
        confirmed_at: row.try_get("email_verified_at")?,
        last_sign_in_at: row.try_get("last_sign_in_at")?,
    })
}

const SUMMARY_COLUMNS: &str = "created_at, email_verified_at, last_sign_in_at";

/// [`find`] on the caller's transaction.
pub async fn find_in(connection: &mut impl AsConn, id: UserId) -> sqlx::Result<Option<UserSummary>> {
    // An erased account is no account (its row keeps only its number).
    let sql =
        format!("SELECT {USER_COLUMNS}, {SUMMARY_COLUMNS} FROM users WHERE id = $1 AND erased_at IS NULL");
    crate::on_db!(connection.conn(), c => {
        let row = sqlx::query(&sql).bind(id).fetch_optional(c).await?;
        row.as_ref().map(summary).transpose()
    })
}

pub async fn find(pool: &Pool, id: UserId) -> sqlx::Result<Option<UserSummary>> {
    find_in(&mut pool.acquire().await?, id).await
}

/// The `WHERE` clause of a search and its bound values, in order (`$1`, `$2`...).
fn search_clause(filter: &UserFilter, now: UnixTime) -> (String, Vec<String>) {
    let mut clause = String::from("WHERE erased_at IS NULL");
    let mut binds = Vec::new();
    if let Some(prefix) = filter.prefix.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        // Both columns hold lower-case normalised forms (so LIKE's case rules, which
        // differ between SQLite and PostgreSQL, never matter); wildcards are escaped.
        let escaped = prefix.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        clause.push_str(" AND (email LIKE $1 ESCAPE '\\' OR username LIKE $1 ESCAPE '\\')");
        binds.push(format!("{escaped}%"));
    }
    if let Some(role) = filter.role {
        clause.push_str(&format!(" AND role = ${}", binds.len() + 1));
        binds.push(role.as_str().to_owned());
    }
    let disabled_now = format!("(NOT {})", not_disabled("", &now.to_string()));
    match filter.status {
        None => {}
        Some(StatusFilter::Active) => {
            clause.push_str(&format!(" AND locked_at IS NULL AND NOT {disabled_now}"));
        }
        Some(StatusFilter::Disabled) => clause.push_str(&format!(" AND {disabled_now}")),
        Some(StatusFilter::Locked) => clause.push_str(" AND locked_at IS NOT NULL"),
        Some(StatusFilter::MustChangePassword) => clause.push_str(" AND must_change_password = TRUE"),
    }
    (clause, binds)
}

/// One page of users matching `filter`, newest first, older than `filter.before` (an id:
/// keyset pagination, stable while accounts are created), and how many match in all.
pub async fn search(
    pool: &Pool,
    filter: &UserFilter,
    now: UnixTime,
) -> sqlx::Result<(Vec<UserSummary>, i64)> {
    let (clause, binds) = search_clause(filter, now);
    let count_sql = format!("SELECT COUNT(*) FROM users {clause}");
    let (before, limit) = (binds.len() + 1, binds.len() + 2);
    let sql = format!(
        "SELECT {USER_COLUMNS}, {SUMMARY_COLUMNS} FROM users {clause} \
         AND (${before} IS NULL OR id < ${before}) ORDER BY id DESC LIMIT ${limit}"
    );
    crate::on_db!(pool, c => {
        let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
        for bind in &binds {
            count = count.bind(bind);
        }
        let total = count.fetch_one(c).await?;
        let mut page = sqlx::query(&sql);
        for bind in &binds {
            page = page.bind(bind);
        }
        let rows = page.bind(filter.before).bind(i64::from(filter.limit.clamp(1, 100))).fetch_all(c).await?;
        Ok((rows.iter().map(summary).collect::<sqlx::Result<_>>()?, total))
    })
}
