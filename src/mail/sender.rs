//! The background sender: takes due mail from the [`Outbox`], hands it to the transport,
//! and records the outcome. Woken at once when a mail is queued, and otherwise every
//! `poll` for retries (and for mail queued by other instances).

use std::{sync::Arc, time::Duration};

use lettre::message::Mailbox;
use tokio::{sync::watch, task::JoinHandle};

use super::{
    outbox::Retry,
    transport::{build_message, TransportError},
    MailTransport, Outbox, Queued,
};

#[derive(Debug, Clone)]
pub struct SenderPolicy {
    pub poll: Duration,
    /// Mails claimed per round.
    pub batch: u32,
    /// Seconds to wait before each retry; its length is the number of retries.
    pub retry_delays_secs: Vec<i64>,
}

impl Default for SenderPolicy {
    /// Seven attempts over about six hours: 30 s, 2 min, 10 min, 30 min, 1 h, 4 h.
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(10),
            batch: 20,
            retry_delays_secs: vec![30, 120, 600, 1800, 3600, 14_400],
        }
    }
}

impl SenderPolicy {
    /// The delay before attempt `attempts + 1`, or `None` after the last.
    fn backoff(&self, attempts: u32) -> Option<i64> {
        let index = usize::try_from(attempts).ok()?.checked_sub(1)?;
        self.retry_delays_secs.get(index).copied()
    }
}

/// One delivery round: sends everything due now. Returns how many were sent.
pub async fn deliver_due(
    outbox: &Outbox,
    transport: &dyn MailTransport,
    from: &Mailbox,
    policy: &SenderPolicy,
) -> sqlx::Result<usize> {
    deliver_until(outbox, transport, from, policy, &|| false).await
}

/// [`deliver_due`], stopping once `stop()` is true: the delivery under way finishes, the
/// rest of the batch is released for the next sender (see [`Outbox::release`]).
pub async fn deliver_until(
    outbox: &Outbox,
    transport: &dyn MailTransport,
    from: &Mailbox,
    policy: &SenderPolicy,
    stop: &(dyn Fn() -> bool + Sync),
) -> sqlx::Result<usize> {
    let mut sent = 0;
    for (id, kind) in outbox.drop_expired().await? {
        crate::metrics::mail(crate::metrics::MailEvent::Expired);
        tracing::warn!(
            event = "mail_send_fail",
            outbox_id = id,
            kind = super::log_kind(&kind),
            "the link in this mail expired before it could be sent; given up"
        );
    }
    loop {
        if stop() {
            return Ok(sent);
        }
        let batch = outbox.claim_due(policy.batch).await?;
        if batch.is_empty() {
            return Ok(sent);
        }
        for queued in &batch {
            if stop() {
                outbox.release(queued).await?;
                continue;
            }
            // A long batch can outlast the lease: send only while this claim holds the row.
            if !outbox.renew(queued).await? {
                tracing::warn!(
                    event = "mail_lease_lost",
                    outbox_id = queued.id,
                    kind = super::log_kind(&queued.kind),
                    "another sender took this mail over; not sent from here"
                );
                continue;
            }
            match deliver(transport, from, queued).await {
                Ok(()) => {
                    outbox.sent(queued).await?;
                    crate::metrics::mail(crate::metrics::MailEvent::Sent);
                    // Debug: at info, a line right after a reset or resend for an address
                    // would tell a log reader whether it has an account (review O12).
                    tracing::debug!(
                        event = "mail_sent",
                        outbox_id = queued.id,
                        kind = super::log_kind(&queued.kind)
                    );
                    sent += 1;
                }
                Err(error) => {
                    let backoff = |attempts| match &error {
                        TransportError::Permanent(_) => None,
                        TransportError::Transient(_) => policy.backoff(attempts),
                    };
                    match outbox.failed(queued, &error.to_string(), backoff).await? {
                        Retry::At(at) => {
                            crate::metrics::mail(crate::metrics::MailEvent::Retried);
                            tracing::warn!(
                                event = "mail_send_retry", outbox_id = queued.id, kind = super::log_kind(&queued.kind),
                                retry_at = at, error = %error, "mail not sent; will retry"
                            )
                        }
                        Retry::GaveUp => {
                            crate::metrics::mail(crate::metrics::MailEvent::Failed);
                            tracing::error!(
                                event = "mail_send_fail", outbox_id = queued.id, kind = super::log_kind(&queued.kind),
                                error = %error, "mail not sent; giving up"
                            )
                        }
                    }
                }
            }
        }
    }
}

