//! Authenticator secrets at rest: XChaCha20-Poly1305 under a key derived from the server
//! secret and a *key version* (HMAC-SHA256(secret, "bulwark factor key" ‖ version)). Each
//! row records the version it was sealed under, so raising the version
//! (`BULWARK_FACTOR_KEY_VERSION`) seals new and re-used secrets under the new key while
//! the old ones stay readable; nothing is locked out by a rotation. The row's account id
//! is the associated data: a sealed secret copied onto another account's row does not open.
//!
//! Changing the server secret itself makes every sealed secret unreadable (the people
//! affected sign in with a recovery code and enrol again); docs/two-factor.md says so.

use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    XChaCha20Poly1305, XNonce,
};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::totp::TotpSecret;
use crate::accounts::UserId;

const NONCE_BYTES: usize = 24;

/// The keys: every version up to the current one can be derived from the server secret.
#[derive(Clone)]
pub struct FactorKeys {
    secret: Vec<u8>,
    current: i32,
}

impl std::fmt::Debug for FactorKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FactorKeys").field("current", &self.current).finish_non_exhaustive()
    }
}

/// A sealed secret as stored: hex of nonce ‖ ciphertext, and its key version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub hex: String,
    pub version: i32,
}

impl FactorKeys {
    /// `current` is the version new secrets are sealed under (at least 1).
    pub fn new(server_secret: &[u8], current: i32) -> Self {
        Self { secret: server_secret.to_vec(), current: current.max(1) }
    }

    pub fn current_version(&self) -> i32 {
        self.current
    }

    fn cipher(&self, version: i32) -> XChaCha20Poly1305 {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.secret).expect("HMAC accepts keys of any length");
        mac.update(b"bulwark factor key\0");
        mac.update(&version.to_be_bytes());
        let key = mac.finalize().into_bytes();
        XChaCha20Poly1305::new(&key)
    }

    /// Seals `secret` for `user_id` under the current version.
    pub fn seal(&self, user_id: UserId, secret: &TotpSecret) -> Sealed {
        self.seal_bytes(user_id, secret.as_bytes())
    }

    /// Opens a stored secret; see [`Self::open_bytes`].
    pub fn open(&self, user_id: UserId, sealed: &Sealed) -> Option<TotpSecret> {
        self.open_bytes(user_id, sealed).map(TotpSecret::from_bytes)
    }

    /// Seals any short secret for `user_id` (recovery codes waiting to be shown).
    pub fn seal_bytes(&self, user_id: UserId, plain: &[u8]) -> Sealed {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = user_id.to_be_bytes();
        let sealed = self
            .cipher(self.current)
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad: &aad })
            .expect("XChaCha20-Poly1305 encrypts any length this small");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Sealed { hex: crate::token::hex(&bytes), version: self.current }
    }

    /// Opens a sealed value; `None` if it does not open (another account's row, a key
    /// version above the current one, a changed server secret, a damaged row).
    pub fn open_bytes(&self, user_id: UserId, sealed: &Sealed) -> Option<Vec<u8>> {
        if sealed.version < 1 || sealed.version > self.current {
            return None;
        }
        let bytes = unhex(&sealed.hex)?;
        if bytes.len() <= NONCE_BYTES {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let aad = user_id.to_be_bytes();
        self.cipher(sealed.version)
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: &aad })
            .ok()
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_for_its_account_only() {
        let keys = FactorKeys::new(b"server secret", 1);
        let secret = TotpSecret::generate();
        let sealed = keys.seal(7, &secret);
        assert_eq!(keys.open(7, &sealed), Some(secret.clone()));
        assert_eq!(keys.open(8, &sealed), None, "moved to another account");
        assert!(!sealed.hex.contains(&crate::token::hex(secret.as_bytes())), "not stored in the clear");
        assert_ne!(keys.seal(7, &secret).hex, sealed.hex, "a fresh nonce each time");
    }

    #[test]
    fn a_rotation_keeps_old_secrets_readable() {
        let old = FactorKeys::new(b"server secret", 1);
        let secret = TotpSecret::generate();
        let sealed = old.seal(7, &secret);
        let rotated = FactorKeys::new(b"server secret", 2);
        assert_eq!(rotated.open(7, &sealed), Some(secret.clone()), "version 1 still opens");
        let resealed = rotated.seal(7, &secret);
        assert_eq!(resealed.version, 2);
        assert_eq!(old.open(7, &resealed), None, "a version this build does not have");
        assert_eq!(FactorKeys::new(b"another secret", 2).open(7, &sealed), None);
    }

    #[test]
    fn damaged_rows_do_not_open() {
        let keys = FactorKeys::new(b"server secret", 1);
        let mut sealed = keys.seal(7, &TotpSecret::generate());
        for hex in ["", "zz", "00", &sealed.hex[..sealed.hex.len() - 2]] {
            assert_eq!(keys.open(7, &Sealed { hex: hex.to_owned(), version: 1 }), None, "{hex}");
        }
        sealed.version = 0;
        assert_eq!(keys.open(7, &sealed), None);
    }
}
