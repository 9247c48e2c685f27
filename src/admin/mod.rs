//! What admins do to accounts. Every action here:
//! - is refused for a target that does not exist (`NotFound`), and never takes away the
//!   last admin who can still act (`LastAdmin`): the guard is part of the statement that
//!   makes the change, so two admins acting at once cannot both pass it;
//! - writes its audit event (actor = the admin, subject = the account) on the
//!   transaction that makes the change;
//! - when it takes access away (disable, lock, role change, required new password),
//!   bumps the account's epoch in that same statement, so every session of the account
//!   is refused on its very next request, then deletes the sessions and, for a required
//!   new password, the device cookies;
//! - tells the owner by mail (never naming the admin or quoting their reason).
//!
//! Checking that the caller is an admin, with a fresh step-up, is the server's job (its
//! admin guard); this module trusts the [`Actor`] it is given.

mod store;

use crate::{
    accounts::{Accounts, UnexpectedError, User, UserId, RESET_PASSWORD_VALID_SECS},
    audit::{self, Event},
    clock::{SharedClock, UnixTime},
    db::Pool,
    devices::Devices,
    mail::{AdminNotice, Outbox, Templates},
    sessions::{SessionRegistry, SessionRow},
    throttle::Throttle,
    Email, Role,
};

pub use self::store::Outcome;

/// Longest reason an admin may write when disabling an account.
pub const MAX_REASON_CHARS: usize = 500;

/// The admin acting, on which session, and where from.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub id: UserId,
    /// The registry key of the admin's session: a change commits only while it lives.
    pub session_key: &'a str,
    /// The oldest step-up that counts: a change commits only if the session's step-up is
    /// at least this recent.
    pub stepped_up_since: UnixTime,
    pub context: &'a audit::Context,
}

impl Actor<'_> {
    fn key(&self, now: UnixTime) -> store::ActorKey<'_> {
        (self.id, self.session_key, self.stepped_up_since, now)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no such account")]
    NotFound,
    #[error("this would leave no admin who can act")]
    LastAdmin,
    #[error("admins cannot do this to their own account")]
    Yourself,
    /// The acting admin was demoted, disabled or signed out while the request was in flight.
    #[error("the acting admin may no longer act")]
    ActorGone,
    /// A reason is required (1 to [`MAX_REASON_CHARS`] characters).
    #[error("a reason is required")]
    ReasonRequired,
    #[error("the end of a disablement must be in the future")]
    UntilInPast,
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl From<sqlx::Error> for AdminError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(e.into())
    }
}

/// An account as the dashboard lists it.
#[derive(Debug, Clone)]
pub struct UserSummary {
    pub user: User,
    pub created_at: UnixTime,
    pub confirmed_at: Option<UnixTime>,
    pub last_sign_in_at: Option<UnixTime>,
}

/// The dashboard's status filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Active,
    Disabled,
    Locked,
    MustChangePassword,
}

/// A search of the accounts.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// An email or username prefix.
    pub prefix: Option<String>,
    pub status: Option<StatusFilter>,
    pub role: Option<Role>,
    /// Only accounts older than this id (the next page).
    pub before: Option<UserId>,
    pub limit: u32,
}

#[derive(Clone)]
pub struct Admin {
    pool: Pool,
    clock: SharedClock,
    accounts: Accounts,
    registry: SessionRegistry,
    devices: Devices,
    throttle: Throttle,
    outbox: Outbox,
    templates: Templates,
}

