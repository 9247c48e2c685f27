//! Second factors: what an account proves beyond its password. Today an authenticator
//! app (RFC 6238 codes, [`totp`]) with its recovery codes ([`recovery_codes`]); passkeys
//! join as another [`Factor`].
//!
//! - **Enrolment** ([`Factors::enrolment`], [`Factors::confirm_enrolment`]): the secret is
//!   made here, sealed at rest ([`cipher`]), and becomes a factor only once a current code
//!   from the app confirms it (that code's step is burnt). Ten recovery codes come with it.
//! - **Checking an answer** (a code or a recovery code) is one path for the second step of
//!   a sign-in ([`second_step`]) and for step-up ([`Factors::step_up`]): the attempt is
//!   reserved on a throttle budget *before* the answer is checked, then the step (or the
//!   recovery code) is spent by one conditional statement, so a code works once however
//!   many requests carry it.
//! - **The account knows it has factors** (`users.factors_since`): the one function that
//!   completes a sign-in ([`crate::completion`]) reads it and owes a second step; a
//!   step-up older than it does not count.

pub mod cipher;
pub mod recovery_codes;
mod reset;
mod second_step;
pub mod store;
pub mod totp;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use self::{
    cipher::FactorKeys,
    reset::ResetFactor,
    second_step::{NewSecondStep, Passed, SecondStepError, SECOND_STEP_MAX_FAILURES, SECOND_STEP_SECS},
    totp::TotpSecret,
};
use crate::{
    accounts::{User, UserId},
    audit::{self, Event},
    clock::{SharedClock, UnixTime},
    db::Pool,
    mail::{templates::FactorNotice, Outbox, Templates},
    throttle::{Budget, Throttle, Throttled},
    Email, Role,
};

/// The name authenticator apps show for this site's accounts.
pub const ISSUER: &str = "Bulwark";

/// How long new recovery codes stay on show, waiting for "I have saved them".
pub const REVEAL_SECS: i64 = 30 * 60;

/// How long an enrolment's secret waits for its confirming code.
pub const ENROLMENT_SECS: i64 = 30 * 60;

/// One kind of proof beyond the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Factor {
    /// A code from an authenticator app.
    Totp,
    /// One of the account's single-use recovery codes.
    RecoveryCode,
}

impl Factor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
        }
    }
}

/// What a person typed for a second step or a step-up.
#[derive(Clone, Copy)]
pub enum Answer<'a> {
    Code(&'a str),
    RecoveryCode(&'a str),
}

impl std::fmt::Debug for Answer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Code(_) => "Code(<redacted>)",
            Self::RecoveryCode(_) => "RecoveryCode(<redacted>)",
        })
    }
}

impl Answer<'_> {
    pub fn factor(&self) -> Factor {
        match self {
            Self::Code(_) => Factor::Totp,
            Self::RecoveryCode(_) => Factor::RecoveryCode,
        }
    }
}

/// The account's factors as its owner sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status {
    /// An authenticator app is set up (confirmed).
    pub app: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
    pub since: Option<UnixTime>,
}

