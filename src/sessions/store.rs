//! Every SQL statement about the session registry, and the only place that touches the
//! session store's table directly (to delete a revoked session's data in the same
//! transaction as its registry row).

use crate::db::{AsConn, DbRow, Pool};
use serde::{Deserialize, Serialize};

use super::{guard::Caller, Lifetimes, Origin, SessionMeta};
pub use crate::impersonation::{Ended, EndedBy};
use crate::{
    accounts::{
        store::{user_from_row, USER_COLUMNS},
        User, UserId,
    },
    clock::UnixTime,
};

pub use super::data::store_table;

/// One registry row, as listed to its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRow {
    pub store_key: String,
    pub handle: String,
    pub created_at: UnixTime,
    pub last_seen_at: UnixTime,
    pub idle_expires_at: UnixTime,
    pub absolute_expires_at: UnixTime,
    pub ip: String,
    pub device: String,
    /// Set when this session is an admin impersonating the account.
    pub support: Option<SupportSession>,
}

/// An impersonation session as the account's owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportSession {
    /// The admin's username.
    pub admin: String,
    pub reason: String,
    pub expires_at: UnixTime,
}

/// 128 random bits, hex: the public name of a session, unrelated to its id.
pub fn new_handle() -> String {
    crate::token::random_handle()
}

pub async fn insert(
    pool: &Pool,
    store_key: &str,
    handle: &str,
    meta: &SessionMeta,
    lifetimes: Lifetimes,
    origin: &Origin,
    with_factor: bool,
) -> sqlx::Result<bool> {
    // Only while the user is still at the epoch the sign-in was checked at: a password
    // reset that finished while this sign-in was in flight leaves no row behind. And a
    // sign-in without a second factor only while the account still has none: one in
    // flight while its owner set up an app makes no session.
    let done = crate::on_db!(pool, c => sqlx::query(
        "INSERT INTO session_registry \
         (store_key, handle, user_id, epoch, created_at, last_seen_at, idle_expires_at, absolute_expires_at, ip, device) \
         SELECT $1, $2, id, session_epoch, $3, $4, $5, $6, $7, $8 FROM users WHERE id = $9 AND session_epoch = $10 \
         AND ($11 OR factors_since IS NULL)",
    )
    .bind(store_key)
    .bind(handle)
    .bind(meta.created_at)
    .bind(meta.last_seen_at)
    .bind(meta.idle_expires_at(lifetimes))
    .bind(meta.absolute_expires_at(lifetimes))
    .bind(&origin.ip)
    .bind(&origin.device)
    .bind(meta.user_id)
    .bind(meta.epoch)
    .bind(with_factor)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    Ok(done.rows_affected() == 1)
}

pub async fn touch(
    pool: &Pool,
    store_key: &str,
    meta: &SessionMeta,
    lifetimes: Lifetimes,
) -> sqlx::Result<()> {
    crate::on_db!(pool, c => sqlx::query("UPDATE session_registry SET last_seen_at = $1, idle_expires_at = $2 WHERE store_key = $3")
        .bind(meta.last_seen_at)
        .bind(meta.idle_expires_at(lifetimes))
        .bind(store_key)
        .execute(c)
        .await.map(crate::db::Done::from))?;
    Ok(())
}

/// A registry row as the request resolver reads it.
#[derive(Clone)]
pub struct Found {
    pub meta: SessionMeta,
    pub user: User,
    /// An admin's session kept aside during an impersonation: refused as a caller.
    pub parked: bool,
    /// The impersonation this session runs, if it is one.
    pub impersonation: Option<i64>,
}

/// The registry rows under `store_keys` as session metadata, with their users: the one
/// read the request resolver makes, for every request that asked while the previous read
/// ran (see `crate::db::Batcher`). Keys without a row are left out.
pub async fn find_signed_in(
    connection: &mut impl AsConn,
    store_keys: &[String],
) -> sqlx::Result<Vec<(String, Found)>> {
    let keys = serde_json::to_string(store_keys).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let conn = connection.conn();
    // The keys as one JSON array, so one statement (and one prepared plan) serves any
    // number of them.
    let which = match conn.backend() {
        crate::db::Backend::Sqlite => "r.store_key IN (SELECT value FROM json_each($1))",
        crate::db::Backend::Postgres => "r.store_key = ANY(ARRAY(SELECT json_array_elements_text($1::json)))",
    };
    crate::on_db!(conn, c => {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, r.store_key AS session_store_key, r.epoch AS session_at_epoch, \
             r.created_at AS session_created_at, r.last_seen_at AS session_last_seen_at, \
             r.stepped_up_at AS session_stepped_up_at, r.parked AS session_parked, \
             r.impersonation_id AS session_impersonation \
             FROM session_registry r JOIN users ON users.id = r.user_id WHERE {which}"
        ))
        .bind(keys)
        .fetch_all(c)
        .await?;
        rows.iter()
            .map(|row| {
                let user = user_from_row(row)?;
                let meta = SessionMeta {
                    user_id: user.id,
                    epoch: row.try_get("session_at_epoch")?,
                    created_at: row.try_get("session_created_at")?,
                    last_seen_at: row.try_get("session_last_seen_at")?,
                    stepped_up_at: row.try_get("session_stepped_up_at")?,
                };
                let found = Found {
                    meta,
                    user,
                    parked: row.try_get("session_parked")?,
                    impersonation: row.try_get("session_impersonation")?,
                };
                Ok((row.try_get("session_store_key")?, found))
            })
            .collect()
    })
}

