//! Passkeys over HTTP. Each ceremony is two calls: a `…-start` that the page's script
//! (`public/passkey.js`) fetches for the options of `navigator.credentials.create()` or
//! `get()`, and a plain form post of the browser's answer (field `response`), so errors come
//! back on the page as every other form's do. The ceremony's state stays on the server,
//! tied to this session, this pending second step, or this browser's passkey cookie.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// A passkey as the security page (and an admin) shows it. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyView {
    pub id: i64,
    pub name: String,
    pub added: i64,
    pub last_used: Option<i64>,
    /// Backed up and synced between devices.
    pub synced: bool,
    /// Signs in without typing an address.
    pub discoverable: bool,
    /// Set aside: its counter went backwards.
    pub flagged: bool,
}

#[cfg(feature = "ssr")]
impl From<bulwark::factors::PasskeyInfo> for PasskeyView {
    fn from(info: bulwark::factors::PasskeyInfo) -> Self {
        Self {
            id: info.id,
            name: info.name,
            added: info.created_at,
            last_used: info.last_used_at,
            synced: info.synced,
            discoverable: info.discoverable,
            flagged: info.flagged,
        }
    }
}

/// Starts adding a passkey named `name` (after a step-up): the options for
/// `navigator.credentials.create()`, as JSON.
#[server(prefix = "/api", endpoint = "passkey-add-start")]
pub async fn passkey_add_start(#[server(default)] name: String) -> Result<String, ApiError> {
    use super::ssr::*;
    async {
        let principal = stepped_up()?;
        if principal.impersonation.is_some() {
            return Err(ApiError::ImpersonationBlocked);
        }
        factors()?
            .passkey_registration(&principal.user, &principal.session_key, &name)
            .await
            .map_err(passkey_error)
    }
    .await
}

/// Adds the passkey the browser made (`response`, its JSON) under `name`, after a step-up.
/// This session continues as freshly proved with a factor (the passkey verified its user);
/// when it is the account's first factor, every other session ends and the recovery codes
/// made with it are shown next. A notice is mailed.
#[server(prefix = "/api", endpoint = "passkey-add")]
pub async fn passkey_add(
    #[server(default)] name: String,
    #[server(default)] response: String,
) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let principal = stepped_up()?;
        if principal.impersonation.is_some() {
            return Err(ApiError::ImpersonationBlocked);
        }
        let context = audit_context();
        let registered = factors()?
            .finish_passkey_registration(&principal.user, &principal.session_key, &name, &response, &context)
            .await
            .map_err(passkey_error)?;
        if registered.first_factor {
            // Whoever signed in with the password alone before is signed out.
            registry()?
                .revoke_others(principal.user.id, &principal.session_key, &context)
                .await
                .map_err(session_error)?;
        }
        SessionState::extract().await?.step_up(&principal, true).await?;
        if registered.codes_made {
            leptos_axum::redirect(super::RECOVERY_CODES_PAGE);
        } else {
            crate::flash::ssr::redirect(super::SECURITY_PAGE, crate::flash::notice::PASSKEY_ADDED);
        }
        Ok(())
    }
    .await
}

/// Renames one of the account's passkeys (after a step-up: a name is how the owner tells
/// a thief's passkey from their own). Audited.
#[server(prefix = "/api", endpoint = "passkey-rename")]
pub async fn passkey_rename(
    #[server(default)] id: String,
    #[server(default)] name: String,
) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let principal = stepped_up()?;
        if principal.impersonation.is_some() {
            return Err(ApiError::ImpersonationBlocked);
        }
        let id = id.trim().parse::<i64>().map_err(|_| ApiError::NotFound)?;
        factors()?
            .rename_passkey((&principal.user, &principal.session_key), id, &name, &audit_context())
            .await
            .map_err(passkey_error)?;
        crate::flash::ssr::redirect(super::SECURITY_PAGE, crate::flash::notice::PASSKEY_RENAMED);
        Ok(())
    }
    .await
}

/// Removes one of the account's passkeys (after a step-up with a factor). An admin's last
/// factor stays. A notice is mailed.
#[server(prefix = "/api", endpoint = "passkey-remove")]
pub async fn passkey_remove(#[server(default)] id: String) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let principal = stepped_up()?;
        if principal.impersonation.is_some() {
            return Err(ApiError::ImpersonationBlocked);
        }
        let id = id.trim().parse::<i64>().map_err(|_| ApiError::NotFound)?;
        factors()?
            .remove_passkey((&principal.user, &principal.session_key), id, &audit_context())
            .await
            .map_err(passkey_error)?;
        crate::flash::ssr::redirect(super::SECURITY_PAGE, crate::flash::notice::PASSKEY_REMOVED);
        Ok(())
    }
    .await
}

/// Starts a sign-in with a passkey, no address typed (the button, or the browser's
/// autofill): the options for `navigator.credentials.get()`, as JSON, and this browser's
/// passkey cookie. Throttled per client address.
#[server(prefix = "/api", endpoint = "passkey-sign-in-start")]
pub async fn passkey_sign_in_start() -> Result<String, ApiError> {
    use super::ssr::*;
    async {
        throttle()?
            .passkey_start(client_ip()?)
            .await
            .map_err(|e| unexpected("throttle failed", &e))?
            .map_err(too_many)?;
        let challenge = factors()?.passkey_sign_in_challenge().await.map_err(passkey_error)?;
        set_passkey_cookie(Some(&challenge.cookie), bulwark::factors::passkeys::CEREMONY_SECS);
        Ok(challenge.options)
    }
    .await
}

