//! The request resolver's read path.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use sqlx::{
    pool::PoolConnection, sqlite::SqliteConnectOptions, ConnectOptions, PgPool, Postgres, SqliteConnection,
};
use tokio::sync::{Mutex, MutexGuard};

use super::{AsConn, Conn, Db, Pool};

/// Where the one read every signed-in request makes (the request resolver's) runs.
///
/// On SQLite: a few connections set aside, outside the pool. A pooled query costs three
/// trips to the connection's worker thread (the query, and on return a ping that sqlx
/// always makes, from a task of its own); here it costs one. On two cores those trips,
/// not SQLite, were most of what a signed-in page cost beyond an anonymous one. A
/// connection whose query failed is closed, and opened anew (with the pool's options)
/// the next time it is needed.
///
/// On PostgreSQL: a small pool of its own (`connections` at most, and never more than
/// [`MAX_POSTGRES_READERS`]), for the same reason as
/// on SQLite: a flood of requests that need the main pool (writes waiting for the write
/// lock, say) must not leave signed-in requests without a connection to find out who
/// is calling.
#[derive(Clone)]
pub struct HotReads(Db<SqliteSlots, PgPool>);

/// The resolver's own PostgreSQL connections per instance, at most: each is a server
/// process, and the server's `max_connections` is shared by every instance.
pub const MAX_POSTGRES_READERS: usize = 4;

#[derive(Clone)]
pub struct SqliteSlots {
    slots: Arc<[Mutex<Option<SqliteConnection>>]>,
    options: SqliteConnectOptions,
    next: Arc<AtomicUsize>,
}

impl HotReads {
    /// `connections` set aside (at least one) on SQLite, opened lazily like the pool's.
    pub fn new(pool: &Pool, connections: usize) -> Self {
        Self(match pool {
            Db::Sqlite(pool) => Db::Sqlite(SqliteSlots {
                slots: (0..connections.max(1)).map(|_| Mutex::new(None)).collect(),
                options: (*pool.connect_options()).clone(),
                next: Arc::new(AtomicUsize::new(0)),
            }),
            Db::Postgres(pool) => Db::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(u32::try_from(connections.clamp(1, MAX_POSTGRES_READERS)).unwrap_or(1))
                    .acquire_timeout(std::time::Duration::from_secs(10))
                    // A failed read discards its connection (see `Lease::discard`): no
                    // ping before every request's one query.
                    .test_before_acquire(false)
                    .connect_lazy_with((*pool.connect_options()).clone()),
            ),
        })
    }

    /// How many connections are set aside (at most).
    pub fn connections(&self) -> usize {
        match &self.0 {
            Db::Sqlite(hot) => hot.slots.len(),
            Db::Postgres(pool) => pool.options().get_max_connections() as usize,
        }
    }

    /// A connection: a free one if there is one, else the next in turn once it is free.
    pub async fn lease(&self) -> sqlx::Result<Lease<'_>> {
        match &self.0 {
            Db::Sqlite(hot) => {
                let mut guard = match hot.slots.iter().find_map(|slot| slot.try_lock().ok()) {
                    Some(guard) => guard,
                    None => {
                        hot.slots[hot.next.fetch_add(1, Ordering::Relaxed) % hot.slots.len()].lock().await
                    }
                };
                if guard.is_none() {
                    *guard = Some(hot.options.connect().await?);
                }
                Ok(Lease(Db::Sqlite(guard)))
            }
            Db::Postgres(pool) => Ok(Lease(Db::Postgres(pool.acquire().await?))),
        }
    }

    #[cfg(test)]
    fn slots(&self) -> &[Mutex<Option<SqliteConnection>>] {
        match &self.0 {
            Db::Sqlite(hot) => &hot.slots,
            Db::Postgres(_) => &[],
        }
    }
}

/// One use of a [`HotReads`] connection. Call [`Lease::discard`] when a query on it
/// failed: the connection is closed and opened anew next time. A lease simply dropped
/// (also when its request is cancelled mid-query) keeps the connection: sqlx's worker
/// finishes the statement it was given and resets it before taking the next.
pub struct Lease<'a>(Db<MutexGuard<'a, Option<SqliteConnection>>, PoolConnection<Postgres>>);

impl AsConn for Lease<'_> {
    fn conn(&mut self) -> Conn<'_> {
        match &mut self.0 {
            Db::Sqlite(guard) => Db::Sqlite(guard.as_mut().expect("a lease always holds an open connection")),
            Db::Postgres(connection) => Db::Postgres(&mut **connection),
        }
    }
}

impl Lease<'_> {
    pub fn discard(self) {
        match self.0 {
            // Dropping a connection closes it (its worker thread ends).
            Db::Sqlite(mut guard) => drop(guard.take()),
            Db::Postgres(mut connection) => connection.close_on_drop(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::connect;

    #[tokio::test]
    async fn hot_reads_see_committed_writes_and_reopen_a_discarded_connection() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = connect(&format!("sqlite://{}/hot.db", dir.path().display())).await.expect("opens");
        crate::on_db!(&pool, p => sqlx::query("CREATE TABLE t (v INTEGER)").execute(p).await.map(|_| ()))
            .expect("create");
        let reads = HotReads::new(&pool, 2);
        let count = |reads: HotReads| async move {
            let mut lease = reads.lease().await.expect("lease");
            let n: i64 = crate::on_db!(lease.conn(), c => sqlx::query_scalar("SELECT count(*) FROM t").fetch_one(c).await)
                .expect("read");
            n
        };
        assert_eq!(count(reads.clone()).await, 0);
        crate::on_db!(&pool, p => sqlx::query("INSERT INTO t VALUES (1)").execute(p).await.map(|_| ()))
            .expect("insert");
        assert_eq!(count(reads.clone()).await, 1, "a write through the pool is seen at once");

        // A failed query's connection is closed; the next lease opens a fresh one and works.
        let mut lease = reads.lease().await.expect("lease");
        assert!(crate::on_db!(lease.conn(), c => sqlx::query("SELECT nonsense FROM nowhere").execute(c).await.map(crate::db::Done::from).map(|_| ()))
            .is_err());
        lease.discard();
        assert!(reads.slots()[0].try_lock().expect("free").is_none(), "closed, not handed out again");
        assert_eq!(count(reads.clone()).await, 1);

        // A request cancelled mid-read leaves a connection the next lease can use.
        let cancelled = tokio::time::timeout(std::time::Duration::from_nanos(1), count(reads.clone())).await;
        drop(cancelled);
        assert_eq!(count(reads.clone()).await, 1);

        // Two leases at once use two connections.
        let first = reads.lease().await.expect("first");
        let second = reads.lease().await.expect("second");
        assert!(reads.slots().iter().all(|slot| slot.try_lock().is_err()), "both in use");
        drop((first, second));
    }
}
