//! Whole-form parses: every field checked, every problem reported at once, so the user
//! fixes the form in one pass. The browser runs these on each keystroke; the server runs
//! them again on submit and trusts nothing else.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Email, Password, PasswordPolicy, Username};

/// A form field that can carry an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    Email,
    Username,
    Password,
    /// The password an account has now, asked again before changing it.
    #[serde(rename = "current_password")]
    CurrentPassword,
    /// A code from an authenticator app, or a recovery code.
    Code,
}

/// Human-readable messages keyed by field. Safe to show and to send over the wire: the
/// messages come from this crate's error types and never echo the input back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FieldErrors(BTreeMap<Field, String>);

/// Reading field errors back (from a JSON answer, or from the URL a plain form post is
/// sent back with) keeps only messages from the closed set in [`crate::messages`]: a
/// crafted `?__err=…` link cannot put its own words under a field.
impl<'de> Deserialize<'de> for FieldErrors {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = BTreeMap::<Field, String>::deserialize(deserializer)?;
        Ok(Self(
            raw.into_iter()
                .map(|(field, message)| {
                    let known = crate::messages::is_known(field, &message);
                    (field, if known { message } else { crate::messages::UNRECOGNISED.to_owned() })
                })
                .collect(),
        ))
    }
}

impl FieldErrors {
    pub fn insert(&mut self, field: Field, message: impl Into<String>) {
        self.0.insert(field, message.into());
    }

    pub fn get(&self, field: Field) -> Option<&str> {
        self.0.get(&field).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every field with its message, in field order.
    pub fn iter(&self) -> impl Iterator<Item = (Field, &str)> {
        self.0.iter().map(|(field, message)| (*field, message.as_str()))
    }

    pub fn single(field: Field, message: impl Into<String>) -> Self {
        let mut errors = Self::default();
        errors.insert(field, message);
        errors
    }

    fn record<T, E: std::fmt::Display>(&mut self, field: Field, result: Result<T, E>) -> Option<T> {
        result.map_err(|e| self.insert(field, e.to_string())).ok()
    }
}

/// A parsed signup form.
#[derive(Debug)]
pub struct SignupForm {
    pub email: Email,
    pub username: Username,
    pub password: Password,
}

impl SignupForm {
    pub fn parse(
        email: &str,
        username: &str,
        password: &str,
        policy: PasswordPolicy,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let email = errors.record(Field::Email, Email::parse(email));
        let username = errors.record(Field::Username, Username::parse(username));
        let password = errors.record(Field::Password, Password::parse(password, policy));
        match (email, username, password) {
            (Some(email), Some(username), Some(password)) => Ok(Self { email, username, password }),
            _ => Err(errors),
        }
    }
}

/// A parsed sign-in form. Only shape is checked; whether the pair is right is the
/// accounts service's question.
#[derive(Debug)]
pub struct LoginForm {
    pub email: Email,
    pub password: Password,
}

impl LoginForm {
    /// Completes a sign-in form whose email was already parsed; `None` if either part is
    /// missing or malformed.
    pub fn parse_parts(email: Option<Email>, password: &str) -> Option<Self> {
        Some(Self { email: email?, password: Password::parse_existing(password).ok()? })
    }

    pub fn parse(email: &str, password: &str) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let email = errors.record(Field::Email, Email::parse(email));
        let password = errors.record(Field::Password, Password::parse_existing(password));
        match (email, password) {
            (Some(email), Some(password)) => Ok(Self { email, password }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_read_back_keep_only_messages_from_the_closed_set() {
        let crafted = r#"{"email":"Enter your email address.","password":"Call +1 555 0100 now."}"#;
        let errors: FieldErrors = serde_json::from_str(crafted).expect("json");
        assert_eq!(errors.get(Field::Email), Some("Enter your email address."));
        assert_eq!(errors.get(Field::Password), Some(crate::messages::UNRECOGNISED));
    }

    #[test]
    fn every_invalid_signup_field_is_reported_at_once() {
        let errors = SignupForm::parse("nope", "a", "short", PasswordPolicy::default()).expect_err("invalid");
        assert!(errors.get(Field::Email).is_some());
        assert!(errors.get(Field::Username).is_some());
        assert!(errors.get(Field::Password).is_some());
    }

    #[test]
    fn a_valid_signup_parses_into_normalised_values() {
        let form = SignupForm::parse(
            " Bob@Example.com ",
            "Bobby",
            "a long enough passphrase",
            PasswordPolicy::default(),
        )
        .expect("valid");
        assert_eq!(form.email.as_str(), "bob@example.com");
        assert_eq!(form.username.canonical(), "bobby");
    }

    #[test]
    fn field_errors_serialise_with_lowercase_field_names() {
        let errors = FieldErrors::single(Field::Email, "bad");
        assert_eq!(serde_json::to_string(&errors).expect("serialises"), r#"{"email":"bad"}"#);
    }

    #[test]
    fn login_reports_only_shape_problems() {
        assert!(LoginForm::parse("bob@example.com", "x").is_ok());
        let errors = LoginForm::parse("bob", "").expect_err("invalid");
        assert!(errors.get(Field::Email).is_some());
        assert!(errors.get(Field::Password).is_some());
    }
}
