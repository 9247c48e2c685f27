//! The two-person rule. An action on another admin's account (disable, enable, lock,
//! unlock, a required new password, a role change, ending their sessions), and making any
//! account an admin, takes effect only when a second admin approves it within
//! [`APPROVAL_WINDOW_SECS`]: one stolen admin password cannot take the admin plane for
//! itself. Neither the proposer nor the admin the request is about can approve it, and only
//! the proposer can withdraw it (a request nobody approves lapses). When no admin but
//! those two can act (every other is disabled, locked, unconfirmed or must change their
//! password; or the site has two admins), nobody could approve: the action takes effect at
//! once and says so (`authz_admin_approval_waived`), and the command line (`server enable`,
//! `unlock`, `set-role`) is the way back from a rogue admin. Every request, approval, withdrawal and
//! lone action is audited with both admins and mailed to every admin.
//!
//! Approving is one conditional `UPDATE` on the write transaction that then makes the
//! change and records both events, so of any number of concurrent approvals exactly one
//! commits the change, and a change the guards refuse (the last admin, an approver demoted
//! meanwhile) leaves the request waiting.

use crate::{
    accounts::UserId,
    audit::{self, Event},
    clock::UnixTime,
    mail::ApprovalNotice,
    Email,
};

use super::{action::AdminAction, approval_store, store, Actor, Admin, AdminError, Outcome};

/// How long a request waits for a second admin: a day, so an admin in another time zone
/// can answer it, and short enough that an old request is not approved by accident.
pub const APPROVAL_WINDOW_SECS: i64 = 24 * 60 * 60;

/// How many requests one admin may have waiting at once: enough for a busy day, few enough
/// that one admin cannot bury the others' requests (or their inboxes) under theirs.
pub const MAX_WAITING_PER_ADMIN: i64 = 10;

/// What an admin's action came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// It took effect (or there was nothing to change).
    Done,
    /// It waits for a second admin's approval until `expires_at`.
    Waiting { id: i64, expires_at: UnixTime },
}

/// A request that waits, as the dashboard lists it.
#[derive(Debug, Clone)]
pub struct Approval {
    pub id: i64,
    pub target: UserId,
    pub proposer: UserId,
    pub action: AdminAction,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub target_email: String,
    pub target_username: String,
    pub proposer_username: String,
}

impl Admin {
    /// Does `action` to `target` for `actor`, or, under the two-person rule, records it to
    /// wait for a second admin.
    pub async fn act(
        &self,
        actor: Actor<'_>,
        target: UserId,
        action: AdminAction,
    ) -> Result<Decision, AdminError> {
        let now = self.clock.now();
        let action = action.cleaned();
        action.check(actor.id, target, now)?;
        let before = self.user(target).await?;
        let unusable_hash = self.unusable_hash_for(&action).await?;
        let mut tx = crate::db::write(&self.pool).await?;
        let role = approval_store::role_of(&mut tx, target).await?.ok_or(AdminError::NotFound)?;
        let governed = target != actor.id && action.needs_second_admin(crate::Role::parse_lenient(&role));
        if governed && approval_store::second_admin_exists(&mut tx, actor.id, target, now).await? {
            if !store::actor_may_act(&mut tx, actor.key(now)).await? {
                return Err(AdminError::ActorGone);
            }
            if approval_store::waiting_of(&mut tx, actor.id, now).await? >= MAX_WAITING_PER_ADMIN {
                return Err(AdminError::TooManyWaiting);
            }
            let expires_at = now.saturating_add(APPROVAL_WINDOW_SECS);
            let id = approval_store::insert(&mut tx, target, actor.id, &action, now, expires_at).await?;
            let details = serde_json::json!({ "approval": id, "action": action, "expires_at": expires_at });
            let entry =
                audit::Entry::new(Event::ApprovalRequested, Some(actor.id), Some(target), actor.context)
                    .details(details);
            audit::record(&mut tx, now, &entry).await?;
            let by = self.username(&mut tx, actor.id).await?;
            let notice = ApprovalNotice::Requested {
                by,
                target: before.user.username.clone(),
                action: action.describe(),
                expires_at,
            };
            self.tell_admins(&mut tx, &notice).await?;
            tx.commit().await?;
            self.outbox.wake();
            tracing::info!(
                event = "authz_admin_approval_requested",
                actor = actor.id,
                subject = target,
                approval = id
            );
            return Ok(Decision::Waiting { id, expires_at });
        }
        let outcome = self.apply(&mut tx, actor, target, &action, unusable_hash.as_deref()).await?;
        if !settled(outcome)? {
            // Nothing to change: rolled back, nothing recorded. A session handle that ended
            // nothing is one the account does not have.
            if matches!(action, AdminAction::EndSessions { session: Some(_) }) {
                return Err(AdminError::NotFound);
            }
            return Ok(Decision::Done);
        }
        if governed {
            let details = serde_json::json!({ "action": action, "why": "no other admin can act" });
            let entry = audit::Entry::new(Event::ApprovalWaived, Some(actor.id), Some(target), actor.context)
                .details(details);
            audit::record(&mut tx, now, &entry).await?;
            let by = self.username(&mut tx, actor.id).await?;
            let notice =
                ApprovalNotice::Alone { by, target: before.user.username.clone(), action: action.describe() };
            self.tell_admins(&mut tx, &notice).await?;
        }
        self.follow_up_in(&mut tx, actor.id, target, &action, &before).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(Decision::Done)
    }

