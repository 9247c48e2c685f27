//! Invitations: an admin (or the command line) invites an address with a role; the mailed
//! link lets the address's owner choose a username and a password, once. On a site where
//! sign-up is by invitation (`BULWARK_SIGNUP=invite`) this is the only way in besides the
//! command line.
//!
//! - **Sending.** The link works for [`INVITATION_VALID_SECS`] and once. Only its hash is
//!   stored. An invitation to an address that already has an account is stored and listed
//!   like any other (the inviter is told the same), but its mail has no link: it tells the
//!   owner that the account is unchanged. One admin mails at most
//!   `throttle::INVITATIONS_PER_ADMIN_PER_DAY` invitations a day and one address receives
//!   at most `throttle::INVITATIONS_PER_ADDRESS_PER_DAY` (resends count); a resend renews
//!   the link (the old one dies) at most every [`RESEND_AFTER_SECS`].
//! - **A link lives only while its inviter and approver vouch for it**: both must be admins
//!   who can act, at the session epoch they had when they sent or approved it. An admin
//!   who is demoted, disabled, locked, made to choose a new password or deleted, or who
//!   ends all their sessions with a new password, leaves no working invitation behind,
//!   even once reinstated (`store::vouched`). Another admin's resend vouches anew (for the
//!   user role). The command line's invitations depend on nobody.
//! - **The admin role** follows the two-person rule: when another admin can act, an
//!   invitation to the admin role is mailed only once a second admin approves it within
//!   `admin::APPROVAL_WINDOW_SECS` (every admin is mailed about it); when nobody else can,
//!   it is mailed at once and every admin is told (so is an operator's from the command
//!   line). Such an approval is for one link: an invitation to the admin role is not sent
//!   again (revoke it and invite again, under the rule), and no more than
//!   `admin::MAX_WAITING_PER_ADMIN` of one admin's wait at once. The new admin's account
//!   can do nothing but set up a second factor until it has one (the server's caller
//!   check).
//! - **Accepting** checks the username and password like a signup and creates a confirmed
//!   account with the invitation's role, in one transaction that first claims the link: of
//!   any number of concurrent acceptances exactly one makes an account. A mailed link never
//!   signs in: the new account signs in with its password.
//! - **Revoking** (any admin) kills the link at once; so do expiry and acceptance.
//!
//! Ended invitations are forgotten [`KEPT_AFTER_END_SECS`] after they end; an erasure
//! forgets every invitation naming the address (`deletion::store`, with the rest of what
//! an erasure deletes).

mod accept;
pub mod store;

use crate::{
    accounts::{AccountError, Accounts, UnexpectedError, UserId},
    admin::{Actor, APPROVAL_WINDOW_SECS, MAX_WAITING_PER_ADMIN},
    audit::{self, Event},
    clock::{SharedClock, UnixTime},
    db::{Pool, Tx},
    mail::{ApprovalNotice, Outbox, Templates},
    throttle::{Throttle, Throttled},
    token, Email, Field, FieldErrors, Role,
};

pub use store::Row;

/// How long an invitation's link works: three days, enough for a weekend.
pub const INVITATION_VALID_SECS: i64 = 3 * 24 * 60 * 60;
/// How soon an invitation may be mailed again.
pub const RESEND_AFTER_SECS: i64 = 10 * 60;
/// How long an accepted, revoked or expired invitation stays listed before it is forgotten.
pub const KEPT_AFTER_END_SECS: i64 = 30 * 24 * 60 * 60;
/// How many invitations the dashboard lists.
pub const LISTED: i64 = 200;

/// Who invites.
#[derive(Debug, Clone, Copy)]
pub enum Inviter<'a> {
    /// An admin in the dashboard (their session and step-up are checked where it commits).
    Admin(Actor<'a>),
    /// An operator (`server invite`): told plainly about a taken address, and trusted with
    /// the admin role (the command line is the way back from a rogue admin anyway).
    CommandLine,
}

