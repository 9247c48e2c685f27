//! Mail telling the owner what an admin did to their account. It never names the admin
//! or quotes the reason an admin wrote (that is for admins); it says what changed and
//! what the owner can do.

use super::{button, escape, page, Templates, FORGOT_PATH, RESET_PATH};
use crate::{
    mail::{Mail, MailKind},
    Email, Role,
};

/// What an admin did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminNotice {
    /// Disabled, until this time (Unix seconds, shown in UTC) or until enabled.
    Disabled {
        until: Option<i64>,
    },
    Enabled,
    Locked,
    Unlocked,
    RoleChanged(Role),
    /// A new password is required; the reset link comes with it.
    PasswordResetRequired {
        token: String,
        valid_minutes: i64,
    },
}

impl Templates {
    pub fn admin_notice(&self, to: &Email, display_name: &str, notice: &AdminNotice) -> Mail {
        let forgot = self.link(FORGOT_PATH);
        let (subject, body, action, valid_for_secs): (&str, String, Option<(String, &str)>, Option<i64>) =
            match notice {
                AdminNotice::Disabled { until } => (
                    "Your account has been disabled",
                    match until {
                        Some(until) => format!(
                            "An administrator disabled your Bulwark account until {} UTC. Every \
                             device signed in to it has been signed out.",
                            crate::utc::minute(*until)
                        ),
                        None => "An administrator disabled your Bulwark account. Every device signed in \
                                 to it has been signed out."
                            .to_owned(),
                    },
                    None,
                    None,
                ),
                AdminNotice::Enabled => (
                    "Your account has been enabled again",
                    "An administrator enabled your Bulwark account again. You can sign in as before."
                        .to_owned(),
                    None,
                    None,
                ),
                AdminNotice::Locked => (
                    "Your account has been locked",
                    "An administrator locked your Bulwark account. Every device signed in to it has \
                     been signed out."
                        .to_owned(),
                    None,
                    None,
                ),
                AdminNotice::Unlocked => (
                    "Your account has been unlocked",
                    "An administrator unlocked your Bulwark account. You can sign in as before.".to_owned(),
                    None,
                    None,
                ),
                AdminNotice::RoleChanged(role) => (
                    "Your account's role has changed",
                    format!(
                        "An administrator changed the role of your Bulwark account to \"{}\". Every \
                         device signed in to it has been signed out; sign in again to continue.",
                        role.as_str()
                    ),
                    None,
                    None,
                ),
                AdminNotice::PasswordResetRequired { token, valid_minutes } => (
                    "Choose a new password for your account",
                    format!(
                        "An administrator has required a new password for your Bulwark account. \
                         Every device signed in to it has been signed out, and the old password no \
                         longer works. The link below works once and expires in {valid_minutes} \
                         minutes (after that, ask for a new one at {forgot})."
                    ),
                    Some((self.link(&format!("{RESET_PATH}?token={token}")), "Choose a new password")),
                    Some(valid_minutes.saturating_mul(60)),
                ),
            };
        let closing = "If you did not expect this, reply to the site's administrators.";
        let mut text = format!("Hello {display_name},\n\n{body}\n\n");
        let mut html =
            vec![format!("<p>Hello {},</p>", escape(display_name)), format!("<p>{}</p>", escape(&body))];
        if let Some((link, label)) = &action {
            text.push_str(&format!("{label}: {link}\n\n"));
            html.push(button(link, label));
        }
        text.push_str(closing);
        text.push('\n');
        html.push(format!("<p>{}</p>", escape(closing)));
        Mail {
            kind: MailKind::AdminNotice,
            to: to.clone(),
            subject: subject.into(),
            text,
            html: page(&html),
            valid_for_secs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forced_reset_mail_carries_the_link_and_expires_with_it() {
        let templates = Templates::new("https://bulwark.example");
        let to = Email::parse("a@example.com").expect("email");
        let token = "tok123".to_owned();
        let mail = templates.admin_notice(
            &to,
            "Ann",
            &AdminNotice::PasswordResetRequired { token, valid_minutes: 60 },
        );
        assert!(mail.text.contains("https://bulwark.example/reset-password?token=tok123"));
        assert_eq!(mail.valid_for_secs, Some(3600));
        let disabled =
            templates.admin_notice(&to, "Ann", &AdminNotice::Disabled { until: Some(1_795_443_900) });
        assert!(disabled.text.contains("until 2026-11-23 14:25 UTC"), "{}", disabled.text);
    }
}
