//! The account aggregate: signing up and checking credentials.
//!
//! Two properties the audited systems lacked are built in here rather than left to the
//! callers:
//! - **No enumeration at signup.** A taken email or username hashes the password exactly
//!   as a new account would and then changes nothing; the [`SignupOutcome`] only decides
//!   which mail the address's owner gets (see `registration`), and the client is answered
//!   the same way whatever it is.
//! - **No enumeration at sign-in.** Unknown email, wrong password and an address not yet
//!   confirmed are one error, [`AccountError::InvalidCredentials`], and cost the same
//!   argon2 verification.
//! - **Addresses are proven.** A new account is unconfirmed until the link mailed to it is
//!   followed ([`Accounts::verify_email`]). A newer signup for an unconfirmed address
//!   replaces the older one's details and kills its links, so nobody can squat an address
//!   by signing up with it first (account pre-hijacking).

mod sign_in;
pub(crate) mod store;

pub use self::{
    sign_in::{sign_in, Attempt, SignInError, SignedIn, BUSY_RETRY_AFTER_SECS},
    store::NewUser,
};
use crate::{
    clock::SharedClock,
    db::SqlitePool,
    hashing::{HashError, PasswordHasher, Ticket},
    strength::{self, WeakPassword},
    token, Email, Field, FieldErrors, Password, PasswordPolicy, Role, SignupForm,
};

pub type UserId = i64;

/// A user as the rest of the application sees it: no hash.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// The normalised email.
    pub email: String,
    /// The username as the user typed it (the unique form is its lower case).
    pub username: String,
    pub role: Role,
    pub session_epoch: i64,
    /// Whether the owner has followed the verification link.
    pub email_verified: bool,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User").field("id", &self.id).field("role", &self.role).finish_non_exhaustive()
    }
}

/// What a valid signup did. The client never learns which: only the mail differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignupOutcome {
    /// A new, unconfirmed account.
    Created(UserId),
    /// The address had an unconfirmed account; this signup's details replaced its details
    /// and its older links no longer work.
    Restarted(UserId),
    /// The address belongs to a confirmed account. Nothing was changed.
    EmailTaken,
    /// The address is free but the username belongs to someone else. Nothing was changed.
    UsernameTaken,
}

/// A parsed signup and its outcome: what the follow-up mail needs.
#[derive(Debug, Clone)]
pub struct Signup {
    pub email: Email,
    /// The username as typed (display form).
    pub username: String,
    pub outcome: SignupOutcome,
}

/// How long a verification link works.
pub const VERIFY_EMAIL_VALID_SECS: i64 = 24 * 60 * 60;
/// How long an account that was never confirmed is kept (once it has no live link), so
/// abandoned or squatting signups do not hold usernames for ever.
pub const UNCONFIRMED_ACCOUNT_LIFETIME_SECS: i64 = 7 * 24 * 60 * 60;
/// How long a password reset link works.
pub const RESET_PASSWORD_VALID_SECS: i64 = 60 * 60;

/// Why a password reset was refused.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// Unknown, used, expired or superseded link: one answer. The link is only used up
    /// by a reset that succeeds.
    #[error("invalid, used or expired link")]
    InvalidLink,
    /// The new password broke a rule; the link still works.
    #[error("invalid input")]
    Invalid(FieldErrors),
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl From<sqlx::Error> for ResetError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(e.into())
    }
}

impl From<HashError> for ResetError {
    fn from(e: HashError) -> Self {
        Self::Unexpected(e.into())
    }
}

/// Why a verification link was refused. One variant on purpose: unknown, used, expired
/// and superseded links all get the same answer.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("invalid, used or expired link")]
    InvalidLink,
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl From<sqlx::Error> for VerifyError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(e.into())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The form broke a rule (including a guessable password); messages per field.
    #[error("invalid input")]
    Invalid(FieldErrors),
    /// Unknown email, wrong password: deliberately one variant.
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// Infrastructure failures; logged with their cause, never shown to users.
#[derive(Debug, thiserror::Error)]
pub enum UnexpectedError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Hashing(#[from] HashError),
    #[error("strength check failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl From<sqlx::Error> for AccountError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(e.into())
    }
}

