//! Signing in, in the one order that is safe: throttle first (a throttled attempt costs no
//! hash and says nothing about the account), then credentials, then the throttle's
//! bookkeeping. Server functions call this and only add the session.

use std::net::IpAddr;

use super::{AccountError, Accounts, UnexpectedError, User};
use crate::{
    throttle::{Throttle, Throttled},
    Email, LoginForm,
};

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("throttled for {} s", .0.retry_after_secs)]
    Throttled(Throttled),
    /// Unknown email, wrong password, malformed input: one variant.
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl From<sqlx::Error> for SignInError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(e.into())
    }
}

/// Checks `email` and `password` as typed, from client address `ip`.
pub async fn sign_in(
    accounts: &Accounts,
    throttle: &Throttle,
    ip: IpAddr,
    email: &str,
    password: &str,
) -> Result<User, SignInError> {
    // The account counter is keyed by the email whether or not an account has it.
    let email = Email::parse(email).ok();
    throttle.check_login(ip, email.as_ref()).await?.map_err(SignInError::Throttled)?;
    let verdict = match LoginForm::parse_parts(email.clone(), password) {
        Some(form) => accounts.verify_credentials(&form.email, &form.password).await,
        None => Err(AccountError::InvalidCredentials),
    };
    match verdict {
        Ok(user) => {
            if let Some(email) = &email {
                throttle.login_succeeded(email).await?;
            }
            Ok(user)
        }
        Err(AccountError::InvalidCredentials | AccountError::Invalid(_)) => {
            let subject = email.as_ref().map(|e| throttle.log_tag(e));
            tracing::info!(event = "authn_login_fail", subject = subject.as_deref().unwrap_or("malformed"));
            throttle.login_failed(ip, email.as_ref()).await?;
            Err(SignInError::InvalidCredentials)
        }
        Err(AccountError::Unexpected(cause)) => Err(cause.into()),
    }
}
