//! Mail to every admin about the two-person rule: an action on an admin's account (or
//! making an account an admin) waits for a second admin, was approved, withdrawn, or was
//! taken alone because no other admin could approve it. Admins are told who did what to
//! whom; a stolen admin password then sets off every other admin's inbox.

use super::{button, escape, page, Templates};
use crate::{
    mail::{Mail, MailKind},
    Email,
};

/// The dashboard page listing the requests that wait.
pub const APPROVALS_PATH: &str = "/admin/approvals";
/// The dashboard page listing invitations (those that wait for approval first).
pub const INVITATIONS_PATH: &str = "/admin/invitations";

/// What happened, with the admins' usernames and the action in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalNotice {
    Requested {
        by: String,
        target: String,
        action: String,
        expires_at: i64,
    },
    Approved {
        by: String,
        approved_by: String,
        target: String,
        action: String,
    },
    Withdrawn {
        by: String,
        proposer: String,
        target: String,
        action: String,
    },
    /// Done by one admin: no other admin could act to approve it.
    Alone {
        by: String,
        target: String,
        action: String,
    },
    /// An admin invited `email` to an administrator's account: the invitation is mailed
    /// only if another admin approves it before `expires_at`.
    InvitationRequested {
        by: String,
        email: String,
        expires_at: i64,
    },
    /// The invitation was approved and mailed.
    InvitationApproved {
        by: String,
        approved_by: String,
        email: String,
    },
    /// Mailed at once: no other admin could act to approve it.
    InvitationAlone {
        by: String,
        email: String,
    },
    /// An operator invited `email` to an administrator's account from the command line.
    InvitationByOperator {
        email: String,
    },
}

impl Templates {
    pub fn approval_notice(&self, to: &Email, display_name: &str, notice: &ApprovalNotice) -> Mail {
        let (subject, body) = match notice {
            ApprovalNotice::Requested { by, target, action, expires_at } => (
                format!("Approval needed: {by} asks to change {target}'s account"),
                format!(
                    "The administrator {by} asks to {action} for {target}. It takes effect only if \
                     another administrator approves it before {} UTC. If this is not expected, \
                     withdraw it and check who is using {by}'s account.",
                    crate::utc::minute(*expires_at)
                ),
            ),
            ApprovalNotice::Approved { by, approved_by, target, action } => (
                format!("Done: {target}'s account was changed"),
                format!("{approved_by} approved the request of {by} to {action} for {target}. It has taken effect."),
            ),
            ApprovalNotice::Withdrawn { by, proposer, target, action } => (
                format!("Withdrawn: the request to change {target}'s account"),
                format!("{by} withdrew the request of {proposer} to {action} for {target}. Nothing was changed."),
            ),
            ApprovalNotice::Alone { by, target, action } => (
                format!("Done: {by} changed {target}'s account"),
                format!(
                    "The administrator {by} chose to {action} for {target}. No other administrator \
                     could approve it, so it took effect at once."
                ),
            ),
            ApprovalNotice::InvitationRequested { by, email, expires_at } => (
                format!("Approval needed: {by} invites a new administrator"),
                format!(
                    "The administrator {by} invites {email} to an administrator's account. The \
                     invitation is mailed only if another administrator approves it before {} \
                     UTC. If this is not expected, revoke it and check who is using {by}'s account.",
                    crate::utc::minute(*expires_at)
                ),
            ),
            ApprovalNotice::InvitationApproved { by, approved_by, email } => (
                "Done: an invitation to a new administrator was mailed".to_owned(),
                format!("{approved_by} approved the invitation of {by} for {email} to an administrator's account. It has been mailed."),
            ),
            ApprovalNotice::InvitationAlone { by, email } => (
                format!("Done: {by} invited a new administrator"),
                format!(
                    "The administrator {by} invited {email} to an administrator's account. No other \
                     administrator could approve it, so it was mailed at once."
                ),
            ),
            ApprovalNotice::InvitationByOperator { email } => (
                "Done: a new administrator was invited from the command line".to_owned(),
                format!(
                    "An operator invited {email} to an administrator's account with `server invite` \
                     on the server itself. If this is not expected, revoke it and check who can \
                     run commands on your servers."
                ),
            ),
        };
        let link = self.link(match notice {
            ApprovalNotice::InvitationRequested { .. }
            | ApprovalNotice::InvitationApproved { .. }
            | ApprovalNotice::InvitationAlone { .. }
            | ApprovalNotice::InvitationByOperator { .. } => INVITATIONS_PATH,
            _ => APPROVALS_PATH,
        });
        let closing = "You get this mail because you are an administrator of this Bulwark site.";
        let text =
            format!("Hello {display_name},\n\n{body}\n\nThe requests that wait: {link}\n\n{closing}\n");
        let html = page(&[
            format!("<p>Hello {},</p>", escape(display_name)),
            format!("<p>{}</p>", escape(&body)),
            button(&link, "See the requests that wait"),
            format!("<p>{}</p>", escape(closing)),
        ]);
        Mail { kind: MailKind::AdminApproval, to: to.clone(), subject, text, html, valid_for_secs: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_names_both_admins_the_action_and_when_it_lapses() {
        let templates = Templates::new("https://bulwark.example");
        let to = Email::parse("c@example.com").expect("email");
        let notice = ApprovalNotice::Requested {
            by: "ann".into(),
            target: "bob".into(),
            action: "lock the account".into(),
            expires_at: 1_795_443_900,
        };
        let mail = templates.approval_notice(&to, "cat", &notice);
        assert!(mail.subject.contains("ann"), "{}", mail.subject);
        assert!(mail.text.contains("ann asks to lock the account for bob"), "{}", mail.text);
        assert!(mail.text.contains("2026-11-23 14:25 UTC"));
        assert!(mail.text.contains("https://bulwark.example/admin/approvals"));
    }
}
