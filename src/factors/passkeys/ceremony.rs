//! Ceremony state, kept on the server. A ceremony is started for one purpose and one
//! owner ([`Ceremony`]) and stored under a key derived from both, replacing any earlier
//! ceremony of that owner and purpose; the first finish call takes it (deletes it and
//! reads it in one statement) whatever happens next.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{DiscoverableAuthentication, PasskeyAuthentication, PasskeyRegistration};

use super::{store, CEREMONY_SECS};
use crate::{
    accounts::UserId,
    factors::Factors,
    token::{self, Kind},
};

/// What a ceremony belongs to.
#[derive(Debug, Clone, Copy)]
pub enum Ceremony<'a> {
    /// Adding a passkey, on this session (its registry key).
    Register(&'a str),
    /// A step-up with a passkey, on this session (its registry key).
    StepUp(&'a str),
    /// The second step of a sign-in: the pending step's cookie.
    SecondStep(&'a str),
    /// A sign-in with a passkey and no address: the sign-in cookie.
    SignIn(&'a str),
}

impl Ceremony<'_> {
    /// The stored key, or `None` when the cookie cannot be one of ours.
    fn key(self) -> Option<String> {
        let (purpose, owner) = match self {
            Self::Register(session) => ("register", session.to_owned()),
            Self::StepUp(session) => ("step-up", session.to_owned()),
            Self::SecondStep(cookie) => ("second-step", token::parse_kind(Kind::SecondStep, cookie)?),
            Self::SignIn(cookie) => ("sign-in", token::parse_kind(Kind::PasskeySignIn, cookie)?),
        };
        let mut digest = Sha256::new();
        digest.update(b"bulwark passkey ceremony\0");
        digest.update(purpose.as_bytes());
        digest.update(b"\0");
        digest.update(owner.as_bytes());
        Some(token::hex(&digest.finalize()))
    }
}

/// The library's state, tagged with its kind (a registration's state never finishes an
/// assertion).
#[derive(Serialize, Deserialize)]
pub(super) enum State {
    Register(PasskeyRegistration),
    Authenticate(PasskeyAuthentication),
    Discover(DiscoverableAuthentication),
}

impl Factors {
    /// Stores `state` for `ceremony` (of `user_id`'s account, when known).
    pub(super) async fn put_ceremony(
        &self,
        ceremony: Ceremony<'_>,
        user_id: Option<UserId>,
        state: &State,
    ) -> Result<(), super::PasskeyError> {
        let key = ceremony.key().ok_or(super::PasskeyError::Expired)?;
        let state = serde_json::to_string(state).map_err(|_| super::PasskeyError::Refused)?;
        let expires_at = self.now().saturating_add(CEREMONY_SECS);
        let mut connection = self.pool.acquire().await?;
        store::put_ceremony(&mut connection, &key, user_id, &state, expires_at).await?;
        Ok(())
    }

    /// Takes the ceremony's state: it is gone afterwards. `None` when none was waiting.
    pub(super) async fn take_ceremony(
        &self,
        ceremony: Ceremony<'_>,
    ) -> sqlx::Result<Option<(Option<UserId>, State)>> {
        let Some(key) = ceremony.key() else { return Ok(None) };
        let mut connection = self.pool.acquire().await?;
        let taken = store::take_ceremony(&mut connection, &key, self.now()).await?;
        Ok(taken.and_then(|(user_id, state)| Some((user_id, serde_json::from_str(&state).ok()?))))
    }
}
