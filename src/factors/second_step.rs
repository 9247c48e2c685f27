//! The second step of a sign-in. The right password for an account with a factor makes a
//! *pending second step*, never a session: a row keyed by the hash of a random cookie
//! value, bound to the account's epoch, alive for [`SECOND_STEP_SECS`] and
//! [`SECOND_STEP_MAX_FAILURES`] wrong answers. The resolver knows nothing of it, so its
//! cookie opens nothing but the second-step form.
//!
//! Each answer is reserved on the account's one second-step budget before it is checked
//! (or, from a known device of the account, on that device's own budget, so a stranger
//! who has the password cannot lock the owner out), whatever the number of pending steps
//! the password has opened: new sign-ins do not buy new guesses (AuthQuake). Wrong answers
//! are audited; from the second wrong answer on one pending step, or the third in a row on
//! the account, the owner is mailed that someone seems to know the password (at most
//! once an hour).

use std::net::IpAddr;

use super::{store, Answer, Factor, Factors};
use crate::{
    accounts::{store as accounts_store, User},
    audit::{self, Event},
    clock::UnixTime,
    devices::Device,
    throttle::{Budget, Throttled},
    token::{self, Kind},
    Email,
};

/// How long a right password waits for its second step.
pub const SECOND_STEP_SECS: i64 = 5 * 60;
/// Wrong answers one pending step may take; then the password must be typed again.
pub const SECOND_STEP_MAX_FAILURES: i32 = 5;
/// Consecutive wrong answers on the account (from unknown browsers) that raise the alarm.
const ALARM_ACCOUNT_FAILURES: u32 = 3;

/// A pending second step's cookie value (shown once) and its end.
pub struct NewSecondStep {
    pub cookie: String,
    pub expires_at: UnixTime,
}

impl std::fmt::Debug for NewSecondStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSecondStep").field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

/// A second step passed: only [`crate::completion`] turns it into a session. Its fields
/// are private, so nothing outside this crate can make one.
#[derive(Debug)]
pub struct Passed {
    pub(crate) user: User,
    pub(crate) factor: Factor,
    /// Unused recovery codes left, when one was just used.
    pub(crate) codes_left: Option<i64>,
}

impl Passed {
    pub fn factor(&self) -> Factor {
        self.factor
    }

