//! What an admin does to another account, as one value: the dashboard's buttons, the
//! two-person rule (which stores it while it waits and replays it when approved) and the
//! audit log all speak of the same [`AdminAction`].

use serde::{Deserialize, Serialize};

use crate::{accounts::UserId, audit::Event, clock::UnixTime, Role};

use super::{AdminError, MAX_REASON_CHARS};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AdminAction {
    /// Disable (reason required; until a time, or until enabled); ends every session.
    Disable {
        reason: String,
        until: Option<UnixTime>,
    },
    Enable,
    /// The admin lock; ends every session.
    Lock,
    /// Lift the lock and clear the sign-in throttle.
    Unlock,
    /// Require a new password: every session and device cookie ends, a reset link is mailed.
    ForceReset,
    SetRole {
        role: Role,
    },
    /// End the session with this public handle, or every session.
    EndSessions {
        session: Option<String>,
    },
    /// Remove every second factor (the owner lost them all; reason required): every
    /// session ends, the owner is mailed and sets one up again.
    ResetFactors {
        reason: String,
    },
    /// Delete the account (reason required): it closes at once (every session ends) and is
    /// erased when the grace period ends, unless its owner keeps it with the mailed link.
    Delete {
        reason: String,
    },
}

impl AdminAction {
    /// The action with its free text made safe to show: a disablement's reason loses
    /// control and direction-changing characters (which could make it read as something
    /// else on an approver's screen).
    pub(super) fn cleaned(self) -> Self {
        match self {
            Self::Disable { reason, until } => Self::Disable { reason: clean(&reason), until },
            Self::ResetFactors { reason } => Self::ResetFactors { reason: clean(&reason) },
            Self::Delete { reason } => Self::Delete { reason: clean(&reason) },
            other => other,
        }
    }

    /// Refuses what no admin may ask for, before anything is read.
    pub(super) fn check(&self, actor: UserId, target: UserId, now: UnixTime) -> Result<(), AdminError> {
        if let Some(reason) = self.reason() {
            if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
                return Err(AdminError::ReasonRequired);
            }
        }
        if let Self::Disable { until, .. } = self {
            if until.is_some_and(|until| until <= now) {
                return Err(AdminError::UntilInPast);
            }
        }
        let on_oneself_refused = matches!(
            self,
            Self::Disable { .. }
                | Self::Lock
                | Self::ForceReset
                | Self::ResetFactors { .. }
                | Self::Delete { .. }
        );
        if on_oneself_refused && target == actor {
            return Err(AdminError::Yourself);
        }
        Ok(())
    }

    /// Whether, on an account with `target_role`, this needs a second admin's approval:
    /// anything done to another admin's account, and making an account an admin (or one
    /// admin could make a second account of their own an admin and approve with it).
    pub fn needs_second_admin(&self, target_role: Role) -> bool {
        target_role == Role::Admin || matches!(self, Self::SetRole { role: Role::Admin })
    }

    /// The audit event the change itself writes.
    pub(super) fn event(&self) -> Event {
        match self {
            Self::Disable { .. } => Event::UserDisabled,
            Self::Enable => Event::UserEnabled,
            Self::Lock => Event::UserLocked,
            Self::Unlock => Event::UserUnlocked,
            Self::ForceReset => Event::AdminPasswordReset,
            Self::SetRole { .. } => Event::RoleChanged,
            Self::EndSessions { .. } => Event::SessionsRevoked,
            Self::ResetFactors { .. } => Event::FactorsReset,
            Self::Delete { .. } => Event::DeletionRequested,
        }
    }

    /// What it does, in words for admins ("lock the account", "make it an admin").
    pub fn describe(&self) -> String {
        match self {
            Self::Disable { until: None, .. } => "disable the account until it is enabled".into(),
            Self::Disable { until: Some(until), .. } => {
                format!("disable the account until {} UTC", crate::utc::minute(*until))
            }
            Self::Enable => "enable the account".into(),
            Self::Lock => "lock the account".into(),
            Self::Unlock => "unlock the account".into(),
            Self::ForceReset => "require a new password (every session ends)".into(),
            Self::SetRole { role: Role::Admin } => "make the account an administrator".into(),
            Self::SetRole { role: Role::User } => "remove the administrator role".into(),
            Self::EndSessions { session: Some(_) } => "sign out one session".into(),
            Self::EndSessions { session: None } => "sign out every session".into(),
            Self::ResetFactors { .. } => {
                "reset two-factor sign-in (every session ends; the owner sets it up again)".into()
            }
            Self::Delete { .. } => {
                "delete the account (closed now, erased after the grace period unless the owner keeps it)"
                    .into()
            }
        }
    }

    /// A disablement's or a factor reset's reason, as its proposer wrote it (shown apart
    /// from the action, and never mailed).
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Disable { reason, .. } | Self::ResetFactors { reason } | Self::Delete { reason } => {
                Some(reason.trim())
            }
            _ => None,
        }
    }

    /// As stored with a waiting request.
    pub(super) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub(super) fn from_json(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }
}

