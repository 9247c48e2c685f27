//! The names of the events the audit log records.

use serde::Serialize;

/// The events Bulwark records. Their names are OWASP's where it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Event {
    /// A sign-in with the right password (`failure`: refused for the account's state).
    LoginSuccess,
    /// A sign-in with a wrong password for an existing account.
    LoginFail,
    /// The owner changed their password (`failure`: the current password was wrong).
    PasswordChange,
    /// A password set through a reset link.
    PasswordReset,
    /// An admin disabled the account.
    UserDisabled,
    /// An admin enabled a disabled account.
    UserEnabled,
    /// An admin locked the account.
    UserLocked,
    /// An admin lifted the lock (and the sign-in throttle).
    UserUnlocked,
    /// An admin required a new password (sessions ended, link mailed).
    AdminPasswordReset,
    /// An admin granted or removed the admin role.
    RoleChanged,
    /// Sessions ended by their owner or an admin.
    SessionsRevoked,
    /// An account created from the command line.
    UserCreated,
    /// The password typed again for a sensitive action (step-up).
    StepUp,
    /// An admin started impersonating the account (details: the reason, the cap).
    ImpersonationStart,
    /// An impersonation ended (details: how, by whom, how long it lasted).
    ImpersonationEnd,
    /// The owner let support staff impersonate the account until a time (consent mode).
    SupportAccessGranted,
    /// The owner withdrew that permission.
    SupportAccessRevoked,
    /// The owner asked to change the account's address (a link went to the new one).
    EmailChangeRequested,
    /// The new address's owner confirmed it: the account's address changed.
    EmailChanged,
    /// A pending address change was cancelled (from the old address's link, or by the owner).
    EmailChangeCancelled,
    /// The old address's owner took the account back after a change (sessions ended, a new
    /// password required).
    EmailChangeRecovered,
    /// An admin asked for an action on another admin's account (or to make an account an
    /// admin); it waits for a second admin (details: the request, the action, its expiry).
    ApprovalRequested,
    /// A second admin approved such a request; the action's own event is written with it.
    ApprovalGranted,
    /// Such a request was withdrawn before anyone approved it.
    ApprovalWithdrawn,
    /// Such an action was taken by one admin because no other admin could approve it.
    ApprovalWaived,
    /// A second factor was added (details: which).
    FactorAdded,
    /// A second factor was removed by its owner (details: which).
    FactorRemoved,
    /// New recovery codes were made (the old set died).
    RecoveryCodesRenewed,
    /// A second step of a sign-in, or a step-up, with a factor (`failure`: a wrong code;
    /// details: which factor).
    SecondStep,
    /// An administrator removed every factor of the account (details: the reason).
    FactorsReset,
    /// A passkey was renamed (details: the old and new names).
    PasskeyRenamed,
    /// A passkey's signature counter went backwards (a possible clone): it was set aside.
    PasskeyFlagged,
    /// The account is to be deleted after the grace period (by its owner, or an admin:
    /// details say which and, for an admin, the reason).
    DeletionRequested,
    /// The owner kept the account with the mailed link.
    DeletionUndone,
    /// The grace period ended and the account's personal data was erased.
    AccountErased,
    /// The owner downloaded their data.
    DataExported,
    /// An invitation was mailed (details: its id, role, and whether it was a resend).
    InvitationSent,
    /// An invitation was revoked before it was accepted (details: its id).
    InvitationRevoked,
}

impl Event {
    pub const ALL: [Self; 38] = [
        Self::LoginSuccess,
        Self::LoginFail,
        Self::PasswordChange,
        Self::PasswordReset,
        Self::UserDisabled,
        Self::UserEnabled,
        Self::UserLocked,
        Self::UserUnlocked,
        Self::AdminPasswordReset,
        Self::RoleChanged,
        Self::SessionsRevoked,
        Self::UserCreated,
        Self::StepUp,
        Self::ImpersonationStart,
        Self::ImpersonationEnd,
        Self::SupportAccessGranted,
        Self::SupportAccessRevoked,
        Self::EmailChangeRequested,
        Self::EmailChanged,
        Self::EmailChangeCancelled,
        Self::EmailChangeRecovered,
        Self::ApprovalRequested,
        Self::ApprovalGranted,
        Self::ApprovalWithdrawn,
        Self::ApprovalWaived,
        Self::FactorAdded,
        Self::FactorRemoved,
        Self::RecoveryCodesRenewed,
        Self::SecondStep,
        Self::FactorsReset,
        Self::PasskeyRenamed,
        Self::PasskeyFlagged,
        Self::DeletionRequested,
        Self::DeletionUndone,
        Self::AccountErased,
        Self::DataExported,
        Self::InvitationSent,
        Self::InvitationRevoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginSuccess => "authn_login_success",
            Self::LoginFail => "authn_login_fail",
            Self::PasswordChange => "authn_password_change",
            Self::PasswordReset => "authn_password_reset",
            Self::UserDisabled => "user_disabled",
            Self::UserEnabled => "user_enabled",
            Self::UserLocked => "user_locked",
            Self::UserUnlocked => "user_unlocked",
            Self::AdminPasswordReset => "authz_admin_password_reset",
            Self::RoleChanged => "authz_role_change",
            Self::SessionsRevoked => "session_revoked",
            Self::UserCreated => "user_created",
            Self::StepUp => "authn_reauth",
            Self::ImpersonationStart => "authz_impersonation_start",
            Self::ImpersonationEnd => "authz_impersonation_end",
            Self::SupportAccessGranted => "authz_support_access_granted",
            Self::SupportAccessRevoked => "authz_support_access_revoked",
            Self::EmailChangeRequested => "user_email_change_requested",
            Self::EmailChanged => "user_email_changed",
            Self::EmailChangeCancelled => "user_email_change_cancelled",
            Self::EmailChangeRecovered => "user_email_change_recovered",
            Self::ApprovalRequested => "authz_admin_approval_requested",
            Self::ApprovalGranted => "authz_admin_approval_granted",
            Self::ApprovalWithdrawn => "authz_admin_approval_withdrawn",
            Self::ApprovalWaived => "authz_admin_approval_waived",
            Self::FactorAdded => "authn_factor_added",
            Self::FactorRemoved => "authn_factor_removed",
            Self::RecoveryCodesRenewed => "authn_recovery_codes_renewed",
            Self::SecondStep => "authn_second_step",
            Self::FactorsReset => "authz_admin_factors_reset",
            Self::PasskeyRenamed => "authn_passkey_renamed",
            Self::PasskeyFlagged => "authn_passkey_flagged",
            Self::DeletionRequested => "user_deletion_requested",
            Self::DeletionUndone => "user_deletion_undone",
            Self::AccountErased => "user_erased",
            Self::DataExported => "user_data_exported",
            Self::InvitationSent => "user_invitation_sent",
            Self::InvitationRevoked => "user_invitation_revoked",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|event| event.as_str() == name)
    }
}