    /// Approves request `id` for `approver`: the change is made, with both admins in the
    /// audit log. Refused for the proposer (`OwnRequest`) and for a request that no longer
    /// waits (`NotWaiting`: approved, withdrawn, expired, or its proposer may no longer act).
    pub async fn approve(&self, approver: Actor<'_>, id: i64) -> Result<(), AdminError> {
        let now = self.clock.now();
        let (proposer, target, stored) =
            approval_store::find_waiting(&self.pool, id, now).await?.ok_or(AdminError::NotWaiting)?;
        if proposer == approver.id {
            return Err(AdminError::OwnRequest);
        }
        if target == approver.id {
            return Err(AdminError::AboutYou);
        }
        let action = AdminAction::from_json(&stored).ok_or(AdminError::NotWaiting)?;
        // What was refusable when asked is refusable now (a disablement's end that passed).
        action.check(proposer, target, now)?;
        let unusable_hash = self.unusable_hash_for(&action).await?;
        let mut tx = crate::db::write(&self.pool).await?;
        if !store::actor_may_act(&mut tx, approver.key(now)).await? {
            return Err(AdminError::ActorGone);
        }
        let (target, proposer, _) =
            approval_store::claim(&mut tx, id, approver.id, now).await?.ok_or(AdminError::NotWaiting)?;
        let before = store::find_in(&mut tx, target).await?.ok_or(AdminError::NotFound)?;
        let outcome = self.apply(&mut tx, approver, target, &action, unusable_hash.as_deref()).await?;
        // Refused (the last admin...): dropping `tx` rolls the claim back; the request waits.
        let changed = settled(outcome)?;
        let details = serde_json::json!({
            "approval": id, "proposed_by": proposer, "action": action, "changed": changed,
        });
        let entry =
            audit::Entry::new(Event::ApprovalGranted, Some(approver.id), Some(target), approver.context)
                .details(details);
        audit::record(&mut tx, now, &entry).await?;
        if changed {
            let notice = ApprovalNotice::Approved {
                by: self.username(&mut tx, proposer).await?,
                approved_by: self.username(&mut tx, approver.id).await?,
                target: before.user.username.clone(),
                action: action.describe(),
            };
            self.tell_admins(&mut tx, &notice).await?;
            self.follow_up_in(&mut tx, approver.id, target, &action, &before).await?;
        }
        tx.commit().await?;
        self.outbox.wake();
        tracing::info!(
            event = "authz_admin_approval_granted",
            actor = approver.id,
            subject = target,
            approval = id
        );
        Ok(())
    }

