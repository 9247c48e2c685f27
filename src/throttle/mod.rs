//! Throttling sign-in and signup, stored in the database so every instance shares it, and
//! consulted before any password is hashed. The rules are in [`policy`]; which address a
//! request comes from is [`client_ip`]'s question.

pub mod client_ip;
pub mod policy;
mod store;

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use self::{
    client_ip::{client_ip, ip_bucket, TrustedProxies},
    policy::{Counter, ThrottlePolicy},
};
use crate::{clock::SharedClock, db::SqlitePool, Email};

/// Refused for now; try again in `retry_after_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after_secs: i64,
}

#[derive(Clone)]
pub struct Throttle {
    pool: SqlitePool,
    clock: SharedClock,
    policy: ThrottlePolicy,
    key: Vec<u8>,
}

impl Throttle {
    /// `key` is the server secret: account counters are keyed by an HMAC of the email,
    /// so the table holds no addresses and its keys cannot be reversed by guessing.
    pub fn new(pool: SqlitePool, clock: SharedClock, policy: ThrottlePolicy, key: &[u8]) -> Self {
        Self { pool, clock, policy, key: key.to_vec() }
    }

    fn ip_key(ip: IpAddr) -> String {
        format!("ip:{}", ip_bucket(ip))
    }

    fn account_key(&self, email: &Email) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts keys of any length");
        mac.update(b"throttle account\0");
        mac.update(email.as_str().as_bytes());
        let digest = mac.finalize().into_bytes();
        format!("account:{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    /// A short keyed hash of the email for log lines that need to correlate attempts on
    /// one account without naming it.
    pub fn log_tag(&self, email: &Email) -> String {
        self.account_key(email).trim_start_matches("account:")[..12].to_owned()
    }

    /// Whether a sign-in from `ip` for `email` may be tried now. Same answer whether or
    /// not the account exists.
    pub async fn check_login(
        &self,
        ip: IpAddr,
        email: Option<&Email>,
    ) -> sqlx::Result<Result<(), Throttled>> {
        let now = self.clock.now();
        let mut wait = store::get(&self.pool, &Self::ip_key(ip)).await?.retry_after(now);
        if let Some(email) = email {
            let account = store::get(&self.pool, &self.account_key(email)).await?.retry_after(now);
            wait = wait.max(account);
        }
        Ok(match wait {
            Some(retry_after_secs) => Err(Throttled { retry_after_secs }),
            None => Ok(()),
        })
    }

    /// Counts a failed sign-in against the IP and (when the email parsed) the account.
    pub async fn login_failed(&self, ip: IpAddr, email: Option<&Email>) -> sqlx::Result<()> {
        let now = self.clock.now();
        let policy = &self.policy;
        store::apply(&self.pool, &Self::ip_key(ip), |c| c.after_ip_failure(now, policy)).await?;
        if let Some(email) = email {
            store::apply(&self.pool, &self.account_key(email), |c| c.after_account_failure(now, policy))
                .await?;
        }
        Ok(())
    }

    /// A successful sign-in clears the account's failures (not the IP's: one good
    /// password must not launder a stuffing run from the same address).
    pub async fn login_succeeded(&self, email: &Email) -> sqlx::Result<()> {
        store::delete(&self.pool, &self.account_key(email)).await
    }

    /// Counts a signup attempt against the IP's hourly and the site's per-minute limits.
    pub async fn signup_attempt(&self, ip: IpAddr) -> sqlx::Result<Result<(), Throttled>> {
        let now = self.clock.now();
        let per_ip = self.policy.signups_per_ip_per_hour;
        let site = self.policy.signups_per_minute;
        let ip_key = format!("signup-ip:{}", ip_bucket(ip));
        for (key, window, limit) in [(ip_key.as_str(), 3600, per_ip), ("signup-all", 60, site)] {
            if let Err(retry_after_secs) =
                store::update(&self.pool, key, |c| c.after_hit(now, window, limit)).await?
            {
                return Ok(Err(Throttled { retry_after_secs }));
            }
        }
        Ok(Ok(()))
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

    #[tokio::test]
    async fn an_unknown_account_is_throttled_exactly_like_a_known_one() {
        let (throttle, _clock, _dir) = throttle().await;
        let email = Email::parse("nobody@example.com").expect("email");
        for n in 0..5 {
            throttle.login_failed(ip(&format!("198.51.100.{n}")), Some(&email)).await.expect("db");
        }
        let verdict = throttle.check_login(ip("203.0.113.1"), Some(&email)).await.expect("db");
        assert_eq!(verdict, Err(Throttled { retry_after_secs: 30 }), "blocked from any IP");
    }

    #[tokio::test]
    async fn success_clears_the_account_but_not_the_ip() {
        let (throttle, _clock, _dir) = throttle().await;
        let email = Email::parse("a@example.com").expect("email");
        for _ in 0..10 {
            throttle.login_failed(ip("198.51.100.1"), Some(&email)).await.expect("db");
        }
        throttle.login_succeeded(&email).await.expect("db");
        assert!(throttle.check_login(ip("203.0.113.1"), Some(&email)).await.expect("db").is_ok());
        assert!(throttle.check_login(ip("198.51.100.1"), None).await.expect("db").is_err());
    }

    #[tokio::test]
    async fn the_table_holds_no_email_addresses() {
        let (throttle, _clock, _dir) = throttle().await;
        let email = Email::parse("secret.person@example.com").expect("email");
        throttle.login_failed(ip("198.51.100.1"), Some(&email)).await.expect("db");
        let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM throttle_counters")
            .fetch_all(&throttle.pool)
            .await
            .expect("keys");
        assert_eq!(keys.len(), 2);
        assert!(keys.iter().all(|k| !k.contains("secret.person")));
    }

    #[tokio::test]
    async fn concurrent_failures_are_all_counted() {
        let (throttle, _clock, _dir) = throttle().await;
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let t = throttle.clone();
                tokio::spawn(async move { t.login_failed(ip("198.51.100.1"), None).await })
            })
            .collect();
        for task in tasks {
            task.await.expect("join").expect("db");
        }
        let failures: i64 =
            sqlx::query_scalar("SELECT failures FROM throttle_counters WHERE key = 'ip:198.51.100.1'")
                .fetch_one(&throttle.pool)
                .await
                .expect("row");
        assert_eq!(failures, 20);
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
