//! The argon2id computation itself, behind the hashing pool: `argon2-rust`, a port of the
//! reference implementation (phc-winner-argon2) whose compression function is chosen at
//! run time for the CPU (AVX-512, AVX2, SSE2, NEON or portable code). It writes and reads
//! the same PHC strings as RustCrypto's `argon2`, which made every hash stored before it
//! (the differential test in `differential.rs` holds the two to that).
//!
//! Working memory (`m` KiB a hash) is kept between runs in one [`Worker`] per hashing
//! thread: the library wipes it when a run ends, so the next run starts from zeroed memory
//! that is already mapped, without the page faults of a fresh allocation.

use argon2_rust::{Algorithm, Argon2, Error, Params, Version};
use rand::RngCore;

use super::{HashError, HashParams};

/// The salt of a new hash, in bytes: RFC 9106's recommendation, and what RustCrypto's
/// `SaltString::generate` made for every hash stored before.
const SALT_LEN: usize = 16;

/// The most a stored hash may ask for: anything beyond is refused as an error rather than
/// computed (see [`HashParams::MAXIMUM`]).
const CEILING: HashParams = HashParams::MAXIMUM;

/// The parameters new hashes are made with. Cheap to copy: the working memory lives in
/// each [`Worker`].
#[derive(Clone, Copy)]
pub(super) struct Engine {
    argon2: Argon2,
    ceiling: Params,
}

/// One thread's hashing state: the engine's parameters and one run's working memory, kept
/// between runs (the library wipes it when a run ends).
pub(super) struct Worker {
    hasher: argon2_rust::Hasher,
    ceiling: Params,
}

impl Engine {
    pub(super) fn new(params: HashParams) -> Result<Self, HashError> {
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, to_params(params)?);
        Ok(Self { argon2, ceiling: to_params(CEILING)? })
    }

    /// A worker with no memory yet: the first run allocates it, later runs reuse it.
    pub(super) fn worker(&self) -> Worker {
        Worker { hasher: self.argon2.hasher(), ceiling: self.ceiling }
    }
}

impl Worker {
    /// A PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$tag`) of `secret` under a new random
    /// salt, with the engine's parameters.
    pub(super) fn hash(&mut self, secret: &[u8]) -> Result<String, HashError> {
        let mut salt = [0u8; SALT_LEN];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        self.hash_with_salt(secret, &salt)
    }

    pub(super) fn hash_with_salt(&mut self, secret: &[u8], salt: &[u8]) -> Result<String, HashError> {
        self.hasher.hash_password(secret, salt).map_err(engine_error)
    }

    /// Whether `secret` matches the PHC string `phc`. The string's own parameters are used
    /// (a hash made with older ones still verifies, and is then upgraded by the caller);
    /// the comparison of tags is constant-time.
    pub(super) fn verify(&mut self, secret: &[u8], phc: &str) -> Result<bool, HashError> {
        match self.hasher.verify_encoded_bounded(phc, secret, Algorithm::Argon2id, &self.ceiling) {
            Ok(()) => Ok(true),
            Err(Error::VerifyMismatch) => Ok(false),
            Err(other) => Err(engine_error(other)),
        }
    }

    /// KiB of working memory this worker keeps between runs (0 before its first run).
    #[cfg(test)]
    pub(super) fn kept_kib(&self) -> usize {
        self.hasher.reserved_blocks()
    }
}

fn to_params(params: HashParams) -> Result<Params, HashError> {
    Params::builder()
        .memory(argon2_rust::params::Memory::kib(u64::from(params.memory_kib)))
        .passes(params.iterations)
        .lanes(params.parallelism)
        .build()
        .map_err(engine_error)
}

fn engine_error(error: Error) -> HashError {
    HashError::Argon2(error.to_string())
}