/// The longest one delivery attempt may take: well inside the lease renewed right before
/// it (`outbox::LEASE_SECS`), so a mail server that never answers cannot hold a send past
/// the lease, while another sender takes the mail over and sends it too.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(super::outbox::LEASE_SECS as u64 / 2);

async fn deliver(
    transport: &dyn MailTransport,
    from: &Mailbox,
    queued: &Queued,
) -> Result<(), TransportError> {
    let message = build_message(from, queued)?;
    match tokio::time::timeout(SEND_TIMEOUT, transport.send(message, queued)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(TransportError::Transient(format!(
            "no answer within {} s; the send was abandoned",
            SEND_TIMEOUT.as_secs()
        ))),
    }
}

/// Runs the sender until `shutdown` turns true.
pub fn spawn_sender(
    outbox: Outbox,
    transport: Arc<dyn MailTransport>,
    from: Mailbox,
    policy: SenderPolicy,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let stopping = shutdown.clone();
            let stop = move || *stopping.borrow();
            if let Err(error) = deliver_until(&outbox, transport.as_ref(), &from, &policy, &stop).await {
                tracing::error!(error = %error, "mail outbox unavailable");
            }
            tokio::select! {
                () = outbox.woken() => {}
                () = tokio::time::sleep(policy.poll) => {}
                _ = shutdown.changed() => break,
            }
        }
        tracing::debug!("mail sender stopped");
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use lettre::Message;

    use super::*;
    use crate::{
        clock::ManualClock,
        db,
        mail::{Mail, MailKind},
        Email,
    };

    /// Fails the first `failures` sends, then records.
    struct Flaky {
        failures: Mutex<u32>,
        permanent: bool,
        sent: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl MailTransport for Flaky {
        async fn send(&self, message: Message, _queued: &Queued) -> Result<(), TransportError> {
            let mut failures = self.failures.lock().expect("lock");
            if *failures > 0 {
                *failures -= 1;
                return Err(if self.permanent {
                    TransportError::Permanent("550 no such user".into())
                } else {
                    TransportError::Transient("connection refused".into())
                });
            }
            self.sent.lock().expect("lock").push(String::from_utf8_lossy(&message.formatted()).into_owned());
            Ok(())
        }
    }

    async fn outbox() -> (Outbox, ManualClock, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.expect("db");
        db::migrate(&pool).await.expect("migrate");
        let clock = ManualClock::starting_at(1_000_000);
        (Outbox::new(pool, Arc::new(clock.clone())), clock, dir)
    }

    fn mail() -> Mail {
        Mail {
            kind: MailKind::VerifyEmail,
            to: Email::parse("someone@example.com").expect("email"),
            subject: "Hello".into(),
            text: "text body\n".into(),
            html: "<p>html body</p>\n".into(),
            valid_for_secs: None,
        }
    }

    fn from() -> Mailbox {
        "Bulwark <no-reply@example.com>".parse().expect("mailbox")
    }

    fn flaky(failures: u32, permanent: bool) -> Flaky {
        Flaky { failures: Mutex::new(failures), permanent, sent: Mutex::new(Vec::new()) }
    }

    /// A mail server that accepts the connection and never answers.
    struct Hangs;

    #[async_trait]
    impl MailTransport for Hangs {
        async fn send(&self, _message: Message, _queued: &Queued) -> Result<(), TransportError> {
            std::future::pending().await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_send_that_never_answers_is_abandoned_well_inside_the_lease() {
        let queued = Queued {
            id: 1,
            kind: "password_reset".into(),
            recipient: "a@example.com".into(),
            subject: "Reset your password".into(),
            text: "text".into(),
            html: "<p>text</p>".into(),
            attempts: 0,
            lease: "lease".into(),
        };
        let started = tokio::time::Instant::now();
        let outcome = deliver(&Hangs, &from(), &queued).await;
        assert!(matches!(outcome, Err(TransportError::Transient(_))), "retried later, not lost");
        let lease = Duration::from_secs(super::super::outbox::LEASE_SECS as u64);
        assert!(started.elapsed() < lease / 2 + Duration::from_secs(1), "{:?}", started.elapsed());
    }

    /// Stopping (shutdown) ends the round after the delivery under way; the rest of the
    /// batch is given back at once, not held for the lease.
    #[tokio::test]
    async fn a_stopping_sender_finishes_its_delivery_and_gives_the_rest_back() {
        let (outbox, _clock, _dir) = outbox().await;
        for _ in 0..3 {
            outbox.enqueue(&mail()).await.expect("queued");
        }
        let transport = flaky(0, false);
        let stop = || !transport.sent.lock().expect("lock").is_empty();
        let sent =
            deliver_until(&outbox, &transport, &from(), &SenderPolicy::default(), &stop).await.expect("db");
        assert_eq!(sent, 1, "the delivery under way finished, no other started");
        assert_eq!(outbox.pending().await.expect("db"), 2);
        assert_eq!(outbox.claim_due(10).await.expect("db").len(), 2, "released, not leased");
    }

    #[tokio::test]
    async fn a_sent_mail_leaves_the_outbox() {
        let (outbox, _clock, _dir) = outbox().await;
        outbox.enqueue(&mail()).await.expect("queued");
        let transport = flaky(0, false);
        let sent = deliver_due(&outbox, &transport, &from(), &SenderPolicy::default()).await.expect("db");
        assert_eq!(sent, 1);
        assert_eq!(outbox.pending().await.expect("db"), 0);
        let message = transport.sent.lock().expect("lock")[0].clone();
        assert!(message.contains("To: someone@example.com"), "{message}");
        assert!(message.contains("text body") && message.contains("html body"));
    }

    #[tokio::test]
    async fn a_temporary_failure_is_retried_after_the_backoff() {
        let (outbox, clock, _dir) = outbox().await;
        outbox.enqueue(&mail()).await.expect("queued");
        let transport = flaky(1, false);
        let policy = SenderPolicy::default();
        assert_eq!(deliver_due(&outbox, &transport, &from(), &policy).await.expect("db"), 0);
        assert_eq!(deliver_due(&outbox, &transport, &from(), &policy).await.expect("db"), 0, "not due yet");
        clock.advance(30);
        assert_eq!(deliver_due(&outbox, &transport, &from(), &policy).await.expect("db"), 1);
        assert_eq!(outbox.pending().await.expect("db"), 0);
    }

    #[tokio::test]
    async fn a_mail_is_given_up_after_the_last_retry_or_a_permanent_failure() {
        let (outbox, clock, _dir) = outbox().await;
        let policy = SenderPolicy { retry_delays_secs: vec![10, 20], ..SenderPolicy::default() };
        outbox.enqueue(&mail()).await.expect("queued");
        let transport = flaky(u32::MAX, false);
        for _ in 0..3 {
            deliver_due(&outbox, &transport, &from(), &policy).await.expect("db");
            clock.advance(60);
        }
        assert_eq!(outbox.pending().await.expect("db"), 0, "three attempts, then dropped");

        outbox.enqueue(&mail()).await.expect("queued");
        deliver_due(&outbox, &flaky(1, true), &from(), &policy).await.expect("db");
        assert_eq!(outbox.pending().await.expect("db"), 0, "a permanent failure is not retried");
    }

    #[tokio::test]
    async fn a_mail_whose_link_expired_is_given_up_never_sent_late() {
        let (outbox, clock, _dir) = outbox().await;
        outbox.enqueue(&Mail { valid_for_secs: Some(3600), ..mail() }).await.expect("queued");
        let transport = flaky(u32::MAX, false);
        deliver_due(&outbox, &transport, &from(), &SenderPolicy::default()).await.expect("db");
        assert_eq!(outbox.pending().await.expect("db"), 1, "retrying");
        clock.advance(3600);
        let working = flaky(0, false);
        assert_eq!(deliver_due(&outbox, &working, &from(), &SenderPolicy::default()).await.expect("db"), 0);
        assert_eq!(outbox.pending().await.expect("db"), 0, "the row and its link are gone");
        assert!(working.sent.lock().expect("lock").is_empty());
    }

    #[tokio::test]
    async fn a_sender_whose_lease_was_taken_over_neither_sends_nor_frees_nor_deletes_the_mail() {
        let (outbox, clock, _dir) = outbox().await;
        outbox.enqueue(&mail()).await.expect("queued");
        let slow = outbox.claim_due(10).await.expect("db").pop().expect("claimed");
        clock.advance(121);
        let other = outbox.claim_due(10).await.expect("db").pop().expect("taken over");
        assert!(!outbox.renew(&slow).await.expect("db"), "the slow sender must not send it");
        // Its failure report neither frees the mail for a third sender...
        outbox.failed(&slow, "timeout", |_| Some(0)).await.expect("db");
        assert!(outbox.claim_due(10).await.expect("db").is_empty(), "still leased to the other");
        // ...nor does its success report delete the other's row.
        outbox.sent(&slow).await.expect("db");
        assert_eq!(outbox.pending().await.expect("db"), 1);
        assert!(outbox.renew(&other).await.expect("db"));
        outbox.sent(&other).await.expect("db");
        assert_eq!(outbox.pending().await.expect("db"), 0);
    }

    #[tokio::test]
    async fn a_batch_that_outlasts_its_lease_sends_only_what_it_still_holds() {
        let (outbox, clock, _dir) = outbox().await;
        outbox.enqueue(&mail()).await.expect("queued");
        outbox.enqueue(&mail()).await.expect("queued");
        // A transport that takes longer than the lease on its first mail, while another
        // instance takes the second one over.
        struct Slow {
            clock: ManualClock,
            outbox: Outbox,
            sent: Mutex<Vec<i64>>,
        }
        #[async_trait]
        impl MailTransport for Slow {
            async fn send(&self, _message: Message, queued: &Queued) -> Result<(), TransportError> {
                if self.sent.lock().expect("lock").is_empty() {
                    self.clock.advance(121);
                    let taken = self.outbox.claim_due(10).await.expect("db");
                    assert_eq!(taken.len(), 2, "both leases ran out");
                }
                self.sent.lock().expect("lock").push(queued.id);
                Ok(())
            }
        }
        let slow = Slow { clock: clock.clone(), outbox: outbox.clone(), sent: Mutex::new(Vec::new()) };
        deliver_due(&outbox, &slow, &from(), &SenderPolicy::default()).await.expect("round");
        assert_eq!(slow.sent.lock().expect("lock").len(), 1, "the second mail was left to its new holder");
        assert_eq!(outbox.pending().await.expect("db"), 2, "neither row was deleted for the other claim");
    }

    #[tokio::test]
    async fn a_claimed_mail_is_not_claimed_twice() {
        let (outbox, clock, _dir) = outbox().await;
        outbox.enqueue(&mail()).await.expect("queued");
        assert_eq!(outbox.claim_due(10).await.expect("db").len(), 1);
        assert!(outbox.claim_due(10).await.expect("db").is_empty(), "leased to the first sender");
        clock.advance(121);
        assert_eq!(outbox.claim_due(10).await.expect("db").len(), 1, "the lease ran out");
    }
}
