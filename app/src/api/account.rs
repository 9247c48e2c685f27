//! The signed-in user's own account: changing the password, and reading their recent
//! security activity.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// The password page.
pub const PASSWORD_PAGE: &str = "/account/password";
/// Where a changed password lands.
pub const PASSWORD_CHANGED: &str = "/account/password";
/// The security activity page.
pub const ACTIVITY_PAGE: &str = "/account/activity";

/// Changes the signed-in user's password: the current one, then the new one (same rules as
/// signup). Every other session of the account ends, this one continues under a new id,
/// and the owner is mailed a notice. A wrong current password counts like a failed
/// sign-in.
#[server(prefix = "/api", endpoint = "change-password")]
pub async fn change_password(
    #[server(default)] current_password: String,
    #[server(default)] password: String,
) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let principal = current()?;
        // On an account with a second factor, the current password alone does not prove
        // the owner: a recent step-up with the factor does (unless an admin required the
        // change, when this session's sign-in passed the second step moments ago).
        if principal.user.has_factor() && !principal.confined() {
            stepped_up()?;
        }
        let context = audit_context();
        let change = bulwark::accounts::PasswordChange {
            user: &principal.user,
            session_key: &principal.session_key,
            session_epoch: principal.session.epoch,
            ip: client_ip()?,
            current: &current_password,
            new: &password,
            context: &context,
        };
        let completed = recovery()?.change_password(change).await.map_err(change_error)?;
        SessionState::extract().await?.log_in(&completed).await?;
        let user = completed.user();
        // Every device cookie of the account died with the old password; this browser,
        // where the owner just proved it twice, gets a new one at once (unannounced), so
        // its next sign-in is neither throttled as a stranger's nor reported as new.
        if let Some(new) = devices()?.signed_in(user, None, None).await.map_err(session_error)? {
            set_device_cookie(&new);
        }
        tracing::info!(event = "authn_password_change", user_id = user.id, "password changed");
        crate::flash::ssr::redirect(PASSWORD_CHANGED, crate::flash::notice::PASSWORD_CHANGED);
        Ok(())
    }
    .await
}

/// The step-up page.
pub const STEP_UP_PAGE: &str = "/step-up";

/// Where a step-up returns to: a path on this site, never another origin.
pub fn safe_next(next: &str) -> &str {
    let local =
        next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') && !next.contains("://");
    if local && !next.chars().any(char::is_control) {
        next
    } else {
        "/"
    }
}

/// Step-up ("sudo mode"): the signed-in user proves it again; the session gets a new id
/// and remembers the time, which sensitive actions check. Without a second factor, the
/// password; with one, a code from the app (or a recovery code), and the password alone
/// does not count. Throttled on this session's own budget and the client address (never
/// the account's budget for strangers, which anyone can exhaust); the last wrong answer it
/// is allowed ends the session. Returns the browser to `next` (a path on this site).
#[server(prefix = "/api", endpoint = "step-up")]
pub async fn step_up(
    #[server(default)] password: String,
    #[server(default)] code: String,
    #[server(default)] recovery_code: String,
    #[server(default)] next: String,
) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let principal = current()?;
        if principal.user.has_factor() {
            return step_up_with_factor(principal, &code, &recovery_code, &next).await;
        }
        let wrong = || {
            ApiError::Validation(bulwark::FieldErrors::single(
                bulwark::Field::CurrentPassword,
                bulwark::messages::WRONG_CURRENT_PASSWORD,
            ))
        };
        let Ok(password) = bulwark::Password::parse_existing(&password) else { return Err(wrong()) };
        let context = audit_context();
        let verdict = accounts()?
            .reauthenticate(
                &throttle()?,
                &principal.user,
                (client_ip()?, bulwark::throttle::Budget::Session(&principal.session_key)),
                &password,
                &context,
                bulwark::audit::Event::StepUp,
            )
            .await;
        match verdict {
            Ok(()) => {}
            Err(bulwark::accounts::ReauthError::WrongPassword) => return Err(wrong()),
            Err(bulwark::accounts::ReauthError::Exhausted) => {
                // This session has had its guesses at the password: it ends.
                registry()?.forget(&principal.session_key).await.map_err(session_error)?;
                return Err(ApiError::Unauthorized);
            }
            Err(bulwark::accounts::ReauthError::Throttled(verdict)) => return Err(too_many(verdict)),
            Err(bulwark::accounts::ReauthError::Busy) => return Err(busy()),
            Err(bulwark::accounts::ReauthError::Gone) => return Err(ApiError::Unauthorized),
            Err(bulwark::accounts::ReauthError::Unexpected(cause)) => {
                return Err(unexpected("step-up failed unexpectedly", &cause));
            }
        }
        let session = SessionState::extract().await?;
        session.step_up(&principal, false).await?;
        leptos_axum::redirect(safe_next(&next));
        Ok(())
    }
    .await
}