/// An enrolment waiting for its confirming code: what the page shows.
#[derive(Clone)]
pub struct Enrolment {
    /// The QR code, an inline `<svg>`.
    pub qr_svg: String,
    /// The key in groups of four.
    pub key: String,
    /// The names the app will show.
    pub issuer: String,
    pub label: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrolment(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FactorError {
    #[error("throttled for {} s", .0.retry_after_secs)]
    Throttled(Throttled),
    /// A wrong, used or too old code (or a malformed one).
    #[error("wrong code")]
    WrongCode,
    /// Not one of the account's unused recovery codes.
    #[error("wrong recovery code")]
    WrongRecoveryCode,
    /// A wrong answer, and the last this session may give: the caller ends the session.
    #[error("too many wrong codes")]
    Exhausted,
    /// The account already has an authenticator app.
    #[error("already set up")]
    AlreadyEnrolled,
    /// No enrolment waits (it expired, was confirmed, or was restarted meanwhile).
    #[error("no enrolment waiting")]
    NotWaiting,
    /// The account has no second factor.
    #[error("no factor")]
    NoFactor,
    /// An admin's only factor cannot be removed.
    #[error("an admin needs a factor")]
    AdminNeedsFactor,
    #[error(transparent)]
    Unexpected(#[from] sqlx::Error),
}

/// The factor service. Cheap to clone.
#[derive(Clone)]
pub struct Factors {
    pool: Pool,
    clock: SharedClock,
    keys: FactorKeys,
    throttle: Throttle,
    outbox: Outbox,
    templates: Templates,
    /// The name authenticator apps show for this site.
    issuer: String,
}

impl Factors {
    pub fn new(
        pool: Pool,
        clock: SharedClock,
        keys: FactorKeys,
        throttle: Throttle,
        outbox: Outbox,
        templates: Templates,
        issuer: &str,
    ) -> Self {
        Self { pool, clock, keys, throttle, outbox, templates, issuer: issuer.to_owned() }
    }

    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The account's factors.
    pub async fn status(&self, user_id: UserId) -> sqlx::Result<Status> {
        let mut connection = self.pool.acquire().await?;
        let app = store::totp(&mut connection, user_id).await?.is_some_and(|row| row.confirmed_at.is_some());
        let left = store::recovery_codes_left(&mut connection, user_id).await?;
        let since = if app { store::factors_since(&mut connection, user_id).await? } else { None };
        Ok(Status { app, recovery_codes_left: left, since })
    }

    /// The enrolment waiting for `user`'s confirming code on the session `session_key`: the
    /// one this session started in the last [`ENROLMENT_SECS`] (so reloading the page shows
    /// the same QR code), or a new one with a fresh secret. Another session (someone else
    /// who knows the password, say) never sees this session's secret: its own start
    /// replaces it, and then this session's confirmation fails.
    pub async fn enrolment(&self, user: &User, session_key: &str) -> Result<Enrolment, FactorError> {
        let now = self.now();
        let mut connection = self.pool.acquire().await?;
        let waiting = match store::totp(&mut connection, user.id).await? {
            Some(row) if row.confirmed_at.is_some() => return Err(FactorError::AlreadyEnrolled),
            Some(row)
                if now.saturating_sub(row.created_at) < ENROLMENT_SECS && row.started_by == session_key =>
            {
                self.keys.open(user.id, &row.sealed)
            }
            _ => None,
        };
        drop(connection);
        let secret = match waiting {
            Some(secret) => secret,
            None => {
                let secret = TotpSecret::generate();
                let sealed = self.keys.seal(user.id, &secret);
                if !store::start_enrolment(&self.pool, user.id, &sealed, now, session_key).await? {
                    return Err(FactorError::AlreadyEnrolled);
                }
                secret
            }
        };
        let qr_svg = secret.qr_svg(&self.issuer, &user.email).unwrap_or_default();
        Ok(Enrolment {
            qr_svg,
            key: secret.grouped_base32(),
            issuer: self.issuer.clone(),
            label: user.email.clone(),
        })
    }

    /// Turns the waiting enrolment into the account's factor when `code` is a current code
    /// of its secret: the code's step is burnt, ten recovery codes replace any old ones,
    /// the event is audited and the owner mailed, all in one transaction. Returns the
    /// recovery codes, to be shown once.
    pub async fn confirm_enrolment(
        &self,
        user: &User,
        session_key: &str,
        code: &str,
        context: &audit::Context,
    ) -> Result<Vec<String>, FactorError> {
        let now = self.now();
        let mut connection = self.pool.acquire().await?;
        let row = store::totp(&mut connection, user.id).await?;
        drop(connection);
        let waiting = |r: &store::TotpRow| {
            r.confirmed_at.is_none()
                && now.saturating_sub(r.created_at) < ENROLMENT_SECS
                && r.started_by == session_key
        };
        let Some(row) = row.filter(waiting) else {
            return Err(FactorError::NotWaiting);
        };
        let secret = self.keys.open(user.id, &row.sealed).ok_or(FactorError::NotWaiting)?;
        let step = secret.matching_step(code, now).ok_or(FactorError::WrongCode)?;
        let codes = recovery_codes::generate_set();
        let hashes: Vec<String> = codes.iter().map(|c| c.hash.clone()).collect();
        let mut tx = crate::db::write(&self.pool).await?;
        if !store::confirm(&mut tx, user.id, &row.sealed, step, now).await? {
            return Err(FactorError::NotWaiting);
        }
        store::replace_recovery_codes(&mut tx, user.id, &hashes, now).await?;
        self.keep_to_show(&mut tx, user.id, &codes, now).await?;
        let entry = audit::Entry::new(Event::FactorAdded, Some(user.id), Some(user.id), context)
            .details(serde_json::json!({ "factor": Factor::Totp.as_str() }));
        audit::record(&mut tx, now, &entry).await?;
        self.notify_in(&mut tx, user, FactorNotice::AppAdded).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(codes.into_iter().map(|c| c.code).collect())
    }

    /// A new set of recovery codes for an account with a factor (the old set dies).
    pub async fn renew_recovery_codes(
        &self,
        user: &User,
        context: &audit::Context,
    ) -> Result<Vec<String>, FactorError> {
        if !user.has_factor() {
            return Err(FactorError::NoFactor);
        }
        let now = self.now();
        let codes = recovery_codes::generate_set();
        let hashes: Vec<String> = codes.iter().map(|c| c.hash.clone()).collect();
        let mut tx = crate::db::write(&self.pool).await?;
        store::replace_recovery_codes(&mut tx, user.id, &hashes, now).await?;
        self.keep_to_show(&mut tx, user.id, &codes, now).await?;
        audit::record(
            &mut tx,
            now,
            &audit::Entry::new(Event::RecoveryCodesRenewed, Some(user.id), Some(user.id), context),
        )
        .await?;
        self.notify_in(&mut tx, user, FactorNotice::CodesRenewed).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(codes.into_iter().map(|c| c.code).collect())
    }

    async fn keep_to_show(
        &self,
        connection: &mut impl crate::db::AsConn,
        user_id: UserId,
        codes: &[recovery_codes::NewCode],
        now: UnixTime,
    ) -> sqlx::Result<()> {
        let joined = codes.iter().map(|c| c.code.as_str()).collect::<Vec<_>>().join("\n");
        let sealed = self.keys.seal_bytes(user_id, joined.as_bytes());
        store::put_reveal(connection, user_id, &sealed, now.saturating_add(REVEAL_SECS)).await
    }

    /// The new recovery codes waiting to be shown to their owner (until they say they saved
    /// them, or for [`REVEAL_SECS`]); `None` when there are none.
    pub async fn codes_to_show(&self, user_id: UserId) -> sqlx::Result<Option<Vec<String>>> {
        let mut connection = self.pool.acquire().await?;
        let Some(sealed) = store::reveal(&mut connection, user_id, self.now()).await? else {
            return Ok(None);
        };
        let plain = self.keys.open_bytes(user_id, &sealed).and_then(|bytes| String::from_utf8(bytes).ok());
        Ok(plain.map(|text| text.lines().map(str::to_owned).collect()))
    }

    /// "I have saved them": the codes are never shown again.
    pub async fn codes_saved(&self, user_id: UserId) -> sqlx::Result<()> {
        store::drop_reveals(&self.pool, Some(user_id), self.now()).await
    }

    /// Removes the authenticator app and the recovery codes (the owner, after a step-up
    /// with a factor). Never an admin's: an admin keeps a factor.
    pub async fn remove_app(&self, user: &User, context: &audit::Context) -> Result<(), FactorError> {
        if user.role == Role::Admin {
            return Err(FactorError::AdminNeedsFactor);
        }
        let now = self.now();
        let mut tx = crate::db::write(&self.pool).await?;
        if !store::remove_all(&mut tx, user.id).await? {
            return Err(FactorError::NoFactor);
        }
        let entry = audit::Entry::new(Event::FactorRemoved, Some(user.id), Some(user.id), context)
            .details(serde_json::json!({ "factor": Factor::Totp.as_str() }));
        audit::record(&mut tx, now, &entry).await?;
        self.notify_in(&mut tx, user, FactorNotice::AppRemoved).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(())
    }

    /// Step-up with a factor, for a signed-in session of an account that has one: the
    /// attempt is counted on the session's own budget (a stolen session gets a few
    /// guesses, ever; [`FactorError::Exhausted`] says to end it) and the client address,
    /// before the answer is checked. Audited.
    pub async fn step_up(
        &self,
        user: &User,
        (ip, session_key): (IpAddr, &str),
        answer: Answer<'_>,
        context: &audit::Context,
    ) -> Result<Factor, FactorError> {
        if !user.has_factor() {
            return Err(FactorError::NoFactor);
        }
        let reservation = self
            .throttle
            .reserve_login(ip, Budget::Session(session_key))
            .await?
            .map_err(FactorError::Throttled)?;
        let now = self.now();
        let used = self.check(user.id, answer, now).await?;
        let mut connection = self.pool.acquire().await?;
        let mut entry = audit::Entry::new(Event::StepUp, Some(user.id), Some(user.id), context)
            .details(serde_json::json!({ "factor": answer.factor().as_str() }));
        if used.is_none() {
            entry = entry.failed();
        }
        audit::record(&mut connection, now, &entry).await?;
        drop(connection);
        match used {
            Some(factor) => {
                reservation.succeeded().await?;
                if factor == Factor::RecoveryCode {
                    self.code_used(user).await?;
                }
                Ok(factor)
            }
            None if reservation.failed().await? => Err(FactorError::Exhausted),
            None => Err(match answer {
                Answer::Code(_) => FactorError::WrongCode,
                Answer::RecoveryCode(_) => FactorError::WrongRecoveryCode,
            }),
        }
    }

    /// Checks `answer` for the account and spends it: the factor it proved, or `None`
    /// (wrong, malformed, already used). Callers have reserved the attempt already.
    async fn check(
        &self,
        user_id: UserId,
        answer: Answer<'_>,
        now: UnixTime,
    ) -> sqlx::Result<Option<Factor>> {
        let mut connection = self.pool.acquire().await?;
        match answer {
            Answer::Code(code) => {
                let Some(row) =
                    store::totp(&mut connection, user_id).await?.filter(|r| r.confirmed_at.is_some())
                else {
                    return Ok(None);
                };
                let Some(secret) = self.keys.open(user_id, &row.sealed) else {
                    tracing::error!(
                        event = "authn_factor_unreadable",
                        user_id,
                        "an authenticator secret does not open"
                    );
                    return Ok(None);
                };
                let Some(step) = secret.matching_step(code, now) else { return Ok(None) };
                if !store::burn_step(&mut connection, user_id, step).await? {
                    return Ok(None);
                }
                if row.sealed.version < self.keys.current_version() {
                    store::reseal(&self.pool, user_id, &row.sealed, &self.keys.seal(user_id, &secret))
                        .await?;
                }
                Ok(Some(Factor::Totp))
            }
            Answer::RecoveryCode(typed) => {
                let Some(hash) = recovery_codes::hash_typed(typed) else { return Ok(None) };
                let spent = store::spend_recovery_code(&mut connection, user_id, &hash, now).await?;
                Ok(spent.then_some(Factor::RecoveryCode))
            }
        }
    }

    /// Mails the owner that a recovery code was used, with how many are left.
    async fn code_used(&self, user: &User) -> sqlx::Result<i64> {
        let mut connection = self.pool.acquire().await?;
        let left = store::recovery_codes_left(&mut connection, user.id).await?;
        self.notify_in(&mut connection, user, FactorNotice::CodeUsed { left }).await?;
        drop(connection);
        self.outbox.wake();
        Ok(left)
    }

    async fn notify_in(
        &self,
        connection: &mut impl crate::db::AsConn,
        user: &User,
        notice: FactorNotice,
    ) -> sqlx::Result<()> {
        let Ok(to) = Email::parse(&user.email) else { return Ok(()) };
        self.outbox
            .enqueue_in(connection, &self.templates.factor_notice(&to, &user.username, notice))
            .await?;
        Ok(())
    }

    /// Deletes pending second steps past their time. How many.
    pub async fn delete_expired(&self) -> sqlx::Result<u64> {
        store::drop_reveals(&self.pool, None, self.now()).await?;
        store::delete_expired_steps(&self.pool, self.now()).await
    }

    /// Sets up an authenticator app with a secret the caller supplies, confirmed at once
    /// (the command line's testers' option; never in production: the caller checks). The
    /// new recovery codes.
    pub async fn enrol_with_secret(
        &self,
        user: &User,
        secret: &TotpSecret,
        context: &audit::Context,
    ) -> Result<Vec<String>, FactorError> {
        let now = self.now();
        let sealed = self.keys.seal(user.id, secret);
        if !store::start_enrolment(&self.pool, user.id, &sealed, now, "command line").await? {
            return Err(FactorError::AlreadyEnrolled);
        }
        let codes = recovery_codes::generate_set();
        let hashes: Vec<String> = codes.iter().map(|c| c.hash.clone()).collect();
        let mut tx = crate::db::write(&self.pool).await?;
        if !store::confirm(&mut tx, user.id, &sealed, 0, now).await? {
            return Err(FactorError::NotWaiting);
        }
        store::replace_recovery_codes(&mut tx, user.id, &hashes, now).await?;
        let entry = audit::Entry::new(Event::FactorAdded, None, Some(user.id), context)
            .details(serde_json::json!({ "factor": Factor::Totp.as_str(), "supplied_secret": true }));
        audit::record(&mut tx, now, &entry).await?;
        tx.commit().await?;
        Ok(codes.into_iter().map(|c| c.code).collect())
    }
}

#[cfg(test)]
mod tests;
