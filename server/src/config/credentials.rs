//! Settings about the credentials people choose and the notices they get: where breached
//! passwords are looked up (see `bulwark::breached`), and whether a sign-in from a new
//! device is mailed to the owner.

use std::{path::PathBuf, time::Duration};

use bulwark::breached::{Breaches, OfflineList, RangeApi};
use clap::Args;

/// The raw settings, as given.
#[derive(Clone, Args)]
pub struct CredentialsConfig {
    /// Have I Been Pwned's Pwned Passwords on disk: one sorted `HASH:COUNT` file (SHA-1),
    /// or a folder of range files such as `21BD1.txt`. New passwords found there are
    /// refused. See docs/operators/deployment.md for downloading it.
    #[arg(long, env = "BULWARK_BREACHED_LIST")]
    pub breached_list: Option<PathBuf>,
    /// The k-anonymity range API to ask as well, like https://api.pwnedpasswords.com
    /// (only the first five hex digits of a password's SHA-1 leave). Unset: not asked.
    #[arg(long, env = "BULWARK_BREACHED_RANGE_URL")]
    pub breached_range_url: Option<String>,
    /// Milliseconds the range API may take before a password is judged without it.
    #[arg(long, env = "BULWARK_BREACHED_RANGE_TIMEOUT_MS", default_value_t = 1500)]
    pub breached_range_timeout_ms: u64,
    /// Mail the owner when their account is signed in to from a browser it has not been
    /// signed in from before.
    #[arg(long, env = "BULWARK_NEW_DEVICE_NOTICE", default_value_t = true, action = clap::ArgAction::Set)]
    pub new_device_notice: bool,
    /// The key version authenticator secrets are sealed under (see
    /// `bulwark::factors::cipher`). Raise it to rotate: secrets sealed under older versions
    /// stay readable and are re-sealed at their next use. Never lower it.
    #[arg(long, env = "BULWARK_FACTOR_KEY_VERSION", default_value_t = 1)]
    pub factor_key_version: i32,
}

/// The checked settings.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub breaches: Breaches,
    pub new_device_notice: bool,
    pub factor_key_version: i32,
}

impl Default for Credentials {
    fn default() -> Self {
        Self { breaches: Breaches::default(), new_device_notice: true, factor_key_version: 1 }
    }
}

impl CredentialsConfig {
    /// The checked settings, or what is wrong with them. Production needs https to the
    /// range API; the list is opened now, so a wrong path stops the server at start.
    pub fn validate(&self, production: bool) -> Result<Credentials, String> {
        let offline = match &self.breached_list {
            Some(path) => Some(OfflineList::open(path).map_err(|e| format!("BULWARK_BREACHED_LIST: {e}"))?),
            None => None,
        };
        let range = match self.breached_range_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => {
                let https = url.starts_with("https://");
                if !(https || url.starts_with("http://")) || url.len() <= "https://".len() {
                    return Err(format!(
                        "BULWARK_BREACHED_RANGE_URL {url:?} is not an http(s) URL like https://api.pwnedpasswords.com"
                    ));
                }
                if production && !https {
                    return Err("BULWARK_BREACHED_RANGE_URL must use https in production".into());
                }
                if !(100..=10_000).contains(&self.breached_range_timeout_ms) {
                    return Err("BULWARK_BREACHED_RANGE_TIMEOUT_MS must be between 100 and 10000".into());
                }
                let timeout = Duration::from_millis(self.breached_range_timeout_ms);
                Some(RangeApi::new(url, timeout).map_err(|e| format!("BULWARK_BREACHED_RANGE_URL: {e}"))?)
            }
            None => None,
        };
        if !(1..=1_000_000).contains(&self.factor_key_version) {
            return Err("BULWARK_FACTOR_KEY_VERSION must be between 1 and 1000000".into());
        }
        let breaches = Breaches::new(offline, range);
        if !breaches.is_enabled() {
            tracing::warn!(
                "no breached-password list: set BULWARK_BREACHED_LIST (or BULWARK_BREACHED_RANGE_URL) \
                 so new passwords are checked against known breaches"
            );
        }
        Ok(Credentials {
            breaches,
            new_device_notice: self.new_device_notice,
            factor_key_version: self.factor_key_version,
        })
    }
}
