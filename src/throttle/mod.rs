//! Throttling sign-in, signup and mail, stored in the database so every instance shares
//! it. A sign-in *reserves* its attempt before any password is hashed
//! ([`Throttle::reserve_login`]): the counters are incremented and judged in one atomic
//! step, so a burst of concurrent guesses cannot all pass a check before the first failure
//! is written. The rules are in [`policy`]; which address a request comes from is
//! [`client_ip`]'s question.

mod allowances;
pub mod client_ip;
mod in_flight;
pub mod policy;
mod store;

use std::net::IpAddr;

use self::in_flight::InFlight;
pub use self::{
    allowances::LinkMail,
    client_ip::{ip_bucket, ClientIpSource, ForwardedHeader, TrustedProxies},
    in_flight::InFlightGuard,
    policy::{Counter, PrefixShare, Rule, ThrottlePolicy},
};
use crate::{clock::SharedClock, db::Pool, token::keyed_hex, Email};

/// Refused for now; try again in `retry_after_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after_secs: i64,
}

/// Which site-wide allowance of link mail a request draws on: signup and verification
/// mail cannot use up the allowance for password resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Verify,
    Reset,
}

/// Whose budget a sign-in attempt spends, besides its IP's.
#[derive(Debug, Clone, Copy)]
pub enum Budget<'a> {
    /// A browser that signed in to this account before (a valid device cookie for it):
    /// the device's own budget, given by its stored key.
    Device(&'a str),
    /// Every other client: the account's shared budget for untrusted clients, keyed by
    /// the email whether or not an account has it (`None`: the email did not parse).
    Untrusted(Option<&'a Email>),
    /// A signed-in session typing its password again (step-up, password change), given by
    /// its registry key. Not a stranger's guess: it never spends or obeys the account's
    /// budget for untrusted clients, so nobody's flood of sign-ins can keep the owner from
    /// stepping up. After [`ThrottlePolicy::proof_max_failures`] wrong passwords the
    /// session must be ended ([`Reservation::failed`] says so): a stolen session gets that
    /// many guesses, ever.
    Session(&'a str),
    /// An email-change confirmation link (its row id): the link and the password together
    /// prove the account; a few wrong passwords kill the change, as with a pending signup.
    ChangeLink(i64),
}

#[derive(Clone)]
pub struct Throttle {
    pool: Pool,
    clock: SharedClock,
    policy: ThrottlePolicy,
    key: Vec<u8>,
    in_flight: InFlight,
}

/// A sign-in attempt admitted and already counted as a failure. Tell it how the attempt
/// ended; dropping it leaves the attempt counted (a client that went away mid-hash).
pub struct Reservation {
    throttle: Throttle,
    /// The IP's counter, unless the budget was a device's (see [`Throttle::reserve_login`]).
    ip_key: Option<String>,
    budget: Option<(String, Rule)>,
    guards: Vec<InFlightGuard>,
    /// The counters as this reservation wrote them, so settling it is usually one write
    /// each (see `store::update_from`).
    ip_written: store::Snapshot,
    budget_written: store::Snapshot,
}

impl Throttle {
    /// `key` is the server secret: account counters are keyed by an HMAC of the email,
    /// so the table holds no addresses and its keys cannot be reversed by guessing.
    pub fn new(pool: Pool, clock: SharedClock, policy: ThrottlePolicy, key: &[u8]) -> Self {
        Self { pool, clock, policy, key: key.to_vec(), in_flight: InFlight::default() }
    }

    pub fn policy(&self) -> &ThrottlePolicy {
        &self.policy
    }

    fn ip_key(ip: IpAddr) -> String {
        format!("ip:{}", ip_bucket(ip))
    }

    fn account_key(&self, email: &Email) -> String {
        format!("account:{}", self.keyed_hash(email))
    }

    /// HMAC(secret, email) in hex: what every per-address counter is keyed by.
    fn keyed_hash(&self, email: &Email) -> String {
        keyed_hex(&self.key, b"throttle account\0", email.as_str().as_bytes())
    }

    async fn hit(&self, key: &str, window: i64, limit: u32) -> sqlx::Result<Result<(), Throttled>> {
        let now = self.clock.now();
        Ok(store::update(&self.pool, key, |c| c.after_hit(now, window, limit))
            .await?
            .map_err(|retry_after_secs| Throttled { retry_after_secs }))
    }

    /// A short keyed hash of the email for log lines that need to correlate attempts on
    /// one account without naming it.
    pub fn log_tag(&self, email: &Email) -> String {
        self.keyed_hash(email)[..12].to_owned()
    }

    /// Admits one sign-in attempt from `ip` against `budget` and counts it, before any
    /// hashing; or says how long to wait. Same answer whether or not the account exists.
    /// At most [`ThrottlePolicy::in_flight_per_key`] attempts per IP bucket and per budget
    /// are admitted at once in this process; more are refused for a second.
    ///
    /// A device's budget is its own and nothing else (review O3): it neither obeys nor
    /// spends the IP's ladder, so strangers flooding from the owner's address (a shared
    /// NAT, a carrier's CGNAT) cannot keep the owner's known browser from signing in. The
    /// ladder is there against one address guessing at many accounts; a device cookie
    /// names one account, was only ever issued after its right password, and is revoked
    /// after its own ten failures.
    pub async fn reserve_login(
        &self,
        ip: IpAddr,
        budget: Budget<'_>,
    ) -> sqlx::Result<Result<Reservation, Throttled>> {
        let ip_key = (!matches!(budget, Budget::Device(_))).then(|| Self::ip_key(ip));
        let budget = match budget {
            Budget::Device(key) => Some((format!("device:{key}"), Rule::Device)),
            Budget::Untrusted(Some(email)) => Some((self.account_key(email), Rule::Untrusted)),
            Budget::Untrusted(None) => None,
            Budget::Session(key) => Some((
                format!("session:{}", keyed_hex(&self.key, b"throttle session\0", key.as_bytes())),
                Rule::Proof,
            )),
            Budget::ChangeLink(id) => Some((format!("change-link:{id}"), Rule::Proof)),
        };
        let limit = self.policy.in_flight_per_key;
        let mut guards = Vec::new();
        // A device's attempts still take a place per source, of their own: a handful of
        // device cookies from one address cannot fill the hashing queue, and strangers'
        // floods (which never hold this key) cannot take the owner's place.
        let device_source =
            matches!(budget, Some((_, Rule::Device))).then(|| format!("ip-device:{}", ip_bucket(ip)));
        for key in ip_key.iter().chain(&device_source).chain(budget.as_ref().map(|(key, _)| key)) {
            match self.in_flight.enter(key, limit) {
                Some(guard) => guards.push(guard),
                None => return Ok(Err(Throttled { retry_after_secs: 1 })),
            }
        }
        let now = self.clock.now();
        let policy = &self.policy;
        // A blocked key is refused on a plain read, writing nothing: under a flood most
        // attempts end here, and the database's single writer stays free for the rest.
        // Admission itself is decided by the compare-and-swap below, never by this read.
        let mut keys: Vec<&str> = ip_key.iter().map(String::as_str).collect();
        keys.extend(budget.as_ref().map(|(key, _)| key.as_str()));
        let seen = store::get_many(&self.pool, &keys).await?;
        if let Some(wait) = seen.iter().flatten().filter_map(|(c, _)| c.retry_after(now)).max() {
            return Ok(Err(Throttled { retry_after_secs: wait }));
        }
        let mut seen = seen.into_iter();
        let seen_ip = ip_key.as_ref().and_then(|_| seen.next());
        let seen_budget = seen.next();
        // The read above is also where each compare-and-swap starts: one write per counter
        // unless another request wrote in between.
        let mut ip_written = None;
        if let Some(key) = &ip_key {
            match store::update_from(&self.pool, key, seen_ip, |c| c.admitted(Rule::Ip, now, policy)).await? {
                Ok(written) => ip_written = written,
                Err(wait) => return Ok(Err(Throttled { retry_after_secs: wait })),
            }
        }
        let mut budget_written = None;
        if let Some((key, rule)) = &budget {
            match store::update_from(&self.pool, key, seen_budget, |c| c.admitted(*rule, now, policy)).await?
            {
                Ok(written) => budget_written = written,
                Err(wait) => {
                    // Nothing will be hashed: the IP gets its attempt back.
                    if let Some(ip_key) = &ip_key {
                        store::apply_from(&self.pool, ip_key, Some(ip_written), |c| {
                            c.refunded(Rule::Ip, policy)
                        })
                        .await?;
                    }
                    return Ok(Err(Throttled { retry_after_secs: wait }));
                }
            }
        }
        Ok(Ok(Reservation { throttle: self.clone(), ip_key, budget, guards, ip_written, budget_written }))
    }

    /// Clears the account's untrusted-client failures (a password reset proved the owner).
    pub async fn clear_account(&self, email: &Email) -> sqlx::Result<()> {
        store::delete(&self.pool, &self.account_key(email)).await
    }

    /// [`Self::clear_account`] on `connection` (a change's own transaction).
    pub async fn clear_account_in(
        &self,
        connection: &mut impl crate::db::AsConn,
        email: &Email,
    ) -> sqlx::Result<()> {
        store::delete_in(connection, &self.account_key(email)).await
    }

    /// Deletes counters that can no longer change a decision: unblocked, and quiet for
    /// longer than the longest window their kind uses. Returns how many.
    pub async fn delete_stale(&self) -> sqlx::Result<u64> {
        let now = self.clock.now();
        let hour = 3600;
        let kinds: [(&str, i64); 23] = [
            ("ip:", self.policy.ip_window_secs),
            ("account:", self.policy.account_window_secs),
            ("device:", self.policy.account_window_secs),
            ("session:", policy::PROOF_WINDOW_SECS),
            ("change-link:", policy::PROOF_WINDOW_SECS),
            ("signup-ip:", hour),
            ("signup-all", 60),
            ("mail-ip:", hour),
            ("mail-to:", hour),
            ("link-mail-all:", 60),
            ("reset-mail-to:", hour),
            ("link-submit-ip:", hour),
            ("email-change:", hour),
            ("email-change-ip:", hour),
            ("change-mail-to:", hour),
            ("verify-mail-to:", hour),
            ("signup-mail-to:", hour),
            ("share:", 60),
            ("signup-mail-all-to:", hour),
            ("change-mail-all-to:", hour),
            ("trusted-", hour),
            ("signup-first:", hour),
            ("signup-first-all-to:", hour),
        ];
        let mut deleted = 0;
        for (prefix, window) in kinds {
            deleted += store::delete_stale(&self.pool, prefix, now.saturating_sub(window), now).await?;
        }
        Ok(deleted)
    }
}

impl Reservation {
    /// The in-flight slots this attempt holds, to be kept until its hash has finished.
    pub fn take_guards(&mut self) -> Vec<InFlightGuard> {
        std::mem::take(&mut self.guards)
    }

    /// The password was right: the IP gets its attempt back; a device's budget is cleared.
    /// The account's budget for untrusted clients only gets this attempt back: clearing it
    /// would hand an attacker fresh guesses, and show them (their next guesses no longer
    /// blocked) that the account exists and its owner just signed in. A password reset
    /// clears it ([`Throttle::clear_account`]).
    pub async fn succeeded(self) -> sqlx::Result<()> {
        let t = &self.throttle;
        if let Some(ip_key) = &self.ip_key {
            store::apply_from(&t.pool, ip_key, Some(self.ip_written), |c| c.refunded(Rule::Ip, &t.policy))
                .await?;
        }
        match &self.budget {
            Some((key, Rule::Device)) => store::delete(&t.pool, key).await?,
            Some((key, rule)) => {
                store::apply_from(&t.pool, key, Some(self.budget_written), |c| c.refunded(*rule, &t.policy))
                    .await?
            }
            None => {}
        }
        Ok(())
    }

    /// No verification ran (the hashing queue was full): everything is given back.
    pub async fn refund(self) -> sqlx::Result<()> {
        let t = &self.throttle;
        if let Some(ip_key) = &self.ip_key {
            store::apply_from(&t.pool, ip_key, Some(self.ip_written), |c| c.refunded(Rule::Ip, &t.policy))
                .await?;
        }
        if let Some((key, rule)) = &self.budget {
            store::apply_from(&t.pool, key, Some(self.budget_written), |c| c.refunded(*rule, &t.policy))
                .await?;
        }
        Ok(())
    }

    /// The attempt failed (it was counted when admitted). `true` when it spent a budget
    /// that has now failed too often: a device cookie must be revoked, a session
    /// re-authenticating ended, an email-change link killed.
    pub async fn failed(self) -> sqlx::Result<bool> {
        let t = &self.throttle;
        let max = match &self.budget {
            Some((_, Rule::Device)) => t.policy.device_max_failures,
            Some((_, Rule::Proof)) => t.policy.proof_max_failures,
            _ => return Ok(false),
        };
        let key = self.budget.as_ref().map(|(key, _)| key.as_str()).unwrap_or_default();
        Ok(store::get(&t.pool, key).await?.failures >= max)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{clock::ManualClock, db};

    async fn throttle() -> (Throttle, ManualClock, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.expect("db");
        db::migrate(&pool).await.expect("migrate");
        let clock = ManualClock::starting_at(1_000_000);
        (Throttle::new(pool, Arc::new(clock.clone()), ThrottlePolicy::default(), b"secret"), clock, dir)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    async fn fail(throttle: &Throttle, from: &str, email: Option<&Email>) -> Result<(), Throttled> {
        let reservation = throttle.reserve_login(ip(from), Budget::Untrusted(email)).await.expect("db")?;
        reservation.failed().await.expect("db");
        Ok(())
    }

    #[tokio::test]
    async fn an_unknown_account_is_throttled_exactly_like_a_known_one() {
        let (throttle, _clock, _dir) = throttle().await;
        let email = Email::parse("nobody@example.com").expect("email");
        for n in 0..5 {
            fail(&throttle, &format!("198.51.100.{n}"), Some(&email)).await.expect("admitted");
        }
        let verdict = throttle.reserve_login(ip("203.0.113.1"), Budget::Untrusted(Some(&email))).await;
        assert_eq!(
            verdict.expect("db").err(),
            Some(Throttled { retry_after_secs: 30 }),
            "blocked from any IP"
        );
    }

    #[tokio::test]
    async fn success_refunds_its_own_attempt_and_leaves_the_others_counted() {
        let (throttle, _clock, _dir) = throttle().await;
        let email = Email::parse("a@example.com").expect("email");
        for _ in 0..4 {
            fail(&throttle, "198.51.100.1", Some(&email)).await.expect("admitted");
        }
        let reservation =
            throttle.reserve_login(ip("198.51.100.1"), Budget::Untrusted(Some(&email))).await.expect("db");
        reservation.expect("admitted").succeeded().await.expect("db");
        let account = store::get(&throttle.pool, &throttle.account_key(&email)).await.expect("db");
        assert_eq!(account.failures, 4, "an attacker's earlier guesses stay counted");
        assert_eq!(store::get(&throttle.pool, "ip:198.51.100.1").await.expect("db").failures, 4);
        throttle.clear_account(&email).await.expect("db");
        assert_eq!(
            store::get(&throttle.pool, &throttle.account_key(&email)).await.expect("db"),
            Counter::default()
        );
    }

    #[tokio::test]
    async fn a_refused_budget_gives_the_ip_its_attempt_back() {
        let (throttle, _clock, _dir) = throttle().await;
        let email = Email::parse("a@example.com").expect("email");
        for n in 0..5 {
            fail(&throttle, &format!("198.51.100.{n}"), Some(&email)).await.expect("admitted");
        }
        assert!(fail(&throttle, "203.0.113.1", Some(&email)).await.is_err());
        assert_eq!(store::get(&throttle.pool, "ip:203.0.113.1").await.expect("db").failures, 0);
    }

    #[tokio::test]
    async fn concurrent_attempts_spend_the_budget_once_each() {
        let (throttle, _clock, _dir) = throttle().await;
        let throttle = Throttle {
            policy: ThrottlePolicy { in_flight_per_key: 100, ..ThrottlePolicy::default() },
            ..throttle
        };
        let email = Email::parse("a@example.com").expect("email");
        let tasks: Vec<_> = (0..40)
            .map(|n| {
                let (t, email) = (throttle.clone(), email.clone());
                tokio::spawn(async move {
                    let from = ip(&format!("198.51.100.{n}"));
                    t.reserve_login(from, Budget::Untrusted(Some(&email))).await.map(|r| r.is_ok())
                })
            })
            .collect();
        let mut admitted = 0;
        for task in tasks {
            admitted += usize::from(task.await.expect("join").expect("db"));
        }
        assert_eq!(admitted, 5, "the fifth reservation blocks the rest, however they interleave");
    }

    #[tokio::test]
    async fn at_most_the_in_flight_limit_is_admitted_per_key_until_slots_come_back() {
        let (throttle, _clock, _dir) = throttle().await;
        let email = Email::parse("a@example.com").expect("email");
        let mut held = Vec::new();
        for n in 0..2 {
            let from = ip(&format!("198.51.100.{n}"));
            let mut r =
                throttle.reserve_login(from, Budget::Untrusted(Some(&email))).await.expect("db").expect("ok");
            held.push(r.take_guards());
        }
        let third = throttle.reserve_login(ip("198.51.100.9"), Budget::Untrusted(Some(&email))).await;
        assert_eq!(third.expect("db").err(), Some(Throttled { retry_after_secs: 1 }));
        held.clear();
        assert!(throttle
            .reserve_login(ip("198.51.100.9"), Budget::Untrusted(Some(&email)))
            .await
            .expect("db")
            .is_ok());
    }

    #[tokio::test]
    async fn a_device_neither_obeys_nor_spends_its_ips_ladder() {
        let (throttle, _clock, _dir) = throttle().await;
        for n in 0..60 {
            // Strangers behind the owner's address guess at many accounts: the IP blocks.
            let email = Email::parse(&format!("p{n}@example.com")).expect("email");
            let _ = fail(&throttle, "198.51.100.7", Some(&email)).await;
        }
        let email = Email::parse("owner@example.com").expect("email");
        assert!(fail(&throttle, "198.51.100.7", Some(&email)).await.is_err(), "the IP is blocked");
        let device = throttle.reserve_login(ip("198.51.100.7"), Budget::Device("known")).await.expect("db");
        let device = device.expect("the owner's known browser, from the same address (review O3)");
        let ip_before = store::get(&throttle.pool, "ip:198.51.100.7").await.expect("db");
        device.failed().await.expect("db");
        assert_eq!(store::get(&throttle.pool, "ip:198.51.100.7").await.expect("db"), ip_before, "not spent");
        assert_eq!(store::get(&throttle.pool, "device:known").await.expect("db").failures, 1, "its own");

        // Device attempts from one address still take places of their own, two at a time:
        // a pile of device cookies cannot fill the hashing queue from one address.
        let mut held = Vec::new();
        for key in ["d1", "d2"] {
            let mut r = throttle
                .reserve_login(ip("198.51.100.8"), Budget::Device(key))
                .await
                .expect("db")
                .expect("ok");
            held.push(r.take_guards());
        }
        let third = throttle.reserve_login(ip("198.51.100.8"), Budget::Device("d3")).await.expect("db");
        assert_eq!(third.err(), Some(Throttled { retry_after_secs: 1 }));
        let elsewhere = throttle.reserve_login(ip("198.51.100.9"), Budget::Device("d4")).await.expect("db");
        assert!(elsewhere.is_ok(), "another address");
    }

    #[tokio::test]
    async fn the_table_holds_no_email_addresses() {
        let (throttle, _clock, _dir) = throttle().await;
        let email = Email::parse("secret.person@example.com").expect("email");
        fail(&throttle, "198.51.100.1", Some(&email)).await.expect("admitted");
        let keys: Vec<String> =
            crate::on_db!(&throttle.pool, c => sqlx::query_scalar("SELECT key FROM throttle_counters")
            .fetch_all(c)
            .await)
            .expect("keys");
        assert_eq!(keys.len(), 2);
        assert!(keys.iter().all(|k| !k.contains("secret.person")));
    }

    #[tokio::test]
    async fn counters_are_deleted_once_they_can_no_longer_matter() {
        let (throttle, clock, _dir) = throttle().await;
        let email = Email::parse("a@example.com").expect("email");
        fail(&throttle, "198.51.100.1", Some(&email)).await.expect("admitted");
        throttle.signup_attempt(ip("198.51.100.1")).await.expect("db").expect("room");
        assert_eq!(throttle.delete_stale().await.expect("db"), 0, "all still count");
        clock.advance(3601);
        assert_eq!(throttle.delete_stale().await.expect("db"), 2, "ip and signup-ip");
        clock.advance(throttle.policy.account_window_secs);
        assert_eq!(throttle.delete_stale().await.expect("db"), 1, "the account's, after its long window");
    }

    #[tokio::test]
    async fn signups_are_capped_per_ip_per_hour() {
        let (throttle, clock, _dir) = throttle().await;
        for _ in 0..20 {
            assert!(throttle.signup_attempt(ip("198.51.100.1")).await.expect("db").is_ok());
            clock.advance(1);
        }
        assert!(throttle.signup_attempt(ip("198.51.100.1")).await.expect("db").is_err());
        assert!(
            throttle.signup_attempt(ip("198.51.100.2")).await.expect("db").is_ok(),
            "other IPs unaffected"
        );
    }
}
