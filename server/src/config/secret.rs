//! The server secret: given (`BULWARK_SECRET`), or in development made once and kept.

use std::fmt;

use super::MIN_SECRET_BYTES;

/// Where development keeps the secret it made when `BULWARK_SECRET` is not set.
const DEVELOPMENT_SECRET_FILE: &str = "data/dev-secret";

/// Development without `BULWARK_SECRET`: a random secret made once and kept in
/// [`DEVELOPMENT_SECRET_FILE`] (owner-only), so what is sealed under it (authenticator
/// secrets) still opens after a restart. If the file cannot be kept, a secret for this run.
pub(super) fn development_secret() -> Vec<u8> {
    if let Ok(kept) = std::fs::read_to_string(DEVELOPMENT_SECRET_FILE) {
        let kept = kept.trim();
        if kept.len() >= MIN_SECRET_BYTES {
            tracing::warn!(
                file = DEVELOPMENT_SECRET_FILE,
                "BULWARK_SECRET is not set; using the development secret kept in this file"
            );
            return kept.as_bytes().to_vec();
        }
    }
    let made = bulwark::token::hex(&random_bytes());
    let kept = std::fs::create_dir_all("data").and_then(|()| {
        use std::io::Write as _;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(DEVELOPMENT_SECRET_FILE)?.write_all(made.as_bytes())
    });
    match kept {
        Ok(()) => tracing::warn!(
            file = DEVELOPMENT_SECRET_FILE,
            "BULWARK_SECRET is not set; made a development secret and kept it in this file"
        ),
        Err(error) => {
            tracing::warn!(%error, "BULWARK_SECRET is not set; using a random secret for this run (development only)")
        }
    }
    made.into_bytes()
}

/// The server secret; `Debug` does not print it.
#[derive(Clone)]
pub struct Secret(pub(super) Vec<u8>);

impl Secret {
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

fn random_bytes() -> Vec<u8> {
    use rand::RngCore;
    let mut bytes = vec![0u8; 48];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}