/// Signs in with a passkey: the browser's answer to this browser's passkey request. A
/// verified passkey is a complete sign-in (no second step); it goes through the one
/// function that completes sign-ins. Every refusal is the same 401.
#[server(prefix = "/api", endpoint = "passkey-sign-in")]
pub async fn passkey_sign_in(#[server(default)] response: String) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let cookie = passkey_cookie_value();
        set_passkey_cookie(None, 0);
        let context = audit_context();
        let passed = factors()?
            .passkey_sign_in(client_ip()?, cookie.as_deref(), &response, &context)
            .await
            .map_err(passkey_error)?;
        let device_cookie = device_cookie_value();
        super::finish_sign_in(bulwark::completion::Step::Passkey(passed), device_cookie.as_deref(), &context)
            .await
    }
    .await
}

/// What a second step or a step-up may be answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FactorOffers {
    /// A code from the authenticator app.
    pub app: bool,
    /// A passkey.
    pub passkey: bool,
}

#[cfg(feature = "ssr")]
impl From<bulwark::factors::Offers> for FactorOffers {
    fn from(offers: bulwark::factors::Offers) -> Self {
        Self { app: offers.app, passkey: offers.passkey }
    }
}

/// What this browser's pending second step may be answered with (the right password was
/// given, so only the account's owner learns it; nothing when none waits).
#[server(prefix = "/api", endpoint = "second-step-offers")]
pub async fn second_step_offers() -> Result<FactorOffers, ApiError> {
    use super::ssr::*;
    async {
        let cookie = second_step_cookie_value();
        let offers = factors()?
            .second_step_offers(cookie.as_deref())
            .await
            .map_err(|e| unexpected("second step lookup failed", &e))?;
        Ok(offers.into())
    }
    .await
}

/// What the signed-in account's step-up may be answered with.
#[server(prefix = "/api", endpoint = "step-up-offers")]
pub async fn step_up_offers() -> Result<FactorOffers, ApiError> {
    use super::ssr::*;
    async {
        let principal = current()?;
        let offers =
            factors()?.offers(principal.user.id).await.map_err(|e| unexpected("factor lookup failed", &e))?;
        Ok(offers.into())
    }
    .await
}

/// Asks for one of the account's passkeys for this browser's pending second step: the
/// options for `navigator.credentials.get()`, as JSON.
#[server(prefix = "/api", endpoint = "second-step-passkey-start")]
pub async fn second_step_passkey_start() -> Result<String, ApiError> {
    use super::ssr::*;
    async {
        let cookie = second_step_cookie_value();
        factors()?.second_step_challenge(cookie.as_deref()).await.map_err(|e| match e {
            bulwark::factors::PasskeyError::Expired => ApiError::SecondStepExpired,
            other => passkey_error(other),
        })
    }
    .await
}

/// Answers this browser's pending second step with a passkey. As with a code: a wrong
/// answer counts on the account's second-step budget.
#[server(prefix = "/api", endpoint = "second-step-passkey")]
pub async fn second_step_passkey(#[server(default)] response: String) -> Result<(), ApiError> {
    use super::ssr::*;
    use bulwark::factors::passkeys::Ceremony;
    async {
        let cookie = second_step_cookie_value();
        let factors = factors()?;
        let ceremony = Ceremony::SecondStep(cookie.as_deref().unwrap_or_default());
        let answer = factors
            .passkey_answer(ceremony, &response)
            .await
            .map_err(|e| unexpected("passkey lookup failed", &e))?;
        super::answer_second_step(bulwark::factors::Answer::Passkey(&answer)).await
    }
    .await
}

/// Asks for one of the signed-in account's passkeys, for a step-up: the options for
/// `navigator.credentials.get()`, as JSON.
#[server(prefix = "/api", endpoint = "step-up-passkey-start")]
pub async fn step_up_passkey_start() -> Result<String, ApiError> {
    use super::ssr::*;
    use bulwark::factors::passkeys::Ceremony;
    async {
        let principal = current()?;
        if principal.impersonation.is_some() {
            return Err(ApiError::ImpersonationBlocked);
        }
        factors()?
            .passkey_challenge(Ceremony::StepUp(&principal.session_key), principal.user.id)
            .await
            .map_err(passkey_error)
    }
    .await
}

/// Step-up with a passkey; returns the browser to `next` (a path on this site).
#[server(prefix = "/api", endpoint = "step-up-passkey")]
pub async fn step_up_passkey(
    #[server(default)] response: String,
    #[server(default)] next: String,
) -> Result<(), ApiError> {
    use super::ssr::*;
    use bulwark::factors::passkeys::Ceremony;
    async {
        let principal = current()?;
        let answer = factors()?
            .passkey_answer(Ceremony::StepUp(&principal.session_key), &response)
            .await
            .map_err(|e| unexpected("passkey lookup failed", &e))?;
        super::step_up_with_answer(principal, bulwark::factors::Answer::Passkey(&answer), &next).await
    }
    .await
}
