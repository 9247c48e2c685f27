//! Changing an account's email address, safely.
//!
//! - **Asking** needs a recent step-up (checked by the caller) and is throttled per
//!   account. It records a pending change and mails two addresses: the new one gets a
//!   confirmation link (24 h, single use), the old one a notice naming the new address,
//!   with a link that cancels. Until the link is used, nothing about the account changes.
//! - **No enumeration.** When the new address already belongs to another account, the
//!   asker is answered exactly the same way (the same pending change, the same notice to
//!   the old address); only the mail to the new address differs, and it goes to that
//!   address's owner.
//! - **Asking** stores nothing if the caller's session ended (or the address changed)
//!   meanwhile, and a waiting change dies with anything that moves the account's epoch on
//!   (a new password, a recovery, an admin's disable or forced reset). Signing sessions
//!   out does not end it: whoever asked knew the password, which the confirmation needs.
//! - **Confirming** (the new address's link) needs the password of the account being
//!   moved, so nobody can put a stranger's address on their own account by getting the
//!   stranger to click. It changes the address only if the account
//!   still has the old one and is neither disabled nor locked, kills every link mailed
//!   before (a reset link sent to the old address must not outlive the change), and mails
//!   the old address a recovery link valid for 7 days.
//! - **Recovering** (that link) puts the old address back, ends every session and device,
//!   makes the password unusable until it is reset, mails the old address a reset link
//!   and tells the address the account had. A recovery through one change undoes every later change and kills their links,
//!   never an earlier one's: someone who took the account and then moved it again cannot
//!   use the second change's recovery link to undo the owner's recovery.
//!
//! Every step is one write transaction with its audit event and its mail.

mod store;

use std::net::IpAddr;

use crate::{
    accounts::{self, Accounts, ReauthError, UnexpectedError, User, UserId, RESET_PASSWORD_VALID_SECS},
    audit::{self, Event},
    clock::SharedClock,
    db::Pool,
    hashing::HashError,
    mail::{Outbox, Templates},
    messages::SAME_EMAIL,
    recovery::Recovery,
    sessions::Principal,
    throttle::{Budget, Throttle, Throttled},
    token, Email, Field, FieldErrors, Password,
};
pub use store::Link;

/// How long a confirmation (and the cancel link) works.
pub const CONFIRM_VALID_SECS: i64 = 24 * 60 * 60;
/// How long after a change its recovery link works.
pub const RECOVER_VALID_SECS: i64 = 7 * 24 * 60 * 60;

/// How long a change is kept after its last link died.
pub const DEAD_KEPT_SECS: i64 = 24 * 60 * 60;

#[derive(Debug, thiserror::Error)]
pub enum EmailChangeError {
    /// The new address broke a rule (or is the account's own).
    #[error("invalid input")]
    Invalid(FieldErrors),
    #[error("throttled for {} s", .0.retry_after_secs)]
    Throttled(Throttled),
    /// Unknown, used, expired or superseded link: one answer.
    #[error("invalid, used or expired link")]
    InvalidLink,
    /// The password typed on the confirmation page is not the account's.
    #[error("wrong password")]
    WrongPassword,
    /// A cancel link for a change that has already happened (the recovery link undoes it).
    #[error("the change already happened")]
    AlreadyChanged,
    /// The address the link would give the account belongs to another account now. Told
    /// only to whoever holds a link mailed to that address.
    #[error("the address belongs to another account")]
    AddressTaken,
    /// The caller's session ended (or the account's password changed) while the request
    /// was in flight; nothing was stored or mailed.
    #[error("the session ended during the request")]
    SessionEnded,
    /// The password hasher's queue is full; nothing changed.
    #[error("the server is busy")]
    Busy,
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl From<sqlx::Error> for EmailChangeError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(e.into())
    }
}

impl From<HashError> for EmailChangeError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => Self::Busy,
            other => Self::Unexpected(other.into()),
        }
    }
}

/// A change waiting for its confirmation, as the owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub new_email: String,
    pub expires_at: i64,
}

/// What a used link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub user_id: UserId,
    /// The account's address now.
    pub email: String,
}

/// The services an email change works with.
#[derive(Clone)]
pub struct Parts {
    pub pool: Pool,
    pub clock: SharedClock,
    pub accounts: Accounts,
    pub throttle: Throttle,
    pub outbox: Outbox,
    pub templates: Templates,
    /// For what follows a recovery (every session and device ended).
    pub recovery: Recovery,
}

