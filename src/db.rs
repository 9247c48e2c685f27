//! Opening the database: an embedded SQLite file by default, created (with its folder) on
//! first start and migrated on every start. WAL lets readers proceed while a writer
//! commits; the busy timeout makes concurrent writers wait instead of failing with
//! `SQLITE_BUSY`.

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
pub use sqlx::SqlitePool;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DATABASE_URL is not a valid SQLite URL: {0}")]
    BadUrl(#[source] sqlx::Error),
    #[error("could not create the database folder {path}: {source}")]
    CreateDir { path: String, source: std::io::Error },
    #[error("could not open the database: {0}")]
    Open(#[source] sqlx::Error),
    #[error("could not apply migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Connections in the pool unless configured otherwise.
pub const DEFAULT_POOL_SIZE: u32 = 8;

/// Opens (creating if needed) the database at `url` without migrating it.
pub async fn connect(url: &str) -> Result<SqlitePool, DbError> {
    connect_with_pool(url, DEFAULT_POOL_SIZE).await
}

/// [`connect`] with at most `pool_size` connections (each SQLite connection is a thread).
pub async fn connect_with_pool(url: &str, pool_size: u32) -> Result<SqlitePool, DbError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(DbError::BadUrl)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true);
    let file = options.get_filename();
    if file != Path::new(":memory:") {
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| DbError::CreateDir { path: dir.display().to_string(), source })?;
        }
    }
    SqlitePoolOptions::new()
        .max_connections(pool_size.max(1))
        // An embedded connection cannot be lost: pinging it before each use would only add
        // a round trip to its worker thread to every query.
        .test_before_acquire(false).connect_with(options).await.map_err(DbError::Open)
}

/// Applies every migration in `migrations/` that has not run yet.
pub async fn migrate(pool: &SqlitePool) -> Result<(), DbError> {
    sqlx::migrate!("./migrations").run(pool).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_folder_and_file_are_created_and_migrated_in_wal_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/nested/deeper/bulwark.db", dir.path().display());
        let pool = connect(&url).await.expect("opens");
        migrate(&pool).await.expect("migrates");
        migrate(&pool).await.expect("migrating twice is a no-op");
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&pool).await.expect("pragma");
        assert_eq!(mode, "wal");
        assert!(dir.path().join("nested/deeper/bulwark.db").exists());
    }
}
