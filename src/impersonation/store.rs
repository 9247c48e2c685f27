//! Every SQL statement about impersonations, in one place. A start, and every way one
//! ends, is one transaction with its audit event; the conditions that make a start or an
//! end legitimate are in the statements themselves, so concurrent requests cannot pass a
//! check and then act on a state that changed.

use crate::db::{AsConn, DbRow, Pool};

use super::{Ended, EndedBy, Impersonating, Summary};
use crate::{
    accounts::{store::not_disabled, UserId},
    audit::{self, Event},
    clock::UnixTime,
    sessions::{
        guard::{still_may_act, Caller},
        Origin,
    },
};

/// One impersonation to start, as the service checked it.
pub struct NewImpersonation<'a> {
    pub admin: UserId,
    /// The admin's own session, parked for the impersonation's length.
    pub admin_session_key: &'a str,
    /// The oldest step-up of the admin's session that still counts.
    pub stepped_up_since: UnixTime,
    pub target: UserId,
    pub reason: &'a str,
    pub now: UnixTime,
    /// The hard cap, from `now`.
    pub cap_secs: i64,
    pub per_hour: u32,
    pub consent_required: bool,
    /// The impersonation session: its registry key (a hash of its new id) and idle limit.
    pub session_key: &'a str,
    pub handle: &'a str,
    pub idle_secs: i64,
    pub origin: &'a Origin,
}