/// The email-change service. Cheap to clone.
#[derive(Clone)]
pub struct EmailChanges(Parts);

impl std::ops::Deref for EmailChanges {
    type Target = Parts;
    fn deref(&self) -> &Parts {
        &self.0
    }
}

impl EmailChanges {
    pub fn new(parts: Parts) -> Self {
        Self(parts)
    }

    /// Deletes changes whose every link has been dead for a day (the clean-up pass): a row
    /// holds two addresses, and nothing reads it once its links are gone. How many.
    pub async fn delete_dead(&self) -> sqlx::Result<u64> {
        store::delete_dead(&self.pool, self.clock.now().saturating_sub(DEAD_KEPT_SECS)).await
    }

    /// The owner (who stepped up) asks to move their account to `new_email`. The same
    /// answer whether or not another account has that address.
    pub async fn request(
        &self,
        caller: &Principal,
        ip: std::net::IpAddr,
        new_email: &str,
        context: &audit::Context,
    ) -> Result<Pending, EmailChangeError> {
        let user = &caller.user;
        let new = Email::parse(new_email)
            .map_err(|e| EmailChangeError::Invalid(FieldErrors::single(Field::Email, e.to_string())))?;
        if new.as_str() == user.email {
            return Err(EmailChangeError::Invalid(FieldErrors::single(Field::Email, SAME_EMAIL)));
        }
        let old = stored_email(&user.email)?;
        // Per IP, per account and per new address (see `Throttle::email_change`): asking
        // cannot flood someone's mailbox, nor touch the new address's verification or
        // reset mail.
        self.throttle.email_change(user.id, ip, &new).await?.map_err(EmailChangeError::Throttled)?;

        let confirm = token::generate();
        let cancel = token::generate();
        let now = self.clock.now();
        let expires_at = now + CONFIRM_VALID_SECS;
        let hours = CONFIRM_VALID_SECS / 3600;
        let mut tx = crate::db::write(&self.pool).await?;
        let taken = store::taken_by_other(&mut tx, new.as_str(), user.id).await?;
        let change = store::NewChange {
            user_id: user.id,
            session_key: &caller.session_key,
            epoch: caller.session.epoch,
            old_email: &user.email,
            new_email: new.as_str(),
            confirm_hash: &confirm.hash,
            cancel_hash: &cancel.hash,
            now,
            expires_at,
        };
        if store::insert(&mut tx, &change).await?.is_none() {
            return Err(EmailChangeError::SessionEnded);
        }
        let entry = audit::Entry::new(Event::EmailChangeRequested, Some(user.id), Some(user.id), context);
        audit::record(&mut tx, now, &entry).await?;
        let notice = self.templates.email_change_requested(&old, &user.username, &new, &cancel.token, hours);
        self.outbox.enqueue_in(&mut tx, &notice).await?;
        let mail = if taken {
            self.templates.email_change_taken(&new, hours)
        } else {
            self.templates.email_change_confirm(&new, &confirm.token, hours)
        };
        self.outbox.enqueue_in(&mut tx, &mail).await?;
        tx.commit().await?;
        self.outbox.wake();
        tracing::info!(event = "user_email_change_requested", user_id = user.id);
        Ok(Pending { new_email: new.as_str().to_owned(), expires_at })
    }

    /// The account's change waiting for confirmation, if any.
    pub async fn pending(&self, user_id: UserId) -> Result<Option<Pending>, EmailChangeError> {
        let mut connection = self.pool.acquire().await?;
        let row = store::pending(&mut connection, user_id, self.clock.now()).await?;
        Ok(row.map(|row| Pending { new_email: row.new_email, expires_at: row.expires_at }))
    }

