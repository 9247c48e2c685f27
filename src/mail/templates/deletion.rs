//! Mail about deleting an account: that it will be deleted (by its owner or by an
//! administrator), with the link that undoes it until the deletion is carried out; and
//! that the deletion was undone. Bulwark's words only: never the admin's name or reason.

use super::{button, escape, page, Templates, FORGOT_PATH};
use crate::{
    clock::UnixTime,
    mail::{Mail, MailKind},
    Email,
};

/// The page the undo link opens; the token rides in the query string.
pub const UNDO_DELETION_PATH: &str = "/account/delete/undo";

/// Which deletion mail.
#[derive(Clone, PartialEq, Eq)]
pub enum DeletionNotice {
    /// The account will be deleted at `due_at`; `token` undoes it until then.
    Scheduled { token: String, due_at: UnixTime, by_admin: bool },
    /// The owner undid it.
    Undone,
}

impl std::fmt::Debug for DeletionNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Scheduled { due_at, by_admin, .. } => f
                .debug_struct("Scheduled")
                .field("due_at", due_at)
                .field("by_admin", by_admin)
                .finish_non_exhaustive(),
            Self::Undone => f.write_str("Undone"),
        }
    }
}

impl Templates {
    pub fn deletion_notice(&self, to: &Email, display_name: &str, notice: &DeletionNotice) -> Mail {
        let name = escape(display_name);
        match notice {
            DeletionNotice::Scheduled { token, due_at, by_admin } => {
                let undo = format!("{}?token={token}", self.link(UNDO_DELETION_PATH));
                let when = crate::utc::minute(*due_at);
                let who = if *by_admin {
                    "An administrator asked for your Bulwark account to be deleted."
                } else {
                    "You asked for your Bulwark account to be deleted."
                };
                let what = format!(
                    "{who} It is closed now: nobody can sign in to it, and every browser that was \
                     signed in has been signed out. On {when} UTC it will be erased: your address, \
                     username, password, second factors, browsers and sessions. The security log \
                     keeps only that events happened, without your address or browser."
                );
                let text = format!(
                    "Hello {display_name},\n\n{what}\n\nChanged your mind? Until {when} UTC this link \
                     keeps your account (you then sign in again):\n{undo}\n\nIf you did not ask for this, \
                     open the link, then choose a new password at\n{forgot}\n",
                    forgot = self.link(FORGOT_PATH),
                );
                let html = page(&[
                    format!("<p>Hello {name},</p>"),
                    format!("<p>{}</p>", escape(&what)),
                    format!("<p>Changed your mind? Until {when} UTC this link keeps your account:</p>"),
                    button(&undo, "Keep my account"),
                    "<p>If you did not ask for this, keep your account, then choose a new password.</p>"
                        .to_owned(),
                ]);
                let valid_for_secs = None;
                Mail {
                    kind: MailKind::AccountDeletion,
                    to: to.clone(),
                    subject: "Your account will be deleted".into(),
                    text,
                    html,
                    valid_for_secs,
                }
            }
            DeletionNotice::Undone => {
                let what = "Your Bulwark account will not be deleted: it is open again. Sign in with \
                            your password as before.";
                let text = format!(
                    "Hello {display_name},\n\n{what}\n\nIf this was not you, choose a new password at\n{}\n",
                    self.link(FORGOT_PATH)
                );
                let html = page(&[
                    format!("<p>Hello {name},</p>"),
                    format!("<p>{}</p>", escape(what)),
                    "<p>If this was not you, choose a new password.</p>".to_owned(),
                    button(&self.link(FORGOT_PATH), "Choose a new password"),
                ]);
                Mail {
                    kind: MailKind::AccountDeletion,
                    to: to.clone(),
                    subject: "Your account will not be deleted".into(),
                    text,
                    html,
                    valid_for_secs: None,
                }
            }
        }
    }
}
