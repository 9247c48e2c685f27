//! Every SQL statement about passkeys and their ceremonies, in one place; each compiles for
//! both backends. The guards that must hold under concurrency are single statements: a
//! ceremony is taken by one `DELETE … RETURNING` (of two finish calls, one gets it), a
//! credential id is `UNIQUE` (registered once, to one account), and a counter only moves
//! forward (`counter <= $new`).

use crate::{
    accounts::UserId,
    clock::UnixTime,
    db::{AsConn, DbRow, Done},
};

/// A passkey as stored.
#[derive(Debug, Clone)]
pub struct PasskeyRow {
    pub id: i64,
    pub user_id: UserId,
    /// The library's stored credential (JSON).
    pub credential: String,
    /// The signature counter last accepted.
    pub counter: i64,
    pub name: String,
    pub discoverable: bool,
    pub synced: bool,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
    pub flagged_at: Option<UnixTime>,
}

const COLUMNS: &str =
    "id, user_id, credential, counter, name, discoverable, synced, created_at, last_used_at, flagged_at";

fn row_of(row: &impl DbRow) -> sqlx::Result<PasskeyRow> {
    Ok(PasskeyRow {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        credential: row.try_get("credential")?,
        counter: row.try_get("counter")?,
        name: row.try_get("name")?,
        discoverable: row.try_get::<i64>("discoverable")? != 0,
        synced: row.try_get::<i64>("synced")? != 0,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        flagged_at: row.try_get("flagged_at")?,
    })
}

/// The account's passkeys, oldest first.
pub async fn passkeys(connection: &mut impl AsConn, user_id: UserId) -> sqlx::Result<Vec<PasskeyRow>> {
    crate::on_db!(connection.conn(), c => {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY id"))
            .bind(user_id)
            .fetch_all(c)
            .await?;
        rows.iter().map(row_of).collect()
    })
}

/// The passkey with this credential id (hex), whoever's it is.
pub async fn by_credential(
    connection: &mut impl AsConn,
    credential_id: &str,
) -> sqlx::Result<Option<PasskeyRow>> {
    crate::on_db!(connection.conn(), c => {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM passkeys WHERE credential_id = $1"))
            .bind(credential_id)
            .fetch_optional(c)
            .await?;
        row.as_ref().map(row_of).transpose()
    })
}

