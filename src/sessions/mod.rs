//! Revocable, bounded, visible sessions.
//!
//! - Session data lives in tower-sessions' store, behind [`HashedStore`]: rows are keyed by
//!   a hash of the cookie's id.
//! - Each signed-in session also has a row in the registry (`session_registry`): who,
//!   since when, last seen, from where, on what device, until when. Listing and revoking
//!   read and delete registry rows (and the matching store rows) without decoding any
//!   session blob.
//! - The registry row is what makes a session signed in: [`resolve`] (once per request)
//!   reads it with its user and enforces lifetimes with [`Liveness::of`]: an idle timeout
//!   that activity extends, and an absolute lifetime that nothing extends (OWASP Session
//!   Management Cheat Sheet, "Session Expiration"). "Last seen" is written to the row at
//!   most once a minute per session, never to the session record, which is written only
//!   when the session is created and never re-created by a later save.

mod completed;
mod data;
mod device;
pub mod guard;
mod hashed_store;
mod lifecycle;
mod resolver;
mod store;

use serde::{Deserialize, Serialize};

pub(crate) use self::store::delete_record as store_delete_record;
pub use self::{
    completed::{Completed, Proof},
    data::SessionData,
    device::{describe_device, is_recognised},
    hashed_store::{storage_id, storage_key, HashedStore},
    lifecycle::{begin, current_key, end, expire_cookie_at, resume, rotate, step_up, SessionError, META_KEY},
    resolver::{resolve, Principal, Resolution, Resolved},
    store::{store_table, SessionRow, SupportSession},
};
use crate::{
    accounts::UserId,
    clock::{SharedClock, UnixTime},
    db::Pool,
};

/// How often "last seen" is written back, at most.
pub const TOUCH_INTERVAL_SECS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// A session unused for this long ends.
    pub idle_secs: i64,
    /// A session ends this long after sign-in, however active.
    pub absolute_secs: i64,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self { idle_secs: 30 * 60, absolute_secs: 12 * 60 * 60 }
    }
}

/// What a signed-in session records about itself, inside the session data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionMeta {
    pub user_id: UserId,
    /// The user's session epoch at sign-in; a higher epoch on the user ends this session.
    pub epoch: i64,
    pub created_at: UnixTime,
    pub last_seen_at: UnixTime,
    /// When the owner last re-entered their password on this session (step-up).
    #[serde(default)]
    pub stepped_up_at: Option<UnixTime>,
}

/// A session's state at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Valid; nothing to write.
    Alive,
    /// Valid, and "last seen" is old enough to be written back.
    Touch,
    /// Past its idle or absolute limit: end it.
    Expired,
}

impl SessionMeta {
    pub fn new(user_id: UserId, epoch: i64, now: UnixTime) -> Self {
        Self { user_id, epoch, created_at: now, last_seen_at: now, stepped_up_at: None }
    }

    pub fn idle_expires_at(&self, lifetimes: Lifetimes) -> UnixTime {
        self.last_seen_at.saturating_add(lifetimes.idle_secs)
    }

    pub fn absolute_expires_at(&self, lifetimes: Lifetimes) -> UnixTime {
        self.created_at.saturating_add(lifetimes.absolute_secs)
    }

    /// The earlier of the two limits: when this session ends if nothing else happens.
    pub fn expires_at(&self, lifetimes: Lifetimes) -> UnixTime {
        self.idle_expires_at(lifetimes).min(self.absolute_expires_at(lifetimes))
    }
}

impl Liveness {
    pub fn of(meta: &SessionMeta, now: UnixTime, lifetimes: Lifetimes) -> Self {
        if now >= meta.expires_at(lifetimes) {
            Self::Expired
        } else if now - meta.last_seen_at >= TOUCH_INTERVAL_SECS {
            Self::Touch
        } else {
            Self::Alive
        }
    }
}

/// The per-user session registry. Cheap to clone.
#[derive(Clone)]
pub struct SessionRegistry {
    pool: Pool,
    /// Where the request resolver reads (see [`crate::db::HotReads`]).
    reads: crate::db::HotReads,
    /// The resolver's read of a session and its user, batched (see [`crate::db::Batcher`]).
    lookups: crate::db::Batcher<String, store::Found>,
    clock: SharedClock,
    lifetimes: Lifetimes,
    /// Stricter lifetimes for admins' sessions.
    admin_lifetimes: Lifetimes,
}

/// Who asked for sessions to end, for the audit event written with the deletion.
#[derive(Debug, Clone, Copy)]
pub struct AuditFor<'a> {
    /// The owner themselves, or an admin.
    pub actor: UserId,
    pub context: &'a crate::audit::Context,
    pub now: UnixTime,
}

/// Where a session was started from.
#[derive(Debug, Clone)]
pub struct Origin {
    pub ip: String,
    pub device: String,
}

/// The most sessions one resolver statement reads.
const LOOKUPS_PER_STATEMENT: usize = 64;