impl From<HashError> for AccountError {
    fn from(e: HashError) -> Self {
        Self::Unexpected(e.into())
    }
}

/// An account's stored credentials, read before the throttle decides whether to check
/// them. `Debug` shows no hash.
pub struct Credentials {
    user: User,
    password_hash: String,
}

impl Credentials {
    pub fn user_id(&self) -> UserId {
        self.user.id
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).finish_non_exhaustive()
    }
}

/// The accounts service. Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    pool: SqlitePool,
    hasher: PasswordHasher,
    policy: PasswordPolicy,
    clock: SharedClock,
}

impl Accounts {
    pub fn new(pool: SqlitePool, hasher: PasswordHasher, policy: PasswordPolicy, clock: SharedClock) -> Self {
        Self { pool, hasher, policy, clock }
    }

    pub fn policy(&self) -> PasswordPolicy {
        self.policy
    }

    /// The password hasher (shared by every clone), e.g. to count its work.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// Parses the signup form, checks the password's strength, and creates an unconfirmed
    /// account (or restarts an unconfirmed one) unless the address or username is taken.
    /// Every field problem is reported at once: the strength verdict too, even when another
    /// field is wrong. A taken identity runs the same strength check and the same argon2
    /// hash as a new one, so timing matches.
    #[tracing::instrument(name = "sign_up", skip_all)]
    pub async fn sign_up(&self, email: &str, username: &str, password: &str) -> Result<Signup, AccountError> {
        let parsed = SignupForm::parse(email, username, password, self.policy);
        let (mut errors, checked, inputs) = match &parsed {
            Ok(form) => (
                FieldErrors::default(),
                form.password.clone(),
                vec![form.email.local_part().to_owned(), form.username.canonical().to_owned()],
            ),
            Err(errors) => match Password::parse(password, self.policy) {
                // The password itself is fine by length: judge its strength against
                // whatever the user typed in the other fields.
                Ok(password) => (errors.clone(), password, raw_user_inputs(email, username)),
                Err(_) => return Err(AccountError::Invalid(errors.clone())),
            },
        };
        if let Some(weak) = self.weakness(checked, inputs).await? {
            errors.insert(Field::Password, weak.to_string());
        }
        let form = match parsed {
            Ok(form) if errors.is_empty() => form,
            _ => return Err(AccountError::Invalid(errors)),
        };

        let password_hash = self.hasher.hash(&form.password).await?;
        let new_user = NewUser {
            email: form.email.as_str(),
            username: form.username.canonical(),
            display_name: form.username.display(),
            password_hash: &password_hash,
            created_at: self.clock.now(),
        };
        let outcome = match store::insert_user(&self.pool, &new_user).await? {
            Some(id) => SignupOutcome::Created(id),
            None => match store::find_signup_state(&self.pool, &form.email).await? {
                None => SignupOutcome::UsernameTaken,
                Some((_, true)) => SignupOutcome::EmailTaken,
                Some((id, false)) => match store::restart_signup(&self.pool, id, &new_user).await? {
                    store::Restart::Restarted => SignupOutcome::Restarted(id),
                    store::Restart::AlreadyVerified => SignupOutcome::EmailTaken,
                    store::Restart::UsernameTaken => SignupOutcome::UsernameTaken,
                },
            },
        };
        Ok(Signup { email: form.email, username: form.username.display().to_owned(), outcome })
    }

    /// A fresh verification link token for an unconfirmed account; `None` when the account
    /// is gone or already confirmed. Earlier links stay valid until they expire.
    pub async fn issue_verification(&self, user_id: UserId) -> Result<Option<String>, AccountError> {
        let new = token::generate();
        let now = self.clock.now();
        let stored = store::insert_token(
            &self.pool,
            &new.hash,
            user_id,
            store::Purpose::VerifyEmail,
            now,
            now + VERIFY_EMAIL_VALID_SECS,
        )
        .await?;
        Ok(stored.then_some(new.token))
    }

