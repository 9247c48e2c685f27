//! What runs beside the requests: the mail sender and the periodic clean-up pass.

use std::time::Duration;

use bulwark::mail::{self, SenderPolicy};
use tokio::{sync::watch, task::JoinHandle};
use tower_sessions::session_store::ExpiredDeletion;

use crate::AppState;

/// Delivers queued mail in the background until `shutdown` turns true.
pub fn spawn_mail_sender(state: &AppState, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    mail::spawn_sender(
        state.outbox.clone(),
        state.mail_transport.clone(),
        state.settings.mail.from.clone(),
        SenderPolicy::default(),
        shutdown,
    )
}

/// Deletes expired sessions (registry rows and stored data), throttle counters that can no
/// longer matter, expired device cookies, expired mail tokens and expired pending
/// signups every `every`, until `shutdown` turns true.
pub fn spawn_cleanup(
    state: &AppState,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    for (what, error) in clean_up(&state).await {
                        tracing::warn!(error = %error, "{what} clean-up failed");
                    }
                }
                _ = shutdown.changed() => break,
            }
        }
        tracing::debug!("session clean-up stopped");
    })
}

/// One clean-up pass (see [`spawn_cleanup`]): every step runs even when one before it
/// failed; the failures, named, are returned.
pub async fn clean_up(state: &AppState) -> Vec<(&'static str, String)> {
    let mut failures = Vec::new();
    match state.registry.delete_expired().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(event = "session_expired", count = n, "expired sessions removed"),
        Err(error) => failures.push(("session", error.to_string())),
    }
    if let Err(error) = state.sessions.delete_expired().await {
        failures.push(("session store", error.to_string()));
    }
    if let Err(error) = state.throttle.delete_stale().await {
        failures.push(("throttle counter", error.to_string()));
    }
    if let Err(error) = state.factors.delete_expired().await {
        tracing::warn!(error = %error, "deleting expired second steps failed");
    }
    if let Err(error) = state.devices.delete_expired().await {
        failures.push(("device cookie", error.to_string()));
    }
    if let Err(error) = state.accounts.delete_expired_tokens().await {
        failures.push(("token", error.to_string()));
    }
    if let Err(error) = state.email_changes.delete_dead().await {
        failures.push(("email change", error.to_string()));
    }
    if let Err(error) = state.admin.delete_old_approvals().await {
        failures.push(("admin approval", error.to_string()));
    }
    let audit = bulwark::audit::AuditLog::new(state.pool.clone());
    let before = state.registry.now().saturating_sub(bulwark::audit::UNKNOWN_FAILURES_KEPT_SECS);
    match audit.prune_unknown_failures(before).await {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(event = "audit_pruned", count = n, "old failed sign-ins naming no account removed")
        }
        Err(error) => failures.push(("audit retention", error.to_string())),
    }
    if let Err(error) = state.outbox.prune_log().await {
        failures.push(("mail log", error.to_string()));
    }
    match state.deletions.erase_due().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(event = "user_erased", count = n, "accounts past their grace period erased"),
        Err(error) => failures.push(("account erasure", error.to_string())),
    }
    match state.accounts.delete_expired_pending().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(event = "user_signup_expired", count = n, "expired signups removed"),
        Err(error) => failures.push(("pending signup", error.to_string())),
    }
    match state.invitations.prune().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(event = "user_invitation_pruned", count = n, "ended invitations forgotten"),
        Err(error) => failures.push(("invitations", error.to_string())),
    }
    failures
}
