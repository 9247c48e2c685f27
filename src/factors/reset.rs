//! The second factor during a password reset: the mailed link proves the mailbox, and for
//! an account with a factor that is one factor only. The reset asks for a code (or a
//! recovery code) with the new password, checked on the account's second-step budget
//! (one budget however many links the mailbox asks for: a reset link is no faster way to
//! grind codes than the sign-in; it backs off but never locks for long, so strangers
//! cannot keep the owner from resetting), after the new password passed its rules (so a
//! refused password spends no code) and before anything changes.

use std::net::IpAddr;

use super::{Answer, Factor, Factors};
use crate::{
    accounts::{FactorCheck, ResetError, User},
    audit::{self, Event},
    throttle::Budget,
    Field, FieldErrors,
};

/// [`FactorCheck`] with the answer typed on the reset page.
pub struct ResetFactor<'a> {
    pub factors: &'a Factors,
    pub ip: IpAddr,
    pub answer: Option<Answer<'a>>,
    pub context: &'a audit::Context,
}

fn refused(message: &str) -> ResetError {
    ResetError::Invalid(FieldErrors::single(Field::Code, message))
}

#[async_trait::async_trait]
impl FactorCheck for ResetFactor<'_> {
    async fn check(&self, user: &User, _link: &str) -> Result<(), ResetError> {
        let Some(answer) = self.answer else { return Err(refused(crate::messages::CODE_EMPTY)) };
        let factors = self.factors;
        let reservation = factors
            .throttle
            .reserve_login(self.ip, Budget::Factor(user.id))
            .await?
            .map_err(ResetError::Throttled)?;
        let now = factors.now();
        let used = factors.check(user.id, answer, now).await?;
        let mut connection = factors.pool().acquire().await?;
        let mut entry = audit::Entry::new(Event::SecondStep, Some(user.id), Some(user.id), self.context)
            .details(serde_json::json!({ "factor": answer.factor().as_str(), "during": "password_reset" }));
        if used.is_none() {
            entry = entry.failed();
        }
        audit::record(&mut connection, now, &entry).await?;
        drop(connection);
        match used {
            Some(factor) => {
                reservation.succeeded().await?;
                if factor == Factor::RecoveryCode {
                    factors.code_used(user).await?;
                }
                Ok(())
            }
            None => {
                if reservation.failed().await? {
                    return Err(ResetError::InvalidLink);
                }
                Err(refused(match answer {
                    Answer::Code(_) => crate::messages::WRONG_CODE,
                    Answer::RecoveryCode(_) => crate::messages::WRONG_RECOVERY_CODE,
                }))
            }
        }
    }
}
