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

/// Applies every migration in `migrations/` that has not run yet.
pub async fn migrate(pool: &SqlitePool) -> Result<(), DbError> {
    sqlx::migrate!("./migrations").run(pool).await?;
    Ok(())
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
