//! Two-factor sign-in, seen from the account's owner: the security page's overview, setting
//! up an authenticator app (after a step-up), the recovery codes shown once, new codes, and
//! turning the app off. Every change needs a recent step-up; on an account with a factor
//! that step-up used the factor (see `Principal::stepped_up_within`).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// The account's security page.
pub const SECURITY_PAGE: &str = "/account/security";
/// Setting up an authenticator app.
pub const SETUP_APP_PAGE: &str = "/account/security/app";
/// New recovery codes, shown once.
pub const RECOVERY_CODES_PAGE: &str = "/account/security/recovery-codes";

/// What the security page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityView {
    /// An authenticator app is set up.
    pub app: bool,
    /// Unused recovery codes.
    pub codes_left: i64,
    /// Few codes are left: the page asks for new ones.
    pub few_codes_left: bool,
    /// An admin must keep a factor (no "turn off").
    pub admin: bool,
    /// New codes wait to be saved.
    pub codes_waiting: bool,
    /// The account's passkeys, oldest first.
    pub passkeys: Vec<super::PasskeyView>,
    /// Passkeys work on this site's address.
    pub passkeys_available: bool,
}

impl SecurityView {
    /// The account has a second factor (an app or a passkey).
    pub fn factor_on(&self) -> bool {
        self.app || !self.passkeys.is_empty()
    }

    /// Removing the app would leave an admin without a factor.
    pub fn app_is_last_factor(&self) -> bool {
        self.app && self.passkeys.is_empty()
    }
}

/// The security page's overview.
#[server(prefix = "/api", endpoint = "security")]
pub async fn security_overview() -> Result<SecurityView, ApiError> {
    use super::ssr::*;
    async {
        let principal = current()?;
        let factors = factors()?;
        let failed = |e: sqlx::Error| unexpected("reading factors failed", &e);
        let status = factors.status(principal.user.id).await.map_err(failed)?;
        let waiting =
            factors.codes_to_show(principal.user.id, &principal.session_key).await.map_err(failed)?.is_some();
        let passkeys = factors.passkeys(principal.user.id).await.map_err(failed)?;
        let factor_on = status.since.is_some();
        Ok(SecurityView {
            app: status.app,
            codes_left: status.recovery_codes_left,
            few_codes_left: factor_on
                && status.recovery_codes_left <= bulwark::factors::recovery_codes::FEW_LEFT,
            admin: principal.user.role == bulwark::Role::Admin,
            codes_waiting: waiting,
            passkeys: passkeys.into_iter().map(super::PasskeyView::from).collect(),
            passkeys_available: factors.passkeys_available(),
        })
    }
    .await
}

/// What the app set-up page shows: the QR code (inline SVG, drawn on the server), the key
/// typed out, and the names the app will show.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupView {
    pub qr_svg: String,
    pub key: String,
    pub issuer: String,
    pub label: String,
}

impl std::fmt::Debug for SetupView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SetupView(<redacted>)")
    }
}

/// Starts (or shows again) setting up an authenticator app: a secret made on the server,
/// kept until a code confirms it. Needs a recent step-up. The page is never cached
/// (`no-store`, like every page).
#[server(prefix = "/api", endpoint = "totp-setup")]
pub async fn totp_setup() -> Result<SetupView, ApiError> {
    use super::ssr::*;
    async {
        let principal = stepped_up()?;
        if principal.impersonation.is_some() {
            return Err(ApiError::ImpersonationBlocked);
        }
        let enrolment =
            factors()?.enrolment(&principal.user, &principal.session_key).await.map_err(factor_error)?;
        Ok(SetupView {
            qr_svg: enrolment.qr_svg,
            key: enrolment.key,
            issuer: enrolment.issuer,
            label: enrolment.label,
        })
    }
    .await
}

/// Confirms the app with a current code (on the session that started the set-up): it
/// becomes the account's factor, ten recovery codes are made (shown next, once, to this
/// session only), this session continues under a new id as freshly proved with the
/// factor, no other session's step-up counts any more, and every other session ends unless
/// `keep_others` is set. A notice is mailed.
#[server(prefix = "/api", endpoint = "totp-confirm")]
pub async fn confirm_totp(
    #[server(default)] code: String,
    #[server(default)] keep_others: String,
) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let principal = stepped_up()?;
        if principal.impersonation.is_some() {
            return Err(ApiError::ImpersonationBlocked);
        }
        let context = audit_context();
        let factors = factors()?;
        factors
            .confirm_enrolment(&principal.user, &principal.session_key, &code, &context)
            .await
            .map_err(factor_error)?;
        // Whoever signed in with the password alone before is signed out (unless the owner
        // asked to keep them). Device cookies stay: each known device has its own budget of
        // ten wrong codes, then it is known no more.
        if keep_others.is_empty() {
            registry()?
                .revoke_others(principal.user.id, &principal.session_key, &context)
                .await
                .map_err(session_error)?;
        }

        // The code just typed is a proof with the factor: this session has stepped up with it.
        SessionState::extract().await?.step_up(&principal, true).await?;
        leptos_axum::redirect(RECOVERY_CODES_PAGE);
        Ok(())
    }
    .await
}

/// The new recovery codes waiting to be saved, for their owner after a step-up; `None`
/// once they said they saved them (or after 30 minutes).
#[server(prefix = "/api", endpoint = "recovery-codes")]
pub async fn recovery_codes_to_show() -> Result<Option<Vec<String>>, ApiError> {
    use super::ssr::*;
    async {
        let principal = stepped_up()?;
        factors()?
            .codes_to_show(principal.user.id, &principal.session_key)
            .await
            .map_err(|e| unexpected("reading codes failed", &e))
    }
    .await
}

/// "I have saved them": the codes are never shown again.
#[server(prefix = "/api", endpoint = "recovery-codes-saved")]
pub async fn recovery_codes_saved() -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let principal = current()?;
        factors()?
            .codes_saved(principal.user.id)
            .await
            .map_err(|e| unexpected("forgetting codes failed", &e))?;
        crate::flash::ssr::redirect(SECURITY_PAGE, crate::flash::notice::CODES_SAVED);
        Ok(())
    }
    .await
}

/// New recovery codes (after a step-up with the factor): the old ones stop working.
#[server(prefix = "/api", endpoint = "recovery-codes-new")]
pub async fn new_recovery_codes() -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let principal = stepped_up()?;
        if principal.impersonation.is_some() {
            return Err(ApiError::ImpersonationBlocked);
        }
        factors()?
            .renew_recovery_codes(&principal.user, &principal.session_key, &audit_context())
            .await
            .map_err(factor_error)?;
        leptos_axum::redirect(RECOVERY_CODES_PAGE);
        Ok(())
    }
    .await
}

/// Removes the authenticator app (after a step-up with a factor), with the recovery codes
/// when it was the last factor. Never an admin's last factor. A notice is mailed.
#[server(prefix = "/api", endpoint = "totp-remove")]
pub async fn remove_totp() -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let principal = stepped_up()?;
        if principal.impersonation.is_some() {
            return Err(ApiError::ImpersonationBlocked);
        }
        factors()?
            .remove_app((&principal.user, &principal.session_key), &audit_context())
            .await
            .map_err(factor_error)?;
        crate::flash::ssr::redirect(SECURITY_PAGE, crate::flash::notice::FACTOR_OFF);
        Ok(())
    }
    .await
}
