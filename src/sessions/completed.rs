//! What a signed-in session begins from: a [`Completed`] sign-in. Only this crate can make
//! one, and only [`crate::completion::complete`] (and a password change, which renews a
//! session that was already complete) does: so the rule that an account with a factor
//! needs its second step is enforced in one place, whatever the door.

use crate::{accounts::User, factors::Factor};

/// How the person proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// The password, for an account without a second factor.
    Password,
    /// The password, then a second factor.
    PasswordAndFactor(Factor),
    /// A passkey on its own, with user verification (possession and a PIN or biometric).
    Passkey,
    /// A new password typed on a session that was already signed in (which had passed
    /// every step its account needed).
    Renewed,
}

/// A sign-in that may become a session.
#[derive(Debug)]
pub struct Completed {
    user: User,
    proof: Proof,
}

impl Completed {
    pub(crate) fn new(user: User, proof: Proof) -> Self {
        Self { user, proof }
    }

    pub fn user(&self) -> &User {
        &self.user
    }

    pub fn proof(&self) -> Proof {
        self.proof
    }

    /// Whether this sign-in counts for an account with a factor (a renewal continues a
    /// session that did).
    pub fn with_factor(&self) -> bool {
        !matches!(self.proof, Proof::Password)
    }
}
