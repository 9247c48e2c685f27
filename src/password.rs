//! The password policy, after NIST SP 800-63B §3.1.1.2: length is what counts (measured in
//! Unicode code points after NFKC, so the same passphrase typed on two keyboards is the
//! same password), every character is allowed, nothing is truncated, and there are no
//! composition rules. A maximum exists only so that nobody can make the server hash
//! megabytes: oversized input is refused before any normalisation or hashing.

use std::fmt;

/// The default minimum length for new passwords.
pub const DEFAULT_MIN_PASSWORD_CHARS: usize = 15;
/// No configuration may set the minimum below this (NIST's floor).
pub const FLOOR_MIN_PASSWORD_CHARS: usize = 8;
/// The maximum, in code points after normalisation.
pub const MAX_PASSWORD_CHARS: usize = 128;
/// NFKC can shrink text (composition folds at most three code points into one, as with
/// Hangul jamo), so raw input up to this many bytes may still normalise to an acceptable
/// length. Anything longer is refused without looking further.
const MAX_RAW_BYTES: usize = MAX_PASSWORD_CHARS * 3 * 4;

/// The words a password must not be built from: the email's local part and the username
/// (as typed, when they do not parse), lower-cased. The signup form passes what is typed
/// in its other fields; the reset and change forms the account's own. The browser, which
/// has no Unicode tables (see [`crate::normalize`]), leaves non-ASCII letters as typed;
/// the meter judges ASCII passwords only, which such a word cannot be part of.
pub fn user_inputs(email: &str, username: &str) -> Vec<String> {
    let local = match crate::Email::parse(email) {
        Ok(email) => email.local_part().to_owned(),
        Err(_) => {
            let email = email.trim();
            email.rsplit_once('@').map_or(email, |(local, _)| local).to_owned()
        }
    };
    let username = match crate::Username::parse(username) {
        Ok(username) => username.canonical().to_owned(),
        Err(_) => username.trim().to_owned(),
    };
    vec![crate::normalize::lowercase(&local), crate::normalize::lowercase(&username)]
}

/// How long new passwords must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PasswordPolicy {
    min_chars: usize,
}

impl PasswordPolicy {
    /// A policy with the given minimum, raised to the floor of 8 if set lower and capped
    /// at the maximum length.
    pub fn with_min_chars(min_chars: usize) -> Self {
        Self { min_chars: min_chars.clamp(FLOOR_MIN_PASSWORD_CHARS, MAX_PASSWORD_CHARS) }
    }

    pub fn min_chars(&self) -> usize {
        self.min_chars
    }

    pub fn max_chars(&self) -> usize {
        MAX_PASSWORD_CHARS
    }
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self::with_min_chars(DEFAULT_MIN_PASSWORD_CHARS)
    }
}

/// A password that passed the policy, held in its NFKC form. Deliberately neither
/// `Serialize` nor `Clone`-happy in logs: `Debug` prints nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("Enter a password.")]
    Empty,
    #[error("Use at least {min} characters ({missing} more to go).")]
    TooShort { min: usize, missing: usize },
    #[error("A password can be at most {max} characters.")]
    TooLong { max: usize },
}

impl Password {
    /// Parses a *new* password (signup, change, reset) against `policy`.
    pub fn parse(raw: &str, policy: PasswordPolicy) -> Result<Self, PasswordError> {
        let password = Self::parse_existing(raw)?;
        let length = password.0.chars().count();
        if length < policy.min_chars() {
            return Err(PasswordError::TooShort {
                min: policy.min_chars(),
                missing: policy.min_chars() - length,
            });
        }
        Ok(password)
    }

    /// Parses a password offered at sign-in: only emptiness and the maximum are checked,
    /// because the minimum may have been raised since the account was created.
    pub fn parse_existing(raw: &str) -> Result<Self, PasswordError> {
        if raw.len() > MAX_RAW_BYTES {
            return Err(PasswordError::TooLong { max: MAX_PASSWORD_CHARS });
        }
        if raw.is_empty() {
            return Err(PasswordError::Empty);
        }
        let normalised: String = crate::normalize::nfkc(raw);
        if normalised.chars().count() > MAX_PASSWORD_CHARS {
            return Err(PasswordError::TooLong { max: MAX_PASSWORD_CHARS });
        }
        Ok(Self(normalised))
    }

