//! Every SQL statement about users, in one place. Runtime-checked queries (not the
//! compile-time macros) keep the crate buildable without a database and portable to the
//! PostgreSQL backend.

use sqlx::{Row, SqlitePool};

use super::{User, UserId};
use crate::{Email, Role};

pub struct NewUser<'a> {
    pub email: &'a str,
    pub username: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub created_at: i64,
}

/// Inserts the user; `None` when the email or username is already taken (the
/// `ON CONFLICT DO NOTHING` covers both unique constraints, atomically).
pub async fn insert_user(pool: &SqlitePool, user: &NewUser<'_>) -> sqlx::Result<Option<UserId>> {
    sqlx::query_scalar(
        "INSERT INTO users (email, username, display_name, password_hash, created_at) \
         VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(user.email)
    .bind(user.username)
    .bind(user.display_name)
    .bind(user.password_hash)
    .bind(user.created_at)
    .fetch_optional(pool)
    .await
}

const USER_COLUMNS: &str = "id, email, display_name, role, session_epoch";

fn user_from_row(row: &sqlx::sqlite::SqliteRow) -> sqlx::Result<User> {
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        username: row.try_get("display_name")?,
        role: Role::parse_lenient(row.try_get::<&str, _>("role")?),
        session_epoch: row.try_get("session_epoch")?,
    })
}

pub async fn find_credentials(pool: &SqlitePool, email: &Email) -> sqlx::Result<Option<(User, String)>> {
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = ?"))
        .bind(email.as_str())
        .fetch_optional(pool)
        .await?;
    row.map(|row| Ok((user_from_row(&row)?, row.try_get("password_hash")?))).transpose()
}

pub async fn find_user(pool: &SqlitePool, id: UserId) -> sqlx::Result<Option<User>> {
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(user_from_row).transpose()
}