/// Inserts the impersonation if every condition holds at once: the actor is an admin on
/// a live, unparked session with a fresh step-up; the target is a confirmed, usable,
/// ordinary account (with support access granted, in consent mode); fewer than
/// `per_hour` starts by this admin in the last hour. (One live impersonation per admin
/// is the table's unique index.) Returns the new row's id and cap, or `None`.
pub async fn insert(
    connection: &mut impl AsConn,
    new: &NewImpersonation<'_>,
) -> sqlx::Result<Option<(i64, UnixTime)>> {
    let least = connection.conn().backend().least();
    let (t_enabled, a_enabled) = (not_disabled("t.", "$3"), not_disabled("a.", "$3"));
    let sql = format!(
        "INSERT INTO impersonations (admin_id, user_id, reason, started_at, expires_at, admin_session_key) \
         SELECT $1, t.id, $2, $3, {least}($3 + $4, s.absolute_expires_at, \
                CASE WHEN $5 THEN COALESCE(t.support_access_until, $3) ELSE $3 + $4 END), $6 \
         FROM users t, users a JOIN session_registry s ON s.user_id = a.id \
         WHERE t.id = $7 AND t.id != $1 AND t.role = 'user' AND t.email_verified_at IS NOT NULL \
           AND {t_enabled} AND t.locked_at IS NULL \
           AND t.must_change_password = FALSE AND t.deletion_due_at IS NULL AND t.erased_at IS NULL \
           AND (NOT $5 OR t.support_access_until > $3) \
           AND a.id = $1 AND a.role = 'admin' AND {a_enabled} AND a.locked_at IS NULL \
           AND s.store_key = $6 AND s.epoch = a.session_epoch AND s.parked = FALSE \
           AND s.impersonation_id IS NULL AND s.stepped_up_at >= $8 AND s.absolute_expires_at > $3 \
           AND (SELECT COUNT(*) FROM impersonations h WHERE h.admin_id = $1 AND h.started_at > $3 - 3600) < $9 \
         RETURNING id, expires_at"
    );
    let row: Option<(i64, UnixTime)> = crate::on_db!(connection.conn(), c => sqlx::query_as(&sql)
    .bind(new.admin)
    .bind(new.reason)
    .bind(new.now)
    .bind(new.cap_secs)
    .bind(new.consent_required)
    .bind(new.admin_session_key)
    .bind(new.target)
    .bind(new.stepped_up_since)
    .bind(i64::from(new.per_hour))
    .fetch_optional(c)
    .await)?;
    let Some((id, expires_at)) = row else { return Ok(None) };
    // The admin's session is kept aside: refused as a caller until it is given back, and
    // kept past its idle limit while the impersonation runs.
    let sql = format!(
        "UPDATE session_registry SET parked = TRUE, idle_expires_at = {least}(absolute_expires_at, $1 + $2) \
         WHERE store_key = $3 AND parked = FALSE"
    );
    let parked = crate::on_db!(connection.conn(), c => sqlx::query(&sql)
    .bind(expires_at)
    .bind(new.idle_secs)
    .bind(new.admin_session_key)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    // The admin's session moved meanwhile (a step-up in another tab gives it a new key
    // without the write lock): no start. The row goes at once, so that the caller's look
    // at why (on this transaction) does not find it and call the admin busy.
    if parked.rows_affected() != 1 {
        crate::on_db!(connection.conn(), c => sqlx::query("DELETE FROM impersonations WHERE id = $1")
            .bind(id)
            .execute(c)
            .await
            .map(crate::db::Done::from))?;
        return Ok(None);
    }
    // The impersonation's own session: the user's, at the user's current epoch, ending at
    // the cap whatever happens.
    crate::on_db!(connection.conn(), c => sqlx::query(
        "INSERT INTO session_registry (store_key, handle, user_id, epoch, created_at, last_seen_at, \
         idle_expires_at, absolute_expires_at, ip, device, impersonation_id) \
         SELECT $1, $2, id, session_epoch, $3, $3, $4, $5, $6, $7, $8 FROM users WHERE id = $9",
    )
    .bind(new.session_key)
    .bind(new.handle)
    .bind(new.now)
    .bind((new.now + new.idle_secs).min(expires_at))
    .bind(expires_at)
    .bind(&new.origin.ip)
    .bind(&new.origin.device)
    .bind(id)
    .bind(new.target)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    Ok(Some((id, expires_at)))
}

/// What the target and the admin look like now, to say why a start was refused.
pub struct Refusal {
    pub target_exists: bool,
    pub target_role_admin: bool,
    pub target_confirmed: bool,
    pub target_disabled_at: Option<UnixTime>,
    pub target_disabled_until: Option<UnixTime>,
    pub target_locked: bool,
    pub target_must_change: bool,
    pub support_access_until: Option<UnixTime>,
    pub live: bool,
    pub oldest_start_in_hour: Option<UnixTime>,
    pub starts_in_hour: i64,
}

pub async fn refusal(
    connection: &mut impl AsConn,
    admin: UserId,
    target: UserId,
    now: UnixTime,
) -> sqlx::Result<Refusal> {
    type Target = (String, bool, Option<UnixTime>, Option<UnixTime>, bool, bool, Option<UnixTime>);
    let row: Option<Target> = crate::on_db!(connection.conn(), c => sqlx::query_as(
        "SELECT role, email_verified_at IS NOT NULL AS confirmed, disabled_at, disabled_until, \
         locked_at IS NOT NULL AS locked, must_change_password, support_access_until FROM users WHERE id = $1",
    )
    .bind(target)
    .fetch_optional(c)
    .await)?;
    let (starts, oldest): (i64, Option<UnixTime>) = crate::on_db!(connection.conn(), c => sqlx::query_as(
        "SELECT COUNT(*), MIN(started_at) FROM impersonations WHERE admin_id = $1 AND started_at > $2",
    )
    .bind(admin)
    .bind(now - 3600)
    .fetch_one(c)
    .await)?;
    let live: bool = crate::on_db!(connection.conn(), c => sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM impersonations WHERE admin_id = $1 AND ended_at IS NULL)",
    )
    .bind(admin)
    .fetch_one(c)
    .await)?;
    let mut refusal = Refusal {
        target_exists: row.is_some(),
        target_role_admin: false,
        target_confirmed: false,
        target_disabled_at: None,
        target_disabled_until: None,
        target_locked: false,
        target_must_change: false,
        support_access_until: None,
        live,
        oldest_start_in_hour: oldest,
        starts_in_hour: starts,
    };
    if let Some((role, confirmed, disabled_at, disabled_until, locked, must_change, support_until)) = row {
        refusal.target_role_admin = role == "admin";
        refusal.target_confirmed = confirmed;
        refusal.target_disabled_at = disabled_at;
        refusal.target_disabled_until = disabled_until;
        refusal.target_locked = locked;
        refusal.target_must_change = must_change;
        refusal.support_access_until = support_until;
    }
    Ok(refusal)
}

