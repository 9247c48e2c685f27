//! Server functions: the HTTP surface, at stable URLs under `/api`. Each is a thin shell:
//! parse the input with the shared schema, call a service, map the outcome. Mutations use
//! the default URL-encoded form body so the same `<form>` works without JavaScript.

#[cfg(feature = "ssr")]
use bulwark::mail::templates::VERIFY_PATH;
use bulwark::Role;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

mod account;
mod admin;
mod approvals;
mod deletion;
mod email_change;
mod export;
mod factors;
mod impersonation;
mod invitations;
mod passkeys;
mod recovery;
mod sessions;
pub use self::{
    account::*, admin::*, approvals::*, deletion::*, email_change::*, export::*, factors::*,
    impersonation::*, invitations::*, passkeys::*, recovery::*, sessions::*,
};

/// What the UI may know about the signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: i64,
    pub email: String,
    pub username: String,
    pub role: Role,
    /// Signing in takes a second factor (and so does step-up).
    pub has_factor: bool,
    /// Set while an admin is impersonating this user (the banner).
    pub impersonation: Option<ImpersonationBanner>,
}

/// Where a valid signup or a resend request sends the browser: "check your email".
pub const CHECK_EMAIL: &str = "/check-email";
/// Where a confirmed address is sent to sign in.
pub const AFTER_VERIFY: &str = "/login";
/// Where a form post (no JavaScript) with a dead verification link lands.
pub const LINK_INVALID: &str = "/verify-email/resend";

/// Starts an account: a pending signup, confirmed from the mailed link. Whatever the
/// address's state the answer is the same "check your email"; only the mail that follows
/// differs, and it goes to the address's owner.
#[server(prefix = "/api", endpoint = "signup")]
pub async fn signup(
    #[server(default)] email: String,
    #[server(default)] username: String,
    #[server(default)] password: String,
) -> Result<(), ApiError> {
    use self::ssr::*;
    async {
        let ip = client_ip()?;
        registration()?.sign_up(ip, &email, &username, &password).await.map_err(flow_error)?;
        leptos_axum::redirect(CHECK_EMAIL);
        Ok(())
    }
    .await
}

/// Follows a verification link: the token from the link's query, the password chosen at
/// that signup, and (only when the chosen one was taken meanwhile) another username,
/// posted by the page's form (never on GET, so mail scanners that open links use nothing
/// up). Creates the account.
#[server(prefix = "/api", endpoint = "verify-email")]
pub async fn verify_email(
    #[server(default)] token: String,
    #[server(default)] password: String,
    #[server(default)] username: String,
) -> Result<(), ApiError> {
    use self::ssr::*;
    async {
        let ip = client_ip()?;
        let verdict = registration()?.verify_email(ip, &token, &password, Some(&username)).await;
        match verdict.map_err(flow_error) {
            Ok(_) => {
                crate::flash::ssr::redirect(AFTER_VERIFY, crate::flash::notice::EMAIL_VERIFIED);
                Ok(())
            }
            Err(error) => Err(token_page_failed::<VerifyEmail>(error, VERIFY_PATH, &token, LINK_INVALID)),
        }
    }
    .await
}

/// Mails a new link for the address's newest pending signup, if it has one. Same answer
/// for every address; throttled per client IP and per address.
#[server(prefix = "/api", endpoint = "resend-verification")]
pub async fn resend_verification(#[server(default)] email: String) -> Result<(), ApiError> {
    use self::ssr::*;
    async {
        let ip = client_ip()?;
        let device = current_device().await?;
        registration()?.resend_verification(ip, &email, device.as_ref()).await.map_err(flow_error)?;
        leptos_axum::redirect(CHECK_EMAIL);
        Ok(())
    }
    .await
}

/// Where a right password for an account with a second factor goes: the second step.
pub const SECOND_STEP_PAGE: &str = "/login/second-step";

/// Signs in: on success the session id is rotated and the user recorded in the
/// server-side session, and a browser without a device cookie for the account gets one.
/// For an account with a second factor, the right password makes no session: a pending
/// second step (its own cookie) and the browser is sent to [`SECOND_STEP_PAGE`].
/// Every failure is the same 401; too many failures for the address or the account, a
/// 429 that is the same whether the account exists; a full hashing queue, 503.
#[server(prefix = "/api", endpoint = "login")]
pub async fn login(
    #[server(default)] email: String,
    #[server(default)] password: String,
) -> Result<(), ApiError> {
    use self::ssr::*;
    async {
        let device_cookie = device_cookie_value();
        let context = audit_context();
        let attempt = Attempt {
            ip: client_ip()?,
            email: &email,
            password: &password,
            device_cookie: device_cookie.as_deref(),
            context: &context,
        };
        let checked =
            sign_in(&accounts()?, &throttle()?, &devices()?, attempt).await.map_err(sign_in_error)?;
        finish_sign_in(bulwark::completion::Step::Password(checked), device_cookie.as_deref(), &context).await
    }
    .await
}

