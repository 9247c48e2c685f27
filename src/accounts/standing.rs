//! An account's standing: whether it may be used at all, and whether its owner must
//! choose a new password first. Read with the user on every request (the request
//! resolver) and at every sign-in.
//!
//! | state                  | sign-in with the right password        | an open session             |
//! |------------------------|----------------------------------------|-----------------------------|
//! | active                 | signed in                              | works                       |
//! | disabled (until a date)| refused, told the account is disabled  | ended on its next request   |
//! | locked (by an admin)   | refused, told the account is locked    | ended on its next request   |
//! | must change password   | signed in, confined to the change page | confined to the change page |
//!
//! A wrong password gets the generic sign-in error whatever the state.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;

/// Why an account may not be used; `None` from [`Standing::block`] when it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Block {
    Disabled,
    Locked,
    /// Its deletion was asked for; it is erased when the grace period ends. A sign-in
    /// answers as for no account at all (never "this account is being deleted").
    Closing,
}

/// The lifecycle columns of a user row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standing {
    /// When an admin disabled the account (`None`: not disabled).
    pub disabled_at: Option<UnixTime>,
    /// What the admin wrote; shown to admins only.
    pub disabled_reason: Option<String>,
    /// The account comes back by itself at this time (`None`: until an admin enables it).
    pub disabled_until: Option<UnixTime>,
    /// When an admin locked the account.
    pub locked_at: Option<UnixTime>,
    /// Only the password change (and sign-out) is reachable until a new one is chosen.
    pub must_change_password: bool,
    /// The account is closing: it is erased at this time unless the owner undoes it
    /// (see `deletion`).
    pub deletion_due_at: Option<UnixTime>,
}

impl Standing {
    /// Whether the account is disabled at `now` (a disablement past its end is over).
    pub fn is_disabled(&self, now: UnixTime) -> bool {
        self.disabled_at.is_some() && self.disabled_until.is_none_or(|until| now < until)
    }

    pub fn is_locked(&self) -> bool {
        self.locked_at.is_some()
    }

    /// What keeps the account from being used at `now`, if anything. Locked wins: it is
    /// the one an admin has to lift by hand.
    pub fn block(&self, now: UnixTime) -> Option<Block> {
        if self.deletion_due_at.is_some() {
            Some(Block::Closing)
        } else if self.is_locked() {
            Some(Block::Locked)
        } else if self.is_disabled(now) {
            Some(Block::Disabled)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_active_account_is_not_blocked() {
        assert_eq!(Standing::default().block(0), None);
    }

    #[test]
    fn a_disablement_with_an_end_is_over_at_that_end() {
        let standing = Standing { disabled_at: Some(10), disabled_until: Some(100), ..Standing::default() };
        assert_eq!(standing.block(99), Some(Block::Disabled));
        assert_eq!(standing.block(100), None);
        let forever = Standing { disabled_at: Some(10), ..Standing::default() };
        assert_eq!(forever.block(i64::MAX), Some(Block::Disabled));
    }

    #[test]
    fn a_lock_outranks_a_disablement_and_has_no_end() {
        let standing = Standing {
            disabled_at: Some(10),
            disabled_until: Some(100),
            locked_at: Some(20),
            ..Standing::default()
        };
        assert_eq!(standing.block(50), Some(Block::Locked));
        assert_eq!(standing.block(5_000), Some(Block::Locked));
    }

    #[test]
    fn a_closing_account_is_blocked_whatever_else_it_is() {
        let standing = Standing { deletion_due_at: Some(100), locked_at: Some(5), ..Standing::default() };
        assert_eq!(standing.block(50), Some(Block::Closing));
        assert_eq!(standing.block(500), Some(Block::Closing));
    }

    #[test]
    fn having_to_change_the_password_blocks_nothing_by_itself() {
        let standing = Standing { must_change_password: true, ..Standing::default() };
        assert_eq!(standing.block(0), None);
    }
}
