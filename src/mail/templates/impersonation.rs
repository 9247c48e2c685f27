//! The mail that tells someone an admin has started seeing their account as they see it:
//! who, when, until when at the latest, the reason the admin gave, and where to end it.

use super::{button, escape, page, Templates};
use crate::{
    clock::UnixTime,
    mail::{Mail, MailKind},
    Email,
};

/// Where the owner sees (and can end) the impersonation session.
pub const SESSIONS_PATH: &str = "/account/sessions";

/// One impersonation, as its subject is told about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImpersonationNotice<'a> {
    /// The admin's username.
    pub admin: &'a str,
    pub reason: &'a str,
    pub started_at: UnixTime,
    pub expires_at: UnixTime,
}

impl Templates {
    pub fn impersonation_started(
        &self,
        to: &Email,
        display_name: &str,
        notice: &ImpersonationNotice<'_>,
    ) -> Mail {
        let sessions = self.link(SESSIONS_PATH);
        let started = crate::utc::minute(notice.started_at);
        let until = crate::utc::minute(notice.expires_at);
        let body = format!(
            "{admin}, an administrator of this site, started viewing your Bulwark account as you \
             see it at {started} UTC, until {until} UTC at the latest.",
            admin = notice.admin
        );
        let reason = format!("The reason they gave: \"{}\"", notice.reason);
        let limits = "While they do, they cannot change your password, your email address or your \
                      sessions. It appears on your sessions page, where you can end it at once, and \
                      in your account's activity.";
        let label = "See or end it";
        let text = format!(
            "Hello {display_name},\n\n{body}\n\n{reason}\n\n{limits}\n\n{label}: {sessions}\n\n\
             If you did not expect this, reply to the site's administrators.\n"
        );
        let html = page(&[
            format!("<p>Hello {},</p>", escape(display_name)),
            format!("<p>{}</p>", escape(&body)),
            format!("<p>{}</p>", escape(&reason)),
            format!("<p>{}</p>", escape(limits)),
            button(&sessions, label),
            format!("<p>{}</p>", escape("If you did not expect this, reply to the site's administrators.")),
        ]);
        Mail {
            kind: MailKind::Impersonation,
            to: to.clone(),
            subject: "An administrator is viewing your account".into(),
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
    fn the_mail_names_the_admin_the_times_and_the_reason_and_escapes_it() {
        let templates = Templates::new("https://bulwark.example");
        let to = Email::parse("a@example.com").expect("email");
        let notice = ImpersonationNotice {
            admin: "helpdesk",
            reason: "Ticket 42: <b>checkout</b> fails",
            started_at: 1_795_443_900,
            expires_at: 1_795_445_700,
        };
        let mail = templates.impersonation_started(&to, "Ann", &notice);
        assert!(mail.text.contains("helpdesk"), "{}", mail.text);
        assert!(mail.text.contains("2026-11-23 14:25 UTC"), "{}", mail.text);
        assert!(mail.text.contains("2026-11-23 14:55 UTC"), "{}", mail.text);
        assert!(mail.text.contains("Ticket 42: <b>checkout</b> fails"));
        assert!(mail.html.contains("Ticket 42: &lt;b&gt;checkout&lt;/b&gt; fails"), "{}", mail.html);
        assert!(!mail.html.contains("<b>checkout"));
        assert!(mail.text.contains("https://bulwark.example/account/sessions"));
    }
}
