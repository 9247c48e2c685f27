//! Throttling as pure state machines: the current time is passed in, nothing here does
//! I/O, so every rule is tested without a clock or a database.
//!
//! An attempt is counted when it is *admitted*, before its password is hashed (see
//! [`Counter::admitted`]): N concurrent guesses spend N attempts of the budget, and a
//! client that hangs up mid-hash has still spent its attempt. A success then refunds or
//! clears what it reserved.
//!
//! ```text
//!   per client IP (a /64 for IPv6)     per account, untrusted clients     per device cookie
//!   ──────────────────────────────     ─────────────────────────────     ─────────────────
//!   counted while they keep coming     consecutive failures, forgotten   as the account, its
//!   (forgotten after 1 h quiet)        only after 30 quiet days          own budget; revoked
//!   ≥ 10 → each blocks 1 min           ≥ 5 → each blocks 30 s·2^(n−5),   after 10 failures
//!   ≥ 20 → each blocks 10 min                capped at 15 min
//!   ≥ 50 → each blocks 1 h             ≥ 100 → refused until a password
//!   success → this attempt refunded            reset (or 30 quiet days)
//!                                      success → this attempt refunded
//! ```
//!
//! NIST SP 800-63B §5.2.2 caps consecutive failed attempts on one account at 100. Here that
//! cap, like the backoff before it, only binds *untrusted* clients: a browser that has
//! signed in to the account before presents a device cookie and spends its own budget
//! (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"), so an attacker's
//! flood cannot lock the owner out. Accounts are throttled whether or not they exist, so
//! the throttle reveals nothing either.

use crate::clock::UnixTime;

/// Failure counting for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counter {
    pub failures: u32,
    pub last_failure_at: UnixTime,
    pub blocked_until: UnixTime,
}

/// Which rule a counter follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// A client IP's ladder.
    Ip,
    /// An account's shared budget for clients without a device cookie.
    Untrusted,
    /// One device cookie's budget.
    Device,
    /// An account's second step from browsers it does not know: the same backoff as
    /// [`Rule::Untrusted`] but no hard cap, so a stranger who has the password cannot lock
    /// the owner out of a new browser for a month; what stops them is the backoff (at most
    /// a guess every 15 minutes) and the mail that tells the owner (see `factors`).
    Factor,
    /// A proof that dies after a few wrong passwords: a live session re-authenticating
    /// (step-up, password change) or one email-change link. No backoff: from
    /// [`ThrottlePolicy::proof_max_failures`] on it is refused, and its owner ends it.
    Proof,
}

