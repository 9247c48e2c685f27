//! The hashing engine (`argon2-rust`) against RustCrypto's `argon2`, the implementation that
//! made every hash stored before the switch: on random passwords, salts and parameters the
//! two must write the same PHC strings (same tags), each must accept the other's, and
//! hashes the old implementation stored verify unchanged.

use argon2::{
    password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use rand::{rngs::StdRng, Rng, RngCore, SeedableRng};

use super::{engine::Engine, HashParams};

/// RustCrypto's PHC string for `secret` under `salt` with `params`.
fn oracle(params: HashParams, secret: &[u8], salt: &[u8]) -> String {
    let argon2 = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(params.memory_kib, params.iterations, params.parallelism, None).expect("params"),
    );
    let salt = SaltString::encode_b64(salt).expect("salt");
    argon2.hash_password(secret, &salt).expect("hash").to_string()
}

fn oracle_verifies(secret: &[u8], phc: &str) -> bool {
    Argon2::default().verify_password(secret, &PasswordHash::new(phc).expect("PHC string")).is_ok()
}

fn random_bytes(rng: &mut StdRng, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rng.fill_bytes(&mut bytes);
    bytes
}

/// One case: both implementations, the same inputs; every way the two could disagree.
fn agree(params: HashParams, secret: &[u8], salt: &[u8]) {
    let mut engine = Engine::new(params).expect("engine").worker();
    let ours = engine.hash_with_salt(secret, salt).expect("hash");
    let theirs = oracle(params, secret, salt);
    assert_eq!(ours, theirs, "{params:?}, {} byte password, {} byte salt", secret.len(), salt.len());
    assert!(engine.verify(secret, &theirs).expect("verify"), "ours accepts theirs");
    assert!(oracle_verifies(secret, &ours), "theirs accepts ours");
    let mut wrong = secret.to_vec();
    match wrong.last_mut() {
        Some(last) => *last ^= 1,
        None => wrong.push(0),
    }
    assert!(!engine.verify(&wrong, &theirs).expect("verify"), "a one-bit change is refused");
}

#[test]
fn random_inputs_over_the_parameter_range_give_identical_phc_strings() {
    let seed = rand::random::<u64>();
    // Shown when the test fails, so a disagreement can be replayed.
    eprintln!("seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..160 {
        // Small memory so the test stays quick; every lane count and pass count the
        // configuration can reach in practice, and memory that is not a multiple of
        // the lanes' four slices.
        let parallelism = rng.gen_range(1..=4);
        let params = HashParams {
            memory_kib: rng.gen_range(8 * parallelism..=1024),
            iterations: rng.gen_range(1..=4),
            parallelism,
        };
        let (secret_len, salt_len) = (rng.gen_range(0..=128), rng.gen_range(8..=48));
        let secret = random_bytes(&mut rng, secret_len);
        let salt = random_bytes(&mut rng, salt_len);
        agree(params, &secret, &salt);
    }
}

#[test]
fn the_configured_parameters_and_stronger_ones_give_identical_phc_strings() {
    let mut rng = StdRng::seed_from_u64(rand::random());
    for params in [
        HashParams::MINIMUM,
        HashParams { iterations: 3, ..HashParams::MINIMUM },
        HashParams { memory_kib: 47_104, ..HashParams::MINIMUM },
        HashParams { parallelism: 2, ..HashParams::MINIMUM },
    ] {
        let secret = random_bytes(&mut rng, 24);
        let salt = random_bytes(&mut rng, 16);
        agree(params, &secret, &salt);
    }
}

#[test]
fn new_hashes_are_what_the_old_implementation_would_have_written() {
    let mut engine = Engine::new(HashParams::MINIMUM).expect("engine").worker();
    let phc = engine.hash(b"a fresh password").expect("hash");
    let parsed = PasswordHash::new(&phc).expect("PHC string");
    let salt = parsed.salt.expect("salt");
    let mut raw = [0u8; 64];
    let salt = salt.decode_b64(&mut raw).expect("base64 salt");
    assert_eq!(salt.len(), 16, "a 16-byte random salt, as SaltString::generate made");
    assert_eq!(phc, oracle(HashParams::MINIMUM, b"a fresh password", salt));
}

/// Made by RustCrypto's `argon2` 0.5.3 (`hash_password` with `SaltString::generate`), as
/// the stored hashes of every account made before the switch were.
const STORED_BEFORE: [(&str, &str); 4] = [
    (
        "correct horse battery staple",
        "$argon2id$v=19$m=19456,t=2,p=1$OQkZwrCJ9Sa3HAyZgcpC9Q$m2wPrPWTWNXu4LPL/0ckc4JGLWD5X91NFDPOhhBca+Q",
    ),
    (
        "Ünïcödé pässwörd ✓ 42",
        "$argon2id$v=19$m=19456,t=2,p=1$dZUbbiaWGV+1fAKicQkpoQ$hcKiRm3RmwHpYNh/s2PNO8R5aV63Jlo2PndOvH7V3ks",
    ),
    (
        "older, weaker parameters",
        "$argon2id$v=19$m=8192,t=3,p=1$UVffP9/f6dH9AzkGou9fpg$MQx4E7LX9aEw6B6VXtFM42P2j7GgAH+7qOIe4bg2A4w",
    ),
    (
        "two lanes, more memory",
        "$argon2id$v=19$m=32768,t=2,p=2$EO0ZzXpGfea6TLCrz2yJQQ$6sP50EY4OgcUHJhdiJ9lNsMhkgfkwTJTyvrkOXZ/OfA",
    ),
];

#[test]
fn hashes_stored_by_the_old_implementation_verify_unchanged() {
    let mut engine = Engine::new(HashParams::MINIMUM).expect("engine").worker();
    for (password, stored) in STORED_BEFORE {
        assert!(engine.verify(password.as_bytes(), stored).expect("verify"), "{stored}");
        assert!(!engine.verify(b"something else", stored).expect("verify"), "{stored}");
        assert!(oracle_verifies(password.as_bytes(), stored), "the oracle agrees: {stored}");
    }
}
