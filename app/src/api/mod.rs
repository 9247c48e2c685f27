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
mod email_change;
mod impersonation;
mod recovery;
mod sessions;
pub use self::{
    account::*, admin::*, approvals::*, email_change::*, impersonation::*, recovery::*, sessions::*,
};

/// What the UI may know about the signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: i64,
    pub email: String,
    pub username: String,
    pub role: Role,
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

/// Signs in: on success the session id is rotated and the user recorded in the
/// server-side session, and a browser without a device cookie for the account gets one.
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
        let attempt = Attempt {
            ip: client_ip()?,
            email: &email,
            password: &password,
            device_cookie: device_cookie.as_deref(),
            context: &audit_context(),
        };
        let signed_in =
            sign_in(&accounts()?, &throttle()?, &devices()?, attempt).await.map_err(sign_in_error)?;
        SessionState::extract().await?.log_in(&signed_in.user).await?;
        if let Some(new) = &signed_in.new_device {
            set_device_cookie(new);
        }
        tracing::info!(event = "authn_login_success", user_id = signed_in.user.id, "signed in");
        leptos_axum::redirect("/");
        Ok(())
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
        Self { id: user.id, email: user.email, username: user.username, role: user.role, impersonation }
    }
}

#[cfg(feature = "ssr")]
mod access;
#[cfg(feature = "ssr")]
pub mod ssr;
