//! Opening, migrating and locking, on both backends where there is a PostgreSQL server
//! for tests (`BULWARK_TEST_PG_URL`).

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
    assert!(is_unverified_remote_postgres("postgres://u:p@db.internal/bulwark"), "sslmode=prefer by default");
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
            let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time");
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
    let seen: i64 = on_db!(tx.conn(), c => sqlx::query_scalar("SELECT count(*) FROM t").fetch_one(c).await)
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