/// Ends the live impersonations of `admin` that are past their cap, or whose session is
/// gone (each with its event): so a crash between a start and its first request never
/// keeps an admin from starting another.
pub async fn end_stale(connection: &mut impl AsConn, admin: UserId, now: UnixTime) -> sqlx::Result<()> {
    let stale: Vec<(i64, UnixTime)> = crate::on_db!(connection.conn(), c => sqlx::query_as(
        "SELECT id, expires_at FROM impersonations i WHERE admin_id = $1 AND ended_at IS NULL \
         AND (expires_at <= $2 OR NOT EXISTS (SELECT 1 FROM session_registry r WHERE r.impersonation_id = i.id))",
    )
    .bind(admin)
    .bind(now)
    .fetch_all(c)
    .await)?;
    let context = audit::Context::default();
    for (id, expires_at) in stale {
        let how = if expires_at <= now { Ended::Expired } else { Ended::AccountChanged };
        finish(&mut *connection, id, &EndedBy { how, by: None, context: &context, now }).await?;
    }
    Ok(())
}

/// Ends impersonation `id` if it is still live: records how and by whom, deletes its
/// session, and writes its end event (actor: the admin; subject: the user; how long it
/// lasted). The admin's parked session stays parked until its owner's browser comes back
/// for it (see `sessions::resume`). `true` if it was live.
pub async fn finish(connection: &mut impl AsConn, id: i64, ending: &EndedBy<'_>) -> sqlx::Result<bool> {
    // A cap reached before anyone noticed ended at the cap, not when it was noticed.
    let least = connection.conn().backend().least();
    let sql = format!(
        "UPDATE impersonations SET ended_at = {least}($1, expires_at), ended_how = $2, ended_by = $3 \
         WHERE id = $4 AND ended_at IS NULL RETURNING admin_id, user_id, started_at, ended_at"
    );
    let row: Option<(UserId, UserId, UnixTime, UnixTime)> = crate::on_db!(connection.conn(), c => sqlx::query_as(&sql)
    .bind(ending.now)
    .bind(ending.how.as_str())
    .bind(ending.by)
    .bind(id)
    .fetch_optional(c)
    .await)?;
    let Some((admin, user, started_at, ended_at)) = row else { return Ok(false) };
    let keys: Vec<String> = crate::on_db!(connection.conn(), c => sqlx::query_scalar("DELETE FROM session_registry WHERE impersonation_id = $1 RETURNING store_key")
            .bind(id)
            .fetch_all(c)
            .await)?;
    for key in &keys {
        crate::sessions::store_delete_record(&mut *connection, key).await?;
    }
    let entry = audit::Entry::new(Event::ImpersonationEnd, Some(admin), Some(user), ending.context)
        .during(id)
        .details(serde_json::json!({
            "how": ending.how.as_str(),
            "ended_by": ending.by,
            "duration_secs": ended_at.saturating_sub(started_at).max(0),
        }));
    audit::record(&mut *connection, ending.now, &entry).await?;
    tracing::info!(
        event = "authz_impersonation_end",
        impersonation = id,
        how = ending.how.as_str(),
        "impersonation ended"
    );
    Ok(true)
}