    /// Confirms the address the link was sent to. The token is used up whatever happens
    /// next; it must be unexpired and made for the account's current signup.
    #[tracing::instrument(name = "verify_email", skip_all)]
    pub async fn verify_email(&self, token: &str) -> Result<UserId, VerifyError> {
        let hash = token::parse(token).ok_or(VerifyError::InvalidLink)?;
        let (user_id, epoch, expires_at) = store::take_token(&self.pool, &hash, store::Purpose::VerifyEmail)
            .await?
            .ok_or(VerifyError::InvalidLink)?;
        let now = self.clock.now();
        if expires_at <= now || !store::mark_verified(&self.pool, user_id, epoch, now).await? {
            return Err(VerifyError::InvalidLink);
        }
        store::delete_tokens(&self.pool, user_id, store::Purpose::VerifyEmail).await?;
        Ok(user_id)
    }

    /// A password reset link token for the account at `email`, if there is one.
    pub async fn issue_reset(&self, email: &Email) -> Result<Option<(User, String)>, AccountError> {
        let Some(user) = store::find_user_by_email(&self.pool, email).await? else { return Ok(None) };
        let new = token::generate();
        let now = self.clock.now();
        let expires_at = now + RESET_PASSWORD_VALID_SECS;
        let stored = store::insert_token(
            &self.pool,
            &new.hash,
            user.id,
            store::Purpose::ResetPassword,
            now,
            expires_at,
        )
        .await?;
        Ok(stored.then_some((user, new.token)))
    }

    /// Sets a new password through a reset link. The password is checked (length and
    /// strength, against the account's email and username) before the link is used up, so
    /// a refused password does not cost the user their link. Success bumps the epoch:
    /// every session of the account ends and every other link dies. It also confirms the
    /// address, since the link proved it.
    #[tracing::instrument(name = "reset_password", skip_all)]
    pub async fn reset_password(&self, token: &str, password: &str) -> Result<User, ResetError> {
        let hash = token::parse(token).ok_or(ResetError::InvalidLink)?;
        let purpose = store::Purpose::ResetPassword;
        let (user_id, epoch, expires_at) =
            store::peek_token(&self.pool, &hash, purpose).await?.ok_or(ResetError::InvalidLink)?;
        let user = store::find_user(&self.pool, user_id).await?;
        let now = self.clock.now();
        let Some(user) = user.filter(|u| u.session_epoch == epoch && expires_at > now) else {
            return Err(ResetError::InvalidLink);
        };

        let password = Password::parse(password, self.policy)
            .map_err(|e| ResetError::Invalid(FieldErrors::single(Field::Password, e.to_string())))?;
        let inputs = raw_user_inputs(&user.email, &user.username);
        if let Some(weak) = self.weakness(password.clone(), inputs).await? {
            return Err(ResetError::Invalid(FieldErrors::single(Field::Password, weak.to_string())));
        }
        let password_hash = self.hasher.hash(&password).await?;

        if store::take_token(&self.pool, &hash, purpose).await?.is_none()
            || !store::set_password(&self.pool, user_id, epoch, &password_hash, now).await?
        {
            return Err(ResetError::InvalidLink);
        }
        store::delete_tokens(&self.pool, user_id, purpose).await?;
        store::delete_tokens(&self.pool, user_id, store::Purpose::VerifyEmail).await?;
        store::find_user(&self.pool, user_id).await?.ok_or(ResetError::InvalidLink)
    }

    /// The unconfirmed account at `email`, if there is one (for resending its link).
    pub async fn unconfirmed(&self, email: &Email) -> Result<Option<User>, AccountError> {
        Ok(store::find_user_by_email(&self.pool, email).await?.filter(|user| !user.email_verified))
    }

    /// Deletes accounts that were never confirmed, older than
    /// [`UNCONFIRMED_ACCOUNT_LIFETIME_SECS`] and without a live link; returns how many.
    pub async fn delete_stale_unconfirmed(&self) -> Result<u64, AccountError> {
        let now = self.clock.now();
        Ok(store::delete_stale_unconfirmed(&self.pool, now - UNCONFIRMED_ACCOUNT_LIFETIME_SECS, now).await?)
    }

    /// Deletes expired one-time tokens; returns how many.
    pub async fn delete_expired_tokens(&self) -> Result<u64, AccountError> {
        Ok(store::delete_expired_tokens(&self.pool, self.clock.now()).await?)
    }