impl Admin {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        pool: Pool,
        clock: SharedClock,
        accounts: Accounts,
        registry: SessionRegistry,
        devices: Devices,
        throttle: Throttle,
        outbox: Outbox,
        templates: Templates,
    ) -> Self {
        Self { pool, clock, accounts, registry, devices, throttle, outbox, templates }
    }

    /// A page of accounts and how many match.
    pub async fn users(&self, filter: &UserFilter) -> Result<(Vec<UserSummary>, i64), AdminError> {
        Ok(store::search(&self.pool, filter, self.clock.now()).await?)
    }

    pub async fn user(&self, id: UserId) -> Result<UserSummary, AdminError> {
        store::find(&self.pool, id).await?.ok_or(AdminError::NotFound)
    }

    /// The account's live sessions.
    pub async fn sessions(&self, id: UserId) -> Result<Vec<SessionRow>, AdminError> {
        Ok(self.registry.list(id).await?)
    }

    /// Disables the account (reason required; `until`, if given, in the future) and ends
    /// every session of it.
    pub async fn disable(
        &self,
        actor: Actor<'_>,
        target: UserId,
        reason: &str,
        until: Option<UnixTime>,
    ) -> Result<(), AdminError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
            return Err(AdminError::ReasonRequired);
        }
        let now = self.clock.now();
        if until.is_some_and(|until| until <= now) {
            return Err(AdminError::UntilInPast);
        }
        if target == actor.id {
            return Err(AdminError::Yourself);
        }
        let details = serde_json::json!({ "reason": reason, "until": until });
        let mut tx = crate::db::write(&self.pool).await?;
        let outcome =
            store::block(&mut tx, actor.key(self.clock.now()), target, now, Some((reason, until))).await?;
        self.commit(tx, outcome, actor, target, Event::UserDisabled, details).await?;
        self.end_sessions(target, false).await?;
        self.notify(target, AdminNotice::Disabled { until }).await
    }

    pub async fn enable(&self, actor: Actor<'_>, target: UserId) -> Result<(), AdminError> {
        let mut tx = crate::db::write(&self.pool).await?;
        let outcome = store::unblock(&mut tx, actor.key(self.clock.now()), target, true).await?;
        if !self.commit(tx, outcome, actor, target, Event::UserEnabled, serde_json::json!({})).await? {
            return Ok(()); // Not disabled: nothing recorded, nobody mailed.
        }
        self.notify(target, AdminNotice::Enabled).await
    }

    /// The admin lock (apart from sign-in throttling); ends every session.
    pub async fn lock(&self, actor: Actor<'_>, target: UserId) -> Result<(), AdminError> {
        if target == actor.id {
            return Err(AdminError::Yourself);
        }
        let now = self.clock.now();
        let mut tx = crate::db::write(&self.pool).await?;
        let outcome = store::block(&mut tx, actor.key(self.clock.now()), target, now, None).await?;
        self.commit(tx, outcome, actor, target, Event::UserLocked, serde_json::json!({})).await?;
        self.end_sessions(target, false).await?;
        self.notify(target, AdminNotice::Locked).await
    }

    /// Lifts the admin lock and clears the account's sign-in throttle.
    pub async fn unlock(&self, actor: Actor<'_>, target: UserId) -> Result<(), AdminError> {
        let was_locked = self.user(target).await?.user.standing.is_locked();
        let mut tx = crate::db::write(&self.pool).await?;
        let outcome = store::unblock(&mut tx, actor.key(self.clock.now()), target, false).await?;
        self.commit(
            tx,
            outcome,
            actor,
            target,
            Event::UserUnlocked,
            serde_json::json!({ "throttle_cleared": true }),
        )
        .await?;
        if let Some(email) = self.email_of(target).await? {
            self.throttle.clear_account(&email).await?;
        }
        if !was_locked {
            return Ok(()); // Only the throttle was cleared: recorded, but nothing to tell.
        }
        self.notify(target, AdminNotice::Unlocked).await
    }

    /// Requires a new password: the old one stops working, every session and device
    /// cookie ends, and the owner is mailed a reset link (which sets the new one).
    pub async fn force_password_reset(&self, actor: Actor<'_>, target: UserId) -> Result<(), AdminError> {
        if target == actor.id {
            return Err(AdminError::Yourself);
        }
        let unusable_hash =
            self.accounts.hasher().hash_unusable().await.map_err(|e| AdminError::Unexpected(e.into()))?;
        let mut tx = crate::db::write(&self.pool).await?;
        let outcome =
            store::require_new_password(&mut tx, actor.key(self.clock.now()), target, &unusable_hash).await?;
        self.commit(tx, outcome, actor, target, Event::AdminPasswordReset, serde_json::json!({})).await?;
        self.end_sessions(target, true).await?;
        let Some(email) = self.email_of(target).await? else { return Ok(()) };
        let issued = self.accounts.issue_reset(&email).await.map_err(|e| match e {
            crate::accounts::AccountError::Unexpected(cause) => AdminError::Unexpected(cause),
            _ => AdminError::NotFound,
        })?;
        if let Some((_, token)) = issued {
            let notice =
                AdminNotice::PasswordResetRequired { token, valid_minutes: RESET_PASSWORD_VALID_SECS / 60 };
            self.notify(target, notice).await?;
        }
        Ok(())
    }

    /// Grants or removes the admin role (never the last active admin's); ends every
    /// session of the account, which signs in again with its new role.
    pub async fn set_role(&self, actor: Actor<'_>, target: UserId, role: Role) -> Result<(), AdminError> {
        let before = self.user(target).await?.user.role;
        if before == role {
            return Ok(());
        }
        let details = serde_json::json!({ "from": before.as_str(), "to": role.as_str() });
        let mut tx = crate::db::write(&self.pool).await?;
        let outcome = store::set_role(&mut tx, actor.key(self.clock.now()), target, role).await?;
        if !self.commit(tx, outcome, actor, target, Event::RoleChanged, details).await? {
            return Ok(()); // Another admin made the same change first.
        }
        self.end_sessions(target, false).await?;
        self.notify(target, AdminNotice::RoleChanged(role)).await
    }

    /// Ends one session of the account (by its public handle), or all of them.
    pub async fn revoke_sessions(
        &self,
        actor: Actor<'_>,
        target: UserId,
        handle: Option<&str>,
    ) -> Result<usize, AdminError> {
        self.user(target).await?;
        let key = actor.key(self.clock.now());
        // The actor is checked on the deleting transaction itself (see `sessions::guard`).
        self.registry.revoke_by_admin(target, handle, key, actor.context).await?.ok_or(AdminError::ActorGone)
    }

    /// Commits `tx` with the audit event of the change it made (`true`), or rolls it
    /// back when the change was refused (an error) or there was nothing to change (`false`).
    async fn commit(
        &self,
        mut tx: crate::db::Tx,
        outcome: Outcome,
        actor: Actor<'_>,
        target: UserId,
        event: Event,
        details: serde_json::Value,
    ) -> Result<bool, AdminError> {
        match outcome {
            Outcome::Done => {}
            Outcome::Unchanged => return Ok(false),
            Outcome::NoSuchUser => return Err(AdminError::NotFound),
            Outcome::LastAdmin => return Err(AdminError::LastAdmin),
            Outcome::ActorGone => return Err(AdminError::ActorGone),
        }
        let entry = audit::Entry::new(event, Some(actor.id), Some(target), actor.context).details(details);
        audit::record(&mut tx, self.clock.now(), &entry).await?;
        tx.commit().await?;
        tracing::info!(event = event.as_str(), actor = actor.id, subject = target, "admin action");
        Ok(true)
    }

    /// Deletes every session of the account (already refused since the epoch bump) and,
    /// with `devices`, its device cookies.
    async fn end_sessions(&self, target: UserId, devices: bool) -> Result<(), AdminError> {
        self.registry.revoke_all(target).await?;
        if devices {
            self.devices.revoke_all(target).await?;
        }
        Ok(())
    }

    async fn email_of(&self, target: UserId) -> Result<Option<Email>, AdminError> {
        let summary = store::find(&self.pool, target).await?;
        Ok(summary.and_then(|s| Email::parse(&s.user.email).ok()))
    }

    async fn notify(&self, target: UserId, notice: AdminNotice) -> Result<(), AdminError> {
        let Some(summary) = store::find(&self.pool, target).await? else { return Ok(()) };
        let Ok(email) = Email::parse(&summary.user.email) else { return Ok(()) };
        self.outbox.enqueue(&self.templates.admin_notice(&email, &summary.user.username, &notice)).await?;
        Ok(())
    }
}
