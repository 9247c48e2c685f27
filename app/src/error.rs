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
    /// 403: the right password, for an account an admin disabled.
    #[error(
        "This account has been disabled. If you think this is a mistake, contact the site's administrators."
    )]
    AccountDisabled,
    /// 403: the right password, for an account an admin locked.
    #[error("This account is locked. The site's administrators can unlock it.")]
    AccountLocked,
    /// 403: the account must choose a new password before anything else.
    #[error("Please choose a new password before going on.")]
    PasswordChangeRequired,
    /// 401: the sign-in waiting for its second step is over (expired, used, too many wrong
    /// codes): the password again.
    #[error("Your sign-in has timed out. Please sign in again.")]
    SecondStepExpired,
    /// 409: the account already has an authenticator app.
    #[error("An authenticator app is already set up for this account.")]
    FactorAlreadySet,
    /// 409: the setup waiting for a code is over (expired, or restarted elsewhere).
    #[error("This setup has expired or was restarted. Please start again.")]
    EnrolmentExpired,
    /// 409: an admin keeps a second factor.
    #[error("An administrator's account must keep two-factor sign-in.")]
    AdminNeedsFactor,
    /// 409: the account has no second factor.
    #[error("Two-factor sign-in is not set up for this account.")]
    NoFactor,
    /// 401: the passkey request this answer belongs to is over (expired, answered, or
    /// never started here).
    #[error("That passkey request has expired. Please try again.")]
    PasskeyExpired,
    /// 401: the passkey's answer was not accepted (not one of this account's passkeys, no
    /// user verification, a bad signature, or a passkey set aside).
    #[error("That passkey was not accepted. Try again, or use another way to sign in.")]
    PasskeyRefused,
    /// 404: passkeys are not available on this site's address (an IP address in
    /// development): not a server fault.
    #[error("Passkeys are not available here. Please use another way to sign in.")]
    PasskeysUnavailable,
    /// 409: this passkey is registered already.
    #[error("This passkey is already registered.")]
    PasskeyAlreadyAdded,
    /// 422: a passkey's name is too long or has control characters.
    #[error("A passkey's name has at most 64 characters.")]
    PasskeyName,
    /// 403: an administrator without a second factor reaches only its set-up.
    #[error("Administrators must set up two-factor sign-in before anything else.")]
    FactorRequired,
    /// 403: the action needs the password typed again (step-up) first.
    #[error("For your security, please confirm it is you to continue.")]
    StepUpRequired,
    /// 409: the change would leave no administrator who can act.
    #[error("This would leave the site without an administrator who can act.")]
    LastAdmin,
    /// 409: an administrator's account is deleted by another administrator (the
    /// two-person rule), not from its own deletion page.
    #[error("An administrator's account is deleted by another administrator: ask one.")]
    AdminAccountDeletion,
    /// 409: the account is closing for deletion (or erased): nothing more is done to it.
    #[error("This account is being deleted.")]
    AccountClosing,
    /// 409: an admin action that may not target the admin's own account.
    #[error("You cannot do this to your own account.")]
    NotOnYourself,
    /// 409: an admin may not approve their own request (two-person rule).
    #[error("Another administrator must approve this: you asked for it.")]
    ApprovalOwnRequest,
    /// 409: an admin may not approve a request about their own account.
    #[error("This request is about your own account: another administrator must approve it.")]
    ApprovalAboutYou,
    /// 409: only the admin who asked may withdraw a request.
    #[error("Only the administrator who asked can withdraw this request. If nobody approves it, it lapses.")]
    ApprovalNotYours,
    /// 429: the admin already has as many requests waiting as one may.
    #[error("Ten of your requests already wait for approval. Withdraw one, or wait until they are decided.")]
    ApprovalTooMany,
    /// 409: the request was approved, withdrawn or expired meanwhile.
    #[error("That request is no longer waiting: it was approved, withdrawn or it expired.")]
    ApprovalNotWaiting,
    /// 422: disabling needs a reason.
    #[error("Please give a reason (at most 500 characters).")]
    ReasonRequired,
    /// 422: the end of a disablement must be later than now.
    #[error("The end date must be in the future.")]
    UntilInPast,
    /// 403: refused while an admin is impersonating: nothing was changed.
    #[error(
        "Not available while you are viewing someone else's account. Stop impersonating to do this as yourself."
    )]
    ImpersonationBlocked,
    /// 422: an impersonation needs a reason of 10 to 500 characters.
    #[error("Please give a reason of 10 to 500 characters.")]
    ImpersonationReason,
    /// 409: the account may not be impersonated; the message says why.
    #[error("{}", .0.message())]
    CannotImpersonate(ImpersonationRefusal),
    /// 409: the admin already has a live impersonation.
    #[error("You are already impersonating someone. Stop that first.")]
    AlreadyImpersonating,
    /// 409: an email-change link would give the account an address that another account
    /// has now (told only to whoever holds a link mailed to that address).
    #[error("That address now belongs to another account, so this account's address stays as it is.")]
    AddressTaken,
    /// 409: a cancel link for an email change that has already happened.
    #[error(
        "That change has already happened. To undo it, use the \"Recover my account\" link we mailed to this address when it did."
    )]
    EmailAlreadyChanged,
    /// 403: sign-up is by invitation on this site; the same answer for every address.
    #[error("Sign-up on this site is by invitation only. Ask an administrator for an invitation.")]
    SignupByInvitation,
    /// 409: an invitation to the admin role is approved for one link.
    #[error("An invitation to an administrator's account is not sent again: revoke it and invite again (another administrator approves it).")]
    InvitationAdminResend,
    /// 429: the invitation was mailed a moment ago.
    #[error(
        "This invitation was mailed a few minutes ago. Please wait ten minutes before sending it again."
    )]
    InvitationResentRecently,
    /// 409: the invited address has had an account since (told only to whoever holds the
    /// link mailed to it).
    #[error(
        "This address already has an account. Sign in instead, or choose a new password if you forgot it."
    )]
    InvitationAddressTaken,
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
    /// 503: the server is too busy to check a password right now; nothing was counted.
    #[error("The server is busy. Please try again in a few seconds.")]
    Busy { retry_after_secs: i64 },
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
            Self::InvalidCredentials
            | Self::Unauthorized
            | Self::SecondStepExpired
            | Self::PasskeyExpired
            | Self::PasskeyRefused => 401,
            Self::Forbidden
            | Self::AccountDisabled
            | Self::AccountLocked
            | Self::PasswordChangeRequired
            | Self::FactorRequired
            | Self::StepUpRequired
            | Self::ImpersonationBlocked
            | Self::SignupByInvitation => 403,
            Self::LastAdmin
            | Self::AdminAccountDeletion
            | Self::AccountClosing
            | Self::NotOnYourself
            | Self::CannotImpersonate(_)
            | Self::AlreadyImpersonating
            | Self::AddressTaken
            | Self::EmailAlreadyChanged
            | Self::ApprovalOwnRequest
            | Self::ApprovalAboutYou
            | Self::ApprovalNotYours
            | Self::ApprovalNotWaiting
            | Self::FactorAlreadySet
            | Self::EnrolmentExpired
            | Self::AdminNeedsFactor
            | Self::NoFactor
            | Self::PasskeyAlreadyAdded
            | Self::InvitationAddressTaken
            | Self::InvitationAdminResend => 409,
            Self::ReasonRequired | Self::UntilInPast | Self::ImpersonationReason | Self::PasskeyName => 422,
            Self::BadRequest | Self::InvalidLink => 400,
            Self::NotFound | Self::PasskeysUnavailable => 404,
            Self::TooManyRequests { .. } | Self::ApprovalTooMany | Self::InvitationResentRecently => 429,
            Self::Busy { .. } => 503,
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

