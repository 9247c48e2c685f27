//! The admin area's server functions, all under `/api/admin/`. Every one checks the role
//! on the server (`admin_caller`): anonymous callers get 401, everyone else who is not
//! an admin 403; every one that changes something also needs a step-up within the admin
//! window (403 `StepUpRequired` otherwise). A test enumerates every registered endpoint
//! under this prefix and fails if one answers a non-admin.

#[cfg(feature = "ssr")]
use bulwark::admin::AdminAction;
use bulwark::Role;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Where every admin endpoint lives.
pub const ADMIN_API_PREFIX: &str = "/api/admin/";
/// The admin area's pages.
pub const ADMIN_PAGE: &str = "/admin";
pub const ADMIN_AUDIT_PAGE: &str = "/admin/audit";

/// The audit log's event names, for the viewer's filter (the browser build has no
/// `bulwark::audit`; a server test keeps the two lists equal).
pub const AUDIT_EVENTS: &[&str] = &[
    "authn_login_success",
    "authn_second_step",
    "authn_factor_added",
    "authn_factor_removed",
    "authn_recovery_codes_renewed",
    "authz_admin_factors_reset",
    "authn_passkey_renamed",
    "authn_passkey_flagged",
    "user_deletion_requested",
    "user_deletion_undone",
    "user_erased",
    "user_data_exported",
    "user_invitation_sent",
    "user_invitation_revoked",
    "authn_login_fail",
    "authn_password_change",
    "authn_password_reset",
    "authn_reauth",
    "user_created",
    "user_disabled",
    "user_enabled",
    "user_locked",
    "user_unlocked",
    "authz_admin_password_reset",
    "authz_role_change",
    "session_revoked",
    "authz_impersonation_start",
    "authz_impersonation_end",
    "authz_support_access_granted",
    "authz_support_access_revoked",
    "user_email_change_requested",
    "user_email_changed",
    "user_email_change_cancelled",
    "user_email_change_recovered",
    "authz_admin_approval_requested",
    "authz_admin_approval_granted",
    "authz_admin_approval_withdrawn",
    "authz_admin_approval_waived",
];

/// The page of one user in the dashboard.
pub fn admin_user_page(id: i64) -> String {
    format!("/admin/users/{id}")
}