/// How long a proof's failures are remembered: longer than any session or email-change
/// link lives, so the count never resets while what it guards is alive.
pub const PROOF_WINDOW_SECS: i64 = 7 * 24 * 60 * 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// `(failures, block seconds)`, ascending by failures.
    pub ip_ladder: Vec<(u32, i64)>,
    /// An IP's failures are forgotten after this long without one.
    pub ip_window_secs: i64,
    /// The failure from which each failure blocks (accounts and devices).
    pub account_backoff_from: u32,
    /// An account's (or device's) consecutive failures are forgotten after this long
    /// without one.
    pub account_window_secs: i64,
    pub account_base_delay_secs: i64,
    pub account_max_delay_secs: i64,
    /// Consecutive failures after which untrusted clients are refused outright.
    pub account_max_failures: u32,
    /// Failures after which a device cookie is revoked.
    pub device_max_failures: u32,
    /// Wrong passwords after which a session re-authenticating is ended, or an
    /// email-change link dies (see [`Rule::Proof`]).
    pub proof_max_failures: u32,
    /// Verifications in flight at once per IP bucket and per account or device.
    pub in_flight_per_key: u32,
    /// New accounts per client IP per hour.
    pub signups_per_ip_per_hour: u32,
    /// Passkey sign-ins started per client IP per minute (each stores a ceremony).
    pub passkey_starts_per_minute: u32,
    /// New accounts across the whole site per minute.
    pub signups_per_minute: u32,
    /// Requests for a mail (verification resend, password reset) per client IP per hour.
    pub mail_requests_per_ip_per_hour: u32,
    /// Mails (of any kind) to one address per hour, so nobody can flood a mailbox
    /// through signup or resend.
    pub mails_per_address_per_hour: u32,
    /// Mails with a link (verification, reset) across the whole site per minute.
    pub link_mails_per_minute: u32,
    /// Password reset submissions (each runs a strength check) per client IP per hour.
    pub link_submissions_per_ip_per_hour: u32,
    /// How late link mail over the site-wide rate may go out (queued for a later minute);
    /// a request that would wait longer is refused (429), never silently dropped.
    pub link_mail_max_delay_secs: i64,
    /// Signup mails to one address per hour from one network (see
    /// [`PrefixShare::network`]): signups naming an address cannot flood its mailbox, and
    /// one network using this up takes nothing from a signup made elsewhere.
    pub signup_mails_per_address_per_network_per_hour: u32,
    /// Signup mails (and email-change mails) to one address per hour from every network
    /// together: past it a signup is stored but not mailed (an email change refused).
    pub signup_mails_per_address_per_hour: u32,

    /// Email-change requests (each mails two addresses) per client IP per hour.
    pub email_changes_per_ip_per_hour: u32,
    /// How much of each site-wide allowance one network may use, level by level.
    pub prefix_shares: Vec<PrefixShare>,
}

/// One level of the network hierarchy and its share of a site-wide allowance: within any
/// minute, the clients in one IPv4 `/v4` (or IPv6 `/v6`) prefix together get at most
/// `percent` of it (at least one). A level with `None` for a family does not apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixShare {
    pub v4: Option<u8>,
    pub v6: Option<u8>,
    pub percent: u32,
}

impl PrefixShare {
    /// The default ladder: a subscriber (IPv4 address, IPv6 /64) 10%, a /24 or /56 20%, a
    /// /16 or /48 (one site's allocation) 30%, an IPv6 /32 (one provider) 50%.
    pub fn ladder() -> Vec<Self> {
        vec![
            Self { v4: Some(32), v6: Some(64), percent: 10 },
            Self { v4: Some(24), v6: Some(56), percent: 20 },
            Self { v4: Some(16), v6: Some(48), percent: 30 },
            Self { v4: None, v6: Some(32), percent: 50 },
        ]
    }

    /// The level per-address-per-network caps are keyed by: an IPv4 /24, an IPv6 /48.
    pub const fn network() -> Self {
        Self { v4: Some(24), v6: Some(48), percent: 100 }
    }

    /// This level's allowance out of `total`.
    pub fn of(self, total: u32) -> u32 {
        (u64::from(total) * u64::from(self.percent)).div_ceil(100).clamp(1, u64::from(u32::MAX)) as u32
    }
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            ip_ladder: vec![(10, 60), (20, 10 * 60), (50, 60 * 60)],
            ip_window_secs: 60 * 60,
            account_backoff_from: 5,
            account_window_secs: 30 * 24 * 60 * 60,
            account_base_delay_secs: 30,
            account_max_delay_secs: 15 * 60,
            account_max_failures: 100,
            device_max_failures: 10,
            proof_max_failures: 5,
            in_flight_per_key: 2,
            signups_per_ip_per_hour: 20,
            passkey_starts_per_minute: 30,
            signups_per_minute: 60,
            mail_requests_per_ip_per_hour: 10,
            mails_per_address_per_hour: 5,
            link_mails_per_minute: 60,
            link_submissions_per_ip_per_hour: 30,
            link_mail_max_delay_secs: 15 * 60,
            signup_mails_per_address_per_network_per_hour: 3,
            signup_mails_per_address_per_hour: 10,

            email_changes_per_ip_per_hour: 10,
            prefix_shares: PrefixShare::ladder(),
        }
    }
}

