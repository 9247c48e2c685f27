//! Server-side helpers of the server functions about who may do what: step-up, the admin
//! guard, the audit context, and mapping the account and admin services' errors.
//! Re-exported from `ssr`, so server functions keep one `use super::ssr::*`.

use bulwark::sessions::Principal;
use leptos::prelude::*;

use super::ssr::{busy, current, request_origin, service, services, session_error, too_many, unexpected};
use crate::error::ApiError;

/// The caller, if they re-entered their password within the step-up window for
/// sensitive actions; else `StepUpRequired` (or `Unauthorized`).
pub fn stepped_up() -> Result<Principal, ApiError> {
    let principal = current()?;
    let services = services().ok_or(ApiError::Internal)?;
    let now = services.registry.now();
    if principal.stepped_up_within(now, services.access.step_up_secs) {
        Ok(principal)
    } else {
        Err(ApiError::StepUpRequired)
    }
}

/// The caller, if an admin. Anonymous callers get `Unauthorized`, everyone else
/// `Forbidden`; with `change`, the admin must also have stepped up within the admin
/// window (`StepUpRequired`).
pub fn admin_caller(change: bool) -> Result<Principal, ApiError> {
    let principal = current()?;
    if principal.user.role != bulwark::Role::Admin {
        return Err(ApiError::Forbidden);
    }
    // The server's middleware keeps such an admin on the set-up already; this holds even
    // where a route were to miss it.
    if principal.needs_factor() {
        return Err(ApiError::FactorRequired);
    }
    if change {
        let services = services().ok_or(ApiError::Internal)?;
        if !principal.stepped_up_within(services.registry.now(), services.access.admin_step_up_secs) {
            return Err(ApiError::StepUpRequired);
        }
    }
    Ok(principal)
}

/// The oldest step-up that still counts for an admin change, now.
pub fn admin_step_up_since() -> Option<i64> {
    let services = services()?;
    Some(services.registry.now().saturating_sub(services.access.admin_step_up_secs) + 1)
}

/// Maps an admin action's failure.
pub fn admin_error(error: bulwark::admin::AdminError) -> ApiError {
    use bulwark::admin::AdminError;
    match error {
        AdminError::NotFound => ApiError::NotFound,
        AdminError::LastAdmin => ApiError::LastAdmin,
        AdminError::Closing => ApiError::AccountClosing,
        AdminError::Yourself => ApiError::NotOnYourself,
        AdminError::ActorGone => ApiError::Unauthorized,
        AdminError::ReasonRequired => ApiError::ReasonRequired,
        AdminError::UntilInPast => ApiError::UntilInPast,
        AdminError::NotWaiting => ApiError::ApprovalNotWaiting,
        AdminError::OwnRequest => ApiError::ApprovalOwnRequest,
        AdminError::AboutYou => ApiError::ApprovalAboutYou,
        AdminError::NotYours => ApiError::ApprovalNotYours,
        AdminError::TooManyWaiting => ApiError::ApprovalTooMany,
        AdminError::Unexpected(cause) => unexpected("admin action failed unexpectedly", &cause),
    }
}

/// The impersonation service.
pub fn impersonations() -> Result<bulwark::impersonation::Impersonations, ApiError> {
    service(|s| s.impersonations.clone())
}

/// Maps an impersonation's refusal.
pub fn impersonation_error(error: bulwark::impersonation::ImpersonationError) -> ApiError {
    use crate::error::ImpersonationRefusal as R;
    use bulwark::impersonation::ImpersonationError as E;
    match error {
        E::ReasonLength => ApiError::ImpersonationReason,
        E::NotFound => ApiError::NotFound,
        E::Yourself => ApiError::CannotImpersonate(R::Yourself),
        E::TargetIsAdmin => ApiError::CannotImpersonate(R::Admin),
        E::TargetDisabled => ApiError::CannotImpersonate(R::Disabled),
        E::TargetLocked => ApiError::CannotImpersonate(R::Locked),
        E::TargetUnconfirmed => ApiError::CannotImpersonate(R::Unconfirmed),
        E::TargetMustChangePassword => ApiError::CannotImpersonate(R::MustChangePassword),
        E::NoConsent => ApiError::CannotImpersonate(R::NoConsent),
        E::AlreadyImpersonating => ApiError::AlreadyImpersonating,
        E::RateLimited { retry_after_secs } => too_many(bulwark::throttle::Throttled {
            retry_after_secs: i64::try_from(retry_after_secs).unwrap_or(i64::MAX),
        }),
        E::ActorGone => ApiError::StepUpRequired,
        E::Unexpected(cause) => unexpected("impersonation failed unexpectedly", &cause),
        E::Session(cause) => session_error(cause),
    }
}

/// The admin service.
pub fn admin() -> Result<bulwark::admin::Admin, ApiError> {
    service(|s| s.admin.clone())
}

