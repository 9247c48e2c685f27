//! Typing the password again to prove an account already in hand: while signed in, before
//! a password change and for step-up ("sudo mode"), and with an email-change confirmation
//! link. Each verdict is an audit event.
//!
//! Not throttled like a stranger's sign-in. The budget is the proof's own
//! ([`Budget::Session`]: this session; [`Budget::ChangeLink`]: this link) plus the client
//! address's ladder, never the account's budget for untrusted clients: that one is
//! anyone's to exhaust by guessing at the sign-in form, and spending it here let such a
//! flood keep the owner, on their own signed-in browser, from stepping up, changing the
//! password or signing a thief's sessions out. A proof that has failed
//! [`ThrottlePolicy::proof_max_failures`](crate::throttle::ThrottlePolicy) times ends
//! ([`ReauthError::Exhausted`]): a stolen session gets that many guesses, ever.

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
    /// A wrong password, and the last one this proof is allowed: the caller must end the
    /// session (or kill the link) it came with.
    #[error("too many wrong passwords")]
    Exhausted,
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
    /// Checks that `password` is `user`'s, recording `event` (a failure on a wrong one),
    /// from the client address `ip` on the proof's `budget`.
    pub async fn reauthenticate(
        &self,
        throttle: &Throttle,
        user: &User,
        (ip, budget): (IpAddr, Budget<'_>),
        password: &Password,
        context: &audit::Context,
        event: Event,
    ) -> Result<(), ReauthError> {
        debug_assert!(matches!(budget, Budget::Session(_) | Budget::ChangeLink(_)));
        let email = Email::parse(&user.email).map_err(|_| ReauthError::Gone)?;
        let reservation = throttle.reserve_login(ip, budget).await?.map_err(ReauthError::Throttled)?;
        let Some((reservation, ticket)) =
            // Trusted: the caller holds a session or a mailed link, and gets five wrong
            // passwords at most; strangers' sign-ins filling the ordinary places must not
            // keep the owner from stepping up (a flood of random addresses, review of N1).
            super::sign_in::admit_reserved(&self.hasher, reservation, crate::hashing::Priority::Trusted)
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
        let mut exhausted = false;
        if matches {
            reservation.succeeded().await?;
        } else {
            exhausted = reservation.failed().await?;
            let reason = if exhausted { "wrong password, the last allowed" } else { "wrong password" };
            entry = entry.failed().details(serde_json::json!({ "reason": reason }));
        }
        // A success is recorded by the caller with the change it allows, when there is one.
        if !matches || event == Event::StepUp {
            let mut connection = self.pool.acquire().await?;
            audit::record(&mut connection, self.clock.now(), &entry).await?;
        }
        match (matches, exhausted) {
            (true, _) => Ok(()),
            (false, false) => Err(ReauthError::WrongPassword),
            (false, true) => Err(ReauthError::Exhausted),
        }
    }
}
