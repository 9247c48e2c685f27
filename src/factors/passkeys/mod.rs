//! Passkeys (WebAuthn), on the factor model: a passkey is one more [`Factor`]. It is a
//! second step after the password, the first choice for a step-up, and on its own a
//! complete sign-in (the browser's passkey with user verification is possession and a
//! PIN or biometric at once), always through [`crate::completion::complete`].
//!
//! - **The relying party** ([`RelyingParty`]) is `BULWARK_PUBLIC_URL`: its host is the RP
//!   ID and its origin the only origin accepted, never a request's Host header.
//! - **Ceremonies** ([`ceremony`]): the library's state (the challenge, the credentials
//!   allowed) is kept server-side in `passkey_ceremonies`, under a key derived from what
//!   it belongs to (the session, the pending second step, or a sign-in cookie), lives for
//!   [`CEREMONY_SECS`], and is deleted by the first finish call whatever its outcome: a
//!   replayed response finds nothing.
//! - **User verification** is required at registration and at every use.
//! - **The user handle** is a random UUID per account (`users.passkey_handle`); a
//!   sign-in without an address looks the credential up by its id and checks that the
//!   handle the authenticator returned is its account's.
//! - **Counters**: a non-zero signature counter that goes backwards refuses the sign-in,
//!   sets the passkey aside (`flagged_at`) and mails the owner; synced passkeys that always
//!   report 0 keep working. The stored credential moves forward after each use.

mod assertion;
pub mod ceremony;
mod registration;
pub mod store;

#[cfg(any(test, feature = "testing"))]
pub mod soft;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{Passkey, Url, Webauthn, WebauthnBuilder};

pub use self::{
    assertion::{PasskeyAnswer, SignInChallenge},
    ceremony::Ceremony,
    registration::Registered,
};
use super::Factors;
use crate::{accounts::UserId, clock::UnixTime};

/// How long a ceremony waits for the browser's answer (the library's own timeout too).
pub const CEREMONY_SECS: i64 = 300;
/// The longest passkey name, in characters.
pub const NAME_MAX_CHARS: usize = 64;

/// The relying party: this site as passkeys know it. Cheap to clone.
#[derive(Clone)]
pub struct RelyingParty {
    webauthn: Arc<Webauthn>,
    id: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RelyingPartyError {
    #[error("{0:?} is not an absolute URL")]
    NotAUrl(String),
    /// An IP address cannot be a relying party ID (WebAuthn §5.1.3 wants a domain).
    #[error("passkeys need a domain name in BULWARK_PUBLIC_URL, not the address {0}")]
    NotADomain(String),
    #[error("passkeys cannot use {0:?}: {1}")]
    Refused(String, String),
}

impl RelyingParty {
    /// The relying party for `public_url` (`https://auth.example.com`, or
    /// `http://localhost:3000` in development): its host is the RP ID, its origin the only
    /// origin allowed (no subdomains, no other port).
    pub fn new(public_url: &str, name: &str) -> Result<Self, RelyingPartyError> {
        let url = Url::parse(public_url).map_err(|_| RelyingPartyError::NotAUrl(public_url.to_owned()))?;
        let id = match (url.domain(), url.host_str()) {
            (Some(domain), _) => domain.to_owned(),
            (None, Some(address)) => return Err(RelyingPartyError::NotADomain(address.to_owned())),
            (None, None) => return Err(RelyingPartyError::NotAUrl(public_url.to_owned())),
        };
        let refused = |e: webauthn_rs::prelude::WebauthnError| {
            RelyingPartyError::Refused(public_url.to_owned(), e.to_string())
        };
        let webauthn = WebauthnBuilder::new(&id, &url)
            .map_err(refused)?
            .rp_name(name)
            .timeout(std::time::Duration::from_secs(CEREMONY_SECS as u64))
            .build()
            .map_err(refused)?;
        Ok(Self { webauthn: Arc::new(webauthn), id })
    }

    /// The RP ID (the public URL's host).
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty").field("id", &self.id).finish_non_exhaustive()
    }
}

