//! Forgotten passwords: ask for a reset link, then set a new password with it.

#[cfg(feature = "ssr")]
use bulwark::mail::templates::RESET_PATH;
use leptos::prelude::*;

use crate::error::ApiError;

/// Where a password reset sends the browser: sign in with the new password.
pub const AFTER_RESET: &str = "/login";
/// Where a form post (no JavaScript) with a dead reset link lands.
pub const RESET_LINK_INVALID: &str = "/forgot-password";

/// Mails a reset link if the address has an account. The same answer for every address;
/// throttled per client IP and per address.
#[server(prefix = "/api", endpoint = "forgot-password")]
pub async fn forgot_password(#[server(default)] email: String) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let ip = client_ip()?;
        let device = current_device().await?;
        recovery()?.request_reset(ip, &email, device.as_ref()).await.map_err(flow_error)?;
        leptos_axum::redirect(super::CHECK_EMAIL);
        Ok(())
    }
    .await
}

/// Sets a new password with the token from a reset link. Every session of the account
/// ends. A refused password leaves the link usable. For an account with a second factor,
/// a code from the app (`code`) or a recovery code (`recovery_code`) is needed too.
#[server(prefix = "/api", endpoint = "reset-password")]
pub async fn reset_password(
    #[server(default)] token: String,
    #[server(default)] password: String,
    #[server(default)] code: String,
    #[server(default)] recovery_code: String,
) -> Result<(), ApiError> {
    use super::ssr::*;
    use bulwark::factors::Answer;
    async {
        let ip = client_ip()?;
        let answer = Answer::from_fields(&code, &recovery_code);
        let factors = factors()?;
        let verdict =
            recovery()?.reset_password((ip, &token, &password), (&factors, answer), &audit_context()).await;
        match verdict.map_err(flow_error) {
            Ok(user) => {
                // Every device cookie of the account died with the reset; this browser
                // just proved the mailbox, so it gets a new one (unannounced): its next
                // sign-in spends its own budget, not the one strangers' guesses block.
                // The new password has committed: a failure here costs this browser its device
                // cookie, not the answer (a retry would find the link used).
                match devices()?.signed_in(&user, None, None).await {
                    Ok(Some(new)) => set_device_cookie(&new),
                    Ok(None) => {}
                    Err(error) => tracing::warn!(error = %error, "after a reset: no device cookie issued"),
                }
                crate::flash::ssr::redirect(AFTER_RESET, crate::flash::notice::PASSWORD_RESET);
                Ok(())
            }
            Err(error) => {
                Err(token_page_failed::<ResetPassword>(error, RESET_PATH, &token, RESET_LINK_INVALID))
            }
        }
    }
    .await
}

/// Whether the account a live reset link is for has a second factor (its page then asks
/// for a code with the new password). `false` for a dead link. Reads only.
#[server(prefix = "/api", endpoint = "reset-link-factor")]
pub async fn reset_link_factor(#[server(default)] token: String) -> Result<bool, ApiError> {
    use super::ssr::*;
    async {
        let user = accounts()?.reset_link_user(&token).await.map_err(account_error)?;
        Ok(user.is_some_and(|u| u.has_factor()))
    }
    .await
}

/// The address a mailed link acts for (`link`: `reset`, `cancel` or `recover`): the account
/// it was mailed to, for the link's page to name before anything is typed or pressed.
/// Without it, an attacker who mails a victim a genuine link for the attacker's own
/// account gets the site to tell the victim "your account is back" (review N6). `None`
/// for a link that is unknown or past its window, and for a used reset link (a cancel or
/// recovery link keeps naming its address within its window after use, so the page's
/// "done" can say whose account it was). Reads only: nothing is used up, so mail scanners
/// that open links change nothing.
#[server(prefix = "/api", endpoint = "link-address")]
pub async fn link_address(
    #[server(default)] link: String,
    #[server(default)] token: String,
) -> Result<Option<String>, ApiError> {
    use super::ssr::*;
    async {
        use bulwark::email_change::Link;
        let link = match link.as_str() {
            "reset" => return accounts()?.reset_link_address(&token).await.map_err(account_error),
            "cancel" => Link::Cancel,
            "recover" => Link::Recover,
            _ => return Err(ApiError::BadRequest),
        };
        email_changes()?.link_address(link, &token).await.map_err(email_change_error)
    }
    .await
}
