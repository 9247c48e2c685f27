//! Opening the database: an embedded SQLite file by default (created, with its folder, on
//! first start), or PostgreSQL for several instances; migrated on every start.
//!
//! SQLite: WAL lets readers proceed while a writer commits; the busy timeout makes
//! concurrent writers wait instead of failing with `SQLITE_BUSY`.

mod backup;
mod batch;
mod hot;
mod seam;

pub use backup::{backup_sqlite, Backup, BackupError};
pub use batch::{BatchError, Batcher};
pub use hot::{HotReads, Lease};
pub use seam::{AsConn, Backend, Conn, Db, DbRow, Done, Pool, Pooled, Tx, Value};

use crate::on_db;
use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DATABASE_URL is not a valid database URL: {0}")]
    BadUrl(#[source] sqlx::Error),
    #[error("DATABASE_URL must start with sqlite: or postgres://")]
    UnsupportedUrl,
    #[error("could not create the database folder {path}: {source}")]
    CreateDir { path: String, source: std::io::Error },
    #[error("could not open the database: {0}")]
    Open(#[source] sqlx::Error),
    #[error("could not apply migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Connections in the pool unless configured otherwise.
pub const DEFAULT_POOL_SIZE: u32 = 8;

/// How long a request waits for a pooled connection before it fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// What `DATABASE_URL` names.
enum Url {
    Sqlite(SqliteConnectOptions),
    Postgres(PgConnectOptions),
}

/// `url` parsed. Anything but `sqlite:` and `postgres://` (or `postgresql://`) is
/// refused: sqlx would take it for a SQLite file name.
fn parse(url: &str) -> Result<Url, DbError> {
    if url.starts_with("sqlite:") {
        SqliteConnectOptions::from_str(url).map(Url::Sqlite).map_err(DbError::BadUrl)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        PgConnectOptions::from_str(url)
            .map(|options| Url::Postgres(options.application_name("bulwark")))
            .map_err(DbError::BadUrl)
    } else {
        Err(DbError::UnsupportedUrl)
    }
}

/// Opens (creating a SQLite file if needed) the database at `url` without migrating it.
pub async fn connect(url: &str) -> Result<Pool, DbError> {
    connect_with_pool(url, DEFAULT_POOL_SIZE).await
}

/// [`connect`] with at most `pool_size` connections (each SQLite connection is a thread;
/// each PostgreSQL one a server process).
pub async fn connect_with_pool(url: &str, pool_size: u32) -> Result<Pool, DbError> {
    match parse(url)? {
        Url::Sqlite(options) => {
            let options = sqlite_options(options).create_if_missing(true);
            let file = options.get_filename();
            if file != Path::new(":memory:") {
                if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|source| DbError::CreateDir { path: dir.display().to_string(), source })?;
                }
            }
            sqlite_pool(options, pool_size).await
        }
        Url::Postgres(options) => postgres_pool(options, pool_size).await,
    }
}

/// Opens the database at `url` read-only, and only if it exists (for `server check`,
/// which creates and changes nothing: no file, no journal mode, no table).
pub async fn connect_existing(url: &str) -> Result<Pool, DbError> {
    match parse(url)? {
        Url::Sqlite(options) => {
            let options =
                options.create_if_missing(false).read_only(true).busy_timeout(Duration::from_secs(5));
            sqlite_pool(options, 1).await
        }
        Url::Postgres(options) => {
            postgres_pool(options.options([("default_transaction_read_only", "on")]), 1).await
        }
    }
}

/// Whether `url` is a PostgreSQL server on another host reached without a certificate
/// checked for that host (`sslmode` other than `verify-full`): refused in production,
/// where the database holds reset links and session data. (`verify-ca` is not enough:
/// with sqlx it accepts any certificate a trusted root signed, for any name.) Loopback
/// and Unix sockets are this machine.
pub fn is_unverified_remote_postgres(url: &str) -> bool {
    use sqlx::postgres::PgSslMode;
    let Ok(Url::Postgres(options)) = parse(url) else { return false };
    let local = options.get_socket().is_some()
        || options.get_host().starts_with('/')
        || matches!(options.get_host(), "localhost" | "127.0.0.1" | "::1" | "[::1]");
    !local && !matches!(options.get_ssl_mode(), PgSslMode::VerifyFull)
}

