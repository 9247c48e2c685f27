//! Notices that report something this browser just did ("Your password has been changed.",
//! "Your account is back at this address.") are shown only when this browser's own request
//! did it: the server function that made the change leaves a one-minute cookie naming the
//! notice, and the page shows the notice that cookie names. Never a URL's query: anyone can
//! link to `/email-change/recover?done=1`, and the genuine site would vouch, to the person a
//! phishing mail sent there, for a recovery that never happened. A cookie for this site can
//! only be set by this site (over https under the `__Host-` prefix, not even by a sibling
//! subdomain). It names a notice from a closed set, holds no secret, and the browser code
//! reads it (it is not HttpOnly) for pages shown without a server render. The server
//! expires it when a page it renders has read it; otherwise it lapses after a minute.

/// How long a notice waits to be shown, in seconds.
pub const FLASH_SECS: i64 = 60;

/// The notices (each a page's `FlashNotice` or state).
pub mod notice {
    pub const PASSWORD_CHANGED: &str = "password-changed";
    pub const EMAIL_VERIFIED: &str = "email-verified";
    pub const PASSWORD_RESET: &str = "password-reset";
    pub const EMAIL_CHANGE_REQUESTED: &str = "email-change-requested";
    pub const EMAIL_CHANGE_WITHDRAWN: &str = "email-change-withdrawn";
    pub const SUPPORT_ENDED: &str = "support-ended";
    pub const IMPERSONATION_ENDED: &str = "impersonation-ended";
    pub const ADMIN_DONE: &str = "admin-done";
    /// A mailed link was dead (the page offers a new one).
    pub const LINK_INVALID: &str = "link-invalid";
    pub const EMAIL_CHANGE_CONFIRMED: &str = "email-change-confirmed";
    pub const EMAIL_CHANGE_CANCELLED: &str = "email-change-cancelled";
    pub const ACCOUNT_RECOVERED: &str = "account-recovered";
    /// Signed in with a recovery code, and few are left.
    pub const FEW_RECOVERY_CODES: &str = "few-recovery-codes";
    pub const FACTOR_ON: &str = "two-factor-on";
    pub const FACTOR_OFF: &str = "two-factor-off";
    pub const CODES_SAVED: &str = "recovery-codes-saved";
    pub const PASSKEY_ADDED: &str = "passkey-added";
    pub const PASSKEY_RENAMED: &str = "passkey-renamed";
    pub const PASSKEY_REMOVED: &str = "passkey-removed";
    pub const ACCOUNT_CLOSED: &str = "account-closed";
    pub const ACCOUNT_KEPT: &str = "account-kept";
    pub const INVITATION_SENT: &str = "invitation-sent";
    /// An invitation to the admin role waits for a second admin.
    pub const INVITATION_WAITING: &str = "invitation-waiting";
    pub const INVITATION_ACCEPTED: &str = "invitation-accepted";
}

/// Whether the site's cookies are `Secure` (and so this one `__Host-`), as the server's
/// configuration says; carried to the browser with the first page (see
/// [`provide_cookie_name`]), since `http://localhost` takes `__Host-` cookies too.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))] // Read by the browser build only.
struct SecureCookies(bool);

/// Tells every page (and, with the first page, the browser) the cookie's name. Called once,
/// by the app's root.
pub fn provide_cookie_name() {
    let secure = leptos::server::SharedValue::new(|| {
        #[cfg(feature = "ssr")]
        {
            ssr::secure()
        }
        #[cfg(not(feature = "ssr"))]
        {
            true
        }
    });
    leptos::prelude::provide_context(SecureCookies(secure.into_inner()));
}

/// The cookie's name: `__Host-` over https.
fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-bulwark-flash"
    } else {
        "bulwark-flash"
    }
}

/// Whether `value` could be a notice's name (lower-case letters and dashes).
fn well_formed(value: &str) -> bool {
    !value.is_empty() && value.len() <= 40 && value.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
}

