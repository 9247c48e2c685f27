//! Typing the password again while signed in: before a password change, and for step-up
//! ("sudo mode"). Throttled exactly like a sign-in of the account from a stranger's
//! browser (the client's address and the account's budget), so a stolen session cannot
//! guess the password any faster than a sign-in form could. Each verdict is an audit
//! event.

use std::net::IpAddr;

use super::{store, Accounts, User};
use crate::{
    audit::{self, Event},
    hashing::HashError,
    throttle::{Budget, Throttle, Throttled},
    Email, Password,
};

#[derive(Debug, thiserror::Error)]
pub enum ReauthError {
    #[error("throttled for {} s", .0.retry_after_secs)]
    Throttled(Throttled),
    /// The hashing queue is full; nothing was checked or counted.
    #[error("the server is busy")]
    Busy,
    #[error("wrong password")]
    WrongPassword,
    /// The account is gone or its address no longer reads.
    #[error("the account changed")]
    Gone,
    #[error(transparent)]
    Unexpected(#[from] super::UnexpectedError),
}

impl From<sqlx::Error> for ReauthError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(e.into())
    }
}

impl From<HashError> for ReauthError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => Self::Busy,
            other => Self::Unexpected(other.into()),
        }
    }
}

impl Accounts {
    /// Checks that `password` is `user`'s, recording `event` (a failure on a wrong one).
    pub async fn reauthenticate(
        &self,
        throttle: &Throttle,
        user: &User,
        ip: IpAddr,
        password: &Password,
        context: &audit::Context,
        event: Event,
    ) -> Result<(), ReauthError> {
        let email = Email::parse(&user.email).map_err(|_| ReauthError::Gone)?;
        let reservation = throttle
            .reserve_login(ip, Budget::Untrusted(Some(&email)))
            .await?
            .map_err(ReauthError::Throttled)?;
        let Some((reservation, ticket)) =
            super::sign_in::admit_reserved(&self.hasher, reservation, crate::hashing::Priority::Normal)
                .await?
        else {
            return Err(ReauthError::Busy);
        };
        let found =
            store::find_credentials(&self.pool, &email).await?.filter(|(found, _)| found.id == user.id);
        let Some((_, stored_hash)) = found else { return Err(ReauthError::Gone) };
        let matches = self.hasher.verify(ticket, password, Some(stored_hash)).await?;
        // Step-up and password change come from the account's own session, so it is the
        // actor; an email-change confirmation link can be followed by anyone.
        let actor = if event == Event::EmailChanged { None } else { Some(user.id) };
        let mut entry = audit::Entry::new(event, actor, Some(user.id), context);
        if matches {
            reservation.succeeded().await?;
        } else {
            reservation.failed().await?;
            entry = entry.failed().details(serde_json::json!({ "reason": "wrong password" }));
        }
        // A success is recorded by the caller with the change it allows, when there is one.
        if !matches || event == Event::StepUp {
            let mut connection = self.pool.acquire().await?;
            audit::record(&mut connection, self.clock.now(), &entry).await?;
        }
        if matches {
            Ok(())
        } else {
            Err(ReauthError::WrongPassword)
        }
    }
}
