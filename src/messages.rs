//! The closed set of messages that may appear under a form field.
//!
//! Field errors travel to the browser as text: in JSON answers and, after a plain form post
//! (no JavaScript), in the URL that leads back to the form. A URL can be crafted by anyone,
//! so `?__err=…` could otherwise put any text an attacker likes under a field of a
//! genuine-looking Bulwark page. [`FieldErrors`](crate::FieldErrors) therefore accepts,
//! when it is read back, only messages this module recognises: the shared rules' own
//! messages, the few the server adds, and the strength verdict built from zxcvbn's fixed
//! sentences. Anything else is replaced by [`UNRECOGNISED`].

use crate::{Field, PasswordError, UsernameError};

/// Shown instead of a message this module does not recognise.
pub const UNRECOGNISED: &str = "Please check this field.";
/// Said under the password field when it does not match the one chosen at signup.
pub const WRONG_SIGNUP_PASSWORD: &str = "This is not the password chosen when signing up.";
/// Said under the username field when someone claimed the name before this confirmation.
pub const USERNAME_TAKEN_MEANWHILE: &str =
    "This username has been taken since you signed up. Please choose another.";
/// Said under the username field of an invitation's page when another account has it.
pub const USERNAME_TAKEN: &str = "This username is taken. Please choose another.";
/// Said under the current-password field of the password change when it is wrong.
pub const WRONG_CURRENT_PASSWORD: &str = "This is not your current password.";
/// A code that is wrong, was already used, or is too old (one message for all three).
pub const WRONG_CODE: &str =
    "That code is not right, or it was already used. Wait for the next one and try again.";
/// A recovery code that is not one of the account's unused codes.
pub const WRONG_RECOVERY_CODE: &str = "That is not one of your unused recovery codes.";
/// Nothing typed in the code field.
pub const CODE_EMPTY: &str = "Please enter the code.";
/// Said under the new-password field when it is the password the account has now.
pub const SAME_PASSWORD: &str = "Choose a password different from your current one.";
/// Said under the new-address field of an email change when it is the account's address.
pub const SAME_EMAIL: &str = "This is already your email address.";
/// How every strength verdict starts (see `strength::WeakPassword`).
pub const WEAK_PASSWORD: &str = "This password is too easy to guess.";
/// The strength verdict's closing advice when zxcvbn has none of its own.
pub const WEAK_PASSWORD_FALLBACK: &str = "Try a longer phrase of unrelated words.";

/// Said under a new password found in a list of breached passwords (see
/// `breached`): how often it appeared, with thousands separated.
pub fn breached(count: u64) -> String {
    let digits = count.to_string();
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let breaches = if count == 1 { "data breach" } else { "data breaches" };
    format!(
        "This password has appeared in {grouped} {breaches}, so attackers try it first. Choose one you have never used anywhere."
    )
}

/// zxcvbn 3's warnings and suggestions, word for word.
const ZXCVBN_SENTENCES: &[&str] = &[
    "Straight rows of keys are easy to guess.",
    "Short keyboard patterns are easy to guess.",
    "Repeats like \"aaa\" are easy to guess.",
    "Repeats like \"abcabcabc\" are only slightly harder to guess than \"abc\".",
    "This is a top-10 common password.",
    "This is a top-100 common password.",
    "This is a very common password.",
    "This is similar to a commonly used password.",
    "Sequences like abc or 6543 are easy to guess.",
    "Recent years are easy to guess.",
    "A word by itself is easy to guess.",
    "Dates are often easy to guess.",
    "Names and surnames by themselves are easy to guess.",
    "Common names and surnames are easy to guess.",
    "Use a few words, avoid common phrases.",
    "No need for symbols, digits, or uppercase letters.",
    "Add another word or two. Uncommon words are better.",
    "Capitalization doesn't help very much.",
    "All-uppercase is almost as easy to guess as all-lowercase.",
    "Reversed words aren't much harder to guess.",
    "Predictable substitutions like '@' instead of 'a' don't help very much.",
    "Use a longer keyboard pattern with more turns.",
    "Avoid repeated words and characters.",
    "Avoid sequences.",
    "Avoid recent years.",
    "Avoid years that are associated with you.",
    "Avoid dates and years that are associated with you.",
    WEAK_PASSWORD_FALLBACK,
];

/// Whether `message` is one Bulwark itself could have put under `field`.
pub fn is_known(field: Field, message: &str) -> bool {
    match field {
        Field::Email => {
            message == SAME_EMAIL
                || [crate::EmailError::Empty, crate::EmailError::TooLong, crate::EmailError::Invalid]
                    .iter()
                    .any(|e| e.to_string() == message)
        }
        Field::Username => {
            message == USERNAME_TAKEN_MEANWHILE
                || message == USERNAME_TAKEN
                || [
                    UsernameError::Empty,
                    UsernameError::TooShort,
                    UsernameError::TooLong,
                    UsernameError::InvalidCharacters,
                    UsernameError::BadStart,
                    UsernameError::Reserved,
                ]
                .iter()
                .any(|e| e.to_string() == message)
        }
        Field::CurrentPassword => {
            message == WRONG_CURRENT_PASSWORD || message == PasswordError::Empty.to_string()
        }
        Field::Code => [WRONG_CODE, WRONG_RECOVERY_CODE, CODE_EMPTY].contains(&message),
        Field::Password => {
            message == PasswordError::Empty.to_string()
                || message == WRONG_SIGNUP_PASSWORD
                || message == SAME_PASSWORD
                || is_length_message(message)
                || is_strength_verdict(message)
                || is_breached_message(message)
        }
    }
}

