//! Deleting an account: closed at once, erased after a grace period, undone until then.
//!
//! - **Closing** (by the owner after a fresh step-up, or by an admin: see
//!   `admin::AdminAction::Delete`): in one transaction the account is marked closing, its
//!   epoch bumped (every session is refused on its next request) and its sessions, device
//!   cookies, mailed links, pending email changes, waiting second steps, passkey ceremonies
//!   and support access end. The owner is mailed a link that keeps the account. Never the
//!   last admin who can act.
//! - **While closing**, the account looks like no account to a sign-in (the generic error,
//!   after the same work: see `accounts::store::find_credentials`), a password reset mails
//!   nothing, and any session left would be refused by the resolver.
//! - **Undo** with the mailed link (a page with a button: a mail scanner that follows links
//!   keeps nothing open) reopens the account as it was; sessions stay ended, and a mailed
//!   link never signs in.
//! - **Erasure** (the clean-up pass, once the grace period is over): every row about the
//!   account goes, rows naming its address go, the audit log keeps ids and events without
//!   details, addresses or browsers, and the user row keeps only its id. The username is
//!   reserved for [`USERNAME_RESERVED_SECS`] under a keyed hash.
//!
//! Undo and erasure both start by taking the pending deletion's row, so when they race
//! exactly one of them happens.

pub mod store;

use crate::{
    accounts::{User, UserId},
    audit::{self, Event},
    clock::{SharedClock, UnixTime},
    db::{Pool, Tx},
    devices::Devices,
    mail::{DeletionNotice, Outbox, Templates},
    sessions::SessionRegistry,
    token, Email,
};

pub use store::Pending;

/// The grace period unless configured (`BULWARK_DELETION_GRACE_DAYS`).
pub const DEFAULT_GRACE_DAYS: i64 = 7;
/// The longest grace period that may be configured.
pub const MAX_GRACE_DAYS: i64 = 90;
/// How long an erased account's username stays reserved: half a year, long enough that
/// the people who knew the account by its name have seen it go before somebody else can
/// take the name (a confusable reuse impersonates the person who left), short enough that
/// a name is not lost for good.
pub const USERNAME_RESERVED_SECS: i64 = 180 * 24 * 60 * 60;
/// How many accounts one clean-up pass erases (the rest wait for the next pass).
pub const ERASE_PER_PASS: i64 = 50;

#[derive(Debug, thiserror::Error)]
pub enum DeletionError {
    /// The session ended, is not the owner's own, or its step-up is not fresh: step up
    /// again (or sign in) and retry.
    #[error("the session may not delete the account now")]
    StepUpRequired,
    /// An admin's account is deleted by another admin (two-person rule), not by its owner.
    #[error("an admin's account is deleted by another admin")]
    AdminAccount,
    /// Unknown, used or expired undo link: one answer.
    #[error("invalid, used or expired link")]
    InvalidLink,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// What closing needs.
#[derive(Clone)]
pub struct Deletions {
    pool: Pool,
    clock: SharedClock,
    registry: SessionRegistry,
    devices: Devices,
    outbox: Outbox,
    templates: Templates,
    grace_secs: i64,
    /// Hashes an erased account's username for its reservation (keyed with the secret).
    accounts: crate::accounts::Accounts,
}

/// The parts [`Deletions`] is made of.
pub struct Parts {
    pub pool: Pool,
    pub clock: SharedClock,
    pub registry: SessionRegistry,
    pub devices: Devices,
    pub outbox: Outbox,
    pub templates: Templates,
    /// The grace period in days (1 to [`MAX_GRACE_DAYS`]).
    pub grace_days: i64,
    /// The accounts service, whose key (`Accounts::with_secret`) the reserved usernames'
    /// hashes are made with: the one that checks them at signup.
    pub accounts: crate::accounts::Accounts,
}

impl Deletions {
    pub fn new(parts: Parts) -> Self {
        let Parts { pool, clock, registry, devices, outbox, templates, grace_days, accounts } = parts;
        let grace_secs = grace_days.clamp(1, MAX_GRACE_DAYS) * 24 * 60 * 60;
        Self { pool, clock, registry, devices, outbox, templates, grace_secs, accounts }
    }

    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// The grace period, in seconds.
    pub fn grace_secs(&self) -> i64 {
        self.grace_secs
    }

