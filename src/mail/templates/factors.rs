//! Mail about second factors: one notice for each change the owner should know of (an app
//! added or removed, new recovery codes, a recovery code used and how many are left), and
//! the alarm when the right password was followed by wrong codes.

use super::{button, escape, page, Templates, FORGOT_PATH};
use crate::{
    mail::{Mail, MailKind},
    Email,
};

/// The account's security page (factors, recovery codes).
pub const SECURITY_PATH: &str = "/account/security";
/// The password page (the alarm's link).
const PASSWORD_PATH: &str = "/account/password";

/// What happened to the account's factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorNotice {
    AppAdded,
    /// The app was removed (`last`: it was the account's last factor).
    AppRemoved {
        last: bool,
    },
    PasskeyAdded,
    /// A passkey was removed (`last`: it was the account's last factor).
    PasskeyRemoved {
        last: bool,
    },
    /// A passkey's counter went backwards: it was set aside.
    PasskeyFlagged,
    /// New recovery codes: the old ones no longer work.
    CodesRenewed,
    /// A recovery code was used to sign in or confirm an action; this many are left.
    CodeUsed {
        left: i64,
    },
    /// An administrator removed every factor (the owner sets one up again at next sign-in).
    ResetByAdmin,
}

impl Templates {
    pub fn factor_notice(&self, to: &Email, display_name: &str, notice: FactorNotice) -> Mail {
        let security = self.link(SECURITY_PATH);
        let forgot = self.link(FORGOT_PATH);
        let (subject, what): (&str, String) = match notice {
            FactorNotice::AppAdded => (
                "Two-factor sign-in is on",
                "An authenticator app was set up for your Bulwark account: signing in now takes \
                 a code from it after your password."
                    .to_owned(),
            ),
            FactorNotice::AppRemoved { last: true } => (
                "Two-factor sign-in is off",
                "The authenticator app was removed from your Bulwark account, with its recovery \
                 codes: your password alone signs in now."
                    .to_owned(),
            ),
            FactorNotice::AppRemoved { last: false } => (
                "An authenticator app was removed",
                "The authenticator app was removed from your Bulwark account. Your passkeys and \
                 recovery codes still work."
                    .to_owned(),
            ),
            FactorNotice::PasskeyAdded => (
                "A passkey was added",
                "A passkey was added to your Bulwark account: it signs you in, and it is asked for \
                 after your password."
                    .to_owned(),
            ),
            FactorNotice::PasskeyRemoved { last: true } => (
                "Two-factor sign-in is off",
                "The last passkey was removed from your Bulwark account, with its recovery codes: \
                 your password alone signs in now."
                    .to_owned(),
            ),
            FactorNotice::PasskeyRemoved { last: false } => (
                "A passkey was removed",
                "A passkey was removed from your Bulwark account. Your other factors still work."
                    .to_owned(),
            ),
            FactorNotice::PasskeyFlagged => (
                "A passkey was set aside",
                "One of your passkeys answered with a signature counter lower than before, which \
                 can mean it was copied. It no longer signs in to your Bulwark account. Remove it \
                 on your security page and add it again if the device is yours."
                    .to_owned(),
            ),
            FactorNotice::CodesRenewed => (
                "New recovery codes were made",
                "New recovery codes were made for your Bulwark account. The old ones no longer work."
                    .to_owned(),
            ),
            FactorNotice::CodeUsed { left } => (
                "A recovery code was used",
                format!(
                    "A recovery code was used on your Bulwark account. {left} unused {} left.{}",
                    if left == 1 { "code is" } else { "codes are" },
                    if left <= crate::factors::recovery_codes::FEW_LEFT {
                        " Make new ones on your security page soon."
                    } else {
                        ""
                    }
                ),
            ),
            FactorNotice::ResetByAdmin => (
                "Your two-factor sign-in was reset",
                "An administrator removed every second factor (authenticator app, passkeys) and the \
                 recovery codes from your Bulwark account and signed out every session. Set up two-factor sign-in again \
                 after you sign in."
                    .to_owned(),
            ),
        };
        let text = format!(
            "Hello {display_name},\n\n{what}\n\nYour security page: {security}\n\n\
             If this was not you, someone may know your password: reset it now at\n{forgot}\n"
        );
        let html = page(&[
            format!("<p>Hello {},</p>", escape(display_name)),
            format!("<p>{}</p>", escape(&what)),
            button(&security, "Open my security page"),
            "<p>If this was not you, someone may know your password: reset it now.</p>".to_owned(),
            button(&forgot, "Reset my password"),
        ]);
        Mail {
            kind: MailKind::FactorNotice,
            to: to.clone(),
            subject: subject.into(),
            text,
            html,
            valid_for_secs: None,
        }
    }

    /// The right password, then wrong second steps: whoever typed it knows the password.
    /// Bulwark's words only (nothing the requester chose), the network it came from, and the
    /// way to change the password.
    pub fn factor_alarm(&self, to: &Email, display_name: &str, ip: Option<&str>) -> Mail {
        let password = self.link(PASSWORD_PATH);
        let forgot = self.link(FORGOT_PATH);
        let network = super::approximate_network(ip);
        let what = format!(
            "Someone signed in to your Bulwark account with the right password, from {network}, \
             and then gave wrong codes for the second step. Your second factor stopped them."
        );
        let text = format!(
            "Hello {display_name},\n\n{what}\n\nIf that was you (a mistyped code), there is nothing \
             to do. If it was not, someone knows your password: change it now at\n{password}\n\
             or, if you cannot sign in, reset it at\n{forgot}\n"
        );
        let html = page(&[
            format!("<p>Hello {},</p>", escape(display_name)),
            format!("<p>{}</p>", escape(&what)),
            "<p>If that was you (a mistyped code), there is nothing to do. If it was not, someone \
             knows your password: change it now.</p>"
                .to_owned(),
            button(&password, "Change my password"),
            format!("<p>Cannot sign in? <a href=\"{}\">Reset your password</a>.</p>", escape(&forgot)),
        ]);
        Mail {
            kind: MailKind::FactorAlarm,
            to: to.clone(),
            subject: "Someone may know your password".into(),
            text,
            html,
            valid_for_secs: None,
        }
    }
}
