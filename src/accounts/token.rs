//! One-time tokens for links in mail: 256 random bits from the OS, shown once as 64 hex
//! characters, stored only as their SHA-256. Hashing without a key is enough here: the
//! input has 256 bits of entropy, so the stored hash cannot be reversed by guessing.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A token as the user receives it (in a link) and its stored hash.
pub struct NewToken {
    pub token: String,
    pub hash: String,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewToken(<redacted>)")
    }
}

const TOKEN_BYTES: usize = 32;

pub fn generate() -> NewToken {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = hex(&bytes);
    let hash = hash_of(&token);
    NewToken { token, hash }
}

/// The stored form of `token`, or `None` when it cannot be one of ours (so a malformed
/// link costs no database lookup).
pub fn parse(token: &str) -> Option<String> {
    let token = token.trim();
    let well_formed = token.len() == TOKEN_BYTES * 2
        && token.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    well_formed.then(|| hash_of(token))
}

fn hash_of(token: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(b"bulwark email token\0");
    digest.update(token.as_bytes());
    hex(&digest.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_has_256_bits_and_only_its_hash_is_kept() {
        let a = generate();
        let b = generate();
        assert_eq!(a.token.len(), 64);
        assert_ne!(a.token, b.token);
        assert_ne!(a.hash, a.token);
        assert_eq!(parse(&a.token), Some(a.hash));
    }

    #[test]
    fn malformed_tokens_are_refused_without_a_lookup() {
        for bad in ["", "abc", &"g".repeat(64), &"A".repeat(64), &"a".repeat(65)] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
