//! The one error type that crosses the wire. Its variants are a closed set of messages
//! that are safe to show; causes stay in the server log. Each variant's HTTP status is
//! given by [`ApiError::status`].

use bulwark::FieldErrors;
use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ApiError {
    /// 422: the input broke a rule; the map says which field and why.
    #[error("Please correct the highlighted fields.")]
    Validation(FieldErrors),
    /// 401: sign-in failed. One message for every cause, so it reveals nothing.
    #[error("Incorrect email or password.")]
    InvalidCredentials,
    /// 401: the request needs a signed-in session.
    #[error("Please sign in to continue.")]
    Unauthorized,
    /// 403: signed in, but not allowed.
    #[error("You are not allowed to do that.")]
    Forbidden,
    /// 429: too many attempts; the same answer whether or not the account exists.
    #[error("Too many attempts. Please wait {} and try again.", wait_words(*retry_after_secs))]
    TooManyRequests { retry_after_secs: i64 },
    /// 404: the thing asked for does not exist (or is not the caller's).
    #[error("That no longer exists. It may already have been removed.")]
    NotFound,
    /// 400: a link from a mail that is unknown, used, expired or superseded (one answer).
    #[error("This link is invalid, has already been used, or has expired.")]
    InvalidLink,
    /// 400: the request was not a well-formed call of this endpoint.
    #[error("The request could not be understood. Please reload the page and try again.")]
    BadRequest,
    /// 500: something failed on the server; details are in its log.
    #[error("Something went wrong on our side. Please try again in a moment.")]
    Internal,
    /// The browser could not reach the server (never sent by the server).
    #[error("Could not reach the server. Check your connection and try again.")]
    Network,
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            Self::Validation(_) => 422,
            Self::InvalidCredentials | Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::BadRequest | Self::InvalidLink => 400,
            Self::NotFound => 404,
            Self::TooManyRequests { .. } => 429,
            Self::Internal | Self::Network => 500,
        }
    }

    /// The message for one field, when this is a validation error that has one.
    pub fn field(&self, field: bulwark::Field) -> Option<String> {
        match self {
            Self::Validation(errors) => errors.get(field).map(str::to_owned),
            _ => None,
        }
    }
}

/// "30 seconds", "1 minute", "15 minutes": rounded up, so nobody retries too early.
fn wait_words(secs: i64) -> String {
    let secs = secs.max(1);
    if secs < 60 {
        let plural = if secs == 1 { "" } else { "s" };
        format!("{secs} second{plural}")
    } else {
        let minutes = (secs + 59) / 60;
        let plural = if minutes == 1 { "" } else { "s" };
        format!("{minutes} minute{plural}")
    }
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(_)
            | ServerFnErrorErr::MissingArg(_)
            | ServerFnErrorErr::UnsupportedRequestMethod(_) => Self::BadRequest,
            ServerFnErrorErr::Request(_) => Self::Network,
            _ => Self::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_credential_failure_shares_one_message_and_status() {
        assert_eq!(ApiError::InvalidCredentials.status(), 401);
        assert_eq!(ApiError::InvalidCredentials.to_string(), "Incorrect email or password.");
    }

    #[test]
    fn a_throttled_answer_says_when_to_try_again_rounded_up() {
        let error = ApiError::TooManyRequests { retry_after_secs: 61 };
        assert_eq!(error.status(), 429);
        assert_eq!(error.to_string(), "Too many attempts. Please wait 2 minutes and try again.");
        assert_eq!(
            ApiError::TooManyRequests { retry_after_secs: 30 }.to_string(),
            "Too many attempts. Please wait 30 seconds and try again."
        );
    }

    #[test]
    fn validation_errors_are_unprocessable_and_carry_field_messages() {
        let error = ApiError::Validation(FieldErrors::single(bulwark::Field::Email, "bad"));
        assert_eq!(error.status(), 422);
        assert_eq!(error.field(bulwark::Field::Email).as_deref(), Some("bad"));
        assert_eq!(error.field(bulwark::Field::Password), None);
    }
}
