//! Forgotten passwords: a reset link by mail, and setting a new password with it.
//!
//! Asking answers every address the same way, at the same speed (the lookup and the mail
//! happen after the response) and is throttled per client IP and per address. A reset
//! that succeeds ends every session of the account (the epoch bump makes old cookies
//! worthless, and the registry rows and stored sessions are deleted too), clears the
//! account's sign-in backoff, and tells the owner by mail.

use std::net::IpAddr;

use crate::{
    accounts::{
        AccountError, Accounts, ChangeError, PasswordChange, ResetError, User, UserId,
        RESET_PASSWORD_VALID_SECS,
    },
    devices::{Device, Devices},
    flow::{link_request, FlowError},
    mail::{Outbox, Templates},
    sessions::SessionRegistry,
    throttle::{LinkKind, LinkMail, Throttle},
    Email,
};

/// How long a request waits for what follows its new password (see
/// `Recovery::finish_password_change`): well inside the 30 s request time limit.
const FOLLOW_UP_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

#[derive(Clone)]
pub struct Recovery {
    accounts: Accounts,
    throttle: Throttle,
    outbox: Outbox,
    templates: Templates,
    registry: SessionRegistry,
    devices: Devices,
}

impl Recovery {
    pub fn new(
        accounts: Accounts,
        throttle: Throttle,
        outbox: Outbox,
        templates: Templates,
        registry: SessionRegistry,
        devices: Devices,
    ) -> Self {
        Self { accounts, throttle, outbox, templates, registry, devices }
    }

    /// Mails a reset link if `email` has an account. `Ok` for every well-formed address.
    /// `device`: the browser's device cookie, if it sent a live one.
    pub async fn request_reset(
        &self,
        ip: IpAddr,
        email: &str,
        device: Option<&Device>,
    ) -> Result<(), FlowError> {
        let (email, mail) =
            link_request(&self.throttle, &self.accounts, ip, email, device, LinkKind::Reset).await?;
        // The same line for every address: whether it has an account is not for the log.
        tracing::info!(event = "authn_password_reset_requested", "reset link requested");
        let this = self.clone();
        self.outbox.after_response("queueing a password reset mail", async move {
            this.mail_reset_link(&email, mail).await
        });
        Ok(())
    }

    async fn mail_reset_link(&self, email: &Email, mail: LinkMail) -> Result<(), AccountError> {
        // The address's hourly cap, counted only when there is an account to mail (and
        // before a new link kills the one it was mailed last).
        if !self.accounts.has_account(email).await?
            || !self.throttle.link_mail_to(email, LinkKind::Reset, mail.trusted).await?
        {
            return Ok(());
        }
        let Some((user, token)) = self.accounts.issue_reset(email).await? else { return Ok(()) };
        let minutes = RESET_PASSWORD_VALID_SECS / 60;
        let reset = self.templates.password_reset(email, &user.username, &token, minutes);
        self.outbox.enqueue_at(&reset, mail.due).await?;
        Ok(())
    }