/// Whether the notice waiting for this browser is one of `notices`, and which; taking it
/// (the cookie is expired: the notice shows once). On the server from the request's
/// cookie, carried to the browser with the page; in the browser, for a page it renders
/// itself, from `document.cookie`.
pub fn take_any(notices: &[&'static str]) -> Option<&'static str> {
    let shared = leptos::server::SharedValue::new(|| {
        #[cfg(feature = "ssr")]
        {
            ssr::take(notices)
        }
        #[cfg(all(not(feature = "ssr"), feature = "hydrate"))]
        {
            browser::take(notices)
        }
        #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
        {
            None::<String>
        }
    });
    let taken = shared.into_inner()?;
    notices.iter().copied().find(|n| *n == taken)
}

/// Whether the notice waiting for this browser is `notice` (taking it).
pub fn take(notice: &'static str) -> bool {
    take_any(&[notice]).is_some()
}

/// In the browser, after a page was rendered: takes `notice` if it waits now (a server
/// function answered with it and sent the browser back to the page it was on).
#[cfg(all(not(feature = "ssr"), feature = "hydrate"))]
pub fn take_now(notice: &'static str) -> bool {
    browser::take(&[notice]).is_some()
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use leptos::prelude::*;

    pub(super) fn secure() -> bool {
        crate::api::ssr::services().is_some_and(|s| s.device_cookie.secure)
    }

    fn send(value: &str) {
        if let (Some(options), Ok(value)) =
            (use_context::<leptos_axum::ResponseOptions>(), http::HeaderValue::from_str(value))
        {
            options.append_header(http::header::SET_COOKIE, value);
        }
    }

    fn cookie(value: &str, max_age: i64) -> String {
        let secure = secure();
        let attributes = if secure { "; Secure" } else { "" };
        format!(
            "{}={value}; Path=/; Max-Age={max_age}; SameSite=Strict{attributes}",
            super::cookie_name(secure)
        )
    }

    /// Leaves `notice` for the page this response leads to.
    pub fn set(notice: &'static str) {
        send(&cookie(notice, super::FLASH_SECS));
    }

    /// Leaves `notice` and sends the browser to `path`. The query names the notice only so
    /// that the browser's router sees a new address (and the page looks for the notice
    /// again) when it is the page the browser was on; it makes nothing show. The same for
    /// every caller of an endpoint, so answers that must not differ do not.
    pub fn redirect(path: &str, notice: &'static str) {
        set(notice);
        let join = if path.contains('?') { '&' } else { '?' };
        leptos_axum::redirect(&format!("{path}{join}notice={notice}"));
    }

    /// The notice this request's cookie names, if one of `notices`, expiring the cookie.
    pub(super) fn take(notices: &[&str]) -> Option<String> {
        let parts = use_context::<http::request::Parts>()?;
        let value = crate::api::ssr::cookie_in(&parts.headers, super::cookie_name(secure()))?;
        if !super::well_formed(&value) || !notices.contains(&value.as_str()) {
            return None;
        }
        send(&cookie("", 0));
        Some(value)
    }
}

#[cfg(all(not(feature = "ssr"), feature = "hydrate"))]
mod browser {
    use wasm_bindgen::JsCast;

    fn document() -> Option<web_sys::HtmlDocument> {
        leptos::prelude::document().dyn_into::<web_sys::HtmlDocument>().ok()
    }

    /// The name the server gave the cookie (never both names: a sibling subdomain can set
    /// the unprefixed one).
    fn name() -> &'static str {
        let secure = leptos::prelude::use_context::<super::SecureCookies>().is_none_or(|s| s.0);
        super::cookie_name(secure)
    }

    /// The notice `document.cookie` names, if one of `notices`, deleting the cookie.
    pub(super) fn take(notices: &[&str]) -> Option<String> {
        let document = document()?;
        let name = name();
        let prefix = format!("{name}=");
        let cookies = document.cookie().ok()?;
        let value = cookies.split(';').find_map(|pair| pair.trim().strip_prefix(prefix.as_str()))?.to_owned();
        if !super::well_formed(&value) || !notices.contains(&value.as_str()) {
            return None;
        }
        let secure = if name.starts_with("__Host-") { "; Secure" } else { "" };
        let _ = document.set_cookie(&format!("{name}=; Path=/; Max-Age=0; SameSite=Strict{secure}"));
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_notices_name_is_taken_from_the_cookie() {
        assert!(well_formed(notice::ACCOUNT_RECOVERED));
        assert!(!well_formed(""));
        assert!(!well_formed("<script>"));
        assert!(!well_formed(&"a".repeat(41)));
    }
}
