//! Configuration from the environment (and an optional `.env` file), parsed with clap so
//! every setting also has a `--flag` and shows up in `server --help`.
//!
//! Development defaults let the README's first command work with nothing set. Production
//! (`BULWARK_ENV=production`) refuses to start unless the settings a real deployment needs
//! are present, and says exactly which one is missing.

use std::{fmt, net::SocketAddr, path::PathBuf, time::Duration};

use axum::http::Uri;
use bulwark::{
    hashing::HashParams,
    password::{DEFAULT_MIN_PASSWORD_CHARS, FLOOR_MIN_PASSWORD_CHARS, MAX_PASSWORD_CHARS},
    sessions::Lifetimes,
    throttle::{ClientIpSource, ThrottlePolicy},
    PasswordPolicy,
};
use clap::{Args, ValueEnum};

pub mod access;
mod cookies;
pub mod credentials;
mod mail;
pub mod network;
mod secret;

pub use cookies::CookieSettings;
use mail::DEV_MAIL_FROM;
pub use mail::{MailDelivery, MailSettings, TlsMode};
use secret::development_secret;
pub use secret::Secret;

pub const DEFAULT_PUBLIC_URL: &str = "http://localhost:3000";
const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    Development,
    Production,
}

/// The raw settings, as given.
#[derive(Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000")]
    pub site_addr: SocketAddr,
    /// Database URL: `sqlite://…` (the file is created, with its folder, when missing) or
    /// `postgres://…`. Never shown by --help: it may hold a password.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/bulwark.db",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub database_url: String,
    /// Where to serve Prometheus metrics (`GET /metrics`), e.g. `127.0.0.1:9100`: its own
    /// listener, never the public one. Unset: no metrics are kept.
    #[arg(long, env = "BULWARK_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Database connections kept open at most.
    #[arg(long, env = "BULWARK_DB_POOL_SIZE", default_value_t = bulwark::db::DEFAULT_POOL_SIZE)]
    pub db_pool_size: u32,
    #[command(flatten)]
    pub access: access::AccessConfig,
    #[command(flatten)]
    pub credentials: credentials::CredentialsConfig,
    /// The URL people use to reach this site; links in mail are built from it, never from
    /// the request's Host header. Defaults to http://localhost:3000 in development.
    #[arg(long, env = "BULWARK_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Server secret for keyed hashes (at least 32 bytes; required in production).
    #[arg(long, env = "BULWARK_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// `development` or `production`.
    #[arg(long = "env", env = "BULWARK_ENV", value_enum, default_value = "development")]
    pub environment: Environment,
    /// Serve without applying migrations or creating the session table, as a role that
    /// may not change the schema (see `server grant-app-role`): the server refuses to start
    /// unless the database's migrations are exactly this build's.
    #[arg(long = "no-migrate", env = "BULWARK_NO_MIGRATE", default_value_t = false)]
    pub no_migrate: bool,
    /// Development only: send the session cookie without `Secure` (and so without the
    /// `__Host-` prefix), for plain-http hosts other than localhost.
    #[arg(long, env = "BULWARK_INSECURE_COOKIES", default_value_t = false)]
    pub insecure_cookies: bool,
    /// Minimum length of new passwords, in characters (never below 8).
    #[arg(long, env = "BULWARK_PASSWORD_MIN_CHARS", default_value_t = DEFAULT_MIN_PASSWORD_CHARS)]
    pub password_min_chars: usize,
    /// argon2id memory cost in KiB (at least 19456).
    #[arg(long, env = "BULWARK_ARGON2_MEMORY_KIB", default_value_t = HashParams::MINIMUM.memory_kib)]
    pub argon2_memory_kib: u32,
    /// argon2id iterations (at least 2).
    #[arg(long, env = "BULWARK_ARGON2_ITERATIONS", default_value_t = HashParams::MINIMUM.iterations)]
    pub argon2_iterations: u32,
    /// argon2id lanes (at least 1).
    #[arg(long, env = "BULWARK_ARGON2_PARALLELISM", default_value_t = HashParams::MINIMUM.parallelism)]
    pub argon2_parallelism: u32,
    /// Sessions end after this many minutes without a request.
    #[arg(long, env = "BULWARK_SESSION_IDLE_MINUTES", default_value_t = 30)]
    pub session_idle_minutes: u32,
    /// How clients reach this server: `direct` (exposed directly; the TCP peer is the
    /// client), or the header the proxies in BULWARK_TRUSTED_PROXIES set:
    /// `x-forwarded-for` or `forwarded`. Required in production; in development the
    /// default is `direct`, or `x-forwarded-for` when trusted proxies are listed.
    #[arg(long, env = "BULWARK_CLIENT_IP", value_enum)]
    pub client_ip: Option<network::ClientIpMode>,
    /// Proxies whose forwarding header is believed: comma-separated addresses or CIDR
    /// networks.
    #[arg(long, env = "BULWARK_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,
    /// Requests that may wait for a password-hashing slot beyond those running; more are
    /// answered 503 with Retry-After at once.
    #[arg(long, env = "BULWARK_HASH_QUEUE", default_value_t = bulwark::hashing::DEFAULT_QUEUE_LIMIT)]
    pub hash_queue: usize,
    /// Open connections at most; further ones wait to be accepted.
    #[arg(long, env = "BULWARK_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Seconds a request may take in all, body included (408 after that).
    #[arg(long, env = "BULWARK_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Per-IP sign-in ladder: `failures:block-seconds` pairs.
    #[arg(long, env = "BULWARK_THROTTLE_IP_LADDER", default_value = "10:60,20:600,50:3600")]
    pub throttle_ip_ladder: String,
    /// Each account's consecutive failures from this one on start a backoff (they are
    /// forgotten after 30 days without one).
    #[arg(long, env = "BULWARK_THROTTLE_ACCOUNT_BACKOFF_FROM", default_value_t = 5)]
    pub throttle_account_backoff_from: u32,
    /// The longest an account's backoff can be, in seconds.
    #[arg(long, env = "BULWARK_THROTTLE_ACCOUNT_MAX_DELAY_SECS", default_value_t = 900)]
    pub throttle_account_max_delay_secs: i64,
    /// Signups allowed per client IP per hour.
    #[arg(long, env = "BULWARK_THROTTLE_SIGNUPS_PER_IP_PER_HOUR", default_value_t = 20)]
    pub throttle_signups_per_ip_per_hour: u32,
    /// Passkey sign-ins a client IP may start per minute (the login page starts one).
    #[arg(long, env = "BULWARK_THROTTLE_PASSKEY_STARTS_PER_MINUTE", default_value_t = 30)]
    pub throttle_passkey_starts_per_minute: u32,
    /// Signups allowed across the site per minute.
    #[arg(long, env = "BULWARK_THROTTLE_SIGNUPS_PER_MINUTE", default_value_t = 60)]
    pub throttle_signups_per_minute: u32,
    /// Sessions end this many hours after sign-in, however active.
    #[arg(long, env = "BULWARK_SESSION_ABSOLUTE_HOURS", default_value_t = 12)]
    pub session_absolute_hours: u32,
    /// Requests for a mail (a new verification link) allowed per client IP per hour.
    #[arg(long, env = "BULWARK_THROTTLE_MAIL_REQUESTS_PER_IP_PER_HOUR", default_value_t = 10)]
    pub throttle_mail_requests_per_ip_per_hour: u32,
    /// Mails of any kind sent to one address per hour, at most.
    #[arg(long, env = "BULWARK_THROTTLE_MAILS_PER_ADDRESS_PER_HOUR", default_value_t = 5)]
    pub throttle_mails_per_address_per_hour: u32,
    /// Mails with a link (verification, password reset) sent across the site per minute,
    /// for each of the two kinds.
    #[arg(long, env = "BULWARK_THROTTLE_LINK_MAILS_PER_MINUTE", default_value_t = 60)]
    pub throttle_link_mails_per_minute: u32,
    /// Mailed links followed (a confirmation, a reset, an email change's cancel or
    /// recovery: each costs a strength check or a hash) per client IP per hour.
    #[arg(long, env = "BULWARK_THROTTLE_LINK_SUBMISSIONS_PER_IP_PER_HOUR", default_value_t = 30)]
    pub throttle_link_submissions_per_ip_per_hour: u32,
    /// SMTP server for outgoing mail. Unset in development: mail is written to
    /// BULWARK_MAIL_OUTBOX and the log instead. Required in production.
    #[arg(long, env = "BULWARK_SMTP_HOST")]
    pub smtp_host: Option<String>,
    /// SMTP port; defaults to 587, 465 or 25 by BULWARK_SMTP_TLS.
    #[arg(long, env = "BULWARK_SMTP_PORT")]
    pub smtp_port: Option<u16>,
    /// `starttls` (required STARTTLS), `tls` (implicit TLS) or `none`.
    #[arg(long, env = "BULWARK_SMTP_TLS", value_enum, default_value = "starttls")]
    pub smtp_tls: TlsMode,
    /// SMTP user name, if the server asks for one (with BULWARK_SMTP_PASSWORD).
    #[arg(long, env = "BULWARK_SMTP_USERNAME")]
    pub smtp_username: Option<String>,
    /// SMTP password.
    #[arg(long, env = "BULWARK_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<String>,
    /// The From of every mail, like `Bulwark <no-reply@example.com>`. Required in production.
    #[arg(long, env = "BULWARK_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// Development mail folder: one `.eml` file per message when no SMTP host is set.
    #[arg(long, env = "BULWARK_MAIL_OUTBOX", default_value = "data/outbox")]
    pub mail_outbox: PathBuf,
}

