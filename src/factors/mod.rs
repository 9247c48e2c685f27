//! Second factors: what an account proves beyond its password. Today an authenticator
//! app (RFC 6238 codes, [`totp`]) with its recovery codes ([`recovery_codes`]), and
//! passkeys ([`passkeys`]), which also sign in on their own.
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
mod enrolment;
pub mod passkeys;
mod pending_store;
pub mod recovery_codes;
mod reset;
mod second_step;
pub mod store;
pub mod totp;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use self::{
    cipher::FactorKeys,
    passkeys::{PasskeyError, PasskeyInfo, RelyingParty},
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
    Email,
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
    /// A passkey, with user verification.
    Passkey,
}

impl Factor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
            Self::Passkey => "passkey",
        }
    }
}

/// What a person gave for a second step or a step-up.
#[derive(Clone, Copy)]
pub enum Answer<'a> {
    Code(&'a str),
    RecoveryCode(&'a str),
    /// A passkey's assertion, with its ceremony's state (see [`Factors::passkey_answer`]).
    Passkey(&'a passkeys::PasskeyAnswer),
}

impl std::fmt::Debug for Answer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Code(_) => "Code(<redacted>)",
            Self::RecoveryCode(_) => "RecoveryCode(<redacted>)",
            Self::Passkey(_) => "Passkey(<redacted>)",
        })
    }
}

impl<'a> Answer<'a> {
    /// What a form's `code` and `recovery_code` fields say: the code when one was typed,
    /// else the recovery code, else nothing.
    pub fn from_fields(code: &'a str, recovery_code: &'a str) -> Option<Self> {
        if !code.trim().is_empty() {
            Some(Self::Code(code))
        } else if !recovery_code.trim().is_empty() {
            Some(Self::RecoveryCode(recovery_code))
        } else {
            None
        }
    }

    pub fn factor(&self) -> Factor {
        match self {
            Self::Code(_) => Factor::Totp,
            Self::RecoveryCode(_) => Factor::RecoveryCode,
            Self::Passkey(_) => Factor::Passkey,
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
    /// Passkeys (set aside ones included).
    pub passkeys: i64,
    pub since: Option<UnixTime>,
}

/// What an account's second step or step-up may be answered with (recovery codes always,
/// when it has a factor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offers {
    /// A code from its authenticator app.
    pub app: bool,
    /// One of its passkeys (and passkeys work here).
    pub passkey: bool,
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
    /// Not a verified assertion of one of the account's passkeys for this request.
    #[error("passkey refused")]
    WrongPasskey,
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
    /// The session that asked was signed out while the request was in flight.
    #[error("session ended")]
    SessionEnded,
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
    /// Passkeys' relying party (`None`: passkeys are not available).
    relying_party: Option<RelyingParty>,
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
        Self {
            pool,
            clock,
            keys,
            throttle,
            outbox,
            templates,
            issuer: issuer.to_owned(),
            relying_party: None,
        }
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
        let passkeys = passkeys::store::count(&mut connection, user_id).await?;
        let since = store::factors_since(&mut connection, user_id).await?;
        Ok(Status { app, recovery_codes_left: left, passkeys, since })
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
        let audit = (Event::StepUp, serde_json::json!({}));
        self.prove(user, (ip, Budget::Session(session_key)), answer, audit, context).await
    }

    /// The one way a factor is proved outside a pending second step (step-up, a reset):
    /// the attempt reserved on `budget` before the answer is checked, the answer spent, the
    /// verdict audited as `event` (with `details` and the factor), the reservation settled,
    /// and the owner mailed when a recovery code was used.
    pub(crate) async fn prove(
        &self,
        user: &User,
        (ip, budget): (IpAddr, Budget<'_>),
        answer: Answer<'_>,
        (event, mut details): (Event, serde_json::Value),
        context: &audit::Context,
    ) -> Result<Factor, FactorError> {
        let reservation = self.throttle.reserve_login(ip, budget).await?.map_err(FactorError::Throttled)?;
        let now = self.now();
        let used = self.check(user.id, answer, (now, context)).await?;
        details["factor"] = serde_json::json!(answer.factor().as_str());
        let mut entry = audit::Entry::new(event, Some(user.id), Some(user.id), context).details(details);
        if used.is_none() {
            entry = entry.failed();
        }
        audit::record(&mut self.pool.acquire().await?, now, &entry).await?;
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
                Answer::Passkey(_) => FactorError::WrongPasskey,
            }),
        }
    }

    /// Checks `answer` for the account and spends it: the factor it proved, or `None`
    /// (wrong, malformed, already used). Callers have reserved the attempt already.
    async fn check(
        &self,
        user_id: UserId,
        answer: Answer<'_>,
        (now, context): (UnixTime, &audit::Context),
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
            Answer::Passkey(answer) => {
                drop(connection);
                self.check_passkey(user_id, answer, (now, context)).await
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

    /// Deletes pending second steps (and passkey ceremonies) past their time. How many steps.
    pub async fn delete_expired(&self) -> sqlx::Result<u64> {
        store::drop_reveals(&self.pool, None, self.now()).await?;
        passkeys::store::delete_expired(&mut self.pool.acquire().await?, self.now()).await?;
        store::delete_expired_steps(&self.pool, self.now()).await
    }
}

#[cfg(test)]
pub(crate) mod tests;
