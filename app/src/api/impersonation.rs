//! Impersonation's server functions: an admin starts one from a user's dashboard page
//! (step-up and a reason), stops it from the banner, and admins list and end them; the
//! impersonated user ends it from their sessions page, and in consent mode grants or
//! withdraws support access. What an impersonating admin may reach at all is decided
//! before any of these run (the server's allow-list, `caller::IMPERSONATION_MAY_REACH`).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// The admins' list of impersonations.
pub const ADMIN_IMPERSONATIONS_PAGE: &str = "/admin/impersonations";

/// An impersonation in progress, as the banner shows it. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImpersonationBanner {
    /// The admin's username.
    pub admin: String,
    pub reason: String,
    pub expires_at: i64,
    /// The server's clock when this was made, for "12 minutes left".
    pub now: i64,
}

/// One impersonation in the admins' list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImpersonationView {
    pub id: i64,
    pub admin_id: i64,
    pub admin: String,
    pub user_id: i64,
    pub username: String,
    pub reason: String,
    pub started_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
    /// How it ended (`stopped`, `expired`, ...), once it has.
    pub ended_how: Option<String>,
    pub live: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImpersonationList {
    pub items: Vec<ImpersonationView>,
    /// The id to pass as `before` for the next page, if there is one.
    pub next: Option<i64>,
}

/// Consent mode as the account page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportAccessView {
    /// Whether admins need the owner's permission to impersonate (the site's setting).
    pub consent_required: bool,
    /// Until when the owner lets support staff in, if now.
    pub until: Option<i64>,
}

/// Starts impersonating account `id`, for `reason` (10 to 500 characters). Needs an admin
/// with a step-up in the admin window. The browser's session becomes the user's; the
/// admin's own is parked (its id kept in the parked cookie) until the impersonation ends.
#[server(prefix = "/api/admin", endpoint = "impersonate")]
pub async fn start_impersonation(id: i64, #[server(default)] reason: String) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let caller = admin_caller(true)?;
        let context = audit_context();
        let origin = request_origin();
        let since = admin_step_up_since().ok_or(ApiError::Internal)?;
        let starter = bulwark::impersonation::Starter {
            admin: &caller,
            stepped_up_since: since,
            context: &context,
            origin: &origin,
        };
        let session = SessionState::extract().await?;
        let started = impersonations()?
            .start(session.session(), starter, id, &reason)
            .await
            .map_err(impersonation_error)?;
        let registry = registry()?;
        let admin_expires = caller.session.absolute_expires_at(registry.lifetimes_for(bulwark::Role::Admin));
        set_parked_cookie(&started.parked_id, admin_expires);
        leptos_axum::redirect("/");
        Ok(())
    }
    .await
}

/// Ends the caller's impersonation and gives the admin their own session back (under a
/// new id), on the impersonated user's dashboard page. Without the parked cookie there is
/// no way back: the impersonation ends and the admin signs in again.
#[server(prefix = "/api/impersonation", endpoint = "stop")]
pub async fn stop_impersonation() -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let principal = current()?;
        let Some(impersonation) = principal.impersonation.clone() else {
            leptos_axum::redirect("/");
            return Ok(());
        };
        let registry = registry()?;
        let context = audit_context();
        let ending = bulwark::impersonation::EndedBy {
            how: bulwark::impersonation::Ended::Stopped,
            by: Some(impersonation.admin_id),
            context: &context,
            now: registry.now(),
        };
        let session = SessionState::extract().await?;
        let parked =
            parked_cookie_value().filter(|id| sessions::storage_key(id) == impersonation.admin_session_key);
        expire_parked_cookie();
        let back = match parked {
            Some(parked) => sessions::resume(session.session(), &registry, &parked, &ending)
                .await
                .map_err(session_error)?,
            None => {
                impersonations()?
                    .end(impersonation.id, ending.how, ending.by, None, &context)
                    .await
                    .map_err(impersonation_error)?;
                registry.forget(&impersonation.admin_session_key).await.map_err(session_error)?;
                sessions::end(session.session(), &registry).await.map_err(session_error)?;
                None
            }
        };
        match back {
            Some(_) => leptos_axum::redirect(&super::admin_user_page(principal.user.id)),
            None => leptos_axum::redirect("/login"),
        }
        Ok(())
    }
    .await
}

/// Impersonations, newest first, 50 per page: live ones only with `live`.
#[server(prefix = "/api/admin", endpoint = "impersonations")]
pub async fn admin_impersonations(
    #[server(default)] live: bool,
    #[server(default)] before: Option<i64>,
) -> Result<ImpersonationList, ApiError> {
    use super::ssr::*;
    async {
        admin_caller(false)?;
        const PAGE: u32 = 50;
        let rows = impersonations()?.list(live, None, before, PAGE + 1).await.map_err(impersonation_error)?;
        let more = rows.len() > PAGE as usize;
        let items: Vec<ImpersonationView> = rows.into_iter().take(PAGE as usize).map(view).collect();
        let next = if more { items.last().map(|i| i.id) } else { None };
        Ok(ImpersonationList { items, next })
    }
    .await
}

