//! Password hashing with argon2id (OWASP Password Storage Cheat Sheet: m=19 MiB, t=2, p=1
//! at minimum).
//!
//! Hashing is deliberately expensive, so it runs on the blocking pool, never on an async
//! worker, and behind a semaphore sized to the cores: a burst of sign-ins queues instead
//! of starving every other request or exhausting memory (each hash holds `m` KiB).
//!
//! The queue in front of the pool is bounded too: a request that would wait behind more
//! than [`PasswordHasher::with_queue_limit`] others is refused at once ([`HashError::Busy`],
//! answered 503 with `Retry-After`), so a flood cannot make legitimate sign-ins wait
//! seconds. A caller that must decide before it commits to hashing (sign-in reserves its
//! throttle budget first) takes a [`Ticket`] with [`PasswordHasher::admit`]; the ticket,
//! and anything the caller attaches to it with [`Ticket::hold`], lives until the work has
//! finished, even when the request that asked for it has gone.
//!
//! Verifying for an unknown account still runs a full verification against a dummy hash
//! made with the same parameters, so "no such account" costs the same time as "wrong
//! password".

use std::sync::{
    atomic::{AtomicU64, AtomicUsize, Ordering},
    Arc, Mutex,
};

use argon2::{
    password_hash::{
        rand_core::OsRng, Output, PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString,
    },
    Algorithm, Argon2, Block, Params, Version,
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
    /// Too many requests are already waiting for a slot: refused without waiting.
    #[error("the hashing queue is full")]
    Busy,
}

/// How many requests may wait for a hashing slot, beyond those running, by default.
pub const DEFAULT_QUEUE_LIMIT: usize = 16;

/// Whose work asks for a place in the hashing queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Anyone: sign-ins without a device cookie, signups, resets.
    Normal,
    /// A sign-in from a device the account has signed in on before (a device cookie):
    /// it may also take the places kept back from ordinary work, so a flood of guesses
    /// from strangers cannot keep the owner's known browser out of the queue.
    Trusted,
}

/// A cheaply clonable handle to the shared hashing pool.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    argon2: Argon2<'static>,
    /// The stored hashes made with these parameters start with this (`$argon2id$v=19$m=…`).
    current_prefix: String,
    permits: Arc<Semaphore>,
    /// Admitted work (running or waiting for a permit), and how much may be admitted.
    admitted: AtomicUsize,
    admit_limit: usize,
    /// Places at the end of the queue that only [`Priority::Trusted`] work may take.
    reserved: usize,
    dummy_hash: String,
    /// argon2 runs started (hashes and verifications), for tests and monitoring.
    runs: AtomicU64,
    /// argon2's working memory (`m` KiB each), kept between verifications: allocating and
    /// zeroing 19 MiB for every sign-in cost about 5% of each one. At most one per permit
    /// is ever in use, so at most that many are kept.
    memory: Mutex<Vec<Vec<Block>>>,
    memory_blocks: usize,
    /// Verifications that may run at once (the permits).
    cores: usize,
}

/// A place in the hashing queue. Work runs with a ticket; the ticket (and whatever was
/// attached to it) is released when the work finishes, or at once if it never starts.
pub struct Ticket {
    inner: Arc<Inner>,
    held: Vec<Box<dyn Send>>,
}

