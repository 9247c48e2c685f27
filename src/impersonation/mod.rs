//! Impersonation: an admin sees the application as one user sees it, to help them.
//!
//! - **Start** needs an admin on a live session with a fresh step-up, a reason (10 to 500
//!   characters), fewer than the hourly allowance of starts, and no other live
//!   impersonation of theirs; the target must be a confirmed, usable, ordinary account
//!   (not an admin, not disabled or locked, not awaiting a new password, not the admin),
//!   and in consent mode must have granted support access. All of it is checked by the
//!   statement that inserts the impersonation (see `store::insert`), on the transaction
//!   that also parks the admin's session, registers the impersonation session, writes the
//!   start event and queues the mail to the user.
//! - **Sessions.** The impersonation runs on a new session id. The admin's own session is
//!   *parked*: kept, refused as a caller, and given back (under a new id) when the
//!   impersonation ends, with no new sign-in. The browser keeps the parked id in a second
//!   cookie; the server keeps only its hash. The impersonation ends at a hard cap
//!   (30 minutes by default, at most 60) that activity never extends, after the admins'
//!   idle timeout, on Stop, on sign-out, and when the user or any admin ends its session;
//!   the request resolver also ends it as soon as the admin may no longer act (demoted,
//!   disabled, their parked session revoked) or the user's account changes.
//! - **The principal** the resolver makes carries both: the user (whose account is seen)
//!   and the [`Impersonating`] admin. Every audit event written meanwhile names the admin
//!   as its actor and the impersonation (`audit::Context::impersonation`).
//! - **What is blocked** while impersonating is the server's default: only an explicit
//!   allow-list of endpoints is reachable (see the server's `caller` module).

pub mod store;

use tower_sessions::{session::Id, Session};

use crate::db::AsConn;
use crate::{
    accounts::{UnexpectedError, UserId},
    audit::{self, Event},
    clock::{SharedClock, UnixTime},
    db::Pool,
    mail::{ImpersonationNotice, Outbox, Templates},
    sessions::{
        guard::{still_may_act, Caller},
        Origin, SessionMeta, SessionRegistry,
    },
    Email,
};

/// Fewest and most characters of the reason an admin gives.
pub const REASON_MIN_CHARS: usize = 10;
pub const REASON_MAX_CHARS: usize = 500;
/// The longest cap an impersonation may be given.
pub const MAX_CAP_SECS: i64 = 60 * 60;

/// The limits, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// An impersonation ends this long after it started, however active (at most
    /// [`MAX_CAP_SECS`]).
    pub cap_secs: i64,
    /// Starts per admin per rolling hour.
    pub per_hour: u32,
    /// Consent mode: only accounts whose owner granted support access.
    pub consent_required: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self { cap_secs: 30 * 60, per_hour: 10, consent_required: false }
    }
}

/// How an impersonation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The admin pressed Stop (or came back without the impersonation's cookie).
    Stopped,
    /// Its cap or idle limit passed.
    Expired,
    /// The admin signed out.
    SignedOut,
    /// The user ended its session.
    EndedByUser,
    /// An admin ended it (or its session).
    EndedByAdmin,
    /// The user's account changed (disabled, locked, password reset...): its sessions ended.
    AccountChanged,
    /// The admin's own, parked session ended (revoked, or the admin lost the right to act).
    AdminSessionEnded,
}

impl Ended {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stopped => "stopped",
            Self::Expired => "expired",
            Self::SignedOut => "signed_out",
            Self::EndedByUser => "ended_by_user",
            Self::EndedByAdmin => "ended_by_admin",
            Self::AccountChanged => "account_changed",
            Self::AdminSessionEnded => "admin_session_ended",
        }
    }
}

/// How, by whom, in what context and when an impersonation is being ended.
#[derive(Debug, Clone, Copy)]
pub struct EndedBy<'a> {
    pub how: Ended,
    pub by: Option<UserId>,
    pub context: &'a audit::Context,
    pub now: UnixTime,
}

