//! The one place that decides who is calling. Run once per request (by the server's
//! middleware), before any handler: the cookie's session id is hashed to its registry key,
//! and one indexed read fetches the registry row with its user (a read that concurrent
//! requests share, but only one that starts after this request asked: see
//! `crate::db::Batcher`). The request is signed in
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

use tower_sessions::{session::Id, Session};

use super::{storage_key, store, Lifetimes, Liveness, SessionError, SessionMeta, SessionRegistry};
use crate::{
    accounts::User,
    impersonation::{Ended, EndedBy, Impersonating},
};

/// A signed-in caller.
#[derive(Clone, PartialEq, Eq)]
pub struct Principal {
    /// The account the request acts as: during an impersonation, the impersonated user's.
    pub user: User,
    /// The session's registry key (a hash of its id, never the id).
    pub session_key: String,
    pub session: SessionMeta,
    /// Set while an admin impersonates `user`: the admin, the reason, the cap.
    pub impersonation: Option<Impersonating>,
}

impl Principal {
    /// Whether the caller proved it again on this session within the last `window_secs`
    /// (step-up). Never during an impersonation. On an account with a second factor only a
    /// step-up since the factor was set up counts: those are made with the factor, so a
    /// password typed before it does not.
    pub fn stepped_up_within(&self, now: crate::clock::UnixTime, window_secs: i64) -> bool {
        self.impersonation.is_none()
            && self.session.stepped_up_at.is_some_and(|at| {
                now.saturating_sub(at) < window_secs
                    && at <= now
                    && self.user.factors_since.is_none_or(|since| at >= since)
            })
    }

    /// Whether this caller is an admin without a second factor: only setting one up (and
    /// signing out) is open to them, like a forced password change.
    pub fn needs_factor(&self) -> bool {
        self.impersonation.is_none() && self.user.role == crate::Role::Admin && !self.user.has_factor()
    }

    /// Whether only the password change and sign-out are open to this caller.
    pub fn confined(&self) -> bool {
        self.user.standing.must_change_password
    }

    /// Who acts: the admin during an impersonation, else the user.
    pub fn actor_id(&self) -> crate::accounts::UserId {
        self.impersonation.as_ref().map_or(self.user.id, |i| i.admin_id)
    }
}

impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal")
            .field("user", &self.user)
            .field("impersonation", &self.impersonation.as_ref().map(|i| i.id))
            .finish_non_exhaustive()
    }
}

/// The resolver's answer for one request: `Some` when signed in.
#[derive(Clone, Debug, Default)]
pub struct Resolved(pub Option<Principal>);

/// [`Resolved`], and whether the browser's parked-session cookie is spent (its session
/// came back, or it names nothing): then the response must expire it.
#[derive(Debug)]
pub struct Resolution {
    pub resolved: Resolved,
    pub drop_parked: bool,
}

impl Resolution {
    fn anonymous(drop_parked: bool) -> Self {
        Self { resolved: Resolved(None), drop_parked }
    }
}

/// Decides who is calling on `session` (see the module documentation). `parked` is the
/// id in the parked-session cookie, if the browser sent one: an admin whose
/// impersonation is over (or whose impersonation cookie is gone) gets their own session
/// back from it.
pub async fn resolve(
    session: &Session,
    registry: &SessionRegistry,
    parked: Option<Id>,
) -> Result<Resolution, SessionError> {
    let now = registry.now();
    let Some(id) = session.id() else {
        return match parked {
            Some(parked) => resume(session, registry, &parked, Ended::Stopped).await,
            None => Ok(Resolution::anonymous(false)),
        };
    };
    let key = storage_key(&id);
    let found = match registry.lookup(&key).await? {
        Some(found) => {
            // An impersonation's own row, read only for the (rare) sessions that run one.
            let impersonation = match found.impersonation {
                Some(id) => {
                    let mut lease = registry.reads().lease().await?;
                    let live = crate::impersonation::store::live(&mut lease, id, now).await;
                    if live.is_err() {
                        lease.discard();
                    }
                    live?
                }
                None => None,
            };
            Some((found, impersonation))
        }
        None => None,
    };
    let Some((found, impersonation)) = found else {
        // Unknown or revoked (an impersonation session the user or an admin ended comes
        // here: the admin gets their own session back).
        return match parked {
            Some(parked) => resume(session, registry, &parked, Ended::Stopped).await,
            None => {
                super::end(session, registry).await?;
                Ok(Resolution::anonymous(false))
            }
        };
    };
    if found.parked {
        // A parked session's id offered as the session cookie: refused, and left parked.
        session.flush().await?;
        return Ok(Resolution::anonymous(false));
    }
    let store::Found { meta, user, impersonation: runs, .. } = found;
    let lifetimes = match &impersonation {
        // An impersonation: the admins' idle limit, and its cap as the absolute one.
        Some(live) => Lifetimes {
            idle_secs: registry.lifetimes_for(crate::Role::Admin).idle_secs,
            absolute_secs: live.expires_at.saturating_sub(meta.created_at),
        },
        None => registry.lifetimes_for(user.role),
    };
    let current = user.session_epoch == meta.epoch
        && user.email_verified
        && user.standing.block(now).is_none()
        && runs.is_some() == impersonation.is_some();
    let liveness = current.then(|| Liveness::of(&meta, now, lifetimes));
    match liveness {
        Some(liveness @ (Liveness::Alive | Liveness::Touch)) => {
            let mut meta = meta;
            if liveness == Liveness::Touch {
                meta.last_seen_at = now;
                registry.touch(&key, &meta, lifetimes).await?;
            }
            // A parked cookie beside a session that is not an impersonation is stale.
            let drop_parked = parked.is_some() && impersonation.is_none();
            let principal = Principal { user, session_key: key, session: meta, impersonation };
            Ok(Resolution { resolved: Resolved(Some(principal)), drop_parked })
        }
        // Expired, from an older epoch, a blocked account, or an impersonation that may
        // not go on: gone for good, cookie too (an impersonation's admin gets their
        // session back).
        Some(Liveness::Expired) | None => {
            let how = if liveness.is_some() { Ended::Expired } else { Ended::AccountChanged };
            match (runs, parked) {
                (Some(_), Some(parked)) => resume(session, registry, &parked, how).await,
                (Some(id), None) => {
                    let context = crate::audit::Context::default();
                    let ending = EndedBy { how, by: None, context: &context, now };
                    let mut tx = crate::db::write(registry.pool()).await?;
                    crate::impersonation::store::finish(&mut tx, id, &ending).await?;
                    tx.commit().await?;
                    super::end(session, registry).await?;
                    Ok(Resolution::anonymous(false))
                }
                (None, _) => {
                    super::end(session, registry).await?;
                    Ok(Resolution::anonymous(parked.is_some()))
                }
            }
        }
    }
}

/// The admin's parked session back (see `lifecycle::resume`), as the caller.
async fn resume(
    session: &Session,
    registry: &SessionRegistry,
    parked: &Id,
    how: Ended,
) -> Result<Resolution, SessionError> {
    let context = crate::audit::Context::default();
    let ending = EndedBy { how, by: None, context: &context, now: registry.now() };
    let back = super::resume(session, registry, parked, &ending).await?;
    let resolved = back.and_then(|(meta, user)| {
        let key = super::current_key(session)?;
        Some(Principal { user, session_key: key, session: meta, impersonation: None })
    });
    Ok(Resolution { resolved: Resolved(resolved), drop_parked: true })
}
