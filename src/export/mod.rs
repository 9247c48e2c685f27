//! "Download my data" (GDPR articles 15 and 20): everything Bulwark stores about a person,
//! as one JSON document a person can read. The format is documented in
//! `docs/account-export.md`; `FORMAT` and `VERSION` name it.
//!
//! Never in it: a password hash, a token or its hash, a session's key or cookie, a second
//! factor's secret, a passkey's public key or user handle, a recovery code or its hash, an
//! admin's free text about the account (a disablement's reason), where an admin acted from.
//! The queries in `store.rs` select columns by name, so a column added to a table later is
//! not exported until someone decides it should be.

mod store;

use serde::Serialize;

use crate::{accounts::UserId, clock::UnixTime, db::Pool};

/// The document's `format`.
pub const FORMAT: &str = "bulwark-account-export";
/// The document's `version`: raised when a field changes meaning or goes away.
pub const VERSION: u32 = 1;
/// At most this many security events (the newest), sessions' worth of history aside.
pub const MAX_EVENTS: i64 = 10_000;

/// A time, in seconds since 1970 and as text in UTC (for the person reading the file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Time {
    pub unix: UnixTime,
    pub utc: String,
}

impl Time {
    pub fn at(unix: UnixTime) -> Self {
        Self { unix, utc: crate::utc::minute(unix) }
    }

    fn maybe(unix: Option<UnixTime>) -> Option<Self> {
        unix.map(Self::at)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountExport {
    pub format: &'static str,
    pub version: u32,
    pub exported_at: Time,
    pub profile: Profile,
    pub sessions: Vec<Session>,
    pub remembered_browsers: Vec<Browser>,
    pub second_factors: SecondFactors,
    pub security_activity: Vec<Event>,
    pub email_changes: Vec<EmailChange>,
    pub mail_sent: Vec<MailSent>,
    /// The invitation the account was made from, if it was.
    pub invitation: Option<Invitation>,
}

/// The invitation an account was made from. It does not name the admin who sent it.
#[derive(Debug, Clone, Serialize)]
pub struct Invitation {
    /// `user` or `admin`.
    pub role: String,
    /// `an administrator` or `an operator at the command line`.
    pub invited_by: &'static str,
    pub sent: Option<Time>,
    pub accepted: Option<Time>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub account_number: UserId,
    pub email: String,
    pub username: String,
    pub role: String,
    pub created: Time,
    pub email_confirmed: Option<Time>,
    pub last_sign_in: Option<Time>,
    pub disabled_since: Option<Time>,
    pub disabled_until: Option<Time>,
    pub locked_since: Option<Time>,
    pub must_change_password: bool,
    pub support_access_until: Option<Time>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub started: Time,
    pub last_seen: Time,
    pub ends_if_idle: Time,
    pub ends_at_the_latest: Time,
    pub ip: String,
    pub device: String,
    pub confirmed_it_was_you: Option<Time>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Browser {
    pub first_signed_in: Time,
    pub last_used: Time,
    pub remembered_until: Time,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecondFactors {
    pub two_factor_since: Option<Time>,
    pub authenticator_app: Option<AuthenticatorApp>,
    pub recovery_codes: Option<RecoveryCodes>,
    pub passkeys: Vec<Passkey>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuthenticatorApp {
    pub set_up: Option<Time>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecoveryCodes {
    pub made: Time,
    pub unused: i64,
    pub used: Vec<Time>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Passkey {
    pub name: String,
    pub added: Time,
    pub last_used: Option<Time>,
    pub synced: bool,
    pub signs_in_without_an_address: bool,
    pub set_aside: Option<Time>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub at: Time,
    pub event: String,
    pub outcome: String,
    /// Whether an administrator did it (then where they acted from is not shown).
    pub by_an_administrator: bool,
    pub ip: Option<String>,
    pub device: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EmailChange {
    pub asked: Time,
    pub from: String,
    pub to: String,
    pub state: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MailSent {
    pub at: Time,
    pub kind: String,
    pub subject: String,
}

/// Everything stored about the account `user_id`, as of `now`; `None` when there is no
/// such account (or it was erased).
pub async fn export(pool: &Pool, user_id: UserId, now: UnixTime) -> sqlx::Result<Option<AccountExport>> {
    let mut connection = pool.acquire().await?;
    let Some(profile) = store::profile(&mut connection, user_id).await? else { return Ok(None) };
    let sessions = store::sessions(&mut connection, user_id, now).await?;
    let remembered_browsers = store::browsers(&mut connection, user_id, now).await?;
    let second_factors = store::factors(&mut connection, user_id).await?;
    let security_activity = store::events(&mut connection, user_id).await?;
    let email_changes = store::email_changes(&mut connection, user_id).await?;
    let mail_sent = store::mail(&mut connection, user_id).await?;
    let invitation =
        crate::invitations::store::of_account(&mut connection, user_id).await?.map(|row| Invitation {
            role: row.role,
            invited_by: if row.invited_by.is_some() || row.approved_by.is_some() {
                "an administrator"
            } else {
                "an operator at the command line"
            },
            sent: row.sent_at.map(Time::at),
            accepted: row.accepted_at.map(Time::at),
        });
    Ok(Some(AccountExport {
        format: FORMAT,
        version: VERSION,
        exported_at: Time::at(now),
        profile,
        sessions,
        remembered_browsers,
        second_factors,
        security_activity,
        email_changes,
        mail_sent,
        invitation,
    }))
}
