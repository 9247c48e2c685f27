//! The one function that completes a sign-in ([`complete`]). Every way a session comes to
//! exist passes here: the password ([`crate::accounts::sign_in`]), the second step that
//! follows it ([`crate::factors::Factors::second_step`]), and a passkey on its own
//! ([`crate::factors::Factors::passkey_sign_in`]). A mailed
//! link never signs anyone in; an admin's own session coming back after an impersonation
//! is the session they had (it passed here when it began).
//!
//! It decides whether a factor is still owed: an account with one gets a pending second
//! step (never a session) after its password. Otherwise it re-checks that the account may
//! sign in, writes the audit event and the account's "last sign-in", renews or issues the
//! device cookie, tells the owner of a browser new to the account, and hands back a
//! [`Completed`] sign-in: the only value a session can begin from
//! ([`crate::sessions::begin`]).

use crate::{
    accounts::{sign_in::record, Accounts, PasswordChecked, SignInError},
    audit,
    devices::{Devices, NewDevice},
    factors::{Factor, Factors, NewSecondStep, Passed},
    sessions::{Completed, Proof},
};

/// What has been proved so far.
#[derive(Debug)]
pub enum Step {
    /// The right password (for an account that may sign in).
    Password(PasswordChecked),
    /// The second step that followed it.
    SecondFactor(Passed),
    /// A passkey with user verification, on its own (no address, no password).
    Passkey(Passed),
}

/// Where the sign-in stands.
// Made once per sign-in and moved once: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Outcome {
    /// Complete: begin the session, set the device cookie if there is a new one.
    SignedIn {
        completed: Completed,
        new_device: Option<NewDevice>,
        /// Unused recovery codes left, when one was just used.
        codes_left: Option<i64>,
    },
    /// A factor is owed: set the second-step cookie and ask for it. No session.
    SecondStep(NewSecondStep),
}

/// The services a sign-in touches.
#[derive(Clone, Copy)]
pub struct Services<'a> {
    pub accounts: &'a Accounts,
    pub devices: &'a Devices,
    pub factors: &'a Factors,
}

/// Completes a sign-in as far as `step` allows. `device_cookie` is the browser's device
/// cookie (renewed, or a new one issued); `context` where the request came from.
pub async fn complete(
    services: Services<'_>,
    step: Step,
    device_cookie: Option<&str>,
    context: &audit::Context,
) -> Result<Outcome, SignInError> {
    use crate::metrics::{self, Method};
    let method = match step {
        Step::Password(_) => Method::Password,
        Step::SecondFactor(_) => Method::SecondStep,
        Step::Passkey(_) => Method::Passkey,
    };
    let outcome = decide(services, step, device_cookie, context).await;
    metrics::sign_in(
        method,
        match &outcome {
            Ok(Outcome::SignedIn { .. }) => metrics::Outcome::SignedIn,
            Ok(Outcome::SecondStep(_)) => metrics::Outcome::SecondStepOwed,
            Err(error) => error.outcome(),
        },
    );
    outcome
}

async fn decide(
    services: Services<'_>,
    step: Step,
    device_cookie: Option<&str>,
    context: &audit::Context,
) -> Result<Outcome, SignInError> {
    let Services { accounts, devices, factors } = services;
    let passkey_only = matches!(step, Step::Passkey(_));
    let (user, proof, codes_left) = match step {
        Step::Password(checked) => {
            if checked.user.has_factor() {
                let pending = factors.begin_second_step(&checked.user, checked.device.as_ref()).await?;
                tracing::info!(event = "authn_second_step_owed", user_id = checked.user.id);
                return Ok(Outcome::SecondStep(pending));
            }
            (checked.user, Proof::Password, None)
        }
        Step::SecondFactor(passed) | Step::Passkey(passed) => {
            // The account as it is now: an admin may have disabled or locked it while the
            // second step waited.
            if let Some(block) = passed.user.standing.block(accounts.now()) {
                record(accounts, &passed.user, context, Some(block), Some(passed.factor)).await?;
                return Err(SignInError::Blocked(block));
            }
            if !passed.user.email_verified {
                return Err(SignInError::InvalidCredentials);
            }
            let proof = match passed.factor {
                Factor::Passkey if passkey_only => Proof::Passkey,
                factor => Proof::PasswordAndFactor(factor),
            };
            (passed.user, proof, passed.codes_left)
        }
    };
    let factor = match proof {
        Proof::PasswordAndFactor(factor) => Some(factor),
        Proof::Passkey => Some(Factor::Passkey),
        Proof::Password | Proof::Renewed => None,
    };
    let announce = record(accounts, &user, context, None, factor).await?;
    // The owner is told of a browser new to the account, except at its first sign-in soon
    // after it was made (right after signup, every browser is new).
    let known = devices.recognise(device_cookie).await?.filter(|d| d.user_id == user.id);
    let new_device = devices.signed_in(&user, known.as_ref(), announce.then_some(context)).await?;
    Ok(Outcome::SignedIn { completed: Completed::new(user, proof), new_device, codes_left })
}

/// A new password typed on a session that was already complete: the session goes on
/// under a new id (see `Recovery::change_password`).
pub(crate) fn renewed(user: crate::accounts::User) -> Completed {
    Completed::new(user, Proof::Renewed)
}