impl Ticket {
    /// Keeps `guard` alive until this ticket's work has finished (e.g. an in-flight slot).
    pub fn hold(&mut self, guard: impl Send + 'static) {
        self.held.push(Box::new(guard));
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.inner.admitted.fetch_sub(1, Ordering::SeqCst);
    }
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
        let current_prefix = format!(
            "$argon2id$v=19$m={},t={},p={}$",
            params.memory_kib, params.iterations, params.parallelism
        );
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let permits = Arc::new(Semaphore::new(cores));
        Ok(Self {
            inner: Arc::new(Inner {
                argon2,
                current_prefix,
                permits,
                admitted: AtomicUsize::new(0),
                admit_limit: cores + DEFAULT_QUEUE_LIMIT,
                reserved: DEFAULT_QUEUE_LIMIT / 2,
                dummy_hash,
                runs: AtomicU64::new(0),
                memory: Mutex::new(Vec::new()),
                memory_blocks: params.memory_kib as usize,
                cores,
            }),
        })
    }

    /// At most `queue` requests wait for a slot beyond those running; more get
    /// [`HashError::Busy`]. Call before the hasher is cloned.
    pub fn with_queue_limit(mut self, queue: usize) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.admit_limit = inner.permits.available_permits() + queue;
            inner.reserved = queue / 2;
        }
        self
    }

    /// A place in the queue for ordinary work, or [`HashError::Busy`] without waiting when
    /// it is full. The last half of the waiting room is kept for trusted work.
    pub fn admit(&self) -> Result<Ticket, HashError> {
        self.admit_as(Priority::Normal)
    }

    /// A place in the queue, or [`HashError::Busy`] without waiting when it is full for
    /// work of this priority.
    pub fn admit_as(&self, priority: Priority) -> Result<Ticket, HashError> {
        let inner = &self.inner;
        let limit = match priority {
            Priority::Normal => inner.admit_limit - inner.reserved,
            Priority::Trusted => inner.admit_limit,
        };
        let mut admitted = inner.admitted.load(Ordering::SeqCst);
        loop {
            if admitted >= limit {
                return Err(HashError::Busy);
            }
            match inner.admitted.compare_exchange(admitted, admitted + 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return Ok(Ticket { inner: Arc::clone(inner), held: Vec::new() }),
                Err(now) => admitted = now,
            }
        }
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let secret = password.expose_secret().to_owned();
        let ticket = self.admit()?;
        self.run(ticket, move |inner| hash_blocking(&inner.argon2, &secret)).await
    }

    /// A hash of a random secret that is thrown away: stored in place of a password, it
    /// matches nothing anyone can type (an admin's forced reset), yet verifies at the
    /// same cost as any other hash.
    pub async fn hash_unusable(&self) -> Result<String, HashError> {
        let secret = crate::token::generate().token;
        let ticket = self.admit()?;
        self.run(ticket, move |inner| hash_blocking(&inner.argon2, &secret)).await
    }

    /// Whether `stored` was made with other parameters than this hasher's (older, weaker
    /// ones): such a hash is replaced at the next successful sign-in.
    pub fn is_outdated(&self, stored: &str) -> bool {
        !stored.starts_with(&self.inner.current_prefix)
    }

    /// Runs other CPU-heavy work (the strength estimate) on the same bounded pool, so it
    /// cannot be used to flood the blocking threads either.
    pub async fn run_bounded<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let ticket = self.admit()?;
        self.run(ticket, move |_| Ok(work())).await
    }

    /// Checks `password` against `stored`, or against the dummy hash when there is no
    /// account (`None`), in which case the answer is always `false`.
    pub async fn verify(
        &self,
        ticket: Ticket,
        password: &Password,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        let secret = password.expose_secret().to_owned();
        self.run(ticket, move |inner| {
            let is_real = stored.is_some();
            let matches =
                inner.verify_blocking(secret.as_bytes(), stored.as_deref().unwrap_or(&inner.dummy_hash))?;
            Ok(matches && is_real)
        })
        .await
    }

    /// The median time of one verification with this hasher's parameters, over `samples`
    /// runs on the calling thread (blocking; for benchmarks, never in a request). A
    /// sign-in cannot be faster than this, and a machine with `n` cores cannot sign in
    /// more than `n` ÷ this per second.
    pub fn time_one_verify(&self, samples: usize) -> Result<std::time::Duration, HashError> {
        let mut times = Vec::with_capacity(samples.max(1));
        for _ in 0..samples.max(1) {
            let started = std::time::Instant::now();
            let matches = self.inner.verify_blocking(b"not the dummy password", &self.inner.dummy_hash)?;
            std::hint::black_box(matches);
            times.push(started.elapsed());
        }
        times.sort_unstable();
        Ok(times[times.len() / 2])
    }

    /// Verifications per second with `threads` threads verifying at once for about
    /// `seconds` (blocking; for benchmarks). On a real machine this is below `threads` ÷
    /// [`PasswordHasher::time_one_verify`]: the threads share the memory bandwidth and
    /// the caches that one verification alone has to itself.
    pub fn verifies_per_sec(&self, threads: usize, seconds: f64) -> Result<f64, HashError> {
        let started = std::time::Instant::now();
        let done = AtomicU64::new(0);
        let failed = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            for _ in 0..threads.max(1) {
                scope.spawn(|| {
                    while started.elapsed().as_secs_f64() < seconds {
                        if self
                            .inner
                            .verify_blocking(b"not the dummy password", &self.inner.dummy_hash)
                            .is_err()
                        {
                            failed.store(true, Ordering::Relaxed);
                            return;
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        if failed.load(Ordering::Relaxed) {
            return Err(HashError::Argon2("a timed verification failed".to_owned()));
        }
        Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
    }

    /// How many hashes and verifications this hasher (and its clones) has started.
    pub fn runs(&self) -> u64 {
        self.inner.runs.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(
        &self,
        ticket: Ticket,
        work: impl FnOnce(&Inner) -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        // The permit and the ticket travel into the blocking task: if the request is
        // dropped (the client went away), the hash still runs to the end, and keeps its
        // slot (and whatever the ticket holds) until then.
        let permit = Arc::clone(&self.inner.permits).acquire_owned().await.map_err(|_| HashError::Closed)?;
        let inner = Arc::clone(&self.inner);
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _held = (permit, ticket);
            inner.runs.fetch_add(1, Ordering::Relaxed);
            span.in_scope(|| work(&inner))
        })
        .instrument(tracing::Span::current())
        .await?
    }
}

impl Inner {
    /// Whether `secret` matches the PHC string `phc`, on the calling thread. A hash made
    /// with this hasher's parameters is checked in kept working memory (the same
    /// computation and the same constant-time comparison as `argon2`'s own verifier);
    /// an older one (other parameters, about to be upgraded) by `argon2` itself.
    fn verify_blocking(&self, secret: &[u8], phc: &str) -> Result<bool, HashError> {
        let parsed = PasswordHash::new(phc).map_err(|e| HashError::Argon2(e.to_string()))?;
        let (Some(salt), Some(expected), true) =
            (parsed.salt, parsed.hash, phc.starts_with(&self.current_prefix))
        else {
            return Ok(self.argon2.verify_password(secret, &parsed).is_ok());
        };
        let mut salt_bytes = [0u8; 64];
        let mut out = [0u8; Output::MAX_LENGTH];
        let out = &mut out[..expected.len()];
        let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
            // Whatever argon2 itself makes of a malformed salt (it refuses it).
            return Ok(self.argon2.verify_password(secret, &parsed).is_ok());
        };
        let mut memory = self.take_memory();
        let computed = self.argon2.hash_password_into_with_memory(secret, salt, out, &mut memory[..]);
        self.give_back_memory(memory);
        if computed.is_err() {
            return Ok(self.argon2.verify_password(secret, &parsed).is_ok());
        }
        // `Output`'s equality is constant-time.
        Ok(Output::new(out).is_ok_and(|computed| computed == expected))
    }

    fn take_memory(&self) -> Vec<Block> {
        let kept = self.memory.lock().map(|mut kept| kept.pop()).unwrap_or(None);
        kept.unwrap_or_else(|| vec![Block::default(); self.memory_blocks])
    }

    fn give_back_memory(&self, memory: Vec<Block>) {
        if let Ok(mut kept) = self.memory.lock() {
            if kept.len() < self.cores {
                kept.push(memory);
            }
        }
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

    #[test]
    fn verifying_in_kept_memory_agrees_with_argon2s_own_verifier() {
        let hasher = PasswordHasher::new(HashParams::default()).expect("hasher");
        let older =
            Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8192, 3, 1, None).expect("params"));
        for (stored, current) in [("correct horse battery", true), ("tr0ub4dor&3 and more", false)] {
            let phc = if current {
                hash_blocking(&hasher.inner.argon2, stored).expect("hash")
            } else {
                hash_blocking(&older, stored).expect("hash")
            };
            assert_eq!(hasher.is_outdated(&phc), !current);
            let parsed = PasswordHash::new(&phc).expect("phc");
            for attempt in [stored, "something else entirely", ""] {
                let ours = hasher.inner.verify_blocking(attempt.as_bytes(), &phc).expect("verify");
                let theirs = Argon2::default().verify_password(attempt.as_bytes(), &parsed).is_ok();
                assert_eq!(
                    ours,
                    theirs,
                    "{attempt:?} against a {} hash",
                    if current { "current" } else { "older" }
                );
                assert_eq!(ours, attempt == stored);
            }
        }
        // Twice in a row through the same kept memory: a previous run leaves nothing behind
        // that changes the next one.
        let phc = hash_blocking(&hasher.inner.argon2, "again and again").expect("hash");
        assert!(hasher.inner.verify_blocking(b"again and again", &phc).expect("first"));
        assert!(hasher.inner.verify_blocking(b"again and again", &phc).expect("second"));
        assert_eq!(hasher.inner.memory.lock().expect("lock").len(), 1, "one buffer kept and reused");
    }

    #[tokio::test]
    async fn the_right_password_verifies_and_a_wrong_one_does_not() {
        let hasher = PasswordHasher::new(HashParams::default()).expect("hasher");
        let phc = hasher.hash(&password("a perfectly fine passphrase")).await.expect("hash");
        let ticket = || hasher.admit().expect("room");
        assert!(hasher
            .verify(ticket(), &password("a perfectly fine passphrase"), Some(phc.clone()))
            .await
            .expect("verify"));
        assert!(!hasher
            .verify(ticket(), &password("a perfectly fine passphrasE"), Some(phc))
            .await
            .expect("verify"));
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies_even_with_the_dummy_password() {
        let hasher = PasswordHasher::new(HashParams::default()).expect("hasher");
        let dummy = password("bulwark dummy password for unknown accounts");
        assert!(!hasher.verify(hasher.admit().expect("room"), &dummy, None).await.expect("verify"));
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_runs_nothing() {
        let hasher = PasswordHasher::new(HashParams::default()).expect("hasher").with_queue_limit(1);
        let slots = hasher.inner.permits.available_permits() + 1;
        let tickets: Vec<Ticket> = (0..slots).map(|_| hasher.admit().expect("room")).collect();
        assert!(matches!(hasher.admit(), Err(HashError::Busy)));
        let before = hasher.runs();
        assert!(matches!(hasher.hash(&password("a perfectly fine passphrase")).await, Err(HashError::Busy)));
        assert_eq!(hasher.runs(), before, "a refused request costs no hash");
        drop(tickets);
        assert!(hasher.admit().is_ok(), "places come back when tickets are dropped");
    }

    #[tokio::test]
    async fn trusted_work_keeps_places_that_a_flood_of_ordinary_work_cannot_take() {
        let hasher = PasswordHasher::new(HashParams::default()).expect("hasher").with_queue_limit(4);
        let mut held = Vec::new();
        while let Ok(ticket) = hasher.admit() {
            held.push(ticket);
        }
        let ordinary = held.len();
        assert_eq!(ordinary, hasher.inner.permits.available_permits() + 2, "half the waiting room");
        let trusted: Vec<Ticket> =
            (0..2).map(|_| hasher.admit_as(Priority::Trusted).expect("kept back")).collect();
        assert!(matches!(hasher.admit_as(Priority::Trusted), Err(HashError::Busy)), "then it is full");
        drop(trusted);
    }

    #[tokio::test]
    async fn a_hash_with_the_current_parameters_is_not_outdated_and_a_weaker_one_is() {
        let hasher = PasswordHasher::new(HashParams::default()).expect("hasher");
        let phc = hasher.hash(&password("a perfectly fine passphrase")).await.expect("hash");
        assert!(!hasher.is_outdated(&phc));
        let stronger =
            PasswordHasher::new(HashParams { iterations: 3, ..HashParams::default() }).expect("hasher");
        assert!(stronger.is_outdated(&phc));
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