/// Settings that passed every check.
#[derive(Clone)]
pub struct Settings {
    pub site_addr: SocketAddr,
    /// The metrics listener (`BULWARK_METRICS_ADDR`), if any.
    pub metrics_addr: Option<SocketAddr>,
    pub database_url: String,
    pub db_pool_size: u32,
    pub public_url: Uri,
    pub secret: Secret,
    pub environment: Environment,
    /// Apply migrations at start (`false`: `--no-migrate`).
    pub migrate: bool,
    pub cookie: CookieSettings,
    pub password_policy: PasswordPolicy,
    pub hash_params: HashParams,
    pub session_lifetimes: Lifetimes,
    pub client_ip: ClientIpSource,
    pub throttle: ThrottlePolicy,
    pub mail: MailSettings,
    /// Waiting room of the hashing pool (see `BULWARK_HASH_QUEUE`).
    pub hash_queue: usize,
    pub limits: network::ServerLimits,
    pub access: access::Access,
    pub credentials: credentials::Credentials,
}

impl Settings {
    /// A throwaway local instance for tests and benchmarks: a random loopback port, the
    /// database at `database_url`, defaults everywhere else, and cookies without `Secure`
    /// (HTTP clients such as reqwest, like curl, only return Secure cookies over https).
    #[doc(hidden)]
    pub fn local(database_url: String) -> Self {
        Self {
            site_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            metrics_addr: None,
            database_url,
            db_pool_size: bulwark::db::DEFAULT_POOL_SIZE,
            public_url: Uri::from_static(DEFAULT_PUBLIC_URL),
            secret: Config::test_secret(),
            environment: Environment::Development,
            migrate: true,
            cookie: CookieSettings::INSECURE_DEV,
            password_policy: PasswordPolicy::default(),
            hash_params: HashParams::default(),
            session_lifetimes: Lifetimes::default(),
            client_ip: ClientIpSource::Direct,
            throttle: ThrottlePolicy::default(),
            hash_queue: bulwark::hashing::DEFAULT_QUEUE_LIMIT,
            limits: network::ServerLimits::default(),
            access: access::Access::default(),
            credentials: credentials::Credentials::default(),
            mail: MailSettings {
                from: DEV_MAIL_FROM.parse().expect("a valid mailbox"),
                delivery: MailDelivery::Folder(PathBuf::from("data/outbox")),
            },
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "BULWARK_METRICS_ADDR ({0}) must not use the site's port: metrics are served on a listener of their own, never to the public"
    )]
    MetricsOnPublicPort(SocketAddr),
    #[error("{0}")]
    Access(String),
    #[error("{0}")]
    Credentials(String),
    #[error("BULWARK_SECRET must be set in production (at least 32 bytes; e.g. `openssl rand -base64 48`)")]
    MissingSecret,
    #[error("BULWARK_SECRET is {0} bytes; it must be at least 32")]
    ShortSecret(usize),
    #[error("BULWARK_PUBLIC_URL must be set in production (the https:// address people use)")]
    MissingPublicUrl,
    #[error("BULWARK_PUBLIC_URL {0:?} is not an absolute http(s) URL without a path, like https://auth.example.com")]
    BadPublicUrl(String),
    #[error("BULWARK_PUBLIC_URL must use https in production")]
    InsecurePublicUrl,
    #[error("BULWARK_PUBLIC_URL cannot carry passkeys: {0}")]
    PublicUrlNotARelyingParty(String),
    #[error("BULWARK_INSECURE_COOKIES is for development only; production cookies are always Secure")]
    InsecureCookiesInProduction,
    #[error("BULWARK_PASSWORD_MIN_CHARS is {0}; it must be between 8 and 128")]
    PasswordMinimum(usize),
    #[error("argon2 parameters are below the minimum m=19456 KiB, t=2, p=1")]
    WeakHashing,
    #[error("argon2 parameters are above the maximum m=1048576 KiB, t=64, p=16")]
    CostlyHashing,
    #[error("BULWARK_TRUSTED_PROXIES: {0}")]
    TrustedProxies(String),
    #[error("BULWARK_CLIENT_IP must be set in production: `direct` if clients connect to this server itself, or the header your proxy sets (`x-forwarded-for` or `forwarded`) together with BULWARK_TRUSTED_PROXIES")]
    MissingClientIp,
    #[error("BULWARK_CLIENT_IP={0} needs BULWARK_TRUSTED_PROXIES: the proxies whose header is believed")]
    ProxiesMissing(&'static str),
    #[error("BULWARK_CLIENT_IP=direct contradicts BULWARK_TRUSTED_PROXIES: with proxies, name the header they set")]
    DirectWithProxies,
    #[error("throttle settings: {0}")]
    Throttle(String),
    #[error("BULWARK_SESSION_IDLE_MINUTES must be at least 1, and BULWARK_SESSION_ABSOLUTE_HOURS no shorter than it")]
    SessionLifetimes,
    #[error("BULWARK_SMTP_HOST must be set in production (mail cannot go to a local folder there)")]
    MissingSmtpHost,
    #[error("DATABASE_URL: a PostgreSQL server on another host needs sslmode=verify-full in production (the certificate checked for that host); the database holds session data and reset links")]
    UnverifiedDatabaseTls,
    #[error("BULWARK_SMTP_TLS=none is only allowed in production for a relay on this host (localhost)")]
    PlainSmtpInProduction,
    #[error("BULWARK_SMTP_USERNAME and BULWARK_SMTP_PASSWORD must be set together")]
    SmtpCredentials,
    #[error("BULWARK_MAIL_FROM must be set in production, like \"Bulwark <no-reply@example.com>\"")]
    MissingMailFrom,
    #[error("BULWARK_MAIL_FROM {0:?} is not a mailbox like \"Bulwark <no-reply@example.com>\"")]
    BadMailFrom(String),
}

impl Config {
    /// A fixed, valid secret for tests and tools that build [`Settings`] directly.
    #[doc(hidden)]
    pub fn test_secret() -> Secret {
        Secret(b"test secret, never used outside tests!".to_vec())
    }