/// Called by every deletion of registry rows, on its transaction, with the deleted keys
/// and the impersonation each ran (if any): an impersonation whose session went ends
/// (as `ending` says), and so does one whose admin's parked session went (its own
/// session is deleted with it).
pub async fn after_sessions_deleted(
    connection: &mut impl AsConn,
    deleted: &[(String, Option<i64>)],
    ending: &EndedBy<'_>,
) -> sqlx::Result<()> {
    for (key, impersonation) in deleted {
        if let Some(id) = impersonation {
            finish(&mut *connection, *id, ending).await?;
        }
        let parked_for: Vec<i64> = crate::on_db!(connection.conn(), c => sqlx::query_scalar(
            "SELECT id FROM impersonations WHERE admin_session_key = $1 AND ended_at IS NULL",
        )
        .bind(key)
        .fetch_all(c)
        .await)?;
        for id in parked_for {
            let admin_gone = EndedBy { how: Ended::AdminSessionEnded, ..*ending };
            finish(&mut *connection, id, &admin_gone).await?;
        }
    }
    Ok(())
}

/// The impersonation session `id` runs, as the request resolver checks it: `None` when
/// it no longer may (ended, past its cap, its admin no longer an admin who can act, or
/// the admin's parked session gone or from an older epoch).
pub async fn live(
    connection: &mut impl AsConn,
    id: i64,
    now: UnixTime,
) -> sqlx::Result<Option<Impersonating>> {
    crate::on_db!(connection.conn(), c => {
        let row = sqlx::query(&format!(
            "SELECT i.id, i.admin_id, a.display_name AS admin_username, i.reason, i.started_at, i.expires_at, \
             i.admin_session_key FROM impersonations i JOIN users a ON a.id = i.admin_id \
             JOIN session_registry p ON p.store_key = i.admin_session_key \
             WHERE i.id = $1 AND i.ended_at IS NULL AND i.expires_at > $2 \
               AND a.role = 'admin' AND {} AND a.locked_at IS NULL \
               AND a.must_change_password = FALSE AND p.parked = TRUE AND p.user_id = a.id \
               AND p.epoch = a.session_epoch AND p.absolute_expires_at > $3",
            not_disabled("a.", "$2")
        ))
        .bind(id)
        .bind(now)
        .bind(now)
        .fetch_optional(c)
        .await?;
        row.map(|row| {
            Ok(Impersonating {
                id: row.try_get("id")?,
                admin_id: row.try_get("admin_id")?,
                admin_username: row.try_get("admin_username")?,
                reason: row.try_get("reason")?,
                started_at: row.try_get("started_at")?,
                expires_at: row.try_get("expires_at")?,
                admin_session_key: row.try_get("admin_session_key")?,
            })
        })
        .transpose()
    })
}