/// A live impersonation, as the request resolver hands it to handlers with the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Impersonating {
    pub id: i64,
    pub admin_id: UserId,
    pub admin_username: String,
    pub reason: String,
    pub started_at: UnixTime,
    /// The hard cap.
    pub expires_at: UnixTime,
    /// The registry key of the admin's parked session.
    pub admin_session_key: String,
}

/// An impersonation as the admin list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub id: i64,
    pub admin_id: UserId,
    pub admin_username: String,
    pub user_id: UserId,
    pub username: String,
    pub reason: String,
    pub started_at: UnixTime,
    pub expires_at: UnixTime,
    pub ended_at: Option<UnixTime>,
    pub ended_how: Option<String>,
    pub ended_by: Option<UserId>,
    pub live: bool,
}

/// Why a start was refused.
#[derive(Debug, thiserror::Error)]
pub enum ImpersonationError {
    #[error("the reason must be {REASON_MIN_CHARS} to {REASON_MAX_CHARS} characters")]
    ReasonLength,
    #[error("no such account")]
    NotFound,
    #[error("admins cannot impersonate themselves")]
    Yourself,
    #[error("admins cannot be impersonated")]
    TargetIsAdmin,
    #[error("the account is disabled")]
    TargetDisabled,
    #[error("the account is locked")]
    TargetLocked,
    #[error("the account's address is not confirmed")]
    TargetUnconfirmed,
    #[error("the account must choose a new password first")]
    TargetMustChangePassword,
    #[error("the account's owner has not granted support access")]
    NoConsent,
    #[error("this admin already has a live impersonation")]
    AlreadyImpersonating,
    #[error("too many impersonations this hour")]
    RateLimited { retry_after_secs: u64 },
    /// The admin's session ended, or their step-up or rights lapsed, while the request was in flight.
    #[error("the acting admin may no longer act")]
    ActorGone,
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
    /// Moving the browser's session to its new id failed.
    #[error(transparent)]
    Session(#[from] crate::sessions::SessionError),
}

impl From<sqlx::Error> for ImpersonationError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(e.into())
    }
}

/// A started impersonation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub id: i64,
    pub expires_at: UnixTime,
    /// The admin's own session id before the start: the browser keeps it (the parked
    /// cookie) to get the session back.
    pub parked_id: Id,
}

/// The admin starting an impersonation: who, on which session (and its metadata, to put
/// back if the start is refused), with how old a step-up, from where.
#[derive(Debug, Clone, Copy)]
pub struct Starter<'a> {
    pub admin: &'a crate::sessions::Principal,
    pub stepped_up_since: UnixTime,
    pub context: &'a audit::Context,
    pub origin: &'a Origin,
}

/// Starting, listing and ending impersonations. Cheap to clone.
#[derive(Clone)]
pub struct Impersonations {
    pool: Pool,
    clock: SharedClock,
    policy: Policy,
    registry: SessionRegistry,
    outbox: Outbox,
    templates: Templates,
}

