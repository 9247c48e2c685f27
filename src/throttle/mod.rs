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
    allowances::{LinkMail, EXPORTS_PER_ACCOUNT_PER_HOUR},
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
    /// A second step (an authenticator or recovery code) for this account from a browser
    /// that is not one of its known devices: one budget per account, however many pending
    /// sign-ins the right password has opened (AuthQuake), backing off like the password's.
    Factor(crate::accounts::UserId),
    /// A second step from a known device of the account (its stored key): its own budget,
    /// so a stranger who has the password cannot lock the owner out of the second step.
    FactorDevice(&'a str),
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
        let ip_key =
            (!matches!(budget, Budget::Device(_) | Budget::FactorDevice(_))).then(|| Self::ip_key(ip));
        let budget = match budget {
            Budget::Device(key) => Some((format!("device:{key}"), Rule::Device)),
            Budget::Untrusted(Some(email)) => Some((self.account_key(email), Rule::Untrusted)),
            Budget::Untrusted(None) => None,
            Budget::Session(key) => Some((
                format!("session:{}", keyed_hex(&self.key, b"throttle session\0", key.as_bytes())),
                Rule::Proof,
            )),
            Budget::ChangeLink(id) => Some((format!("change-link:{id}"), Rule::Proof)),
            Budget::Factor(user_id) => Some((format!("factor:{user_id}"), Rule::Factor)),
            Budget::FactorDevice(key) => Some((format!("factor-device:{key}"), Rule::Device)),
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
                None => {
                    crate::metrics::throttle_in_flight();
                    return Ok(Err(Throttled { retry_after_secs: 1 }));
                }
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
        let blocked =
            keys.iter().zip(&seen).filter_map(|(key, s)| Some((*key, s.as_ref()?.0.retry_after(now)?)));
        if let Some((key, wait)) = blocked.max_by_key(|(_, wait)| *wait) {
            crate::metrics::throttle_block(key);
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
                Err(wait) => {
                    crate::metrics::throttle_block(key);
                    return Ok(Err(Throttled { retry_after_secs: wait }));
                }
            }
        }
        let mut budget_written = None;
        if let Some((key, rule)) = &budget {
            match store::update_from(&self.pool, key, seen_budget, |c| c.admitted(*rule, now, policy)).await?
            {
                Ok(written) => budget_written = written,
                Err(wait) => {
                    crate::metrics::throttle_block(key);
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

    /// Consecutive wrong second steps on the account from browsers it does not know.
    pub async fn factor_failures(&self, user_id: crate::accounts::UserId) -> sqlx::Result<u32> {
        Ok(store::get(&self.pool, &format!("factor:{user_id}")).await?.failures)
    }

    /// Forgets the account's wrong second steps (a right one came from its owner).
    pub async fn clear_factor(&self, user_id: crate::accounts::UserId) -> sqlx::Result<()> {
        store::delete(&self.pool, &format!("factor:{user_id}")).await
    }

    /// [`Self::clear_factor`] on `connection` (a change's own transaction).
    pub async fn clear_factor_in(
        &self,
        connection: &mut impl crate::db::AsConn,
        user_id: crate::accounts::UserId,
    ) -> sqlx::Result<()> {
        store::delete_in(connection, &format!("factor:{user_id}")).await
    }

    /// Whether the account's second-step budget is backing off now (not merely busy with
    /// attempts in flight).
    pub async fn factor_backing_off(&self, user_id: crate::accounts::UserId) -> sqlx::Result<bool> {
        let counter = store::get(&self.pool, &format!("factor:{user_id}")).await?;
        Ok(counter.retry_after(self.clock.now()).is_some())
    }

    /// Whether the owner may be mailed about failed second steps now (at most once an
    /// hour per account, so the alarm cannot be turned into a mail flood).
    pub async fn factor_alarm(&self, user_id: crate::accounts::UserId) -> sqlx::Result<bool> {
        Ok(self.hit(&format!("factor-alarm:{user_id}"), 3600, 1).await?.is_ok())
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
        let day = 24 * hour;
        let kinds: [(&str, i64); 30] = [
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
            ("factor:", self.policy.account_window_secs),
            ("factor-device:", self.policy.account_window_secs),
            ("factor-alarm:", hour),
            ("passkey-start-ip:", 60),
            ("invite-to:", day),
            ("invite-by:", day),
            ("export:", hour),
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
mod tests;