/// Step-up on an account with a second factor: a code or a recovery code.
#[cfg(feature = "ssr")]
async fn step_up_with_factor(
    principal: bulwark::sessions::Principal,
    code: &str,
    recovery_code: &str,
    next: &str,
) -> Result<(), ApiError> {
    let Some(answer) = bulwark::factors::Answer::from_fields(code, recovery_code) else {
        return Err(ApiError::Validation(bulwark::FieldErrors::single(
            bulwark::Field::Code,
            bulwark::messages::CODE_EMPTY,
        )));
    };
    step_up_with_answer(principal, answer, next).await
}

/// Step-up with a factor's answer (a code, a recovery code, a passkey): counted on this
/// session's own budget; the last wrong answer it is allowed ends the session.
#[cfg(feature = "ssr")]
pub(super) async fn step_up_with_answer(
    principal: bulwark::sessions::Principal,
    answer: bulwark::factors::Answer<'_>,
    next: &str,
) -> Result<(), ApiError> {
    use super::ssr::*;
    use bulwark::factors::FactorError;
    if principal.impersonation.is_some() {
        return Err(ApiError::ImpersonationBlocked);
    }
    let verdict = factors()?
        .step_up(&principal.user, (client_ip()?, &principal.session_key), answer, &audit_context())
        .await;
    match verdict {
        Ok(_) => {}
        Err(FactorError::Exhausted) => {
            // This session has had its guesses: it ends.
            registry()?.forget(&principal.session_key).await.map_err(session_error)?;
            return Err(ApiError::Unauthorized);
        }
        Err(other) => return Err(factor_error(other)),
    }
    SessionState::extract().await?.step_up(&principal, true).await?;
    leptos_axum::redirect(safe_next(next));
    Ok(())
}

/// One security event as its subject sees it. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityView {
    pub at: i64,
    /// What happened, in words.
    pub what: String,
    pub success: bool,
    /// By an admin rather than the owner.
    pub by_admin: bool,
    pub ip: Option<String>,
    pub device: Option<String>,
    /// More about an impersonation: who, why, how it ended.
    pub note: Option<String>,
}

/// The signed-in user's recent security activity (newest first, at most 50): sign-ins,
/// password changes, sessions ended, and what admins did to the account.
#[server(prefix = "/api", endpoint = "activity")]
pub async fn my_activity() -> Result<Vec<ActivityView>, ApiError> {
    use super::ssr::*;
    async {
        let principal = current()?;
        let user_id = principal.user.id;
        let events = activity(user_id).await?;
        Ok(events
            .into_iter()
            .map(|event| {
                // Where an admin acted from is not for the account's owner to see.
                let by_admin = event.actor.is_some_and(|actor| actor != user_id);
                let note = impersonation_note(&event.event, &event.details);
                // An admin reading their own activity sees the accounts they viewed in
                // their own words.
                let what = match event.event.as_str() {
                    "authz_impersonation_start" if event.subject != Some(user_id) => {
                        format!(
                            "You started viewing account #{} as its user",
                            event.subject.unwrap_or_default()
                        )
                    }
                    "authz_impersonation_end" if event.subject != Some(user_id) => {
                        format!("You stopped viewing account #{}", event.subject.unwrap_or_default())
                    }
                    name => factor_words(name, event.success, &event.details)
                        .unwrap_or_else(|| describe_event(name, event.success).to_owned()),
                };
                ActivityView {
                    note,
                    at: event.at,
                    what,
                    success: event.success,
                    by_admin,
                    ip: if by_admin { None } else { event.ip },
                    device: if by_admin { None } else { event.device },
                }
            })
            .collect())
    }
    .await
}