impl Impersonations {
    pub fn new(
        pool: Pool,
        clock: SharedClock,
        policy: Policy,
        registry: SessionRegistry,
        outbox: Outbox,
        templates: Templates,
    ) -> Self {
        Self { pool, clock, policy, registry, outbox, templates }
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The current time on the service's clock.
    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// Starts impersonating `target` on `session` (the admin's, which is parked): see the
    /// module documentation. On success the session has a new id and is the user's; on
    /// refusal it is still the admin's (under a new id).
    pub async fn start(
        &self,
        session: &Session,
        starter: Starter<'_>,
        target: UserId,
        reason: &str,
    ) -> Result<Started, ImpersonationError> {
        let reason = reason.trim();
        let length = reason.chars().count();
        if !(REASON_MIN_CHARS..=REASON_MAX_CHARS).contains(&length) {
            return Err(ImpersonationError::ReasonLength);
        }
        let admin = starter.admin;
        if target == admin.user.id {
            return Err(ImpersonationError::Yourself);
        }
        if admin.impersonation.is_some() {
            return Err(ImpersonationError::AlreadyImpersonating);
        }
        let Some(parked_id) = session.id() else { return Err(ImpersonationError::ActorGone) };
        let Some(subject) =
            crate::accounts::store::find_user(&mut self.pool.acquire().await?, target).await?
        else {
            return Err(ImpersonationError::NotFound);
        };
        let now = self.clock.now();
        let cap = self.policy.cap_secs.min(MAX_CAP_SECS);
        let meta = SessionMeta::new(subject.id, subject.session_epoch, now);
        let new_key = crate::sessions::rotate(session, &meta, now + cap).await?;
        let handle = crate::token::random_handle();
        let new = store::NewImpersonation {
            admin: admin.user.id,
            admin_session_key: &admin.session_key,
            stepped_up_since: starter.stepped_up_since,
            target,
            reason,
            now,
            cap_secs: cap,
            per_hour: self.policy.per_hour,
            consent_required: self.policy.consent_required,
            session_key: &new_key,
            handle: &handle,
            idle_secs: self.registry.lifetimes_for(crate::Role::Admin).idle_secs,
            origin: starter.origin,
        };
        match self.insert(&new, &subject, starter.context).await {
            Ok((id, expires_at)) => {
                self.outbox.wake();
                tracing::info!(
                    event = "authz_impersonation_start",
                    impersonation = id,
                    actor = admin.user.id,
                    subject = target,
                    "impersonation started"
                );
                Ok(Started { id, expires_at, parked_id })
            }
            Err(error) => {
                // Refused: the session stays the admin's, under the id it now has.
                let moved = self.registry.rekey(&admin.session_key, &new_key, None, true).await?;
                if moved {
                    session
                        .insert(crate::sessions::META_KEY, admin.session)
                        .await
                        .map_err(crate::sessions::SessionError::from)?;
                    // And its cookie lives as long as the admin's session, not the cap.
                    let lifetimes = self.registry.lifetimes_for(admin.user.role);
                    crate::sessions::expire_cookie_at(session, admin.session.absolute_expires_at(lifetimes));
                } else {
                    crate::sessions::end(session, &self.registry).await?;
                }
                Err(error)
            }
        }
    }

    async fn insert(
        &self,
        new: &store::NewImpersonation<'_>,
        subject: &crate::accounts::User,
        context: &audit::Context,
    ) -> Result<(i64, UnixTime), ImpersonationError> {
        let mut tx = crate::db::write(&self.pool).await?;
        store::end_stale(&mut tx, new.admin, new.now).await?;
        let inserted = match store::insert(&mut tx, new).await {
            Ok(inserted) => inserted,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(ImpersonationError::AlreadyImpersonating)
            }
            Err(e) => return Err(e.into()),
        };
        let Some((id, expires_at)) = inserted else {
            let why = store::refusal(&mut tx, new.admin, new.target, new.now).await?;
            return Err(self.why(&why, new.now));
        };
        let admin_username: String = crate::on_db!(tx.conn(), c => sqlx::query_scalar("SELECT display_name FROM users WHERE id = $1")
            .bind(new.admin)
            .fetch_one(c)
            .await)?;
        let details =
            serde_json::json!({ "reason": new.reason, "expires_at": expires_at, "admin": admin_username });
        let entry = audit::Entry::new(Event::ImpersonationStart, Some(new.admin), Some(new.target), context)
            .during(id)
            .details(details);
        audit::record(&mut tx, new.now, &entry).await?;
        if let Ok(email) = Email::parse(&subject.email) {
            let notice = ImpersonationNotice {
                admin: &admin_username,
                reason: new.reason,
                started_at: new.now,
                expires_at,
            };
            let mail = self.templates.impersonation_started(&email, &subject.username, &notice);
            self.outbox.enqueue_in(&mut tx, &mail).await?;
        }
        tx.commit().await?;
        Ok((id, expires_at))
    }

