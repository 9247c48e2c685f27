//! Opening the database: an embedded SQLite file by default, created (with its folder) on
//! first start and migrated on every start. WAL lets readers proceed while a writer
//! commits; the busy timeout makes concurrent writers wait instead of failing with
//! `SQLITE_BUSY`.

use std::{path::Path, str::FromStr, time::Duration};

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

pub use sqlx::SqlitePool;
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    ConnectOptions, SqliteConnection,
};
use tokio::sync::{Mutex, MutexGuard};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DATABASE_URL is not a valid SQLite URL: {0}")]
    BadUrl(#[source] sqlx::Error),
    #[error("DATABASE_URL must start with sqlite: (PostgreSQL support is under way)")]
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

/// Opens (creating if needed) the database at `url` without migrating it.
pub async fn connect(url: &str) -> Result<SqlitePool, DbError> {
    connect_with_pool(url, DEFAULT_POOL_SIZE).await
}

/// [`connect`] with at most `pool_size` connections (each SQLite connection is a thread).
pub async fn connect_with_pool(url: &str, pool_size: u32) -> Result<SqlitePool, DbError> {
    let options = options(url)?.create_if_missing(true);
    let file = options.get_filename();
    if file != Path::new(":memory:") {
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| DbError::CreateDir { path: dir.display().to_string(), source })?;
        }
    }
    pool(options, pool_size).await
}

/// Opens the database at `url` read-only, and only if it exists (for `server check`,
/// which creates and changes nothing: no file, no journal mode, no table).
pub async fn connect_existing(url: &str) -> Result<SqlitePool, DbError> {
    let options =
        sqlite_url(url)?.create_if_missing(false).read_only(true).busy_timeout(Duration::from_secs(5));
    pool(options, 1).await
}

/// Where the database at `url` is, for people to read: never a password (a URL that is
/// not SQLite's is not shown at all).
pub fn describe(url: &str) -> String {
    match sqlite_url(url) {
        Ok(options) => format!("SQLite file {}", options.get_filename().display()),
        Err(_) => "DATABASE_URL (not shown: not a sqlite: URL)".to_owned(),
    }
}

/// `url` parsed, if it is a `sqlite:` URL. sqlx would take anything else for a file name
/// (`postgres://user:password@host/db` would become a SQLite file of that name).
fn sqlite_url(url: &str) -> Result<SqliteConnectOptions, DbError> {
    if !url.starts_with("sqlite:") {
        return Err(DbError::UnsupportedUrl);
    }
    SqliteConnectOptions::from_str(url).map_err(DbError::BadUrl)
}

fn options(url: &str) -> Result<SqliteConnectOptions, DbError> {
    Ok(sqlite_url(url)?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true))
}

async fn pool(options: SqliteConnectOptions, pool_size: u32) -> Result<SqlitePool, DbError> {
    SqlitePoolOptions::new()
        .max_connections(pool_size.max(1))
        // An embedded connection cannot be lost: pinging it before each use would only add
        // a round trip to its worker thread to every query.
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .map_err(DbError::Open)
}

/// Begins a transaction that writes. It takes SQLite's write lock at `BEGIN`, waiting
/// (up to the busy timeout) for another writer to finish. A plain (deferred) `BEGIN`
/// takes it only at the first write: a transaction that read first then finds its
/// snapshot stale if another connection committed meanwhile, and SQLite refuses the
/// write at once with `SQLITE_BUSY` instead of waiting. Every transaction that writes
/// starts here.
pub async fn write(pool: &SqlitePool) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// This build's SQLite migrations (`migrations/sqlite/`).
fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("./migrations/sqlite")
}

/// Applies every migration in `migrations/sqlite/` that has not run yet.
pub async fn migrate(pool: &SqlitePool) -> Result<(), DbError> {
    migrator().run(pool).await?;
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
pub async fn migration_status(pool: &SqlitePool) -> sqlx::Result<MigrationStatus> {
    let applied: Vec<(i64, Vec<u8>, bool)> = if table_exists(pool, "_sqlx_migrations").await? {
        sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations").fetch_all(pool).await?
    } else {
        Vec::new()
    };
    let migrator = migrator();
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

/// Whether the database has a table called `name`.
pub async fn table_exists(pool: &SqlitePool, name: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)")
        .bind(name)
        .fetch_one(pool)
        .await
}

/// A few connections set aside, outside the pool, for the one read every signed-in
/// request makes (the request resolver's). A pooled query costs three trips to the
/// connection's worker thread (the query, and on return a ping that sqlx always makes,
/// from a task of its own); here it costs one. On two cores those trips, not SQLite,
/// were most of what a signed-in page cost beyond an anonymous one.
///
/// A connection whose query failed is closed, and opened anew (with the pool's options)
/// the next time it is needed.
#[derive(Clone)]
pub struct HotReads {
    slots: Arc<[Mutex<Option<SqliteConnection>>]>,
    options: SqliteConnectOptions,
    next: Arc<AtomicUsize>,
}

impl HotReads {
    /// `connections` set aside (at least one), opened lazily like the pool's.
    pub fn new(pool: &SqlitePool, connections: usize) -> Self {
        Self {
            slots: (0..connections.max(1)).map(|_| Mutex::new(None)).collect(),
            options: (*pool.connect_options()).clone(),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A connection: a free one if there is one, else the next in turn once it is free.
    pub async fn lease(&self) -> sqlx::Result<Lease<'_>> {
        let mut guard = match self.slots.iter().find_map(|slot| slot.try_lock().ok()) {
            Some(guard) => guard,
            None => self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()].lock().await,
        };
        if guard.is_none() {
            *guard = Some(self.options.connect().await?);
        }
        Ok(Lease { guard })
    }
}

/// One use of a [`HotReads`] connection. Call [`Lease::discard`] when a query on it
/// failed: the connection is closed and opened anew next time. A lease simply dropped
/// (also when its request is cancelled mid-query) keeps the connection: sqlx's worker
/// finishes the statement it was given and resets it before taking the next.
pub struct Lease<'a> {
    guard: MutexGuard<'a, Option<SqliteConnection>>,
}

