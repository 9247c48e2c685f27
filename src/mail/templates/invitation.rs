//! Mail about invitations: the link that lets an invited address's owner choose a username
//! and a password; and, when the address already has an account, a notice to its owner
//! with nothing to follow but the usual sign-in and reset pages. Both have the same
//! subject, so nothing about the address shows before the mail is opened. Bulwark's words
//! only: never the inviting admin's name.

use super::{button, escape, page, Templates, FORGOT_PATH};
use crate::{
    mail::{Mail, MailKind},
    Email, Role,
};

/// The page an invitation link opens; the token rides in the query string.
pub const INVITATION_PATH: &str = "/invitation";
/// The subject of every invitation mail.
pub const INVITATION_SUBJECT: &str = "Your invitation to Bulwark";

impl Templates {
    /// The invitation's link, valid for `valid_days`, to an account with `role`.
    pub fn invitation(&self, to: &Email, token: &str, role: Role, valid_days: i64) -> Mail {
        let link = format!("{}?token={token}", self.link(INVITATION_PATH));
        let what = match role {
            Role::Admin => {
                "You have been invited to an administrator's account on Bulwark. Before the \
                 account can do anything else, you set up a second factor (an authenticator \
                 app or a passkey)."
            }
            Role::User => "You have been invited to an account on Bulwark.",
        };
        let text = format!(
            "Hello,\n\n{what} Open this link to choose your username and password:\n\n{link}\n\n\
             The link works once and expires in {valid_days} days. If you did not expect this \
             invitation, ignore this mail: without the link, nothing happens.\n"
        );
        let html = page(&[
            "<p>Hello,</p>".to_owned(),
            format!("<p>{}</p>", escape(what)),
            button(&link, "Accept the invitation"),
            format!(
                "<p>The link works once and expires in {valid_days} days. If you did not expect \
                 this invitation, ignore this mail: without the link, nothing happens.</p>"
            ),
        ]);
        Mail {
            kind: MailKind::Invitation,
            to: to.clone(),
            subject: INVITATION_SUBJECT.into(),
            text,
            html,
            valid_for_secs: Some(valid_days.saturating_mul(24 * 3600)),
        }
    }

    /// To the owner of an address that already has an account: somebody invited it; the
    /// account is unchanged and nothing needs doing.
    pub fn invitation_existing(&self, to: &Email, display_name: &str) -> Mail {
        let sign_in = self.link("/login");
        let forgot = self.link(FORGOT_PATH);
        let what = "An administrator of this Bulwark site invited your address to an account, but \
                    you already have one. Nothing has changed: keep using your account.";
        let text = format!(
            "Hello {display_name},\n\n{what}\n\nSign in: {sign_in}\nForgot your password? {forgot}\n"
        );
        let html = page(&[
            format!("<p>Hello {},</p>", escape(display_name)),
            format!("<p>{}</p>", escape(what)),
            button(&sign_in, "Sign in"),
            format!("<p>Forgot your password? <a href=\"{}\">Choose a new one</a>.</p>", escape(&forgot)),
        ]);
        Mail {
            kind: MailKind::InvitationExisting,
            to: to.clone(),
            subject: INVITATION_SUBJECT.into(),
            text,
            html,
            valid_for_secs: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_invitation_mails_look_alike_from_outside_and_only_one_has_a_link() {
        let templates = Templates::new("https://bulwark.example");
        let to = Email::parse("new@example.com").expect("email");
        let token = "ab".repeat(32);
        let link = templates.invitation(&to, &token, Role::Admin, 3);
        let existing = templates.invitation_existing(&to, "Ann");
        assert_eq!(link.subject, existing.subject);
        assert_eq!(link.kind.log_name(), existing.kind.log_name());
        assert!(link.text.contains(&format!("https://bulwark.example/invitation?token={token}")));
        assert!(link.text.contains("second factor"));
        assert!(!existing.text.contains("token="));
        assert_eq!(link.valid_for_secs, Some(3 * 24 * 3600));
    }
}
