//! The audit log: security events in OWASP's logging vocabulary ("Application Logging
//! Vocabulary Cheat Sheet"), kept in the database beside what they record.
//!
//! An event is written with [`record`] on the transaction that makes the change it
//! records, so a change that fails leaves no event and no change commits without one.
//! The table is append-only (triggers refuse updates and deletes), but for one kind of
//! row: failed sign-ins naming an address without an account, deleted after
//! [`UNKNOWN_FAILURES_KEPT_SECS`] by the clean-up pass. What an event says is
//! never a password, token, session id or raw address: actor and subject are user ids,
//! and `details` carries only what the event's own code puts there.

use crate::db::{AsConn, DbRow, Pool};
use serde::Serialize;

use crate::{accounts::UserId, clock::UnixTime};

mod event;
pub use event::Event;

/// Where a request came from, as the audit log keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    pub ip: Option<String>,
    /// A short summary of the user agent (see `sessions::describe_device`).
    pub device: Option<String>,
    /// The request's `x-request-id`, to find its log lines.
    pub request_id: Option<String>,
    /// Set when the request was made by an admin impersonating the account: every event
    /// it writes names the admin as its actor and the impersonation.
    pub impersonation: Option<OnBehalf>,
}

/// An admin acting as a user (see `impersonation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnBehalf {
    pub admin: UserId,
    /// The impersonated user: an entry naming them as its actor names the admin instead.
    pub user: UserId,
    pub impersonation: i64,
}

impl Context {
    /// For changes made outside any request (the command line).
    pub fn command_line() -> Self {
        Self { device: Some("command line".to_owned()), ..Self::default() }
    }
}

/// One event to write.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub event: Event,
    pub success: bool,
    pub actor: Option<UserId>,
    pub subject: Option<UserId>,
    pub context: &'a Context,
    /// A JSON object; never a secret or a raw address.
    pub details: serde_json::Value,
    /// The impersonation this event belongs to (also taken from the context).
    pub impersonation: Option<i64>,
}

impl<'a> Entry<'a> {
    /// A successful `event` by `actor` about `subject`, with no details.
    pub fn new(event: Event, actor: Option<UserId>, subject: Option<UserId>, context: &'a Context) -> Self {
        Self {
            event,
            success: true,
            actor,
            subject,
            context,
            details: serde_json::json!({}),
            impersonation: None,
        }
    }

    pub fn failed(mut self) -> Self {
        self.success = false;
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    /// Marks the event as part of impersonation `id`.
    pub fn during(mut self, id: i64) -> Self {
        self.impersonation = Some(id);
        self
    }
}

/// Writes `entry` at `at` on `connection`: pass the transaction that makes the change.
/// During an impersonation (see [`Context::impersonation`]) the actor is the admin, whoever
/// the entry names, and the event carries the impersonation's id.
pub async fn record(connection: &mut impl AsConn, at: UnixTime, entry: &Entry<'_>) -> sqlx::Result<()> {
    let on_behalf = entry.context.impersonation;
    let actor = match on_behalf {
        Some(by) if entry.actor == Some(by.user) => Some(by.admin),
        _ => entry.actor,
    };
    let impersonation = entry.impersonation.or(on_behalf.map(|by| by.impersonation));
    crate::on_db!(connection.conn(), c => sqlx::query(
        "INSERT INTO audit_events \
         (at, event, outcome, actor_id, subject_id, ip, device, request_id, details, impersonation_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(at)
    .bind(entry.event.as_str())
    .bind(if entry.success { "success" } else { "failure" })
    .bind(actor)
    .bind(entry.subject)
    .bind(entry.context.ip.as_deref())
    .bind(entry.context.device.as_deref())
    .bind(entry.context.request_id.as_deref())
    .bind(entry.details.to_string())
    .bind(impersonation)
    .execute(c)
    .await.map(crate::db::Done::from))?;
    Ok(())
}

/// A written event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recorded {
    pub id: i64,
    pub at: UnixTime,
    pub event: String,
    pub success: bool,
    pub actor: Option<UserId>,
    pub subject: Option<UserId>,
    pub ip: Option<String>,
    pub device: Option<String>,
    pub request_id: Option<String>,
    pub details: String,
    /// The impersonation the event belongs to, if any.
    pub impersonation: Option<i64>,
}

/// Reading the log (writing is [`record`], on the change's own transaction).
#[derive(Clone)]
pub struct AuditLog {
    pool: Pool,
}

impl AuditLog {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Events matching `filter`, newest first.
    pub async fn list(&self, filter: &Filter) -> sqlx::Result<Vec<Recorded>> {
        list(&self.pool, filter).await
    }