    /// Checks every setting and reports every problem at once.
    pub fn validate(self) -> Result<Settings, ConfigErrors> {
        let production = self.environment == Environment::Production;
        let mut errors = Vec::new();
        if production && bulwark::db::is_unverified_remote_postgres(&self.database_url) {
            errors.push(ConfigError::UnverifiedDatabaseTls);
        }

        let public_url = match (&self.public_url, production) {
            (Some(raw), _) => parse_public_url(raw),
            (None, true) => Err(ConfigError::MissingPublicUrl),
            (None, false) => parse_public_url(DEFAULT_PUBLIC_URL),
        }
        .and_then(|url| {
            if production && url.scheme_str() != Some("https") {
                Err(ConfigError::InsecurePublicUrl)
            } else if let (true, Err(e)) =
                (production, bulwark::factors::RelyingParty::new(&url.to_string(), bulwark::factors::ISSUER))
            {
                // Passkeys are bound to the public URL's host: it must be a domain name.
                Err(ConfigError::PublicUrlNotARelyingParty(e.to_string()))
            } else {
                Ok(url)
            }
        })
        .map_err(|e| errors.push(e))
        .ok();

        let mail = self.mail_settings(production, &mut errors);
        let secret = match (self.secret, production) {
            (Some(s), _) if s.len() >= MIN_SECRET_BYTES => Some(Secret(s.into_bytes())),
            (Some(s), _) => {
                errors.push(ConfigError::ShortSecret(s.len()));
                None
            }
            (None, true) => {
                errors.push(ConfigError::MissingSecret);
                None
            }
            (None, false) => Some(Secret(development_secret())),
        };

        if let Some(metrics) = self.metrics_addr {
            if metrics.port() == self.site_addr.port() && metrics.port() != 0 {
                errors.push(ConfigError::MetricsOnPublicPort(metrics));
            }
            if metrics.ip().is_unspecified() {
                tracing::warn!(
                    addr = %metrics,
                    "BULWARK_METRICS_ADDR listens on every interface: make sure only your Prometheus can reach it"
                );
            }
        }
        if production && self.insecure_cookies {
            errors.push(ConfigError::InsecureCookiesInProduction);
        }
        let cookie =
            if self.insecure_cookies { CookieSettings::INSECURE_DEV } else { CookieSettings::STRICT };

        if !(FLOOR_MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&self.password_min_chars) {
            errors.push(ConfigError::PasswordMinimum(self.password_min_chars));
        }
        let hash_params = HashParams {
            memory_kib: self.argon2_memory_kib,
            iterations: self.argon2_iterations,
            parallelism: self.argon2_parallelism,
        }
        .checked()
        .map_err(|error| {
            errors.push(match error {
                bulwark::hashing::HashError::CostlyParams(_) => ConfigError::CostlyHashing,
                _ => ConfigError::WeakHashing,
            })
        })
        .ok();
        let session_lifetimes = Lifetimes {
            idle_secs: i64::from(self.session_idle_minutes) * 60,
            absolute_secs: i64::from(self.session_absolute_hours) * 3600,
        };
        if session_lifetimes.idle_secs == 0 || session_lifetimes.absolute_secs < session_lifetimes.idle_secs {
            errors.push(ConfigError::SessionLifetimes);
        }

        let client_ip = network::client_ip_source(self.client_ip, &self.trusted_proxies, production)
            .map_err(|e| errors.push(e))
            .ok();
        let access = self.access.validate().map_err(|e| errors.push(ConfigError::Access(e))).ok();
        let credentials =
            self.credentials.validate(production).map_err(|e| errors.push(ConfigError::Credentials(e))).ok();
        let limits = network::ServerLimits {
            max_connections: self.max_connections.max(1),
            request_timeout: Duration::from_secs(self.request_timeout_secs.max(1)),
            ..network::ServerLimits::default()
        };
        let throttle = ThrottlePolicy {
            ip_ladder: parse_ladder(&self.throttle_ip_ladder).unwrap_or_else(|e| {
                errors.push(ConfigError::Throttle(e));
                Vec::new()
            }),
            account_backoff_from: self.throttle_account_backoff_from,
            account_max_delay_secs: self.throttle_account_max_delay_secs,
            signups_per_ip_per_hour: self.throttle_signups_per_ip_per_hour,
            passkey_starts_per_minute: self.throttle_passkey_starts_per_minute,
            signups_per_minute: self.throttle_signups_per_minute,
            mail_requests_per_ip_per_hour: self.throttle_mail_requests_per_ip_per_hour,
            mails_per_address_per_hour: self.throttle_mails_per_address_per_hour,
            link_mails_per_minute: self.throttle_link_mails_per_minute,
            link_submissions_per_ip_per_hour: self.throttle_link_submissions_per_ip_per_hour,
            ..ThrottlePolicy::default()
        };
        if throttle.account_backoff_from == 0
            || throttle.account_max_delay_secs < throttle.account_base_delay_secs
        {
            errors.push(ConfigError::Throttle(
                "BULWARK_THROTTLE_ACCOUNT_BACKOFF_FROM must be at least 1 and the maximum delay at least 30 s".into(),
            ));
        }

        match (public_url, secret, hash_params, client_ip, mail, access, credentials) {
            (
                Some(public_url),
                Some(secret),
                Some(hash_params),
                Some(client_ip),
                Some(mail),
                Some(access),
                Some(credentials),
            ) if errors.is_empty() => Ok(Settings {
                site_addr: self.site_addr,
                metrics_addr: self.metrics_addr,
                database_url: self.database_url,
                db_pool_size: self.db_pool_size,
                public_url,
                secret,
                environment: self.environment,
                migrate: !self.no_migrate,
                cookie,
                password_policy: PasswordPolicy::with_min_chars(self.password_min_chars),
                hash_params,
                session_lifetimes,
                client_ip,
                throttle,
                mail,
                hash_queue: self.hash_queue,
                limits,
                access,
                credentials,
            }),
            _ => Err(ConfigErrors(errors)),
        }
    }
}

/// Every problem found in the configuration, one per line.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "- {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// `"10:60,20:600"` → `[(10, 60), (20, 600)]`, strictly ascending.
fn parse_ladder(text: &str) -> Result<Vec<(u32, i64)>, String> {
    let bad = || format!("BULWARK_THROTTLE_IP_LADDER {text:?} must look like 10:60,20:600 (ascending)");
    let steps = text
        .split(',')
        .map(|step| {
            let (failures, secs) = step.trim().split_once(':').ok_or_else(bad)?;
            Ok((failures.trim().parse().map_err(|_| bad())?, secs.trim().parse().map_err(|_| bad())?))
        })
        .collect::<Result<Vec<(u32, i64)>, String>>()?;
    let ascending = steps.windows(2).all(|w| w[0].0 < w[1].0);
    if steps.is_empty() || !ascending || steps.iter().any(|&(f, s)| f == 0 || s <= 0) {
        return Err(bad());
    }
    Ok(steps)
}

fn parse_public_url(raw: &str) -> Result<Uri, ConfigError> {
    let bad = || ConfigError::BadPublicUrl(raw.to_owned());
    let uri: Uri = raw.trim_end_matches('/').parse().map_err(|_| bad())?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let path_ok = matches!(uri.path(), "" | "/") && uri.query().is_none();
    if !scheme_ok || uri.authority().is_none() || !path_ok {
        return Err(bad());
    }
    Ok(uri)
}

#[cfg(test)]
mod tests;
