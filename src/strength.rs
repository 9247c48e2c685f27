//! Password strength, estimated with zxcvbn: length alone lets `passwordpassword1` or
//! one's own username typed five times through, so new passwords must also score at
//! least 3 ("safely unguessable: moderate protection from offline slow-hash scenarios").
//! The account's email local part and username are given to zxcvbn as user inputs, so
//! passwords built from them score low.
//!
//! [`estimate`] is what the browser's strength meter shows as the person types (feature
//! `strength`, loaded as a separate WASM chunk) and what [`check`] decides with on the
//! server: one function, so the meter's verdict is the server's.

use std::fmt;

use zxcvbn::{zxcvbn, Score};

use crate::Password;

/// The lowest zxcvbn score accepted for a new password.
pub const MIN_SCORE: Score = Score::Three;

/// Why a password was judged guessable, in zxcvbn's plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeakPassword {
    pub warning: Option<String>,
    pub suggestions: Vec<String>,
}

impl fmt::Display for WeakPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(crate::messages::WEAK_PASSWORD)?;
        if let Some(warning) = &self.warning {
            write!(f, " {warning}")?;
        }
        for suggestion in &self.suggestions {
            write!(f, " {suggestion}")?;
        }
        if self.warning.is_none() && self.suggestions.is_empty() {
            write!(f, " {}", crate::messages::WEAK_PASSWORD_FALLBACK)?;
        }
        Ok(())
    }
}

/// zxcvbn's verdict on one password.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Strength {
    /// 0 (guessable within a few tries) to 4 (very unguessable).
    pub score: u8,
    /// At least [`MIN_SCORE`]: the server accepts it (as far as strength goes).
    pub acceptable: bool,
    pub warning: Option<String>,
    pub suggestions: Vec<String>,
}

impl Strength {
    /// The field message the server gives for a refused password, if this one is.
    pub fn refusal(&self) -> Option<WeakPassword> {
        (!self.acceptable)
            .then(|| WeakPassword { warning: self.warning.clone(), suggestions: self.suggestions.clone() })
    }

    /// The score in words.
    pub fn label(&self) -> &'static str {
        match self.score {
            0 => "Very weak",
            1 => "Weak",
            2 => "Fair",
            3 => "Strong",
            _ => "Very strong",
        }
    }
}

/// zxcvbn's estimate of `password` (as it will be stored: normalised) given `user_inputs`.
/// CPU-bound (tens of milliseconds on first use, to build the dictionaries).
pub fn estimate(password: &str, user_inputs: &[&str]) -> Strength {
    let estimate = zxcvbn(password, user_inputs);
    let feedback = estimate.feedback();
    Strength {
        score: u8::from(estimate.score()),
        acceptable: estimate.score() >= MIN_SCORE,
        warning: feedback.and_then(|f| f.warning()).map(|w| w.to_string()),
        suggestions: feedback
            .map(|f| f.suggestions().iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
    }
}

/// Accepts `password` if zxcvbn scores it at least [`MIN_SCORE`] given `user_inputs`.
/// CPU-bound (tens of milliseconds on first use): call it off the async workers.
pub fn check(password: &Password, user_inputs: &[&str]) -> Result<(), WeakPassword> {
    match estimate(password.expose_secret(), user_inputs).refusal() {
        Some(weak) => Err(weak),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PasswordPolicy;

    fn password(raw: &str) -> Password {
        Password::parse(raw, PasswordPolicy::default()).expect("long enough")
    }

    #[test]
    fn a_long_but_common_password_is_refused() {
        assert!(check(&password("passwordpassword1"), &[]).is_err());
    }

    #[test]
    fn the_username_repeated_is_refused_when_given_as_a_user_input() {
        let weak = check(&password("kittenlover42kittenlover42"), &["kittenlover42"]).expect_err("weak");
        assert!(!weak.to_string().is_empty());
    }

    #[test]
    fn every_verdict_is_in_the_closed_set_of_field_messages() {
        let weak = [
            "passwordpassword1",
            "qwertyuiopasdfgh",
            "aaaaaaaaaaaaaaaa",
            "abcabcabcabcabcabc",
            "1234567890123456",
            "Passw0rdPassw0rd",
            "johnsmith1987john",
            "drowssapdrowssap",
            "01011990010119900",
            "kittenkittenkitten",
        ];
        let mut refused = 0;
        for raw in weak {
            if let Err(weak) = check(&password(raw), &["kitten"]) {
                let verdict = weak.to_string();
                assert!(crate::messages::is_known(crate::Field::Password, &verdict), "{raw}: {verdict}");
                refused += 1;
            }
        }
        assert!(refused >= 6, "only {refused} refused");
    }

    #[test]
    fn the_estimate_and_the_check_agree() {
        for raw in ["passwordpassword1", "violet quasar harbour tulip 83", "kittenlover42kittenlover42"] {
            let strength = estimate(raw, &["kittenlover42"]);
            assert_eq!(check(&password(raw), &["kittenlover42"]).is_ok(), strength.acceptable, "{raw}");
            assert_eq!(strength.acceptable, strength.score >= 3);
        }
    }

    #[test]
    fn a_random_passphrase_is_accepted() {
        assert!(check(&password("violet quasar harbour tulip 83"), &["alice", "alice"]).is_ok());
    }

    #[test]
    fn keyboard_walks_are_refused_with_a_plain_warning() {
        let weak = check(&password("qwertyuiopasdfgh"), &[]).expect_err("weak");
        assert!(weak.to_string().starts_with("This password is too easy to guess."));
    }
}
