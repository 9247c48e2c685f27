//! Random secrets handed to a browser (links in mail, device cookies): 256 random bits
//! from the OS, shown once as 64 hex characters, stored only as their SHA-256 under a
//! domain of their own. Hashing without a key is enough here: the input has 256 bits of
//! entropy, so the stored hash cannot be reversed by guessing. Also the small hex and
//! keyed-hash helpers the rest of the crate shares.

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

/// What a token is for; each kind is hashed under its own domain, so a token of one kind
/// is never accepted as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A link in a mail (verification, password reset).
    EmailLink,
    /// A device cookie.
    Device,
    /// The cookie of a sign-in waiting for its second step.
    SecondStep,
    /// The cookie of a passkey sign-in under way (its ceremony's key).
    PasskeySignIn,
}

impl Kind {
    fn domain(self) -> &'static [u8] {
        match self {
            Self::EmailLink => b"bulwark email token\0",
            Self::Device => b"bulwark device cookie\0",
            Self::SecondStep => b"bulwark second step\0",
            Self::PasskeySignIn => b"bulwark passkey sign-in\0",
        }
    }
}

/// A fresh link token.
pub fn generate() -> NewToken {
    generate_kind(Kind::EmailLink)
}

pub fn generate_kind(kind: Kind) -> NewToken {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = hex(&bytes);
    let hash = hash_of(kind, &token);
    NewToken { token, hash }
}

/// The stored form of a link token, or `None` when it cannot be one of ours (so a
/// malformed link costs no database lookup).
pub fn parse(token: &str) -> Option<String> {
    parse_kind(Kind::EmailLink, token)
}

pub fn parse_kind(kind: Kind, token: &str) -> Option<String> {
    let token = token.trim();
    let well_formed = token.len() == TOKEN_BYTES * 2
        && token.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    well_formed.then(|| hash_of(kind, token))
}

fn hash_of(kind: Kind, token: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(kind.domain());
    digest.update(token.as_bytes());
    hex(&digest.finalize())
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// 128 random bits in hex: public names (session handles) that must not be guessable.
pub fn random_handle() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

/// HMAC-SHA256(key, domain ‖ data) in hex: keyed, so the result cannot be reversed by
/// guessing `data` (an email address) without the key.
pub fn keyed_hex(key: &[u8], domain: &[u8], data: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(domain);
    mac.update(data);
    hex(&mac.finalize().into_bytes())
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
