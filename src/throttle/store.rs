//! Every SQL statement about throttle counters. Updates are optimistic (compare the
//! `version`, retry on conflict) so they are correct across instances on any database.

use crate::db::{DbRow, Pool};

use super::Counter;

pub async fn get(pool: &Pool, key: &str) -> sqlx::Result<Counter> {
    Ok(read(pool, key).await?.map(|(counter, _)| counter).unwrap_or_default())
}

/// A counter as last read, with the `version` a compare-and-swap must match; `None` when
/// there was no row.
pub type Snapshot = Option<(Counter, i64)>;

/// The counters at `keys`, in one query: one snapshot per key, in the order given.
pub async fn get_many(pool: &Pool, keys: &[&str]) -> sqlx::Result<Vec<Snapshot>> {
    let placeholders = (1..=keys.len()).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT key, failures, last_failure_at, blocked_until, version FROM throttle_counters \
         WHERE key IN ({placeholders})"
    );
    let found = crate::on_db!(pool, c => {
        let mut query = sqlx::query(&sql);
        for key in keys {
            query = query.bind(*key);
        }
        let rows = query.fetch_all(c).await?;
        let mut found = Vec::with_capacity(rows.len());
        for row in &rows {
            found.push((row.try_get::<String>("key")?, snapshot(row)?));
        }
        found
    });
    Ok(keys.iter().map(|key| found.iter().find(|(k, _)| k == key).map(|(_, snapshot)| *snapshot)).collect())
}

fn snapshot(row: &impl DbRow) -> sqlx::Result<(Counter, i64)> {
    Ok((
        Counter {
            failures: u32::try_from(row.try_get::<i64>("failures")?).unwrap_or(u32::MAX),
            last_failure_at: row.try_get("last_failure_at")?,
            blocked_until: row.try_get("blocked_until")?,
        },
        row.try_get("version")?,
    ))
}