    /// The refusal that explains a start that inserted nothing.
    fn why(&self, state: &store::Refusal, now: UnixTime) -> ImpersonationError {
        use ImpersonationError as E;
        if !state.target_exists {
            E::NotFound
        } else if state.target_role_admin {
            E::TargetIsAdmin
        } else if !state.target_confirmed {
            E::TargetUnconfirmed
        } else if state.target_locked {
            E::TargetLocked
        } else if state.target_disabled_at.is_some()
            && state.target_disabled_until.is_none_or(|until| now < until)
        {
            E::TargetDisabled
        } else if state.target_must_change {
            E::TargetMustChangePassword
        } else if self.policy.consent_required && state.support_access_until.is_none_or(|until| until <= now)
        {
            E::NoConsent
        } else if state.live {
            E::AlreadyImpersonating
        } else if state.starts_in_hour >= i64::from(self.policy.per_hour) {
            let oldest = state.oldest_start_in_hour.unwrap_or(now);
            E::RateLimited { retry_after_secs: u64::try_from(oldest + 3600 - now).unwrap_or(1).max(1) }
        } else {
            E::ActorGone
        }
    }

    /// Ends the live impersonation `id`, as `how` says, by `by` (another admin from the
    /// list, or the admin's Stop when their own session cannot come back: see
    /// `sessions::resume` for the usual Stop). `false` when it was not live. With
    /// `caller`, only while that caller may still act, checked on the ending transaction
    /// ([`ImpersonationError::ActorGone`] otherwise; see `sessions::guard`).
    pub async fn end(
        &self,
        id: i64,
        how: Ended,
        by: Option<UserId>,
        caller: Option<Caller<'_>>,
        context: &audit::Context,
    ) -> Result<bool, ImpersonationError> {
        let mut tx = crate::db::write(&self.pool).await?;
        if let Some(caller) = caller {
            if !still_may_act(&mut tx, caller).await? {
                return Err(ImpersonationError::ActorGone);
            }
        }
        let ending = EndedBy { how, by, context, now: self.clock.now() };
        let ended = store::finish(&mut tx, id, &ending).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Impersonations, newest first: only live ones with `live_only`; only of `subject`.
    pub async fn list(
        &self,
        live_only: bool,
        subject: Option<UserId>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Summary>, ImpersonationError> {
        Ok(store::list(&self.pool, live_only, subject, before, limit, self.clock.now()).await?)
    }

    /// Consent mode: the owner lets support staff in for `hours` (1 to 168).
    /// Only while the owner's session (`session_key`) may still act
    /// ([`ImpersonationError::ActorGone`] otherwise).
    pub async fn grant_support_access(
        &self,
        user: UserId,
        session_key: &str,
        hours: i64,
        context: &audit::Context,
    ) -> Result<UnixTime, ImpersonationError> {
        let now = self.clock.now();
        let until = now + hours.clamp(1, 168) * 3600;
        let ending = EndedBy { how: Ended::EndedByUser, by: Some(user), context, now };
        let caller = Caller::Owner { user_id: user, session_key };
        if !store::set_support_access(&self.pool, caller, Some(until), &ending).await? {
            return Err(ImpersonationError::ActorGone);
        }
        Ok(until)
    }

    /// Consent mode: the owner withdraws support access; a live impersonation ends.
    /// Only while the owner's session may still act, as for granting.
    pub async fn revoke_support_access(
        &self,
        user: UserId,
        session_key: &str,
        context: &audit::Context,
    ) -> Result<(), ImpersonationError> {
        let ending = EndedBy { how: Ended::EndedByUser, by: Some(user), context, now: self.clock.now() };
        let caller = Caller::Owner { user_id: user, session_key };
        if !store::set_support_access(&self.pool, caller, None, &ending).await? {
            return Err(ImpersonationError::ActorGone);
        }
        Ok(())
    }

    /// Until when `user` lets support staff in, if it is still in the future.
    pub async fn support_access_until(&self, user: UserId) -> Result<Option<UnixTime>, ImpersonationError> {
        let now = self.clock.now();
        Ok(store::support_access_until(&self.pool, user).await?.filter(|until| *until > now))
    }
}
