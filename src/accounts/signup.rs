//! Signing up and confirming an address.
//!
//! A signup creates nothing but a *pending signup* (see `pending.rs`): its own link, its
//! username and its password hash, waiting for the address's owner. Following the link
//! and typing that signup's password creates the account, and only then is the username
//! claimed; if someone claimed it meanwhile, the person confirming picks another there.
//! So:
//! - what a signup does, and which mail it sends, depends only on whether the address has
//!   a confirmed account (a link, or "someone tried to sign up with your address"), never
//!   on anyone else's pending username: no sequence of signups tells an outsider whether an
//!   address has an account;
//! - several pending signups for one address do not interfere; each link confirms exactly
//!   the signup that sent it, with that signup's password, and the first confirmation
//!   ends the others. Asking for the password at confirmation means an unsolicited link in
//!   a victim's mailbox cannot confirm an account whose password an attacker chose
//!   (account pre-hijacking);
//! - the verification mail carries no text the requester chose (no username).
//!
//! A valid signup for a taken address runs the same strength check and the same argon2
//! hash as one for a new address, so timing matches.

use super::{
    pending::{self, Confirmed},
    store::NewUser,
    AccountError, Accounts, UnexpectedError, User, VERIFY_EMAIL_VALID_SECS,
};
use crate::{hashing::HashError, token, Email, Field, FieldErrors, Password, SignupForm, Username};

/// Wrong passwords a pending signup survives at confirmation.
pub const CONFIRM_ATTEMPTS: i64 = 5;

/// Live pending signups one address may have; a new one pushes out the oldest of the
/// network with the most (see `pending::insert`). A resend renews (and mails) each of
/// them, so this also bounds what one resend mails. Pushing one out rather than refusing
/// the newest: an attacker who signs up the victim's address cannot hold its places for a
/// day and keep the owner's own signup from happening; to push out the owner's, they need
/// signups from this many networks of their own (each allowed a few an hour, see
/// `Throttle::signup_mail`), all made after the owner's and before the owner follows the
/// link.
pub const PENDING_PER_ADDRESS: i64 = 5;

/// What a valid signup did. The client never learns which: only the mail differs.
#[derive(Clone, PartialEq, Eq)]
pub enum SignupOutcome {
    /// A pending signup was stored; `token` is its link's secret, for the mail.
    Pending { token: String },
    /// The address belongs to a confirmed account. Nothing was stored.
    EmailTaken,
}

impl std::fmt::Debug for SignupOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Pending { .. } => "Pending(<token>)",
            Self::EmailTaken => "EmailTaken",
        })
    }
}

/// A parsed signup and its outcome: what the follow-up mail needs.
#[derive(Debug, Clone)]
pub struct Signup {
    pub email: Email,
    pub outcome: SignupOutcome,
}

/// A valid signup, checked and hashed, not yet stored. `Debug` shows no hash.
pub struct PreparedSignup {
    pub(super) email: Email,
    pub(super) username: Username,
    pub(super) password_hash: String,
    /// A keyed hash of the network it came from (see `pending::insert`); empty if unknown.
    pub(super) network: String,
}

/// A signup form that parsed and whose password passed the strength check; not hashed
/// yet. `Debug` shows nothing of it.
pub struct CheckedSignup(SignupForm);

impl std::fmt::Debug for CheckedSignup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CheckedSignup(<redacted>)")
    }
}

impl CheckedSignup {
    /// The address this signup names.
    pub fn email(&self) -> &Email {
        &self.0.email
    }
}

impl PreparedSignup {
    /// The address this signup names.
    pub fn email(&self) -> &Email {
        &self.email
    }

    /// The network tag it was made from (empty if unknown).
    pub fn network(&self) -> &str {
        &self.network
    }

    /// The signup as made from the network `tag` (`Throttle::network_tag`).
    pub fn made_from(self, tag: String) -> Self {
        Self { network: tag, ..self }
    }
}

impl std::fmt::Debug for PreparedSignup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PreparedSignup(<redacted>)")
    }
}