#[derive(Debug, thiserror::Error)]
pub enum InvitationError {
    /// A field broke a rule; messages per field.
    #[error("invalid input")]
    Invalid(FieldErrors),
    /// The acting admin was demoted, disabled or signed out while the request was in flight,
    /// or their step-up went stale.
    #[error("the acting admin may no longer act")]
    ActorGone,
    /// Too many of this admin's invitations to the admin role wait for approval.
    #[error("too many of this admin's invitations wait")]
    TooManyWaiting,
    /// An invitation to the admin role is approved for one link: invite again instead.
    #[error("an invitation to the admin role is not sent again")]
    AdminResend,
    /// Mailed less than [`RESEND_AFTER_SECS`] ago.
    #[error("mailed a moment ago")]
    TooSoon,
    /// No such invitation, or not in a state for this (accepted, revoked, not waiting).
    #[error("no such invitation")]
    NotFound,
    /// The admin who invited cannot approve their own invitation.
    #[error("a second admin must approve this invitation")]
    OwnRequest,
    /// The invitation no longer waits for approval (approved, revoked, lapsed), or the
    /// admin who sent it can no longer act.
    #[error("that invitation is no longer waiting")]
    NotWaiting,
    /// Unknown, used, revoked or expired link: one answer.
    #[error("invalid, used or expired link")]
    InvalidLink,
    /// The address has an account (made since it was invited): told to whoever holds the
    /// link mailed to it, or to the operator.
    #[error("an account with this email address already exists")]
    EmailTaken,
    #[error("throttled")]
    Throttled(Throttled),
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl From<sqlx::Error> for InvitationError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(e.into())
    }
}

impl From<AccountError> for InvitationError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid(errors) => Self::Invalid(errors),
            AccountError::InvalidCredentials => Self::InvalidLink,
            AccountError::Unexpected(cause) => Self::Unexpected(cause),
        }
    }
}

/// What sending came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Mailed. `link` is the link's token, given only to the command line (for a site
    /// whose mail is not set up yet); `None` for admins, and when the address has an
    /// account.
    Mailed { id: i64, link: Option<String> },
    /// An invitation to the admin role, waiting for a second admin until `expires_at`.
    Waiting { id: i64, expires_at: UnixTime },
}

/// A live link, as its page shows it to the person who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub email: String,
    pub role: Role,
    pub expires_at: UnixTime,
}

/// Where an invitation stands, as the dashboard shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// An invitation to the admin role waiting for a second admin.
    Waiting,
    /// Mailed; the link works until its end.
    Sent,
    Accepted,
    Revoked,
    /// The link (or the wait for approval) ran out.
    Expired,
    /// Its inviter (or approver) lost their access or ended all their sessions since: the
    /// link no longer works (send it again).
    Void,
}

impl Status {
    pub fn of(row: &Row, now: UnixTime) -> Self {
        if row.accepted_at.is_some() {
            Self::Accepted
        } else if row.revoked_at.is_some() {
            Self::Revoked
        } else if !row.vouched {
            Self::Void
        } else if row.expires_at <= now {
            Self::Expired
        } else if row.has_link {
            Self::Sent
        } else {
            Self::Waiting
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Sent => "sent",
            Self::Accepted => "accepted",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::Void => "void",
        }
    }
}

#[derive(Clone)]
pub struct Invitations {
    pool: Pool,
    clock: SharedClock,
    accounts: Accounts,
    throttle: Throttle,
    outbox: Outbox,
    templates: Templates,
}

/// The parts [`Invitations`] is made of.
pub struct Parts {
    pub pool: Pool,
    pub clock: SharedClock,
    pub accounts: Accounts,
    pub throttle: Throttle,
    pub outbox: Outbox,
    pub templates: Templates,
}