/// Gives the admin session parked under `parked_key` back under `new_key` (its id was
/// rotated), first ending any impersonation still live on it (as `ending` says, or as
/// expired when past its cap). Only a parked row of a still-current session comes back.
/// `true` if it did.
pub async fn unpark(
    connection: &mut impl AsConn,
    parked_key: &str,
    new_key: &str,
    idle_secs: i64,
    ending: &EndedBy<'_>,
) -> sqlx::Result<bool> {
    let live: Vec<(i64, UnixTime)> = crate::on_db!(connection.conn(), c => sqlx::query_as(
        "SELECT id, expires_at FROM impersonations WHERE admin_session_key = $1 AND ended_at IS NULL",
    )
    .bind(parked_key)
    .fetch_all(c)
    .await)?;
    for (id, expires_at) in live {
        let how = if expires_at <= ending.now { Ended::Expired } else { ending.how };
        finish(&mut *connection, id, &EndedBy { how, ..*ending }).await?;
    }
    let least = connection.conn().backend().least();
    let sql = format!(
        "UPDATE session_registry SET store_key = $1, parked = FALSE, last_seen_at = $2, \
         idle_expires_at = {least}(absolute_expires_at, $2 + $3) \
         WHERE store_key = $4 AND parked = TRUE AND absolute_expires_at > $2 AND idle_expires_at > $2 \
         AND epoch = (SELECT session_epoch FROM users WHERE users.id = session_registry.user_id)"
    );
    let done = crate::on_db!(connection.conn(), c => sqlx::query(&sql)
    .bind(new_key)
    .bind(ending.now)
    .bind(idle_secs)
    .bind(parked_key)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    crate::sessions::store_delete_record(&mut *connection, parked_key).await?;
    Ok(done.rows_affected() == 1)
}

/// Impersonations newest first (live ones, or all), older than `before` (an id).
pub async fn list(
    pool: &Pool,
    live_only: bool,
    subject: Option<UserId>,
    before: Option<i64>,
    limit: u32,
    now: UnixTime,
) -> sqlx::Result<Vec<Summary>> {
    crate::on_db!(pool, c => {
        let rows = sqlx::query(
            "SELECT i.id, i.admin_id, a.display_name AS admin_username, i.user_id, u.display_name AS username, \
             i.reason, i.started_at, i.expires_at, i.ended_at, i.ended_how, i.ended_by \
             FROM impersonations i JOIN users a ON a.id = i.admin_id JOIN users u ON u.id = i.user_id \
             WHERE (NOT $1 OR (i.ended_at IS NULL AND i.expires_at > $2)) AND ($3 IS NULL OR i.user_id = $3) \
               AND ($4 IS NULL OR i.id < $4) \
             ORDER BY i.id DESC LIMIT $5",
        )
        .bind(live_only)
        .bind(now)
        .bind(subject)
        .bind(before)
        .bind(i64::from(limit.clamp(1, 200)))
        .fetch_all(c)
        .await?;
        rows.iter()
            .map(|row| {
                let ended_at: Option<UnixTime> = row.try_get("ended_at")?;
                let expires_at: UnixTime = row.try_get("expires_at")?;
                Ok(Summary {
                    id: row.try_get("id")?,
                    admin_id: row.try_get("admin_id")?,
                    admin_username: row.try_get("admin_username")?,
                    user_id: row.try_get("user_id")?,
                    username: row.try_get("username")?,
                    reason: row.try_get("reason")?,
                    started_at: row.try_get("started_at")?,
                    expires_at,
                    ended_at,
                    ended_how: row.try_get("ended_how")?,
                    ended_by: row.try_get("ended_by")?,
                    live: ended_at.is_none() && expires_at > now,
                })
            })
            .collect()
    })
}

/// Consent mode: lets support staff impersonate the caller's account until `until`
/// (`None`: withdraws it, ending any live impersonation of the account). Audited on the
/// same transaction. `false` (nothing changed) when the caller may no longer act.
pub async fn set_support_access(
    pool: &Pool,
    caller: Caller<'_>,
    until: Option<UnixTime>,
    ending: &EndedBy<'_>,
) -> sqlx::Result<bool> {
    let Caller::Owner { user_id: user, .. } = caller else { return Ok(false) };
    let mut tx = crate::db::write(pool).await?;
    if !still_may_act(&mut tx, caller).await? {
        return Ok(false);
    }
    crate::on_db!(tx.conn(), c => sqlx::query("UPDATE users SET support_access_until = $1 WHERE id = $2")
        .bind(until)
        .bind(user)
        .execute(c)
        .await.map(crate::db::Done::from))?;
    let event = match until {
        Some(until) => audit::Entry::new(Event::SupportAccessGranted, Some(user), Some(user), ending.context)
            .details(serde_json::json!({ "until": until })),
        None => {
            let live: Vec<i64> = crate::on_db!(tx.conn(), c => sqlx::query_scalar("SELECT id FROM impersonations WHERE user_id = $1 AND ended_at IS NULL")
                    .bind(user)
                    .fetch_all(c)
                    .await)?;
            for id in live {
                finish(&mut tx, id, ending).await?;
            }
            audit::Entry::new(Event::SupportAccessRevoked, Some(user), Some(user), ending.context)
        }
    };
    audit::record(&mut tx, ending.now, &event).await?;
    tx.commit().await?;
    Ok(true)
}

/// Until when `user` lets support staff in (consent mode), if at all.
pub async fn support_access_until(pool: &Pool, user: UserId) -> sqlx::Result<Option<UnixTime>> {
    Ok(crate::on_db!(pool, c => sqlx::query_scalar("SELECT support_access_until FROM users WHERE id = $1")
        .bind(user)
        .fetch_optional(c)
        .await)?
    .flatten())
}
