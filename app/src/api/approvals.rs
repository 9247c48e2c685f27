//! The two-person rule in the dashboard (see `bulwark::admin::approvals`): the requests
//! that wait for a second admin, approving and withdrawing them. Under `/api/admin/` like
//! every admin endpoint: admins only, and a change needs a recent step-up.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// The dashboard page of requests that wait.
pub const ADMIN_APPROVALS_PAGE: &str = "/admin/approvals";

/// A request that waits for a second admin. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalView {
    pub id: i64,
    pub target: i64,
    pub target_email: String,
    pub target_username: String,
    pub proposer_username: String,
    /// What it does, in words ("lock the account").
    pub action: String,
    /// A disablement's reason, as the proposer wrote it (shown apart from the action).
    pub reason: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    /// The caller asked for it (so may withdraw it, not approve it).
    pub mine: bool,
    /// It is about the caller's own account (so the caller may not approve it).
    pub about_you: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalList {
    pub now: i64,
    pub approvals: Vec<ApprovalView>,
}

#[cfg(feature = "ssr")]
pub(super) fn approval_view(approval: &bulwark::admin::Approval, caller: i64) -> ApprovalView {
    ApprovalView {
        id: approval.id,
        target: approval.target,
        target_email: approval.target_email.clone(),
        target_username: approval.target_username.clone(),
        proposer_username: approval.proposer_username.clone(),
        action: approval.action.describe(),
        reason: approval.action.reason().map(str::to_owned),
        created_at: approval.created_at,
        expires_at: approval.expires_at,
        mine: approval.proposer == caller,
        about_you: approval.target == caller,
    }
}

/// Every request that waits, oldest first.
#[server(prefix = "/api/admin", endpoint = "approvals")]
pub async fn admin_approvals() -> Result<ApprovalList, ApiError> {
    use super::ssr::*;
    async {
        let caller = admin_caller(false)?;
        // Every context read before the first await (see `admin_users`).
        let now = registry()?.now();
        let waiting = admin()?.waiting(None).await.map_err(admin_error)?;
        Ok(ApprovalList {
            now,
            approvals: waiting.iter().map(|a| approval_view(a, caller.user.id)).collect(),
        })
    }
    .await
}

/// Approves request `id`: the action takes effect now, with both admins in the audit log.
#[server(prefix = "/api/admin", endpoint = "approve")]
pub async fn admin_approve(id: i64) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let caller = admin_caller(true)?;
        let context = audit_context();
        admin()?.approve(super::admin::actor(&caller, &context), id).await.map_err(admin_error)?;
        leptos_axum::redirect(ADMIN_APPROVALS_PAGE);
        Ok(())
    }
    .await
}

/// Withdraws request `id` (the proposer, or another admin refusing it).
#[server(prefix = "/api/admin", endpoint = "withdraw")]
pub async fn admin_withdraw(id: i64) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let caller = admin_caller(true)?;
        let context = audit_context();
        admin()?.withdraw(super::admin::actor(&caller, &context), id).await.map_err(admin_error)?;
        leptos_axum::redirect(ADMIN_APPROVALS_PAGE);
        Ok(())
    }
    .await
}
