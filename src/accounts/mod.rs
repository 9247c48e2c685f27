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

mod password_change;
mod pending;
mod provision;
mod reauth;
mod reset;
pub(crate) mod sign_in;
mod signup;
mod standing;
pub mod store;

pub use self::{
    password_change::{ChangeError, PasswordChange},
    provision::{Inserted, ProvisionError},
    reauth::ReauthError,
    reset::{FactorCheck, NoFactor, ResetError},
    sign_in::{sign_in, Attempt, PasswordChecked, SignInError, BUSY_RETRY_AFTER_SECS},
    signup::{
        CheckedSignup, ConfirmError, PreparedSignup, Signup, SignupOutcome, CONFIRM_ATTEMPTS,
        PENDING_PER_ADDRESS,
    },
    standing::{Block, Standing},
    store::NewUser,
};
use crate::{
    breached::Breaches,
    clock::SharedClock,
    db::Pool,
    hashing::{HashError, PasswordHasher, Ticket},
    strength, Email, FieldErrors, Password, PasswordPolicy, Role,
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
    /// Disabled, locked, must change password (see [`Standing`]).
    pub standing: Standing,
    /// Since when the account has a second factor (see `factors`); `None`: it has none,
    /// and the password alone signs in.
    pub factors_since: Option<crate::clock::UnixTime>,
}

impl User {
    /// Whether signing in (and stepping up) takes a second factor.
    pub fn has_factor(&self) -> bool {
        self.factors_since.is_some()
    }
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User").field("id", &self.id).field("role", &self.role).finish_non_exhaustive()
    }
}

/// How long a verification link works.
pub const VERIFY_EMAIL_VALID_SECS: i64 = 24 * 60 * 60;
/// How long a password reset link works.
pub const RESET_PASSWORD_VALID_SECS: i64 = 60 * 60;

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
    pool: Pool,
    hasher: PasswordHasher,
    policy: PasswordPolicy,
    clock: SharedClock,
    breaches: Breaches,
    /// Keys the hashes erased accounts' usernames are reserved under.
    username_key: std::sync::Arc<[u8]>,
}

/// The keyed hash an erased account's username is reserved under (its unique, lower-case
/// form; see `deletion`): the name itself is never stored once the account is erased.
pub fn retired_username_hash(key: &[u8], canonical: &str) -> String {
    crate::token::keyed_hex(key, b"bulwark retired username\0", canonical.as_bytes())
}

impl Accounts {
    pub fn new(pool: Pool, hasher: PasswordHasher, policy: PasswordPolicy, clock: SharedClock) -> Self {
        Self {
            pool,
            hasher,
            policy,
            clock,
            breaches: Breaches::default(),
            username_key: std::sync::Arc::from(&b""[..]),
        }
    }

    /// The server's secret, which keys the reserved usernames' hashes.
    pub fn with_secret(mut self, key: &[u8]) -> Self {
        self.username_key = key.into();
        self
    }

    /// The hash `canonical` would be reserved under.
    pub fn retired_username_hash(&self, canonical: &str) -> String {
        retired_username_hash(&self.username_key, canonical)
    }

    pub fn policy(&self) -> PasswordPolicy {
        self.policy
    }

    pub fn now(&self) -> crate::clock::UnixTime {
        self.clock.now()
    }

    /// The password hasher (shared by every clone), e.g. to count its work.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// Deletes expired one-time tokens; returns how many.
    pub async fn delete_expired_tokens(&self) -> Result<u64, AccountError> {
        Ok(store::delete_expired_tokens(&self.pool, self.clock.now()).await?)
    }

    /// Why a new password is refused beyond its length, as the field message: zxcvbn's
    /// verdict (computed on the hashing pool, whose bounded queue refuses a flood instead
    /// of queueing it), then the breached-password lists (see `breached`; a list that
    /// cannot answer lets the password through).
    pub(crate) async fn weakness(
        &self,
        password: Password,
        inputs: Vec<String>,
    ) -> Result<Option<String>, UnexpectedError> {
        let judged = password.clone();
        let verdict = self
            .hasher
            .run_bounded(move || {
                let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                strength::check(&judged, &inputs)
            })
            .await?;
        if let Err(weak) = verdict {
            return Ok(Some(weak.to_string()));
        }
        match self.breaches.count(&password).await {
            0 => Ok(None),
            count => {
                tracing::info!(
                    event = "authn_password_breached",
                    "a new password was found in a breach list"
                );
                Ok(Some(crate::messages::breached(count)))
            }
        }
    }

    /// Looks new passwords up in `breaches` too.
    pub fn with_breaches(self, breaches: Breaches) -> Self {
        Self { breaches, ..self }
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
        Ok(store::find_user(&mut self.pool.acquire().await?, id).await?)
    }

    /// Whether `email` belongs to a confirmed account (for work after a response only:
    /// its timing must not reach anyone).
    pub async fn has_account(&self, email: &Email) -> Result<bool, AccountError> {
        Ok(store::find_user_by_email(&self.pool, email).await?.is_some())
    }

    /// Whether `email` has a live pending signup (after a response only, as above).
    pub async fn has_pending(&self, email: &Email) -> Result<bool, AccountError> {
        let live = pending::live_of(&self.pool, email.as_str(), self.clock.now(), 1).await?;
        Ok(!live.is_empty())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{clock::ManualClock, db, hashing::HashParams};

    pub(super) async fn accounts() -> (Accounts, ManualClock, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.expect("db");
        db::migrate(&pool).await.expect("migrate");
        let hasher = PasswordHasher::new(HashParams::default()).expect("hasher");
        let clock = ManualClock::starting_at(1_000_000);
        (Accounts::new(pool, hasher, PasswordPolicy::default(), Arc::new(clock.clone())), clock, dir)
    }

    pub(super) const GOOD: &str = "violet quasar harbour tulip 83";
    pub(super) const OTHER: &str = "marble comet lantern fjord 47";

    pub(super) fn field_errors<T: std::fmt::Debug>(result: Result<T, AccountError>) -> FieldErrors {
        match result {
            Err(AccountError::Invalid(errors)) => errors,
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    /// A confirmed account with the password [`GOOD`].
    pub(super) async fn verified(accounts: &Accounts, email: &str, username: &str) -> UserId {
        let signup = accounts.sign_up(email, username, GOOD).await.expect("valid signup");
        let SignupOutcome::Pending { token } = signup.outcome else { panic!("the address is taken") };
        accounts.confirm_signup(&token, GOOD, None).await.expect("confirmed").id
    }

    pub(super) async fn sign_in(
        accounts: &Accounts,
        email: &str,
        password: &str,
    ) -> Result<User, AccountError> {
        let email = Email::parse(email).expect("email");
        accounts.verify_credentials(&email, &Password::parse_existing(password).expect("shape")).await
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
}
