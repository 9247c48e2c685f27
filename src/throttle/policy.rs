//! Throttling as pure state machines: the current time is passed in, nothing here does
//! I/O, so every rule is tested without a clock or a database.
//!
//! ```text
//!   per client IP (a /64 for IPv6)          per account identifier
//!   ─────────────────────────────          ──────────────────────
//!   failures counted while they keep        failures counted while they keep
//!   coming (reset after `ip_window` quiet)  coming (reset after `account_window` quiet)
//!   ≥ 10 → each failure blocks 1 min        ≥ 5 → each failure blocks base·2^(n−5),
//!   ≥ 20 → each failure blocks 10 min             capped at `account_max_delay`
//!   ≥ 50 → each failure blocks 1 h          success → cleared
//! ```
//!
//! The account side is a backoff, never a lockout: an attacker can slow a victim down by
//! at most the cap per attempt, and the owner gets in once the current block ends (NIST SP
//! 800-63B §5.2.2, "Rate Limiting (Throttling)"). Accounts are throttled whether or not
//! they exist, so the throttle reveals nothing either.

use crate::clock::UnixTime;

/// Failure counting for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counter {
    pub failures: u32,
    pub last_failure_at: UnixTime,
    pub blocked_until: UnixTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// `(failures, block seconds)`, ascending by failures.
    pub ip_ladder: Vec<(u32, i64)>,
    /// An IP's failures are forgotten after this long without one.
    pub ip_window_secs: i64,
    /// The failure (counted within the window) from which each failure blocks.
    pub account_backoff_from: u32,
    /// An account's failures are forgotten after this long without one.
    pub account_window_secs: i64,
    pub account_base_delay_secs: i64,
    pub account_max_delay_secs: i64,
    /// New accounts per client IP per hour.
    pub signups_per_ip_per_hour: u32,
    /// New accounts across the whole site per minute.
    pub signups_per_minute: u32,
    /// Requests for a mail (verification resend, later password reset) per client IP
    /// per hour.
    pub mail_requests_per_ip_per_hour: u32,
    /// Mails (of any kind) to one address per hour, so nobody can flood a mailbox
    /// through signup or resend.
    pub mails_per_address_per_hour: u32,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            ip_ladder: vec![(10, 60), (20, 10 * 60), (50, 60 * 60)],
            ip_window_secs: 60 * 60,
            account_backoff_from: 5,
            account_window_secs: 15 * 60,
            account_base_delay_secs: 30,
            account_max_delay_secs: 15 * 60,
            signups_per_ip_per_hour: 20,
            signups_per_minute: 60,
            mail_requests_per_ip_per_hour: 10,
            mails_per_address_per_hour: 5,
        }
    }
}

impl Counter {
    /// Seconds until the block ends, if blocked at `now`.
    pub fn retry_after(&self, now: UnixTime) -> Option<i64> {
        (self.blocked_until > now).then(|| self.blocked_until - now)
    }

    fn counted(&self, now: UnixTime, window: i64) -> u32 {
        if now - self.last_failure_at > window {
            1
        } else {
            self.failures.saturating_add(1)
        }
    }

    /// The counter after one more failed sign-in from this IP.
    pub fn after_ip_failure(&self, now: UnixTime, policy: &ThrottlePolicy) -> Self {
        let failures = self.counted(now, policy.ip_window_secs);
        let block =
            policy.ip_ladder.iter().rev().find(|(at, _)| failures >= *at).map_or(0, |(_, secs)| *secs);
        Self { failures, last_failure_at: now, blocked_until: self.blocked_until.max(now + block) }
    }

    /// The counter after one more failed sign-in for this account identifier.
    pub fn after_account_failure(&self, now: UnixTime, policy: &ThrottlePolicy) -> Self {
        let failures = self.counted(now, policy.account_window_secs);
        let block = match failures.checked_sub(policy.account_backoff_from) {
            None => 0,
            Some(doublings) => policy
                .account_base_delay_secs
                .saturating_mul(1 << doublings.min(30))
                .min(policy.account_max_delay_secs),
        };
        Self { failures, last_failure_at: now, blocked_until: now + block }
    }

    /// Counts one event in a fixed window of `window` seconds allowing `limit` events;
    /// the counter after it, or the seconds to wait if the window is full. Used for
    /// signups, where every attempt counts, not only failures.
    pub fn after_hit(&self, now: UnixTime, window: i64, limit: u32) -> Result<Self, i64> {
        // `last_failure_at` holds the window's start here.
        let (start, used) = if now - self.last_failure_at >= window {
            (now, 0)
        } else {
            (self.last_failure_at, self.failures)
        };
        if used >= limit {
            return Err(start + window - now);
        }
        Ok(Self { failures: used + 1, last_failure_at: start, blocked_until: 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy::default()
    }

    fn fail_ip(counter: Counter, times: u32, now: UnixTime) -> Counter {
        (0..times).fold(counter, |c, _| c.after_ip_failure(now, &policy()))
    }

    #[test]
    fn nine_failures_from_an_ip_block_nothing_and_the_tenth_blocks_a_minute() {
        let c = fail_ip(Counter::default(), 9, 1_000);
        assert_eq!(c.retry_after(1_000), None);
        let c = c.after_ip_failure(1_000, &policy());
        assert_eq!(c.retry_after(1_000), Some(60));
    }

    #[test]
    fn the_ip_ladder_grows_to_ten_minutes_and_then_an_hour() {
        assert_eq!(fail_ip(Counter::default(), 20, 0).retry_after(0), Some(600));
        assert_eq!(fail_ip(Counter::default(), 50, 0).retry_after(0), Some(3600));
    }

    #[test]
    fn an_ip_quiet_for_the_window_starts_over() {
        let c = fail_ip(Counter::default(), 15, 0);
        let c = c.after_ip_failure(2 * 3600, &policy());
        assert_eq!(c.failures, 1);
        assert_eq!(c.retry_after(2 * 3600), None);
    }

    #[test]
    fn an_account_backs_off_exponentially_after_its_free_failures() {
        let p = policy();
        let mut c = Counter::default();
        let mut blocks = Vec::new();
        for _ in 0..9 {
            c = c.after_account_failure(0, &p);
            blocks.push(c.retry_after(0).unwrap_or(0));
        }
        assert_eq!(blocks, vec![0, 0, 0, 0, 30, 60, 120, 240, 480]);
    }

    #[test]
    fn account_backoff_is_capped_so_the_owner_is_never_locked_out_for_good() {
        let p = policy();
        let c = (0..200).fold(Counter::default(), |c, _| c.after_account_failure(0, &p));
        assert_eq!(c.retry_after(0), Some(15 * 60));
        assert_eq!(c.retry_after(15 * 60), None, "free to try once the cap has passed");
    }

    #[test]
    fn an_account_quiet_for_fifteen_minutes_starts_over() {
        let p = policy();
        let c = (0..6).fold(Counter::default(), |c, _| c.after_account_failure(0, &p));
        let c = c.after_account_failure(16 * 60, &p);
        assert_eq!((c.failures, c.retry_after(16 * 60)), (1, None));
    }

    #[test]
    fn hits_fill_a_fixed_window_and_then_wait_for_it_to_end() {
        let mut c = Counter::default();
        for _ in 0..3 {
            c = c.after_hit(100, 60, 3).expect("room");
        }
        assert_eq!(c.after_hit(130, 60, 3), Err(30));
        assert!(c.after_hit(160, 60, 3).is_ok(), "a new window");
    }
}