/// Ends a live impersonation (any admin's). Needs a step-up in the admin window.
#[server(prefix = "/api/admin", endpoint = "impersonations/end")]
pub async fn end_impersonation(id: i64) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let caller = admin_caller(true)?;
        let context = audit_context();
        let services = impersonations()?;
        let now = services.now();
        let since = admin_step_up_since().unwrap_or(i64::MAX);
        let actor =
            bulwark::sessions::guard::Caller::Admin((caller.user.id, &caller.session_key, since, now));
        let ended = services
            .end(id, bulwark::impersonation::Ended::EndedByAdmin, Some(caller.user.id), Some(actor), &context)
            .await
            .map_err(impersonation_error)?;
        if !ended {
            return Err(ApiError::NotFound);
        }
        crate::flash::ssr::redirect(ADMIN_IMPERSONATIONS_PAGE, crate::flash::notice::IMPERSONATION_ENDED);
        Ok(())
    }
    .await
}

/// Ends an admin's impersonation of the caller's account (`id`: its session's handle).
/// No step-up: ending someone's access to one's own account can only protect it.
#[server(prefix = "/api", endpoint = "sessions/end-support")]
pub async fn end_support_session(#[server(default)] id: String) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let principal = current()?;
        let ended = registry()?
            .end_support_session(principal.user.id, &principal.session_key, id.trim(), &audit_context())
            .await
            .map_err(session_error)?;
        if !ended {
            return Err(ApiError::NotFound);
        }
        crate::flash::ssr::redirect("/account/sessions", crate::flash::notice::SUPPORT_ENDED);
        Ok(())
    }
    .await
}

/// Consent mode: whether it is on, and until when the caller lets support staff in.
#[server(prefix = "/api", endpoint = "support-access")]
pub async fn support_access() -> Result<SupportAccessView, ApiError> {
    use super::ssr::*;
    async {
        let principal = current()?;
        let service = impersonations()?;
        let until = service.support_access_until(principal.user.id).await.map_err(impersonation_error)?;
        Ok(SupportAccessView { consent_required: service.policy().consent_required, until })
    }
    .await
}

/// Consent mode: lets support staff impersonate the caller's account for `hours` (1 to 168).
#[server(prefix = "/api", endpoint = "support-access/grant")]
pub async fn grant_support_access(#[server(default)] hours: i64) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let principal = current()?;
        if !(1..=168).contains(&hours) {
            return Err(ApiError::BadRequest);
        }
        impersonations()?
            .grant_support_access(principal.user.id, &principal.session_key, hours, &audit_context())
            .await
            .map_err(owner_error)?;
        leptos_axum::redirect("/account/activity");
        Ok(())
    }
    .await
}

/// Consent mode: withdraws support access; a live impersonation of the account ends.
#[server(prefix = "/api", endpoint = "support-access/revoke")]
pub async fn revoke_support_access() -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let principal = current()?;
        impersonations()?
            .revoke_support_access(principal.user.id, &principal.session_key, &audit_context())
            .await
            .map_err(owner_error)?;
        leptos_axum::redirect("/account/activity");
        Ok(())
    }
    .await
}

/// An owner's change refused because their session ended while it was in flight is
/// `Unauthorized`, not a step-up to ask for.
#[cfg(feature = "ssr")]
fn owner_error(error: bulwark::impersonation::ImpersonationError) -> ApiError {
    match error {
        bulwark::impersonation::ImpersonationError::ActorGone => ApiError::Unauthorized,
        other => super::ssr::impersonation_error(other),
    }
}

#[cfg(feature = "ssr")]
fn view(summary: bulwark::impersonation::Summary) -> ImpersonationView {
    ImpersonationView {
        id: summary.id,
        admin_id: summary.admin_id,
        admin: summary.admin_username,
        user_id: summary.user_id,
        username: summary.username,
        reason: summary.reason,
        started_at: summary.started_at,
        expires_at: summary.expires_at,
        ended_at: summary.ended_at,
        ended_how: summary.ended_how,
        live: summary.live,
    }
}

/// "Stopped by the admin", "Reached its time limit"...: how an impersonation ended, in words.
pub fn describe_ending(how: &str) -> &'static str {
    match how {
        "stopped" => "stopped by the administrator",
        "expired" => "reached its time limit",
        "signed_out" => "the administrator signed out",
        "ended_by_user" => "ended by the account's owner",
        "ended_by_admin" => "ended by an administrator",
        "account_changed" => "ended because the account changed",
        "admin_session_ended" => "ended because the administrator's own session ended",
        _ => "ended",
    }
}