/// Where this request came from, as the audit log keeps it: the client's address, a
/// device summary and the request id.
pub fn audit_context() -> bulwark::audit::Context {
    let origin = request_origin();
    let parts = use_context::<http::request::Parts>();
    // Only an id of the form the server itself makes: a client may send its own
    // `x-request-id`, which must not put arbitrary text in the audit log.
    let request_id = parts
        .as_ref()
        .and_then(|p| p.headers.get("x-request-id"))
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_uuid(id))
        .map(str::to_owned);
    // During an impersonation every event names the admin as its actor.
    let impersonation = current().ok().and_then(|principal| {
        principal.impersonation.map(|i| bulwark::audit::OnBehalf {
            admin: i.admin_id,
            user: principal.user.id,
            impersonation: i.id,
        })
    });
    bulwark::audit::Context { ip: Some(origin.ip), device: Some(origin.device), request_id, impersonation }
}

/// The newest security events about or by `user_id` (their activity page).
pub async fn activity(user_id: bulwark::accounts::UserId) -> Result<Vec<bulwark::audit::Recorded>, ApiError> {
    let filter = bulwark::audit::Filter { involving: Some(user_id), limit: 50, ..Default::default() };
    let log = services().ok_or(ApiError::Internal)?.audit.clone();
    log.list(&filter).await.map_err(|e| unexpected("reading the audit log failed", &e))
}

/// `8-4-4-4-12` hexadecimal digits.
fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Maps a password change's failure.
pub fn change_error(error: bulwark::accounts::ChangeError) -> ApiError {
    use bulwark::accounts::ChangeError;
    match error {
        ChangeError::Throttled(verdict) => too_many(verdict),
        ChangeError::Busy => busy(),
        ChangeError::Invalid(errors) => ApiError::Validation(errors),
        ChangeError::SessionEnded | ChangeError::TooManyWrong => ApiError::Unauthorized,
        ChangeError::Unexpected(cause) => unexpected("password change failed unexpectedly", &cause),
    }
}

/// The email-change service.
pub fn email_changes() -> Result<bulwark::email_change::EmailChanges, ApiError> {
    service(|s| s.email_changes.clone())
}

/// Maps an email change's failure.
pub fn email_change_error(error: bulwark::email_change::EmailChangeError) -> ApiError {
    use bulwark::email_change::EmailChangeError as E;
    match error {
        E::Invalid(errors) => ApiError::Validation(errors),
        E::Throttled(verdict) => too_many(verdict),
        E::InvalidLink => ApiError::InvalidLink,
        E::WrongPassword => ApiError::Validation(bulwark::FieldErrors::single(
            bulwark::Field::CurrentPassword,
            bulwark::messages::WRONG_CURRENT_PASSWORD,
        )),
        E::AlreadyChanged => ApiError::EmailAlreadyChanged,
        E::AddressTaken => ApiError::AddressTaken,
        E::SessionEnded => ApiError::Unauthorized,
        E::Busy => busy(),
        E::Unexpected(cause) => unexpected("email change failed unexpectedly", &cause),
    }
}

/// Maps a factor operation's failure.
pub fn factor_error(error: bulwark::factors::FactorError) -> ApiError {
    use bulwark::factors::FactorError as E;
    match error {
        E::Throttled(verdict) => too_many(verdict),
        E::WrongCode => wrong_code(bulwark::factors::Factor::Totp),
        E::WrongRecoveryCode => wrong_code(bulwark::factors::Factor::RecoveryCode),
        E::WrongPasskey => ApiError::PasskeyRefused,
        E::Exhausted => ApiError::Unauthorized,
        E::AlreadyEnrolled => ApiError::FactorAlreadySet,
        E::NotWaiting => ApiError::EnrolmentExpired,
        E::NoFactor => ApiError::NoFactor,
        E::AdminNeedsFactor => ApiError::AdminNeedsFactor,
        E::SessionEnded => ApiError::Unauthorized,
        E::Unexpected(cause) => unexpected("factor operation failed unexpectedly", &cause),
    }
}

/// A wrong answer in the code field (one message for wrong, used and too old).
pub fn wrong_code(factor: bulwark::factors::Factor) -> ApiError {
    let message = match factor {
        bulwark::factors::Factor::Totp => bulwark::messages::WRONG_CODE,
        bulwark::factors::Factor::RecoveryCode => bulwark::messages::WRONG_RECOVERY_CODE,
        bulwark::factors::Factor::Passkey => return ApiError::PasskeyRefused,
    };
    ApiError::Validation(bulwark::FieldErrors::single(bulwark::Field::Code, message))
}

/// Maps a passkey operation's failure.
pub fn passkey_error(error: bulwark::factors::PasskeyError) -> ApiError {
    use bulwark::factors::PasskeyError as E;
    match error {
        E::Unavailable => ApiError::PasskeysUnavailable,
        E::Expired => ApiError::PasskeyExpired,
        E::Refused => ApiError::PasskeyRefused,
        E::Throttled(verdict) => too_many(verdict),
        E::AlreadyRegistered => ApiError::PasskeyAlreadyAdded,
        E::NoPasskey => ApiError::NotFound,
        E::BadName => ApiError::PasskeyName,
        E::AdminNeedsFactor => ApiError::AdminNeedsFactor,
        E::Unexpected(cause) => unexpected("passkey operation failed unexpectedly", &cause),
    }
}