    /// Deletes failed sign-ins naming an address without an account (no subject) from
    /// before `before` (the clean-up pass: see [`UNKNOWN_FAILURES_KEPT_SECS`]); how many.
    /// Every other event is kept, and none younger than 30 days by the database's own clock
    /// (the triggers hold to that too). On PostgreSQL through a function that runs as the
    /// audit table's owner, so a serving role that may not delete audit rows can delete these.
    pub async fn prune_unknown_failures(&self, before: UnixTime) -> sqlx::Result<u64> {
        match &self.pool {
            crate::db::Db::Sqlite(pool) => Ok(sqlx::query(
                "DELETE FROM audit_events WHERE event = 'authn_login_fail' AND subject_id IS NULL \
                 AND at < MIN($1, CAST(strftime('%s', 'now') AS INTEGER) - 2592000)",
            )
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected()),
            crate::db::Db::Postgres(pool) => {
                let gone: i64 = sqlx::query_scalar("SELECT bulwark_prune_unknown_login_failures($1)")
                    .bind(before)
                    .fetch_one(pool)
                    .await?;
                Ok(u64::try_from(gone).unwrap_or(0))
            }
        }
    }
}

/// How long a failed sign-in naming an address without an account stays in the audit log:
/// 30 days. It names nobody (no subject, no address, only the IP, the device summary and
/// the request id), it is what a flood of guesses at random addresses leaves behind, and
/// after a month it helps no investigation that the server's logs and the throttle have
/// not served already. Failed sign-ins of an account stay with the account's history.
pub const UNKNOWN_FAILURES_KEPT_SECS: i64 = 30 * 24 * 60 * 60;

/// Which events to read, newest first, at most `limit`, older than `before` (an event id:
/// keyset pagination, stable while new events arrive).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub event: Option<Event>,
    pub actor: Option<UserId>,
    pub subject: Option<UserId>,
    /// Events about or by this user (their own activity page).
    pub involving: Option<UserId>,
    pub from: Option<UnixTime>,
    pub until: Option<UnixTime>,
    pub before: Option<i64>,
    pub limit: u32,
}

