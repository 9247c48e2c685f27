//! The mail that tells the owner their account was just signed in to from a browser it
//! had not been signed in from before: when, which kind of device, roughly from where,
//! and where to end that session.

use std::net::IpAddr;

use super::{button, escape, page, Templates, SESSIONS_PATH};
use crate::{
    clock::UnixTime,
    mail::{Mail, MailKind},
    Email,
};

/// One sign-in, as the owner is told about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeviceNotice<'a> {
    pub at: UnixTime,
    /// The device summary, like "Firefox on Linux" (see `sessions::describe_device`).
    pub device: &'a str,
    /// The client's address; the mail shows only its network (see [`approximate_network`]).
    pub ip: Option<&'a str>,
}

/// The network an address belongs to, without the address itself: the owner can tell
/// their home or office from somewhere else, and the mail (which may be forwarded, or
/// read by whoever reads that mailbox) does not pinpoint anyone. An IPv4 address loses its
/// last number; an IPv6 address keeps its first 48 bits (a site's prefix).
pub fn approximate_network(ip: Option<&str>) -> String {
    let unknown = || "an unknown network".to_owned();
    let Some(ip) = ip.and_then(|ip| ip.trim().parse::<IpAddr>().ok()) else { return unknown() };
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("the network {a}.{b}.{c}.x")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("the network {:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

impl Templates {
    pub fn new_device_sign_in(&self, to: &Email, display_name: &str, notice: &NewDeviceNotice<'_>) -> Mail {
        let sessions = self.link(SESSIONS_PATH);
        let forgot = self.link(super::FORGOT_PATH);
        let when = crate::utc::minute(notice.at);
        // Only Bulwark's own words: a User-Agent it did not recognise is the requester's text.
        let device = if crate::sessions::is_recognised(notice.device) {
            notice.device
        } else {
            "a browser Bulwark does not recognise"
        };
        let body = format!(
            "Your Bulwark account was signed in to at {when} UTC from a browser it had not been \
             signed in from before: {device}, from {network}.",
            network = approximate_network(notice.ip)
        );
        let yours = "If that was you, there is nothing to do.";
        let not_yours = "If it was not you, end that session on your sessions page and change your \
                         password there, or reset it:";
        let label = "See my sessions";
        let text = format!(
            "Hello {display_name},\n\n{body}\n\n{yours}\n\n{not_yours}\n{label}: {sessions}\n\
             Reset my password: {forgot}\n"
        );
        let html = page(&[
            format!("<p>Hello {},</p>", escape(display_name)),
            format!("<p>{}</p>", escape(&body)),
            format!("<p>{}</p>", escape(yours)),
            format!("<p>{}</p>", escape(not_yours)),
            button(&sessions, label),
            format!("<p><a href=\"{}\">Reset my password</a></p>", escape(&forgot)),
        ]);
        Mail {
            kind: MailKind::NewDevice,
            to: to.clone(),
            subject: "New sign-in to your account".into(),
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
    fn the_network_is_shown_never_the_address() {
        assert_eq!(approximate_network(Some("203.0.113.77")), "the network 203.0.113.x");
        assert_eq!(approximate_network(Some("::ffff:203.0.113.77")), "the network 203.0.113.x");
        assert_eq!(approximate_network(Some("2001:db8:85a3:1:2:3:4:5")), "the network 2001:db8:85a3::/48");
        assert_eq!(approximate_network(Some("not an address")), "an unknown network");
        assert_eq!(approximate_network(None), "an unknown network");
    }

    #[test]
    fn the_mail_says_when_what_and_roughly_where_with_a_link_to_the_sessions_page() {
        let templates = Templates::new("https://bulwark.example");
        let to = Email::parse("a@example.com").expect("email");
        let notice =
            NewDeviceNotice { at: 1_795_443_900, device: "Firefox on Linux", ip: Some("198.51.100.23") };
        let mail = templates.new_device_sign_in(&to, "Ann", &notice);
        assert_eq!(mail.subject, "New sign-in to your account");
        assert!(mail.text.contains("2026-11-23 14:25 UTC"), "{}", mail.text);
        assert!(mail.text.contains("Firefox on Linux, from the network 198.51.100.x."), "{}", mail.text);
        assert!(!mail.text.contains("198.51.100.23") && !mail.html.contains("198.51.100.23"));
        assert!(mail.text.contains("https://bulwark.example/account/sessions"));
        assert!(mail.text.is_ascii() && mail.html.is_ascii());

        let crafted = NewDeviceNotice { device: "Bulwark audit, no action needed: evil.example", ..notice };
        let mail = templates.new_device_sign_in(&to, "Ann", &crafted);
        assert!(!mail.text.contains("evil.example") && !mail.text.contains("no action needed"));
        assert!(mail.text.contains("a browser Bulwark does not recognise"), "{}", mail.text);
    }
}
