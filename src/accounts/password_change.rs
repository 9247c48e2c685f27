//! The owner changes their password: the current one again, then a new one under the
//! same rules as signup (the account's address and username as context for the strength
//! check). A wrong current password counts against the account like a failed sign-in.
//!
//! The new hash is written only while the caller's session still exists and the account
//! is still at the epoch the session was signed in at, in the same statement, with the
//! audit event in the same transaction: a change that was in flight when its session was
//! revoked (or the account disabled, or another change committed) changes nothing. The
//! write bumps the epoch, which ends every session of the account, this one included;
//! the caller then gets a fresh session (a new id) at the new epoch.

use std::net::IpAddr;

use super::{store, Accounts, ReauthError, UnexpectedError, User};
use crate::{
    audit::{self, Event},
    hashing::HashError,
    messages::{SAME_PASSWORD, WRONG_CURRENT_PASSWORD},
    throttle::{Throttle, Throttled},
    Field, FieldErrors, Password,
};

/// One request to change a password.
pub struct PasswordChange<'a> {
    pub user: &'a User,
    /// The caller's session (its registry key): nothing changes once it is gone.
    pub session_key: &'a str,
    /// The epoch that session was signed in at.
    pub session_epoch: i64,
    pub ip: IpAddr,
    pub current: &'a str,
    pub new: &'a str,
    pub context: &'a audit::Context,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("throttled for {} s", .0.retry_after_secs)]
    Throttled(Throttled),
    /// The hashing queue is full; nothing was checked or counted.
    #[error("the server is busy")]
    Busy,
    /// A field broke a rule, or the current password is wrong (under its field).
    #[error("invalid input")]
    Invalid(FieldErrors),
    /// The session ended, or the account changed, while this change was in flight.
    #[error("the session ended during the change")]
    SessionEnded,
    /// The last wrong current password this session was allowed: the caller must end the
    /// session (see `Recovery::change_password`).
    #[error("too many wrong passwords")]
    TooManyWrong,
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl From<sqlx::Error> for ChangeError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(e.into())
    }
}

impl From<HashError> for ChangeError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => Self::Busy,
            other => Self::Unexpected(other.into()),
        }
    }
}

impl Accounts {
    /// Changes the password (see the module documentation); the account as it now is.
    pub async fn change_password(
        &self,
        throttle: &Throttle,
        change: PasswordChange<'_>,
    ) -> Result<User, ChangeError> {
        let user = change.user;
        let mut errors = FieldErrors::default();
        let current = Password::parse_existing(change.current)
            .map_err(|e| errors.insert(Field::CurrentPassword, e.to_string()))
            .ok();
        let new = Password::parse(change.new, self.policy)
            .map_err(|e| errors.insert(Field::Password, e.to_string()))
            .ok();
        let (Some(current), Some(new)) = (current, new) else { return Err(ChangeError::Invalid(errors)) };
        let budget = crate::throttle::Budget::Session(change.session_key);
        self.reauthenticate(
            throttle,
            user,
            (change.ip, budget),
            &current,
            change.context,
            Event::PasswordChange,
        )
        .await?;

        if new.expose_secret() == current.expose_secret() {
            return Err(ChangeError::Invalid(FieldErrors::single(Field::Password, SAME_PASSWORD)));
        }
        let inputs = crate::password::user_inputs(&user.email, &user.username);
        if let Some(weak) = self.weakness(new.clone(), inputs).await.map_err(unexpected)? {
            return Err(ChangeError::Invalid(FieldErrors::single(Field::Password, weak)));
        }
        let new_hash = self.hasher.hash(&new).await?;

        let now = self.clock.now();
        let mut tx = crate::db::write(&self.pool).await?;
        let changed =
            store::change_password(&mut tx, user.id, change.session_epoch, change.session_key, &new_hash)
                .await?;
        if !changed {
            return Err(ChangeError::SessionEnded);
        }
        let entry = audit::Entry::new(Event::PasswordChange, Some(user.id), Some(user.id), change.context);
        audit::record(&mut tx, now, &entry).await?;
        // Read inside the write transaction: a reset that commits right after this one must
        // not lend its epoch to the session and device cookie made from what is returned.
        let changed = store::find_user(&mut tx, user.id).await?.ok_or(ChangeError::SessionEnded)?;
        tx.commit().await?;
        Ok(changed)
    }
}

impl From<ReauthError> for ChangeError {
    fn from(e: ReauthError) -> Self {
        match e {
            ReauthError::WrongPassword => {
                Self::Invalid(FieldErrors::single(Field::CurrentPassword, WRONG_CURRENT_PASSWORD))
            }
            ReauthError::Throttled(verdict) => Self::Throttled(verdict),
            ReauthError::Busy => Self::Busy,
            ReauthError::Gone => Self::SessionEnded,
            ReauthError::Exhausted => Self::TooManyWrong,
            ReauthError::Unexpected(cause) => Self::Unexpected(cause),
        }
    }
}

fn unexpected(e: UnexpectedError) -> ChangeError {
    match e {
        UnexpectedError::Hashing(HashError::Busy) => ChangeError::Busy,
        other => ChangeError::Unexpected(other),
    }
}
