//! The `mail_outbox` table: every SQL statement about queued mail, in one place.
//!
//! Senders *claim* due rows by leasing them (`claimed_until`, and `lease`: a token of the
//! claim), so two instances never send the same row at once; a sender that dies mid-send
//! only delays that mail by the lease. Every later step acts only for the claim that holds
//! the row: a sender renews its lease right before each send and skips a mail whose lease
//! another sender has taken over since (a batch can outlast a lease: twenty mails to a
//! server that times out after 30 s each), and its `sent` and `failed` change nothing then,
//! so it can neither delete the other's row nor free it for a third sender. A sent mail's row is deleted; a failed one is retried with backoff, and after
//! the last attempt it is deleted too (its link would be long expired anyway).

use std::sync::Arc;

use crate::db::{AsConn, Backend, Done, Pool};
use tokio::sync::Notify;
use tokio_util::task::TaskTracker;

use super::Mail;
use crate::clock::{SharedClock, UnixTime};

/// How long a claimed row is reserved for the sender that claimed it.
pub(super) const LEASE_SECS: i64 = 120;
/// How long the mail log keeps a delivered mail's kind, subject and time: a year.
pub const MAIL_LOG_KEPT_SECS: i64 = 365 * 24 * 60 * 60;

/// The queue. Cheap to clone; clones share the wake-up signal and the work left behind
/// by responses ([`Self::after_response`]).
#[derive(Clone)]
pub struct Outbox {
    pool: Pool,
    clock: SharedClock,
    wake: Arc<Notify>,
    behind: TaskTracker,
    /// One [`Self::settled`] at a time: another's reopening must not strand a waiter.
    settling: Arc<tokio::sync::Mutex<()>>,
}

/// A mail taken from the queue for one delivery attempt.
#[derive(Clone, sqlx::FromRow)]
pub struct Queued {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    #[sqlx(rename = "body_text")]
    pub text: String,
    #[sqlx(rename = "body_html")]
    pub html: String,
    /// Attempts made before this one.
    #[sqlx(try_from = "i64")]
    pub attempts: u32,
    /// The claim this delivery attempt holds the row by.
    #[sqlx(default)]
    pub lease: String,
}

impl std::fmt::Debug for Queued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queued").field("id", &self.id).field("kind", &self.kind).finish_non_exhaustive()
    }
}

/// What became of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    At(UnixTime),
    GaveUp,
}

impl Outbox {
    pub fn new(pool: Pool, clock: SharedClock) -> Self {
        Self {
            pool,
            clock,
            wake: Arc::new(Notify::new()),
            behind: TaskTracker::new(),
            settling: Arc::default(),
        }
    }

    /// Runs `work` (typically: look an address up, maybe queue a mail) in a task of its
    /// own, so the response that triggered it neither waits for it nor takes longer when it
    /// finds something to do. Failures are logged as `what`. [`Self::settled`] waits for it.
    pub fn after_response<E: std::fmt::Display>(
        &self,
        what: &'static str,
        work: impl std::future::Future<Output = Result<(), E>> + Send + 'static,
    ) {
        // In the request's span, so its lines carry the request's id.
        self.behind.spawn(tracing::Instrument::in_current_span(async move {
            if let Err(error) = work.await {
                tracing::error!(error = %error, "{what} failed");
            }
        }));
    }

