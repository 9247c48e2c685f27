//! Recovery codes: ten single-use codes that stand in for the authenticator app when it is
//! lost. Each is 120 random bits written as 24 Crockford base32 characters in six groups
//! of four (`7K2M-…`): no letters that read alike (no I, L, O, U), typed in any case, with
//! or without the dashes. At ≥112 bits a code cannot be guessed, so a plain SHA-256 of it
//! (under a domain of its own) is what is stored (OWASP ASVS 5.0 §6.5.2), looked up by
//! equality on an index: no timing differences, no password hashing per attempt.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Codes in a set.
pub const CODES_PER_SET: usize = 10;
/// A set with this many left or fewer asks its owner to make new ones.
pub const FEW_LEFT: i64 = 3;
const CODE_BYTES: usize = 15;
const CODE_CHARS: usize = 24;
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A fresh code as shown to its owner, and what is stored. `Debug` prints neither.
pub struct NewCode {
    pub code: String,
    pub hash: String,
}

impl std::fmt::Debug for NewCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewCode(<redacted>)")
    }
}

/// A new set of [`CODES_PER_SET`] codes.
pub fn generate_set() -> Vec<NewCode> {
    (0..CODES_PER_SET).map(|_| generate()).collect()
}

fn generate() -> NewCode {
    let mut bytes = [0u8; CODE_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    // 120 bits, five at a time.
    let mut bits: u128 = 0;
    for byte in bytes {
        bits = (bits << 8) | u128::from(byte);
    }
    let plain: String =
        (0..CODE_CHARS).rev().map(|i| CROCKFORD[((bits >> (i * 5)) & 31) as usize] as char).collect();
    let hash = hash_normalised(&plain);
    let code = plain
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-");
    NewCode { code, hash }
}

/// The stored hash of a code as someone typed it, or `None` when it cannot be a code (so
/// a malformed one costs no lookup). Case, spaces and dashes do not matter; the letters
/// Crockford's alphabet leaves out are read as the digits they look like.
pub fn hash_typed(typed: &str) -> Option<String> {
    let mut plain = String::with_capacity(CODE_CHARS);
    for c in typed.chars() {
        let c = match c.to_ascii_uppercase() {
            ' ' | '-' | '\t' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c if CROCKFORD.contains(&(c as u8)) && c.is_ascii() => c,
            _ => return None,
        };
        plain.push(c);
    }
    (plain.len() == CODE_CHARS).then(|| hash_normalised(&plain))
}

fn hash_normalised(plain: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(b"bulwark recovery code\0");
    digest.update(plain.as_bytes());
    crate::token::hex(&digest.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_has_ten_distinct_codes_of_120_bits() {
        let set = generate_set();
        assert_eq!(set.len(), 10);
        let mut hashes: Vec<&str> = set.iter().map(|c| c.hash.as_str()).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), 10);
        for code in &set {
            assert_eq!(code.code.len(), 24 + 5, "{}", code.code);
            assert_eq!(code.code.split('-').count(), 6);
        }
    }

    #[test]
    fn a_code_is_recognised_however_it_is_typed() {
        let code = generate();
        let typed = [
            code.code.clone(),
            code.code.to_lowercase(),
            code.code.replace('-', ""),
            code.code.replace('-', " "),
            format!("  {}  ", code.code),
        ];
        for typed in typed {
            assert_eq!(hash_typed(&typed).as_deref(), Some(code.hash.as_str()), "{typed:?}");
        }
        let with_o = code.code.replace('0', "O");
        assert_eq!(hash_typed(&with_o).as_deref(), Some(code.hash.as_str()));
    }

    #[test]
    fn what_cannot_be_a_code_is_refused_before_any_lookup() {
        for bad in [
            "",
            "ABCD",
            "ABCD-EFGH-JKMN-PQRS-TVWX-YZ01-2345",
            "ABCD-EFGH-JKMN-PQRS-TVWX-YZ0U",
            "ÄBCD-EFGH-JKMN-PQRS-TVWX-YZ01",
        ] {
            assert_eq!(hash_typed(bad), None, "{bad}");
        }
        assert!(hash_typed("ABCD-EFGH-JKMN-PQRS-TVWX-YZ01").is_some());
    }
}
