//! Starting and ending a signed-in session (checking it is the resolver's job). The session data holds one
//! [`SessionMeta`] under [`META_KEY`]; the registry holds the matching row.

use tower_sessions::{
    cookie::time::OffsetDateTime,
    session::{Error as StoreError, Id},
    Expiry, Session,
};

use super::{storage_key, Origin, SessionMeta, SessionRegistry};
use crate::{accounts::User, clock::UnixTime, impersonation::EndedBy};

/// The session-data key under which [`SessionMeta`] lives.
pub const META_KEY: &str = "bulwark.meta";

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session store failed: {0}")]
    Store(#[from] StoreError),
    #[error("session registry failed: {0}")]
    Registry(#[from] sqlx::Error),
    #[error("reading the session registry failed: {0}")]
    Read(#[from] crate::db::BatchError),
    /// The account changed (a password reset) while this sign-in was in flight.
    #[error("the account's sessions were ended while signing in")]
    Superseded,
}

/// The registry/store key of the session, once it has an id.
pub fn current_key(session: &Session) -> Option<String> {
    session.id().as_ref().map(storage_key)
}

/// Signs the completed sign-in's user in on `session`: a new id (so an id planted before
/// sign-in is worthless), the metadata, an expiry capped by both lifetimes, and a registry
/// row. Only a [`Completed`] sign-in begins a session (see `completed`).
pub async fn begin(
    session: &Session,
    registry: &SessionRegistry,
    completed: &super::Completed,
    origin: &Origin,
) -> Result<SessionMeta, SessionError> {
    let user = completed.user();
    if let Some(old) = current_key(session) {
        registry.forget(&old).await?;
    }
    // Always, even when the request carried no usable id: a session the resolver just
    // ended still holds the id the browser sent (tower-sessions keeps it on the record),
    // and saving without a new one would hand that planted id back as the session.
    session.cycle_id().await?;
    let meta = SessionMeta::new(user.id, user.session_epoch, registry.now());
    session.insert(META_KEY, meta).await?;
    session.set_expiry(Some(expiry(&meta, registry, user.role)));
    // Save now rather than at the end of the request: the new id only exists once saved,
    // and the registry row is keyed by it.
    session.save().await?;
    let id: Option<Id> = session.id();
    let recorded = match id {
        Some(id) => {
            registry.record(&storage_key(&id), &meta, user.role, origin, completed.with_factor()).await?
        }
        None => false,
    };
    if !recorded {
        end(session, registry).await?;
        return Err(SessionError::Superseded);
    }
    Ok(meta)
}

/// Records a passed step-up on the signed-in `session` (whose metadata is `meta`): a new
/// id (the old one stops working), the same lifetimes (the absolute limit does not move),
/// and the time. Refused ([`SessionError::Superseded`], session ended) when the session
/// was revoked, or its account's sessions ended, while the password was being checked.
pub async fn step_up(
    session: &Session,
    registry: &SessionRegistry,
    mut meta: SessionMeta,
    role: crate::Role,
    with_factor: bool,
) -> Result<SessionMeta, SessionError> {
    let Some(old_key) = current_key(session) else { return Err(SessionError::Superseded) };
    let now = registry.now();
    meta.stepped_up_at = Some(now);
    session.cycle_id().await?;
    session.insert(META_KEY, meta).await?;
    session.set_expiry(Some(expiry(&meta, registry, role)));
    session.save().await?;
    let moved = match current_key(session) {
        Some(new_key) => registry.rekey(&old_key, &new_key, Some(now), with_factor).await?,
        None => false,
    };
    if !moved {
        end(session, registry).await?;
        return Err(SessionError::Superseded);
    }
    Ok(meta)
}

/// Sets the session cookie (and stored record) to expire at `at`.
pub fn expire_cookie_at(session: &Session, at: UnixTime) {
    let at = OffsetDateTime::from_unix_timestamp(at).unwrap_or_else(|_| OffsetDateTime::now_utc());
    session.set_expiry(Some(Expiry::AtDateTime(at)));
}

/// Moves `session` to a new id holding `meta`, with the cookie expiring at `expires_at`,
/// saved at once (the new id exists only once saved). Returns the new registry key. The
/// record under the old id is deleted; registry rows are the caller's business.
pub async fn rotate(
    session: &Session,
    meta: &SessionMeta,
    expires_at: UnixTime,
) -> Result<String, SessionError> {
    session.cycle_id().await?;
    session.insert(META_KEY, *meta).await?;
    expire_cookie_at(session, expires_at);
    session.save().await?;
    current_key(session).ok_or(SessionError::Superseded)
}

/// Gives an admin back their own session, parked during an impersonation (the browser
/// kept its id in the parked cookie: `parked`), on `session` under a new id, and ends the
/// impersonation if it is still live (as `ending` says). `None` when there is nothing to
/// give back (not a parked session, revoked meanwhile, its epoch moved on, past its
/// absolute limit): `session` is then ended too, and the caller is anonymous.
pub async fn resume(
    session: &Session,
    registry: &SessionRegistry,
    parked: &Id,
    ending: &EndedBy<'_>,
) -> Result<Option<(SessionMeta, User)>, SessionError> {
    let parked_key = storage_key(parked);
    let found = {
        let mut connection = registry.pool().acquire().await?;
        super::store::find_one_signed_in(&mut connection, &parked_key).await?
    };
    let Some(found) = found.filter(|found| found.parked) else {
        // Whatever the impersonation session was, it is over.
        end(session, registry).await?;
        return Ok(None);
    };
    let lifetimes = registry.lifetimes_for(found.user.role);
    let mut meta = found.meta;
    meta.last_seen_at = ending.now;
    let new_key = rotate(session, &meta, meta.absolute_expires_at(lifetimes)).await?;
    let mut tx = crate::db::write(registry.pool()).await?;
    let back =
        crate::impersonation::store::unpark(&mut tx, &parked_key, &new_key, lifetimes.idle_secs, ending)
            .await?;
    tx.commit().await?;
    if !back {
        end(session, registry).await?;
        return Ok(None);
    }
    Ok(Some((meta, found.user)))
}

/// Ends the session: registry row and stored data deleted, cookie expired.
pub async fn end(session: &Session, registry: &SessionRegistry) -> Result<(), SessionError> {
    if let Some(key) = current_key(session) {
        registry.forget(&key).await?;
    }
    session.flush().await?;
    Ok(())
}

/// The cookie and store expiry: the absolute limit, which nothing extends, so the browser
/// drops the cookie no later than the server would refuse it. The idle limit is enforced
/// by the resolver from the registry row; tracking it in the cookie would mean rewriting
/// the session record on every request.
fn expiry(meta: &SessionMeta, registry: &SessionRegistry, role: crate::Role) -> Expiry {
    let at = OffsetDateTime::from_unix_timestamp(meta.absolute_expires_at(registry.lifetimes_for(role)))
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    Expiry::AtDateTime(at)
}