    /// zxcvbn's verdict, computed on the hashing pool (it is CPU-bound), whose bounded
    /// queue refuses a flood instead of queueing it.
    async fn weakness(
        &self,
        password: Password,
        inputs: Vec<String>,
    ) -> Result<Option<WeakPassword>, UnexpectedError> {
        let verdict = self
            .hasher
            .run_bounded(move || {
                let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                strength::check(&password, &inputs)
            })
            .await?;
        Ok(verdict.err())
    }

    /// The stored credentials of the account at `email`, if there is one.
    pub async fn credentials(&self, email: &Email) -> Result<Option<Credentials>, AccountError> {
        Ok(store::find_credentials(&self.pool, email)
            .await?
            .map(|(user, password_hash)| Credentials { user, password_hash }))
    }

    /// Returns the user if `password` is theirs and their address is confirmed. No account
    /// (`None`) costs one dummy verification; every failure is the same error. A hash made
    /// with older parameters is replaced by one with the current ones, so raising the
    /// parameters never leaves old accounts verifying faster than unknown emails.
    #[tracing::instrument(name = "verify_credentials", skip_all)]
    pub async fn check_password(
        &self,
        ticket: Ticket,
        found: Option<Credentials>,
        password: &Password,
    ) -> Result<User, AccountError> {
        let (user, stored_hash) = match found {
            Some(Credentials { user, password_hash }) => (Some(user), Some(password_hash)),
            None => (None, None),
        };
        let matches = self.hasher.verify(ticket, password, stored_hash.clone()).await?;
        match (user, stored_hash) {
            (Some(user), Some(old)) if matches && user.email_verified => {
                if self.hasher.is_outdated(&old) {
                    self.upgrade_hash(&user, &old, password).await;
                }
                Ok(user)
            }
            _ => Err(AccountError::InvalidCredentials),
        }
    }

    /// [`Accounts::credentials`] and [`Accounts::check_password`] in one, for callers that
    /// are not throttled per attempt (tests, tools).
    pub async fn verify_credentials(&self, email: &Email, password: &Password) -> Result<User, AccountError> {
        let found = self.credentials(email).await?;
        let ticket = self.hasher.admit()?;
        self.check_password(ticket, found, password).await
    }

    /// Re-hashes with the current parameters; a failure only means it happens next time.
    async fn upgrade_hash(&self, user: &User, old: &str, password: &Password) {
        let result = match self.hasher.hash(password).await {
            Ok(new) => {
                store::replace_hash(&self.pool, user.id, old, &new).await.map_err(UnexpectedError::from)
            }
            Err(e) => Err(e.into()),
        };
        match result {
            Ok(()) => tracing::info!(event = "authn_password_rehashed", user_id = user.id),
            Err(error) => tracing::warn!(error = %error, user_id = user.id, "password re-hash postponed"),
        }
    }

    pub async fn find_user(&self, id: UserId) -> Result<Option<User>, AccountError> {
        Ok(store::find_user(&self.pool, id).await?)
    }
}

