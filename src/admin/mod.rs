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

mod action;
mod approval_store;
mod approvals;
mod break_glass;
mod store;

use crate::{
    accounts::{Accounts, UnexpectedError, User, UserId, RESET_PASSWORD_VALID_SECS},
    audit,
    clock::{SharedClock, UnixTime},
    db::{Pool, Tx},
    deletion::Deletions,
    devices::Devices,
    mail::{AdminNotice, Outbox, Templates},
    sessions::{SessionRegistry, SessionRow},
    throttle::Throttle,
    Email, Role,
};

pub use self::{
    action::AdminAction,
    approvals::{tell_admins, Approval, Decision, APPROVAL_WINDOW_SECS, MAX_WAITING_PER_ADMIN},
    break_glass::{operator, OperatorAction},
    store::Outcome,
};

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
    /// The account is closing for deletion: nothing more is done to it (its owner may
    /// still keep it with the mailed link).
    #[error("the account is being deleted")]
    Closing,
    /// A reason is required (1 to [`MAX_REASON_CHARS`] characters).
    #[error("a reason is required")]
    ReasonRequired,
    #[error("the end of a disablement must be in the future")]
    UntilInPast,
    /// The request to approve or withdraw is not waiting (approved, withdrawn, expired,
    /// unknown, or its proposer may no longer act).
    #[error("that request is no longer waiting")]
    NotWaiting,
    /// An admin may not approve their own request.
    #[error("a second admin must approve this request")]
    OwnRequest,
    /// An admin may not approve a request about their own account.
    #[error("a request about an admin's own account is for other admins to approve")]
    AboutYou,
    /// Only the admin who asked may withdraw a request.
    #[error("only the admin who asked may withdraw a request")]
    NotYours,
    /// The admin has too many requests waiting.
    #[error("too many requests of this admin wait")]
    TooManyWaiting,
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
    deletions: Deletions,
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
        deletions: Deletions,
    ) -> Self {
        Self { pool, clock, accounts, registry, devices, throttle, outbox, templates, deletions }
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

    /// Makes the change `action` asks for on `tx`, guarded by the actor's standing (see
    /// `store`), with its own audit event; commits nothing.
    async fn apply(
        &self,
        tx: &mut crate::db::Tx,
        actor: Actor<'_>,
        target: UserId,
        action: &AdminAction,
        unusable_hash: Option<&str>,
    ) -> Result<Outcome, AdminError> {
        let now = self.clock.now();
        let key = actor.key(now);
        // Read on the change's own transaction: a closing that committed first wins.
        // An erased account is no account.
        let current = store::find_in(&mut *tx, target).await?.ok_or(AdminError::NotFound)?;
        if current.user.standing.deletion_due_at.is_some() {
            return Err(AdminError::Closing);
        }
        let role_before = approval_store::role_of(&mut *tx, target).await?;
        // The password nobody holds, for the actions that take the password away: callers
        // make it before the transaction (`unusable_hash_for`); made here otherwise.
        let unusable = match unusable_hash {
            Some(hash) => Some(hash.to_owned()),
            None => self.unusable_hash_for(action).await?,
        };
        let (outcome, details) = match action {
            AdminAction::Disable { reason, until } => {
                let reason = reason.trim();
                let outcome = store::block(&mut *tx, key, target, now, Some((reason, *until))).await?;
                (outcome, serde_json::json!({ "reason": reason, "until": until }))
            }
            AdminAction::Enable => {
                (store::unblock(&mut *tx, key, target, true).await?, serde_json::json!({}))
            }
            AdminAction::Lock => {
                (store::block(&mut *tx, key, target, now, None).await?, serde_json::json!({}))
            }
            AdminAction::Unlock => (
                store::unblock(&mut *tx, key, target, false).await?,
                serde_json::json!({ "throttle_cleared": true }),
            ),
            AdminAction::ForceReset => {
                let hash = unusable.as_deref().unwrap_or_default();
                (store::require_new_password(&mut *tx, key, target, hash).await?, serde_json::json!({}))
            }
            AdminAction::SetRole { role } => (
                store::set_role(&mut *tx, key, target, *role).await?,
                serde_json::json!({ "from": role_before, "to": role.as_str() }),
            ),
            AdminAction::ResetFactors { reason } => {
                let hash = unusable.as_deref().unwrap_or_default();
                (
                    store::reset_factors(&mut *tx, key, target, hash).await?,
                    serde_json::json!({ "reason": reason.trim(), "new_password_required": true }),
                )
            }
            AdminAction::Delete { reason } => {
                let due_at = self.deletions.due_from_now();
                (
                    store::close_for_deletion(&mut *tx, key, target, due_at).await?,
                    serde_json::json!({ "by": "admin", "reason": reason.trim(), "due_at": due_at }),
                )
            }
            AdminAction::EndSessions { session } => {
                // The registry writes its own event with the deletion.
                if !store::actor_may_act(&mut *tx, key).await? {
                    return Ok(Outcome::ActorGone);
                }
                if role_before.is_none() {
                    return Ok(Outcome::NoSuchUser);
                }
                let ended = self
                    .registry
                    .revoke_by_admin_in(tx, target, session.as_deref(), actor.id, actor.context)
                    .await?;
                return Ok(if ended == 0 { Outcome::Unchanged } else { Outcome::Done });
            }
        };
        if outcome == Outcome::Done {
            let event = action.event();
            let entry =
                audit::Entry::new(event, Some(actor.id), Some(target), actor.context).details(details);
            audit::record(&mut *tx, now, &entry).await?;
            tracing::info!(event = event.as_str(), actor = actor.id, subject = target, "admin action");
        }
        Ok(outcome)
    }

    /// What follows the change, on the change's own transaction: sessions and device
    /// cookies ended, the sign-in throttle cleared, the owner mailed (never naming the
    /// admin). The change and everything that follows it commit together or not at all,
    /// so a lock timeout midway (503, try again) leaves nothing half done: no disabled
    /// account whose rows of sessions live on, no forced reset without its link. `before`
    /// is the account as it was.
    async fn follow_up_in(
        &self,
        tx: &mut Tx,
        actor: UserId,
        target: UserId,
        action: &AdminAction,
        before: &UserSummary,
    ) -> Result<(), AdminError> {
        let Some(now) = store::find_in(tx, target).await? else { return Ok(()) };
        let user = &now.user;
        let email = Email::parse(&user.email).ok();
        let notice = match action {
            AdminAction::Disable { until, .. } => {
                self.end_sessions_in(tx, target, false).await?;
                Some(AdminNotice::Disabled { until: *until })
            }
            AdminAction::Enable => Some(AdminNotice::Enabled),
            AdminAction::Lock => {
                self.end_sessions_in(tx, target, false).await?;
                Some(AdminNotice::Locked)
            }
            AdminAction::Unlock => {
                if let Some(email) = &email {
                    self.throttle.clear_account_in(tx, email).await?;
                }
                // Only the throttle cleared: recorded, but nothing to tell.
                before.user.standing.is_locked().then_some(AdminNotice::Unlocked)
            }
            AdminAction::ForceReset => {
                self.end_sessions_in(tx, target, true).await?;
                let token = self.accounts.reset_token_in(tx, user).await?;
                token.map(|token| AdminNotice::PasswordResetRequired {
                    token,
                    valid_minutes: RESET_PASSWORD_VALID_SECS / 60,
                })
            }
            AdminAction::SetRole { role } => {
                self.end_sessions_in(tx, target, false).await?;
                Some(AdminNotice::RoleChanged(*role))
            }
            AdminAction::EndSessions { .. } => None,
            AdminAction::Delete { .. } => {
                // The owner's mail (with the undo link) is the closing's own.
                let due_at = user.standing.deletion_due_at.unwrap_or_else(|| self.deletions.due_from_now());
                self.deletions.closed_in(tx, user, Some(actor), due_at).await?;
                None
            }
            AdminAction::ResetFactors { .. } => {
                // Sessions and device cookies end; the owner is told, and gets the link
                // that sets a new password (the old one no longer works).
                self.end_sessions_in(tx, target, true).await?;
                self.throttle.clear_factor_in(tx, target).await?;
                if let Some(email) = &email {
                    let notice = crate::mail::templates::FactorNotice::ResetByAdmin;
                    let mail = self.templates.factor_notice(email, &user.username, notice);
                    self.outbox.enqueue_in(tx, &mail).await?;
                }
                let token = self.accounts.reset_token_in(tx, user).await?;
                token.map(|token| AdminNotice::PasswordResetRequired {
                    token,
                    valid_minutes: RESET_PASSWORD_VALID_SECS / 60,
                })
            }
        };
        match (notice, email) {
            (Some(notice), Some(email)) => {
                let mail = self.templates.admin_notice(&email, &user.username, &notice);
                self.outbox.enqueue_in(tx, &mail).await?;
            }
            (Some(_), None) => {
                tracing::error!(user_id = target, "stored address does not parse; no notice sent")
            }
            (None, _) => {}
        }
        Ok(())
    }

    /// A hash of a secret nobody holds, for a required new password (made before the write
    /// transaction: hashing takes milliseconds nobody should wait behind).
    async fn unusable_hash_for(&self, action: &AdminAction) -> Result<Option<String>, AdminError> {
        if !matches!(action, AdminAction::ForceReset | AdminAction::ResetFactors { .. }) {
            return Ok(None);
        }
        let hash =
            self.accounts.hasher().hash_unusable().await.map_err(|e| AdminError::Unexpected(e.into()))?;
        Ok(Some(hash))
    }

    /// Deletes every session of the account (already refused since the epoch bump) and,
    /// with `devices`, its device cookies, on the change's transaction.
    async fn end_sessions_in(&self, tx: &mut Tx, target: UserId, devices: bool) -> Result<(), AdminError> {
        self.registry.revoke_all_in(tx, target).await?;
        if devices {
            self.devices.revoke_all_in(tx, target).await?;
        }
        Ok(())
    }
}