/// An account as admins see it. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminUserView {
    pub id: i64,
    pub email: String,
    pub username: String,
    pub role: Role,
    /// `active`, `disabled` or `locked`.
    pub status: String,
    pub disabled_reason: Option<String>,
    pub disabled_until: Option<i64>,
    pub must_change_password: bool,
    /// Signing in takes a second factor.
    pub two_factor: bool,
    pub created_at: i64,
    pub confirmed_at: Option<i64>,
    pub last_sign_in_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminUserPage {
    pub users: Vec<AdminUserView>,
    /// How many accounts match the search in all.
    pub total: i64,
    /// Pass as `before` for the next page; `None` on the last one.
    pub next_before: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminSessionView {
    pub handle: String,
    pub device: String,
    pub ip: String,
    pub created_at: i64,
    pub last_seen_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditView {
    pub id: i64,
    pub at: i64,
    pub event: String,
    pub success: bool,
    pub actor: Option<i64>,
    pub subject: Option<i64>,
    pub ip: Option<String>,
    pub device: Option<String>,
    pub request_id: Option<String>,
    pub details: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminUserDetail {
    pub now: i64,
    pub user: AdminUserView,
    pub sessions: Vec<AdminSessionView>,
    pub events: Vec<AuditView>,
    /// Requests about this account that wait for a second admin.
    pub approvals: Vec<super::ApprovalView>,
    /// The account's passkeys (names and dates; nothing secret).
    pub passkeys: Vec<super::PasskeyView>,
    /// Whether an admin other than the caller and this account can act (and so approve):
    /// if not, the caller's actions on this admin take effect at once.
    pub second_admin: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub events: Vec<AuditView>,
    pub next_before: Option<i64>,
}

/// Accounts, newest first: an email or username prefix, a status (`active`,
/// `disabled`, `locked`, `must_change_password`) and a role filter, 25 per page.
#[server(prefix = "/api/admin", endpoint = "users")]
pub async fn admin_users(
    #[server(default)] q: String,
    #[server(default)] status: String,
    #[server(default)] role: String,
    #[server(default)] before: Option<i64>,
) -> Result<AdminUserPage, ApiError> {
    use super::ssr::*;
    async {
        admin_caller(false)?;
        let status = match status.as_str() {
            "active" => Some(bulwark::admin::StatusFilter::Active),
            "disabled" => Some(bulwark::admin::StatusFilter::Disabled),
            "locked" => Some(bulwark::admin::StatusFilter::Locked),
            "must_change_password" => Some(bulwark::admin::StatusFilter::MustChangePassword),
            _ => None,
        };
        let role = match role.as_str() {
            "admin" => Some(Role::Admin),
            "user" => Some(Role::User),
            _ => None,
        };
        let limit = 25;
        let filter = bulwark::admin::UserFilter { prefix: Some(q), status, role, before, limit };
        // Every context read before the first await: a page's resource may be polled again
        // where the request's context is no longer current.
        let admin = admin()?;
        let now = registry()?.now();
        let (found, total) = admin.users(&filter).await.map_err(admin_error)?;
        let next_before = (found.len() == limit as usize).then(|| found.last().map(|s| s.user.id)).flatten();
        Ok(AdminUserPage { users: found.iter().map(|s| user_view(s, now)).collect(), total, next_before })
    }
    .await
}

/// One account: its details, live sessions and latest audit events.
#[server(prefix = "/api/admin", endpoint = "user")]
pub async fn admin_user(id: i64) -> Result<AdminUserDetail, ApiError> {
    use super::ssr::*;
    async {
        let caller = admin_caller(false)?;
        // Every context read before the first await (see `admin_users`).
        let admin = admin()?;
        let now = registry()?.now();
        let factors = factors()?;
        let log = service(|s| s.audit.clone())?;
        let summary = admin.user(id).await.map_err(admin_error)?;
        let sessions = admin
            .sessions(id)
            .await
            .map_err(admin_error)?
            .into_iter()
            .map(|row| AdminSessionView {
                handle: row.handle,
                device: row.device,
                ip: row.ip,
                created_at: row.created_at,
                last_seen_at: row.last_seen_at,
            })
            .collect();
        let filter = bulwark::audit::Filter { involving: Some(id), limit: 20, ..Default::default() };
        let events = audit_events(&log, &filter).await?;
        let approvals = admin.waiting(Some(id)).await.map_err(admin_error)?;
        let second_admin = admin.second_admin_exists(caller.user.id, id).await.map_err(admin_error)?;
        let passkeys = factors.passkeys(id).await.map_err(|e| unexpected("reading passkeys failed", &e))?;
        Ok(AdminUserDetail {
            passkeys: passkeys.into_iter().map(super::PasskeyView::from).collect(),
            now,
            user: user_view(&summary, now),
            sessions,
            events,
            approvals: approvals.iter().map(|a| super::approvals::approval_view(a, caller.user.id)).collect(),
            second_admin,
        })
    }
    .await
}

/// Disables an account (a reason is required; `until`, a `YYYY-MM-DD` date, optional) and
/// ends every session of it.
#[server(prefix = "/api/admin", endpoint = "disable")]
pub async fn admin_disable(
    id: i64,
    #[server(default)] reason: String,
    #[server(default)] until: String,
) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let caller = admin_caller(true)?;
        let until = match until.trim() {
            "" => None,
            date => Some(bulwark::utc::parse_date(date).ok_or(ApiError::UntilInPast)?),
        };
        let context = audit_context();
        let action = AdminAction::Disable { reason, until };
        let decision = admin()?.act(actor(&caller, &context), id, action).await.map_err(admin_error)?;
        done(id, decision)
    }
    .await
}

#[server(prefix = "/api/admin", endpoint = "enable")]
pub async fn admin_enable(id: i64) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let caller = admin_caller(true)?;
        let context = audit_context();
        let decision =
            admin()?.act(actor(&caller, &context), id, AdminAction::Enable).await.map_err(admin_error)?;
        done(id, decision)
    }
    .await
}

