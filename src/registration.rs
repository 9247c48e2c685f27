//! Signing up, end to end: throttle, the account, and the one follow-up mail. The client's
//! answer never depends on what happened; only the mail does:
//!
//! | the address…                          | the mail sent to it                         |
//! |---------------------------------------|---------------------------------------------|
//! | is new                                | a verification link                         |
//! | has an unconfirmed account            | a verification link (the older ones die)    |
//! | has a confirmed account               | "someone tried to sign up with your address"|
//! | is new, but the username is taken     | "pick another username"                     |
//!
//! Mail goes through the outbox, so the response does not wait for a mail server either.
//! Each address gets at most a few mails an hour however many signups name it.

use std::net::IpAddr;

use crate::{
    accounts::{Accounts, Signup, SignupOutcome, UserId, VerifyError, VERIFY_EMAIL_VALID_SECS},
    devices::Device,
    flow::{link_request, FlowError},
    mail::{after_response, Outbox, Templates},
    throttle::Throttle,
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
        let signup = self.accounts.sign_up(email, username, password).await?;
        match signup.outcome {
            SignupOutcome::Created(id) => tracing::info!(event = "user_created", user_id = id),
            SignupOutcome::Restarted(id) => tracing::info!(event = "user_signup_restarted", user_id = id),
            // No identifier: the mail tells the owner; the log must not tell anyone.
            SignupOutcome::EmailTaken | SignupOutcome::UsernameTaken => {
                tracing::info!(event = "user_signup_duplicate")
            }
        }
        self.follow_up(&signup).await
    }

    async fn follow_up(&self, signup: &Signup) -> Result<(), FlowError> {
        if self.throttle.mail_to(&signup.email).await?.is_err() {
            tracing::warn!(event = "excess_mail_suppressed", subject = %self.throttle.log_tag(&signup.email));
            return Ok(());
        }
        let mail = match signup.outcome {
            SignupOutcome::Created(id) | SignupOutcome::Restarted(id) => {
                match self.verification_mail(id, &signup.email, &signup.username).await? {
                    Some(mail) => mail,
                    None => return Ok(()),
                }
            }
            SignupOutcome::EmailTaken => self.templates.signup_existing(&signup.email),
            SignupOutcome::UsernameTaken => self.templates.username_taken(&signup.email, &signup.username),
        };
        self.outbox.enqueue(&mail).await?;
        Ok(())
    }

    async fn verification_mail(
        &self,
        id: UserId,
        email: &Email,
        display_name: &str,
    ) -> Result<Option<crate::mail::Mail>, FlowError> {
        if self.throttle.link_mail().await?.is_err() {
            tracing::warn!(
                event = "excess_mail_suppressed",
                kind = "verify_email",
                "site-wide link mail cap reached"
            );
            return Ok(None);
        }
        let Some(token) = self.accounts.issue_verification(id).await? else { return Ok(None) };
        let hours = VERIFY_EMAIL_VALID_SECS / 3600;
        Ok(Some(self.templates.verify_email(email, display_name, &token, hours)))
    }

    /// Sends a new verification link if `email` has an unconfirmed account. The answer is
    /// the same either way, and so is its timing: the lookup and the mail happen after the
    /// response, in a task of their own. Throttled per IP and per address (counted whether
    /// or not the address has an account).
    pub async fn resend_verification(
        &self,
        ip: IpAddr,
        email: &str,
        device: Option<&Device>,
    ) -> Result<(), FlowError> {
        let email = link_request(&self.throttle, &self.accounts, ip, email, device).await?;
        let this = self.clone();
        after_response("queueing a verification mail", async move { this.resend_now(&email).await });
        Ok(())
    }

    async fn resend_now(&self, email: &Email) -> Result<(), FlowError> {
        let Some(user) = self.accounts.unconfirmed(email).await? else {
            return Ok(());
        };
        if let Some(mail) = self.verification_mail(user.id, email, &user.username).await? {
            self.outbox.enqueue(&mail).await?;
        }
        Ok(())
    }

    /// Follows a verification link.
    pub async fn verify_email(&self, token: &str) -> Result<UserId, FlowError> {
        let verdict = self.accounts.verify_email(token).await;
        match &verdict {
            Ok(id) => tracing::info!(event = "user_email_verified", user_id = id),
            Err(VerifyError::InvalidLink) => tracing::info!(event = "user_email_verify_fail"),
            Err(VerifyError::Unexpected(_)) => {}
        }
        Ok(verdict?)
    }
}