/// The account's passkey handle, if it has one.
pub async fn handle(connection: &mut impl AsConn, user_id: UserId) -> sqlx::Result<Option<String>> {
    crate::on_db!(connection.conn(), c => sqlx::query_scalar::<_, Option<String>>("SELECT passkey_handle FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(c)
        .await)
    .map(Option::flatten)
}

/// Gives the account `handle` unless it has one already; the handle it has now.
pub async fn ensure_handle(
    connection: &mut impl AsConn,
    user_id: UserId,
    handle: &str,
) -> sqlx::Result<Option<String>> {
    crate::on_db!(connection.conn(), c => {
        sqlx::query("UPDATE users SET passkey_handle = $1 WHERE id = $2 AND passkey_handle IS NULL")
            .bind(handle)
            .bind(user_id)
            .execute(&mut *c)
            .await?;
        sqlx::query_scalar::<_, Option<String>>("SELECT passkey_handle FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut *c)
            .await
    })
    .map(Option::flatten)
}

/// A new passkey for the account; `false` when its credential id is registered already
/// (to this account or another).
#[allow(clippy::too_many_arguments)]
pub async fn insert(
    connection: &mut impl AsConn,
    user_id: UserId,
    credential_id: &str,
    credential: &str,
    (name, counter): (&str, i64),
    (discoverable, synced): (bool, bool),
    now: UnixTime,
) -> sqlx::Result<bool> {
    let done = crate::on_db!(connection.conn(), c => sqlx::query(
        "INSERT INTO passkeys (user_id, credential_id, credential, counter, name, discoverable, synced, created_at) \
         VALUES ($1, $2, $3, $8, $4, $5, $6, $7) ON CONFLICT (credential_id) DO NOTHING",
    )
    .bind(user_id)
    .bind(credential_id)
    .bind(credential)
    .bind(name)
    .bind(i64::from(discoverable))
    .bind(i64::from(synced))
    .bind(now)
    .bind(counter)
    .execute(c)
    .await.map(Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// Records a use: the credential as the library updated it (only forward: a counter never
/// moves back), the backup state seen, the time. `false` when the passkey is gone or was
/// set aside meanwhile (removed, reset by an admin): the use does not count.
pub async fn used(
    connection: &mut impl AsConn,
    id: i64,
    (credential, counter): (Option<&str>, i64),
    synced: bool,
    now: UnixTime,
) -> sqlx::Result<bool> {
    crate::on_db!(connection.conn(), c => {
        let done = sqlx::query("UPDATE passkeys SET last_used_at = $1, synced = $2 WHERE id = $3 AND flagged_at IS NULL")
            .bind(now)
            .bind(i64::from(synced))
            .bind(id)
            .execute(&mut *c)
            .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if let Some(credential) = credential {
            sqlx::query("UPDATE passkeys SET credential = $1, counter = $2 WHERE id = $3 AND counter <= $2")
                .bind(credential)
                .bind(counter)
                .bind(id)
                .execute(&mut *c)
                .await?;
        }
        Ok(true)
    })
}

/// Marks a passkey whose counter went backwards: it signs in no more. `true` the first time.
pub async fn flag(connection: &mut impl AsConn, id: i64, now: UnixTime) -> sqlx::Result<bool> {
    let done = crate::on_db!(connection.conn(), c => sqlx::query(
        "UPDATE passkeys SET flagged_at = $1 WHERE id = $2 AND flagged_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(c)
    .await.map(Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// Renames the account's passkey; `false` when it has no such passkey.
pub async fn rename(
    connection: &mut impl AsConn,
    user_id: UserId,
    id: i64,
    name: &str,
) -> sqlx::Result<bool> {
    let done = crate::on_db!(connection.conn(), c => sqlx::query(
        "UPDATE passkeys SET name = $1 WHERE id = $2 AND user_id = $3",
    )
    .bind(name)
    .bind(id)
    .bind(user_id)
    .execute(c)
    .await.map(Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// Removes the account's passkey; its name, or `None` when it has no such passkey.
pub async fn remove(connection: &mut impl AsConn, user_id: UserId, id: i64) -> sqlx::Result<Option<String>> {
    crate::on_db!(connection.conn(), c => sqlx::query_scalar::<_, String>(
        "DELETE FROM passkeys WHERE id = $1 AND user_id = $2 RETURNING name",
    )
    .bind(id)
    .bind(user_id)
    .fetch_optional(c)
    .await)
}

/// How many passkeys the account has that may still sign in (none set aside).
pub async fn count_usable(connection: &mut impl AsConn, user_id: UserId) -> sqlx::Result<i64> {
    crate::on_db!(connection.conn(), c => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM passkeys WHERE user_id = $1 AND flagged_at IS NULL")
        .bind(user_id)
        .fetch_one(c)
        .await)
}

/// How many passkeys the account has.
pub async fn count(connection: &mut impl AsConn, user_id: UserId) -> sqlx::Result<i64> {
    crate::on_db!(connection.conn(), c => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM passkeys WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(c)
        .await)
}

/// Removes every passkey of the account and its ceremonies (the factor reset).
pub async fn remove_all(connection: &mut impl AsConn, user_id: UserId) -> sqlx::Result<u64> {
    crate::on_db!(connection.conn(), c => {
        let done = sqlx::query("DELETE FROM passkeys WHERE user_id = $1").bind(user_id).execute(&mut *c).await?;
        sqlx::query("DELETE FROM passkey_ceremonies WHERE user_id = $1").bind(user_id).execute(&mut *c).await?;
        Ok(done.rows_affected())
    })
}

/// Stores a ceremony's state under `key`, replacing any earlier one under it.
pub async fn put_ceremony(
    connection: &mut impl AsConn,
    key: &str,
    user_id: Option<UserId>,
    state: &str,
    expires_at: UnixTime,
) -> sqlx::Result<()> {
    crate::on_db!(connection.conn(), c => sqlx::query(
        "INSERT INTO passkey_ceremonies (ceremony_key, user_id, state, expires_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (ceremony_key) DO UPDATE SET user_id = excluded.user_id, state = excluded.state, \
         expires_at = excluded.expires_at",
    )
    .bind(key)
    .bind(user_id)
    .bind(state)
    .bind(expires_at)
    .execute(c)
    .await.map(Done::from))?;
    Ok(())
}

/// Takes the ceremony under `key` (it is gone afterwards, whatever happens next): its
/// account and state, if it was there and alive.
pub async fn take_ceremony(
    connection: &mut impl AsConn,
    key: &str,
    now: UnixTime,
) -> sqlx::Result<Option<(Option<UserId>, String)>> {
    crate::on_db!(connection.conn(), c => {
        let row = sqlx::query("DELETE FROM passkey_ceremonies WHERE ceremony_key = $1 RETURNING user_id, state, expires_at")
            .bind(key)
            .fetch_optional(c)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let expires_at: i64 = row.try_get("expires_at")?;
        if expires_at <= now {
            return Ok(None);
        }
        Ok(Some((row.try_get("user_id")?, row.try_get("state")?)))
    })
}

/// Deletes ceremonies past their time. How many.
pub async fn delete_expired(connection: &mut impl AsConn, now: UnixTime) -> sqlx::Result<u64> {
    let done = crate::on_db!(connection.conn(), c => sqlx::query("DELETE FROM passkey_ceremonies WHERE expires_at <= $1")
        .bind(now)
        .execute(c)
        .await.map(Done::from))?;
    Ok(done.rows_affected())
}
