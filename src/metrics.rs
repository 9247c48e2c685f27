//! What Bulwark counts for an operator's dashboards and alerts, through the `metrics`
//! facade (the server renders it in Prometheus' text format on its own listener,
//! `BULWARK_METRICS_ADDR`; without it no recorder is installed and every call here does
//! nothing).
//!
//! Every metric's name is here, and every label value is a fixed word chosen by the code:
//! never an address, IP, username, user id, token or anything else a request carries.
//! The functions take enums or `&'static str`, so a caller cannot pass a request's data by
//! mistake; [`throttle_block`] maps a counter's key to its budget's fixed name.
//!
//! What is read from the database when scraped (live sessions, waiting mail, the pool,
//! lock waits) is the server's (`server::metrics`).

use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};

/// Sign-in attempts by `method` and `outcome`.
pub const SIGNINS: &str = "bulwark_signins_total";
/// Answers to a pending second step by `factor` and `outcome`.
pub const SECOND_STEPS: &str = "bulwark_second_steps_total";
/// Work admitted to the hashing pool (running or waiting for a hashing thread).
pub const HASH_ADMITTED: &str = "bulwark_hash_admitted";
/// Time admitted work waited for a hashing thread.
pub const HASH_WAIT: &str = "bulwark_hash_wait_seconds";
/// Work refused because the hashing queue was full (answered 503).
pub const HASH_REFUSED: &str = "bulwark_hash_refused_total";
/// Requests a throttle refused, by `budget`.
pub const THROTTLE_BLOCKS: &str = "bulwark_throttle_blocks_total";
/// Mail by `event`: queued, sent, retried (a transient failure, tried again later),
/// failed (given up), expired (its link expired before it could be sent).
pub const MAILS: &str = "bulwark_mails_total";
/// Breached-password lookups that could not be made (the list on disk or the range API
/// failed or was slow), by `source`: the password was judged without them.
pub const BREACHED_UNAVAILABLE: &str = "bulwark_breached_lookups_unavailable_total";

/// The buckets of every duration histogram, in seconds: from a cached page to a sign-in
/// waiting behind a full hashing queue.
pub const SECONDS_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Registers every counter with each of its label sets at 0 (once, when the recorder is
/// installed): a series that first appears at 1 reads as no increase to `rate()` and
/// `increase()`, so an alert would miss the first failure after a start.
pub fn register_at_zero() {
    let methods = [Method::Password, Method::SecondStep, Method::Passkey];
    let outcomes = [
        Outcome::SignedIn,
        Outcome::SecondStepOwed,
        Outcome::Failed,
        Outcome::Blocked,
        Outcome::Throttled,
        Outcome::QueueFull,
        Outcome::Error,
    ];
    for method in methods {
        for outcome in outcomes {
            counter!(SIGNINS, "method" => method.as_str(), "outcome" => outcome.as_str()).increment(0);
        }
    }
    for factor in ["totp", "recovery_code", "passkey"] {
        for outcome in ["passed", "wrong", "expired", "throttled", "error"] {
            counter!(SECOND_STEPS, "factor" => factor, "outcome" => outcome).increment(0);
        }
    }
    for event in
        [MailEvent::Queued, MailEvent::Sent, MailEvent::Retried, MailEvent::Failed, MailEvent::Expired]
    {
        counter!(MAILS, "event" => event.as_str()).increment(0);
    }
    for source in ["offline", "range_api"] {
        counter!(BREACHED_UNAVAILABLE, "source" => source).increment(0);
    }
    for (_, budget) in BUDGETS {
        counter!(THROTTLE_BLOCKS, "budget" => *budget).increment(0);
    }
    for budget in ALLOWANCES.iter().chain(&["in_flight"]) {
        counter!(THROTTLE_BLOCKS, "budget" => *budget).increment(0);
    }
    counter!(HASH_REFUSED).increment(0);
    gauge!(HASH_ADMITTED).increment(0.0);
}

/// The names the allowances count their refusals under (`throttle::allowances`).
pub const ALLOWANCES: &[&str] = &[
    "signup_ip",
    "passkey_start_ip",
    "signup_site",
    "signup_mail",
    "link_submit_ip",
    "link_mail",
    "invitation",
    "email_change",
    "data_export",
];

/// Registers the help text of this crate's metrics (once, when the recorder is installed).
pub fn describe() {
    describe_counter!(SIGNINS, "Sign-in attempts by method (password, second_step, passkey) and outcome");
    describe_counter!(SECOND_STEPS, "Answers to a pending second step by factor and outcome");
    describe_gauge!(
        HASH_ADMITTED,
        "Work admitted to the hashing pool: running or waiting for a hashing thread"
    );
    describe_histogram!(HASH_WAIT, Unit::Seconds, "Time admitted work waited for a hashing thread");
    describe_counter!(HASH_REFUSED, "Work refused at once because the hashing queue was full (503)");
    describe_counter!(THROTTLE_BLOCKS, "Requests a throttle refused, by budget");
    describe_counter!(MAILS, "Mail by event: queued, sent, retried, failed (given up), expired");
    describe_counter!(
        BREACHED_UNAVAILABLE,
        "Breached-password lookups that failed or timed out, by source (the password was judged without them)"
    );
}

/// How a sign-in attempt proved who it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Password,
    /// The second step after a password.
    SecondStep,
    Passkey,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::SecondStep => "second_step",
            Self::Passkey => "passkey",
        }
    }
}