/// The admin lock: ends every session; only an admin can lift it.
#[server(prefix = "/api/admin", endpoint = "lock")]
pub async fn admin_lock(id: i64) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let caller = admin_caller(true)?;
        let context = audit_context();
        let decision =
            admin()?.act(actor(&caller, &context), id, AdminAction::Lock).await.map_err(admin_error)?;
        done(id, decision)
    }
    .await
}

/// Lifts the admin lock and clears the account's sign-in throttle.
#[server(prefix = "/api/admin", endpoint = "unlock")]
pub async fn admin_unlock(id: i64) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let caller = admin_caller(true)?;
        let context = audit_context();
        let decision =
            admin()?.act(actor(&caller, &context), id, AdminAction::Unlock).await.map_err(admin_error)?;
        done(id, decision)
    }
    .await
}

/// Removes every second factor of the account (its owner lost them all): every session
/// ends, the owner is mailed and sets one up again. A reason is required; on an admin's
/// account a second admin must approve it.
#[server(prefix = "/api/admin", endpoint = "reset-factors")]
pub async fn admin_reset_factors(id: i64, #[server(default)] reason: String) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let caller = admin_caller(true)?;
        let context = audit_context();
        let action = AdminAction::ResetFactors { reason };
        let decision = admin()?.act(actor(&caller, &context), id, action).await.map_err(admin_error)?;
        done(id, decision)
    }
    .await
}

/// Deletes the account: it closes at once (every session ends) and is erased when the
/// grace period ends, unless its owner keeps it with the mailed link. A reason is
/// required; on an admin's account a second admin must approve it.
#[server(prefix = "/api/admin", endpoint = "delete")]
pub async fn admin_delete(id: i64, #[server(default)] reason: String) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let caller = admin_caller(true)?;
        let context = audit_context();
        let action = AdminAction::Delete { reason };
        let decision = admin()?.act(actor(&caller, &context), id, action).await.map_err(admin_error)?;
        done(id, decision)
    }
    .await
}

/// Requires a new password: every session ends, a reset link is mailed.
#[server(prefix = "/api/admin", endpoint = "force-reset")]
pub async fn admin_force_reset(id: i64) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let caller = admin_caller(true)?;
        let context = audit_context();
        let decision =
            admin()?.act(actor(&caller, &context), id, AdminAction::ForceReset).await.map_err(admin_error)?;
        done(id, decision)
    }
    .await
}

/// Grants (`admin`) or removes (`user`) the admin role; ends every session of the account.
#[server(prefix = "/api/admin", endpoint = "role")]
pub async fn admin_set_role(id: i64, #[server(default)] role: String) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let caller = admin_caller(true)?;
        let role = match role.as_str() {
            "admin" => Role::Admin,
            "user" => Role::User,
            _ => return Err(ApiError::BadRequest),
        };
        let context = audit_context();
        let action = AdminAction::SetRole { role };
        let decision = admin()?.act(actor(&caller, &context), id, action).await.map_err(admin_error)?;
        done(id, decision)
    }
    .await
}

/// Ends one session of the account (`session`: its handle) or, with none, all of them.
#[server(prefix = "/api/admin", endpoint = "revoke-sessions")]
pub async fn admin_revoke_sessions(id: i64, #[server(default)] session: String) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let caller = admin_caller(true)?;
        let context = audit_context();
        let session = Some(session.trim().to_owned()).filter(|h| !h.is_empty());
        let action = AdminAction::EndSessions { session };
        let decision = admin()?.act(actor(&caller, &context), id, action).await.map_err(admin_error)?;
        done(id, decision)
    }
    .await
}