impl Lease<'_> {
    pub fn connection(&mut self) -> &mut SqliteConnection {
        self.guard.as_mut().expect("a lease always holds an open connection")
    }

    pub fn discard(mut self) {
        // Dropping a connection closes it (its worker thread ends).
        self.guard.take();
    }
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

    #[tokio::test]
    async fn the_migration_status_tells_pending_altered_and_unknown_migrations_apart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/m.db", dir.path().display());
        assert!(connect_existing(&url).await.is_err(), "check creates nothing");
        assert!(!dir.path().join("m.db").exists());
        // Nor does it change an existing database's journal mode.
        {
            let rollback = SqliteConnectOptions::from_str(&url).expect("url").create_if_missing(true);
            let mut connection = rollback.connect().await.expect("create");
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
        assert_eq!((fresh.applied, fresh.pending.len()), (0, migrator().iter().count()));
        assert!(!fresh.is_current());
        migrate(&pool).await.expect("migrates");
        let current = migration_status(&pool).await.expect("status");
        assert!(current.is_current(), "{current:?}");
        assert_eq!(current.applied, migrator().iter().count());

        sqlx::query("UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = (SELECT MIN(version) FROM _sqlx_migrations)")
            .execute(&pool)
            .await
            .expect("alter");
        sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99991231000000, 'from the future', 1, x'00', 0)")
            .execute(&pool)
            .await
            .expect("insert");
        let odd = migration_status(&pool).await.expect("status");
        assert_eq!((odd.altered.len(), odd.unknown.as_slice()), (1, &[99991231000000][..]));
        assert!(!odd.is_current());
        assert!(connect_existing(&url).await.is_ok());
        assert!(describe(&url).ends_with("m.db") && !describe(&url).contains("sqlite://"));
        let elsewhere = "postgres://bulwark:hunter2@127.0.0.1:5432/postgres";
        assert!(!describe(elsewhere).contains("hunter2"), "{}", describe(elsewhere));
        assert!(matches!(connect(elsewhere).await, Err(DbError::UnsupportedUrl)));
        assert!(!std::path::Path::new("postgres:").exists(), "no file made of the URL");
    }

    #[tokio::test]
    async fn a_write_transaction_that_reads_first_waits_for_another_writer_instead_of_failing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = connect(&format!("sqlite://{}/w.db", dir.path().display())).await.expect("opens");
        sqlx::query("CREATE TABLE t (v INTEGER)").execute(&pool).await.expect("create");
        let mut tx = write(&pool).await.expect("begin");
        let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM t").fetch_one(&mut *tx).await.expect("read");
        // Another connection writes while this transaction holds what it read. With a
        // deferred BEGIN that write commits at once, and the write below then fails
        // with SQLITE_BUSY (a stale snapshot is never waited for).
        let other = tokio::spawn({
            let pool = pool.clone();
            async move { sqlx::query("INSERT INTO t VALUES (2)").execute(&pool).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        sqlx::query("INSERT INTO t VALUES (?)").bind(seen + 1).execute(&mut *tx).await.expect("writes");
        tx.commit().await.expect("commits");
        other.await.expect("joins").expect("the other writer waited, then wrote");
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM t").fetch_one(&pool).await.expect("count");
        assert_eq!(total, 2);
    }

    #[tokio::test]
    async fn hot_reads_see_committed_writes_and_reopen_a_discarded_connection() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = connect(&format!("sqlite://{}/hot.db", dir.path().display())).await.expect("opens");
        sqlx::query("CREATE TABLE t (v INTEGER)").execute(&pool).await.expect("create");
        let reads = HotReads::new(&pool, 2);
        let count = |reads: HotReads| async move {
            let mut lease = reads.lease().await.expect("lease");
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
                .fetch_one(lease.connection())
                .await
                .expect("read");
            n
        };
        assert_eq!(count(reads.clone()).await, 0);
        sqlx::query("INSERT INTO t VALUES (1)").execute(&pool).await.expect("insert");
        assert_eq!(count(reads.clone()).await, 1, "a write through the pool is seen at once");

        // A failed query's connection is closed; the next lease opens a fresh one and works.
        let mut lease = reads.lease().await.expect("lease");
        assert!(sqlx::query("SELECT nonsense FROM nowhere").execute(lease.connection()).await.is_err());
        lease.discard();
        assert!(reads.slots[0].try_lock().expect("free").is_none(), "closed, not handed out again");
        assert_eq!(count(reads.clone()).await, 1);

        // A request cancelled mid-read leaves a connection the next lease can use.
        let cancelled = tokio::time::timeout(std::time::Duration::from_nanos(1), count(reads.clone())).await;
        drop(cancelled);
        assert_eq!(count(reads.clone()).await, 1);

        // Two leases at once use two connections.
        let first = reads.lease().await.expect("first");
        let second = reads.lease().await.expect("second");
        assert!(reads.slots.iter().all(|slot| slot.try_lock().is_err()), "both in use");
        drop((first, second));
    }
}