impl ThrottlePolicy {
    /// How long `failures` (counted ones, this one included) block under `rule`.
    pub fn block_for(&self, rule: Rule, failures: u32) -> i64 {
        match rule {
            Rule::Ip => {
                self.ip_ladder.iter().rev().find(|(at, _)| failures >= *at).map_or(0, |(_, secs)| *secs)
            }
            Rule::Untrusted if failures >= self.account_max_failures => self.account_window_secs,
            Rule::Proof if failures >= self.proof_max_failures => PROOF_WINDOW_SECS,
            Rule::Proof => 0,
            Rule::Untrusted | Rule::Device | Rule::Factor => {
                match failures.checked_sub(self.account_backoff_from) {
                    None => 0,
                    Some(doublings) => self
                        .account_base_delay_secs
                        .saturating_mul(1_i64 << doublings.min(30))
                        .min(self.account_max_delay_secs),
                }
            }
        }
    }

    fn window(&self, rule: Rule) -> i64 {
        match rule {
            Rule::Ip => self.ip_window_secs,
            Rule::Untrusted | Rule::Device | Rule::Factor => self.account_window_secs,
            Rule::Proof => PROOF_WINDOW_SECS,
        }
    }
}

impl Counter {
    /// Seconds until the block ends, if blocked at `now`.
    pub fn retry_after(&self, now: UnixTime) -> Option<i64> {
        (self.blocked_until > now).then(|| self.blocked_until.saturating_sub(now))
    }

    fn counted(&self, now: UnixTime, window: i64) -> u32 {
        if now.saturating_sub(self.last_failure_at) > window {
            1
        } else {
            self.failures.saturating_add(1)
        }
    }

    /// Admits one attempt under `rule` and counts it as a failure in advance; or, when
    /// blocked, the seconds to wait (and nothing is counted).
    pub fn admitted(&self, rule: Rule, now: UnixTime, policy: &ThrottlePolicy) -> Result<Self, i64> {
        if let Some(wait) = self.retry_after(now) {
            return Err(wait);
        }
        Ok(self.after_failure(rule, now, policy))
    }

    /// The counter after one more failure under `rule`.
    pub fn after_failure(&self, rule: Rule, now: UnixTime, policy: &ThrottlePolicy) -> Self {
        let failures = self.counted(now, policy.window(rule));
        let block = policy.block_for(rule, failures);
        Self {
            failures,
            last_failure_at: now,
            blocked_until: self.blocked_until.max(now.saturating_add(block)),
        }
    }

    /// Gives back one admitted attempt (it succeeded, or never ran): the count drops by
    /// one and the block is what the lower count would have set.
    pub fn refunded(&self, rule: Rule, policy: &ThrottlePolicy) -> Self {
        let failures = self.failures.saturating_sub(1);
        let block = policy.block_for(rule, failures);
        let blocked_until = if block > 0 { self.last_failure_at.saturating_add(block) } else { 0 };
        Self { failures, last_failure_at: self.last_failure_at, blocked_until }
    }

    /// Counts one event in a fixed window of `window` seconds allowing `limit` events;
    /// the counter after it, or the seconds to wait if the window is full. Used for
    /// signups and mail, where every attempt counts, not only failures.
    pub fn after_hit(&self, now: UnixTime, window: i64, limit: u32) -> Result<Self, i64> {
        // `last_failure_at` holds the window's start here.
        let (start, used) = if now.saturating_sub(self.last_failure_at) >= window {
            (now, 0)
        } else {
            (self.last_failure_at, self.failures)
        };
        if used >= limit {
            return Err(start.saturating_add(window).saturating_sub(now).max(1));
        }
        Ok(Self { failures: used + 1, last_failure_at: start, blocked_until: 0 })
    }