/// Why a confirmation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    /// Unknown, used, expired or superseded link, or an address confirmed meanwhile: one
    /// answer.
    #[error("invalid, used or expired link")]
    InvalidLink,
    /// The password is not the one chosen at this signup, or the replacement username
    /// broke a rule or is taken; messages per field. The link still works (a few wrong
    /// passwords end it).
    #[error("invalid input")]
    Invalid(FieldErrors),
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl From<sqlx::Error> for ConfirmError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(e.into())
    }
}

impl From<HashError> for ConfirmError {
    fn from(e: HashError) -> Self {
        Self::Unexpected(e.into())
    }
}

use crate::messages::{USERNAME_TAKEN_MEANWHILE, WRONG_SIGNUP_PASSWORD};

impl Accounts {
    /// Parses the signup form, checks the password's strength, and stores a pending signup
    /// unless the address has a confirmed account. Every field problem is reported at
    /// once: the strength verdict too, even when another field is wrong.
    #[tracing::instrument(name = "sign_up", skip_all)]
    pub async fn sign_up(&self, email: &str, username: &str, password: &str) -> Result<Signup, AccountError> {
        let prepared = self.prepare_signup(email, username, password).await?;
        self.store_signup(prepared).await
    }

    /// The part of [`Accounts::sign_up`] a request waits for: parsing, the strength check
    /// and the hash, which are the same whatever the address's state. Nothing is looked up.
    pub async fn prepare_signup(
        &self,
        email: &str,
        username: &str,
        password: &str,
    ) -> Result<PreparedSignup, AccountError> {
        let checked = self.check_signup(email, username, password).await?;
        self.hash_signup(checked).await
    }

    /// Parses the form and checks the password's strength: a signup that gets past this
    /// is one worth counting against the site's allowance (see `registration`).
    pub async fn check_signup(
        &self,
        email: &str,
        username: &str,
        password: &str,
    ) -> Result<CheckedSignup, AccountError> {
        let parsed = SignupForm::parse(email, username, password, self.policy);
        // Judged against what was typed in the other fields, parsed or not (the meter in
        // the browser does the same).
        let inputs = crate::password::user_inputs(email, username);
        let (mut errors, checked) = match &parsed {
            Ok(form) => (FieldErrors::default(), form.password.clone()),
            Err(errors) => match Password::parse(password, self.policy) {
                // The password itself is fine by length: judge its strength too.
                Ok(password) => (errors.clone(), password),
                Err(_) => return Err(AccountError::Invalid(errors.clone())),
            },
        };
        if let Some(weak) = self.weakness(checked, inputs).await? {
            errors.insert(Field::Password, weak);
        }
        match parsed {
            Ok(form) if errors.is_empty() => Ok(CheckedSignup(form)),
            _ => Err(AccountError::Invalid(errors)),
        }
    }

    /// Hashes a checked signup's password: what is left before it can be stored.
    pub async fn hash_signup(&self, checked: CheckedSignup) -> Result<PreparedSignup, AccountError> {
        let CheckedSignup(form) = checked;
        let password_hash = self.hasher.hash(&form.password).await?;
        Ok(PreparedSignup {
            email: form.email,
            username: form.username,
            password_hash,
            network: String::new(),
        })
    }

    /// The rest of [`Accounts::sign_up`]: a pending signup, unless the address has a
    /// confirmed account. Its timing differs by outcome, so requests run it after their
    /// response (see `registration`).
    pub async fn store_signup(&self, prepared: PreparedSignup) -> Result<Signup, AccountError> {
        let PreparedSignup { email, username, password_hash, network } = prepared;
        if super::store::find_user_by_email(&self.pool, &email).await?.is_some() {
            return Ok(Signup { email, outcome: SignupOutcome::EmailTaken });
        }
        let now = self.clock.now();
        let new = token::generate();
        let signup = NewUser {
            email: email.as_str(),
            username: username.canonical(),
            display_name: username.display(),
            password_hash: &password_hash,
            created_at: now,
        };
        let expires_at = now.saturating_add(VERIFY_EMAIL_VALID_SECS);
        pending::insert(&self.pool, &new.hash, &signup, &network, expires_at, PENDING_PER_ADDRESS).await?;
        Ok(Signup { email, outcome: SignupOutcome::Pending { token: new.token } })
    }

