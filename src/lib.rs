//! Bulwark's domain: the rules every account input must pass, written once and compiled
//! both into the browser (WASM, for instant field errors) and into the server (where they
//! are enforced again, authoritatively).
//!
//! Inputs are *parsed*, not validated: [`Email::parse`], [`Username::parse`] and
//! [`Password::parse`] are the only way to obtain those types, so a value of that type is
//! proof the rule held. The [`forms`] module combines them into whole-form parses that
//! report every field's problem at once.
//!
//! Behind the `server` feature live the services that need a database or heavy crates:
//! password hashing ([`hashing`]), strength estimation ([`strength`]), the account
//! aggregate ([`accounts`]), sessions ([`sessions`]), time ([`clock`]) and the database
//! set-up ([`db`]). The WASM build never links
//! them.

pub mod email;
pub mod forms;
pub mod messages;
pub mod normalize;
pub mod password;
pub mod role;
pub mod username;
pub mod utc;

pub use email::{Email, EmailError};
pub use forms::{Field, FieldErrors, LoginForm, SignupForm};
pub use password::{Password, PasswordError, PasswordPolicy};
pub use role::Role;
pub use username::{Username, UsernameError};

#[cfg(feature = "server")]
pub mod accounts;
#[cfg(feature = "server")]
pub mod admin;
#[cfg(feature = "server")]
pub mod audit;
#[cfg(feature = "server")]
pub mod breached;
#[cfg(feature = "server")]
pub mod clock;
#[cfg(feature = "server")]
pub mod completion;
#[cfg(feature = "server")]
pub mod db;
#[cfg(feature = "server")]
pub mod deletion;
#[cfg(feature = "server")]
pub mod devices;
#[cfg(feature = "server")]
pub mod email_change;
#[cfg(feature = "server")]
pub mod export;
#[cfg(feature = "server")]
pub mod factors;
#[cfg(feature = "server")]
pub mod flow;
#[cfg(feature = "server")]
pub mod hashing;
#[cfg(feature = "server")]
pub mod impersonation;
#[cfg(feature = "server")]
pub mod invitations;
#[cfg(feature = "server")]
pub mod mail;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod recovery;
#[cfg(feature = "server")]
pub mod registration;
#[cfg(feature = "server")]
pub mod sessions;
#[cfg(feature = "strength")]
pub mod strength;
#[cfg(feature = "server")]
pub mod throttle;
#[cfg(feature = "server")]
pub mod token;