/// An event about a second factor in words that name it (which factor; a passkey's name).
#[cfg(feature = "ssr")]
pub fn factor_words(event: &str, success: bool, details: &str) -> Option<String> {
    let details: serde_json::Value = serde_json::from_str(details).ok()?;
    let factor = details["factor"].as_str()?;
    let name = details["name"].as_str().unwrap_or("a passkey");
    Some(match (event, factor, success) {
        ("authn_factor_added", "passkey", _) => format!("Passkey added: {name}"),
        ("authn_factor_added", "totp", _) => "Authenticator app set up (two-factor sign-in)".to_owned(),
        ("authn_factor_removed", "passkey", _) => format!("Passkey removed: {name}"),
        ("authn_factor_removed", "totp", _) => "Authenticator app removed".to_owned(),
        ("authn_passkey_renamed", _, _) => {
            format!("Passkey renamed: {} to {name}", details["from"].as_str().unwrap_or("?"))
        }
        ("authn_passkey_flagged", _, _) => {
            format!("Passkey set aside (its counter went backwards, so it may have been copied): {name}")
        }
        ("authn_login_success", "passkey", true) => "Signed in with a passkey".to_owned(),
        ("authn_login_fail", "passkey", _) => "Failed sign-in with a passkey".to_owned(),
        ("authn_second_step", "passkey", false) => "Passkey refused at the second step".to_owned(),
        ("authn_reauth", "passkey", true) => "Confirmed it was you with a passkey".to_owned(),
        ("authn_reauth", "passkey", false) => "A passkey was refused when confirming it was you".to_owned(),
        _ => return None,
    })
}

/// Who started an impersonation and why, or how it ended and after how long.
#[cfg(feature = "ssr")]
fn impersonation_note(event: &str, details: &str) -> Option<String> {
    let details: serde_json::Value = serde_json::from_str(details).ok()?;
    match event {
        "authz_impersonation_start" => Some(format!(
            "{} gave the reason: \"{}\"",
            details["admin"].as_str().unwrap_or("An administrator"),
            details["reason"].as_str().unwrap_or_default()
        )),
        "authz_impersonation_end" => {
            let minutes = details["duration_secs"].as_i64().unwrap_or(0) / 60;
            let how = super::describe_ending(details["how"].as_str().unwrap_or_default());
            Some(format!("After {minutes} min: {how}"))
        }
        _ => None,
    }
}

/// An event's name in words for its subject.
pub fn describe_event(event: &str, success: bool) -> &'static str {
    match (event, success) {
        ("authn_login_success", true) => "Signed in",
        ("authn_login_success", false) => "Sign-in refused: the account was disabled or locked",
        ("authn_login_fail", _) => "Failed sign-in (wrong password)",
        ("authn_password_change", true) => "Password changed",
        ("authn_password_change", false) => "Password change refused (wrong current password)",
        ("authn_password_reset", _) => "Password reset by email link",
        ("user_disabled", _) => "Account disabled by an administrator",
        ("user_enabled", _) => "Account enabled by an administrator",
        ("user_locked", _) => "Account locked by an administrator",
        ("user_unlocked", _) => "Account unlocked by an administrator",
        ("authz_admin_password_reset", _) => "Password reset required by an administrator",
        ("authz_role_change", _) => "Role changed by an administrator",
        ("session_revoked", _) => "Sessions signed out",
        ("user_created", _) => "Account created",
        ("authz_impersonation_start", _) => "An administrator started viewing your account as you",
        ("authz_impersonation_end", _) => "An administrator stopped viewing your account",
        ("authz_support_access_granted", _) => "Support access granted",
        ("authz_support_access_revoked", _) => "Support access withdrawn",
        ("user_email_change_requested", _) => {
            "Email address change asked for (a link went to the new address)"
        }
        ("user_email_changed", _) => "Email address changed",
        ("user_email_change_cancelled", _) => "Email address change cancelled",
        ("user_email_change_recovered", _) => "Account recovered to its earlier email address",
        ("authn_factor_added", _) => "Two-factor sign-in turned on (authenticator app)",
        ("authn_factor_removed", _) => "Two-factor sign-in turned off",
        ("authn_recovery_codes_renewed", _) => "New recovery codes made (the old ones stopped working)",
        ("authn_second_step", true) => "Second step passed",
        ("authn_second_step", false) => "Wrong code at the second step (after the right password)",
        ("authz_admin_factors_reset", _) => "Two-factor sign-in reset by an administrator",
        ("authn_passkey_renamed", _) => "Passkey renamed",
        ("authn_passkey_flagged", _) => "Passkey set aside (its counter went backwards)",
        ("user_deletion_requested", _) => "Account deletion asked for",
        ("user_deletion_undone", _) => "Account deletion undone with the mailed link",
        ("user_erased", _) => "Account erased",
        ("user_data_exported", _) => "Your data was downloaded",
        _ => "Account event",
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn a_step_up_only_returns_to_this_site() {
        assert_eq!(safe_next("/admin/users/3?x=1"), "/admin/users/3?x=1");
        for hostile in ["https://evil.example/", "//evil.example/", "/\\evil.example", "", "admin", "/a\nb"] {
            assert_eq!(safe_next(hostile), "/", "{hostile:?}");
        }
    }
}
