//! Starting, checking and ending a signed-in session. The session data holds one
//! [`SessionMeta`] under [`META_KEY`]; the registry holds the matching row.

use tower_sessions::{
    cookie::time::OffsetDateTime,
    session::{Error as StoreError, Id},
    Expiry, Session,
};

use super::{storage_key, Liveness, Origin, SessionMeta, SessionRegistry};
use crate::accounts::User;

/// The session-data key under which [`SessionMeta`] lives.
pub const META_KEY: &str = "bulwark.meta";

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session store failed: {0}")]
    Store(#[from] StoreError),
    #[error("session registry failed: {0}")]
    Registry(#[from] sqlx::Error),
}

/// The registry/store key of the session, once it has an id.
pub fn current_key(session: &Session) -> Option<String> {
    session.id().as_ref().map(storage_key)
}

/// Signs `user` in on `session`: a new id (so an id planted before sign-in is worthless),
/// the metadata, an expiry capped by both lifetimes, and a registry row.
pub async fn begin(
    session: &Session,
    registry: &SessionRegistry,
    user: &User,
    origin: &Origin,
) -> Result<SessionMeta, SessionError> {
    if let Some(old) = current_key(session) {
        registry.forget(&old).await?;
    }
    session.cycle_id().await?;
    let meta = SessionMeta::new(user.id, user.session_epoch, registry.now());
    session.insert(META_KEY, meta).await?;
    session.set_expiry(Some(expiry(&meta, registry)));
    // Save now rather than at the end of the request: the new id only exists once saved,
    // and the registry row is keyed by it.
    session.save().await?;
    let id: Option<Id> = session.id();
    if let Some(id) = id {
        registry.record(&storage_key(&id), &meta, origin).await?;
    }
    Ok(meta)
}

/// The signed-in session's metadata after enforcing its lifetimes: `None` when there is
/// no signed-in session or it has just expired (and been ended).
pub async fn check(
    session: &Session,
    registry: &SessionRegistry,
) -> Result<Option<SessionMeta>, SessionError> {
    let Some(mut meta) = session.get::<SessionMeta>(META_KEY).await? else {
        return Ok(None);
    };
    let now = registry.now();
    match Liveness::of(&meta, now, registry.lifetimes()) {
        Liveness::Alive => Ok(Some(meta)),
        Liveness::Touch => {
            meta.last_seen_at = now;
            session.insert(META_KEY, meta).await?;
            session.set_expiry(Some(expiry(&meta, registry)));
            if let Some(key) = current_key(session) {
                registry.touch(&key, &meta).await?;
            }
            Ok(Some(meta))
        }
        Liveness::Expired => {
            end(session, registry).await?;
            Ok(None)
        }
    }
}

/// Ends the session: registry row and stored data deleted, cookie expired.
pub async fn end(session: &Session, registry: &SessionRegistry) -> Result<(), SessionError> {
    if let Some(key) = current_key(session) {
        registry.forget(&key).await?;
    }
    session.flush().await?;
    Ok(())
}

/// The cookie and store expiry: the earlier of the idle and absolute limits, so that even
/// the browser drops the cookie no later than the server would refuse it.
fn expiry(meta: &SessionMeta, registry: &SessionRegistry) -> Expiry {
    let at = OffsetDateTime::from_unix_timestamp(meta.expires_at(registry.lifetimes()))
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    Expiry::AtDateTime(at)
}