impl Invitations {
    pub fn new(parts: Parts) -> Self {
        let Parts { pool, clock, accounts, throttle, outbox, templates } = parts;
        Self { pool, clock, accounts, throttle, outbox, templates }
    }

    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// Invites `email` to an account with `role`.
    pub async fn invite(
        &self,
        inviter: Inviter<'_>,
        email: &str,
        role: Role,
    ) -> Result<Sent, InvitationError> {
        let email = Email::parse(email)
            .map_err(|e| InvitationError::Invalid(FieldErrors::single(Field::Email, e.to_string())))?;
        let owner = crate::accounts::store::find_user_by_email(&self.pool, &email).await?;
        if owner.is_some() && matches!(inviter, Inviter::CommandLine) {
            return Err(InvitationError::EmailTaken);
        }
        let admin_id = match inviter {
            Inviter::Admin(actor) => Some(actor.id),
            Inviter::CommandLine => None,
        };
        self.throttle.invitation_mail(admin_id, &email).await?.map_err(InvitationError::Throttled)?;
        let mut tx = crate::db::write(&self.pool).await?;
        let now = self.clock.now();
        let (admin, context) = match inviter {
            Inviter::Admin(actor) => {
                self.check_actor(&mut tx, actor, now).await?;
                (Some(actor.id), actor.context.clone())
            }
            Inviter::CommandLine => (None, audit::Context::command_line()),
        };
        let by = match admin {
            Some(id) => Some(self.display_name(&mut tx, id).await?),
            None => None,
        };
        let second_admin = match admin {
            Some(id) if role == Role::Admin => second_admin_exists(&mut tx, id, now).await?,
            _ => false,
        };
        if second_admin {
            if store::waiting_of(&mut tx, admin.unwrap_or_default(), now).await? >= MAX_WAITING_PER_ADMIN {
                return Err(InvitationError::TooManyWaiting);
            }
            let expires_at = now + APPROVAL_WINDOW_SECS;
            let new = store::New {
                email: email.as_str(),
                role: role.as_str(),
                token_hash: None,
                invited_by: admin,
                created_at: now,
                expires_at,
            };
            let id = store::insert(&mut tx, &new).await?;
            let details = serde_json::json!({ "invitation": id, "action": "invite as admin", "expires_at": expires_at });
            let entry = audit::Entry::new(Event::ApprovalRequested, admin, None, &context).details(details);
            audit::record(&mut tx, now, &entry).await?;
            let notice = ApprovalNotice::InvitationRequested {
                by: by.unwrap_or_default(),
                email: email.as_str().to_owned(),
                expires_at,
            };
            self.tell_admins(&mut tx, &notice).await?;
            tx.commit().await?;
            self.outbox.wake();
            tracing::info!(event = "authz_admin_approval_requested", actor = admin, invitation = id);
            return Ok(Sent::Waiting { id, expires_at });
        }
        let link = token::generate();
        let new = store::New {
            email: email.as_str(),
            role: role.as_str(),
            token_hash: Some(&link.hash),
            invited_by: admin,
            created_at: now,
            expires_at: now + INVITATION_VALID_SECS,
        };
        let id = store::insert(&mut tx, &new).await?;
        match (&by, role) {
            (Some(by), Role::Admin) => {
                let details = serde_json::json!({ "invitation": id, "action": "invite as admin", "why": "no other admin can act" });
                let entry = audit::Entry::new(Event::ApprovalWaived, admin, None, &context).details(details);
                audit::record(&mut tx, now, &entry).await?;
                let notice =
                    ApprovalNotice::InvitationAlone { by: by.clone(), email: email.as_str().to_owned() };
                self.tell_admins(&mut tx, &notice).await?;
            }
            (None, Role::Admin) => {
                let notice = ApprovalNotice::InvitationByOperator { email: email.as_str().to_owned() };
                self.tell_admins(&mut tx, &notice).await?;
            }
            _ => {}
        }
        let details = serde_json::json!({ "invitation": id, "role": role.as_str(), "resend": false });
        audit::record(
            &mut tx,
            now,
            &audit::Entry::new(Event::InvitationSent, admin, None, &context).details(details),
        )
        .await?;
        let mail = match &owner {
            Some(user) => self.templates.invitation_existing(&email, &user.username),
            None => self.templates.invitation(&email, &link.token, role, INVITATION_VALID_SECS / 86_400),
        };
        self.outbox.enqueue_in(&mut tx, &mail).await?;
        tx.commit().await?;
        self.outbox.wake();
        tracing::info!(event = "user_invitation_sent", actor = admin, invitation = id, role = role.as_str());
        let link = (owner.is_none() && admin.is_none()).then_some(link.token);
        Ok(Sent::Mailed { id, link })
    }

