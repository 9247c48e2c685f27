//! Invitations (see `bulwark::invitations`): admins send, list, approve, resend and revoke
//! them under `/api/admin/` (admins only; a change needs a recent step-up); the invited
//! person reads and accepts one under `/api/invitation/`.

use bulwark::Role;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// The dashboard page of invitations.
pub const ADMIN_INVITATIONS_PAGE: &str = "/admin/invitations";
/// The page an invitation's link opens.
pub const INVITATION_PAGE: &str = "/invitation";
/// Where an accepted invitation leads: the sign-in page (a mailed link never signs in).
pub const AFTER_INVITATION: &str = "/login";

/// An invitation as admins see it. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationView {
    pub id: i64,
    pub email: String,
    pub role: Role,
    /// `waiting` (for a second admin), `sent`, `accepted`, `revoked`, `expired` or `void`
    /// (whoever sent or approved it can no longer vouch for it).
    pub status: String,
    /// The inviting admin's username; `None` for the command line.
    pub invited_by: Option<String>,
    pub approved_by: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub expires_at: i64,
    /// The account it became.
    pub account: Option<i64>,
    /// The caller sent it (so may not approve it).
    pub mine: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationList {
    pub now: i64,
    pub invitations: Vec<InvitationView>,
    /// Sign-up is by invitation only on this site.
    pub invite_only: bool,
}

/// What an invitation's link offers, shown to whoever holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationOfferView {
    pub email: String,
    pub role: Role,
    pub expires_at: i64,
}

#[cfg(feature = "ssr")]
fn invitation_error(error: bulwark::invitations::InvitationError) -> ApiError {
    use bulwark::invitations::InvitationError as E;
    match error {
        E::Invalid(errors) => ApiError::Validation(errors),
        E::ActorGone => ApiError::StepUpRequired,
        E::TooManyWaiting => ApiError::ApprovalTooMany,
        E::AdminResend => ApiError::InvitationAdminResend,
        E::TooSoon => ApiError::InvitationResentRecently,
        E::NotFound => ApiError::NotFound,
        E::OwnRequest => ApiError::ApprovalOwnRequest,
        E::NotWaiting => ApiError::ApprovalNotWaiting,
        E::InvalidLink => ApiError::InvalidLink,
        E::EmailTaken => ApiError::InvitationAddressTaken,
        E::Throttled(verdict) => super::ssr::too_many(verdict),
        E::Unexpected(bulwark::accounts::UnexpectedError::Hashing(bulwark::hashing::HashError::Busy)) => {
            super::ssr::busy()
        }
        E::Unexpected(cause) => super::ssr::unexpected("an invitation failed", &cause),
    }
}

#[cfg(feature = "ssr")]
fn invitations() -> Result<bulwark::invitations::Invitations, ApiError> {
    super::ssr::service(|s| s.invitations.clone())
}

/// Every invitation (newest first, the last 200).
#[server(prefix = "/api/admin", endpoint = "invitations")]
pub async fn admin_invitations() -> Result<InvitationList, ApiError> {
    use super::ssr::*;
    async {
        let caller = admin_caller(false)?;
        // Every context read before the first await (see `admin_users`).
        let invitations_service = invitations()?;
        let invite_only = super::ssr::service(|s| s.invite_only)?;
        let now = invitations_service.now();
        let rows = invitations_service.list().await.map_err(invitation_error)?;
        let invitations = rows
            .iter()
            .map(|row| InvitationView {
                id: row.id,
                email: row.email.clone(),
                role: Role::parse_lenient(&row.role),
                status: bulwark::invitations::Status::of(row, now).as_str().to_owned(),
                invited_by: row.inviter.clone(),
                approved_by: row.approver.clone(),
                created_at: row.created_at,
                sent_at: row.sent_at,
                expires_at: row.expires_at,
                account: row.accepted_by,
                mine: row.invited_by == Some(caller.user.id),
            })
            .collect();
        Ok(InvitationList { now, invitations, invite_only })
    }
    .await
}