/// Free text without control and direction-changing characters.
fn clean(text: &str) -> String {
    text.chars().filter(|c| !c.is_control() && !is_bidi_control(*c)).collect()
}

/// The Unicode characters that change the direction of the text after them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{061c}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_cannot_hide_text_or_turn_its_direction() {
        let action = AdminAction::Disable { reason: "spam\n\u{202e}txet\u{2066}".into(), until: None };
        assert_eq!(action.cleaned().reason(), Some("spamtxet"));
        let described = AdminAction::Disable { reason: "x".into(), until: None }.describe();
        assert_eq!(described, "disable the account until it is enabled");
    }

    #[test]
    fn an_action_survives_being_stored() {
        let actions = [
            AdminAction::Disable { reason: "abuse".into(), until: Some(1_800_000_000) },
            AdminAction::Enable,
            AdminAction::Lock,
            AdminAction::Unlock,
            AdminAction::ForceReset,
            AdminAction::SetRole { role: Role::User },
            AdminAction::EndSessions { session: Some("h".into()) },
            AdminAction::EndSessions { session: None },
            AdminAction::Delete { reason: "asked by phone".into() },
        ];
        for action in actions {
            assert_eq!(AdminAction::from_json(&action.to_json()), Some(action));
        }
        assert_eq!(AdminAction::from_json("{\"kind\":\"delete_everything\"}"), None);
    }

    #[test]
    fn anything_on_an_admin_and_making_one_need_a_second_admin() {
        assert!(AdminAction::Lock.needs_second_admin(Role::Admin));
        assert!(AdminAction::Enable.needs_second_admin(Role::Admin));
        assert!(!AdminAction::Lock.needs_second_admin(Role::User));
        assert!(AdminAction::SetRole { role: Role::Admin }.needs_second_admin(Role::User));
        assert!(!AdminAction::EndSessions { session: None }.needs_second_admin(Role::User));
    }

    #[test]
    fn a_disablement_needs_a_reason_and_a_future_end_and_nobody_locks_themselves() {
        let blank = AdminAction::Disable { reason: "  ".into(), until: None };
        assert!(matches!(blank.check(1, 2, 100), Err(AdminError::ReasonRequired)));
        let past = AdminAction::Disable { reason: "x".into(), until: Some(100) };
        assert!(matches!(past.check(1, 2, 100), Err(AdminError::UntilInPast)));
        assert!(matches!(AdminAction::Lock.check(1, 1, 100), Err(AdminError::Yourself)));
        let delete = AdminAction::Delete { reason: "asked".into() };
        assert!(matches!(delete.check(1, 1, 100), Err(AdminError::Yourself)));
        assert!(matches!(
            AdminAction::Delete { reason: " ".into() }.check(1, 2, 100),
            Err(AdminError::ReasonRequired)
        ));
        assert!(delete.needs_second_admin(Role::Admin));
        assert!(!delete.needs_second_admin(Role::User));
        assert!(AdminAction::Unlock.check(1, 1, 100).is_ok());
    }
}
