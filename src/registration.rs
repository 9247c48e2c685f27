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
//! What bounds it: a signup form counts against its IP's hourly cap; only a form that
//! parsed and passed the strength check counts against the site-wide per-minute allowance
//! (each network gets a share of it, see `throttle::allowances`). Signups naming one
//! address are refused (429) past a few an hour per requesting network; a stored signup's
//! link goes out if it is the first from its network this hour, or while the address's
//! total for the hour lasts (else a resend reaches it). So signups from one network can
//! neither flood a mailbox nor keep the owner's own signup, made elsewhere, from being
//! mailed.
//!
//! The request waits only for what costs the same for every address (parsing, the
//! strength check, the hash); the lookup, the pending signup and the mail happen after the
//! response, so its timing cannot tell either. Mail goes through the outbox, so nothing
//! waits for a mail server.

use std::net::IpAddr;

use crate::{
    accounts::{
        Accounts, ConfirmError, PreparedSignup, Signup, SignupOutcome, UserId, VERIFY_EMAIL_VALID_SECS,
    },
    devices::Device,
    flow::{link_request, FlowError},
    mail::{Mail, Outbox, Templates},
    throttle::{LinkKind, LinkMail, Throttle},
    Email,
};

#[derive(Clone)]
pub struct Registration {
    accounts: Accounts,
    throttle: Throttle,
    outbox: Outbox,
    templates: Templates,
    invite_only: bool,
}

impl Registration {
    pub fn new(accounts: Accounts, throttle: Throttle, outbox: Outbox, templates: Templates) -> Self {
        Self { accounts, throttle, outbox, templates, invite_only: false }
    }

    /// Sign-up by invitation only (`BULWARK_SIGNUP=invite`): signing up, asking for a new
    /// confirmation link and confirming a signup made before the switch are all refused
    /// ([`FlowError::ByInvitation`]) before anything is looked at, the same for every
    /// address. Accounts come from invitations (`invitations`) and the command line.
    pub fn invite_only(mut self, invite_only: bool) -> Self {
        self.invite_only = invite_only;
        self
    }

    /// Whether sign-up is by invitation only.
    pub fn is_invite_only(&self) -> bool {
        self.invite_only
    }

    fn open(&self) -> Result<(), FlowError> {
        if self.invite_only {
            Err(FlowError::ByInvitation)
        } else {
            Ok(())
        }
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
        self.open()?;
        self.throttle.signup_attempt(ip).await?.map_err(FlowError::Throttled)?;
        // Checking and hashing take the same time for every address; what follows (the
        // lookup, storing, the mail) does not, so it runs after the response. The caps
        // counted here are counted for every address alike.
        let checked = self.accounts.check_signup(email, username, password).await?;
        self.throttle.signup_admitted(ip).await?.map_err(FlowError::Throttled)?;
        self.throttle.signup_mail(ip, checked.email()).await?.map_err(FlowError::Throttled)?;
        let prepared = self.accounts.hash_signup(checked).await?.made_from(self.throttle.network_tag(ip));
        let this = self.clone();
        self.outbox.after_response("storing a signup", async move { this.store_and_mail(prepared).await });
        Ok(())
    }

    async fn store_and_mail(&self, prepared: PreparedSignup) -> Result<(), FlowError> {
        let network = prepared.network().to_owned();
        let signup = self.accounts.store_signup(prepared).await?;
        // One line whatever the outcome: the mail tells the owner of a taken address; the
        // log must not tell anyone whether the address had an account.
        tracing::info!(event = "user_signup_stored");
        self.follow_up(&signup, &network).await
    }

    /// The one mail a stored signup gets. A fresh signup's link goes out if it is the first
    /// from its network this hour, or the address has not had many signup mails this hour
    /// from every network together (else it waits for a resend); the notice to an address that has an account only while that address's
    /// notices last the hour (one more tells its owner nothing new).
    async fn follow_up(&self, signup: &Signup, network: &str) -> Result<(), FlowError> {
        let mail = match &signup.outcome {
            SignupOutcome::Pending { token } => {
                if !self.throttle.fresh_signup_mail(&signup.email, network).await? {
                    tracing::info!(event = "excess_mail_suppressed", kind = "signup", "stored, not mailed");
                    return Ok(());
                }
                self.verification_mail(&signup.email, token)
            }
            SignupOutcome::EmailTaken => {
                if !self.throttle.taken_notice(&signup.email).await? {
                    return Ok(());
                }
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

    /// Sends a new link for each live pending signup of the address, if it has any. The
    /// answer is the same either way, and so is its timing: the lookup and the mail happen
    /// after the response, in a task of their own. Throttled per IP, per network and site
    /// wide (429), and per address (past that the answer is the same and nothing is
    /// mailed); all counted whether or not the address has a signup.
    pub async fn resend_verification(
        &self,
        ip: IpAddr,
        email: &str,
        device: Option<&Device>,
    ) -> Result<(), FlowError> {
        self.open()?;
        let (email, mail) =
            link_request(&self.throttle, &self.accounts, ip, email, device, LinkKind::Verify).await?;
        // The same line for every address: whether a signup waits is not for the log.
        tracing::info!(event = "user_verification_resend_requested", "new verification link requested");
        let this = self.clone();
        self.outbox.after_response("queueing a verification mail", async move {
            this.resend_now(&email, mail).await
        });
        Ok(())
    }

    async fn resend_now(&self, email: &Email, mail: LinkMail) -> Result<(), FlowError> {
        // The address's hourly cap, counted only when a signup waits (and before its links
        // are renewed, which kills the ones it was mailed).
        if !self.accounts.has_pending(email).await?
            || !self.throttle.link_mail_to(email, LinkKind::Verify, mail.trusted).await?
        {
            return Ok(());
        }
        let tokens = self.accounts.renew_pending(email).await?;
        if tokens.is_empty() {
            return Ok(());
        }
        // One mail with every link: a resend mails once, however many signups wait.
        let hours = VERIFY_EMAIL_VALID_SECS / 3600;
        self.outbox.enqueue_at(&self.templates.verify_email_links(email, &tokens, hours), mail.due).await?;
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
        self.open()?;
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