    /// A new link for every live pending signup of `email` (their earlier links die), for
    /// the mails; empty when the address has none (no signup, or already confirmed). Every
    /// one, not only the newest: after someone else signed up the owner's address, the
    /// owner's resend must still reach the owner's own signup.
    pub async fn renew_pending(&self, email: &Email) -> Result<Vec<String>, AccountError> {
        let now = self.clock.now();
        let expires_at = now.saturating_add(VERIFY_EMAIL_VALID_SECS);
        let mut tokens = Vec::new();
        for old in pending::live_of(&self.pool, email.as_str(), now, PENDING_PER_ADDRESS).await? {
            let new = token::generate();
            if pending::renew(&self.pool, &old, &new.hash, now, expires_at).await? {
                tokens.push(new.token);
            }
        }
        Ok(tokens)
    }

    /// Confirms the pending signup behind `token` for someone who also knows its
    /// `password`, creating the account. `username`, when given, replaces the one chosen
    /// at signup (for when it was taken meanwhile).
    #[tracing::instrument(name = "confirm_signup", skip_all)]
    pub async fn confirm_signup(
        &self,
        token: &str,
        password: &str,
        username: Option<&str>,
    ) -> Result<User, ConfirmError> {
        let hash = token::parse(token).ok_or(ConfirmError::InvalidLink)?;
        let now = self.clock.now();
        let found = pending::find(&self.pool, &hash, now).await?.ok_or(ConfirmError::InvalidLink)?;
        let wrong = || ConfirmError::Invalid(FieldErrors::single(Field::Password, WRONG_SIGNUP_PASSWORD));
        let Ok(password) = Password::parse_existing(password) else { return Err(wrong()) };
        // A replacement username is checked first: a malformed one spends none of the
        // signup's guesses at its password (review O5).
        let chosen =
            match username.map(str::trim).filter(|u| !u.is_empty()) {
                Some(raw) => Some(Username::parse(raw).map_err(|e| {
                    ConfirmError::Invalid(FieldErrors::single(Field::Username, e.to_string()))
                })?),
                None => None,
            };
        let ticket = self.hasher.admit()?;
        // Counted before the check, like a sign-in: concurrent guesses each spend one.
        if !pending::reserve_attempt(&self.pool, &hash, CONFIRM_ATTEMPTS, now).await? {
            pending::delete_if_exhausted(&self.pool, &hash, CONFIRM_ATTEMPTS).await?;
            return Err(ConfirmError::InvalidLink);
        }
        if !self.hasher.verify(ticket, &password, Some(found.password_hash.clone())).await? {
            pending::delete_if_exhausted(&self.pool, &hash, CONFIRM_ATTEMPTS).await?;
            return Err(wrong());
        }
        let (canonical, display) = match &chosen {
            Some(name) => (name.canonical(), name.display()),
            None => (found.username.as_str(), found.display_name.as_str()),
        };
        let retired = self.retired_username_hash(canonical);
        match pending::confirm(&self.pool, &hash, (canonical, &retired), display, now).await? {
            Confirmed::Created(id) => super::store::find_user(&mut self.pool.acquire().await?, id)
                .await?
                .ok_or(ConfirmError::InvalidLink),
            Confirmed::Gone => Err(ConfirmError::InvalidLink),
            Confirmed::UsernameTaken => {
                // The password was right: the attempt it was counted as is given back, so
                // picking another name never uses up the signup's guesses.
                pending::refund_attempt(&self.pool, &hash).await?;
                Err(ConfirmError::Invalid(FieldErrors::single(Field::Username, USERNAME_TAKEN_MEANWHILE)))
            }
        }
    }

    /// Deletes pending signups whose link expired; returns how many.
    pub async fn delete_expired_pending(&self) -> Result<u64, AccountError> {
        Ok(pending::delete_expired(&self.pool, self.clock.now()).await?)
    }
}

#[cfg(test)]
#[path = "signup_tests.rs"]
mod tests;
