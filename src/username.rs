//! Usernames: what other people see, so they must not be spoofable.
//!
//! The canonical form (used for uniqueness) is trimmed, NFKC-normalised and lower-cased,
//! then restricted to `[a-z0-9._-]`. NFKC folds compatibility look-alikes (full-width
//! `ａｄｍｉｎ`, ligatures) into plain ASCII before the character check, so they either
//! become the name they imitate (and collide with it) or are refused. The display form
//! keeps the user's capitalisation.

use std::fmt;

pub const MIN_USERNAME_CHARS: usize = 3;
pub const MAX_USERNAME_CHARS: usize = 32;
const MAX_RAW_BYTES: usize = 1024;

/// Names that would let a user pass as staff or as the system, compared after removing
/// separators, so `ad.min` and `root_` are refused too.
const RESERVED: &[&str] = &[
    "abuse",
    "account",
    "accounts",
    "admin",
    "administrator",
    "api",
    "anonymous",
    "auth",
    "bulwark",
    "help",
    "helpdesk",
    "hostmaster",
    "info",
    "login",
    "logout",
    "me",
    "mod",
    "moderator",
    "noreply",
    "null",
    "official",
    "owner",
    "postmaster",
    "root",
    "security",
    "signin",
    "signout",
    "signup",
    "staff",
    "superuser",
    "support",
    "sysadmin",
    "system",
    "undefined",
    "webmaster",
];

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Username {
    canonical: String,
    display: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("Choose a username.")]
    Empty,
    #[error("A username needs at least 3 characters.")]
    TooShort,
    #[error("A username can be at most 32 characters.")]
    TooLong,
    #[error("Use only letters a–z, digits, dots, hyphens and underscores.")]
    InvalidCharacters,
    #[error("A username must start with a letter or a digit.")]
    BadStart,
    #[error("That username is reserved. Please choose another.")]
    Reserved,
}

impl Username {
    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        if raw.len() > MAX_RAW_BYTES {
            return Err(UsernameError::TooLong);
        }
        let display: String = crate::normalize::nfkc(raw.trim());
        if display.is_empty() {
            return Err(UsernameError::Empty);
        }
        let length = display.chars().count();
        if length < MIN_USERNAME_CHARS {
            return Err(UsernameError::TooShort);
        }
        if length > MAX_USERNAME_CHARS {
            return Err(UsernameError::TooLong);
        }
        let canonical = crate::normalize::lowercase(&display);
        if !canonical
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        {
            return Err(UsernameError::InvalidCharacters);
        }
        if !canonical.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(UsernameError::BadStart);
        }
        let squeezed: String = canonical.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        if RESERVED.contains(&squeezed.as_str()) {
            return Err(UsernameError::Reserved);
        }
        Ok(Self { canonical, display })
    }

    /// The lower-case form: unique across accounts, used for every comparison.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// The form the user typed (trimmed and NFKC-normalised), for showing.
    pub fn display(&self) -> &str {
        &self.display
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Username(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn whitespace_is_trimmed_and_case_folded_for_uniqueness() {
        let name = Username::parse("  Alice_99 ").expect("valid");
        assert_eq!(name.canonical(), "alice_99");
        assert_eq!(name.display(), "Alice_99");
    }

    #[test]
    fn full_width_look_alikes_normalise_to_ascii() {
        let name = Username::parse("ＡＬＩＣＥ").expect("NFKC turns full-width letters into ASCII");
        assert_eq!(name.canonical(), "alice");
    }

    #[test]
    fn accented_letters_are_refused_whether_composed_or_decomposed() {
        assert_eq!(Username::parse("ren\u{e9}"), Err(UsernameError::InvalidCharacters));
        assert_eq!(Username::parse("rene\u{301}"), Err(UsernameError::InvalidCharacters));
    }

    #[test]
    fn three_characters_is_the_minimum_and_thirty_two_the_maximum() {
        assert_eq!(Username::parse("ab"), Err(UsernameError::TooShort));
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse(&"a".repeat(32)).is_ok());
        assert_eq!(Username::parse(&"a".repeat(33)), Err(UsernameError::TooLong));
    }

    #[test]
    fn a_ten_kilobyte_input_is_rejected_as_too_long() {
        assert_eq!(Username::parse(&"a".repeat(10 * 1024)), Err(UsernameError::TooLong));
    }

    #[test]
    fn blank_input_is_empty() {
        assert_eq!(Username::parse(" \t "), Err(UsernameError::Empty));
    }

    #[test]
    fn names_must_start_with_a_letter_or_digit() {
        assert_eq!(Username::parse(".alice"), Err(UsernameError::BadStart));
        assert_eq!(Username::parse("-alice"), Err(UsernameError::BadStart));
        assert_eq!(Username::parse("_alice"), Err(UsernameError::BadStart));
        assert!(Username::parse("9lives").is_ok());
    }

    #[test]
    fn spaces_and_symbols_are_refused() {
        for bad in ["al ice", "alice!", "a@lice", "alice🙂", "al/ice"] {
            assert_eq!(Username::parse(bad), Err(UsernameError::InvalidCharacters), "{bad:?}");
        }
    }

    #[test]
    fn reserved_names_are_refused_in_any_case_or_with_separators() {
        for bad in [
            "admin",
            "Administrator",
            "ROOT",
            "system",
            "support",
            "security",
            "bulwark",
            "ad.min",
            "root_",
            "s-u-p-p-o-r-t",
        ] {
            assert_eq!(Username::parse(bad), Err(UsernameError::Reserved), "{bad:?}");
        }
        assert!(Username::parse("admiral").is_ok());
    }

    proptest! {
        #[test]
        fn canonical_form_only_ever_contains_the_allowed_characters(raw in "\\PC{0,40}") {
            if let Ok(name) = Username::parse(&raw) {
                prop_assert!(name.canonical().chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c)));
                let count = name.canonical().chars().count();
                prop_assert!((MIN_USERNAME_CHARS..=MAX_USERNAME_CHARS).contains(&count));
            }
        }
    }
}
