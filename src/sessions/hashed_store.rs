//! A session store wrapper that keys every row by a hash of the session id.
//!
//! The cookie carries the id; the store only ever sees `SHA-256(domain ‖ id)`, truncated
//! to the id's 128 bits. Someone who reads the session table (a backup, a replica, an SQL
//! injection elsewhere) gets keys that are useless as cookies: turning a key back into an
//! id would mean inverting SHA-256. The id is 128 random bits, so no salt or key is needed
//! to stop guessing, and the mapping stays stable across restarts and instances.

use crate::db::Pool;
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tower_sessions::{
    session::{Id, Record},
    session_store::{self, ExpiredDeletion},
    SessionStore,
};

const DOMAIN: &[u8] = b"bulwark session id v1\0";

/// The key under which the session with cookie id `id` is stored.
pub fn storage_id(id: &Id) -> Id {
    let digest = Sha256::new().chain_update(DOMAIN).chain_update(id.0.to_le_bytes()).finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Id(i128::from_le_bytes(bytes))
}

/// [`storage_id`] in the text form the store writes to its `id` column.
pub fn storage_key(id: &Id) -> String {
    storage_id(id).to_string()
}

/// Creating and saving go to the session table directly (see [`super::store`]): creating
/// as an insert that never overwrites, saving as an update that never re-creates a
/// deleted record. Loading and deleting go to `inner`.
#[derive(Debug, Clone)]
pub struct HashedStore<S> {
    inner: S,
    pool: Pool,
}

impl<S> HashedStore<S> {
    pub fn new(inner: S, pool: Pool) -> Self {
        Self { inner, pool }
    }
}

#[async_trait]
impl<S: SessionStore> SessionStore for HashedStore<S> {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A fresh random id whose hash is already taken is astronomically unlikely, but
        // the store's own collision handling would change the *hashed* id, which cannot
        // be mapped back to a cookie: so a taken key means drawing a new id here.
        loop {
            let mut stored = record.clone();
            stored.id = storage_id(&record.id);
            match super::store::insert_record(&self.pool, &stored).await {
                Ok(true) => return Ok(()),
                Ok(false) => record.id = Id::default(),
                Err(e) => return Err(session_store::Error::Backend(e.to_string())),
            }
        }
    }

    /// Only ever updates. tower-sessions calls `save` for a session that had an id when
    /// the request began; if that record has been deleted since (revoked, signed out
    /// elsewhere), nothing is written and the session stays dead.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let mut stored = record.clone();
        stored.id = storage_id(&record.id);
        match super::store::update_record(&self.pool, &stored).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                tracing::info!(event = "session_save_refused", "a deleted session was not re-created");
                Ok(())
            }
            Err(e) => Err(session_store::Error::Backend(e.to_string())),
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        Ok(self.inner.load(&storage_id(id)).await?.map(|mut record| {
            record.id = *id;
            record
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.inner.delete(&storage_id(id)).await
    }
}

#[async_trait]
impl<S: ExpiredDeletion> ExpiredDeletion for HashedStore<S> {
    async fn delete_expired(&self) -> session_store::Result<()> {
        self.inner.delete_expired().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_storage_key_is_stable_and_differs_from_the_id() {
        let id = Id(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(storage_id(&id), storage_id(&id));
        assert_ne!(storage_id(&id), id);
        assert_ne!(storage_key(&id), id.to_string());
    }

    #[test]
    fn different_ids_get_different_keys() {
        assert_ne!(storage_id(&Id(1)), storage_id(&Id(2)));
    }
}
