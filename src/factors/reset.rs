//! The second factor during a password reset: the mailed link proves the mailbox, and for
//! an account with a factor that is one factor only. The reset asks for a code (or a
//! recovery code) with the new password, checked on the account's second-step budget
//! (one budget however many links the mailbox asks for: a reset link is no faster way to
//! grind codes than the sign-in; it backs off but never locks for long, so strangers
//! cannot keep the owner from resetting), after the new password passed its rules (so a
//! refused password spends no code) and before anything changes.

use std::net::IpAddr;

use super::{Answer, FactorError, Factors};
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
    async fn check(&self, user: &User) -> Result<(), ResetError> {
        let Some(answer) = self.answer else { return Err(refused(crate::messages::CODE_EMPTY)) };
        let audit = (Event::SecondStep, serde_json::json!({ "during": "password_reset" }));
        let budget = (self.ip, Budget::Factor(user.id));
        match self.factors.prove(user, budget, answer, audit, self.context).await {
            Ok(_) => Ok(()),
            Err(FactorError::Throttled(verdict)) => Err(ResetError::Throttled(verdict)),
            Err(FactorError::WrongRecoveryCode) => Err(refused(crate::messages::WRONG_RECOVERY_CODE)),
            // The account's budget never ends a proof (`Rule::Factor`): only wrong answers.
            Err(FactorError::WrongCode | FactorError::Exhausted) => Err(refused(crate::messages::WRONG_CODE)),
            Err(FactorError::Unexpected(cause)) => Err(cause.into()),
            Err(other) => {
                tracing::error!(error = %other, "unexpected refusal of a reset's factor");
                Err(refused(crate::messages::WRONG_CODE))
            }
        }
    }
}