    /// A second admin approves invitation `id` to the admin role: it is mailed.
    pub async fn approve(&self, actor: Actor<'_>, id: i64) -> Result<(), InvitationError> {
        let mut tx = crate::db::write(&self.pool).await?;
        let now = self.clock.now();
        self.check_actor(&mut tx, actor, now).await?;
        let row = store::find(&mut tx, id).await?.ok_or(InvitationError::NotFound)?;
        if row.invited_by == Some(actor.id) {
            return Err(InvitationError::OwnRequest);
        }
        let link = token::generate();
        let expires_at = now + INVITATION_VALID_SECS;
        let Some((address, role)) =
            store::approve(&mut tx, id, actor.id, &link.hash, now, expires_at).await?
        else {
            return Err(InvitationError::NotWaiting);
        };
        let email = Email::parse(&address).map_err(|_| InvitationError::NotFound)?;
        let role = Role::parse_lenient(&role);
        let details =
            serde_json::json!({ "invitation": id, "action": "invite as admin", "proposer": row.invited_by });
        let entry =
            audit::Entry::new(Event::ApprovalGranted, Some(actor.id), None, actor.context).details(details);
        audit::record(&mut tx, now, &entry).await?;
        let details = serde_json::json!({ "invitation": id, "role": role.as_str(), "resend": false });
        let entry =
            audit::Entry::new(Event::InvitationSent, Some(actor.id), None, actor.context).details(details);
        audit::record(&mut tx, now, &entry).await?;
        self.mail_link(&mut tx, &email, &link.token, role).await?;
        let notice = ApprovalNotice::InvitationApproved {
            by: row.inviter.clone().unwrap_or_default(),
            approved_by: self.display_name(&mut tx, actor.id).await?,
            email: address,
        };
        self.tell_admins(&mut tx, &notice).await?;
        tx.commit().await?;
        self.outbox.wake();
        tracing::info!(event = "authz_admin_approval_granted", actor = actor.id, invitation = id);
        Ok(())
    }

    /// Mails invitation `id` (to the user role) again with a new link (the old one dies).
    pub async fn resend(&self, actor: Actor<'_>, id: i64) -> Result<(), InvitationError> {
        let address = {
            let mut connection = self.pool.acquire().await?;
            store::find(&mut connection, id).await?.ok_or(InvitationError::NotFound)?.email
        };
        if let Ok(email) = Email::parse(&address) {
            self.throttle
                .invitation_mail(Some(actor.id), &email)
                .await?
                .map_err(InvitationError::Throttled)?;
        }
        let mut tx = crate::db::write(&self.pool).await?;
        let now = self.clock.now();
        self.check_actor(&mut tx, actor, now).await?;
        let row = store::find(&mut tx, id).await?.ok_or(InvitationError::NotFound)?;
        if row.accepted_at.is_some() || row.revoked_at.is_some() || !row.has_link {
            return Err(InvitationError::NotFound);
        }
        if row.role != Role::User.as_str() {
            return Err(InvitationError::AdminResend);
        }
        let link = token::generate();
        let renewed = store::renew(
            &mut tx,
            id,
            (&link.hash, actor.id),
            now,
            now + INVITATION_VALID_SECS,
            now - RESEND_AFTER_SECS,
        )
        .await?;
        let Some((address, role)) = renewed else { return Err(InvitationError::TooSoon) };
        let email = Email::parse(&address).map_err(|_| InvitationError::NotFound)?;
        let role = Role::parse_lenient(&role);
        let details = serde_json::json!({ "invitation": id, "role": role.as_str(), "resend": true });
        let entry =
            audit::Entry::new(Event::InvitationSent, Some(actor.id), None, actor.context).details(details);
        audit::record(&mut tx, now, &entry).await?;
        self.mail_link(&mut tx, &email, &link.token, role).await?;
        tx.commit().await?;
        self.outbox.wake();
        tracing::info!(event = "user_invitation_sent", actor = actor.id, invitation = id, resend = true);
        Ok(())
    }

