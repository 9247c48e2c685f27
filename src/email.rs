//! Email addresses, normalised once at the edge.
//!
//! The audited systems compared emails as typed: `" Alice@Example.com"` and
//! `"alice@example.com"` were two accounts. Here the only `Email` that exists is the
//! trimmed, Unicode-NFC, lower-cased form, and that form is the one stored and compared.
//! Lower-casing the local part is technically stricter than RFC 5321 allows, but no
//! mainstream provider treats case as significant, and one account per mailbox matters
//! more than the theoretical case-sensitive mailbox.

use std::fmt;

/// The longest address accepted, in characters (RFC 5321 caps a path at 256 octets
/// including the angle brackets).
pub const MAX_EMAIL_CHARS: usize = 254;
/// The longest local part (before the `@`), per RFC 5321 §4.5.3.1.1.
const MAX_LOCAL_CHARS: usize = 64;
/// Input longer than this many bytes is refused before any normalisation work.
const MAX_RAW_BYTES: usize = MAX_EMAIL_CHARS * 4 + 64;

/// A syntactically valid, normalised email address.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("Enter your email address.")]
    Empty,
    #[error("An email address can be at most 254 characters.")]
    TooLong,
    #[error("Enter an email address like name@example.com.")]
    Invalid,
}

impl Email {
    /// Trims, NFC-normalises and lower-cases `raw`, then checks its shape.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        if raw.len() > MAX_RAW_BYTES {
            return Err(EmailError::TooLong);
        }
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        let normalised: String = crate::normalize::lowercase(&crate::normalize::nfc(trimmed));
        if normalised.chars().count() > MAX_EMAIL_CHARS {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = normalised.rsplit_once('@').ok_or(EmailError::Invalid)?;
        if !valid_local_part(local) || !valid_domain(domain) {
            return Err(EmailError::Invalid);
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`; handed to the strength estimator so a password built
    /// from one's own address scores as weak.
    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map_or(&self.0, |(local, _)| local)
    }
}

/// Dot-atom local parts (RFC 5322 §3.4.1) with UTF-8 allowed (RFC 6531). Quoted local
/// parts are refused: legitimate use is vanishingly rare and they are a favourite of
/// parser-confusion attacks.
fn valid_local_part(local: &str) -> bool {
    const SPECIALS: &str = "!#$%&'*+/=?^_`{|}~.-";
    !local.is_empty()
        && local.chars().count() <= MAX_LOCAL_CHARS
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| {
            c.is_alphanumeric()
                || SPECIALS.contains(c)
                || (!c.is_ascii() && !c.is_control() && !c.is_whitespace())
        })
}

/// A host name of at least two labels; each label 1–63 characters of letters, digits and
/// inner hyphens (Unicode letters allowed for internationalised domains). IP literals are
/// refused: no real user signs up as `name@[127.0.0.1]`.
fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.chars().count() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().count() >= 2 && !tld.chars().all(|c| c.is_ascii_digit()))
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Redacted: an address is personal data and must never reach a log by accident.
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(<redacted>)")
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn surrounding_whitespace_is_trimmed() {
        let email = Email::parse("  alice@example.com \t\n").expect("valid");
        assert_eq!(email.as_str(), "alice@example.com");
    }

    #[test]
    fn case_is_folded_to_lower() {
        let email = Email::parse("Alice.Smith@Example.COM").expect("valid");
        assert_eq!(email.as_str(), "alice.smith@example.com");
    }

    #[test]
    fn composed_and_decomposed_accents_normalise_to_the_same_address() {
        let composed = Email::parse("ren\u{e9}@example.com").expect("valid");
        let decomposed = Email::parse("rene\u{301}@example.com").expect("valid");
        assert_eq!(composed, decomposed);
        assert_eq!(composed.as_str().chars().count(), "rené@example.com".chars().count());
    }

    #[test]
    fn an_empty_or_blank_address_is_rejected_as_empty() {
        assert_eq!(Email::parse(""), Err(EmailError::Empty));
        assert_eq!(Email::parse("   "), Err(EmailError::Empty));
    }

    #[test]
    fn an_address_of_254_characters_is_accepted_and_255_is_rejected() {
        let domain = format!("{}.{}.{}.com", "a".repeat(63), "b".repeat(63), "c".repeat(57));
        let local_254 = "x".repeat(254 - 1 - domain.chars().count());
        assert_eq!(local_254.len(), 64);
        let ok = format!("{local_254}@{domain}");
        assert_eq!(ok.chars().count(), 254);
        assert!(Email::parse(&ok).is_ok());
        let too_long = format!("x{ok}");
        assert_eq!(Email::parse(&too_long), Err(EmailError::TooLong));
    }

    #[test]
    fn a_ten_kilobyte_input_is_rejected_as_too_long() {
        let huge = format!("{}@example.com", "a".repeat(10 * 1024));
        assert_eq!(Email::parse(&huge), Err(EmailError::TooLong));
    }

    #[test]
    fn addresses_without_a_proper_shape_are_rejected() {
        for bad in [
            "alice",
            "alice@",
            "@example.com",
            "alice@example",
            "alice@@example.com",
            "al ice@example.com",
            ".alice@example.com",
            "alice.@example.com",
            "al..ice@example.com",
            "alice@-example.com",
            "alice@example-.com",
            "alice@exa_mple.com",
            "alice@example..com",
            "alice@127.0.0.1",
            "\"quoted\"@example.com",
            "alice@example.c",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Invalid), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn common_real_addresses_are_accepted() {
        for good in [
            "a@b.co",
            "first.last+tag@sub.example.org",
            "o'brien@example.ie",
            "用户@例子.广告",
            "x_y-z@mail-server.example.com",
        ] {
            assert!(Email::parse(good).is_ok(), "{good:?} should be valid");
        }
    }

    #[test]
    fn the_local_part_is_what_precedes_the_at_sign() {
        assert_eq!(Email::parse("bob.jones@example.com").expect("valid").local_part(), "bob.jones");
    }

    #[test]
    fn debug_output_hides_the_address() {
        let email = Email::parse("secret@example.com").expect("valid");
        assert!(!format!("{email:?}").contains("secret"));
    }

    proptest! {
        #[test]
        fn parsing_is_idempotent(raw in "\\PC{0,80}") {
            if let Ok(once) = Email::parse(&raw) {
                let twice = Email::parse(once.as_str()).expect("a normalised address parses again");
                prop_assert_eq!(once, twice);
            }
        }

        #[test]
        fn parsing_never_panics(raw in "\\PC*") {
            let _ = Email::parse(&raw);
        }
    }
}