    /// The normalised secret, for the hasher and the strength estimator only.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_words_are_the_local_part_and_the_username_parsed_or_as_typed() {
        assert_eq!(user_inputs("Kitten.Lover@Example.com", "KittenLover"), ["kitten.lover", "kittenlover"]);
        assert_eq!(user_inputs(" not-an-email ", " Bad Name "), ["not-an-email", "bad name"]);
        assert_eq!(user_inputs("broken@", ""), ["broken", ""]);
    }
    use proptest::prelude::*;

    fn policy() -> PasswordPolicy {
        PasswordPolicy::default()
    }

    #[test]
    fn the_default_minimum_is_fifteen() {
        assert_eq!(
            Password::parse(&"x".repeat(14), policy()),
            Err(PasswordError::TooShort { min: 15, missing: 1 })
        );
        assert!(Password::parse(&"x".repeat(15), policy()).is_ok());
    }

    #[test]
    fn a_configured_minimum_can_never_go_below_eight() {
        let lax = PasswordPolicy::with_min_chars(4);
        assert_eq!(lax.min_chars(), 8);
        assert!(Password::parse("1234567", lax).is_err());
        assert!(Password::parse("12345678", lax).is_ok());
    }

    #[test]
    fn length_is_counted_in_code_points_not_bytes() {
        // 15 emoji are 60 bytes but 15 characters.
        assert!(Password::parse(&"🔒".repeat(15), policy()).is_ok());
        assert!(Password::parse(&"🔒".repeat(14), policy()).is_err());
    }

    #[test]
    fn one_hundred_twenty_eight_characters_is_the_maximum() {
        assert!(Password::parse(&"a".repeat(128), policy()).is_ok());
        assert_eq!(Password::parse(&"a".repeat(129), policy()), Err(PasswordError::TooLong { max: 128 }));
    }

    #[test]
    fn a_ten_kilobyte_password_is_refused_before_normalisation() {
        let huge = "a".repeat(10 * 1024);
        assert_eq!(Password::parse(&huge, policy()), Err(PasswordError::TooLong { max: 128 }));
        assert_eq!(Password::parse_existing(&huge), Err(PasswordError::TooLong { max: 128 }));
    }

    #[test]
    fn spaces_are_kept_and_never_trimmed() {
        let password = Password::parse("  correct horse battery  ", policy()).expect("valid");
        assert_eq!(password.expose_secret(), "  correct horse battery  ");
    }

    #[test]
    fn composed_and_decomposed_forms_are_the_same_password() {
        let composed = Password::parse("caf\u{e9} au lait forever", policy()).expect("valid");
        let decomposed = Password::parse("cafe\u{301} au lait forever", policy()).expect("valid");
        assert_eq!(composed, decomposed);
    }

    #[test]
    fn nothing_is_truncated() {
        let long = "ab".repeat(64);
        assert_eq!(Password::parse(&long, policy()).expect("valid").expose_secret(), long);
    }

    #[test]
    fn an_empty_password_is_refused_as_empty() {
        assert_eq!(Password::parse("", policy()), Err(PasswordError::Empty));
        assert_eq!(Password::parse_existing(""), Err(PasswordError::Empty));
    }

    #[test]
    fn sign_in_does_not_apply_the_minimum() {
        assert!(Password::parse_existing("short").is_ok());
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let password = Password::parse("hunter2hunter2hunter2", policy()).expect("valid");
        assert!(!format!("{password:?}").contains("hunter2"));
    }

    proptest! {
        #[test]
        fn accepted_passwords_are_within_the_limits(raw in "\\PC{0,200}") {
            if let Ok(password) = Password::parse(&raw, policy()) {
                let n = password.expose_secret().chars().count();
                prop_assert!((15..=128).contains(&n));
            }
        }
    }
}
