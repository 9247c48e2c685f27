//! `server backup`: a consistent copy of a live SQLite database (see [`backup_sqlite`]).

use std::{path::Path, time::Duration};

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use super::{parse, Backend, DbError, Url};

/// Why a backup was not made.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0} exists: a backup is written to a new file and never over another")]
    Exists(String),
    #[error("could not write {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("the copy could not be made: {0}")]
    Copy(#[source] sqlx::Error),
    #[error("the copy is damaged ({0}); it was deleted")]
    Damaged(String),
    #[error(
        "this is a PostgreSQL database: back it up with pg_dump (see docs/operators/backup.md); `server backup` copies SQLite files"
    )]
    Postgres,
}

/// What a backup keeps none of: sessions (the registry and the session store), sign-ins
/// waiting for their second step, passkey ceremonies under way, and queued mail (its
/// bodies hold working links in plain text, and a restore would send them again).
fn session_tables() -> [&'static str; 5] {
    [
        "session_registry",
        crate::sessions::store_table(Backend::Sqlite),
        "second_steps",
        "passkey_ceremonies",
        "mail_outbox",
    ]
}

/// What [`backup_sqlite`] made.
#[derive(Debug)]
pub struct Backup {
    /// Its size in bytes.
    pub bytes: u64,
    /// The accounts in it (erased ones' tombstones included).
    pub users: i64,
    /// The migrations it carries.
    pub migrations: i64,
}

/// Copies the SQLite database at `url` to a new file `to`, consistently, while other
/// connections (a serving instance) go on reading and writing: SQLite's `VACUUM INTO`
/// reads one snapshot in one read transaction, which in WAL mode blocks no writer. The
/// copy is written under `to` + `.partial` (owner-only: it holds password hashes and sealed
/// secrets), checked (`PRAGMA integrity_check`), and only then renamed to `to`; a copy that
/// fails is deleted. The database must exist; nothing in it changes.
pub async fn backup_sqlite(url: &str, to: &Path) -> Result<Backup, BackupError> {
    let options = match parse(url)? {
        Url::Sqlite(options) => options.create_if_missing(false).busy_timeout(Duration::from_secs(5)),
        Url::Postgres(_) => return Err(BackupError::Postgres),
    };
    // Absolute: SQLite reads a name that starts with `file:` as a URI, which could name
    // another file than the one created here.
    let to = &std::path::absolute(to)
        .map_err(|source| BackupError::Write { path: to.display().to_string(), source })?;
    let shown = to.display().to_string();
    if to.exists() {
        return Err(BackupError::Exists(shown));
    }
    let partial = to.with_file_name(format!(
        "{}.partial",
        to.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    let write_error = |source| BackupError::Write { path: partial.display().to_string(), source };
    {
        let mut file = std::fs::OpenOptions::new();
        file.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
        // Empty: VACUUM INTO writes into an empty file, and keeps its permissions.
        file.open(&partial).map_err(write_error)?;
    }
    let copied = async {
        let one = || SqlitePoolOptions::new().max_connections(1);
        let source = one().connect_with(options).await.map_err(DbError::Open)?;
        let target = partial.to_str().ok_or_else(|| BackupError::Write {
            path: partial.display().to_string(),
            source: std::io::Error::other("not UTF-8"),
        })?;
        sqlx::query("VACUUM INTO $1").bind(target).execute(&source).await.map_err(BackupError::Copy)?;
        source.close().await;
        let copy = SqliteConnectOptions::new().filename(&partial);
        let copy = one().connect_with(copy).await.map_err(DbError::Open)?;
        // Nothing restored from a backup may bring a session back that ended after it was
        // made (signed out, revoked by a password change or an admin): the copy keeps
        // none, nor any sign-in half done, nor a mail with a link in it. Overwritten, not
        // merely freed.
        let mut ending = copy.begin().await.map_err(BackupError::Copy)?;
        sqlx::query("PRAGMA secure_delete = ON").execute(&mut *ending).await.map_err(BackupError::Copy)?;
        for table in session_tables() {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *ending)
                .await
                .map_err(BackupError::Copy)?;
        }
        ending.commit().await.map_err(BackupError::Copy)?;
        let integrity: String =
            sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&copy).await.map_err(BackupError::Copy)?;
        if integrity != "ok" {
            return Err(BackupError::Damaged(integrity));
        }
        let users = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&copy)
            .await
            .map_err(BackupError::Copy)?;
        let migrations = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(&copy)
            .await
            .map_err(BackupError::Copy)?;
        copy.close().await;
        Ok((users, migrations))
    }
    .await;
    let (users, migrations) = match copied {
        Ok(counts) => counts,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
    };
    // A link, not a rename: it fails if FILE appeared meanwhile, instead of replacing it.
    let linked = std::fs::hard_link(&partial, to);
    let _ = std::fs::remove_file(&partial);
    match linked {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(BackupError::Exists(shown))
        }
        Err(source) => return Err(BackupError::Write { path: shown, source }),
    }
    let bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or_default();
    Ok(Backup { bytes, users, migrations })
}