/// Where the database at `url` is, for people to read: never a user name or password.
pub fn describe(url: &str) -> String {
    match parse(url) {
        Ok(Url::Sqlite(options)) => format!("SQLite file {}", options.get_filename().display()),
        Ok(Url::Postgres(options)) => format!(
            "PostgreSQL database {} on {}:{}",
            options.get_database().unwrap_or("(the user's default)"),
            options.get_host(),
            options.get_port()
        ),
        Err(_) => "DATABASE_URL (not shown: neither a sqlite: nor a postgres:// URL)".to_owned(),
    }
}

fn sqlite_options(options: SqliteConnectOptions) -> SqliteConnectOptions {
    options
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true)
}

async fn sqlite_pool(options: SqliteConnectOptions, pool_size: u32) -> Result<Pool, DbError> {
    SqlitePoolOptions::new()
        .max_connections(pool_size.max(1))
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // An embedded connection cannot be lost: pinging it before each use would only add
        // a round trip to its worker thread to every query.
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .map(Pool::Sqlite)
        .map_err(DbError::Open)
}

/// How long a statement waits for a lock (the write lock included) before it fails, as
/// SQLite's busy timeout does: a request never waits without end behind another.
const LOCK_TIMEOUT: &str = "5s";

async fn postgres_pool(options: PgConnectOptions, pool_size: u32) -> Result<Pool, DbError> {
    let options = options.options([("lock_timeout", LOCK_TIMEOUT)]);
    PgPoolOptions::new()
        .max_connections(pool_size.max(1))
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map(Pool::Postgres)
        .map_err(DbError::Open)
}

/// The advisory lock every writing transaction takes on PostgreSQL (an arbitrary
/// constant: "bulwark" in ASCII).
pub const WRITE_LOCK: i64 = 0x62_75_6c_77_61_72_6b;

/// Whether `error`, or anything in its chain of causes, is the database too busy to
/// answer now rather than broken: a lock wait that ran out (PostgreSQL's `lock_timeout`,
/// SQLite's busy timeout), a deadlock or serialization failure, or no pooled connection
/// free in time. The statement changed nothing (its transaction rolled back), and the
/// request may simply be tried again: it answers 503 with `Retry-After`, not 500.
pub fn is_contention(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        match error.downcast_ref::<sqlx::Error>() {
            Some(sqlx::Error::PoolTimedOut) => return true,
            Some(sqlx::Error::Database(db)) => {
                // lock_not_available, serialization_failure, deadlock_detected; SQLITE_BUSY,
                // SQLITE_LOCKED and their extended codes.
                const CODES: [&str; 7] = ["55P03", "40001", "40P01", "5", "6", "261", "517"];
                if db.code().is_some_and(|code| CODES.contains(&code.as_ref())) {
                    return true;
                }
            }
            _ => {}
        }
        next = error.source();
    }
    false
}

/// Begins a transaction that writes, holding the database's one write lock until it
/// commits or rolls back. Every check-then-act in the services (count, then insert;
/// read an epoch, then write) relies on no other writing transaction running between
/// its read and its write, on every backend and across instances:
///
/// - SQLite: `BEGIN IMMEDIATE` takes the write lock at once, waiting (up to the busy
///   timeout) for another writer to finish. A plain (deferred) `BEGIN` takes it only at
///   the first write, and a transaction that read first then finds its snapshot stale if
///   another connection committed meanwhile: SQLite refuses the write with `SQLITE_BUSY`.
/// - PostgreSQL: `pg_advisory_xact_lock` on one key, held until the transaction ends. In
///   PostgreSQL's default isolation (read committed) each statement after it sees every
///   transaction that held the lock before, from any instance.
///
/// Single statements outside such a transaction are atomic on their own, and their
/// conditions are re-checked by PostgreSQL against the row as committed when they wait
/// for its lock.
pub async fn write(pool: &Pool) -> sqlx::Result<Tx> {
    match pool {
        Db::Sqlite(pool) => Ok(Db::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?)),
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(WRITE_LOCK).execute(&mut *tx).await?;
            Ok(Db::Postgres(tx))
        }
    }
}

/// This build's migrations for `backend` (`migrations/sqlite/`, `migrations/postgres/`).
fn migrator(backend: Backend) -> sqlx::migrate::Migrator {
    match backend {
        Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
    }
}

