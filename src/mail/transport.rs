//! Where mail goes: an SMTP server (lettre), or, in development when none is configured,
//! a folder of `.eml` files plus the log.

use std::{path::PathBuf, time::Duration};

use async_trait::async_trait;
use lettre::{
    message::{Mailbox, MultiPart},
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};

use super::Queued;

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Retrying will not help (bad address, refused for good).
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// Worth another try later (server down, timeout, temporary refusal).
    #[error("temporary failure: {0}")]
    Transient(String),
}

#[async_trait]
pub trait MailTransport: Send + Sync + 'static {
    async fn send(&self, message: Message, queued: &Queued) -> Result<(), TransportError>;
}

/// Builds the MIME message for a queued mail: plain text with an HTML alternative.
pub fn build_message(from: &Mailbox, queued: &Queued) -> Result<Message, TransportError> {
    let to: Mailbox = queued
        .recipient
        .parse()
        .map_err(|e| TransportError::Permanent(format!("recipient address refused by lettre: {e}")))?;
    let nonce: u64 = rand::random();
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(queued.subject.clone())
        .message_id(Some(format!("<{}.{nonce:016x}@{}>", queued.id, from.email.domain())))
        .multipart(MultiPart::alternative_plain_html(queued.text.clone(), queued.html.clone()))
        .map_err(|e| TransportError::Permanent(format!("could not build the message: {e}")))
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection; only sensible to a relay on the same host or network.
    None,
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

impl SmtpTls {
    pub fn default_port(self) -> u16 {
        match self {
            Self::None => 25,
            Self::StartTls => 587,
            Self::Tls => 465,
        }
    }
}

#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// User name and password, when the server wants them.
    pub credentials: Option<(String, String)>,
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("credentials", &self.credentials.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Delivery over SMTP with lettre (pooled connections, certificates checked against the
/// webpki roots).
pub struct SmtpTransport {
    inner: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpTransport {
    pub fn new(settings: &SmtpSettings) -> Result<Self, TransportError> {
        let tls = match settings.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::StartTls | SmtpTls::Tls => {
                let parameters = TlsParameters::new(settings.host.clone())
                    .map_err(|e| TransportError::Permanent(format!("TLS set-up failed: {e}")))?;
                if settings.tls == SmtpTls::Tls {
                    Tls::Wrapper(parameters)
                } else {
                    Tls::Required(parameters)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(settings.timeout));
        if let Some((user, password)) = &settings.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Self { inner: builder.build() })
    }
}

#[async_trait]
impl MailTransport for SmtpTransport {
    async fn send(&self, message: Message, _queued: &Queued) -> Result<(), TransportError> {
        match self.inner.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(TransportError::Permanent(smtp_summary(&e))),
            Err(e) => Err(TransportError::Transient(smtp_summary(&e))),
        }
    }
}

/// What is logged and stored about a failed SMTP delivery: the reply code and the kind of
/// failure, never the server's text (servers echo recipient addresses in it).
fn smtp_summary(e: &lettre::transport::smtp::Error) -> String {
    let kind = if e.is_permanent() {
        "permanent SMTP reply"
    } else if e.is_transient() {
        "temporary SMTP reply"
    } else if e.is_timeout() {
        "timeout"
    } else if e.is_tls() {
        "TLS failure"
    } else if e.is_client() {
        "client error"
    } else if e.is_response() {
        "malformed SMTP reply"
    } else {
        "connection failure"
    };
    match e.status() {
        Some(code) => format!("{kind} {code} (class {})", code.severity),
        None => kind.to_owned(),
    }
}

/// Development delivery: each mail becomes one `.eml` file in `dir` (open it with any mail
/// program) and its text is printed to the log, so the app works offline with no mail
/// server. Production configuration refuses it.
pub struct DevTransport {
    dir: PathBuf,
}

impl DevTransport {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

#[async_trait]
impl MailTransport for DevTransport {
    async fn send(&self, message: Message, queued: &Queued) -> Result<(), TransportError> {
        let transient = |e: std::io::Error| TransportError::Transient(format!("{}: {e}", self.dir.display()));
        tokio::fs::create_dir_all(&self.dir).await.map_err(transient)?;
        let stamp =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let path = self.dir.join(format!("{stamp}-{:06}-{}.eml", queued.id, queued.kind));
        tokio::fs::write(&path, message.formatted()).await.map_err(transient)?;
        tracing::info!(
            target: "bulwark::mail::dev",
            outbox_id = queued.id,
            kind = super::log_kind(&queued.kind),
            file = %path.display(),
            "development mail transport (no SMTP configured) wrote \"{}\":\n\n{}",
            queued.subject,
            queued.text
        );
        Ok(())
    }
}
