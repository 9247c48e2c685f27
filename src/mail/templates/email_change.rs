//! The mails of an email change (see `email_change`): the confirmation link to the new
//! address (or, when that address already has an account, a mail that says only that);
//! the notice to the old address with the link that cancels; the notice after the change
//! with the link that recovers the account; and, after a recovery, the link to choose a
//! new password.

use super::{button, escape, page, Templates, FORGOT_PATH, RESET_PATH};
use crate::{
    mail::{Mail, MailKind},
    Email,
};

/// The page a confirmation link opens; the token rides in the query string.
pub const CONFIRM_PATH: &str = "/email-change/confirm";
/// The page the old address's cancel link opens.
pub const CANCEL_PATH: &str = "/email-change/cancel";
/// The page the old address's recovery link opens.
pub const RECOVER_PATH: &str = "/email-change/recover";

/// A mail's words: paragraphs, one button (label, link), then closing paragraphs; the
/// same words in text and HTML.
struct Words<'a> {
    kind: MailKind,
    to: &'a Email,
    subject: &'a str,
    greeting: String,
    before: Vec<String>,
    action: Option<(&'a str, String)>,
    after: Vec<String>,
    valid_for_secs: Option<i64>,
}

impl Words<'_> {
    fn mail(self) -> Mail {
        let mut text = format!("{}\n\n", self.greeting);
        let mut html = vec![format!("<p>{}</p>", escape(&self.greeting))];
        for p in &self.before {
            text.push_str(&format!("{p}\n\n"));
            html.push(format!("<p>{}</p>", escape(p)));
        }
        if let Some((label, link)) = &self.action {
            text.push_str(&format!("{label}:\n{link}\n\n"));
            html.push(button(link, label));
        }
        for p in &self.after {
            text.push_str(&format!("{p}\n\n"));
            html.push(format!("<p>{}</p>", escape(p)));
        }
        Mail {
            kind: self.kind,
            to: self.to.clone(),
            subject: self.subject.into(),
            text: text.trim_end().to_owned() + "\n",
            html: page(&html),
            valid_for_secs: self.valid_for_secs,
        }
    }
}

fn hello(display_name: &str) -> String {
    format!("Hello {display_name},")
}

impl Templates {
    /// To the new address: the link that makes it the account's address.
    pub fn email_change_confirm(&self, to: &Email, token: &str, valid_hours: i64) -> Mail {
        Words {
            kind: MailKind::EmailChangeConfirm,
            to,
            subject: "Confirm your new email address",
            greeting: "Hello,".into(),
            before: vec!["Someone, probably you, asked to use this address for their Bulwark account. \
                 Nothing changes until you confirm it:"
                .into()],
            action: Some(("Confirm this address", self.link(&format!("{CONFIRM_PATH}?token={token}")))),
            after: vec![
                format!("The link works once and expires in {valid_hours} hours."),
                "If you did not ask for this, ignore this mail: without the link and that \
                 account's password, no account can use your address."
                    .into(),
            ],
            valid_for_secs: Some(valid_hours.saturating_mul(3600)),
        }
        .mail()
    }

    /// To the new address when it already has an account: nothing can change, and the
    /// mail says so (the person who asked is told the same as for any address).
    /// Given up after `valid_hours`, like the confirmation mail it stands in for.
    pub fn email_change_taken(&self, to: &Email, valid_hours: i64) -> Mail {
        Words {
            kind: MailKind::EmailChangeTaken,
            to,
            subject: "Someone tried to use your email address",
            greeting: "Hello,".into(),
            before: vec![
                "Someone asked to move another Bulwark account to this email address. This \
                 address already has an account, so nothing changed, for your account or theirs."
                    .into(),
                "If it was you, you already have an account with this address: sign in with it, \
                 or reset its password if you no longer know it:"
                    .into(),
            ],
            action: Some(("Reset my password", self.link(FORGOT_PATH))),
            after: vec!["If it was not you, you can ignore this mail.".into()],
            valid_for_secs: Some(valid_hours.saturating_mul(3600)),
        }
        .mail()
    }

    /// To the old address when a change is asked for: where to, and the link that cancels.
    pub fn email_change_requested(
        &self,
        to: &Email,
        display_name: &str,
        new: &Email,
        cancel_token: &str,
        valid_hours: i64,
    ) -> Mail {
        Words {
            kind: MailKind::EmailChangeRequested,
            to,
            subject: "Your email address is about to change",
            greeting: hello(display_name),
            before: vec![
                format!(
                    "Someone signed in to your Bulwark account asked to change its email address \
                     to {new}. Nothing changes unless that address confirms it within {valid_hours} \
                     hours.",
                    new = new.as_str()
                ),
                "If that was you, there is nothing to do. If it was not, cancel the change, then \
                 reset your password: whoever asked knows it."
                    .into(),
            ],
            action: Some(("Cancel the change", self.link(&format!("{CANCEL_PATH}?token={cancel_token}")))),
            after: vec![format!("Reset my password: {}", self.link(FORGOT_PATH))],
            valid_for_secs: None,
        }
        .mail()
    }