/// "Use at least N characters (M more to go)." or "A password can be at most N characters."
fn is_length_message(message: &str) -> bool {
    let numbers: Vec<usize> = message
        .split(|c: char| !c.is_ascii_digit())
        .filter(|part| !part.is_empty())
        .filter_map(|part| part.parse().ok())
        .collect();
    match numbers.as_slice() {
        [min, missing] => message == PasswordError::TooShort { min: *min, missing: *missing }.to_string(),
        [max] => message == PasswordError::TooLong { max: *max }.to_string(),
        _ => false,
    }
}

/// [`breached`]'s message for the one number in it.
fn is_breached_message(message: &str) -> bool {
    let digits: String = message.chars().filter(char::is_ascii_digit).collect();
    digits.len() <= 20 && digits.parse().is_ok_and(|count: u64| message == breached(count))
}

/// The strength verdict: [`WEAK_PASSWORD`] and then zxcvbn's sentences, each once.
fn is_strength_verdict(message: &str) -> bool {
    let Some(mut rest) = message.strip_prefix(WEAK_PASSWORD) else { return false };
    let mut sentences = 0;
    while !rest.is_empty() {
        let Some(next) = rest.strip_prefix(' ') else { return false };
        let Some(sentence) = ZXCVBN_SENTENCES.iter().find(|s| next.starts_with(**s)) else { return false };
        rest = &next[sentence.len()..];
        sentences += 1;
        if sentences > ZXCVBN_SENTENCES.len() {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Email, Password, PasswordPolicy, Username};

    #[test]
    fn the_shared_rules_messages_are_known() {
        for raw in ["", "nope", &format!("{}@example.com", "a".repeat(260))] {
            let message = Email::parse(raw).expect_err("invalid").to_string();
            assert!(is_known(Field::Email, &message), "{message}");
        }
        for raw in ["", "ab", "-abc", "root", "has space", &"a".repeat(40)] {
            let message = Username::parse(raw).expect_err("invalid").to_string();
            assert!(is_known(Field::Username, &message), "{message}");
        }
        for raw in ["", "short", &"x".repeat(200)] {
            let message = Password::parse(raw, PasswordPolicy::default()).expect_err("invalid").to_string();
            assert!(is_known(Field::Password, &message), "{message}");
        }
    }

    #[test]
    fn text_from_anywhere_else_is_not() {
        for crafted in [
            "Your account is locked. Call +1 555 0100 to unlock it.",
            "Use at least 15 characters (3 more to go). Then visit evil.example.",
            "This password is too easy to guess. Email your password to support@evil.example.",
            "",
        ] {
            assert!(!is_known(Field::Password, crafted), "{crafted}");
            assert!(!is_known(Field::Email, crafted), "{crafted}");
        }
        assert!(!is_known(Field::Email, USERNAME_TAKEN_MEANWHILE), "known, but not for this field");
        assert!(is_known(Field::Email, SAME_EMAIL));
        assert!(!is_known(Field::Password, SAME_EMAIL), "known, but not for this field");
    }

    #[test]
    fn breach_messages_are_known_and_group_their_thousands() {
        assert_eq!(
            breached(1),
            "This password has appeared in 1 data breach, so attackers try it first. Choose one you have never used anywhere."
        );
        assert!(breached(999).contains(" 999 data breaches"));
        assert!(breached(1_000).contains(" 1,000 data breaches"));
        assert!(breached(3_861_493).contains(" 3,861,493 data breaches"));
        for count in [1, 2, 999, 1_000, 52_256_179, u64::MAX] {
            assert!(is_known(Field::Password, &breached(count)), "{count}");
        }
        let forged = breached(12).replace("Choose one", "Call +1 555 0100 and choose one");
        assert!(!is_known(Field::Password, &forged));
        assert!(!is_known(Field::Password, &breached(1_000).replace("1,000", "1000")));
        assert!(!is_known(Field::Email, &breached(12)));
    }

    #[test]
    fn strength_verdicts_are_known() {
        let verdict = format!(
            "{WEAK_PASSWORD} This is a top-10 common password. Use a few words, avoid common phrases."
        );
        assert!(is_known(Field::Password, &verdict));
        assert!(is_known(Field::Password, &format!("{WEAK_PASSWORD} {WEAK_PASSWORD_FALLBACK}")));
    }
}