    /// Runs `work` in a task of its own that [`Self::settled`] waits for, and hands back its
    /// handle (for a request that waits for it a while, then answers anyway).
    pub fn track<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        self.behind.spawn(tracing::Instrument::in_current_span(work))
    }

    /// Waits until every piece of work responses left behind so far has finished (and any
    /// started meanwhile): for a clean shutdown, and for tests that compare the database
    /// before and after a request.
    pub async fn settled(&self) {
        let _one_at_a_time = self.settling.lock().await;
        self.behind.close();
        self.behind.wait().await;
        self.behind.reopen();
    }

    /// Queues `mail` for delivery now and wakes the sender. Returns the row id.
    pub async fn enqueue(&self, mail: &Mail) -> sqlx::Result<i64> {
        self.enqueue_at(mail, self.clock.now()).await
    }

    /// Queues `mail` for delivery at `due` (now, or a later minute when link mail runs over
    /// the site-wide rate). Returns the row id.
    pub async fn enqueue_at(&self, mail: &Mail, due: UnixTime) -> sqlx::Result<i64> {
        let mut connection = self.pool.acquire().await?;
        let id = self.insert(&mut connection, mail, due).await?;
        self.wake();
        Ok(id)
    }

    /// Queues `mail` on `connection` (a transaction: the mail is sent only if it commits);
    /// call [`Self::wake`] after the commit.
    pub async fn enqueue_in(&self, connection: &mut impl AsConn, mail: &Mail) -> sqlx::Result<i64> {
        self.insert(connection, mail, self.clock.now()).await
    }

    async fn insert(&self, connection: &mut impl AsConn, mail: &Mail, due: UnixTime) -> sqlx::Result<i64> {
        let now = self.clock.now();
        let id = crate::on_db!(connection.conn(), c => sqlx::query_scalar(
            "INSERT INTO mail_outbox (kind, recipient, subject, body_text, body_html, created_at, \
             next_attempt_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(mail.kind.as_str())
        .bind(mail.to.as_str())
        .bind(&mail.subject)
        .bind(&mail.text)
        .bind(&mail.html)
        .bind(now)
        .bind(due.max(now))
        .bind(mail.valid_for_secs.map(|secs| now.saturating_add(secs)))
        .fetch_one(c)
        .await)?;
        // Debug, not info: a reset or resend for an address without an account queues
        // nothing, so a queue line at info would tell a log reader which requests found one.
        tracing::debug!(event = "mail_queued", outbox_id = id, kind = mail.kind.log_name());
        crate::metrics::mail(crate::metrics::MailEvent::Queued);
        Ok(id)
    }

    /// Wakes the sender (after queueing).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Resolves when something was queued since the last call (or right away if so).
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Deletes queued mail whose link has expired (a link sits in clear text here no longer
    /// than it works); returns their ids and kinds for the log.
    pub async fn drop_expired(&self) -> sqlx::Result<Vec<(i64, String)>> {
        let sql =
            "DELETE FROM mail_outbox WHERE expires_at IS NOT NULL AND expires_at <= $1 RETURNING id, kind";
        crate::on_db!(&self.pool, p => sqlx::query_as(sql).bind(self.clock.now()).fetch_all(p).await)
    }

    /// Leases up to `limit` due mails to the caller. Each mail is leased to one sender
    /// at a time, whichever instance it runs in: the statement re-checks the lease
    /// (`claimed_until`) on the row it updates, and on PostgreSQL rows another sender is
    /// leasing right now are skipped (`FOR UPDATE SKIP LOCKED`) rather than waited for.
    pub async fn claim_due(&self, limit: u32) -> sqlx::Result<Vec<Queued>> {
        let now = self.clock.now();
        // SQLite has one writer at a time, so its statement needs no row locks.
        let lock = match self.pool.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE mail_outbox SET claimed_until = $1, lease = $4 WHERE id IN ( \
                 SELECT id FROM mail_outbox WHERE next_attempt_at <= $2 AND claimed_until <= $2 \
                 ORDER BY next_attempt_at, id LIMIT $3 {lock}) \
             AND claimed_until <= $2 \
             RETURNING id, kind, recipient, subject, body_text, body_html, attempts, lease"
        );
        let lease = crate::token::random_handle();
        let mut claimed: Vec<Queued> = crate::on_db!(&self.pool, p => sqlx::query_as(&sql)
            .bind(now + LEASE_SECS)
            .bind(now)
            .bind(i64::from(limit))
            .bind(&lease)
            .fetch_all(p)
            .await)?;
        claimed.sort_by_key(|q| q.id);
        Ok(claimed)
    }

    /// Right before sending: extends the lease if this claim still holds the row. `false`:
    /// another sender took it over (this one's lease ran out); do not send it.
    pub async fn renew(&self, queued: &Queued) -> sqlx::Result<bool> {
        let done = crate::on_db!(&self.pool, p => sqlx::query(
            "UPDATE mail_outbox SET claimed_until = $1 WHERE id = $2 AND lease = $3",
        )
        .bind(self.clock.now() + LEASE_SECS)
        .bind(queued.id)
        .bind(&queued.lease)
        .execute(p)
        .await
        .map(Done::from))?;
        Ok(done.rows_affected() == 1)
    }

    /// Not attempted (the sender is stopping): the claim is given up, so another sender, or
    /// this one at its next start, takes the mail at once instead of after the lease.
    pub async fn release(&self, queued: &Queued) -> sqlx::Result<()> {
        crate::on_db!(&self.pool, p => sqlx::query(
            "UPDATE mail_outbox SET claimed_until = 0 WHERE id = $1 AND lease = $2",
        )
        .bind(queued.id)
        .bind(&queued.lease)
        .execute(p)
        .await
        .map(Done::from))?;
        Ok(())
    }

    /// Delivered: the row (and the link in it) is deleted, if this claim holds it; then,
    /// when the address is an account's, the mail's kind, subject and time go to the mail
    /// log (the owner's data export lists them). The log is written after the row is gone
    /// and on its own: a failure to log never sends a mail twice, and never waits for the
    /// write lock.
    pub async fn sent(&self, queued: &Queued) -> sqlx::Result<()> {
        self.forget(queued).await?;
        // Approval notices' subjects name accounts: logged under a fixed subject.
        let subject = if queued.kind == super::MailKind::AdminApproval.as_str() {
            "Approval notice (administrators)"
        } else {
            queued.subject.as_str()
        };
        let logged = crate::on_db!(&self.pool, p => sqlx::query(
            "INSERT INTO mail_log (user_id, kind, subject, sent_at) \
             SELECT u.id, $1, $2, $3 FROM users u WHERE u.email = $4 AND u.erased_at IS NULL",
        )
        .bind(&queued.kind)
        .bind(subject)
        .bind(self.clock.now())
        .bind(&queued.recipient)
        .execute(p)
        .await
        .map(Done::from));
        if let Err(error) = logged {
            tracing::warn!(mail_id = queued.id, error = %error, "a delivered mail could not be logged");
        }
        Ok(())
    }

    /// The row is deleted (delivered, or given up on), if this claim holds it.
    async fn forget(&self, queued: &Queued) -> sqlx::Result<()> {
        crate::on_db!(&self.pool, p => sqlx::query("DELETE FROM mail_outbox WHERE id = $1 AND lease = $2")
            .bind(queued.id)
            .bind(&queued.lease)
            .execute(p)
            .await
            .map(Done::from))?;
        Ok(())
    }

    /// Forgets logged mail older than [`MAIL_LOG_KEPT_SECS`]; how many.
    pub async fn prune_log(&self) -> sqlx::Result<u64> {
        let before = self.clock.now() - MAIL_LOG_KEPT_SECS;
        Ok(crate::on_db!(&self.pool, p => sqlx::query("DELETE FROM mail_log WHERE sent_at < $1")
            .bind(before)
            .execute(p)
            .await
            .map(Done::from))?
        .rows_affected())
    }

    /// Not delivered: schedules the next attempt after `backoff(attempt)` seconds, or,
    /// when `backoff` has no more, deletes the row.
    pub async fn failed(
        &self,
        queued: &Queued,
        error: &str,
        backoff: impl Fn(u32) -> Option<i64>,
    ) -> sqlx::Result<Retry> {
        let attempts = queued.attempts.saturating_add(1);
        match backoff(attempts) {
            Some(delay) => {
                let at = self.clock.now() + delay;
                let sql = "UPDATE mail_outbox SET attempts = $1, next_attempt_at = $2, claimed_until = 0, \
                     last_error = $3 WHERE id = $4 AND lease = $5";
                crate::on_db!(&self.pool, p => sqlx::query(sql)
                    .bind(i64::from(attempts))
                    .bind(at)
                    .bind(error)
                    .bind(queued.id)
                    .bind(&queued.lease)
                    .execute(p)
                    .await
                    .map(Done::from))?;
                Ok(Retry::At(at))
            }
            None => {
                self.forget(queued).await?;
                Ok(Retry::GaveUp)
            }
        }
    }

    /// Mails waiting, and when the oldest of them was queued (for monitoring).
    pub async fn waiting(&self) -> sqlx::Result<(i64, Option<UnixTime>)> {
        crate::on_db!(&self.pool, p => sqlx::query_as("SELECT COUNT(*), MIN(created_at) FROM mail_outbox")
            .fetch_one(p)
            .await)
    }

    /// Mails still waiting (for monitoring and tests).
    pub async fn pending(&self) -> sqlx::Result<i64> {
        crate::on_db!(&self.pool, p => sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox").fetch_one(p).await)
    }
}