    /// The owner closes their account, on their session `session_key`, stepped up at or
    /// after `stepped_up_since` (both checked again where the change commits). When the
    /// erasure is due.
    pub async fn close_own(
        &self,
        user: &User,
        session_key: &str,
        step_up_window_secs: i64,
        context: &audit::Context,
    ) -> Result<UnixTime, DeletionError> {
        if user.role == crate::Role::Admin {
            // Another admin deletes an admin's account, under the two-person rule: an admin
            // cannot make their own actions' trail go away on their own.
            return Err(DeletionError::AdminAccount);
        }
        let mut tx = crate::db::write(&self.pool).await?;
        // Times taken once the write lock is held: a step-up that went stale while the
        // request waited for it counts for nothing.
        let now = self.clock.now();
        let due_at = now + self.grace_secs;
        let stepped_up_since = now - step_up_window_secs + 1;
        if !store::close_by_owner(&mut tx, user.id, session_key, stepped_up_since, due_at).await? {
            return Err(DeletionError::StepUpRequired);
        }
        let entry = audit::Entry::new(Event::DeletionRequested, Some(user.id), Some(user.id), context)
            .details(serde_json::json!({ "by": "owner", "due_at": due_at }));
        audit::record(&mut tx, now, &entry).await?;
        // The account as it is now (an email change may have been confirmed meanwhile: the
        // undo link goes to the address the account has).
        let current = crate::accounts::store::find_user(&mut tx, user.id)
            .await?
            .ok_or(DeletionError::StepUpRequired)?;
        self.closed_in(&mut tx, &current, None, due_at).await?;
        tx.commit().await?;
        self.outbox.wake();
        tracing::info!(event = "user_deletion_requested", user_id = user.id, due_at, "account closing");
        Ok(due_at)
    }

    /// When an account an admin closes now would be erased.
    pub fn due_from_now(&self) -> UnixTime {
        self.clock.now() + self.grace_secs
    }

    /// What follows a closing, on its transaction (the account row already says it is
    /// closing and its epoch moved): everything that still works ends, the undo link is
    /// stored, the owner is mailed. `by_admin`: the admin who asked.
    pub async fn closed_in(
        &self,
        tx: &mut Tx,
        user: &User,
        by_admin: Option<UserId>,
        due_at: UnixTime,
    ) -> sqlx::Result<()> {
        let now = self.clock.now();
        let undo = token::generate();
        store::record_closing(&mut *tx, user.id, now, due_at, by_admin, &undo.hash).await?;
        self.registry.revoke_all_in(tx, user.id).await?;
        self.devices.revoke_all_in(&mut *tx, user.id).await?;
        match Email::parse(&user.email) {
            Ok(email) => {
                let notice =
                    DeletionNotice::Scheduled { token: undo.token, due_at, by_admin: by_admin.is_some() };
                let mail = self.templates.deletion_notice(&email, &user.username, &notice);
                self.outbox.enqueue_in(&mut *tx, &mail).await?;
            }
            Err(_) => tracing::error!(user_id = user.id, "stored address does not parse; no undo link sent"),
        }
        Ok(())
    }

    /// The pending deletion an undo link is for, and the address it was mailed to (to show
    /// before the owner confirms).
    pub async fn peek(&self, token: &str) -> Result<(Pending, String), DeletionError> {
        let hash = token::parse(token).ok_or(DeletionError::InvalidLink)?;
        let mut connection = self.pool.acquire().await?;
        let pending = store::find_by_undo(&mut connection, &hash, self.clock.now())
            .await?
            .ok_or(DeletionError::InvalidLink)?;
        let user = crate::accounts::store::find_user(&mut connection, pending.user_id).await?;
        Ok((pending, user.map(|u| u.email).unwrap_or_default()))
    }

