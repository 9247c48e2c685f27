//! Every SQL statement of the admin area, in one place. Each change bumps what it must in
//! one statement, with its condition (the target exists, the last active admin stays),
//! on the caller's transaction so its audit event commits with it.

use sqlx::{Row, SqliteConnection, SqlitePool};

use super::{StatusFilter, UserFilter, UserSummary};
use crate::{
    accounts::{store::USER_COLUMNS, UserId},
    clock::UnixTime,
    Role,
};

/// "Another admin who can still act remains": the guard on every change that could take
/// the last one away (`?` binds the target's id).
const ANOTHER_ACTIVE_ADMIN: &str = "EXISTS (SELECT 1 FROM users o WHERE o.role = 'admin' AND o.id != ? \
     AND o.disabled_at IS NULL AND o.locked_at IS NULL AND o.must_change_password = 0 \
     AND o.email_verified_at IS NOT NULL)";

/// "The acting admin is still an admin who can act, on a live session": checked by the
/// statement that makes each change (binds the actor's id and session key), so an admin
/// demoted, disabled or signed out while their request was in flight changes nothing, and
/// neither does one whose session was parked meanwhile by an impersonation they started.
const ACTOR_IS_ADMIN: &str = "EXISTS (SELECT 1 FROM users a JOIN session_registry s ON s.user_id = a.id \
     WHERE a.id = ? AND s.store_key = ? AND s.epoch = a.session_epoch AND a.role = 'admin' \
     AND a.disabled_at IS NULL AND a.locked_at IS NULL AND s.stepped_up_at >= ? \
     AND s.parked = 0 AND s.impersonation_id IS NULL)";

/// The acting admin: their id, their session's registry key, and the oldest step-up
/// that still counts (so a step-up that expired while the request waited counts for
/// nothing when the change is made).
pub type ActorKey<'a> = (UserId, &'a str, UnixTime);

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// Binds the three values [`ACTOR_IS_ADMIN`] takes, in its order.
fn bind_actor<'q>(query: Query<'q>, actor: ActorKey<'q>) -> Query<'q> {
    query.bind(actor.0).bind(actor.1).bind(actor.2)
}

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
    connection: &mut SqliteConnection,
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
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE id = ?")
        .bind(target)
        .fetch_optional(connection)
        .await?;
    Ok(if exists.is_some() { refused } else { Outcome::NoSuchUser })
}

/// Disables (or locks, with `lock`) and ends every session (epoch bump); never the last
/// active admin.
pub async fn block(
    connection: &mut SqliteConnection,
    actor: ActorKey<'_>,
    target: UserId,
    now: UnixTime,
    disable: Option<(&str, Option<UnixTime>)>,
) -> sqlx::Result<Outcome> {
    let sql = match disable {
        Some(_) => format!(
            "UPDATE users SET disabled_at = ?, disabled_reason = ?, disabled_until = ?, \
             session_epoch = session_epoch + 1 WHERE id = ? AND (role != 'admin' OR {ANOTHER_ACTIVE_ADMIN}) \
             AND {ACTOR_IS_ADMIN}"
        ),
        None => format!(
            "UPDATE users SET locked_at = ?, session_epoch = session_epoch + 1 \
             WHERE id = ? AND (role != 'admin' OR {ANOTHER_ACTIVE_ADMIN}) AND {ACTOR_IS_ADMIN}"
        ),
    };
    let mut query = sqlx::query(&sql).bind(now);
    if let Some((reason, until)) = disable {
        query = query.bind(reason).bind(until);
    }
    let done = bind_actor(query.bind(target).bind(target), actor).execute(&mut *connection).await?;
    outcome(connection, done.rows_affected(), target, actor, Outcome::LastAdmin).await
}

/// Lifts a disablement (`disabled`) or the admin lock.
pub async fn unblock(
    connection: &mut SqliteConnection,
    actor: ActorKey<'_>,
    target: UserId,
    disabled: bool,
) -> sqlx::Result<Outcome> {
    // Enabling an account that is not disabled changes nothing; unlocking always clears
    // the sign-in throttle too, so it is always a change.
    let (set, only_if) = if disabled {
        ("disabled_at = NULL, disabled_reason = NULL, disabled_until = NULL", "disabled_at IS NOT NULL")
    } else {
        ("locked_at = NULL", "1 = 1")
    };
    let sql = format!("UPDATE users SET {set} WHERE id = ? AND {only_if} AND {ACTOR_IS_ADMIN}");
    let done = bind_actor(sqlx::query(&sql).bind(target), actor).execute(&mut *connection).await?;
    outcome(connection, done.rows_affected(), target, actor, Outcome::Unchanged).await
}

/// Requires a new password: the old one is replaced by `unusable_hash` (a hash of a
/// secret nobody holds, so the old password stops working), every session ends, and the
/// account must choose a new password (the reset link does it).
pub async fn require_new_password(
    connection: &mut SqliteConnection,
    actor: ActorKey<'_>,
    target: UserId,
    unusable_hash: &str,
) -> sqlx::Result<Outcome> {
    let sql = format!(
        "UPDATE users SET password_hash = ?, must_change_password = 1, session_epoch = session_epoch + 1 \
         WHERE id = ? AND (role != 'admin' OR {ANOTHER_ACTIVE_ADMIN}) AND {ACTOR_IS_ADMIN}"
    );
    let query = sqlx::query(&sql).bind(unusable_hash).bind(target).bind(target);
    let done = bind_actor(query, actor).execute(&mut *connection).await?;
    outcome(connection, done.rows_affected(), target, actor, Outcome::LastAdmin).await
}

