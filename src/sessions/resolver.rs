//! The one place that decides who is calling. Run once per request (by the server's
//! middleware), before any handler: the cookie's session id is hashed to its registry key,
//! and one indexed read fetches the registry row with its user. The request is signed in
//! only if that row exists (a revoked session has none), both lifetimes hold, the epoch
//! it was signed in at is still the user's, and the account may sign in (its address is
//! confirmed, and it is neither disabled nor locked: see `accounts::Standing`). Anything
//! else ends the session on the spot and the caller is anonymous. A principal whose
//! account must change its password is still a principal; the server confines it (see
//! `Principal::confined`).
//!
//! Handlers read the outcome ([`Resolved`]) from the request's extensions; nothing checks
//! identity a second, different way. Nothing here writes the session record: "last seen"
//! lives in the registry row (an `UPDATE`, at most once a minute), so a request that was
//! in flight when its session was revoked has nothing to save that could bring it back.

use tower_sessions::Session;

use super::{storage_key, store, Liveness, SessionError, SessionMeta, SessionRegistry};
use crate::accounts::User;

/// A signed-in caller.
#[derive(Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: User,
    /// The session's registry key (a hash of its id, never the id).
    pub session_key: String,
    pub session: SessionMeta,
}

impl Principal {
    /// Whether the caller re-entered their password on this session within the last
    /// `window_secs` (step-up).
    pub fn stepped_up_within(&self, now: crate::clock::UnixTime, window_secs: i64) -> bool {
        self.session.stepped_up_at.is_some_and(|at| now.saturating_sub(at) < window_secs && at <= now)
    }

    /// Whether only the password change and sign-out are open to this caller.
    pub fn confined(&self) -> bool {
        self.user.standing.must_change_password
    }
}

impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal").field("user", &self.user).finish_non_exhaustive()
    }
}

/// The resolver's answer for one request: `Some` when signed in.
#[derive(Clone, Debug, Default)]
pub struct Resolved(pub Option<Principal>);

/// Decides who is calling on `session` (see the module documentation).
pub async fn resolve(session: &Session, registry: &SessionRegistry) -> Result<Resolved, SessionError> {
    let Some(id) = session.id() else { return Ok(Resolved(None)) };
    let key = storage_key(&id);
    let now = registry.now();
    let mut lease = registry.reads().lease().await?;
    let found = match store::find_signed_in(lease.connection(), &key).await {
        Ok(found) => found,
        Err(error) => {
            lease.discard();
            return Err(error.into());
        }
    };
    drop(lease);
    let verdict = found.and_then(|(meta, user)| {
        let current =
            user.session_epoch == meta.epoch && user.email_verified && user.standing.block(now).is_none();
        current.then(|| (Liveness::of(&meta, now, registry.lifetimes_for(user.role)), meta, user))
    });
    match verdict {
        Some((Liveness::Alive, session_meta, user)) => {
            Ok(Resolved(Some(Principal { user, session_key: key, session: session_meta })))
        }
        Some((Liveness::Touch, mut session_meta, user)) => {
            session_meta.last_seen_at = now;
            registry.touch(&key, &session_meta, user.role).await?;
            Ok(Resolved(Some(Principal { user, session_key: key, session: session_meta })))
        }
        // Unknown, revoked, expired, or from an older epoch: gone for good, cookie too.
        Some((Liveness::Expired, ..)) | None => {
            super::end(session, registry).await?;
            Ok(Resolved(None))
        }
    }
}
