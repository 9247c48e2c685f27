//! Password hashing with argon2id (OWASP Password Storage Cheat Sheet: m=19 MiB, t=2, p=1
//! at minimum).
//!
//! Hashing is deliberately expensive, so it runs on the blocking pool, never on an async
//! worker, and behind a semaphore sized to the cores: a burst of sign-ins queues instead
//! of starving every other request or exhausting memory (each hash holds `m` KiB).
//!
//! Verifying for an unknown account still runs a full verification against a dummy hash
//! made with the same parameters, so "no such account" costs the same time as "wrong
//! password".

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::Password;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl HashParams {
    /// OWASP's minimum for argon2id; nothing weaker is accepted from configuration.
    pub const MINIMUM: Self = Self { memory_kib: 19_456, iterations: 2, parallelism: 1 };

    /// Refuses parameters below [`HashParams::MINIMUM`].
    pub fn checked(self) -> Result<Self, HashError> {
        if self.memory_kib < Self::MINIMUM.memory_kib
            || self.iterations < Self::MINIMUM.iterations
            || self.parallelism < 1
        {
            return Err(HashError::WeakParams(self));
        }
        Ok(self)
    }
}

impl Default for HashParams {
    fn default() -> Self {
        Self::MINIMUM
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2 parameters {0:?} are below the minimum m=19456 KiB, t=2, p=1")]
    WeakParams(HashParams),
    #[error("argon2 failed: {0}")]
    Argon2(String),
    #[error("the hashing task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("the hashing pool is closed")]
    Closed,
}

/// A cheaply clonable handle to the shared hashing pool.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    argon2: Argon2<'static>,
    permits: Arc<Semaphore>,
    dummy_hash: String,
    /// argon2 runs started (hashes and verifications), for tests and monitoring.
    runs: AtomicU64,
}

impl PasswordHasher {
    /// Builds the hasher and its dummy hash (one full hash, so call this at start-up).
    pub fn new(params: HashParams) -> Result<Self, HashError> {
        let params = params.checked()?;
        let argon2 = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(params.memory_kib, params.iterations, params.parallelism, None)
                .map_err(|e| HashError::Argon2(e.to_string()))?,
        );
        let dummy_hash = hash_blocking(&argon2, "bulwark dummy password for unknown accounts")?;
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let permits = Arc::new(Semaphore::new(cores));
        Ok(Self { inner: Arc::new(Inner { argon2, permits, dummy_hash, runs: AtomicU64::new(0) }) })
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let secret = password.expose_secret().to_owned();
        self.run(move |argon2, _| hash_blocking(argon2, &secret)).await
    }

    /// Checks `password` against `stored`, or against the dummy hash when there is no
    /// account (`None`), in which case the answer is always `false`.
    pub async fn verify(&self, password: &Password, stored: Option<String>) -> Result<bool, HashError> {
        let secret = password.expose_secret().to_owned();
        self.run(move |argon2, dummy| {
            let is_real = stored.is_some();
            let phc = stored.as_deref().unwrap_or(dummy);
            let parsed = PasswordHash::new(phc).map_err(|e| HashError::Argon2(e.to_string()))?;
            let matches = argon2.verify_password(secret.as_bytes(), &parsed).is_ok();
            Ok(matches && is_real)
        })
        .await
    }

    /// How many hashes and verifications this hasher (and its clones) has started.
    pub fn runs(&self) -> u64 {
        self.inner.runs.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Argon2<'static>, &str) -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        self.inner.runs.fetch_add(1, Ordering::Relaxed);
        // The permit travels into the blocking task: if the request is dropped (the client
        // went away), the hash still runs to the end, and must keep its slot until then.
        let permit = Arc::clone(&self.inner.permits).acquire_owned().await.map_err(|_| HashError::Closed)?;
        let inner = Arc::clone(&self.inner);
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            span.in_scope(|| work(&inner.argon2, &inner.dummy_hash))
        })
        .instrument(tracing::Span::current())
        .await?
    }
}

fn hash_blocking(argon2: &Argon2<'static>, secret: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2
        .hash_password(secret.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| HashError::Argon2(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PasswordPolicy;

    fn password(raw: &str) -> Password {
        Password::parse(raw, PasswordPolicy::default()).expect("valid")
    }

    #[tokio::test]
    async fn a_hash_is_argon2id_with_at_least_the_owasp_parameters() {
        let hasher = PasswordHasher::new(HashParams::default()).expect("hasher");
        let phc = hasher.hash(&password("a perfectly fine passphrase")).await.expect("hash");
        let parsed = PasswordHash::new(&phc).expect("PHC string");
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        let params = Params::try_from(&parsed).expect("params");
        assert!(params.m_cost() >= 19_456 && params.t_cost() >= 2 && params.p_cost() >= 1);
    }

    #[tokio::test]
    async fn the_right_password_verifies_and_a_wrong_one_does_not() {
        let hasher = PasswordHasher::new(HashParams::default()).expect("hasher");
        let phc = hasher.hash(&password("a perfectly fine passphrase")).await.expect("hash");
        assert!(hasher
            .verify(&password("a perfectly fine passphrase"), Some(phc.clone()))
            .await
            .expect("verify"));
        assert!(!hasher.verify(&password("a perfectly fine passphrasE"), Some(phc)).await.expect("verify"));
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies_even_with_the_dummy_password() {
        let hasher = PasswordHasher::new(HashParams::default()).expect("hasher");
        let dummy = password("bulwark dummy password for unknown accounts");
        assert!(!hasher.verify(&dummy, None).await.expect("verify"));
    }

    #[tokio::test]
    async fn an_abandoned_hash_keeps_its_slot_until_it_finishes() {
        let hasher = PasswordHasher::new(HashParams::default()).expect("hasher");
        let free = hasher.inner.permits.available_permits();
        let secret = password("a perfectly fine passphrase");
        // The caller gives up after 1 ms (a client disconnect); the hash runs on (~20 ms).
        let abandoned = tokio::time::timeout(std::time::Duration::from_millis(1), hasher.hash(&secret)).await;
        assert!(abandoned.is_err(), "the hash cannot finish in 1 ms");
        assert_eq!(hasher.inner.permits.available_permits(), free - 1, "its slot is still taken");
        // Once it has finished, the slot comes back.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while hasher.inner.permits.available_permits() < free {
            assert!(std::time::Instant::now() < deadline, "the slot never came back");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    #[test]
    fn parameters_below_the_minimum_are_refused() {
        let weak = HashParams { memory_kib: 4096, ..HashParams::default() };
        assert!(matches!(PasswordHasher::new(weak), Err(HashError::WeakParams(_))));
    }
}