    /// Keeps the account the undo link names: it opens again (every session stays ended).
    pub async fn undo(&self, token: &str, context: &audit::Context) -> Result<UserId, DeletionError> {
        let hash = token::parse(token).ok_or(DeletionError::InvalidLink)?;
        let now = self.clock.now();
        // A link that names nothing is answered from a read: a flood of made-up links
        // never queues for the write lock every change of the site takes turns on.
        if store::find_by_undo(&mut self.pool.acquire().await?, &hash, now).await?.is_none() {
            return Err(DeletionError::InvalidLink);
        }
        let mut tx = crate::db::write(&self.pool).await?;
        let user_id = store::undo(&mut tx, &hash, now).await?.ok_or(DeletionError::InvalidLink)?;
        let entry = audit::Entry::new(Event::DeletionUndone, Some(user_id), Some(user_id), context);
        audit::record(&mut tx, now, &entry).await?;
        if let Some(user) = crate::accounts::store::find_user(&mut tx, user_id).await? {
            if let Ok(email) = Email::parse(&user.email) {
                let mail = self.templates.deletion_notice(&email, &user.username, &DeletionNotice::Undone);
                self.outbox.enqueue_in(&mut tx, &mail).await?;
            }
        }
        tx.commit().await?;
        self.outbox.wake();
        tracing::info!(event = "user_deletion_undone", user_id, "account kept");
        Ok(user_id)
    }

    /// Erases every account whose grace period is over (at most [`ERASE_PER_PASS`]), each
    /// in its own transaction; how many.
    pub async fn erase_due(&self) -> Result<usize, DeletionError> {
        let now = self.clock.now();
        let due = {
            let mut connection = self.pool.acquire().await?;
            store::due(&mut connection, now, ERASE_PER_PASS).await?
        };
        let mut erased = 0;
        let mut failed = None;
        for user_id in due {
            // One account that fails does not hold up the others; it is tried again on
            // the next pass.
            match self.erase(user_id, now).await {
                Ok(true) => erased += 1,
                Ok(false) => {}
                Err(error) => {
                    tracing::error!(user_id, error = %error, "erasing an account failed");
                    failed = Some(error);
                }
            }
        }
        if let Some(error) = failed {
            return Err(error);
        }
        let mut connection = self.pool.acquire().await?;
        store::delete_ended_reservations(&mut connection, now).await?;
        Ok(erased)
    }

    async fn erase(&self, user_id: UserId, now: UnixTime) -> Result<bool, DeletionError> {
        let mut tx = crate::db::write(&self.pool).await?;
        let (email, username) = match store::take_due(&mut tx, user_id, now).await? {
            // Undone meanwhile.
            store::Taken::Nothing => return Ok(false),
            // Nothing left to erase: the row alone goes, or it would come back every pass.
            store::Taken::Row => {
                tx.commit().await?;
                return Ok(false);
            }
            store::Taken::Account { email, username } => (email, username),
        };
        self.registry.revoke_all_in(&mut tx, user_id).await?;
        // `users.username` holds the unique form, the one signup hashes to compare.
        let reserved = self.accounts.retired_username_hash(&username);
        store::erase(&mut tx, user_id, &email, &reserved, now, now + USERNAME_RESERVED_SECS).await?;
        let context = audit::Context::default();
        let entry = audit::Entry::new(Event::AccountErased, None, Some(user_id), &context);
        audit::record(&mut tx, now, &entry).await?;
        tx.commit().await?;
        tracing::info!(event = "user_erased", user_id, "account erased");
        Ok(true)
    }
}

#[cfg(test)]
mod tests;