    /// Schedules one event under a rate of `per_minute`, for events that may wait rather
    /// than be refused (link mail). `last_failure_at` holds the start of the minute being
    /// filled, which may lie ahead: once a minute is full the next starts where it ends.
    /// The counter after it and when the event is due (`now` or a later minute's start);
    /// or, when that would be more than `max_delay` away, the seconds until it no longer is.
    pub fn after_paced(
        &self,
        now: UnixTime,
        per_minute: u32,
        max_delay: i64,
    ) -> Result<(Self, UnixTime), i64> {
        // A minute further ahead than any event could have been put is a clock that went
        // back (or an instance whose clock runs fast): start over rather than refuse all.
        let impossible = self.last_failure_at > now.saturating_add(max_delay).saturating_add(60);
        let (start, used) = if impossible || self.last_failure_at.saturating_add(60) <= now {
            (now, 0)
        } else {
            (self.last_failure_at, self.failures)
        };
        let (start, used) = if used < per_minute { (start, used) } else { (start.saturating_add(60), 0) };
        let due = start.max(now);
        let delay = due.saturating_sub(now);
        if delay > max_delay {
            return Err(delay.saturating_sub(max_delay).max(1));
        }
        Ok((Self { failures: used + 1, last_failure_at: start, blocked_until: 0 }, due))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy::default()
    }

    fn fail_ip(counter: Counter, times: u32, now: UnixTime) -> Counter {
        (0..times).fold(counter, |c, _| c.after_failure(Rule::Ip, now, &policy()))
    }

    #[test]
    fn nine_failures_from_an_ip_block_nothing_and_the_tenth_blocks_a_minute() {
        let c = fail_ip(Counter::default(), 9, 1_000);
        assert_eq!(c.retry_after(1_000), None);
        let c = c.after_failure(Rule::Ip, 1_000, &policy());
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
        let c = c.after_failure(Rule::Ip, 2 * 3600, &policy());
        assert_eq!(c.failures, 1);
        assert_eq!(c.retry_after(2 * 3600), None);
    }

    #[test]
    fn an_account_backs_off_exponentially_after_its_free_failures() {
        let p = policy();
        let mut c = Counter::default();
        let mut blocks = Vec::new();
        for _ in 0..9 {
            c = c.after_failure(Rule::Untrusted, 0, &p);
            blocks.push(c.retry_after(0).unwrap_or(0));
        }
        assert_eq!(blocks, vec![0, 0, 0, 0, 30, 60, 120, 240, 480]);
    }

    #[test]
    fn account_backoff_is_capped_at_fifteen_minutes_below_the_long_run_cap() {
        let p = policy();
        let c = (0..99).fold(Counter::default(), |c, _| c.after_failure(Rule::Untrusted, 0, &p));
        assert_eq!(c.retry_after(0), Some(15 * 60));
        assert_eq!(c.retry_after(15 * 60), None, "free to try once the block has passed");
    }

    #[test]
    fn the_hundredth_consecutive_failure_refuses_untrusted_clients_but_not_a_device() {
        let p = policy();
        let untrusted = (0..100).fold(Counter::default(), |c, _| c.after_failure(Rule::Untrusted, 0, &p));
        assert_eq!(untrusted.retry_after(0), Some(p.account_window_secs));
        let device = (0..100).fold(Counter::default(), |c, _| c.after_failure(Rule::Device, 0, &p));
        let factor = (0..100).fold(Counter::default(), |c, _| c.after_failure(Rule::Factor, 0, &p));
        assert_eq!(
            factor.retry_after(0),
            Some(p.account_max_delay_secs),
            "a second step never locks for a month"
        );
        assert_eq!(device.retry_after(0), Some(15 * 60), "devices are revoked instead, see Throttle");
    }

    #[test]
    fn a_proof_has_no_backoff_and_is_refused_from_its_last_failure_on() {
        let p = policy();
        let four = (0..4).fold(Counter::default(), |c, _| c.after_failure(Rule::Proof, 0, &p));
        assert_eq!(four.retry_after(0), None, "a typo or four cost nothing in waiting");
        let five = four.after_failure(Rule::Proof, 0, &p);
        assert_eq!(five.retry_after(0), Some(PROOF_WINDOW_SECS));
        assert_eq!(five.refunded(Rule::Proof, &p).retry_after(0), None);
    }

