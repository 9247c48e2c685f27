//! The account aggregate: signing up and checking credentials.
//!
//! Two properties the audited systems lacked are built in here rather than left to the
//! callers:
//! - **No enumeration at signup.** A taken email or username hashes the password exactly
//!   as a new account would and then changes nothing; the caller gets
//!   [`SignupOutcome::AlreadyRegistered`] only so that a later mail can tell the real
//!   owner, and must answer the client exactly as for [`SignupOutcome::Created`].
//! - **No enumeration at sign-in.** Unknown email and wrong password are one error,
//!   [`AccountError::InvalidCredentials`], and cost the same argon2 verification.

mod sign_in;
mod store;

use std::time::{SystemTime, UNIX_EPOCH};

pub use self::{
    sign_in::{sign_in, SignInError},
    store::NewUser,
};
use crate::{
    db::SqlitePool,
    hashing::{HashError, PasswordHasher},
    strength::{self, WeakPassword},
    Email, Field, FieldErrors, Password, PasswordPolicy, Role, SignupForm,
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
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User").field("id", &self.id).field("role", &self.role).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignupOutcome {
    Created(UserId),
    /// The email or the username already belongs to an account. Nothing was changed.
    AlreadyRegistered,
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

/// The accounts service. Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    pool: SqlitePool,
    hasher: PasswordHasher,
    policy: PasswordPolicy,
}

impl Accounts {
    pub fn new(pool: SqlitePool, hasher: PasswordHasher, policy: PasswordPolicy) -> Self {
        Self { pool, hasher, policy }
    }

    pub fn policy(&self) -> PasswordPolicy {
        self.policy
    }

    /// Parses the signup form, checks the password's strength, and creates the account
    /// unless the email or username is taken. Every field problem is reported at once:
    /// the strength verdict too, even when another field is wrong. A taken identity runs
    /// the same strength check and the same argon2 hash as a new one, so timing matches.
    #[tracing::instrument(name = "sign_up", skip_all)]
    pub async fn sign_up(
        &self,
        email: &str,
        username: &str,
        password: &str,
    ) -> Result<SignupOutcome, AccountError> {
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
            created_at: now_unix(),
        };
        Ok(match store::insert_user(&self.pool, &new_user).await? {
            Some(id) => SignupOutcome::Created(id),
            None => SignupOutcome::AlreadyRegistered,
        })
    }

    /// zxcvbn's verdict, computed off the async workers (it is CPU-bound).
    async fn weakness(
        &self,
        password: Password,
        inputs: Vec<String>,
    ) -> Result<Option<WeakPassword>, AccountError> {
        let verdict = tokio::task::spawn_blocking(move || {
            let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            strength::check(&password, &inputs)
        })
        .await
        .map_err(UnexpectedError::from)?;
        Ok(verdict.err())
    }

    /// Returns the user if `password` is theirs. Unknown emails cost one dummy
    /// verification and return the same error as a wrong password.
    #[tracing::instrument(name = "verify_credentials", skip_all)]
    pub async fn verify_credentials(&self, email: &Email, password: &Password) -> Result<User, AccountError> {
        let found = store::find_credentials(&self.pool, email).await?;
        let (user, stored_hash) = match found {
            Some((user, hash)) => (Some(user), Some(hash)),
            None => (None, None),
        };
        let matches = self.hasher.verify(password, stored_hash).await?;
        match user {
            Some(user) if matches => Ok(user),
            _ => Err(AccountError::InvalidCredentials),
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

fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{db, hashing::HashParams};

    async fn accounts() -> (Accounts, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.expect("db");
        db::migrate(&pool).await.expect("migrate");
        let hasher = PasswordHasher::new(HashParams::default()).expect("hasher");
        (Accounts::new(pool, hasher, PasswordPolicy::default()), dir)
    }

    const GOOD: &str = "violet quasar harbour tulip 83";

    fn field_errors(result: Result<SignupOutcome, AccountError>) -> FieldErrors {
        match result {
            Err(AccountError::Invalid(errors)) => errors,
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn signing_up_twice_with_the_same_email_creates_one_account() {
        let (accounts, _dir) = accounts().await;
        let first = accounts.sign_up("a@example.com", "alpha", GOOD).await;
        assert!(matches!(first, Ok(SignupOutcome::Created(_))));
        let again = accounts.sign_up(" A@Example.com", "beta", GOOD).await;
        assert!(matches!(again, Ok(SignupOutcome::AlreadyRegistered)));
    }

    #[tokio::test]
    async fn a_username_differing_only_in_case_is_taken() {
        let (accounts, _dir) = accounts().await;
        accounts.sign_up("a@example.com", "Alpha", GOOD).await.expect("created");
        let again = accounts.sign_up("b@example.com", "ALPHA", GOOD).await;
        assert!(matches!(again, Ok(SignupOutcome::AlreadyRegistered)));
    }

    #[tokio::test]
    async fn a_weak_password_is_refused_with_feedback() {
        let (accounts, _dir) = accounts().await;
        let errors =
            field_errors(accounts.sign_up("kitten@example.com", "kitten", "kittenkittenkitten").await);
        let message = errors.get(Field::Password).expect("password message");
        assert!(message.starts_with("This password is too easy to guess."), "{message}");
    }

    #[tokio::test]
    async fn a_weak_password_is_reported_even_when_another_field_is_invalid() {
        let (accounts, _dir) = accounts().await;
        let errors = field_errors(accounts.sign_up("someone@example.com", "root", "passwordpassword1").await);
        assert!(errors.get(Field::Username).is_some());
        assert!(errors.get(Field::Password).is_some());
        assert!(errors.get(Field::Email).is_none());
    }

    #[tokio::test]
    async fn unknown_email_and_wrong_password_are_the_same_error() {
        let (accounts, _dir) = accounts().await;
        accounts.sign_up("a@example.com", "alpha", GOOD).await.expect("created");
        let wrong = Password::parse_existing("not the password at all").expect("shape");
        let known = Email::parse("a@example.com").expect("email");
        let unknown = Email::parse("nobody@example.com").expect("email");
        let wrong_password = accounts.verify_credentials(&known, &wrong).await;
        let unknown_email = accounts.verify_credentials(&unknown, &wrong).await;
        assert!(matches!(wrong_password, Err(AccountError::InvalidCredentials)));
        assert!(matches!(unknown_email, Err(AccountError::InvalidCredentials)));
        let right = Password::parse_existing(GOOD).expect("shape");
        let user = accounts.verify_credentials(&known, &right).await.expect("signs in");
        assert_eq!(user.username, "alpha");
    }
}