/// The registry row under `store_key` (see [`find_signed_in`]), read on its own.
pub async fn find_one_signed_in(
    connection: &mut impl AsConn,
    store_key: &str,
) -> sqlx::Result<Option<Found>> {
    let found = find_signed_in(connection, &[store_key.to_owned()]).await?;
    Ok(found.into_iter().next().map(|(_, found)| found))
}

/// See [`super::SessionRegistry::rekey`].
pub async fn rekey(
    pool: &Pool,
    old_key: &str,
    new_key: &str,
    stepped_up_at: Option<UnixTime>,
    with_factor: bool,
) -> sqlx::Result<bool> {
    // A step-up made with the password alone only while the account has no factor: one in
    // flight while its owner set up an app does not count (nor happen).
    let done = crate::on_db!(pool, c => sqlx::query(
        "UPDATE session_registry SET store_key = $1, stepped_up_at = COALESCE($2, stepped_up_at) \
         WHERE store_key = $3 AND parked = FALSE \
         AND epoch = (SELECT session_epoch FROM users WHERE users.id = session_registry.user_id) \
         AND ($2 IS NULL OR $4 OR (SELECT factors_since FROM users WHERE users.id = session_registry.user_id) IS NULL)",
    )
    .bind(new_key)
    .bind(stepped_up_at)
    .bind(old_key)
    .bind(with_factor)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// Writes an existing session record, never creating one: a record deleted by a
/// revocation stays deleted whatever a request that was in flight then tries to save.
/// The encoding is tower-sessions-sqlx-store's (MessagePack data, expiry as a timestamp).
pub async fn update_record(pool: &Pool, record: &tower_sessions::session::Record) -> sqlx::Result<bool> {
    let data = rmp_serde::to_vec(record).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let table = store_table(pool.backend());
    let done = crate::on_db!(pool, c => sqlx::query(&format!("UPDATE {table} SET data = $1, expiry_date = $2 WHERE id = $3"))
        .bind(data)
        .bind(record.expiry_date)
        .bind(record.id.to_string())
        .execute(c)
        .await.map(crate::db::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// Writes a new session record unless its id is taken (`false`): one statement, where
/// asking first and then writing would be two.
pub async fn insert_record(pool: &Pool, record: &tower_sessions::session::Record) -> sqlx::Result<bool> {
    let data = rmp_serde::to_vec(record).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let done = crate::on_db!(pool, c => sqlx::query(&format!(
        "INSERT INTO {} (id, data, expiry_date) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        store_table(pool.backend())
    ))
    .bind(record.id.to_string())
    .bind(data)
    .bind(record.expiry_date)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    Ok(done.rows_affected() == 1)
}

const ROW_COLUMNS: &str = "r.store_key, r.handle, r.created_at, r.last_seen_at, r.idle_expires_at, \
     r.absolute_expires_at, r.ip, r.device, a.display_name AS support_admin, i.reason AS support_reason, \
     i.expires_at AS support_expires_at";

/// The user's sessions that can still be used: an admin's parked session is not one (it
/// comes back when the impersonation ends), and an impersonation session is listed as such.
pub async fn list_live(pool: &Pool, user_id: UserId, now: UnixTime) -> sqlx::Result<Vec<SessionRow>> {
    crate::on_db!(pool, c => {
        let rows = sqlx::query(&format!(
            "SELECT {ROW_COLUMNS} FROM session_registry r \
             LEFT JOIN impersonations i ON i.id = r.impersonation_id \
             LEFT JOIN users a ON a.id = i.admin_id \
             WHERE r.user_id = $1 AND r.idle_expires_at > $2 AND r.absolute_expires_at > $3 AND r.parked = FALSE \
             AND r.epoch = (SELECT session_epoch FROM users WHERE users.id = r.user_id) \
             AND (r.impersonation_id IS NULL OR (i.ended_at IS NULL AND i.expires_at > $4)) \
             ORDER BY r.created_at DESC, r.handle"
        ))
        .bind(user_id)
        .bind(now)
        .bind(now)
        .bind(now)
        .fetch_all(c)
        .await?;
        rows.iter()
            .map(|row| {
                let support = match row.try_get::<Option<String>>("support_admin")? {
                    Some(admin) => Some(SupportSession {
                        admin,
                        reason: row.try_get("support_reason")?,
                        expires_at: row.try_get("support_expires_at")?,
                    }),
                    None => None,
                };
                Ok(SessionRow {
                    support,
                    store_key: row.try_get("store_key")?,
                    handle: row.try_get("handle")?,
                    created_at: row.try_get("created_at")?,
                    last_seen_at: row.try_get("last_seen_at")?,
                    idle_expires_at: row.try_get("idle_expires_at")?,
                    absolute_expires_at: row.try_get("absolute_expires_at")?,
                    ip: row.try_get("ip")?,
                    device: row.try_get("device")?,
                })
            })
            .collect()
    })
}

pub enum Which<'a> {
    Handle(&'a str),
    /// The impersonation session with this handle (its owner may end it without a step-up).
    Support(&'a str),
    AllBut(&'a str),
    All,
}

/// Deletes the user's sessions selected by `which` (registry rows and stored data, in one
/// transaction) and returns how many, or `None` when `caller` may no longer act (see
/// [`guard`](super::guard)): a signed-in owner's session must still exist at its user's
/// current epoch (a password reset that bumped the epoch ends it even before its row is
/// deleted), checked in the deleting statement itself; an admin is checked on the same
/// write transaction. Either way a revocation or demotion that committed first wins.
/// Always scoped to the user: a handle belonging to someone else selects nothing. An
/// impersonation whose session (or parked admin session) goes ends on the same
/// transaction (see `impersonation::store::after_sessions_deleted`).
pub async fn delete_where(
    pool: &Pool,
    user_id: UserId,
    which: Which<'_>,
    caller: Option<Caller<'_>>,
    audit: Option<super::AuditFor<'_>>,
    now: UnixTime,
) -> sqlx::Result<Option<usize>> {
    let mut tx = crate::db::write(pool).await?;
    if let Some(admin @ Caller::Admin(_)) = caller {
        if !super::guard::still_may_act(&mut tx, admin).await? {
            return Ok(None);
        }
    }
    let owner_key = match caller {
        Some(Caller::Owner { session_key, .. }) => Some(session_key),
        _ => None,
    };
    let ended = delete_in(&mut tx, user_id, which, owner_key, audit, now).await?;
    tx.commit().await?;
    Ok(Some(ended))
}

/// [`delete_where`] on the caller's write transaction, which has checked an acting admin
/// already; `owner_key`, for an owner ending their own sessions, is checked in the
/// deleting statement. How many ended.
pub async fn delete_in(
    tx: &mut crate::db::Tx,
    user_id: UserId,
    which: Which<'_>,
    owner_key: Option<&str>,
    audit: Option<super::AuditFor<'_>>,
    now: UnixTime,
) -> sqlx::Result<usize> {
    let scope = match which {
        Which::Handle(_) | Which::Support(_) => "one",
        Which::AllBut(_) => "others",
        Which::All => "all",
    };
    let (condition, bound) = match which {
        Which::Handle(handle) => ("AND handle = $2", Some(handle)),
        Which::Support(handle) => ("AND handle = $2 AND impersonation_id IS NOT NULL", Some(handle)),
        Which::AllBut(key) => ("AND store_key <> $2", Some(key)),
        Which::All => ("", None),
    };
    // The caller's key is the next placeholder after the selection's.
    let guard = match owner_key {
        None => String::new(),
        Some(_) => format!("AND {}", super::guard::session_is_live(if bound.is_some() { 3 } else { 2 }, 1)),
    };
    let sql = format!(
        "DELETE FROM session_registry WHERE user_id = $1 {condition} {guard} RETURNING store_key, impersonation_id"
    );
    let deleted = crate::on_db!(tx.conn(), c => {
        let mut query = sqlx::query_as::<_, (String, Option<i64>)>(&sql).bind(user_id);
        if let Some(value) = bound {
            query = query.bind(value);
        }
        if let Some(key) = owner_key {
            query = query.bind(key);
        }
        query.fetch_all(c).await
    })?;
    if matches!(which, Which::All | Which::AllBut(_)) {
        // Sign-ins waiting for their second step end with the sessions: a code phished
        // meanwhile must not complete one after "sign out everywhere".
        crate::factors::store::delete_steps_of(&mut *tx, user_id).await?;
    }
    let keys: Vec<String> = deleted.iter().map(|(key, _)| key.clone()).collect();
    let table = store_table(tx.backend());
    for key in &keys {
        crate::on_db!(tx.conn(), c => sqlx::query(&format!("DELETE FROM {table} WHERE id = $1")).bind(key).execute(c).await.map(crate::db::Done::from))?;
    }
    let no_context = crate::audit::Context::default();
    let (how, by, context, now) = match audit {
        Some(audit) if audit.actor == user_id => (Ended::EndedByUser, Some(audit.actor), audit.context, now),
        Some(audit) => (Ended::EndedByAdmin, Some(audit.actor), audit.context, now),
        None => (Ended::AccountChanged, None, &no_context, now),
    };
    let ending = EndedBy { how, by, context, now };
    crate::impersonation::store::after_sessions_deleted(&mut *tx, &deleted, &ending).await?;
    // The event commits with the deletion it records, and only when something ended.
    if let (Some(audit), false) = (audit, keys.is_empty()) {
        let entry = crate::audit::Entry::new(
            crate::audit::Event::SessionsRevoked,
            Some(audit.actor),
            Some(user_id),
            audit.context,
        )
        .details(serde_json::json!({ "ended": keys.len(), "which": scope }));
        crate::audit::record(&mut *tx, audit.now, &entry).await?;
    }
    Ok(keys.len())
}

/// Sessions that have not ended (for monitoring).
pub async fn live_count(pool: &Pool, now: UnixTime) -> sqlx::Result<i64> {
    crate::on_db!(pool, c => sqlx::query_scalar(
        "SELECT COUNT(*) FROM session_registry WHERE idle_expires_at > $1 AND absolute_expires_at > $2",
    )
    .bind(now)
    .bind(now)
    .fetch_one(c)
    .await)
}

pub async fn expired_keys(pool: &Pool, now: UnixTime) -> sqlx::Result<Vec<String>> {
    crate::on_db!(pool, c => sqlx::query_scalar(
        "SELECT store_key FROM session_registry WHERE idle_expires_at <= $1 OR absolute_expires_at <= $2",
    )
    .bind(now)
    .bind(now)
    .fetch_all(c)
    .await)
}

/// Forgets the session under `key` (see [`super::SessionRegistry::forget`]). A key no
/// registry row knows (a made-up cookie, a session already ended) has at most stored
/// data to delete: done without the write lock, so a flood of made-up cookies cannot
/// queue every request behind it. No row can appear for such a key meanwhile: keys are
/// hashes of fresh random ids. (A parked session has its registry row.)
pub async fn forget(pool: &Pool, key: &str, ending: &EndedBy<'_>) -> sqlx::Result<()> {
    let mut connection = pool.acquire().await?;
    let known = crate::on_db!(connection.conn(), c => sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM session_registry WHERE store_key = $1)",
    )
    .bind(key)
    .fetch_one(c)
    .await)?;
    if !known {
        return delete_record(&mut connection, key).await;
    }
    drop(connection);
    delete_keys(pool, &[key.to_owned()], ending).await
}

/// Deletes the registry rows and the stored session data for `keys`, atomically, ending
/// (as `ending` says) any impersonation that ran on one of them or had parked one.
pub async fn delete_keys(pool: &Pool, keys: &[String], ending: &EndedBy<'_>) -> sqlx::Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut tx = crate::db::write(pool).await?;
    let mut deleted = Vec::with_capacity(keys.len());
    let table = store_table(tx.backend());
    for key in keys {
        let impersonation: Option<Option<i64>> = crate::on_db!(tx.conn(), c => sqlx::query_scalar("DELETE FROM session_registry WHERE store_key = $1 RETURNING impersonation_id")
                .bind(key)
                .fetch_optional(c)
                .await)?;
        crate::on_db!(tx.conn(), c => sqlx::query(&format!("DELETE FROM {table} WHERE id = $1")).bind(key).execute(c).await.map(crate::db::Done::from))?;
        if let Some(impersonation) = impersonation {
            deleted.push((key.clone(), impersonation));
        }
    }
    crate::impersonation::store::after_sessions_deleted(&mut tx, &deleted, ending).await?;
    tx.commit().await
}

/// Deletes the stored session data under `key` (not its registry row).
pub async fn delete_record(connection: &mut impl AsConn, key: &str) -> sqlx::Result<()> {
    let table = store_table(connection.conn().backend());
    crate::on_db!(connection.conn(), c => sqlx::query(&format!("DELETE FROM {table} WHERE id = $1")).bind(key).execute(c).await.map(crate::db::Done::from))?;
    Ok(())
}