/// Invites `email` to an account with `role` (`user` or `admin`). An invitation to the
/// admin role waits for a second admin when one can act.
#[server(prefix = "/api/admin", endpoint = "invite")]
pub async fn admin_invite(
    #[server(default)] email: String,
    #[server(default)] role: String,
) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let caller = admin_caller(true)?;
        let role = Role::parse(role.trim()).ok_or(ApiError::BadRequest)?;
        let context = audit_context();
        let inviter = bulwark::invitations::Inviter::Admin(super::admin::actor(&caller, &context));
        let sent = invitations()?.invite(inviter, &email, role).await.map_err(invitation_error)?;
        match sent {
            bulwark::invitations::Sent::Mailed { .. } => {
                crate::flash::ssr::redirect(ADMIN_INVITATIONS_PAGE, crate::flash::notice::INVITATION_SENT)
            }
            bulwark::invitations::Sent::Waiting { .. } => {
                crate::flash::ssr::redirect(ADMIN_INVITATIONS_PAGE, crate::flash::notice::INVITATION_WAITING)
            }
        }
        Ok(())
    }
    .await
}

/// A second admin approves invitation `id` to the admin role: it is mailed.
#[server(prefix = "/api/admin", endpoint = "invitation/approve")]
pub async fn admin_approve_invitation(id: i64) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let caller = admin_caller(true)?;
        let context = audit_context();
        invitations()?.approve(super::admin::actor(&caller, &context), id).await.map_err(invitation_error)?;
        crate::flash::ssr::redirect(ADMIN_INVITATIONS_PAGE, crate::flash::notice::INVITATION_SENT);
        Ok(())
    }
    .await
}

/// Mails invitation `id` again with a new link (the old one dies).
#[server(prefix = "/api/admin", endpoint = "invitation/resend")]
pub async fn admin_resend_invitation(id: i64) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let caller = admin_caller(true)?;
        let context = audit_context();
        invitations()?.resend(super::admin::actor(&caller, &context), id).await.map_err(invitation_error)?;
        crate::flash::ssr::redirect(ADMIN_INVITATIONS_PAGE, crate::flash::notice::INVITATION_SENT);
        Ok(())
    }
    .await
}

/// Revokes invitation `id`: its link dies at once.
#[server(prefix = "/api/admin", endpoint = "invitation/revoke")]
pub async fn admin_revoke_invitation(id: i64) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let caller = admin_caller(true)?;
        let context = audit_context();
        invitations()?.revoke(super::admin::actor(&caller, &context), id).await.map_err(invitation_error)?;
        crate::flash::ssr::redirect(ADMIN_INVITATIONS_PAGE, crate::flash::notice::ADMIN_DONE);
        Ok(())
    }
    .await
}

/// What the invitation behind `token` offers, if its link is live.
#[server(prefix = "/api/invitation", endpoint = "offer")]
pub async fn read_invitation(#[server(default)] token: String) -> Result<InvitationOfferView, ApiError> {
    async {
        let offer = invitations()?.peek(&token).await.map_err(invitation_error)?;
        Ok(InvitationOfferView { email: offer.email, role: offer.role, expires_at: offer.expires_at })
    }
    .await
}

/// Accepts the invitation behind `token` with a username and a password: the account
/// exists, and its owner signs in with them (a mailed link never signs in).
#[server(prefix = "/api/invitation", endpoint = "accept")]
pub async fn accept_invitation(
    #[server(default)] token: String,
    #[server(default)] username: String,
    #[server(default)] password: String,
) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let ip = client_ip()?;
        let context = audit_context();
        let outcome = invitations()?.accept(ip, &token, &username, &password, &context).await;
        match outcome.map_err(invitation_error) {
            Ok(_) => {
                crate::flash::ssr::redirect(AFTER_INVITATION, crate::flash::notice::INVITATION_ACCEPTED);
                Ok(())
            }
            Err(error) => {
                Err(token_page_failed::<AcceptInvitation>(error, INVITATION_PAGE, &token, INVITATION_PAGE))
            }
        }
    }
    .await
}

/// Whether sign-up is by invitation only on this site (the sign-up page says so).
pub fn signup_by_invitation() -> bool {
    let shared = leptos::server::SharedValue::new(|| {
        #[cfg(feature = "ssr")]
        {
            super::ssr::services().is_some_and(|services| services.invite_only)
        }
        #[cfg(not(feature = "ssr"))]
        {
            false
        }
    });
    shared.into_inner()
}