    /// Revokes invitation `id` (any admin): its link dies at once.
    pub async fn revoke(&self, actor: Actor<'_>, id: i64) -> Result<(), InvitationError> {
        let mut tx = crate::db::write(&self.pool).await?;
        let now = self.clock.now();
        self.check_actor(&mut tx, actor, now).await?;
        if !store::revoke(&mut tx, id, Some(actor.id), now).await? {
            return Err(InvitationError::NotFound);
        }
        let entry = audit::Entry::new(Event::InvitationRevoked, Some(actor.id), None, actor.context)
            .details(serde_json::json!({ "invitation": id }));
        audit::record(&mut tx, now, &entry).await?;
        tx.commit().await?;
        tracing::info!(event = "user_invitation_revoked", actor = actor.id, invitation = id);
        Ok(())
    }

    /// The newest invitations, for the dashboard.
    pub async fn list(&self) -> Result<Vec<Row>, InvitationError> {
        Ok(store::list(&mut self.pool.acquire().await?, LISTED).await?)
    }

    /// Forgets invitations that ended more than [`KEPT_AFTER_END_SECS`] ago; how many.
    pub async fn prune(&self) -> Result<u64, InvitationError> {
        Ok(store::prune(&self.pool, self.clock.now() - KEPT_AFTER_END_SECS).await?)
    }

    async fn check_actor(&self, tx: &mut Tx, actor: Actor<'_>, now: UnixTime) -> Result<(), InvitationError> {
        let key = (actor.id, actor.session_key, actor.stepped_up_since, now);
        if crate::sessions::guard::still_may_act(tx, crate::sessions::guard::Caller::Admin(key)).await? {
            Ok(())
        } else {
            Err(InvitationError::ActorGone)
        }
    }

    async fn mail_link(
        &self,
        tx: &mut Tx,
        email: &Email,
        token: &str,
        role: Role,
    ) -> Result<(), InvitationError> {
        // An address that got an account since it was invited gets the notice, not a link.
        let mail = match crate::accounts::store::find_user_by_email_in(tx, email).await? {
            Some(user) => self.templates.invitation_existing(email, &user.username),
            None => self.templates.invitation(email, token, role, INVITATION_VALID_SECS / 86_400),
        };
        self.outbox.enqueue_in(tx, &mail).await?;
        Ok(())
    }

    async fn display_name(&self, tx: &mut Tx, id: UserId) -> Result<String, InvitationError> {
        Ok(crate::accounts::store::find_user(tx, id).await?.map(|u| u.username).unwrap_or_default())
    }

    async fn tell_admins(&self, tx: &mut Tx, notice: &ApprovalNotice) -> Result<(), InvitationError> {
        Ok(crate::admin::tell_admins(tx, &self.outbox, &self.templates, notice).await?)
    }
}

/// Whether an admin other than `actor` can act now (and so could approve).
async fn second_admin_exists(tx: &mut Tx, actor: UserId, now: UnixTime) -> sqlx::Result<bool> {
    use crate::db::AsConn;
    let sql = format!("SELECT {}", crate::sessions::guard::another_active_admin(1, 2));
    crate::on_db!(tx.conn(), c => sqlx::query_scalar(&sql).bind(actor).bind(now).fetch_one(c).await)
}

#[cfg(test)]
mod tests;
