//! The storage seam: one type for "a pool, a transaction or a connection on whichever
//! database this instance runs on", so services never name a backend.
//!
//! Every store function runs its statements through [`on_db!`](crate::on_db), which
//! expands the same body once per backend. A statement is therefore type-checked
//! against SQLite *and* PostgreSQL (binds, decodes), and a store function whose SQL
//! must differ between them matches on [`Db`] itself: the match is exhaustive, so a
//! query written for one backend and not the other does not compile.

use sqlx::{
    pool::PoolConnection,
    postgres::{PgConnection, PgRow},
    sqlite::{SqliteConnection, SqliteRow},
    PgPool, Postgres, Sqlite, SqlitePool, Transaction,
};

/// One value per backend: `Db<SqliteThing, PostgresThing>`.
#[derive(Debug, Clone)]
pub enum Db<S, P> {
    Sqlite(S),
    Postgres(P),
}

/// Which backend a [`Db`] value is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The SQL function for the least of several values: SQLite's `MIN` takes several
    /// arguments (as a scalar function), PostgreSQL's is `LEAST`.
    pub fn least(self) -> &'static str {
        match self {
            Backend::Sqlite => "MIN",
            Backend::Postgres => "LEAST",
        }
    }
}

impl<S, P> Db<S, P> {
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }
}

/// Runs `$body` with `$c` bound to the backend's own value (a pool, a connection...).
/// The body is compiled once per backend.
///
/// A statement both backends take builds:
///
/// ```
/// async fn count(pool: &bulwark::db::Pool) -> sqlx::Result<i64> {
///     bulwark::on_db!(pool, p => sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id > $1").bind(0_i64).fetch_one(p).await)
/// }
/// ```
///
/// One that binds a type PostgreSQL cannot take (an unsigned integer) does not, though
/// SQLite would take it:
///
/// ```compile_fail
/// async fn count(pool: &bulwark::db::Pool) -> sqlx::Result<i64> {
///     bulwark::on_db!(pool, p => sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id > $1").bind(0_u32).fetch_one(p).await)
/// }
/// ```
///
/// And SQL written for one backend only does not build either: a `match` on [`Db`]
/// without an arm for the other backend is not exhaustive.
///
/// ```compile_fail
/// async fn count(pool: &bulwark::db::Pool) -> sqlx::Result<i64> {
///     match pool {
///         bulwark::db::Db::Sqlite(p) => sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(p).await,
///     }
/// }
/// ```
#[macro_export]
macro_rules! on_db {
    ($db:expr, $c:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($c) => $body,
            $crate::db::Db::Postgres($c) => $body,
        }
    };
}

/// The connection pool.
pub type Pool = Db<SqlitePool, PgPool>;
/// A transaction (see [`crate::db::write`] for the ones that write).
pub type Tx = Db<Transaction<'static, Sqlite>, Transaction<'static, Postgres>>;
/// A connection borrowed from a pool, a transaction or a lease.
pub type Conn<'c> = Db<&'c mut SqliteConnection, &'c mut PgConnection>;
/// A connection taken out of the pool until dropped.
pub type Pooled = Db<PoolConnection<Sqlite>, PoolConnection<Postgres>>;

/// Anything a statement can run on: store functions take `&mut impl AsConn`, so a
/// transaction, a pooled connection and a lease all do.
pub trait AsConn: Send {
    fn conn(&mut self) -> Conn<'_>;
}

impl AsConn for Conn<'_> {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            Db::Sqlite(c) => Db::Sqlite(&mut **c),
            Db::Postgres(c) => Db::Postgres(&mut **c),
        }
    }
}

impl AsConn for Tx {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            Db::Sqlite(tx) => Db::Sqlite(&mut **tx),
            Db::Postgres(tx) => Db::Postgres(&mut **tx),
        }
    }
}

impl AsConn for Pooled {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            Db::Sqlite(c) => Db::Sqlite(&mut **c),
            Db::Postgres(c) => Db::Postgres(&mut **c),
        }
    }
}

impl Pool {
    /// A connection out of the pool.
    pub async fn acquire(&self) -> sqlx::Result<Pooled> {
        Ok(match self {
            Db::Sqlite(pool) => Db::Sqlite(pool.acquire().await?),
            Db::Postgres(pool) => Db::Postgres(pool.acquire().await?),
        })
    }

    /// A plain transaction (on PostgreSQL in read committed: each statement sees what
    /// had committed when it began, not one snapshot for the whole transaction). Writes
    /// that decide on what they read go through [`crate::db::write`].
    pub async fn begin(&self) -> sqlx::Result<Tx> {
        Ok(match self {
            Db::Sqlite(pool) => Db::Sqlite(pool.begin().await?),
            Db::Postgres(pool) => Db::Postgres(pool.begin().await?),
        })
    }

    pub async fn close(&self) {
        on_db!(self, pool => pool.close().await)
    }
}

impl Tx {
    pub async fn commit(self) -> sqlx::Result<()> {
        on_db!(self, tx => tx.commit().await)
    }

    pub async fn rollback(self) -> sqlx::Result<()> {
        on_db!(self, tx => tx.rollback().await)
    }
}

/// A column value either backend can decode, so that one function turns a row into a
/// value on both (see [`DbRow`]).
pub trait Value: Sized {
    fn from_sqlite(row: &SqliteRow, column: &str) -> sqlx::Result<Self>;
    fn from_postgres(row: &PgRow, column: &str) -> sqlx::Result<Self>;
}

macro_rules! values {
    ($($t:ty),* $(,)?) => {$(
        impl Value for $t {
            fn from_sqlite(row: &SqliteRow, column: &str) -> sqlx::Result<Self> {
                sqlx::Row::try_get(row, column)
            }
            fn from_postgres(row: &PgRow, column: &str) -> sqlx::Result<Self> {
                sqlx::Row::try_get(row, column)
            }
        }
        impl Value for Option<$t> {
            fn from_sqlite(row: &SqliteRow, column: &str) -> sqlx::Result<Self> {
                sqlx::Row::try_get(row, column)
            }
            fn from_postgres(row: &PgRow, column: &str) -> sqlx::Result<Self> {
                sqlx::Row::try_get(row, column)
            }
        }
    )*};
}

values!(i64, i32, bool, String, Vec<u8>);

/// A row of either backend, read by column name. Row-to-value functions take
/// `&impl DbRow` and so serve both backends.
pub trait DbRow {
    fn try_get<T: Value>(&self, column: &str) -> sqlx::Result<T>;
}

impl DbRow for SqliteRow {
    fn try_get<T: Value>(&self, column: &str) -> sqlx::Result<T> {
        T::from_sqlite(self, column)
    }
}

impl DbRow for PgRow {
    fn try_get<T: Value>(&self, column: &str) -> sqlx::Result<T> {
        T::from_postgres(self, column)
    }
}

/// What a statement that returns no rows did, on either backend.
#[derive(Debug, Clone, Copy)]
pub struct Done {
    rows_affected: u64,
}

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.rows_affected
    }
}

impl From<sqlx::sqlite::SqliteQueryResult> for Done {
    fn from(result: sqlx::sqlite::SqliteQueryResult) -> Self {
        Self { rows_affected: result.rows_affected() }
    }
}

impl From<sqlx::postgres::PgQueryResult> for Done {
    fn from(result: sqlx::postgres::PgQueryResult) -> Self {
        Self { rows_affected: result.rows_affected() }
    }
}
