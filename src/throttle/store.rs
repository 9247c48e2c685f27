//! Every SQL statement about throttle counters. Updates are optimistic (compare the
//! `version`, retry on conflict) so they are correct across instances on any database.

use sqlx::{Row, SqlitePool};

use super::Counter;

pub async fn get(pool: &SqlitePool, key: &str) -> sqlx::Result<Counter> {
    Ok(read(pool, key).await?.map(|(counter, _)| counter).unwrap_or_default())
}

/// The counters at `keys` (absent ones left out), in one query.
pub async fn get_many(pool: &SqlitePool, keys: &[&str]) -> sqlx::Result<Vec<Counter>> {
    let placeholders = vec!["?"; keys.len()].join(", ");
    let sql = format!(
        "SELECT failures, last_failure_at, blocked_until FROM throttle_counters WHERE key IN ({placeholders})"
    );
    let mut query = sqlx::query(&sql);
    for key in keys {
        query = query.bind(*key);
    }
    query
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            Ok(Counter {
                failures: u32::try_from(row.try_get::<i64, _>("failures")?).unwrap_or(u32::MAX),
                last_failure_at: row.try_get("last_failure_at")?,
                blocked_until: row.try_get("blocked_until")?,
            })
        })
        .collect()
}

async fn read(pool: &SqlitePool, key: &str) -> sqlx::Result<Option<(Counter, i64)>> {
    let row = sqlx::query(
        "SELECT failures, last_failure_at, blocked_until, version FROM throttle_counters WHERE key = ?",
    )
    .bind(key)
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        Ok((
            Counter {
                failures: u32::try_from(row.try_get::<i64, _>("failures")?).unwrap_or(u32::MAX),
                last_failure_at: row.try_get("last_failure_at")?,
                blocked_until: row.try_get("blocked_until")?,
            },
            row.try_get("version")?,
        ))
    })
    .transpose()
}

/// Applies `change` to the counter at `key` atomically; `Err` from `change` writes nothing
/// and is handed back.
pub async fn update<E>(
    pool: &SqlitePool,
    key: &str,
    change: impl Fn(&Counter) -> Result<Counter, E>,
) -> sqlx::Result<Result<(), E>> {
    loop {
        let current = read(pool, key).await?;
        let (before, version) = current.unwrap_or_default();
        let after = match change(&before) {
            Ok(after) => after,
            Err(e) => return Ok(Err(e)),
        };
        let written = match current {
            None => sqlx::query(
                "INSERT INTO throttle_counters (key, failures, last_failure_at, blocked_until, version) \
                 VALUES (?, ?, ?, ?, 0) ON CONFLICT DO NOTHING",
            )
            .bind(key)
            .bind(i64::from(after.failures))
            .bind(after.last_failure_at)
            .bind(after.blocked_until)
            .execute(pool)
            .await?
            .rows_affected(),
            Some(_) => sqlx::query(
                "UPDATE throttle_counters SET failures = ?, last_failure_at = ?, blocked_until = ?, \
                 version = version + 1 WHERE key = ? AND version = ?",
            )
            .bind(i64::from(after.failures))
            .bind(after.last_failure_at)
            .bind(after.blocked_until)
            .bind(key)
            .bind(version)
            .execute(pool)
            .await?
            .rows_affected(),
        };
        if written == 1 {
            return Ok(Ok(()));
        }
        // Someone else wrote first: read again and reapply.
    }
}

/// [`update`] for changes that always apply.
pub async fn apply(pool: &SqlitePool, key: &str, change: impl Fn(&Counter) -> Counter) -> sqlx::Result<()> {
    match update(pool, key, |c| Ok::<_, std::convert::Infallible>(change(c))).await? {
        Ok(()) => Ok(()),
        Err(never) => match never {},
    }
}

pub async fn delete(pool: &SqlitePool, key: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM throttle_counters WHERE key = ?").bind(key).execute(pool).await?;
    Ok(())
}

/// Deletes counters whose key starts with `prefix`, last touched before `quiet_since` and
/// not blocking anything at `now`.
pub async fn delete_stale(pool: &SqlitePool, prefix: &str, quiet_since: i64, now: i64) -> sqlx::Result<u64> {
    let prefix_chars = i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX);
    Ok(sqlx::query(
        "DELETE FROM throttle_counters WHERE substr(key, 1, ?) = ? AND last_failure_at < ? AND blocked_until <= ?",
    )
    .bind(prefix_chars)
    .bind(prefix)
    .bind(quiet_since)
    .bind(now)
    .execute(pool)
    .await?
    .rows_affected())
}