/// The audit log, newest first, 50 per page: by event name, actor id, subject id and a
/// time range (`YYYY-MM-DD` dates, UTC, `until` exclusive).
#[server(prefix = "/api/admin", endpoint = "audit")]
pub async fn admin_audit(
    #[server(default)] event: String,
    #[server(default)] actor: Option<i64>,
    #[server(default)] subject: Option<i64>,
    #[server(default)] from: String,
    #[server(default)] until: String,
    #[server(default)] before: Option<i64>,
) -> Result<AuditPage, ApiError> {
    use super::ssr::*;
    async {
        admin_caller(false)?;
        let limit = 50;
        let filter = bulwark::audit::Filter {
            event: bulwark::audit::Event::parse(event.trim()),
            actor,
            subject,
            involving: None,
            from: bulwark::utc::parse_date(&from),
            until: bulwark::utc::parse_date(&until),
            before,
            limit,
        };
        let log = service(|s| s.audit.clone())?;
        let events = audit_events(&log, &filter).await?;
        let next_before = (events.len() == limit as usize).then(|| events.last().map(|e| e.id)).flatten();
        Ok(AuditPage { events, next_before })
    }
    .await
}

#[cfg(feature = "ssr")]
fn user_view(summary: &bulwark::admin::UserSummary, now: i64) -> AdminUserView {
    let user = &summary.user;
    let status = match user.standing.block(now) {
        Some(bulwark::accounts::Block::Locked) => "locked",
        Some(bulwark::accounts::Block::Disabled) => "disabled",
        Some(bulwark::accounts::Block::Closing) => "deletion pending",
        None => "active",
    };
    AdminUserView {
        id: user.id,
        email: user.email.clone(),
        username: user.username.clone(),
        role: user.role,
        status: status.to_owned(),
        disabled_reason: user.standing.disabled_reason.clone(),
        disabled_until: user.standing.disabled_until,
        must_change_password: user.standing.must_change_password,
        two_factor: user.has_factor(),
        created_at: summary.created_at,
        confirmed_at: summary.confirmed_at,
        last_sign_in_at: summary.last_sign_in_at,
    }
}

#[cfg(feature = "ssr")]
async fn audit_events(
    log: &bulwark::audit::AuditLog,
    filter: &bulwark::audit::Filter,
) -> Result<Vec<AuditView>, ApiError> {
    use super::ssr::*;
    let events = log.list(filter).await.map_err(|e| unexpected("reading the audit log failed", &e))?;
    Ok(events
        .into_iter()
        .map(|e| AuditView {
            id: e.id,
            at: e.at,
            event: e.event,
            success: e.success,
            actor: e.actor,
            subject: e.subject,
            ip: e.ip,
            device: e.device,
            request_id: e.request_id,
            details: e.details,
        })
        .collect())
}

#[cfg(feature = "ssr")]
pub(super) fn actor<'a>(
    caller: &'a bulwark::sessions::Principal,
    context: &'a bulwark::audit::Context,
) -> bulwark::admin::Actor<'a> {
    let stepped_up_since = super::ssr::admin_step_up_since().unwrap_or(i64::MAX);
    bulwark::admin::Actor { id: caller.user.id, session_key: &caller.session_key, stepped_up_since, context }
}

/// Back to the user's page: with the "done" notice (for this browser only, see `flash`),
/// or, for an action waiting for a second admin, to the page as it is, which lists the
/// request from the server's own records.
#[cfg(feature = "ssr")]
fn done(id: i64, decision: bulwark::admin::Decision) -> Result<(), ApiError> {
    match decision {
        bulwark::admin::Decision::Done => {
            crate::flash::ssr::redirect(&admin_user_page(id), crate::flash::notice::ADMIN_DONE)
        }
        bulwark::admin::Decision::Waiting { .. } => leptos_axum::redirect(&admin_user_page(id)),
    }
    Ok(())
}