    /// To the old address after the change: the link that takes the account back.
    pub fn email_changed(
        &self,
        to: &Email,
        display_name: &str,
        new: &Email,
        recover_token: &str,
        valid_days: i64,
    ) -> Mail {
        Words {
            kind: MailKind::EmailChanged,
            to,
            subject: "Your email address was changed",
            greeting: hello(display_name),
            before: vec![
                format!(
                    "The email address of your Bulwark account was just changed to {new}. Mail \
                     about the account now goes there, and this address no longer signs in.",
                    new = new.as_str()
                ),
                format!(
                    "If that was you, there is nothing to do. If it was not, recover your account \
                     within {valid_days} days: it goes back to this address, every device signed in \
                     to it is signed out, and you choose a new password."
                ),
            ],
            action: Some(("Recover my account", self.link(&format!("{RECOVER_PATH}?token={recover_token}")))),
            after: vec![],
            valid_for_secs: None,
        }
        .mail()
    }

    /// After a recovery, to the address the account had until then: it was taken back.
    pub fn account_recovered_elsewhere(&self, to: &Email, display_name: &str, old: &Email) -> Mail {
        Words {
            kind: MailKind::AccountRecoveredElsewhere,
            to,
            subject: "Your account was moved back to its earlier address",
            greeting: hello(display_name),
            before: vec![
                format!(
                    "The recovery link mailed to your account's earlier address, {old}, was just \
                     used: the account's email address is {old} again, every device signed in to \
                     it has been signed out, and a link to choose a new password went to {old}.",
                    old = old.as_str()
                ),
                "If that was you, there is nothing to do. If it was not, whoever reads that \
                 mailbox now controls the account: contact the site's administrators."
                    .into(),
            ],
            action: None,
            after: vec![],
            valid_for_secs: None,
        }
        .mail()
    }

    /// After a recovery: the account is back at this address; the link to a new password.
    pub fn account_recovered(
        &self,
        to: &Email,
        display_name: &str,
        reset_token: &str,
        valid_minutes: i64,
    ) -> Mail {
        Words {
            kind: MailKind::AccountRecovered,
            to,
            subject: "Your account is back: choose a new password",
            greeting: hello(display_name),
            before: vec!["Your Bulwark account is back at this email address, and every device that was \
                 signed in to it has been signed out. Its password no longer works: choose a new \
                 one."
                .into()],
            action: Some(("Choose a new password", self.link(&format!("{RESET_PATH}?token={reset_token}")))),
            after: vec![format!(
                "The link works once and expires in {valid_minutes} minutes. If it has expired, ask \
                 for a new one at {}",
                self.link(FORGOT_PATH)
            )],
            valid_for_secs: Some(valid_minutes.saturating_mul(60)),
        }
        .mail()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(raw: &str) -> Email {
        Email::parse(raw).expect("email")
    }

    #[test]
    fn each_link_points_at_its_page_on_the_public_url() {
        let t = Templates::new("https://auth.example.com/");
        let confirm = t.email_change_confirm(&email("new@example.com"), "c0ffee", 24);
        assert!(confirm.text.contains("https://auth.example.com/email-change/confirm?token=c0ffee\n"));
        assert!(confirm.html.contains("href=\"https://auth.example.com/email-change/confirm?token=c0ffee\""));
        let requested = t.email_change_requested(
            &email("old@example.com"),
            "olga",
            &email("new@example.com"),
            "ca11",
            24,
        );
        assert!(requested.text.contains("/email-change/cancel?token=ca11\n"));
        assert!(requested.text.contains("to new@example.com."), "{}", requested.text);
        let changed =
            t.email_changed(&email("old@example.com"), "olga", &email("new@example.com"), "5afe", 7);
        assert!(changed.text.contains("/email-change/recover?token=5afe\n"));
        assert!(changed.text.contains("within 7 days"));
        let back = t.account_recovered(&email("old@example.com"), "olga", "beef", 60);
        assert!(back.text.contains("/reset-password?token=beef\n"));
    }

    #[test]
    fn the_mail_to_a_taken_address_carries_no_link_of_the_change() {
        let t = Templates::new("https://auth.example.com");
        let mail = t.email_change_taken(&email("taken@example.com"), 24);
        let confirm = t.email_change_confirm(&email("taken@example.com"), "c0ffee", 24);
        assert_eq!(mail.valid_for_secs, confirm.valid_for_secs, "an outage drops both alike");
        assert!(!mail.text.contains("email-change"), "{}", mail.text);
        assert!(!mail.html.contains("email-change"));
    }

    #[test]
    fn the_display_name_is_escaped_in_html() {
        let mail = Templates::new("https://a.example").email_changed(
            &email("old@example.com"),
            "<b>x</b>",
            &email("new@example.com"),
            "t",
            7,
        );
        assert!(mail.html.contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(!mail.html.contains("<b>x</b>"));
    }
}