    pub fn codes_left(&self) -> Option<i64> {
        self.codes_left
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecondStepError {
    /// No live pending step (unknown cookie, expired, used, failed out, or the account's
    /// sessions were ended since): sign in again.
    #[error("no pending second step")]
    Expired,
    #[error("throttled for {} s", .0.retry_after_secs)]
    Throttled(Throttled),
    /// A wrong answer; the step stays open.
    #[error("wrong {}", .0.as_str())]
    Wrong(Factor),
    /// A wrong answer, and the step's last: sign in again.
    #[error("too many wrong answers")]
    Exhausted,
    #[error(transparent)]
    Unexpected(#[from] sqlx::Error),
}

impl Factors {
    /// Opens a pending second step for `user` (the right password was just given), from
    /// `device` if the browser is a known device of the account.
    pub(crate) async fn begin_second_step(
        &self,
        user: &User,
        device: Option<&Device>,
    ) -> sqlx::Result<NewSecondStep> {
        let now = self.now();
        let expires_at = now.saturating_add(SECOND_STEP_SECS);
        let new = token::generate_kind(Kind::SecondStep);
        let device_key = device.filter(|d| d.user_id == user.id).map(|d| d.key.as_str());
        let mut connection = self.pool().acquire().await?;
        store::insert_step(
            &mut connection,
            &new.hash,
            user.id,
            user.session_epoch,
            device_key,
            now,
            expires_at,
        )
        .await?;
        Ok(NewSecondStep { cookie: new.token, expires_at })
    }

    /// Whether `cookie` names a live pending second step (the page shows the form, or
    /// sends the browser back to sign in).
    pub async fn second_step_waiting(&self, cookie: Option<&str>) -> sqlx::Result<bool> {
        let Some(key) = cookie.and_then(|c| token::parse_kind(Kind::SecondStep, c)) else { return Ok(false) };
        let mut connection = self.pool().acquire().await?;
        Ok(store::live_step(&mut connection, &key, self.now(), SECOND_STEP_MAX_FAILURES).await?.is_some())
    }

    /// Checks an answer to the pending step `cookie` names. See the module documentation.
    pub async fn second_step(
        &self,
        ip: IpAddr,
        cookie: Option<&str>,
        answer: Answer<'_>,
        context: &audit::Context,
    ) -> Result<Passed, SecondStepError> {
        let factor = answer.factor();
        let verdict = self.check_second_step(ip, cookie, answer, context).await;
        let outcome = match &verdict {
            Ok(_) => "passed",
            Err(SecondStepError::Wrong(_) | SecondStepError::Exhausted) => "wrong",
            Err(SecondStepError::Expired) => "expired",
            Err(SecondStepError::Throttled(_)) => "throttled",
            Err(SecondStepError::Unexpected(_)) => "error",
        };
        crate::metrics::second_step(factor.as_str(), outcome);
        verdict
    }

    async fn check_second_step(
        &self,
        ip: IpAddr,
        cookie: Option<&str>,
        answer: Answer<'_>,
        context: &audit::Context,
    ) -> Result<Passed, SecondStepError> {
        let Some(key) = cookie.and_then(|c| token::parse_kind(Kind::SecondStep, c)) else {
            return Err(SecondStepError::Expired);
        };
        let now = self.now();
        let mut connection = self.pool().acquire().await?;
        let step = store::live_step(&mut connection, &key, now, SECOND_STEP_MAX_FAILURES).await?;
        drop(connection);
        let Some(step) = step else { return Err(SecondStepError::Expired) };
        let budget = match &step.device_key {
            Some(device) => Budget::FactorDevice(device),
            None => Budget::Factor(step.user_id),
        };
        let reservation =
            self.throttle.reserve_login(ip, budget).await?.map_err(SecondStepError::Throttled)?;
        let used = self.check(step.user_id, answer, (now, context)).await?;
        match used {
            Some(factor) => {
                reservation.succeeded().await?;
                // Of two requests that both passed (a code and a recovery code at once),
                // the one that ends the pending step goes on; none does once the account's
                // sessions were ended since the password was given.
                let mut connection = self.pool().acquire().await?;
                if !store::take_step(&mut connection, &key).await? {
                    return Err(SecondStepError::Expired);
                }
                let user = accounts_store::find_user(&mut connection, step.user_id).await?;
                drop(connection);
                let Some(mut user) = user else { return Err(SecondStepError::Expired) };
                // The session begins at the epoch the password was given at: if the
                // account's sessions were ended since, it does not begin at all.
                user.session_epoch = step.epoch;
                if step.device_key.is_none() {
                    // The owner got in: earlier wrong answers are no reason for an alarm.
                    self.throttle.clear_factor(user.id).await?;
                }
                let codes_left = match factor {
                    Factor::RecoveryCode => Some(self.code_used(&user).await?),
                    Factor::Totp | Factor::Passkey => None,
                };
                Ok(Passed { user, factor, codes_left })
            }
            None => {
                let failures = store::step_failed(self.pool(), &key).await?;
                let used_up = reservation.failed().await?;
                let mut connection = self.pool().acquire().await?;
                let user = accounts_store::find_user(&mut connection, step.user_id).await?;
                let Some(user) = user else { return Err(SecondStepError::Expired) };
                let entry = audit::Entry::new(Event::SecondStep, Some(user.id), Some(user.id), context)
                    .failed()
                    .details(serde_json::json!({ "factor": answer.factor().as_str() }));
                audit::record(&mut connection, now, &entry).await?;
                drop(connection);
                tracing::info!(
                    event = "authn_second_step_fail",
                    user_id = user.id,
                    factor = answer.factor().as_str()
                );
                if failures < 0 {
                    // The step ended meanwhile (expired, or answered by another request).
                    return Err(SecondStepError::Expired);
                }
                if let (Some(device), true) = (&step.device_key, used_up) {
                    // A known device that failed too often is known no more: its next
                    // tries spend the account's budget, like any stranger's.
                    crate::devices::forget(self.pool(), device).await?;
                    tracing::warn!(
                        event = "authn_device_revoked",
                        "a device cookie failed the second step too often and was revoked"
                    );
                }
                let unknown_browser = step.device_key.is_none();
                let account_failures =
                    if unknown_browser { self.throttle.factor_failures(user.id).await? } else { 0 };
                if (failures >= 2 || account_failures >= ALARM_ACCOUNT_FAILURES)
                    && self.throttle.factor_alarm(user.id).await?
                {
                    self.alarm(&user, context).await?;
                }
                if failures >= SECOND_STEP_MAX_FAILURES || used_up {
                    let mut connection = self.pool().acquire().await?;
                    store::take_step(&mut connection, &key).await?;
                    return Err(SecondStepError::Exhausted);
                }
                Err(SecondStepError::Wrong(answer.factor()))
            }
        }
    }

    /// "Someone may know your password."
    async fn alarm(&self, user: &User, context: &audit::Context) -> sqlx::Result<()> {
        let Ok(to) = Email::parse(&user.email) else { return Ok(()) };
        let mail = self.templates.factor_alarm(&to, &user.username, context.ip.as_deref());
        self.outbox.enqueue(&mail).await?;
        self.outbox.wake();
        tracing::warn!(
            event = "authn_second_step_alarm",
            user_id = user.id,
            "owner mailed: wrong second steps after the right password"
        );
        Ok(())
    }
}
