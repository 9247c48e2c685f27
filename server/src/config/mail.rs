//! How mail leaves: SMTP (its TLS mode, port and credentials) or, in development, a folder.

use std::{path::PathBuf, time::Duration};

use bulwark::mail::{SmtpSettings, SmtpTls};
use clap::ValueEnum;

use super::{Config, ConfigError};

/// `BULWARK_SMTP_TLS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TlsMode {
    /// STARTTLS, required (default port 587).
    Starttls,
    /// TLS from the first byte (default port 465).
    Tls,
    /// No encryption: only for a relay on this host (default port 25).
    None,
}

impl From<TlsMode> for SmtpTls {
    fn from(mode: TlsMode) -> Self {
        match mode {
            TlsMode::Starttls => SmtpTls::StartTls,
            TlsMode::Tls => SmtpTls::Tls,
            TlsMode::None => SmtpTls::None,
        }
    }
}

pub(super) const DEV_MAIL_FROM: &str = "Bulwark <no-reply@localhost>";

/// How mail leaves.
#[derive(Debug, Clone)]
pub enum MailDelivery {
    Smtp(SmtpSettings),
    /// Development: `.eml` files in this folder, and the log.
    Folder(PathBuf),
}

#[derive(Debug, Clone)]
pub struct MailSettings {
    pub from: lettre::message::Mailbox,
    pub delivery: MailDelivery,
}

impl Config {
    pub(super) fn mail_settings(
        &self,
        production: bool,
        errors: &mut Vec<ConfigError>,
    ) -> Option<MailSettings> {
        let from = match (&self.mail_from, production) {
            (Some(raw), _) => {
                raw.parse().map_err(|_| errors.push(ConfigError::BadMailFrom(raw.clone()))).ok()
            }
            (None, true) => {
                errors.push(ConfigError::MissingMailFrom);
                None
            }
            (None, false) => DEV_MAIL_FROM.parse().ok(),
        };
        let credentials = match (&self.smtp_username, &self.smtp_password) {
            (Some(user), Some(password)) => Some((user.clone(), password.clone())),
            (None, None) => None,
            _ => {
                errors.push(ConfigError::SmtpCredentials);
                None
            }
        };
        let delivery = match &self.smtp_host {
            Some(host) => {
                let local = matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1");
                if production && self.smtp_tls == TlsMode::None && !local {
                    errors.push(ConfigError::PlainSmtpInProduction);
                }
                let tls = SmtpTls::from(self.smtp_tls);
                MailDelivery::Smtp(SmtpSettings {
                    host: host.clone(),
                    port: self.smtp_port.unwrap_or(tls.default_port()),
                    tls,
                    credentials,
                    timeout: Duration::from_secs(30),
                })
            }
            None if production => {
                errors.push(ConfigError::MissingSmtpHost);
                return None;
            }
            None => MailDelivery::Folder(self.mail_outbox.clone()),
        };
        Some(MailSettings { from: from?, delivery })
    }
}