/// Applies every migration of the pool's backend that has not run yet. On PostgreSQL
/// sqlx holds an advisory lock meanwhile, so instances starting together take turns: on
/// a connection without the pool's lock timeout, so an instance waits for another's
/// migration however long it takes (the connection is closed afterwards, not pooled).
pub async fn migrate(pool: &Pool) -> Result<(), DbError> {
    let migrator = migrator(pool.backend());
    match pool {
        Db::Sqlite(p) => migrator.run(p).await?,
        Db::Postgres(p) => {
            let mut connection = p.acquire().await.map_err(DbError::Open)?;
            connection.close_on_drop();
            sqlx::query("SET lock_timeout = 0").execute(&mut *connection).await.map_err(DbError::Open)?;
            migrator.run(&mut *connection).await?;
        }
    }
    Ok(())
}

/// What the database holds against what this build's migrations expect.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Applied, as this build has them.
    pub applied: usize,
    /// This build's, not applied yet (`server migrate`, or any start, applies them).
    pub pending: Vec<String>,
    /// Applied with other contents than this build's file, or failed half-way.
    pub altered: Vec<String>,
    /// Applied, but not this build's: the database belongs to a newer Bulwark.
    pub unknown: Vec<i64>,
}

impl MigrationStatus {
    /// Whether this build can serve the database as it is.
    pub fn is_current(&self) -> bool {
        self.pending.is_empty() && self.altered.is_empty() && self.unknown.is_empty()
    }
}

/// Compares the database's applied migrations with this build's, changing nothing.
pub async fn migration_status(pool: &Pool) -> sqlx::Result<MigrationStatus> {
    let applied: Vec<(i64, Vec<u8>, bool)> = if table_exists(pool, "_sqlx_migrations").await? {
        on_db!(pool, p => sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations").fetch_all(p).await)?
    } else {
        Vec::new()
    };
    let migrator = migrator(pool.backend());
    let ours: Vec<_> = migrator.iter().filter(|m| !m.migration_type.is_down_migration()).collect();
    let mut status = MigrationStatus::default();
    for migration in &ours {
        let name = format!("{} {}", migration.version, migration.description);
        match applied.iter().find(|(version, _, _)| *version == migration.version) {
            None => status.pending.push(name),
            Some((_, checksum, success)) if *success && checksum[..] == migration.checksum[..] => {
                status.applied += 1
            }
            Some(_) => status.altered.push(name),
        }
    }
    status.unknown = applied
        .iter()
        .map(|(version, _, _)| *version)
        .filter(|version| !ours.iter().any(|m| m.version == *version))
        .collect();
    Ok(status)
}

/// PostgreSQL: how many of this database's backends wait on a lock right now (for
/// monitoring); `None` on SQLite, whose writers wait in the busy handler instead.
pub async fn lock_waits(pool: &Pool) -> sqlx::Result<Option<i64>> {
    match pool {
        Db::Sqlite(_) => Ok(None),
        Db::Postgres(p) => sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(p)
        .await
        .map(Some),
    }
}

/// Whether the database has a table called `name` (on PostgreSQL, `name` may be
/// schema-qualified; unqualified names are looked up on the search path).
pub async fn table_exists(pool: &Pool, name: &str) -> sqlx::Result<bool> {
    match pool {
        Db::Sqlite(p) => {
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1)",
            )
            .bind(name)
            .fetch_one(p)
            .await
        }
        Db::Postgres(p) => {
            sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL").bind(name).fetch_one(p).await
        }
    }
}

/// Creates an empty PostgreSQL database called `name` through `admin_url` (a URL whose
/// user may create databases) and returns the URL of the new database. For tests and
/// benchmarks, which each want a database of their own on one throwaway server.
pub async fn create_postgres_database(admin_url: &str, name: &str) -> Result<String, DbError> {
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(DbError::BadUrl(sqlx::Error::Configuration("database names here are [a-z0-9_]".into())));
    }
    let Url::Postgres(options) = parse(admin_url)? else { return Err(DbError::UnsupportedUrl) };
    let mut connection = sqlx::ConnectOptions::connect(&options).await.map_err(DbError::Open)?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut connection).await.map_err(DbError::Open)?;
    let (base, query) =
        admin_url.split_once('?').map_or((admin_url, None), |(base, query)| (base, Some(query)));
    let server = match base.rsplit_once('/') {
        Some((server, _)) if server.contains("//") && !server.ends_with('/') => server,
        _ => base,
    };
    Ok(match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    })
}

#[cfg(test)]
pub(crate) mod tests;
