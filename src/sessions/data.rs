//! Where session data lives: tower-sessions-sqlx-store's table on the instance's backend.
//! The names are set here, and [`super::store`] deletes and writes rows of the same table
//! (see [`store_table`]): one place decides both.

use async_trait::async_trait;
use tower_sessions::{
    session::{Id, Record},
    session_store::{self, ExpiredDeletion},
    SessionStore,
};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use crate::db::{Backend, Db, Pool};

/// The SQLite table (tower-sessions-sqlx-store's default name).
const SQLITE_TABLE: &str = "tower_sessions";
/// The PostgreSQL schema and table (the store's defaults: a schema of its own keeps it
/// apart from ours).
const POSTGRES_SCHEMA: &str = "tower_sessions";
const POSTGRES_TABLE: &str = "session";

/// The session data table as SQL names it on `backend`.
pub fn store_table(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => SQLITE_TABLE,
        Backend::Postgres => "\"tower_sessions\".\"session\"",
    }
}

/// The session store of the pool's backend.
#[derive(Debug, Clone)]
pub struct SessionData(Db<SqliteStore, PostgresStore>);

impl SessionData {
    pub fn new(pool: &Pool) -> Self {
        Self(match pool {
            Db::Sqlite(pool) => Db::Sqlite(
                SqliteStore::new(pool.clone()).with_table_name(SQLITE_TABLE).expect("a valid name"),
            ),
            Db::Postgres(pool) => Db::Postgres(
                PostgresStore::new(pool.clone())
                    .with_schema_name(POSTGRES_SCHEMA)
                    .and_then(|store| store.with_table_name(POSTGRES_TABLE))
                    .expect("valid names"),
            ),
        })
    }

    /// Creates the table if it is missing.
    pub async fn migrate(&self) -> sqlx::Result<()> {
        crate::on_db!(&self.0, store => store.migrate().await)
    }
}

#[async_trait]
impl SessionStore for SessionData {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        crate::on_db!(&self.0, store => store.create(record).await)
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        crate::on_db!(&self.0, store => store.save(record).await)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        crate::on_db!(&self.0, store => store.load(id).await)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        crate::on_db!(&self.0, store => store.delete(id).await)
    }
}

#[async_trait]
impl ExpiredDeletion for SessionData {
    async fn delete_expired(&self) -> session_store::Result<()> {
        crate::on_db!(&self.0, store => store.delete_expired().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_postgres_table_name_is_the_one_the_store_is_given() {
        assert_eq!(store_table(Backend::Postgres), format!("\"{POSTGRES_SCHEMA}\".\"{POSTGRES_TABLE}\""));
        assert_eq!(store_table(Backend::Sqlite), SQLITE_TABLE);
    }
}
