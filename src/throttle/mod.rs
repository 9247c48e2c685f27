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
        format!("account:{}", self.keyed_hash(email))
    }

    /// HMAC(secret, email) in hex: what every per-address counter is keyed by.
    fn keyed_hash(&self, email: &Email) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts keys of any length");
        mac.update(b"throttle account\0");
        mac.update(email.as_str().as_bytes());
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
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
        let ip_key = format!("signup-ip:{}", ip_bucket(ip));
        if let Err(throttled) = self.hit(&ip_key, 3600, self.policy.signups_per_ip_per_hour).await? {
            return Ok(Err(throttled));
        }
        self.hit("signup-all", 60, self.policy.signups_per_minute).await
    }

    /// Counts a request for a mail (a new verification link) against the client IP and
    /// the address asked for. The address is counted whether or not it has an account,
    /// so the answer is the same for both.
    pub async fn mail_request(&self, ip: IpAddr, email: &Email) -> sqlx::Result<Result<(), Throttled>> {
        let ip_key = format!("mail-ip:{}", ip_bucket(ip));
        if let Err(throttled) = self.hit(&ip_key, 3600, self.policy.mail_requests_per_ip_per_hour).await? {
            return Ok(Err(throttled));
        }
        self.mail_to(email).await
    }

    /// Counts one mail to `email` against its hourly cap; `Err` when the cap is reached
    /// (the mail must not be sent).
    pub async fn mail_to(&self, email: &Email) -> sqlx::Result<Result<(), Throttled>> {
        let key = format!("mail-to:{}", self.keyed_hash(email));
        self.hit(&key, 3600, self.policy.mails_per_address_per_hour).await
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

    #[tokio::test]
    async fn mail_requests_are_capped_per_address_from_any_ip_and_per_ip() {
        let (throttle, clock, _dir) = throttle().await;
        let email = Email::parse("victim@example.com").expect("email");
        for n in 0..5 {
            assert!(throttle.mail_request(ip(&format!("198.51.100.{n}")), &email).await.expect("db").is_ok());
        }
        let verdict = throttle.mail_request(ip("198.51.100.9"), &email).await.expect("db");
        assert!(verdict.is_err(), "sixth mail to one address in an hour");
        assert!(throttle.mail_to(&email).await.expect("db").is_err(), "signup mails share the cap");
        clock.advance(3600);
        assert!(throttle.mail_to(&email).await.expect("db").is_ok(), "a new hour");

        for n in 0..10 {
            let other = Email::parse(&format!("p{n}@example.com")).expect("email");
            assert!(throttle.mail_request(ip("203.0.113.7"), &other).await.expect("db").is_ok());
        }
        let other = Email::parse("p99@example.com").expect("email");
        assert!(throttle.mail_request(ip("203.0.113.7"), &other).await.expect("db").is_err(), "IP cap");
    }
}