async fn read(pool: &Pool, key: &str) -> sqlx::Result<Snapshot> {
    crate::on_db!(pool, c => {
        let row = sqlx::query(
            "SELECT failures, last_failure_at, blocked_until, version FROM throttle_counters WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(c)
        .await?;
        row.as_ref().map(snapshot).transpose()
    })
}

/// Applies `change` to the counter at `key` atomically; `Err` from `change` writes nothing
/// and is handed back.
pub async fn update<E>(
    pool: &Pool,
    key: &str,
    change: impl Fn(&Counter) -> Result<Counter, E>,
) -> sqlx::Result<Result<(), E>> {
    Ok(update_from(pool, key, None, change).await?.map(|_| ()))
}

/// [`update`], starting from `seen` (a snapshot this caller read or wrote a moment ago)
/// instead of reading first: when nobody wrote in between, the change is one statement;
/// when somebody did, the compare-and-swap misses and the counter is read and the change
/// reapplied, as in [`update`]. Returns the counter as written, for the next change.
pub async fn update_from<E>(
    pool: &Pool,
    key: &str,
    mut seen: Option<Snapshot>,
    change: impl Fn(&Counter) -> Result<Counter, E>,
) -> sqlx::Result<Result<Snapshot, E>> {
    loop {
        let current = match seen.take() {
            Some(snapshot) => snapshot,
            None => read(pool, key).await?,
        };
        let (before, version) = current.unwrap_or_default();
        let after = match change(&before) {
            Ok(after) => after,
            Err(e) => return Ok(Err(e)),
        };
        let written = match current {
            None => crate::on_db!(pool, c => sqlx::query(
                "INSERT INTO throttle_counters (key, failures, last_failure_at, blocked_until, version) \
                 VALUES ($1, $2, $3, $4, 0) ON CONFLICT DO NOTHING",
            )
            .bind(key)
            .bind(i64::from(after.failures))
            .bind(after.last_failure_at)
            .bind(after.blocked_until)
            .execute(c)
            .await.map(crate::db::Done::from))?
            .rows_affected(),
            // Every column, not only the version: a row deleted and made again (a reset
            // clears an account's counter) starts its versions over, and a snapshot taken
            // before that must not match the new row unless it is that row exactly.
            Some(_) => crate::on_db!(pool, c => sqlx::query(
                "UPDATE throttle_counters SET failures = $1, last_failure_at = $2, blocked_until = $3, \
                 version = version + 1 WHERE key = $4 AND version = $5 AND failures = $6 \
                 AND last_failure_at = $7 AND blocked_until = $8",
            )
            .bind(i64::from(after.failures))
            .bind(after.last_failure_at)
            .bind(after.blocked_until)
            .bind(key)
            .bind(version)
            .bind(i64::from(before.failures))
            .bind(before.last_failure_at)
            .bind(before.blocked_until)
            .execute(c)
            .await.map(crate::db::Done::from))?
            .rows_affected(),
        };
        if written == 1 {
            let version = if current.is_some() { version + 1 } else { 0 };
            return Ok(Ok(Some((after, version))));
        }
        // Someone else wrote first: read again and reapply.
    }
}

/// [`update_from`] for changes that always apply.
pub async fn apply_from(
    pool: &Pool,
    key: &str,
    seen: Option<Snapshot>,
    change: impl Fn(&Counter) -> Counter,
) -> sqlx::Result<()> {
    match update_from(pool, key, seen, |c| Ok::<_, std::convert::Infallible>(change(c))).await? {
        Ok(_) => Ok(()),
        Err(never) => match never {},
    }
}

pub async fn delete(pool: &Pool, key: &str) -> sqlx::Result<()> {
    delete_in(&mut pool.acquire().await?, key).await
}

/// [`delete`] on `connection` (a change's own transaction).
pub async fn delete_in(connection: &mut impl crate::db::AsConn, key: &str) -> sqlx::Result<()> {
    crate::on_db!(connection.conn(), c => sqlx::query("DELETE FROM throttle_counters WHERE key = $1").bind(key).execute(c).await.map(crate::db::Done::from))?;
    Ok(())
}

/// Deletes counters whose key starts with `prefix`, last touched before `quiet_since` and
/// not blocking anything at `now`.
pub async fn delete_stale(pool: &Pool, prefix: &str, quiet_since: i64, now: i64) -> sqlx::Result<u64> {
    let prefix_chars = i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX);
    Ok(crate::on_db!(pool, c => sqlx::query(
        "DELETE FROM throttle_counters WHERE substr(key, 1, CAST($1 AS INTEGER)) = $2 AND last_failure_at < $3 AND blocked_until <= $4",
    )
    .bind(prefix_chars)
    .bind(prefix)
    .bind(quiet_since)
    .bind(now)
    .execute(c)
    .await.map(crate::db::Done::from))?
    .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db;

    fn count(c: &Counter) -> Counter {
        Counter { failures: c.failures + 1, ..*c }
    }

    #[tokio::test]
    async fn many_counters_are_read_in_order_and_stale_ones_deleted_by_prefix() {
        let dir = tempfile::tempdir().expect("tempdir");
        for pool in db::tests::every_backend(dir.path()).await {
            let ok = |c: &Counter| Ok::<_, ()>(Counter { last_failure_at: 100, ..count(c) });
            for key in ["ip:a", "ip:b", "acct:a"] {
                update(&pool, key, ok).await.expect("db").expect("counted");
            }
            update(&pool, "ip:b", ok).await.expect("db").expect("counted");
            let read = get_many(&pool, &["ip:b", "nothing", "ip:a"]).await.expect("db");
            let failures: Vec<_> = read.iter().map(|s| s.map(|(c, _)| c.failures)).collect();
            assert_eq!(failures, [Some(2), None, Some(1)], "{:?}", pool.backend());
            assert_eq!(delete_stale(&pool, "ip:", 101, 0).await.expect("db"), 2, "{:?}", pool.backend());
            assert_eq!(get(&pool, "acct:a").await.expect("db").failures, 1);
            assert_eq!(get(&pool, "ip:a").await.expect("db").failures, 0);
        }
    }

    #[tokio::test]
    async fn a_snapshot_from_before_a_delete_does_not_match_the_row_made_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        for pool in db::tests::every_backend(dir.path()).await {
            snapshot_after_delete(&pool).await;
        }
    }

    async fn snapshot_after_delete(pool: &Pool) {
        let pool = pool.clone();
        let ok = |c: &Counter| Ok::<_, ()>(count(c));

        // The owner's reservation: a row at version 1 with 2 failures, remembered.
        update(&pool, "k", ok).await.expect("db").expect("counted");
        let remembered = update_from(&pool, "k", None, ok).await.expect("db").expect("counted");
        assert_eq!(remembered.map(|(c, v)| (c.failures, v)), Some((2, 1)));

        // Meanwhile the counter is cleared (a reset) and made again by others, up to the
        // same version with more failures.
        delete(&pool, "k").await.expect("db");
        update(&pool, "k", ok).await.expect("db").expect("counted");
        update(&pool, "k", |c| Ok::<_, ()>(Counter { failures: c.failures + 5, ..*c }))
            .await
            .expect("db")
            .expect("counted");
        assert_eq!(read(&pool, "k").await.expect("db").map(|(c, v)| (c.failures, v)), Some((6, 1)));

        // Settling from the old snapshot applies to the row as it is now: 6 - 1, not 2 - 1.
        apply_from(&pool, "k", Some(remembered), |c| Counter { failures: c.failures - 1, ..*c })
            .await
            .expect("db");
        assert_eq!(get(&pool, "k").await.expect("db").failures, 5);
    }
}
