//! Email change: the signed-in owner asks (after a step-up) for a new address; the links
//! mailed to the new address (confirm) and the old one (cancel, recover) finish it. See
//! `bulwark::email_change`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// The email-change page.
pub const EMAIL_PAGE: &str = "/account/email";
/// Where a request lands: the page, saying where the link went.
pub const EMAIL_CHANGE_REQUESTED: &str = "/account/email";
/// Where withdrawing a pending change lands.
pub const EMAIL_CHANGE_WITHDRAWN: &str = "/account/email";

/// Which mailed link a page follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EmailChangeLink {
    /// From the new address: make it the account's address.
    Confirm,
    /// From the old address: cancel a change that has not happened.
    Cancel,
    /// From the old address: undo a change that happened.
    Recover,
}

impl EmailChangeLink {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "confirm" => Some(Self::Confirm),
            "cancel" => Some(Self::Cancel),
            "recover" => Some(Self::Recover),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Confirm => "confirm",
            Self::Cancel => "cancel",
            Self::Recover => "recover",
        }
    }

    /// The notice a followed link leaves for its page (see `flash`).
    #[cfg(feature = "ssr")]
    fn done_notice(self) -> &'static str {
        use crate::flash::notice;
        match self {
            Self::Confirm => notice::EMAIL_CHANGE_CONFIRMED,
            Self::Cancel => notice::EMAIL_CHANGE_CANCELLED,
            Self::Recover => notice::ACCOUNT_RECOVERED,
        }
    }

    /// The page the link opens (the mail templates own the paths).
    #[cfg(feature = "ssr")]
    pub fn page(self) -> &'static str {
        use bulwark::mail::templates::{CANCEL_PATH, CONFIRM_PATH, RECOVER_PATH};
        match self {
            Self::Confirm => CONFIRM_PATH,
            Self::Cancel => CANCEL_PATH,
            Self::Recover => RECOVER_PATH,
        }
    }
}

/// The signed-in user's address, and the change waiting for confirmation, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailView {
    pub email: String,
    /// The address a change waits for, and until when (Unix seconds).
    pub pending: Option<(String, i64)>,
}

#[server(prefix = "/api", endpoint = "email-change/status")]
pub async fn email_status() -> Result<EmailView, ApiError> {
    use super::ssr::*;
    async {
        let principal = current()?;
        let pending = email_changes()?.pending(principal.user.id).await.map_err(email_change_error)?;
        Ok(EmailView {
            email: principal.user.email.clone(),
            pending: pending.map(|p| (p.new_email, p.expires_at)),
        })
    }
    .await
}

/// Asks to move the account to `email`: needs a recent step-up. A confirmation link goes
/// to the new address and a notice with a cancel link to the old one; the answer is the
/// same whether or not another account has the new address.
#[server(prefix = "/api", endpoint = "email-change")]
pub async fn change_email(#[server(default)] email: String) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let principal = stepped_up()?;
        let context = audit_context();
        email_changes()?
            .request(&principal, client_ip()?, &email, &context)
            .await
            .map_err(email_change_error)?;
        crate::flash::ssr::redirect(EMAIL_CHANGE_REQUESTED, crate::flash::notice::EMAIL_CHANGE_REQUESTED);
        Ok(())
    }
    .await
}

/// The signed-in owner withdraws their pending change (its links stop working). Needs a
/// step-up: a stolen session must not silently cancel the owner's change.
#[server(prefix = "/api", endpoint = "email-change/withdraw")]
pub async fn withdraw_email_change() -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let principal = stepped_up()?;
        let context = audit_context();
        email_changes()?
            .withdraw(&principal.user, &principal.session_key, &context)
            .await
            .map_err(email_change_error)?;
        crate::flash::ssr::redirect(EMAIL_CHANGE_WITHDRAWN, crate::flash::notice::EMAIL_CHANGE_WITHDRAWN);
        Ok(())
    }
    .await
}

/// Follows a mailed link (`link`: confirm, cancel or recover) with its token, posted by
/// the page the link opens (never on GET, so mail scanners that open links use nothing up).
/// Confirming also needs `current_password`, the password of the account being moved.
#[server(prefix = "/api", endpoint = "email-change/link")]
pub async fn follow_email_change_link(
    #[server(default)] link: String,
    #[server(default)] token: String,
    #[server(default)] current_password: String,
) -> Result<(), ApiError> {
    use super::ssr::*;
    async {
        let link = EmailChangeLink::parse(&link).ok_or(ApiError::BadRequest)?;
        let changes = email_changes()?;
        let context = audit_context();
        let ip = client_ip()?;
        let outcome = match link {
            EmailChangeLink::Confirm => {
                changes.confirm(ip, &token, &current_password, &context).await.map(|_| ())
            }
            EmailChangeLink::Cancel => changes.cancel(ip, &token, &context).await,
            EmailChangeLink::Recover => changes.recover(ip, &token, &context).await.map(|_| ()),
        };
        match outcome.map_err(email_change_error) {
            Ok(()) => {
                // Back to the link's own page, the (well-formed) token kept: a cancel or
                // recovery page goes on naming the account it acted for.
                let token: String = token.chars().filter(char::is_ascii_hexdigit).take(64).collect();
                let back = match link {
                    EmailChangeLink::Confirm => link.page().to_owned(),
                    EmailChangeLink::Cancel | EmailChangeLink::Recover => {
                        format!("{}?token={token}", link.page())
                    }
                };
                crate::flash::ssr::redirect(&back, link.done_notice());
                Ok(())
            }
            Err(error) => {
                Err(token_page_failed::<FollowEmailChangeLink>(error, link.page(), &token, link.page()))
            }
        }
    }
    .await
}