/// How a sign-in attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A session began.
    SignedIn,
    /// The right password; a second factor is owed (no session yet).
    SecondStepOwed,
    /// Wrong or unknown credentials, or nothing usable.
    Failed,
    /// The right credentials for an account that may not sign in (disabled, locked).
    Blocked,
    Throttled,
    /// The hashing queue was full (503).
    QueueFull,
    /// Something went wrong on our side (500).
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignedIn => "signed_in",
            Self::SecondStepOwed => "second_step_owed",
            Self::Failed => "failed",
            Self::Blocked => "blocked",
            Self::Throttled => "throttled",
            Self::QueueFull => "queue_full",
            Self::Error => "error",
        }
    }
}

/// One sign-in attempt ended so.
pub fn sign_in(method: Method, outcome: Outcome) {
    counter!(SIGNINS, "method" => method.as_str(), "outcome" => outcome.as_str()).increment(1);
}

/// One answer to a second step: `factor` is `totp`, `recovery_code` or `passkey`;
/// `outcome` one of `passed`, `wrong`, `expired`, `throttled`, `error`.
pub fn second_step(factor: &'static str, outcome: &'static str) {
    counter!(SECOND_STEPS, "factor" => factor, "outcome" => outcome).increment(1);
}

/// The hashing pool's admitted work went up or down by `by` (an increment, not a value
/// set: concurrent admissions and releases cannot leave it wrong).
pub fn hash_admitted_changed(by: f64) {
    gauge!(HASH_ADMITTED).increment(by);
}

/// Admitted work waited `waited` for a hashing thread.
pub fn hash_wait(waited: Duration) {
    histogram!(HASH_WAIT).record(waited.as_secs_f64());
}

/// Work was refused: the hashing queue was full.
pub fn hash_refused() {
    counter!(HASH_REFUSED).increment(1);
}

/// The budgets a sign-in's throttle counter can belong to (`Throttle::reserve_login`): the
/// key's prefix (before its first `:`), which the throttle's code writes, and the fixed name
/// it is counted under. The allowances count under names of their own
/// ([`throttle_block_named`]).
const BUDGETS: &[(&str, &str)] = &[
    ("ip", "ip"),
    ("account", "account"),
    ("device", "device"),
    ("ip-device", "ip_device"),
    ("session", "session"),
    ("change-link", "change_link"),
    ("factor", "factor"),
    ("factor-device", "factor_device"),
    ("factor-alarm", "factor_alarm"),
];