    #[test]
    fn quiet_quarter_hours_do_not_reset_an_accounts_consecutive_failures() {
        let p = policy();
        let c = (0..6).fold(Counter::default(), |c, _| c.after_failure(Rule::Untrusted, 0, &p));
        let c = c.after_failure(Rule::Untrusted, 16 * 60, &p);
        assert_eq!(c.failures, 7, "one guess every quarter hour used to start over each time");
        let c = c.after_failure(Rule::Untrusted, 16 * 60 + p.account_window_secs + 1, &p);
        assert_eq!((c.failures, c.retry_after(16 * 60 + p.account_window_secs + 1)), (1, None));
    }

    #[test]
    fn an_admitted_attempt_is_counted_before_it_runs_and_a_blocked_one_is_not() {
        let p = policy();
        let mut c = Counter::default();
        let mut admitted = 0;
        for _ in 0..50 {
            match c.admitted(Rule::Untrusted, 0, &p) {
                Ok(next) => {
                    c = next;
                    admitted += 1;
                }
                Err(wait) => assert_eq!(wait, 30),
            }
        }
        assert_eq!((admitted, c.failures), (5, 5), "the fifth attempt's block stops the rest");
    }

    #[test]
    fn a_refund_gives_back_the_attempt_and_the_block_it_set() {
        let p = policy();
        let nine = fail_ip(Counter::default(), 9, 100);
        let ten = nine.admitted(Rule::Ip, 100, &p).expect("admitted");
        assert_eq!(ten.retry_after(100), Some(60));
        let refunded = ten.refunded(Rule::Ip, &p);
        assert_eq!((refunded.failures, refunded.retry_after(100)), (9, None));
        let untrusted = (0..6).fold(Counter::default(), |c, _| c.after_failure(Rule::Untrusted, 100, &p));
        assert_eq!(untrusted.refunded(Rule::Untrusted, &p).retry_after(100), Some(30));
    }

    #[test]
    fn waits_never_overflow() {
        let c = Counter { failures: u32::MAX, last_failure_at: i64::MAX, blocked_until: i64::MAX };
        assert_eq!(c.retry_after(i64::MIN), Some(i64::MAX));
        let hit = Counter { failures: 5, last_failure_at: i64::MAX - 1, blocked_until: 0 };
        assert!(hit.after_hit(i64::MAX - 1, i64::MAX, 5).is_err());
        let _ = c.after_failure(Rule::Untrusted, i64::MAX, &policy());
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

    #[test]
    fn paced_events_fill_this_minute_then_wait_for_later_ones_up_to_the_limit() {
        let mut c = Counter::default();
        let mut dues = Vec::new();
        for _ in 0..6 {
            let (next, due) = c.after_paced(1_000, 2, 120).expect("room");
            c = next;
            dues.push(due);
        }
        assert_eq!(dues, [1_000, 1_000, 1_060, 1_060, 1_120, 1_120]);
        assert_eq!(c.after_paced(1_000, 2, 120), Err(60), "three minutes out is past the limit");
        let (_, due) = c.after_paced(1_100, 2, 120).expect("time has moved on");
        assert_eq!(due, 1_180);
        let (_, due) = c.after_paced(1_300, 2, 120).expect("all past");
        assert_eq!(due, 1_300, "a quiet site sends at once again");
        let (_, due) = c.after_paced(800, 2, 120).expect("a clock that went back");
        assert_eq!(due, 800, "a slot no request could have made is not honoured");
    }

    #[test]
    fn a_share_is_a_percentage_rounded_up_and_never_zero() {
        let share = PrefixShare { v4: Some(24), v6: Some(56), percent: 20 };
        assert_eq!((share.of(60), share.of(1), share.of(0), share.of(7)), (12, 1, 1, 2));
    }
}
