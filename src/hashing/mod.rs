//! Password hashing with argon2id (OWASP Password Storage Cheat Sheet: m=19 MiB, t=2, p=1
//! at minimum).
//!
//! Hashing is deliberately expensive, so it runs on its own threads, one per core, never on
//! an async worker: a burst of sign-ins queues instead of starving every other request or
//! exhausting memory (each hashing thread holds `m` KiB). The computation itself is
//! `argon2-rust` (SIMD chosen at run time; see `engine.rs` and docs/hashing.md).
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
    mpsc, Arc,
};

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

    /// The most a hash may cost: what a stored hash may ask for when it is verified (a
    /// damaged or tampered row must not make a sign-in allocate gigabytes or spin for
    /// minutes), and so the most the configuration may ask for too.
    pub const MAXIMUM: Self = Self { memory_kib: 1024 * 1024, iterations: 64, parallelism: 16 };

    /// Refuses parameters below [`HashParams::MINIMUM`] or above [`HashParams::MAXIMUM`].
    pub fn checked(self) -> Result<Self, HashError> {
        if self.memory_kib < Self::MINIMUM.memory_kib
            || self.iterations < Self::MINIMUM.iterations
            || self.parallelism < 1
        {
            return Err(HashError::WeakParams(self));
        }
        if self.memory_kib > Self::MAXIMUM.memory_kib
            || self.iterations > Self::MAXIMUM.iterations
            || self.parallelism > Self::MAXIMUM.parallelism
        {
            return Err(HashError::CostlyParams(self));
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
    #[error("argon2 parameters {0:?} are above the maximum m=1048576 KiB, t=64, p=16")]
    CostlyParams(HashParams),
    #[error("argon2 failed: {0}")]
    Argon2(String),
    #[error("the hashing threads could not be started: {0}")]
    Threads(#[from] std::io::Error),
    /// The hashing thread dropped the work (it panicked) or the pool has stopped.
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
    engine: engine::Engine,
    /// The queue of the hashing threads (one per core).
    jobs: mpsc::Sender<workers::Job>,
    threads: usize,
    /// The stored hashes made with these parameters start with this (`$argon2id$v=19$m=…`).
    current_prefix: String,
    /// Admitted work (running or waiting for a hashing thread), and how much may be admitted.
    admitted: AtomicUsize,
    admit_limit: usize,
    /// Places at the end of the queue that only [`Priority::Trusted`] work may take.
    reserved: usize,
    dummy_hash: String,
    /// argon2 runs started (hashes and verifications), for tests and monitoring.
    runs: AtomicU64,
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
        crate::metrics::hash_admitted_changed(-1.0);
    }
}

impl PasswordHasher {
    /// Builds the hasher and its dummy hash (one full hash, so call this at start-up).
    pub fn new(params: HashParams) -> Result<Self, HashError> {
        let params = params.checked()?;
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let engine = engine::Engine::new(params)?;
        let dummy_hash = engine.worker().hash(b"bulwark dummy password for unknown accounts")?;
        let current_prefix = format!(
            "$argon2id$v=19$m={},t={},p={}$",
            params.memory_kib, params.iterations, params.parallelism
        );
        let jobs = workers::start(engine, threads)?;
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                jobs,
                threads,
                current_prefix,
                admitted: AtomicUsize::new(0),
                admit_limit: threads + DEFAULT_QUEUE_LIMIT,
                reserved: DEFAULT_QUEUE_LIMIT / 2,
                dummy_hash,
                runs: AtomicU64::new(0),
            }),
        })
    }

    /// At most `queue` requests wait for a slot beyond those running; more get
    /// [`HashError::Busy`]. Call before the hasher is cloned.
    pub fn with_queue_limit(mut self, queue: usize) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.admit_limit = inner.threads + queue;
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
                crate::metrics::hash_refused();
                return Err(HashError::Busy);
            }
            match inner.admitted.compare_exchange(admitted, admitted + 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => {
                    crate::metrics::hash_admitted_changed(1.0);
                    return Ok(Ticket { inner: Arc::clone(inner), held: Vec::new() });
                }
                Err(now) => admitted = now,
            }
        }
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let secret = password.expose_secret().to_owned();
        let ticket = self.admit()?;
        self.run(ticket, move |worker| worker.hash(secret.as_bytes())).await
    }

    /// A hash of a random secret that is thrown away: stored in place of a password, it
    /// matches nothing anyone can type (an admin's forced reset), yet verifies at the
    /// same cost as any other hash.
    pub async fn hash_unusable(&self) -> Result<String, HashError> {
        let secret = crate::token::generate().token;
        let ticket = self.admit()?;
        self.run(ticket, move |worker| worker.hash(secret.as_bytes())).await
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
        let inner = Arc::clone(&self.inner);
        self.run(ticket, move |worker| {
            let Some(stored) = stored else {
                // No account: the same work against the dummy hash, and never a match.
                worker.verify(secret.as_bytes(), &inner.dummy_hash)?;
                return Ok(false);
            };
            match worker.verify(secret.as_bytes(), &stored) {
                Ok(matches) => Ok(matches),
                Err(error) => {
                    // A stored hash that cannot be checked (damaged, another variant,
                    // beyond the maximum cost) matches nothing. It is answered as a wrong
                    // password, after the same work, so the answer says nothing of it.
                    tracing::error!(%error, "a stored password hash could not be checked");
                    worker.verify(secret.as_bytes(), &inner.dummy_hash)?;
                    Ok(false)
                }
            }
        })
        .await
    }

    /// The median time of one verification with this hasher's parameters, over `samples`
    /// runs on the calling thread (blocking; for benchmarks, never in a request). A
    /// sign-in cannot be faster than this, and a machine with `n` cores cannot sign in
    /// more than `n` ÷ this per second.
    pub fn time_one_verify(&self, samples: usize) -> Result<std::time::Duration, HashError> {
        let mut times = Vec::with_capacity(samples.max(1));
        let mut worker = self.inner.engine.worker();
        // The first run allocates the working memory; requests never see that cost.
        worker.verify(b"not the dummy password", &self.inner.dummy_hash)?;
        for _ in 0..samples.max(1) {
            let started = std::time::Instant::now();
            let matches = worker.verify(b"not the dummy password", &self.inner.dummy_hash)?;
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
                    let mut worker = self.inner.engine.worker();
                    while started.elapsed().as_secs_f64() < seconds {
                        if worker.verify(b"not the dummy password", &self.inner.dummy_hash).is_err() {
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

    /// The argon2 implementation and the compression function it chose for this CPU
    /// (e.g. `argon2-rust avx512`), for `server measure-hash` and the start-up log.
    pub fn engine_name() -> String {
        format!("argon2-rust {}", argon2_rust::detected_backend())
    }

    /// How many hashes and verifications this hasher (and its clones) has started.
    pub fn runs(&self) -> u64 {
        self.inner.runs.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(
        &self,
        ticket: Ticket,
        work: impl FnOnce(&mut engine::Worker) -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let span = tracing::Span::current();
        let queued_at = std::time::Instant::now();
        let job: workers::Job = Box::new(move |worker| {
            crate::metrics::hash_wait(queued_at.elapsed());
            // The ticket (and what it holds) lives until the work has finished. Work whose
            // request went away while it waited is not started: nobody would see its answer.
            let ticket = ticket;
            if answer.is_closed() {
                return;
            }
            ticket.inner.runs.fetch_add(1, Ordering::Relaxed);
            let outcome = span.in_scope(|| work(worker));
            // The place is given back before the answer goes out: whoever sees the answer
            // (the request, its next request) finds the place free, never about to be.
            drop(ticket);
            let _ = answer.send(outcome);
        });
        self.inner.jobs.send(job).map_err(|_| HashError::Closed)?;
        // Once started, the work runs to its end even if this request is dropped meanwhile
        // (the client went away): it keeps its place, and whatever its ticket holds, until then.
        answered.await.map_err(|_| HashError::Closed)?
    }
}

mod engine;
mod workers;

#[cfg(test)]
mod differential;
#[cfg(test)]
mod tests;
