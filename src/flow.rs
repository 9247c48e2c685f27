//! What the flows around mail have in common: signup, confirming an address, asking for a
//! link, resetting a password ([`crate::registration`], [`crate::recovery`]). One error
//! type, holding only what the client may be told, and the checks every "mail me a link"
//! request starts with.

use std::net::IpAddr;

use crate::{
    accounts::{AccountError, Accounts, ConfirmError, ResetError, UnexpectedError},
    devices::Device,
    throttle::{LinkKind, LinkMail, Throttle, Throttled},
    Email, Field, FieldErrors,
};

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("throttled for {} s", .0.retry_after_secs)]
    Throttled(Throttled),
    /// The input broke a rule; messages per field.
    #[error("invalid input")]
    Invalid(FieldErrors),
    /// Unknown, used, expired or superseded link: one answer.
    #[error("invalid, used or expired link")]
    InvalidLink,
    /// The strength check's queue is full; nothing was changed.
    #[error("the server is busy")]
    Busy,
    /// Sign-up is by invitation on this site: refused before anything is looked at, so the
    /// answer is the same for every address.
    #[error("sign-up is by invitation")]
    ByInvitation,
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl From<sqlx::Error> for FlowError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(e.into())
    }
}

impl From<AccountError> for FlowError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid(errors) => Self::Invalid(errors),
            // Not produced by these flows (sign-in has its own error); kept total.
            AccountError::InvalidCredentials => Self::Invalid(FieldErrors::default()),
            AccountError::Unexpected(cause) => Self::unexpected(cause),
        }
    }
}

impl FlowError {
    /// A full hashing queue is its own answer (503), not an internal error.
    fn unexpected(cause: UnexpectedError) -> Self {
        match cause {
            UnexpectedError::Hashing(crate::hashing::HashError::Busy) => Self::Busy,
            other => Self::Unexpected(other),
        }
    }
}

impl From<ConfirmError> for FlowError {
    fn from(e: ConfirmError) -> Self {
        match e {
            ConfirmError::InvalidLink => Self::InvalidLink,
            ConfirmError::Invalid(errors) => Self::Invalid(errors),
            ConfirmError::Unexpected(cause) => Self::unexpected(cause),
        }
    }
}

impl From<ResetError> for FlowError {
    fn from(e: ResetError) -> Self {
        match e {
            ResetError::InvalidLink => Self::InvalidLink,
            ResetError::Invalid(errors) => Self::Invalid(errors),
            ResetError::Throttled(verdict) => Self::Throttled(verdict),
            ResetError::Unexpected(cause) => Self::unexpected(cause),
        }
    }
}

/// The start of every "mail me a link" request: the address must parse, and the request
/// is counted against the client IP, its networks' shares of the site-wide rate, the
/// address (whether or not it has an account) and the site-wide rate itself, all before
/// anything is looked up (see [`Throttle::link_mail_request`]). Returns the address and
/// when a mail may go out; the address's own cap is counted later, only once a lookup
/// found something to send ([`Throttle::link_mail_to`]). A request from a browser holding
/// a device cookie of that address's account skips the site's caps, a few times an hour.
pub(crate) async fn link_request(
    throttle: &Throttle,
    accounts: &Accounts,
    ip: IpAddr,
    email: &str,
    device: Option<&Device>,
    kind: LinkKind,
) -> Result<(Email, LinkMail), FlowError> {
    let email = Email::parse(email)
        .map_err(|e| FlowError::Invalid(FieldErrors::single(Field::Email, e.to_string())))?;
    let trusted = match device {
        Some(device) => accounts.find_user(device.user_id).await?.is_some_and(|u| u.email == email.as_str()),
        None => false,
    };
    let mail = throttle.link_mail_request(ip, &email, kind, trusted).await?.map_err(FlowError::Throttled)?;
    Ok((email, mail))
}
