//! Opening the database: an embedded SQLite file by default (created, with its folder, on
//! first start), or PostgreSQL for several instances; migrated on every start.
//!
//! SQLite: WAL lets readers proceed while a writer commits; the busy timeout makes
//! concurrent writers wait instead of failing with `SQLITE_BUSY`.

mod hot;
mod seam;

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
const WRITE_LOCK: i64 = 0x62_75_6c_77_61_72_6b;

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
pub(crate) mod tests {
    use super::*;
    use sqlx::SqlitePool;

    fn sqlite(pool: &Pool) -> &SqlitePool {
        match pool {
            Db::Sqlite(pool) => pool,
            Db::Postgres(_) => panic!("a SQLite pool"),
        }
    }

    #[tokio::test]
    async fn a_missing_folder_and_file_are_created_and_migrated_in_wal_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/nested/deeper/bulwark.db", dir.path().display());
        let pool = connect(&url).await.expect("opens");
        migrate(&pool).await.expect("migrates");
        migrate(&pool).await.expect("migrating twice is a no-op");
        let mode: String =
            sqlx::query_scalar("PRAGMA journal_mode").fetch_one(sqlite(&pool)).await.expect("pragma");
        assert_eq!(mode, "wal");
        assert!(dir.path().join("nested/deeper/bulwark.db").exists());
    }

    #[tokio::test]
    async fn the_migration_status_tells_pending_altered_and_unknown_migrations_apart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/m.db", dir.path().display());
        assert!(connect_existing(&url).await.is_err(), "check creates nothing");
        assert!(!dir.path().join("m.db").exists());
        // Nor does it change an existing database's journal mode.
        {
            let rollback = SqliteConnectOptions::from_str(&url).expect("url").create_if_missing(true);
            let mut connection = sqlx::ConnectOptions::connect(&rollback).await.expect("create");
            sqlx::query("CREATE TABLE t (v INTEGER)").execute(&mut connection).await.expect("table");
        }
        let checked = connect_existing(&url).await.expect("opens");
        assert!(!migration_status(&checked).await.expect("status").is_current());
        checked.close().await;
        assert!(!dir.path().join("m.db-wal").exists(), "still in rollback-journal mode");
        assert!(!table_exists(&connect_existing(&url).await.expect("opens"), "_sqlx_migrations")
            .await
            .expect("read"));

        let pool = connect(&url).await.expect("opens");
        let fresh = migration_status(&pool).await.expect("status");
        assert_eq!((fresh.applied, fresh.pending.len()), (0, migrator(Backend::Sqlite).iter().count()));
        assert!(!fresh.is_current());
        migrate(&pool).await.expect("migrates");
        let current = migration_status(&pool).await.expect("status");
        assert!(current.is_current(), "{current:?}");
        assert_eq!(current.applied, migrator(Backend::Sqlite).iter().count());

        sqlx::query("UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = (SELECT MIN(version) FROM _sqlx_migrations)")
            .execute(sqlite(&pool))
            .await
            .expect("alter");
        sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99991231000000, 'from the future', 1, x'00', 0)")
            .execute(sqlite(&pool))
            .await
            .expect("insert");
        let odd = migration_status(&pool).await.expect("status");
        assert_eq!((odd.altered.len(), odd.unknown.as_slice()), (1, &[99991231000000][..]));
        assert!(!odd.is_current());
        assert!(connect_existing(&url).await.is_ok());
        assert!(describe(&url).ends_with("m.db") && !describe(&url).contains("sqlite://"));
        let elsewhere = "postgres://bulwark:hunter2@127.0.0.1:5432/postgres";
        assert!(!describe(elsewhere).contains("hunter2"), "{}", describe(elsewhere));
        assert_eq!(describe(elsewhere), "PostgreSQL database postgres on 127.0.0.1:5432");
        assert!(!is_unverified_remote_postgres(elsewhere), "loopback");
        assert!(
            is_unverified_remote_postgres("postgres://u:p@db.internal/bulwark"),
            "sslmode=prefer by default"
        );
        assert!(is_unverified_remote_postgres("postgres://u:p@db.internal/bulwark?sslmode=require"));
        assert!(!is_unverified_remote_postgres("postgres://u:p@db.internal/bulwark?sslmode=verify-full"));
        assert!(
            is_unverified_remote_postgres("postgres://u:p@db.internal/bulwark?sslmode=verify-ca"),
            "any name"
        );
        assert!(!is_unverified_remote_postgres("postgres:///bulwark?host=/run/postgresql"), "a socket");
        assert!(!is_unverified_remote_postgres(&url), "not PostgreSQL");
        let unknown = "mysql://bulwark:hunter2@127.0.0.1/bulwark";
        assert!(matches!(connect(unknown).await, Err(DbError::UnsupportedUrl)));
        assert!(!describe(unknown).contains("hunter2"));
        assert!(!std::path::Path::new("mysql:").exists(), "no file made of the URL");
    }

    /// A fresh PostgreSQL database when `BULWARK_TEST_PG_URL` is set (as `test.sh` sets
    /// it). Without it, tests of both backends run on SQLite only, except in CI, where
    /// that is an error.
    pub(crate) async fn postgres() -> Option<Pool> {
        match std::env::var("BULWARK_TEST_PG_URL") {
            Ok(admin) if !admin.is_empty() => {
                let unique =
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time");
                let name = format!("bulwark_unit_{}_{}", std::process::id(), unique.as_nanos());
                let url = create_postgres_database(&admin, &name).await.expect("a database");
                Some(connect(&url).await.expect("connects"))
            }
            _ => {
                assert!(std::env::var_os("CI").is_none(), "CI runs every backend: set BULWARK_TEST_PG_URL");
                None
            }
        }
    }

    /// A migrated SQLite database (in `dir`) and, when there is a PostgreSQL server for
    /// tests, a migrated PostgreSQL one: for store tests that must hold on every backend.
    pub(crate) async fn every_backend(dir: &std::path::Path) -> Vec<Pool> {
        let sqlite = connect(&format!("sqlite://{}/every.db", dir.display())).await.expect("opens");
        let mut pools = vec![sqlite];
        pools.extend(postgres().await);
        for pool in &pools {
            migrate(pool).await.expect("migrates");
        }
        pools
    }

    /// Every table's columns: `(table, column, kind, nullable)`, kinds as both backends
    /// can share them (an integer column on SQLite may be a BIGINT or a BOOLEAN on
    /// PostgreSQL, whose booleans SQLite stores as integers).
    async fn columns(pool: &Pool) -> Vec<(String, String, String, bool)> {
        let rows: Vec<(String, String, String, bool)> = match pool {
            Db::Sqlite(p) => sqlx::query_as(
                "SELECT m.name, c.name, upper(c.type), c.\"notnull\" = 0 AND c.pk = 0 FROM sqlite_master m \
                 JOIN pragma_table_info(m.name) c WHERE m.type = 'table' \
                 AND m.name NOT LIKE 'sqlite_%' AND m.name NOT IN ('_sqlx_migrations', 'tower_sessions')",
            )
            .fetch_all(p)
            .await
            .expect("columns"),
            Db::Postgres(p) => sqlx::query_as(
                "SELECT table_name::TEXT, column_name::TEXT, upper(data_type::TEXT), is_nullable = 'YES' \
                 FROM information_schema.columns WHERE table_schema = current_schema() \
                 AND table_name <> '_sqlx_migrations'",
            )
            .fetch_all(p)
            .await
            .expect("columns"),
        };
        let mut columns: Vec<_> = rows
            .into_iter()
            .map(|(table, column, kind, nullable)| {
                let kind = match kind.as_str() {
                    "INTEGER" | "BIGINT" | "BOOLEAN" => "integer",
                    "TEXT" => "text",
                    "BLOB" | "BYTEA" => "bytes",
                    other => {
                        panic!("{table}.{column} has type {other}, which has no twin on the other backend")
                    }
                };
                (table, column, kind.to_owned(), nullable)
            })
            .collect();
        columns.sort();
        columns
    }

    #[tokio::test]
    async fn both_backends_migrate_to_the_same_tables_and_columns() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sqlite = connect(&format!("sqlite://{}/s.db", dir.path().display())).await.expect("opens");
        migrate(&sqlite).await.expect("migrates");
        let Some(postgres) = postgres().await else { return };
        migrate(&postgres).await.expect("migrates");
        migrate(&postgres).await.expect("migrating twice is a no-op");
        let (on_sqlite, on_postgres) = (columns(&sqlite).await, columns(&postgres).await);
        assert!(on_sqlite.len() > 50, "{on_sqlite:?}");
        let only_sqlite: Vec<_> = on_sqlite.iter().filter(|c| !on_postgres.contains(c)).collect();
        let only_postgres: Vec<_> = on_postgres.iter().filter(|c| !on_sqlite.contains(c)).collect();
        assert!(
            only_sqlite.is_empty() && only_postgres.is_empty(),
            "SQLite only: {only_sqlite:?}\nPostgreSQL only: {only_postgres:?}"
        );
        assert!(migration_status(&postgres).await.expect("status").is_current());
    }

    #[tokio::test]
    async fn postgres_write_transactions_take_turns_across_connections() {
        let Some(pool) = postgres().await else { return };
        on_db!(&pool, p => sqlx::query("CREATE TABLE t (v BIGINT)").execute(p).await.map(|_| ()))
            .expect("create");
        // Forty transactions each read the count and write count + 1: with the write lock
        // they take turns and every value is distinct; without it, read committed lets
        // several read the same count.
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    let mut tx = write(&pool).await?;
                    let seen: i64 =
                        on_db!(tx.conn(), c => sqlx::query_scalar("SELECT count(*) FROM t").fetch_one(c).await)?;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    on_db!(tx.conn(), c => sqlx::query("INSERT INTO t VALUES ($1)").bind(seen + 1).execute(c).await.map(Done::from))?;
                    tx.commit().await
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("joins").expect("writes");
        }
        let distinct: i64 =
            on_db!(&pool, p => sqlx::query_scalar("SELECT count(DISTINCT v) FROM t").fetch_one(p).await)
                .expect("count");
        assert_eq!(distinct, 40);
    }

    #[tokio::test]
    async fn a_write_transaction_that_reads_first_waits_for_another_writer_instead_of_failing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = connect(&format!("sqlite://{}/w.db", dir.path().display())).await.expect("opens");
        sqlx::query("CREATE TABLE t (v INTEGER)").execute(sqlite(&pool)).await.expect("create");
        let mut tx = write(&pool).await.expect("begin");
        let seen: i64 =
            on_db!(tx.conn(), c => sqlx::query_scalar("SELECT count(*) FROM t").fetch_one(c).await)
                .expect("read");
        // Another connection writes while this transaction holds what it read. With a
        // deferred BEGIN that write commits at once, and the write below then fails
        // with SQLITE_BUSY (a stale snapshot is never waited for).
        let other = tokio::spawn({
            let pool = pool.clone();
            async move {
                let mut tx = write(&pool).await?;
                on_db!(tx.conn(), c => sqlx::query("INSERT INTO t VALUES (2)").execute(c).await.map(crate::db::Done::from))?;
                tx.commit().await
            }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        on_db!(tx.conn(), c => sqlx::query("INSERT INTO t VALUES ($1)").bind(seen + 1).execute(c).await.map(crate::db::Done::from)).expect("writes");
        tx.commit().await.expect("commits");
        other.await.expect("joins").expect("the other writer waited, then wrote");
        let total: i64 =
            sqlx::query_scalar("SELECT count(*) FROM t").fetch_one(sqlite(&pool)).await.expect("count");
        assert_eq!(total, 2);
    }
}
