//! "My sessions": list and revoke the signed-in user's sessions. Sessions are named by an
//! opaque public handle, never by their id; every query is scoped to the caller, so a
//! handle belonging to someone else behaves exactly like one that does not exist.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// One session as its owner sees it. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    /// The public handle to revoke it by.
    pub id: String,
    pub current: bool,
    pub device: String,
    pub ip: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    /// When it ends if unused (idle timeout) or regardless (absolute lifetime),
    /// whichever comes first.
    pub expires_at: i64,
    /// Set when this session is an administrator impersonating the account.
    pub support: Option<SupportSessionView>,
}

/// An impersonation session, as its account's owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportSessionView {
    /// The admin's username.
    pub admin: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionList {
    /// The server's clock when the list was made, for "5 minutes ago".
    pub now: i64,
    pub sessions: Vec<SessionView>,
}

/// The signed-in user's live sessions, this one first.
#[server(prefix = "/api", endpoint = "sessions")]
pub async fn list_sessions() -> Result<SessionList, ApiError> {
    use super::ssr::*;
    async {
        let principal = current()?;
        let registry = registry()?;
        let rows = registry.list(principal.user.id).await.map_err(session_error)?;
        let mut sessions: Vec<SessionView> = rows
            .into_iter()
            .map(|row| SessionView {
                current: row.store_key == principal.session_key,
                id: row.handle,
                // Where an admin impersonating the account is is not for its owner to see.
                device: if row.support.is_some() { String::new() } else { row.device },
                ip: if row.support.is_some() { String::new() } else { row.ip },
                created_at: row.created_at,
                last_seen_at: row.last_seen_at,
                expires_at: row.idle_expires_at.min(row.absolute_expires_at),
                support: row.support.map(|s| SupportSessionView { admin: s.admin, reason: s.reason }),
            })
            .collect();
        sessions.sort_by_key(|s| !s.current);
        Ok(SessionList { now: registry.now(), sessions })
    }
    .await
}

/// Ends one of the caller's sessions by its handle. 404 when the caller has no session
/// with that handle, whoever else might. Needs a recent step-up: a stolen session must
/// not be able to sign its owner out.
#[server(prefix = "/api", endpoint = "sessions/revoke")]
pub async fn revoke_session(#[server(default)] id: String) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let principal = stepped_up()?;
        let user = &principal.user;
        if registry()?
            .revoke(user.id, &principal.session_key, id.trim(), &audit_context())
            .await
            .map_err(session_error)?
        {
            tracing::info!(event = "session_revoked", user_id = user.id, "session revoked by its owner");
            Ok(())
        } else {
            Err(ApiError::NotFound)
        }
    }
    .await
}

/// Ends every session of the caller except this one. Returns how many ended. Needs a
/// recent step-up (or a thief's session could sign the owner out everywhere else).
#[server(prefix = "/api", endpoint = "sessions/revoke-others")]
pub async fn revoke_other_sessions() -> Result<usize, ApiError> {
    use super::ssr::*;
    async {
        let principal = stepped_up()?;
        let user = &principal.user;
        let ended = registry()?
            .revoke_others(user.id, &principal.session_key, &audit_context())
            .await
            .map_err(session_error)?;
        tracing::info!(event = "session_revoked_others", user_id = user.id, ended, "other sessions revoked");
        Ok(ended)
    }
    .await
}

/// Ends every session of the caller, this one included. Needs a recent step-up.
#[server(prefix = "/api", endpoint = "sessions/revoke-all")]
pub async fn revoke_all_sessions() -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let principal = stepped_up()?;
        let user = &principal.user;
        registry()?
            .revoke_all_as(user.id, &principal.session_key, &audit_context())
            .await
            .map_err(session_error)?;
        SessionState::extract().await?.log_out().await?;
        tracing::info!(event = "session_revoked_all", user_id = user.id, "all sessions revoked");
        clear_site_data();
        leptos_axum::redirect("/login");
        Ok(())
    }
    .await
}