    /// The signed-in owner withdraws their waiting change; whether there was one. Only
    /// while the owner's session (`session_key`) may still act, checked on the withdrawing
    /// transaction ([`EmailChangeError::SessionEnded`] otherwise; see `sessions::guard`).
    pub async fn withdraw(
        &self,
        user: &User,
        session_key: &str,
        context: &audit::Context,
    ) -> Result<bool, EmailChangeError> {
        let now = self.clock.now();
        let mut tx = crate::db::write(&self.pool).await?;
        let caller = crate::sessions::guard::Caller::Owner { user_id: user.id, session_key };
        if !crate::sessions::guard::still_may_act(&mut tx, caller).await? {
            return Err(EmailChangeError::SessionEnded);
        }
        if store::cancel_pending(&mut tx, user.id).await? == 0 {
            return Ok(false);
        }
        let entry = audit::Entry::new(Event::EmailChangeCancelled, Some(user.id), Some(user.id), context);
        audit::record(&mut tx, now, &entry).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The address a cancel or recovery link was mailed to (the account's address before
    /// the change), for its page to name before the button is pressed and after: a
    /// genuine link for someone else's account, sent to a victim, then says whose it is.
    /// Only while the link's own window is open (a cancel link's 24 hours, a recovery
    /// link's 7 days), used or not, so the page can say whose change it cancelled or whose
    /// account is back; `None` for an unknown link, one past its window, or a confirmation
    /// link. Reads only.
    pub async fn link_address(&self, link: Link, token: &str) -> Result<Option<String>, EmailChangeError> {
        let Some(hash) = token::parse(token) else { return Ok(None) };
        let now = self.clock.now();
        let mut connection = self.pool.acquire().await?;
        let row = store::find_by_link(&mut connection, link, &hash).await?;
        Ok(row
            .filter(|row| match link {
                Link::Cancel => row.expires_at > now,
                Link::Recover => row.recover_until.is_some_and(|until| until > now),
                Link::Confirm => false,
            })
            .map(|row| row.old_email))
    }

    /// The change a link names, read without taking the write lock: an unknown or dead
    /// link costs one read, however many arrive at once.
    async fn look_up(&self, link: Link, hash: &str) -> Result<store::ChangeRow, EmailChangeError> {
        let mut connection = self.pool.acquire().await?;
        store::find_by_link(&mut connection, link, hash).await?.ok_or(EmailChangeError::InvalidLink)
    }

    /// The new address's link, with the password of the account it would move: the
    /// account's address becomes the new one. The password is what keeps an attacker from
    /// putting a stranger's address on the attacker's own account by getting the stranger
    /// to click a genuine link (the way a signup's confirmation asks for the signup's
    /// password); a wrong one counts like a failed sign-in of that account.
    pub async fn confirm(
        &self,
        ip: IpAddr,
        token: &str,
        password: &str,
        context: &audit::Context,
    ) -> Result<Done, EmailChangeError> {
        let hash = token::parse(token).ok_or(EmailChangeError::InvalidLink)?;
        let now = self.clock.now();
        let row = self.look_up(Link::Confirm, &hash).await?;
        if row.state != "pending" || row.expires_at <= now {
            return Err(EmailChangeError::InvalidLink);
        }
        let user = accounts::store::find_user(&mut self.pool.acquire().await?, row.user_id).await?;
        // A change the account's epoch has moved past is dead: no password is asked for it.
        let Some(user) = user.filter(|user| user.session_epoch == row.epoch) else {
            return Err(EmailChangeError::InvalidLink);
        };
        let password = Password::parse_existing(password).map_err(|_| EmailChangeError::WrongPassword)?;
        let checked = self
            .accounts
            .reauthenticate(
                &self.throttle,
                &user,
                (ip, Budget::ChangeLink(row.id)),
                &password,
                context,
                Event::EmailChanged,
            )
            .await;
        match checked {
            Ok(()) => {}
            Err(ReauthError::WrongPassword) => return Err(EmailChangeError::WrongPassword),
            Err(ReauthError::Exhausted) => {
                // The link and a password prove the account; this link has had its
                // guesses, and the change dies (as a pending signup does), with its event.
                let mut tx = crate::db::write(&self.pool).await?;
                if store::kill(&mut tx, row.id).await? {
                    let entry =
                        audit::Entry::new(Event::EmailChangeCancelled, None, Some(row.user_id), context)
                            .details(serde_json::json!({ "reason": "too many wrong passwords" }));
                    audit::record(&mut tx, self.clock.now(), &entry).await?;
                }
                tx.commit().await?;
                return Err(EmailChangeError::WrongPassword);
            }
            Err(ReauthError::Throttled(verdict)) => return Err(EmailChangeError::Throttled(verdict)),
            Err(ReauthError::Busy) => return Err(EmailChangeError::Busy),
            Err(ReauthError::Gone) => return Err(EmailChangeError::InvalidLink),
            Err(ReauthError::Unexpected(cause)) => return Err(EmailChangeError::Unexpected(cause)),
        }

        let recover = token::generate();
        let mut tx = crate::db::write(&self.pool).await?;
        let row = store::find_by_link(&mut tx, Link::Confirm, &hash).await?;
        let Some(row) = row.filter(|row| row.state == "pending" && row.expires_at > now) else {
            return Err(EmailChangeError::InvalidLink);
        };
        if store::taken_by_other(&mut tx, &row.new_email, row.user_id).await? {
            // The right password and a live link: the attempt is the account's, and its
            // activity shows why nothing changed.
            let entry = audit::Entry::new(Event::EmailChanged, Some(row.user_id), Some(row.user_id), context)
                .failed()
                .details(serde_json::json!({ "reason": "address taken" }));
            audit::record(&mut tx, now, &entry).await?;
            tx.commit().await?;
            return Err(EmailChangeError::AddressTaken);
        }
        if !store::set_address(&mut tx, &row, now).await?
            || !store::mark_changed(&mut tx, row.id, &recover.hash, now, now + RECOVER_VALID_SECS).await?
        {
            return Err(EmailChangeError::InvalidLink);
        }
        store::delete_links(&mut tx, row.user_id).await?;
        // A signup waiting for this address could no longer become an account.
        accounts::store::delete_pending_signups(&mut tx, &row.new_email).await?;
        let entry = audit::Entry::new(Event::EmailChanged, Some(row.user_id), Some(row.user_id), context);
        audit::record(&mut tx, now, &entry).await?;
        let (old, new) = (stored_email(&row.old_email)?, stored_email(&row.new_email)?);
        let days = RECOVER_VALID_SECS / 86_400;
        let notice = self.templates.email_changed(&old, &user.username, &new, &recover.token, days);
        self.outbox.enqueue_in(&mut tx, &notice).await?;
        tx.commit().await?;
        self.outbox.wake();
        tracing::info!(event = "user_email_changed", user_id = row.user_id);
        Ok(Done { user_id: row.user_id, email: row.new_email })
    }

    /// The old address's cancel link: every change of the account that waits is cancelled
    /// (a thief's newer request too: a superseded change's link still cancels, within its
    /// 24 hours and while the account is as it was). Again: still cancelled. For a change that already happened:
    /// [`EmailChangeError::AlreadyChanged`]. Throttled per client IP.
    pub async fn cancel(
        &self,
        ip: IpAddr,
        token: &str,
        context: &audit::Context,
    ) -> Result<(), EmailChangeError> {
        let hash = token::parse(token).ok_or(EmailChangeError::InvalidLink)?;
        self.look_up(Link::Cancel, &hash).await?;
        self.throttle.link_submission(ip).await?.map_err(EmailChangeError::Throttled)?;
        let now = self.clock.now();
        let mut tx = crate::db::write(&self.pool).await?;
        let row =
            store::find_by_link(&mut tx, Link::Cancel, &hash).await?.ok_or(EmailChangeError::InvalidLink)?;
        match row.state.as_str() {
            "changed" => return Err(EmailChangeError::AlreadyChanged),
            "pending" | "superseded" | "cancelled" => {}
            _ => return Err(EmailChangeError::InvalidLink),
        }
        // A cancel link works only while its request could still matter: not after its
        // 24 hours, nor once the account has moved on (a new epoch, another address). An old
        // link in a mailbox that someone else reads later cancels nothing.
        let user = accounts::store::find_user(&mut tx, row.user_id).await?;
        let current = user.is_some_and(|user| user.session_epoch == row.epoch && user.email == row.old_email);
        if !current || row.expires_at <= now {
            return Err(EmailChangeError::InvalidLink);
        }
        if store::cancel_pending(&mut tx, row.user_id).await? > 0 {
            let entry = audit::Entry::new(Event::EmailChangeCancelled, None, Some(row.user_id), context);
            audit::record(&mut tx, now, &entry).await?;
            tx.commit().await?;
            tracing::info!(event = "user_email_change_cancelled", user_id = row.user_id);
        }
        Ok(())
    }

    /// The old address's recovery link (see the module documentation). Throttled per
    /// client IP: each live link costs a password hash. The account's address at the time
    /// is told too: whoever reads the old mailbox can take the account back for 7 days,
    /// and the owner must hear of it if that was not them.
    pub async fn recover(
        &self,
        ip: IpAddr,
        token: &str,
        context: &audit::Context,
    ) -> Result<Done, EmailChangeError> {
        let hash = token::parse(token).ok_or(EmailChangeError::InvalidLink)?;
        let now = self.clock.now();
        if !recoverable(&self.look_up(Link::Recover, &hash).await?, now) {
            return Err(EmailChangeError::InvalidLink);
        }
        self.throttle.link_submission(ip).await?.map_err(EmailChangeError::Throttled)?;
        // The unusable password is hashed before the write transaction, which must not
        // wait on the hashing pool.
        let unusable = self.accounts.hasher().hash_unusable().await?;
        let reset = token::generate();
        let mut tx = crate::db::write(&self.pool).await?;
        let row = store::find_by_link(&mut tx, Link::Recover, &hash).await?;
        let Some(row) = row.filter(|row| recoverable(row, now)) else {
            return Err(EmailChangeError::InvalidLink);
        };
        if store::taken_by_other(&mut tx, &row.old_email, row.user_id).await? {
            return Err(EmailChangeError::AddressTaken);
        }
        let user =
            accounts::store::find_user(&mut tx, row.user_id).await?.ok_or(EmailChangeError::InvalidLink)?;
        if !store::mark_recovered(&mut tx, row.id, row.user_id).await?
            || !store::restore(&mut tx, row.user_id, &row.old_email, &unusable).await?
        {
            return Err(EmailChangeError::InvalidLink);
        }
        store::delete_links(&mut tx, row.user_id).await?;
        accounts::store::delete_pending_signups(&mut tx, &row.old_email).await?;
        // Whoever moved the account may also have asked for it to be deleted (the undo
        // link went to their mailbox): taking the account back takes that back too.
        if crate::deletion::store::cancel(&mut tx, row.user_id).await? {
            let details = serde_json::json!({ "via": "email change recovery" });
            let entry =
                audit::Entry::new(Event::DeletionUndone, None, Some(row.user_id), context).details(details);
            audit::record(&mut tx, now, &entry).await?;
        }
        let purpose = accounts::store::Purpose::ResetPassword;
        let expires_at = now + RESET_PASSWORD_VALID_SECS;
        let restored =
            accounts::store::find_user(&mut tx, row.user_id).await?.ok_or(EmailChangeError::InvalidLink)?;
        let seen = (row.old_email.as_str(), restored.session_epoch);
        if !accounts::store::insert_token(&mut tx, &reset.hash, row.user_id, seen, purpose, now, expires_at)
            .await?
        {
            return Err(EmailChangeError::InvalidLink);
        }
        let entry = audit::Entry::new(Event::EmailChangeRecovered, None, Some(row.user_id), context);
        audit::record(&mut tx, now, &entry).await?;
        let old = stored_email(&row.old_email)?;
        let minutes = RESET_PASSWORD_VALID_SECS / 60;
        let mail = self.templates.account_recovered(&old, &user.username, &reset.token, minutes);
        self.outbox.enqueue_in(&mut tx, &mail).await?;
        if user.email != row.old_email {
            let current = stored_email(&user.email)?;
            let notice = self.templates.account_recovered_elsewhere(&current, &user.username, &old);
            self.outbox.enqueue_in(&mut tx, &notice).await?;
        }
        tx.commit().await?;
        self.outbox.wake();
        // The epoch bump above already made every session and device cookie worthless;
        // their rows go too, in a task of its own (a client that hangs up cannot stop it
        // halfway, and the recovery, committed, is not reported as failed if this fails).
        let this = self.clone();
        let user_id = row.user_id;
        let cleared =
            tokio::spawn(async move { this.recovery.end_all_access(user_id, Some(&old)).await }).await;
        match cleared {
            Ok(Ok((ended, devices))) => tracing::info!(
                event = "user_email_change_recovered",
                user_id,
                sessions_ended = ended,
                devices_revoked = devices
            ),
            Ok(Err(error)) => tracing::error!(error = %error, user_id, "clearing up after a recovery failed"),
            Err(error) => tracing::error!(error = %error, user_id, "clearing up after a recovery failed"),
        }
        Ok(Done { user_id: row.user_id, email: row.old_email })
    }
}

/// Whether a change's recovery link still works at `now`.
fn recoverable(row: &store::ChangeRow, now: i64) -> bool {
    row.state == "changed" && row.recover_until.is_some_and(|until| until > now)
}

/// An address as stored: written by `Email::parse`, so this cannot fail in practice.
fn stored_email(stored: &str) -> Result<Email, EmailChangeError> {
    Email::parse(stored).map_err(|_| {
        tracing::error!("a stored address does not parse");
        EmailChangeError::Unexpected(UnexpectedError::Database(sqlx::Error::Protocol(
            "a stored address does not parse".into(),
        )))
    })
}

#[cfg(test)]
mod tests;