    /// Withdraws request `id`: only whoever asked for it may (another admin refuses a
    /// request by not approving it, and it lapses; were refusing open to all, a rogue admin
    /// would withdraw every request about themselves as soon as they were mailed it).
    pub async fn withdraw(&self, actor: Actor<'_>, id: i64) -> Result<(), AdminError> {
        let now = self.clock.now();
        let (proposer, _, _) =
            approval_store::find_waiting(&self.pool, id, now).await?.ok_or(AdminError::NotWaiting)?;
        if proposer != actor.id {
            return Err(AdminError::NotYours);
        }
        let mut tx = crate::db::write(&self.pool).await?;
        if !store::actor_may_act(&mut tx, actor.key(now)).await? {
            return Err(AdminError::ActorGone);
        }
        let (target, proposer, stored) =
            approval_store::withdraw(&mut tx, id, actor.id, now).await?.ok_or(AdminError::NotWaiting)?;
        let action = AdminAction::from_json(&stored);
        let details = serde_json::json!({ "approval": id, "proposed_by": proposer, "action": action });
        let entry = audit::Entry::new(Event::ApprovalWithdrawn, Some(actor.id), Some(target), actor.context)
            .details(details);
        audit::record(&mut tx, now, &entry).await?;
        let notice = ApprovalNotice::Withdrawn {
            by: self.username(&mut tx, actor.id).await?,
            proposer: self.username(&mut tx, proposer).await?,
            target: self.username(&mut tx, target).await?,
            action: action.map(|a| a.describe()).unwrap_or_default(),
        };
        self.tell_admins(&mut tx, &notice).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(())
    }

    /// The requests that wait (about `target`, or all), oldest first.
    pub async fn waiting(&self, target: Option<UserId>) -> Result<Vec<Approval>, AdminError> {
        Ok(approval_store::waiting(&self.pool, self.clock.now(), target).await?)
    }

    /// Whether an admin other than `actor` and `target` can act now: if not, what `actor`
    /// does to `target` takes effect at once (the dashboard says so).
    pub async fn second_admin_exists(&self, actor: UserId, target: UserId) -> Result<bool, AdminError> {
        let mut connection = self.pool.acquire().await?;
        Ok(approval_store::second_admin_exists(&mut connection, actor, target, self.clock.now()).await?)
    }

    /// Deletes requests decided or lapsed more than a week ago (the clean-up pass).
    pub async fn delete_old_approvals(&self) -> Result<u64, AdminError> {
        let before = self.clock.now().saturating_sub(7 * 24 * 60 * 60);
        Ok(approval_store::delete_old(&self.pool, before).await?)
    }

    async fn username(&self, tx: &mut crate::db::Tx, id: UserId) -> Result<String, AdminError> {
        Ok(approval_store::username(tx, id).await?.unwrap_or_default())
    }

    /// Queues `notice` to every admin on `tx` (sent only if it commits).
    async fn tell_admins(&self, tx: &mut crate::db::Tx, notice: &ApprovalNotice) -> Result<(), AdminError> {
        Ok(tell_admins(tx, &self.outbox, &self.templates, notice).await?)
    }
}

/// Queues `notice` for every admin, on `tx` (sent only if it commits): the two-person
/// rule's mail, for admin actions and invitations alike.
pub async fn tell_admins(
    tx: &mut crate::db::Tx,
    outbox: &crate::mail::Outbox,
    templates: &crate::mail::Templates,
    notice: &ApprovalNotice,
) -> sqlx::Result<()> {
    for (address, username) in approval_store::admins(tx).await? {
        let Ok(email) = Email::parse(&address) else { continue };
        outbox.enqueue_in(tx, &templates.approval_notice(&email, &username, notice)).await?;
    }
    Ok(())
}

/// `Ok(true)` for a change made, `Ok(false)` for nothing to change, the refusal otherwise.
fn settled(outcome: Outcome) -> Result<bool, AdminError> {
    match outcome {
        Outcome::Done => Ok(true),
        Outcome::Unchanged => Ok(false),
        Outcome::NoSuchUser => Err(AdminError::NotFound),
        Outcome::LastAdmin => Err(AdminError::LastAdmin),
        Outcome::ActorGone => Err(AdminError::ActorGone),
    }
}