/// Why an account may not be impersonated (a closed set, each with its message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImpersonationRefusal {
    Yourself,
    Admin,
    Disabled,
    Locked,
    Unconfirmed,
    MustChangePassword,
    NoConsent,
}

impl ImpersonationRefusal {
    pub fn message(self) -> &'static str {
        match self {
            Self::Yourself => "You cannot impersonate yourself.",
            Self::Admin => "Administrators cannot be impersonated.",
            Self::Disabled => "This account is disabled, so it cannot be impersonated.",
            Self::Locked => "This account is locked, so it cannot be impersonated.",
            Self::Unconfirmed => {
                "This account's email address is not confirmed, so it cannot be impersonated."
            }
            Self::MustChangePassword => {
                "This account must choose a new password first, so it cannot be impersonated."
            }
            Self::NoConsent => {
                "The account's owner has not granted support access, so it cannot be impersonated."
            }
        }
    }
}

/// "30 seconds", "1 minute", "15 minutes", "2 hours", "30 days": rounded up, so nobody
/// retries too early.
fn wait_words(secs: i64) -> String {
    let secs = secs.max(1);
    let (count, unit) = if secs < 60 {
        (secs, "second")
    } else if secs <= 90 * 60 {
        (ceil_div(secs, 60), "minute")
    } else if secs <= 36 * 3600 {
        (ceil_div(secs, 3600), "hour")
    } else {
        (ceil_div(secs, 86_400), "day")
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural}")
}

/// `a / b` rounded up, for positive `a` and `b`, without overflow.
fn ceil_div(a: i64, b: i64) -> i64 {
    a / b + i64::from(a % b != 0)
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(_)
            | ServerFnErrorErr::MissingArg(_)
            | ServerFnErrorErr::UnsupportedRequestMethod(_) => Self::BadRequest,
            // On the server: a body that is not text. In the browser it is an answer that is
            // not ours (a proxy's error page, a panic's 500): the server's fault, not the
            // request's.
            #[cfg(feature = "ssr")]
            ServerFnErrorErr::Deserialization(_) => Self::BadRequest,
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
    fn long_waits_are_said_in_hours_or_days_and_never_overflow() {
        let words = |secs| ApiError::TooManyRequests { retry_after_secs: secs }.to_string();
        assert_eq!(words(3 * 3600), "Too many attempts. Please wait 3 hours and try again.");
        assert_eq!(words(30 * 86_400), "Too many attempts. Please wait 30 days and try again.");
        assert!(words(i64::MAX).contains("days"));
        assert!(words(i64::MIN).contains("1 second"));
    }

    #[test]
    fn a_busy_server_answers_503() {
        assert_eq!(ApiError::Busy { retry_after_secs: 2 }.status(), 503);
    }

    #[test]
    fn validation_errors_are_unprocessable_and_carry_field_messages() {
        let error = ApiError::Validation(FieldErrors::single(bulwark::Field::Email, "bad"));
        assert_eq!(error.status(), 422);
        assert_eq!(error.field(bulwark::Field::Email).as_deref(), Some("bad"));
        assert_eq!(error.field(bulwark::Field::Password), None);
    }
}