/// The fixed budget name a throttle counter's key is counted under (`other` for a key
/// whose prefix is not listed: never any part of the key itself).
pub fn budget_of(key: &str) -> &'static str {
    let prefix = key.split(':').next().unwrap_or_default();
    BUDGETS.iter().find(|(known, _)| *known == prefix).map_or("other", |(_, name)| name)
}

/// A throttle refused a request on the counter at `key`.
pub fn throttle_block(key: &str) {
    counter!(THROTTLE_BLOCKS, "budget" => budget_of(key)).increment(1);
}

/// A throttle refused a request under an allowance the caller names (signups, mail
/// requests, link submissions, invitations, email changes: see `throttle::allowances`).
pub fn throttle_block_named(budget: &'static str) {
    counter!(THROTTLE_BLOCKS, "budget" => budget).increment(1);
}

/// A throttle refused a request because too many of its kind were in flight at once.
pub fn throttle_in_flight() {
    counter!(THROTTLE_BLOCKS, "budget" => "in_flight").increment(1);
}

/// What happened to a mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailEvent {
    Queued,
    Sent,
    Retried,
    Failed,
    Expired,
}

impl MailEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Retried => "retried",
            Self::Failed => "failed",
            Self::Expired => "expired",
        }
    }
}

pub fn mail(event: MailEvent) {
    counter!(MAILS, "event" => event.as_str()).increment(1);
}

/// A breached-password lookup could not be made; `source` is `offline` (the list on
/// disk) or `range_api`.
pub fn breached_unavailable(source: &'static str) {
    counter!(BREACHED_UNAVAILABLE, "source" => source).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_is_named_by_its_prefix_and_nothing_of_the_key_leaks() {
        assert_eq!(budget_of("ip:203.0.113.0/24"), "ip");
        assert_eq!(budget_of("account:5f0c…"), "account");
        assert_eq!(budget_of("factor-device:abc"), "factor_device");
        assert_eq!(budget_of("alice@example.com"), "other");
        assert_eq!(budget_of("nonsense:alice@example.com"), "other");
        assert_eq!(budget_of(""), "other");
    }

    /// Every key prefix the sign-in throttle writes (`format!("prefix:…")`) has a budget
    /// name here.
    #[test]
    fn every_throttle_key_prefix_has_its_budget_name() {
        let sources = [include_str!("throttle/mod.rs")];
        let mut seen = 0;
        for source in sources {
            for piece in source.split("format!(\"").skip(1) {
                let Some((prefix, _)) = piece.split_once(':') else { continue };
                if prefix.chars().all(|c| c.is_ascii_lowercase() || c == '-') && !prefix.is_empty() {
                    seen += 1;
                    assert_ne!(
                        budget_of(&format!("{prefix}:x")),
                        "other",
                        "the throttle key prefix {prefix:?}"
                    );
                }
            }
        }
        assert!(seen > 5, "the throttle's key prefixes were not found ({seen})");
    }

    /// Every allowance's name (`blocked("…", …)` in the allowances) is registered.
    #[test]
    fn every_allowance_is_registered() {
        let source = include_str!("throttle/allowances.rs");
        let named: Vec<&str> = source
            .split("blocked(")
            .skip(1)
            .filter_map(|piece| piece.trim_start().strip_prefix('"')?.split('"').next())
            .collect();
        assert!(named.len() >= 8, "{named:?}");
        for name in named {
            assert!(ALLOWANCES.contains(&name), "{name} is not in ALLOWANCES");
        }
    }

    #[test]
    fn every_label_value_is_a_prometheus_safe_word() {
        let words = BUDGETS.iter().map(|(_, name)| *name).chain(ALLOWANCES.iter().copied()).chain([
            Method::Password.as_str(),
            Method::SecondStep.as_str(),
            Method::Passkey.as_str(),
        ]);
        for word in words {
            assert!(word.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{word}");
        }
    }
}