    /// Sets a new password through a reset link and ends every session of the account.
    /// Throttled per client IP (each submission runs a strength check). For an account
    /// with a second factor, `answer` (a code, or a recovery code) must prove it too: the
    /// mailbox alone is one factor. The account as it now is: the browser that proved the
    /// mailbox gets a fresh device cookie for it.
    pub async fn reset_password(
        &self,
        (ip, token, password): (IpAddr, &str, &str),
        (factors, answer): (&crate::factors::Factors, Option<crate::factors::Answer<'_>>),
        context: &crate::audit::Context,
    ) -> Result<User, FlowError> {
        self.throttle.link_submission(ip).await?.map_err(FlowError::Throttled)?;
        let check = crate::factors::ResetFactor { factors, ip, answer, context };
        let user = match self.accounts.reset_password(token, password, &check).await {
            Ok(user) => user,
            Err(ResetError::InvalidLink) => {
                tracing::info!(event = "authn_password_reset_fail");
                return Err(FlowError::InvalidLink);
            }
            Err(other) => return Err(other.into()),
        };
        // What must follow a password change runs in a task of its own, awaited here: a
        // client that hangs up, or the request's time limit, cannot stop it halfway. (The
        // epoch bump above already made every old session and device worthless.)
        self.finish_password_change(&user).await;
        Ok(user)
    }

    /// The owner's password change (see `accounts::password_change`), then what follows
    /// every new password: every session and device of the account ended (the caller's
    /// too: the server function starts it anew), the sign-in backoff cleared, a notice
    /// mailed. The account as it now is, as a sign-in the caller's session renews under a
    /// new id.
    pub async fn change_password(
        &self,
        change: PasswordChange<'_>,
    ) -> Result<crate::sessions::Completed, ChangeError> {
        let session_key = change.session_key.to_owned();
        let user = match self.accounts.change_password(&self.throttle, change).await {
            Ok(user) => user,
            Err(ChangeError::TooManyWrong) => {
                // This session has had its guesses at the password: it ends.
                self.registry.forget(&session_key).await?;
                return Err(ChangeError::TooManyWrong);
            }
            Err(other) => return Err(other),
        };
        self.finish_password_change(&user).await;
        Ok(crate::completion::renewed(user))
    }

    /// Runs what follows a committed new password in a task of its own (a client that hangs
    /// up, or the request's time limit, cannot stop it halfway), and waits for it at most
    /// [`FOLLOW_UP_WAIT`], well inside the request's time limit: past that the request
    /// answers (the change happened) and the task finishes on its own.
    async fn finish_password_change(&self, user: &User) {
        let this = self.clone();
        let changed = user.clone();
        let task = self.outbox.track(async move { this.follow_password_change(changed).await });
        if tokio::time::timeout(FOLLOW_UP_WAIT, task).await.is_err() {
            tracing::warn!(user_id = user.id, "after a new password: still finishing in the background");
        }
    }

    /// [`Self::after_password_change`], tried again while the database is only busy. The
    /// new password has committed, so what follows must happen, and the answer must not be
    /// "nothing changed, try again" (a retry would find the link used, or count the old
    /// password as a wrong guess). Its steps repeat harmlessly and the notice is queued
    /// last, so a retry never mails twice. Past the last try the failure is logged as an
    /// error: the epoch bump already ended every session and device; only their rows, the
    /// backoff and the notice are missing.
    async fn follow_password_change(&self, user: User) {
        let mut wait = std::time::Duration::from_millis(250);
        for attempt in 1..=6 {
            match self.after_password_change(user.clone()).await {
                Ok(()) => return,
                Err(FlowError::Unexpected(cause)) if attempt < 6 && crate::db::is_contention(&cause) => {
                    tracing::warn!(
                        event = "db_contention",
                        user_id = user.id,
                        attempt,
                        "after a new password: retrying"
                    );
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Err(error) => {
                    tracing::error!(user_id = user.id, error = %error, "after a new password: not finished");
                    return;
                }
            }
        }
    }

    async fn after_password_change(&self, user: crate::accounts::User) -> Result<(), FlowError> {
        // Stored addresses were written by `Email::parse`, so this parse cannot fail in practice.
        let email = Email::parse(&user.email).ok();
        let (ended, devices) = self.end_all_access(user.id, email.as_ref()).await?;
        tracing::info!(
            event = "authn_password_change",
            user_id = user.id,
            sessions_ended = ended,
            devices_revoked = devices
        );
        match email {
            Some(email) => {
                self.outbox.enqueue(&self.templates.password_changed(&email, &user.username)).await?;
            }
            None => tracing::error!(user_id = user.id, "stored address does not parse; no notice sent"),
        }
        Ok(())
    }

    /// What follows anything that takes an account back from whoever held it (a new
    /// password, an email-change recovery): every session and device cookie of the account
    /// deleted (a thief's device must not keep its budget either) and the sign-in backoff of
    /// `email` cleared. The epoch bump that came first already made them worthless; this
    /// removes their rows. How many sessions and devices ended.
    pub async fn end_all_access(&self, user_id: UserId, email: Option<&Email>) -> sqlx::Result<(usize, u64)> {
        let ended = self.registry.revoke_all(user_id).await?;
        let devices = self.devices.revoke_all(user_id).await?;
        if let Some(email) = email {
            self.throttle.clear_account(email).await?;
        }
        Ok((ended, devices))
    }
}
