//! Start-up: opening and migrating the database (or checking it is this build's, with
//! `--no-migrate`), building every service from the settings, and Leptos' own options.

use std::{net::SocketAddr, sync::Arc};

use bulwark::{
    accounts::Accounts,
    clock::SharedClock,
    db::{self, DbError, Pool},
    devices::Devices,
    hashing::{HashError, PasswordHasher},
    mail::{DevTransport, MailTransport, Outbox, SmtpTransport, Templates, TransportError},
    recovery::Recovery,
    registration::Registration,
    sessions::{HashedStore, SessionData, SessionRegistry},
    throttle::Throttle,
};
use leptos::prelude::*;

use crate::{
    config::{self, MailDelivery, Settings},
    roles, AppState, Shared,
};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("could not prepare the session table: {0}")]
    SessionStore(#[source] sqlx::Error),
    #[error(transparent)]
    Hashing(#[from] HashError),
    #[error("could not set up mail delivery: {0}")]
    Mail(#[from] TransportError),
    #[error("could not listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    /// `--no-migrate`, and the database is not exactly this build's.
    #[error("started with --no-migrate, but {0}: run `server migrate` as the schema's owner first")]
    NotMigrated(String),
}

/// Opens and migrates the database and builds the services. `clock` is the system clock
/// in production and a manual one in tests.
pub async fn prepare(
    settings: Settings,
    leptos_options: LeptosOptions,
    clock: SharedClock,
) -> Result<AppState, StartupError> {
    let pool = db::connect_with_pool(&settings.database_url, settings.db_pool_size).await?;
    let store = SessionData::new(&pool);
    if settings.migrate {
        db::migrate(&pool).await?;
        store.migrate().await.map_err(StartupError::SessionStore)?;
    } else {
        schema_is_current(&pool).await?;
    }
    let hasher = PasswordHasher::new(settings.hash_params)?.with_queue_limit(settings.hash_queue);
    let params = settings.hash_params;
    tracing::info!(
        engine = %PasswordHasher::engine_name(),
        "password hashing: argon2id m={} KiB, t={}, p={}",
        params.memory_kib,
        params.iterations,
        params.parallelism
    );
    let accounts = Accounts::new(pool.clone(), hasher, settings.password_policy, clock.clone())
        .with_breaches(settings.credentials.breaches.clone())
        .with_secret(settings.secret.expose());
    let registry = SessionRegistry::new(pool.clone(), clock.clone(), settings.session_lifetimes)
        .with_admin_lifetimes(settings.access.admin_lifetimes);
    let throttle =
        Throttle::new(pool.clone(), clock.clone(), settings.throttle.clone(), settings.secret.expose());
    let outbox = Outbox::new(pool.clone(), clock.clone());
    let templates = Templates::new(&settings.public_url.to_string());
    let mut devices = Devices::new(pool.clone(), clock.clone());
    if settings.credentials.new_device_notice {
        devices = devices.with_notices(outbox.clone(), templates.clone());
    }
    let registration =
        Registration::new(accounts.clone(), throttle.clone(), outbox.clone(), templates.clone())
            .invite_only(settings.access.signup == config::access::SignupMode::Invite);
    let recovery = Recovery::new(
        accounts.clone(),
        throttle.clone(),
        outbox.clone(),
        templates.clone(),
        registry.clone(),
        devices.clone(),
    );
    let impersonations = bulwark::impersonation::Impersonations::new(
        pool.clone(),
        clock.clone(),
        settings.access.impersonation,
        registry.clone(),
        outbox.clone(),
        templates.clone(),
    );
    let email_changes = bulwark::email_change::EmailChanges::new(bulwark::email_change::Parts {
        pool: pool.clone(),
        clock: clock.clone(),
        accounts: accounts.clone(),
        throttle: throttle.clone(),
        outbox: outbox.clone(),
        templates: templates.clone(),
        recovery: recovery.clone(),
    });
    let factors = bulwark::factors::Factors::new(
        pool.clone(),
        clock.clone(),
        bulwark::factors::FactorKeys::new(settings.secret.expose(), settings.credentials.factor_key_version),
        throttle.clone(),
        outbox.clone(),
        templates.clone(),
        bulwark::factors::ISSUER,
    )
    .with_passkeys(relying_party(&settings.public_url.to_string()));
    let deletions = bulwark::deletion::Deletions::new(bulwark::deletion::Parts {
        pool: pool.clone(),
        clock: clock.clone(),
        registry: registry.clone(),
        devices: devices.clone(),
        outbox: outbox.clone(),
        templates: templates.clone(),
        grace_days: settings.access.deletion_grace_days,
        accounts: accounts.clone(),
    });
    let invitations = bulwark::invitations::Invitations::new(bulwark::invitations::Parts {
        pool: pool.clone(),
        clock: clock.clone(),
        accounts: accounts.clone(),
        throttle: throttle.clone(),
        outbox: outbox.clone(),
        templates: templates.clone(),
    });
    let admin = bulwark::admin::Admin::new(
        pool.clone(),
        clock.clone(),
        accounts.clone(),
        registry.clone(),
        devices.clone(),
        throttle.clone(),
        outbox.clone(),
        templates,
        deletions.clone(),
    );
    let mail_transport: Arc<dyn MailTransport> = match &settings.mail.delivery {
        MailDelivery::Smtp(smtp) => Arc::new(SmtpTransport::new(smtp)?),
        MailDelivery::Folder(dir) => {
            tracing::warn!(
                folder = %dir.display(),
                "no SMTP host set: mail is written to this folder and the log (development only)"
            );
            Arc::new(DevTransport::new(dir))
        }
    };
    Ok(AppState(Arc::new(Shared {
        leptos_options,
        accounts,
        sessions: HashedStore::new(store, pool.clone()),
        pool,
        registry,
        devices,
        throttle,
        registration,
        recovery,
        admin,
        impersonations,
        email_changes,
        invitations,
        factors,
        deletions,
        outbox,
        mail_transport,
        settings: Arc::new(settings),
    })))
}

/// For `--no-migrate`: the database's migrations are exactly this build's, and the session
/// table exists; else what is wrong.
async fn schema_is_current(pool: &Pool) -> Result<(), StartupError> {
    let status = db::migration_status(pool).await.map_err(|e| StartupError::NotMigrated(e.to_string()))?;
    if !status.is_current() {
        return Err(StartupError::NotMigrated(format!(
            "the database's migrations are not this build's (pending: {:?}, altered: {:?}, unknown: {:?})",
            status.pending, status.altered, status.unknown
        )));
    }
    let table = bulwark::sessions::store_table(pool.backend());
    if !db::table_exists(pool, table).await.map_err(|e| StartupError::NotMigrated(e.to_string()))? {
        return Err(StartupError::NotMigrated("the session table does not exist".into()));
    }
    // Serving without migrating usually means serving as a role that owns nothing; say so
    // when this one could still change the audit log (see `server grant-app-role`).
    match roles::audit_gaps(pool, None).await {
        Ok(gaps) if gaps.is_empty() => {}
        Ok(gaps) => tracing::warn!(
            event = "audit_log_writable",
            can = gaps.join(", "),
            "serving with --no-migrate as a role that can change the audit log"
        ),
        Err(error) => tracing::warn!(error = %error, "could not check the serving role's rights"),
    }
    Ok(())
}

/// Applies pending migrations and exits (`server migrate`).
pub async fn migrate_only(settings: &Settings) -> Result<(), StartupError> {
    let pool = db::connect_with_pool(&settings.database_url, settings.db_pool_size).await?;
    db::migrate(&pool).await?;
    SessionData::new(&pool).migrate().await.map_err(StartupError::SessionStore)?;
    Ok(())
}

/// Leptos' own settings: from the variables cargo-leptos sets when it builds and runs the
/// server, or, for a binary built without it (the test builds), this workspace's layout
/// with `LEPTOS_SITE_ROOT` still honoured.
pub fn leptos_options(site_addr: SocketAddr) -> LeptosOptions {
    let from_cargo_leptos =
        std::env::var_os("LEPTOS_OUTPUT_NAME").is_some() || option_env!("LEPTOS_OUTPUT_NAME").is_some();
    let mut options = from_cargo_leptos
        .then(|| get_configuration(None).ok())
        .flatten()
        .map(|conf| conf.leptos_options)
        .unwrap_or_else(|| {
            let site_root = std::env::var("LEPTOS_SITE_ROOT").unwrap_or_else(|_| "target/site".to_owned());
            LeptosOptions::builder().output_name("bulwark").site_root(site_root).build()
        });
    options.site_addr = site_addr;
    options
}

/// Passkeys' relying party: the public URL. Production refuses a URL that cannot be one
/// (see config); in development an IP address leaves passkeys off, with a warning.
fn relying_party(public_url: &str) -> Option<bulwark::factors::RelyingParty> {
    match bulwark::factors::RelyingParty::new(public_url, bulwark::factors::ISSUER) {
        Ok(relying_party) => {
            tracing::info!(
                event = "passkeys_ready",
                rp_id = relying_party.id(),
                "passkeys are bound to this host"
            );
            Some(relying_party)
        }
        Err(e) => {
            tracing::warn!(event = "passkeys_off", reason = %e, "passkeys are off");
            None
        }
    }
}