/// A passkey as its owner (and an admin) sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyInfo {
    pub id: i64,
    pub name: String,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
    /// Backed up and synced between devices (the authenticator's backup state).
    pub synced: bool,
    /// Signs in without typing an address (a discoverable credential).
    pub discoverable: bool,
    /// Its counter went backwards: set aside, it signs in no more.
    pub flagged: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// `BULWARK_PUBLIC_URL` cannot be a relying party (an IP address in development).
    #[error("passkeys are not available here")]
    Unavailable,
    /// No ceremony waits (expired, already finished, or never started): start again.
    #[error("no passkey request waiting")]
    Expired,
    /// The browser's answer was not a valid, user-verified assertion or registration of
    /// a passkey this request may use.
    #[error("passkey refused")]
    Refused,
    #[error("throttled for {} s", .0.retry_after_secs)]
    Throttled(crate::throttle::Throttled),
    /// This passkey is registered already.
    #[error("passkey already registered")]
    AlreadyRegistered,
    /// The account has no usable passkey (or no such passkey).
    #[error("no passkey")]
    NoPasskey,
    #[error("a passkey's name has 1 to {NAME_MAX_CHARS} characters and no control characters")]
    BadName,
    /// An admin's last factor cannot be removed.
    #[error("an admin needs a factor")]
    AdminNeedsFactor,
    #[error(transparent)]
    Unexpected(#[from] sqlx::Error),
}

impl From<crate::throttle::Throttled> for PasskeyError {
    fn from(throttled: crate::throttle::Throttled) -> Self {
        Self::Throttled(throttled)
    }
}

/// A passkey's name as typed: trimmed, 1 to [`NAME_MAX_CHARS`] characters, no control
/// characters. Empty means "Passkey".
pub fn parse_name(typed: &str) -> Result<String, PasskeyError> {
    let name = typed.trim();
    if name.is_empty() {
        return Ok("Passkey".to_owned());
    }
    // Control characters, and the invisible format characters that reorder or hide text
    // (a name reading one way and meaning another on the activity page).
    let invisible = |c: char| {
        c.is_control()
            || matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
    };
    if name.chars().count() > NAME_MAX_CHARS || name.chars().any(invisible) {
        return Err(PasskeyError::BadName);
    }
    Ok(name.to_owned())
}

/// The stored form of a credential id.
fn credential_key(raw: &[u8]) -> String {
    crate::token::hex(raw)
}

/// What the browser reported at registration, read from the library's stored credential:
/// whether it is discoverable (credProps.rk) and synced (backup state).
fn flags(passkey: &Passkey) -> (bool, bool) {
    let Ok(value) = serde_json::to_value(passkey) else { return (false, false) };
    flags_of(&value)
}

/// The signature counter the authenticator reported at registration.
fn counter(passkey: &Passkey) -> i64 {
    serde_json::to_value(passkey).ok().and_then(|value| value["cred"]["counter"].as_i64()).unwrap_or(0)
}

fn flags_of(value: &serde_json::Value) -> (bool, bool) {
    let cred = &value["cred"];
    let props = &cred["extensions"]["cred_props"];
    let rk =
        ["Set", "Unsigned", "Unsolicited"].iter().any(|state| props[state]["rk"] == serde_json::json!(true));
    (rk, cred["backup_state"] == serde_json::json!(true))
}

impl Factors {
    /// Passkeys with this relying party (without one, every passkey call answers
    /// [`PasskeyError::Unavailable`]).
    pub fn with_passkeys(mut self, relying_party: Option<RelyingParty>) -> Self {
        self.relying_party = relying_party;
        self
    }

    fn relying_party(&self) -> Result<&RelyingParty, PasskeyError> {
        self.relying_party.as_ref().ok_or(PasskeyError::Unavailable)
    }

    /// Whether passkeys work here.
    pub fn passkeys_available(&self) -> bool {
        self.relying_party.is_some()
    }

    /// The account's passkeys.
    pub async fn passkeys(&self, user_id: UserId) -> sqlx::Result<Vec<PasskeyInfo>> {
        let mut connection = self.pool.acquire().await?;
        let rows = store::passkeys(&mut connection, user_id).await?;
        Ok(rows
            .into_iter()
            .map(|row| PasskeyInfo {
                id: row.id,
                name: row.name,
                created_at: row.created_at,
                last_used_at: row.last_used_at,
                synced: row.synced,
                discoverable: row.discoverable,
                flagged: row.flagged_at.is_some(),
            })
            .collect())
    }

    /// The account's passkeys that may still sign in, as the library wants them.
    async fn usable_passkeys(&self, user_id: UserId) -> sqlx::Result<Vec<(store::PasskeyRow, Passkey)>> {
        let mut connection = self.pool.acquire().await?;
        let rows = store::passkeys(&mut connection, user_id).await?;
        Ok(rows
            .into_iter()
            .filter(|row| row.flagged_at.is_none())
            .filter_map(|row| {
                let passkey = serde_json::from_str::<Passkey>(&row.credential).ok()?;
                Some((row, passkey))
            })
            .collect())
    }
}