impl SessionRegistry {
    pub fn new(pool: Pool, clock: SharedClock, lifetimes: Lifetimes) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let reads = crate::db::HotReads::new(&pool, cores);
        // One statement at a time on SQLite: each is a trip to a connection's worker thread,
        // and one trip for many keys beat two for fewer (measured: `/api/me` signed in 23.4k
        // → 32.7k a second on two cores). On PostgreSQL each connection is a server process
        // that can run beside the others: one statement per connection.
        let lanes = match pool.backend() {
            crate::db::Backend::Sqlite => 1,
            crate::db::Backend::Postgres => reads.connections(),
        };
        let lookups = crate::db::Batcher::new(lanes, LOOKUPS_PER_STATEMENT, {
            let reads = reads.clone();
            move |keys: Vec<String>| {
                let reads = reads.clone();
                async move {
                    let mut lease = reads.lease().await?;
                    let found = store::find_signed_in(&mut lease, &keys).await;
                    if found.is_err() {
                        lease.discard();
                    }
                    found
                }
            }
        });
        Self { reads, lookups, pool, clock, lifetimes, admin_lifetimes: lifetimes }
    }

    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// Admins' sessions get `lifetimes` instead (each no longer than the default's).
    pub fn with_admin_lifetimes(mut self, lifetimes: Lifetimes) -> Self {
        self.admin_lifetimes = Lifetimes {
            idle_secs: lifetimes.idle_secs.min(self.lifetimes.idle_secs),
            absolute_secs: lifetimes.absolute_secs.min(self.lifetimes.absolute_secs),
        };
        self
    }

    /// Everyone's session lifetimes (an admin's are [`Self::lifetimes_for`]).
    pub fn lifetimes(&self) -> Lifetimes {
        self.lifetimes
    }

    /// The lifetimes of a session of a user with `role`.
    pub fn lifetimes_for(&self, role: crate::Role) -> Lifetimes {
        match role {
            crate::Role::Admin => self.admin_lifetimes,
            crate::Role::User => self.lifetimes,
        }
    }

    fn reads(&self) -> &crate::db::HotReads {
        &self.reads
    }

    /// The registry row under `store_key` with its user, read by a statement that started
    /// after this call (the request resolver's read; see [`crate::db::Batcher`]).
    async fn lookup(&self, store_key: &str) -> Result<Option<store::Found>, crate::db::BatchError> {
        self.lookups.get(store_key.to_owned()).await
    }

    /// Resolver reads so far: statements run, and the keys they answered.
    pub fn lookup_counts(&self) -> (u64, u64) {
        self.lookups.counts()
    }

    /// Registers a new signed-in session under its store key; `false` when the user's
    /// epoch moved on since `meta` was made, or the sign-in was made `with_factor = false`
    /// and the account has a factor now (the session must not start).
    pub async fn record(
        &self,
        store_key: &str,
        meta: &SessionMeta,
        role: crate::Role,
        origin: &Origin,
        with_factor: bool,
    ) -> sqlx::Result<bool> {
        let lifetimes = self.lifetimes_for(role);
        store::insert(&self.pool, store_key, &store::new_handle(), meta, lifetimes, origin, with_factor).await
    }

    /// Moves the session's row from `old_key` to `new_key` (its id was rotated), marking it
    /// stepped up at `now`; only while the old row exists at its user's current epoch, so a
    /// session revoked meanwhile stays revoked, and a step-up made without the factor
    /// (`with_factor = false`) only while the account has none. `false` if it did not.
    /// With no `stepped_up_at`, the step-up time is kept as it was.
    pub async fn rekey(
        &self,
        old_key: &str,
        new_key: &str,
        stepped_up_at: Option<UnixTime>,
        with_factor: bool,
    ) -> sqlx::Result<bool> {
        store::rekey(&self.pool, old_key, new_key, stepped_up_at, with_factor).await
    }

    /// Writes "last seen" back (call when [`Liveness::Touch`]), under `lifetimes`.
    pub async fn touch(&self, store_key: &str, meta: &SessionMeta, lifetimes: Lifetimes) -> sqlx::Result<()> {
        store::touch(&self.pool, store_key, meta, lifetimes).await
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Removes a session's registry row and its stored data (an impersonation on it, or
    /// parked behind it, ends as signed out).
    pub async fn forget(&self, store_key: &str) -> sqlx::Result<()> {
        let context = crate::audit::Context::default();
        let ending =
            store::EndedBy { how: store::Ended::SignedOut, by: None, context: &context, now: self.now() };
        store::forget(&self.pool, store_key, &ending).await
    }

    /// Ends the caller's impersonation session with this public handle, without a
    /// step-up: ending an admin's access to one's own account can never hurt its owner.
    pub async fn end_support_session(
        &self,
        user_id: UserId,
        caller_key: &str,
        handle: &str,
        context: &crate::audit::Context,
    ) -> sqlx::Result<bool> {
        self.revoke_one(user_id, caller_key, store::Which::Support(handle), context).await
    }

    /// The user's live sessions, newest first.
    pub async fn list(&self, user_id: UserId) -> sqlx::Result<Vec<SessionRow>> {
        store::list_live(&self.pool, user_id, self.now()).await
    }

    /// Ends the caller's session with this public handle. `false` when the user has no
    /// such session (including when the handle is someone else's).
    ///
    /// This and the next two act for a signed-in caller, whose own session is named by
    /// `caller_key`; they act only while that session still exists, in the same statement
    /// as the deletion. So a request that was in flight when its own session was revoked
    /// (say, a thief's "sign out the others" with a slow body, finishing after the owner
    /// signed out everywhere and back in) ends nothing.
    pub async fn revoke(
        &self,
        user_id: UserId,
        caller_key: &str,
        handle: &str,
        context: &crate::audit::Context,
    ) -> sqlx::Result<bool> {
        self.revoke_one(user_id, caller_key, store::Which::Handle(handle), context).await
    }

    /// Ends the one session of the caller's that `which` names, as the caller.
    async fn revoke_one(
        &self,
        user_id: UserId,
        caller_key: &str,
        which: store::Which<'_>,
        context: &crate::audit::Context,
    ) -> sqlx::Result<bool> {
        let audit = self.audit_for(user_id, context);
        let caller = guard::Caller::Owner { user_id, session_key: caller_key };
        let ended =
            store::delete_where(&self.pool, user_id, which, Some(caller), Some(audit), self.now()).await?;
        Ok(ended.unwrap_or(0) > 0)
    }

    fn audit_for<'a>(&self, actor: UserId, context: &'a crate::audit::Context) -> AuditFor<'a> {
        AuditFor { actor, context, now: self.now() }
    }

    /// Ends every session of the caller except their own.
    pub async fn revoke_others(
        &self,
        user_id: UserId,
        caller_key: &str,
        context: &crate::audit::Context,
    ) -> sqlx::Result<usize> {
        let audit = self.audit_for(user_id, context);
        let caller = guard::Caller::Owner { user_id, session_key: caller_key };
        let which = store::Which::AllBut(caller_key);
        Ok(store::delete_where(&self.pool, user_id, which, Some(caller), Some(audit), self.now())
            .await?
            .unwrap_or(0))
    }

    /// Ends every session of the caller, their own included.
    pub async fn revoke_all_as(
        &self,
        user_id: UserId,
        caller_key: &str,
        context: &crate::audit::Context,
    ) -> sqlx::Result<usize> {
        let audit = self.audit_for(user_id, context);
        let caller = guard::Caller::Owner { user_id, session_key: caller_key };
        let which = store::Which::All;
        Ok(store::delete_where(&self.pool, user_id, which, Some(caller), Some(audit), self.now())
            .await?
            .unwrap_or(0))
    }

    /// Ends the user's session with this public handle, for an admin (no session of the
    /// user's own asks for it). How many ended (0 or 1), or `None` when the admin may no
    /// longer act (checked on the deleting transaction: see [`guard`]).
    /// The admin and `context` go into the audit event written with the deletion; with no
    /// `handle`, every session of the user ends.
    pub async fn revoke_by_admin(
        &self,
        user_id: UserId,
        handle: Option<&str>,
        admin: guard::ActorKey<'_>,
        context: &crate::audit::Context,
    ) -> sqlx::Result<Option<usize>> {
        let which = handle.map_or(store::Which::All, store::Which::Handle);
        let audit = Some(self.audit_for(admin.0, context));
        store::delete_where(&self.pool, user_id, which, Some(guard::Caller::Admin(admin)), audit, self.now())
            .await
    }

    /// [`Self::revoke_by_admin`] on the caller's write transaction, which has checked the
    /// admin already (see [`guard`]). How many ended.
    pub async fn revoke_by_admin_in(
        &self,
        tx: &mut crate::db::Tx,
        user_id: UserId,
        handle: Option<&str>,
        admin: UserId,
        context: &crate::audit::Context,
    ) -> sqlx::Result<usize> {
        let which = handle.map_or(store::Which::All, store::Which::Handle);
        store::delete_in(tx, user_id, which, None, Some(self.audit_for(admin, context)), self.now()).await
    }

    /// Ends every session of the user (a password reset: no session asks for it).
    pub async fn revoke_all(&self, user_id: UserId) -> sqlx::Result<usize> {
        let ended =
            store::delete_where(&self.pool, user_id, store::Which::All, None, None, self.now()).await?;
        Ok(ended.unwrap_or(0))
    }

    /// [`Self::revoke_all`] on `tx` (a change's own transaction).
    pub async fn revoke_all_in(&self, tx: &mut crate::db::Tx, user_id: UserId) -> sqlx::Result<usize> {
        store::delete_in(tx, user_id, store::Which::All, None, None, self.now()).await
    }

    /// How many sessions are live now (for monitoring).
    pub async fn live(&self) -> sqlx::Result<i64> {
        store::live_count(&self.pool, self.now()).await
    }

    /// Deletes registry rows (and their stored data) past either limit. Returns how many.
    pub async fn delete_expired(&self) -> sqlx::Result<usize> {
        let keys = store::expired_keys(&self.pool, self.now()).await?;
        let context = crate::audit::Context::default();
        let ending =
            store::EndedBy { how: store::Ended::Expired, by: None, context: &context, now: self.now() };
        store::delete_keys(&self.pool, &keys, &ending).await?;
        Ok(keys.len())
    }
}

#[cfg(test)]
mod tests;