/// The other fields as typed, for the strength check when they did not parse.
fn raw_user_inputs(email: &str, username: &str) -> Vec<String> {
    let email = email.trim().to_lowercase();
    let local = email.rsplit_once('@').map_or(email.as_str(), |(local, _)| local).to_owned();
    vec![local, username.trim().to_lowercase()]
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{clock::ManualClock, db, hashing::HashParams};

    async fn accounts() -> (Accounts, ManualClock, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.expect("db");
        db::migrate(&pool).await.expect("migrate");
        let hasher = PasswordHasher::new(HashParams::default()).expect("hasher");
        let clock = ManualClock::starting_at(1_000_000);
        (Accounts::new(pool, hasher, PasswordPolicy::default(), Arc::new(clock.clone())), clock, dir)
    }

    const GOOD: &str = "violet quasar harbour tulip 83";
    const OTHER: &str = "marble comet lantern fjord 47";

    fn field_errors(result: Result<Signup, AccountError>) -> FieldErrors {
        match result {
            Err(AccountError::Invalid(errors)) => errors,
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    async fn outcome(accounts: &Accounts, email: &str, username: &str, password: &str) -> SignupOutcome {
        accounts.sign_up(email, username, password).await.expect("valid signup").outcome
    }

    async fn created(accounts: &Accounts, email: &str, username: &str) -> UserId {
        match outcome(accounts, email, username, GOOD).await {
            SignupOutcome::Created(id) => id,
            other => panic!("expected a new account, got {other:?}"),
        }
    }

    async fn verified(accounts: &Accounts, email: &str, username: &str) -> UserId {
        let id = created(accounts, email, username).await;
        let token = accounts.issue_verification(id).await.expect("db").expect("unconfirmed");
        accounts.verify_email(&token).await.expect("verified")
    }

    async fn sign_in(accounts: &Accounts, email: &str, password: &str) -> Result<User, AccountError> {
        let email = Email::parse(email).expect("email");
        accounts.verify_credentials(&email, &Password::parse_existing(password).expect("shape")).await
    }

    #[tokio::test]
    async fn a_confirmed_address_cannot_be_signed_up_again() {
        let (accounts, _clock, _dir) = accounts().await;
        verified(&accounts, "a@example.com", "alpha").await;
        assert_eq!(outcome(&accounts, " A@Example.com", "beta", OTHER).await, SignupOutcome::EmailTaken);
        assert!(sign_in(&accounts, "a@example.com", OTHER).await.is_err(), "the password did not change");
        assert!(sign_in(&accounts, "a@example.com", GOOD).await.is_ok());
    }

    #[tokio::test]
    async fn a_username_differing_only_in_case_is_taken() {
        let (accounts, _clock, _dir) = accounts().await;
        created(&accounts, "a@example.com", "Alpha").await;
        assert_eq!(outcome(&accounts, "b@example.com", "ALPHA", GOOD).await, SignupOutcome::UsernameTaken);
    }

    #[tokio::test]
    async fn an_unconfirmed_account_cannot_sign_in_with_the_right_password() {
        let (accounts, _clock, _dir) = accounts().await;
        created(&accounts, "a@example.com", "alpha").await;
        assert!(matches!(
            sign_in(&accounts, "a@example.com", GOOD).await,
            Err(AccountError::InvalidCredentials)
        ));
    }

    #[tokio::test]
    async fn a_verification_link_works_once() {
        let (accounts, _clock, _dir) = accounts().await;
        let id = created(&accounts, "a@example.com", "alpha").await;
        let token = accounts.issue_verification(id).await.expect("db").expect("token");
        assert_eq!(accounts.verify_email(&token).await.expect("verified"), id);
        assert!(matches!(accounts.verify_email(&token).await, Err(VerifyError::InvalidLink)));
        assert!(sign_in(&accounts, "a@example.com", GOOD).await.is_ok());
        assert_eq!(
            accounts.issue_verification(id).await.expect("db"),
            None,
            "no links for a confirmed account"
        );
    }

    #[tokio::test]
    async fn a_verification_link_expires_after_24_hours() {
        let (accounts, clock, _dir) = accounts().await;
        let id = created(&accounts, "a@example.com", "alpha").await;
        let token = accounts.issue_verification(id).await.expect("db").expect("token");
        clock.advance(VERIFY_EMAIL_VALID_SECS);
        assert!(matches!(accounts.verify_email(&token).await, Err(VerifyError::InvalidLink)));
        assert!(sign_in(&accounts, "a@example.com", GOOD).await.is_err());
    }

    #[tokio::test]
    async fn a_newer_signup_replaces_an_unconfirmed_one_and_kills_its_links() {
        // Pre-hijacking: an attacker signs up with the victim's address first. The victim's
        // own signup must win, and the attacker's link (and password) must be worthless.
        let (accounts, _clock, _dir) = accounts().await;
        let id = created(&accounts, "victim@example.com", "squatter").await;
        let attackers_link = accounts.issue_verification(id).await.expect("db").expect("token");
        let again = outcome(&accounts, "victim@example.com", "victim", OTHER).await;
        assert_eq!(again, SignupOutcome::Restarted(id));
        assert!(matches!(accounts.verify_email(&attackers_link).await, Err(VerifyError::InvalidLink)));
        let victims_link = accounts.issue_verification(id).await.expect("db").expect("token");
        accounts.verify_email(&victims_link).await.expect("verified");
        assert!(sign_in(&accounts, "victim@example.com", GOOD).await.is_err(), "the first password is gone");
        let user = sign_in(&accounts, "victim@example.com", OTHER).await.expect("signs in");
        assert_eq!(user.username, "victim");
    }

    #[tokio::test]
    async fn a_restarted_signup_cannot_take_another_accounts_username() {
        let (accounts, _clock, _dir) = accounts().await;
        created(&accounts, "a@example.com", "alpha").await;
        created(&accounts, "b@example.com", "beta").await;
        assert_eq!(outcome(&accounts, "b@example.com", "alpha", GOOD).await, SignupOutcome::UsernameTaken);
    }

    #[tokio::test]
    async fn malformed_and_unknown_links_are_refused() {
        let (accounts, _clock, _dir) = accounts().await;
        for token in ["", "nope", &"a".repeat(64)] {
            assert!(matches!(accounts.verify_email(token).await, Err(VerifyError::InvalidLink)), "{token}");
        }
    }

    #[tokio::test]
    async fn a_weak_password_is_refused_with_feedback() {
        let (accounts, _clock, _dir) = accounts().await;
        let errors =
            field_errors(accounts.sign_up("kitten@example.com", "kitten", "kittenkittenkitten").await);
        let message = errors.get(Field::Password).expect("password message");
        assert!(message.starts_with("This password is too easy to guess."), "{message}");
    }

    #[tokio::test]
    async fn a_weak_password_is_reported_even_when_another_field_is_invalid() {
        let (accounts, _clock, _dir) = accounts().await;
        let errors = field_errors(accounts.sign_up("someone@example.com", "root", "passwordpassword1").await);
        assert!(errors.get(Field::Username).is_some());
        assert!(errors.get(Field::Password).is_some());
        assert!(errors.get(Field::Email).is_none());
    }

    #[tokio::test]
    async fn unknown_email_and_wrong_password_are_the_same_error() {
        let (accounts, _clock, _dir) = accounts().await;
        verified(&accounts, "a@example.com", "alpha").await;
        let wrong_password = sign_in(&accounts, "a@example.com", "not the password at all").await;
        let unknown_email = sign_in(&accounts, "nobody@example.com", "not the password at all").await;
        assert!(matches!(wrong_password, Err(AccountError::InvalidCredentials)));
        assert!(matches!(unknown_email, Err(AccountError::InvalidCredentials)));
        let user = sign_in(&accounts, "a@example.com", GOOD).await.expect("signs in");
        assert_eq!(user.username, "alpha");
    }

    #[tokio::test]
    async fn a_hash_made_with_older_parameters_is_replaced_at_the_next_sign_in() {
        let (accounts, _clock, _dir) = accounts().await;
        verified(&accounts, "a@example.com", "alpha").await;
        let stronger_params = HashParams { iterations: 3, ..HashParams::default() };
        let stronger =
            Accounts { hasher: PasswordHasher::new(stronger_params).expect("hasher"), ..accounts.clone() };
        let email = Email::parse("a@example.com").expect("email");
        let before = stronger.credentials(&email).await.expect("db").expect("account").password_hash;
        assert!(stronger.hasher.is_outdated(&before));
        assert!(sign_in(&stronger, "a@example.com", "not the password at all").await.is_err());
        let unchanged = stronger.credentials(&email).await.expect("db").expect("account").password_hash;
        assert_eq!(unchanged, before, "a wrong password changes nothing");
        sign_in(&stronger, "a@example.com", GOOD).await.expect("signs in");
        let after = stronger.credentials(&email).await.expect("db").expect("account").password_hash;
        assert!(after.starts_with("$argon2id$v=19$m=19456,t=3,p=1$"), "{after}");
        sign_in(&stronger, "a@example.com", GOOD).await.expect("the new hash verifies");
    }

    async fn reset_link(accounts: &Accounts, email: &str) -> (User, String) {
        accounts.issue_reset(&Email::parse(email).expect("email")).await.expect("db").expect("an account")
    }

    #[tokio::test]
    async fn a_reset_sets_the_password_bumps_the_epoch_and_works_once() {
        let (accounts, _clock, _dir) = accounts().await;
        verified(&accounts, "a@example.com", "alpha").await;
        let (before, token) = reset_link(&accounts, "a@example.com").await;
        let after = accounts.reset_password(&token, OTHER).await.expect("reset");
        assert_eq!(after.session_epoch, before.session_epoch + 1, "every session ends");
        assert!(sign_in(&accounts, "a@example.com", GOOD).await.is_err());
        assert!(sign_in(&accounts, "a@example.com", OTHER).await.is_ok());
        assert!(matches!(accounts.reset_password(&token, GOOD).await, Err(ResetError::InvalidLink)));
    }

    #[tokio::test]
    async fn a_refused_password_keeps_the_link_usable() {
        let (accounts, _clock, _dir) = accounts().await;
        verified(&accounts, "kitten@example.com", "kitten").await;
        let (_, token) = reset_link(&accounts, "kitten@example.com").await;
        for weak in ["short", "kittenkittenkitten1"] {
            match accounts.reset_password(&token, weak).await {
                Err(ResetError::Invalid(errors)) => assert!(errors.get(Field::Password).is_some()),
                other => panic!("expected a password error, got {other:?}"),
            }
        }
        accounts.reset_password(&token, OTHER).await.expect("the link still works");
    }

    #[tokio::test]
    async fn a_reset_link_expires_after_an_hour_and_dies_with_the_next_reset() {
        let (accounts, clock, _dir) = accounts().await;
        verified(&accounts, "a@example.com", "alpha").await;
        let (_, old) = reset_link(&accounts, "a@example.com").await;
        clock.advance(RESET_PASSWORD_VALID_SECS);
        assert!(matches!(accounts.reset_password(&old, OTHER).await, Err(ResetError::InvalidLink)));

        let (_, first) = reset_link(&accounts, "a@example.com").await;
        let (_, second) = reset_link(&accounts, "a@example.com").await;
        accounts.reset_password(&second, OTHER).await.expect("reset");
        assert!(matches!(accounts.reset_password(&first, GOOD).await, Err(ResetError::InvalidLink)));
    }

    #[tokio::test]
    async fn a_reset_confirms_an_unconfirmed_address_and_kills_its_verification_links() {
        let (accounts, _clock, _dir) = accounts().await;
        let id = created(&accounts, "a@example.com", "alpha").await;
        let verification = accounts.issue_verification(id).await.expect("db").expect("token");
        let (_, token) = reset_link(&accounts, "a@example.com").await;
        let user = accounts.reset_password(&token, OTHER).await.expect("reset");
        assert!(user.email_verified);
        assert!(sign_in(&accounts, "a@example.com", OTHER).await.is_ok());
        assert!(matches!(accounts.verify_email(&verification).await, Err(VerifyError::InvalidLink)));
    }

    #[tokio::test]
    async fn no_reset_link_for_an_unknown_address() {
        let (accounts, _clock, _dir) = accounts().await;
        let unknown = Email::parse("nobody@example.com").expect("email");
        assert!(accounts.issue_reset(&unknown).await.expect("db").is_none());
    }

    #[tokio::test]
    async fn an_account_never_confirmed_is_deleted_after_a_week_and_frees_its_username() {
        let (accounts, clock, _dir) = accounts().await;
        let stale = created(&accounts, "a@example.com", "alpha").await;
        verified(&accounts, "b@example.com", "beta").await;
        clock.advance(UNCONFIRMED_ACCOUNT_LIFETIME_SECS - 3600);
        // A fresh link keeps an old unconfirmed account alive until the link expires.
        accounts.issue_verification(stale).await.expect("db").expect("token");
        clock.advance(7200);
        assert_eq!(accounts.delete_stale_unconfirmed().await.expect("db"), 0, "its link is live");
        clock.advance(VERIFY_EMAIL_VALID_SECS);
        assert_eq!(accounts.delete_stale_unconfirmed().await.expect("db"), 1);
        assert!(accounts.find_user(stale).await.expect("db").is_none());
        assert!(sign_in(&accounts, "b@example.com", GOOD).await.is_ok(), "confirmed accounts stay");
        assert!(matches!(
            outcome(&accounts, "c@example.com", "alpha", GOOD).await,
            SignupOutcome::Created(_)
        ));
    }
}