/// Sets the role and ends every session; never removes the last active admin.
pub async fn set_role(
    connection: &mut SqliteConnection,
    actor: ActorKey<'_>,
    target: UserId,
    role: Role,
) -> sqlx::Result<Outcome> {
    let sql = format!(
        "UPDATE users SET role = ?, session_epoch = session_epoch + 1 \
         WHERE id = ? AND role != ? AND (? = 'admin' OR {ANOTHER_ACTIVE_ADMIN}) AND {ACTOR_IS_ADMIN}"
    );
    let query = sqlx::query(&sql)
        .bind(role.as_str())
        .bind(target)
        .bind(role.as_str())
        .bind(role.as_str())
        .bind(target);
    let done = bind_actor(query, actor).execute(&mut *connection).await?;
    if done.rows_affected() == 0 {
        if outcome(&mut *connection, 0, target, actor, Outcome::LastAdmin).await? == Outcome::ActorGone {
            return Ok(Outcome::ActorGone);
        }
        let current: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = ?")
            .bind(target)
            .fetch_optional(&mut *connection)
            .await?;
        return Ok(match current {
            None => Outcome::NoSuchUser,
            // Already that role (another admin got there first): nothing to do.
            Some(current) if current == role.as_str() => Outcome::Unchanged,
            Some(_) => Outcome::LastAdmin,
        });
    }
    Ok(Outcome::Done)
}

/// Whether the actor may act now (for changes not made by one statement here).
pub async fn actor_may_act(connection: &mut SqliteConnection, actor: ActorKey<'_>) -> sqlx::Result<bool> {
    let sql = format!("SELECT {ACTOR_IS_ADMIN}");
    let row = bind_actor(sqlx::query(&sql), actor).fetch_one(connection).await?;
    row.try_get(0)
}

fn summary(row: &sqlx::sqlite::SqliteRow) -> sqlx::Result<UserSummary> {
    Ok(UserSummary {
        user: crate::accounts::store::user_from_row(row)?,
        created_at: row.try_get("created_at")?,
        confirmed_at: row.try_get("email_verified_at")?,
        last_sign_in_at: row.try_get("last_sign_in_at")?,
    })
}

const SUMMARY_COLUMNS: &str = "created_at, email_verified_at, last_sign_in_at";

pub async fn find(pool: &SqlitePool, id: UserId) -> sqlx::Result<Option<UserSummary>> {
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS}, {SUMMARY_COLUMNS} FROM users WHERE id = ?"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(summary).transpose()
}

/// The `WHERE` clause of a search and its bound values, in order.
fn search_clause(filter: &UserFilter, now: UnixTime) -> (String, Vec<String>) {
    let mut clause = String::from("WHERE 1 = 1");
    let mut binds = Vec::new();
    if let Some(prefix) = filter.prefix.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        // Both columns hold lower-case normalised forms; LIKE's wildcards are escaped.
        let escaped = prefix.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        clause.push_str(" AND (email LIKE ? ESCAPE '\\' OR username LIKE ? ESCAPE '\\')");
        binds.push(format!("{escaped}%"));
        binds.push(format!("{escaped}%"));
    }
    if let Some(role) = filter.role {
        clause.push_str(" AND role = ?");
        binds.push(role.as_str().to_owned());
    }
    let disabled_now =
        format!("(disabled_at IS NOT NULL AND (disabled_until IS NULL OR disabled_until > {now}))");
    match filter.status {
        None => {}
        Some(StatusFilter::Active) => {
            clause.push_str(&format!(" AND locked_at IS NULL AND NOT {disabled_now}"));
        }
        Some(StatusFilter::Disabled) => clause.push_str(&format!(" AND {disabled_now}")),
        Some(StatusFilter::Locked) => clause.push_str(" AND locked_at IS NOT NULL"),
        Some(StatusFilter::MustChangePassword) => clause.push_str(" AND must_change_password = 1"),
    }
    (clause, binds)
}

/// One page of users matching `filter`, newest first, older than `filter.before` (an id:
/// keyset pagination, stable while accounts are created), and how many match in all.
pub async fn search(
    pool: &SqlitePool,
    filter: &UserFilter,
    now: UnixTime,
) -> sqlx::Result<(Vec<UserSummary>, i64)> {
    let (clause, binds) = search_clause(filter, now);
    let count_sql = format!("SELECT COUNT(*) FROM users {clause}");
    let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
    for bind in &binds {
        count = count.bind(bind);
    }
    let total = count.fetch_one(pool).await?;
    let sql = format!(
        "SELECT {USER_COLUMNS}, {SUMMARY_COLUMNS} FROM users {clause} AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?"
    );
    let mut page = sqlx::query(&sql);
    for bind in &binds {
        page = page.bind(bind);
    }
    let rows = page
        .bind(filter.before)
        .bind(filter.before)
        .bind(i64::from(filter.limit.clamp(1, 100)))
        .fetch_all(pool)
        .await?;
    Ok((rows.iter().map(summary).collect::<sqlx::Result<_>>()?, total))
}
