//! Deleting one's own account, and keeping it with the mailed link. See `bulwark::deletion`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// The page that deletes the signed-in account.
pub const DELETE_PAGE: &str = "/account/delete";
/// Where a closed account's browser lands (signed out).
pub const AFTER_DELETE: &str = "/";
/// Where a kept account's owner goes next.
pub const AFTER_UNDO: &str = "/login";
/// The page the mailed undo link opens (`bulwark::mail::templates::UNDO_DELETION_PATH`).
pub const UNDO_PAGE: &str = "/account/delete/undo";

/// What the undo page shows before the owner confirms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingDeletionView {
    /// When the account will be erased (Unix seconds).
    pub due_at: i64,
    /// The address the link was mailed to: the page names the account it keeps, so a
    /// genuine link for someone else's account, forwarded, cannot pass for one's own.
    pub email: String,
}

/// What the delete page tells the signed-in owner before they confirm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionTermsView {
    /// Days between closing and erasure.
    pub grace_days: i64,
    /// Whether the session's step-up is fresh enough to delete now.
    pub stepped_up: bool,
    /// An administrator's account is deleted by another administrator, not here.
    pub admin: bool,
}

#[server(prefix = "/api", endpoint = "account/delete/terms")]
pub async fn deletion_terms() -> Result<DeletionTermsView, ApiError> {
    use super::ssr::*;
    async {
        let principal = current()?;
        if principal.impersonation.is_some() {
            return Err(ApiError::Forbidden);
        }
        let deletions = service(|s| s.deletions.clone())?;
        Ok(DeletionTermsView {
            grace_days: deletions.grace_secs() / 86_400,
            stepped_up: stepped_up().is_ok(),
            admin: principal.user.role == bulwark::Role::Admin,
        })
    }
    .await
}

/// Closes the signed-in account for deletion: needs a recent step-up (checked again where
/// the change commits). Every session ends, this one too; the owner is mailed a link that
/// keeps the account until it is erased.
#[server(prefix = "/api", endpoint = "account/delete")]
pub async fn delete_account() -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let principal = current()?;
        if principal.impersonation.is_some() {
            return Err(ApiError::Forbidden);
        }
        let principal = stepped_up()?;
        let services = services().ok_or(ApiError::Internal)?;
        let context = audit_context();
        // The step-up is checked again where the change commits, against the same window.
        services
            .deletions
            .close_own(&principal.user, &principal.session_key, services.access.step_up_secs, &context)
            .await
            .map_err(deletion_error)?;
        // The session's rows are gone already; the cookie goes too.
        SessionState::extract().await?.log_out().await?;
        clear_site_data();
        crate::flash::ssr::redirect(AFTER_DELETE, crate::flash::notice::ACCOUNT_CLOSED);
        Ok(())
    }
    .await
}

/// The deletion an undo link is for, if it can still be undone.
#[server(prefix = "/api", endpoint = "account/delete/pending")]
pub async fn pending_deletion(#[server(default)] token: String) -> Result<PendingDeletionView, ApiError> {
    use super::ssr::*;
    async {
        let deletions = service(|s| s.deletions.clone())?;
        let (pending, email) = deletions.peek(&token).await.map_err(deletion_error)?;
        Ok(PendingDeletionView { due_at: pending.due_at, email })
    }
    .await
}

/// Keeps the account the mailed link names: it opens again; every session stays ended.
#[server(prefix = "/api", endpoint = "account/delete/undo")]
pub async fn undo_deletion(#[server(default)] token: String) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let context = audit_context();
        let outcome = service(|s| s.deletions.clone())?.undo(&token, &context).await.map_err(deletion_error);
        match outcome {
            Ok(_) => {
                crate::flash::ssr::redirect(UNDO_PAGE, crate::flash::notice::ACCOUNT_KEPT);
                Ok(())
            }
            Err(error) => Err(token_page_failed::<UndoDeletion>(error, UNDO_PAGE, &token, UNDO_PAGE)),
        }
    }
    .await
}

#[cfg(feature = "ssr")]
fn deletion_error(error: bulwark::deletion::DeletionError) -> ApiError {
    use bulwark::deletion::DeletionError as E;
    match error {
        E::StepUpRequired => ApiError::StepUpRequired,
        E::AdminAccount => ApiError::AdminAccountDeletion,
        E::InvalidLink => ApiError::InvalidLink,
        E::Database(cause) => super::ssr::unexpected("account deletion failed", &cause),
    }
}
