//! Signing up, end to end: throttle, the pending signup, and the one follow-up mail. The
//! client's answer never depends on what happened; only the mail does, and it depends on
//! nothing but whether the address has a confirmed account:
//!
//! | the address…                      | the mail sent to it                          |
//! |-----------------------------------|----------------------------------------------|
//! | has no confirmed account          | a link to confirm this signup                |
//! | has a confirmed account           | "someone tried to sign up with your address" |
//!
//! Neither mail carries text the requester chose. Confirming (the link, plus the password
//! chosen at that signup) creates the account; see `accounts::signup`.
//!
//! The request waits only for what costs the same for every address (parsing, the
//! strength check, the hash); the lookup, the pending signup and the mail happen after the
//! response, so its timing cannot tell either. Mail goes through the outbox, so nothing
//! waits for a mail server.
//! Each address gets at most a few mails an hour however many signups name it.

use std::net::IpAddr;

use crate::{
    accounts::{
        Accounts, ConfirmError, PreparedSignup, Signup, SignupOutcome, UserId, VERIFY_EMAIL_VALID_SECS,
    },
    devices::Device,
    flow::{link_request, FlowError},
    mail::{after_response, Mail, Outbox, Templates},
    throttle::{LinkKind, Throttle},
    Email,
};

#[derive(Clone)]
pub struct Registration {
    accounts: Accounts,
    throttle: Throttle,
    outbox: Outbox,
    templates: Templates,
}

impl Registration {
    pub fn new(accounts: Accounts, throttle: Throttle, outbox: Outbox, templates: Templates) -> Self {
        Self { accounts, throttle, outbox, templates }
    }

    /// Handles a signup form from `ip`. `Ok` means "check your email", whatever the
    /// address's state; only invalid input and throttling are told apart.
    pub async fn sign_up(
        &self,
        ip: IpAddr,
        email: &str,
        username: &str,
        password: &str,
    ) -> Result<(), FlowError> {
        self.throttle.signup_attempt(ip).await?.map_err(FlowError::Throttled)?;
        // Checking and hashing take the same time for every address; what follows (the
        // lookup, storing, the mail) does not, so it runs after the response.
        let prepared = self.accounts.prepare_signup(email, username, password).await?;
        let this = self.clone();
        after_response("storing a signup", async move { this.store_and_mail(prepared).await });
        Ok(())
    }

    async fn store_and_mail(&self, prepared: PreparedSignup) -> Result<(), FlowError> {
        let signup = self.accounts.store_signup(prepared).await?;
        // One line whatever the outcome: the mail tells the owner of a taken address; the
        // log must not tell anyone whether the address had an account.
        tracing::info!(event = "user_signup_stored");
        self.follow_up(&signup).await
    }

    async fn follow_up(&self, signup: &Signup) -> Result<(), FlowError> {
        if self.throttle.mail_to(&signup.email).await?.is_err() {
            tracing::warn!(event = "excess_mail_suppressed", subject = %self.throttle.log_tag(&signup.email));
            return Ok(());
        }
        // Counted whichever mail this signup gets, so what the allowance lets through says
        // nothing about whether the address has an account.
        if self.throttle.link_mail(LinkKind::Verify).await?.is_err() {
            tracing::warn!(
                event = "excess_mail_suppressed",
                kind = "signup",
                "site-wide link mail cap reached"
            );
            return Ok(());
        }
        let mail = match &signup.outcome {
            SignupOutcome::Pending { token } => self.verification_mail(&signup.email, token),
            SignupOutcome::EmailTaken => {
                self.templates.signup_existing(&signup.email, VERIFY_EMAIL_VALID_SECS / 3600)
            }
        };
        self.outbox.enqueue(&mail).await?;
        Ok(())
    }

    /// The mail with a confirmation link.
    fn verification_mail(&self, email: &Email, token: &str) -> Mail {
        let hours = VERIFY_EMAIL_VALID_SECS / 3600;
        self.templates.verify_email(email, token, hours)
    }

    /// Sends a new link for the address's newest pending signup, if it has one. The answer
    /// is the same either way, and so is its timing: the lookup and the mail happen after
    /// the response, in a task of their own. Throttled per IP and per address (counted
    /// whether or not the address has a signup).
    pub async fn resend_verification(
        &self,
        ip: IpAddr,
        email: &str,
        device: Option<&Device>,
    ) -> Result<(), FlowError> {
        let (email, send) =
            link_request(&self.throttle, &self.accounts, ip, email, device, LinkKind::Verify).await?;
        // The same line for every address: whether a signup waits is not for the log.
        tracing::info!(event = "user_verification_resend_requested", "new verification link requested");
        if !send {
            return Ok(());
        }
        let this = self.clone();
        after_response("queueing a verification mail", async move { this.resend_now(&email).await });
        Ok(())
    }

    async fn resend_now(&self, email: &Email) -> Result<(), FlowError> {
        let Some(token) = self.accounts.renew_pending(email).await? else {
            return Ok(());
        };
        self.outbox.enqueue(&self.verification_mail(email, &token)).await?;
        Ok(())
    }

    /// Follows a confirmation link: the link, the password chosen at that signup, and a new
    /// username if the chosen one was taken meanwhile. Throttled per client IP (each
    /// submission checks a password).
    pub async fn verify_email(
        &self,
        ip: IpAddr,
        token: &str,
        password: &str,
        username: Option<&str>,
    ) -> Result<UserId, FlowError> {
        self.throttle.link_submission(ip).await?.map_err(FlowError::Throttled)?;
        let verdict = self.accounts.confirm_signup(token, password, username).await;
        match &verdict {
            Ok(user) => tracing::info!(event = "user_created", user_id = user.id),
            Err(ConfirmError::InvalidLink) => tracing::info!(event = "user_email_verify_fail"),
            Err(ConfirmError::Invalid(_)) => tracing::info!(event = "user_email_verify_refused"),
            Err(ConfirmError::Unexpected(_)) => {}
        }
        Ok(verdict?.id)
    }
}