/// Hands a step of a sign-in to the one function that completes it, and does what it
/// decides: begin the session (and set the device cookie), or ask for the second step.
#[cfg(feature = "ssr")]
async fn finish_sign_in(
    step: bulwark::completion::Step,
    device_cookie: Option<&str>,
    context: &bulwark::audit::Context,
) -> Result<(), ApiError> {
    use self::ssr::*;
    use bulwark::completion::{complete, Outcome, Services};
    let (accounts, devices, factors) = (accounts()?, devices()?, factors()?);
    let services = Services { accounts: &accounts, devices: &devices, factors: &factors };
    match complete(services, step, device_cookie, context).await.map_err(sign_in_error)? {
        Outcome::SecondStep(pending) => {
            let max_age = pending.expires_at.saturating_sub(factors.now());
            set_second_step_cookie(&pending.cookie, max_age);
            leptos_axum::redirect(SECOND_STEP_PAGE);
        }
        Outcome::SignedIn { completed, new_device, codes_left } => {
            SessionState::extract().await?.log_in(&completed).await?;
            if let Some(new) = &new_device {
                set_device_cookie(new);
            }
            tracing::info!(event = "authn_login_success", user_id = completed.user().id, "signed in");
            let user = completed.user();
            match codes_left {
                Some(left) if left <= bulwark::factors::recovery_codes::FEW_LEFT => {
                    crate::flash::ssr::redirect(SECURITY_PAGE, crate::flash::notice::FEW_RECOVERY_CODES)
                }
                // An admin without a second factor reaches only its set-up (see the server's
                // `caller`): straight there.
                _ if user.role == bulwark::Role::Admin && !user.has_factor() => {
                    leptos_axum::redirect(SECURITY_PAGE)
                }
                _ => leptos_axum::redirect("/"),
            }
        }
    }
    Ok(())
}

/// The second step of a sign-in: a code from the authenticator app, or (instead) one of
/// the recovery codes. Only a pending second step's cookie is accepted, never a session;
/// a right answer completes the sign-in (a new session id). A wrong one is 422 and counts
/// on the account's second-step budget (429 past it); a pending step that expired, was
/// used, or had five wrong answers is 401: sign in again.
#[server(prefix = "/api", endpoint = "second-step")]
pub async fn second_step(
    #[server(default)] code: String,
    #[server(default)] recovery_code: String,
) -> Result<(), ApiError> {
    async {
        let Some(answer) = bulwark::factors::Answer::from_fields(&code, &recovery_code) else {
            return Err(ApiError::Validation(bulwark::FieldErrors::single(
                bulwark::Field::Code,
                bulwark::messages::CODE_EMPTY,
            )));
        };
        answer_second_step(answer).await
    }
    .await
}

/// Checks `answer` (a code, a recovery code, a passkey) for this browser's pending second
/// step and, when right, completes the sign-in.
#[cfg(feature = "ssr")]
async fn answer_second_step(answer: bulwark::factors::Answer<'_>) -> Result<(), ApiError> {
    use self::ssr::*;
    use bulwark::factors::SecondStepError;
    let cookie = second_step_cookie_value();
    let context = audit_context();
    let verdict = factors()?.second_step(client_ip()?, cookie.as_deref(), answer, &context).await;
    let passed = match verdict {
        Ok(passed) => passed,
        Err(SecondStepError::Wrong(factor)) => return Err(wrong_code(factor)),
        Err(SecondStepError::Expired | SecondStepError::Exhausted) => {
            expire_second_step_cookie();
            return Err(ApiError::SecondStepExpired);
        }
        Err(SecondStepError::Throttled(verdict)) => return Err(too_many(verdict)),
        Err(SecondStepError::Unexpected(cause)) => return Err(unexpected("second step failed", &cause)),
    };
    expire_second_step_cookie();
    let device_cookie = device_cookie_value();
    finish_sign_in(bulwark::completion::Step::SecondFactor(passed), device_cookie.as_deref(), &context).await
}

/// Whether this browser has a sign-in waiting for its second step (the page shows the
/// form, or says to sign in again).
#[server(prefix = "/api", endpoint = "second-step-waiting")]
pub async fn second_step_waiting() -> Result<bool, ApiError> {
    use self::ssr::*;
    async {
        let cookie = second_step_cookie_value();
        factors()?
            .second_step_waiting(cookie.as_deref())
            .await
            .map_err(|e| unexpected("second step lookup failed", &e))
    }
    .await
}

/// Ends the session on the server: the record and its registry row are deleted, so a
/// copied cookie is dead; the session cookie is expired and the browser is told to drop
/// the site's storage (the device cookie stays: it is what lets its owner in during an
/// attack on the account).
#[server(prefix = "/api", endpoint = "logout")]
pub async fn logout() -> Result<(), ApiError> {
    use self::ssr::*;
    async {
        SessionState::extract().await?.log_out().await?;
        clear_site_data();
        leptos_axum::redirect("/");
        Ok(())
    }
    .await
}

/// The signed-in user, or 401: for API clients.
#[server(prefix = "/api", endpoint = "me")]
pub async fn me() -> Result<CurrentUser, ApiError> {
    use self::ssr::*;
    current().map(CurrentUser::from)
}

/// The signed-in user if there is one: what the pages ask on every navigation. Being
/// signed out is an ordinary answer here, not an error, so the browser's console stays
/// free of 401s.
#[server(prefix = "/api", endpoint = "session")]
pub async fn session() -> Result<Option<CurrentUser>, ApiError> {
    use self::ssr::*;
    match current() {
        Ok(principal) => Ok(Some(CurrentUser::from(principal))),
        Err(ApiError::Unauthorized) => Ok(None),
        Err(other) => Err(other),
    }
}

#[cfg(feature = "ssr")]
impl From<bulwark::sessions::Principal> for CurrentUser {
    fn from(principal: bulwark::sessions::Principal) -> Self {
        let now = self::ssr::services().map_or(0, |s| s.registry.now());
        let user = principal.user;
        let impersonation = principal.impersonation.map(|i| ImpersonationBanner {
            admin: i.admin_username,
            reason: i.reason,
            expires_at: i.expires_at,
            now,
        });
        let has_factor = user.has_factor();
        Self {
            id: user.id,
            email: user.email,
            username: user.username,
            role: user.role,
            has_factor,
            impersonation,
        }
    }
}

#[cfg(feature = "ssr")]
mod access;
#[cfg(feature = "ssr")]
mod cookies;
#[cfg(feature = "ssr")]
pub mod ssr;
