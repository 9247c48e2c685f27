//! Outgoing mail. Requests never talk to a mail server: they put a [`Mail`] into the
//! [`Outbox`] (a table), and the [`sender`] delivers it in the background with retries.
//! So a response takes as long whether or not a mail was written, and a mail server that
//! is down delays mail, not sign-ups.
//!
//! ```text
//!   request ──enqueue──▶ mail_outbox ──claim──▶ sender ──▶ Transport ─┬─▶ SMTP (lettre)
//!                        (table)        ◀─sent: row deleted           └─▶ .eml folder (dev)
//!                                       ◀─failed: retry with backoff
//! ```
//!
//! Mail bodies are built by [`templates`] from the configured public URL, never from a
//! request's Host header. Log lines name a mail by its outbox id and kind, never by its
//! recipient.

pub mod outbox;
pub mod sender;
pub mod templates;
pub mod transport;

pub use self::{
    outbox::{Outbox, Queued},
    sender::{spawn_sender, SenderPolicy},
    templates::{AdminNotice, ApprovalNotice, DeletionNotice, ImpersonationNotice, Templates},
    transport::{DevTransport, MailTransport, SmtpSettings, SmtpTls, SmtpTransport, TransportError},
};
use crate::Email;

/// What a mail is about; stored with it and named in logs instead of the recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// The link that confirms a new account's address.
    VerifyEmail,
    /// Someone tried to sign up with an address that already has an account.
    SignupExisting,
    /// The link to choose a new password.
    PasswordReset,
    /// The password was just changed.
    PasswordChanged,
    /// An admin disabled, enabled or locked the account, changed its role, or required
    /// a new password.
    AdminNotice,
    /// An admin started impersonating the account.
    Impersonation,
    /// The account was signed in to from a browser new to it.
    NewDevice,
    /// The link that confirms a new address for an account.
    EmailChangeConfirm,
    /// A change to this address was asked for, but the address already has an account.
    EmailChangeTaken,
    /// To the old address: a change was asked for (with the link that cancels it).
    EmailChangeRequested,
    /// To the old address: the change happened (with the link that recovers the account).
    EmailChanged,
    /// After a recovery: the link to choose a new password.
    AccountRecovered,
    /// After a recovery, to the address the account had: it was moved back.
    AccountRecoveredElsewhere,
    /// To every admin: an action on an admin's account waits for approval, or was decided.
    AdminApproval,
    /// A second factor was added, removed or used as a last resort (a recovery code), or
    /// new recovery codes were made.
    FactorNotice,
    /// The right password was followed by wrong second steps: someone may know it.
    FactorAlarm,
    /// The account will be deleted (with the link that undoes it), or the deletion was undone.
    AccountDeletion,
    /// An invitation's link.
    Invitation,
    /// Someone invited an address that already has an account (no link).
    InvitationExisting,
}

/// The name log lines give a mail of the kind stored as `stored`. The mail that answers a
/// request for an address with an account and the one that answers the same request for an
/// address without one share a name, so a log reader cannot tell which went out.
pub fn log_kind(stored: &str) -> &str {
    match stored {
        "verify_email" | "signup_existing" => "signup",
        "email_change_confirm" | "email_change_taken" => "email_change_new_address",
        "invitation" | "invitation_existing" => "invitation",
        other => other,
    }
}

impl MailKind {
    /// See [`log_kind`].
    pub fn log_name(self) -> &'static str {
        log_kind(self.as_str())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::SignupExisting => "signup_existing",
            Self::PasswordReset => "password_reset",
            Self::PasswordChanged => "password_changed",
            Self::AdminNotice => "admin_notice",
            Self::Impersonation => "impersonation_notice",
            Self::NewDevice => "new_device_notice",
            Self::EmailChangeConfirm => "email_change_confirm",
            Self::EmailChangeTaken => "email_change_taken",
            Self::EmailChangeRequested => "email_change_requested",
            Self::EmailChanged => "email_changed",
            Self::AccountRecovered => "account_recovered",
            Self::AccountRecoveredElsewhere => "account_recovered_elsewhere",
            Self::AdminApproval => "admin_approval",
            Self::FactorNotice => "factor_notice",
            Self::FactorAlarm => "factor_alarm",
            Self::AccountDeletion => "account_deletion",
            Self::Invitation => "invitation",
            Self::InvitationExisting => "invitation_existing",
        }
    }
}

/// One message, rendered and ready to queue.
#[derive(Clone, PartialEq, Eq)]
pub struct Mail {
    pub kind: MailKind,
    pub to: Email,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// How long the link in it works, if it has one: past that the mail is given up,
    /// never sent late.
    pub valid_for_secs: Option<i64>,
}

impl std::fmt::Debug for Mail {
    // Neither the recipient nor the body (which may hold a link with a token).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail").field("kind", &self.kind).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY_KIND: [MailKind; 19] = [
        MailKind::Invitation,
        MailKind::InvitationExisting,
        MailKind::AccountDeletion,
        MailKind::FactorNotice,
        MailKind::FactorAlarm,
        MailKind::VerifyEmail,
        MailKind::SignupExisting,
        MailKind::PasswordReset,
        MailKind::PasswordChanged,
        MailKind::AdminNotice,
        MailKind::Impersonation,
        MailKind::NewDevice,
        MailKind::EmailChangeConfirm,
        MailKind::EmailChangeTaken,
        MailKind::EmailChangeRequested,
        MailKind::EmailChanged,
        MailKind::AccountRecovered,
        MailKind::AccountRecoveredElsewhere,
        MailKind::AdminApproval,
    ];

    #[test]
    fn a_log_line_names_a_mail_the_same_whether_or_not_the_address_has_an_account() {
        assert_eq!(MailKind::VerifyEmail.log_name(), MailKind::SignupExisting.log_name());
        assert_eq!(MailKind::EmailChangeConfirm.log_name(), MailKind::EmailChangeTaken.log_name());
        assert_eq!(MailKind::Invitation.log_name(), MailKind::InvitationExisting.log_name());
        for kind in EVERY_KIND {
            // Queued and sent lines (the sender reads the stored name) agree.
            assert_eq!(log_kind(kind.as_str()), kind.log_name(), "{kind:?}");
            assert!(!kind.log_name().contains("existing") && !kind.log_name().contains("taken"));
        }
    }
}