pub async fn list(pool: &Pool, filter: &Filter) -> sqlx::Result<Vec<Recorded>> {
    crate::on_db!(pool, c => {
        let rows = sqlx::query(
            "SELECT id, at, event, outcome, actor_id, subject_id, ip, device, request_id, details, impersonation_id \
             FROM audit_events \
             WHERE ($1 IS NULL OR event = $1) AND ($2 IS NULL OR actor_id = $2) AND ($3 IS NULL OR subject_id = $3) \
               AND ($4 IS NULL OR actor_id = $4 OR subject_id = $4) AND ($5 IS NULL OR at >= $5) \
               AND ($6 IS NULL OR at < $6) AND ($7 IS NULL OR id < $7) \
             ORDER BY id DESC LIMIT $8",
        )
        .bind(filter.event.map(Event::as_str))
        .bind(filter.actor)
        .bind(filter.subject)
        .bind(filter.involving)
        .bind(filter.from)
        .bind(filter.until)
        .bind(filter.before)
        .bind(i64::from(filter.limit.clamp(1, 200)))
        .fetch_all(c)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Recorded {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    event: row.try_get("event")?,
                    success: row.try_get::<String>("outcome")? == "success",
                    actor: row.try_get("actor_id")?,
                    subject: row.try_get("subject_id")?,
                    ip: row.try_get("ip")?,
                    device: row.try_get("device")?,
                    request_id: row.try_get("request_id")?,
                    details: row.try_get("details")?,
                    impersonation: row.try_get("impersonation_id")?,
                })
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db;

    async fn pool() -> (Pool, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = db::connect(&format!("sqlite://{}/a.db", dir.path().display())).await.expect("db");
        db::migrate(&pool).await.expect("migrate");
        (pool, dir)
    }

    #[tokio::test]
    async fn an_event_is_kept_only_if_its_transaction_commits() {
        let (pool, _dir) = pool().await;
        let context = Context::command_line();
        let mut tx = pool.begin().await.expect("tx");
        record(&mut tx, 1, &Entry::new(Event::UserDisabled, Some(1), Some(2), &context))
            .await
            .expect("write");
        tx.rollback().await.expect("rollback");
        let filter = Filter { limit: 10, ..Filter::default() };
        assert!(list(&pool, &filter).await.expect("list").is_empty());

        let mut tx = pool.begin().await.expect("tx");
        record(&mut tx, 2, &Entry::new(Event::UserEnabled, Some(1), Some(2), &context)).await.expect("write");
        tx.commit().await.expect("commit");
        let events = list(&pool, &filter).await.expect("list");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event, "user_enabled");
        assert_eq!(events[0].device.as_deref(), Some("command line"));
    }

    #[tokio::test]
    async fn written_events_cannot_be_changed_or_deleted() {
        let (pool, _dir) = pool().await;
        let mut connection = pool.acquire().await.expect("connection");
        record(
            &mut connection,
            1,
            &Entry::new(Event::LoginFail, None, Some(2), &Context::default()).failed(),
        )
        .await
        .expect("write");
        assert!(crate::on_db!(&pool, c => sqlx::query("UPDATE audit_events SET outcome = 'success'").execute(c).await.map(|_| ())).is_err());
        assert!(
            crate::on_db!(&pool, c => sqlx::query("DELETE FROM audit_events").execute(c).await.map(|_| ()))
                .is_err()
        );
        let events = list(&pool, &Filter { limit: 10, ..Filter::default() }).await.expect("list");
        assert_eq!(events.len(), 1);
        assert!(!events[0].success);
    }

    #[tokio::test]
    async fn only_old_failed_sign_ins_naming_no_account_are_pruned() {
        let (pool, _dir) = pool().await;
        let context = Context::default();
        let mut connection = pool.acquire().await.expect("connection");
        let entries = [
            (100, Entry::new(Event::LoginFail, None, None, &context).failed()),
            (100, Entry::new(Event::LoginFail, None, Some(2), &context).failed()),
            (100, Entry::new(Event::UserEnabled, Some(1), None, &context)),
            (300, Entry::new(Event::LoginFail, None, None, &context).failed()),
        ];
        for (at, entry) in &entries {
            record(&mut connection, *at, entry).await.expect("write");
        }
        let log = AuditLog::new(pool.clone());
        assert_eq!(log.prune_unknown_failures(200).await.expect("prune"), 1);
        let left = list(&pool, &Filter { limit: 10, ..Filter::default() }).await.expect("list");
        let left: Vec<_> = left.iter().map(|e| (e.at, e.event.as_str(), e.subject)).collect();
        assert_eq!(
            left,
            [
                (300, "authn_login_fail", None),
                (100, "user_enabled", None),
                (100, "authn_login_fail", Some(2))
            ]
        );
        assert!(
            crate::on_db!(&pool, c => sqlx::query("DELETE FROM audit_events WHERE event = 'user_enabled'").execute(c).await.map(|_| ()))
                .is_err(),
            "everything else stays append-only"
        );
    }

    #[tokio::test]
    async fn pages_follow_ids_so_new_events_do_not_shift_them() {
        let (pool, _dir) = pool().await;
        let context = Context::default();
        let mut connection = pool.acquire().await.expect("connection");
        for subject in 1..=5 {
            record(
                &mut connection,
                subject,
                &Entry::new(Event::LoginSuccess, Some(subject), Some(subject), &context),
            )
            .await
            .expect("write");
        }
        let first = list(&pool, &Filter { limit: 2, ..Filter::default() }).await.expect("page");
        assert_eq!(first.iter().map(|e| e.subject).collect::<Vec<_>>(), [Some(5), Some(4)]);
        record(&mut connection, 9, &Entry::new(Event::LoginSuccess, Some(9), Some(9), &context))
            .await
            .expect("write");
        let second = list(&pool, &Filter { limit: 2, before: Some(first[1].id), ..Filter::default() })
            .await
            .expect("page");
        assert_eq!(second.iter().map(|e| e.subject).collect::<Vec<_>>(), [Some(3), Some(2)]);
        let mine =
            list(&pool, &Filter { limit: 10, involving: Some(9), ..Filter::default() }).await.expect("mine");
        assert_eq!(mine.len(), 1);
        let by_event = list(&pool, &Filter { limit: 10, event: Some(Event::LoginFail), ..Filter::default() })
            .await
            .expect("none");
        assert!(by_event.is_empty());
    }

    #[tokio::test]
    async fn during_an_impersonation_the_users_own_actions_name_the_admin() {
        let (pool, _dir) = pool().await;
        let context = Context {
            impersonation: Some(OnBehalf { admin: 1, user: 2, impersonation: 7 }),
            ..Context::default()
        };
        let mut connection = pool.acquire().await.expect("connection");
        record(&mut connection, 1, &Entry::new(Event::SessionsRevoked, Some(2), Some(2), &context))
            .await
            .expect("write");
        record(&mut connection, 2, &Entry::new(Event::UserLocked, Some(3), Some(2), &context))
            .await
            .expect("write");
        let events = list(&pool, &Filter { limit: 10, ..Filter::default() }).await.expect("list");
        assert_eq!((events[1].actor, events[1].impersonation), (Some(1), Some(7)), "the admin acted");
        assert_eq!(
            (events[0].actor, events[0].impersonation),
            (Some(3), Some(7)),
            "a third party stays itself"
        );
    }

    #[test]
    fn every_event_name_reads_back() {
        for event in Event::ALL {
            assert_eq!(Event::parse(event.as_str()), Some(event));
        }
    }
}
