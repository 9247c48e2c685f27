//! The words of every mail, in plain text and HTML. Links are built from the configured
//! public URL only. The text stays ASCII, so no mail program can garble it.

use super::{Mail, MailKind};
use crate::Email;

/// Where links point. Built once from `BULWARK_PUBLIC_URL`.
#[derive(Debug, Clone)]
pub struct Templates {
    base: String,
}

/// The page a verification link opens; the token rides in the query string.
pub const VERIFY_PATH: &str = "/verify-email";
/// The page that sends a new verification link.
pub const RESEND_PATH: &str = "/verify-email/resend";
/// The page a password reset link opens; the token rides in the query string.
pub const RESET_PATH: &str = "/reset-password";
/// The page that mails a password reset link.
pub const FORGOT_PATH: &str = "/forgot-password";

impl Templates {
    /// `public_url` like `https://auth.example.com` (a trailing slash is ignored).
    pub fn new(public_url: &str) -> Self {
        Self { base: public_url.trim_end_matches('/').to_owned() }
    }

    fn link(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The link to confirm `to`, valid for `valid_hours`. It carries no text the person who
    /// signed up chose (no username): whoever asked, Bulwark's words only.
    pub fn verify_email(&self, to: &Email, token: &str, valid_hours: i64) -> Mail {
        let link = self.link(&format!("{VERIFY_PATH}?token={token}"));
        let resend = self.link(RESEND_PATH);
        let text = format!(
            "Hello,\n\n\
             Please confirm that this is your email address by opening this link and \
             entering the password you chose when you signed up:\n\n\
             {link}\n\n\
             The link works once and expires in {valid_hours} hours. If it has expired, \
             ask for a new one at\n{resend}\n\n\
             If you did not sign up for Bulwark, ignore this mail: without the link and \
             that password, no account can use your address.\n"
        );
        let html = page(&[
            "<p>Hello,</p>".to_owned(),
            "<p>Please confirm that this is your email address: open the link and enter the \
             password you chose when you signed up.</p>"
                .to_owned(),
            button(&link, "Confirm my email address"),
            format!(
                "<p>The link works once and expires in {valid_hours} hours. If it has expired, \
                 <a href=\"{}\">ask for a new one</a>.</p>",
                escape(&resend)
            ),
            "<p>If you did not sign up for Bulwark, ignore this mail: without the link and \
             that password, no account can use your address.</p>"
                .to_owned(),
        ]);
        verification(to, text, html, valid_hours)
    }

    /// A resend's mail: a new link for each signup waiting for the address (one mail
    /// however many, so a resend mails once). With one, it is [`Self::verify_email`].
    pub fn verify_email_links(&self, to: &Email, tokens: &[String], valid_hours: i64) -> Mail {
        if let [token] = tokens {
            return self.verify_email(to, token, valid_hours);
        }
        let links: Vec<String> =
            tokens.iter().map(|token| self.link(&format!("{VERIFY_PATH}?token={token}"))).collect();
        let resend = self.link(RESEND_PATH);
        let count = links.len();
        let listed: String =
            links.iter().enumerate().map(|(n, link)| format!("{}. {link}\n", n + 1)).collect();
        let text = format!(
            "Hello,\n\n\
             {count} signups with this email address are waiting for confirmation. Each link \
             below confirms one of them, with the password chosen at that signup: open them \
             in turn and enter the password you chose; the link of your own signup will \
             accept it.\n\n{listed}\n\
             Each link works once and expires in {valid_hours} hours; once one is confirmed, \
             the others stop working. A new set: {resend}\n\n\
             If you signed up only once, someone else also signed up with your address: \
             without their password, their signup cannot use it.\n"
        );
        let buttons: Vec<String> = links
            .iter()
            .enumerate()
            .map(|(n, link)| button(link, &format!("Confirm signup {} of {count}", n + 1)))
            .collect();
        let mut paragraphs = vec![
            "<p>Hello,</p>".to_owned(),
            format!(
                "<p>{count} signups with this email address are waiting for confirmation. Each \
                 link below confirms one of them, with the password chosen at that signup: open \
                 them in turn and enter the password you chose; the link of your own signup will \
                 accept it.</p>"
            ),
        ];
        paragraphs.extend(buttons);
        paragraphs.push(format!(
            "<p>Each link works once and expires in {valid_hours} hours; once one is confirmed, \
             the others stop working. <a href=\"{}\">Ask for a new set</a>.</p>",
            escape(&resend)
        ));
        paragraphs.push(
            "<p>If you signed up only once, someone else also signed up with your address: \
             without their password, their signup cannot use it.</p>"
                .to_owned(),
        );
        verification(to, text, page(&paragraphs), valid_hours)
    }

    /// To the owner of an existing account: someone tried to sign up with their address.
    /// Given up after `valid_hours` like the verification mail it stands in for, so that
    /// a mail outage drops both alike.
    pub fn signup_existing(&self, to: &Email, valid_hours: i64) -> Mail {
        let login = self.link("/login");
        let forgot = self.link(FORGOT_PATH);
        let text = format!(
            "Hello,\n\n\
             Someone tried to create a new Bulwark account with this email address. This \
             address already has an account, so nothing was created and nothing about your \
             account changed.\n\n\
             If it was you, you do not need a new account: sign in at\n{login}\n\n\
             If you no longer know your password, reset it at\n{forgot}\n\
             (a new password also signs out every device signed in to the account).\n\n\
             If it was not you, you can ignore this mail. Nobody can use your account \
             without your password.\n"
        );
        let html = page(&[
            "<p>Hello,</p>".to_owned(),
            "<p>Someone tried to create a new Bulwark account with this email address. This \
             address already has an account, so nothing was created and nothing about your \
             account changed.</p>"
                .to_owned(),
            "<p>If it was you, you do not need a new account:</p>".to_owned(),
            button(&login, "Sign in"),
            format!(
                "<p>If you no longer know your password, <a href=\"{}\">reset it</a> (a new \
                 password also signs out every device signed in to the account).</p>",
                escape(&forgot)
            ),
            "<p>If it was not you, you can ignore this mail. Nobody can use your account \
             without your password.</p>"
                .to_owned(),
        ]);
        Mail {
            kind: MailKind::SignupExisting,
            to: to.clone(),
            subject: "Someone tried to sign up with your email address".into(),
            text,
            html,
            valid_for_secs: Some(valid_hours.saturating_mul(3600)),
        }
    }

    /// The link to choose a new password, valid for `valid_minutes`.
    pub fn password_reset(&self, to: &Email, display_name: &str, token: &str, valid_minutes: i64) -> Mail {
        let link = self.link(&format!("{RESET_PATH}?token={token}"));
        let forgot = self.link(FORGOT_PATH);
        let text = format!(
            "Hello {display_name},\n\n\
             Someone, probably you, asked to reset the password of your Bulwark account. To \
             choose a new password, open this link:\n\n\
             {link}\n\n\
             The link works once and expires in {valid_minutes} minutes (ask again at \
             {forgot}). Setting a new password signs out every device signed in to your \
             account.\n\n\
             If you did not ask for this, ignore this mail: your password stays as it is.\n"
        );
        let html = page(&[
            format!("<p>Hello {},</p>", escape(display_name)),
            "<p>Someone, probably you, asked to reset the password of your Bulwark account.</p>".to_owned(),
            button(&link, "Choose a new password"),
            format!(
                "<p>The link works once and expires in {valid_minutes} minutes (<a href=\"{}\">ask \
                 again</a>). Setting a new password signs out every device signed in to your \
                 account.</p>",
                escape(&forgot)
            ),
            "<p>If you did not ask for this, ignore this mail: your password stays as it is.</p>".to_owned(),
        ]);
        Mail {
            kind: MailKind::PasswordReset,
            to: to.clone(),
            subject: "Reset your password".into(),
            text,
            html,
            valid_for_secs: Some(valid_minutes.saturating_mul(60)),
        }
    }

    /// After a reset: tells the owner, in case it was not them.
    pub fn password_changed(&self, to: &Email, display_name: &str) -> Mail {
        let forgot = self.link(FORGOT_PATH);
        let text = format!(
            "Hello {display_name},\n\n\
             The password of your Bulwark account was just changed, and every device that \
             was signed in has been signed out.\n\n\
             If that was you, there is nothing to do. If it was not, reset your password \
             now at\n{forgot}\n"
        );
        let html = page(&[
            format!("<p>Hello {},</p>", escape(display_name)),
            "<p>The password of your Bulwark account was just changed, and every device that \
             was signed in has been signed out.</p>"
                .to_owned(),
            "<p>If that was you, there is nothing to do. If it was not, reset your password now:</p>"
                .to_owned(),
            button(&forgot, "Reset my password"),
        ]);
        Mail {
            kind: MailKind::PasswordChanged,
            to: to.clone(),
            subject: "Your password was changed".into(),
            text,
            html,
            valid_for_secs: None,
        }
    }
}

mod admin;
mod approval;
mod deletion;
mod email_change;
mod factors;
mod impersonation;
mod invitation;
mod new_device;
pub use admin::AdminNotice;
pub use approval::{ApprovalNotice, APPROVALS_PATH};
pub use deletion::{DeletionNotice, UNDO_DELETION_PATH};
pub use email_change::{CANCEL_PATH, CONFIRM_PATH, RECOVER_PATH};
pub use factors::{FactorNotice, SECURITY_PATH};
pub use impersonation::{ImpersonationNotice, SESSIONS_PATH};
pub use invitation::{INVITATION_PATH, INVITATION_SUBJECT};
pub use new_device::{approximate_network, NewDeviceNotice};

/// A mail with verification links, given up after `valid_hours` like its links.
fn verification(to: &Email, text: String, html: String, valid_hours: i64) -> Mail {
    Mail {
        kind: MailKind::VerifyEmail,
        to: to.clone(),
        subject: "Confirm your email address".into(),
        text,
        html,
        valid_for_secs: Some(valid_hours.saturating_mul(3600)),
    }
}

fn page(paragraphs: &[String]) -> String {
    let mut html = String::from(
        "<!doctype html>\n<html lang=\"en\"><body style=\"font-family:sans-serif;line-height:1.5\">\n",
    );
    for p in paragraphs {
        html.push_str(p);
        html.push('\n');
    }
    html.push_str("</body></html>\n");
    html
}

fn button(href: &str, label: &str) -> String {
    format!(
        "<p><a href=\"{}\"\n style=\"display:inline-block;padding:.6em 1.2em;background:#1d4ed8;\
         color:#fff;border-radius:6px;text-decoration:none\">{}</a></p>",
        escape(href),
        escape(label)
    )
}

/// Escapes text for HTML content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to() -> Email {
        Email::parse("owner@example.com").expect("email")
    }

    #[test]
    fn links_are_built_from_the_public_url_only() {
        let mail = Templates::new("https://auth.example.com/").verify_email(&to(), "abc123", 24);
        assert!(mail.text.contains("https://auth.example.com/verify-email?token=abc123\n"), "{}", mail.text);
        assert!(mail.html.contains("href=\"https://auth.example.com/verify-email?token=abc123\""));
        assert!(mail.text.contains("expires in 24 hours"));
    }

    #[test]
    fn every_text_body_is_ascii_with_short_lines() {
        let t = Templates::new("http://localhost:3000");
        for mail in [
            t.verify_email(&to(), "ff", 24),
            t.signup_existing(&to(), 24),
            t.password_reset(&to(), "alice", "ff", 60),
            t.password_changed(&to(), "alice"),
        ] {
            assert!(mail.text.is_ascii() && mail.html.is_ascii(), "{:?}", mail.kind);
            assert!(mail.html.lines().all(|l| l.len() < 998), "{:?}", mail.kind);
        }
    }

    #[test]
    fn the_existing_account_mail_differs_from_the_verification_mail() {
        let t = Templates::new("http://localhost:3000");
        let existing = t.signup_existing(&to(), 24);
        assert!(!existing.text.contains("token="), "no verification link for an existing account");
        assert!(existing.text.contains("http://localhost:3000/forgot-password"), "{}", existing.text);
        let verify = t.verify_email(&to(), "b", 24);
        assert_ne!(existing.subject, verify.subject);
        assert_eq!(existing.valid_for_secs, verify.valid_for_secs, "an outage drops both alike");
    }

    #[test]
    fn user_text_is_escaped_in_html() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
