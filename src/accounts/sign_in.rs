//! Signing in, in the one order that is safe:
//!
//! 1. find the account (if any) and recognise the device cookie (if any): a cookie bound
//!    to this account means the device's own budget, anything else the account's budget
//!    for untrusted clients;
//! 2. **reserve** the attempt in the throttle, before any hashing: counted now, so
//!    concurrent guesses each spend one, and a client that hangs up mid-hash has spent
//!    its attempt too (a throttled attempt costs no hash and says nothing about the
//!    account);
//! 3. take a place in the hashing queue, or answer "busy" at once (the reservation is
//!    refunded: no guess was checked); a known device may take places kept back from
//!    strangers, so a flood cannot crowd the owner out;
//! 4. verify, then settle the reservation: a success refunds the IP and clears the
//!    budget, a failure stays counted, and a device that failed too often is revoked.
//!
//! The right password for a disabled or locked account is refused with an error that says
//! so (after the work above, so it costs what a success costs); a wrong one gets the
//! generic error whatever the account's state. Every verdict on an existing account is
//! an audit event, written with the account's "last sign-in" on a success.
//!
//! Server functions call this and only add the session and the device cookie.

use std::net::IpAddr;

use super::{AccountError, Accounts, Block, UnexpectedError, User};
use crate::{
    audit::{self, Event},
    devices::{Device, Devices},
    hashing::{HashError, Priority, Ticket},
    throttle::{Budget, Reservation, Throttle, Throttled},
    Email, LoginForm,
};

/// Seconds a client is told to wait when the hashing queue is full.
pub const BUSY_RETRY_AFTER_SECS: i64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("throttled for {} s", .0.retry_after_secs)]
    Throttled(Throttled),
    /// The hashing queue is full; nothing was checked or counted.
    #[error("the server is busy")]
    Busy,
    /// Unknown email, wrong password, malformed input: one variant.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The right password, for an account an admin disabled or locked.
    #[error("the account is {0:?}")]
    Blocked(Block),
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl SignInError {
    /// How this refusal is counted (`bulwark_signins_total`).
    pub fn outcome(&self) -> crate::metrics::Outcome {
        use crate::metrics::Outcome;
        match self {
            Self::Throttled(_) => Outcome::Throttled,
            Self::Busy => Outcome::QueueFull,
            Self::InvalidCredentials => Outcome::Failed,
            // A closing account answers as no account at all; counted so too.
            Self::Blocked(crate::accounts::Block::Closing) => Outcome::Failed,
            Self::Blocked(_) => Outcome::Blocked,
            Self::Unexpected(_) => Outcome::Error,
        }
    }
}

impl From<sqlx::Error> for SignInError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(e.into())
    }
}

impl From<AccountError> for SignInError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Unexpected(cause) => Self::Unexpected(cause),
            AccountError::Invalid(_) | AccountError::InvalidCredentials => Self::InvalidCredentials,
        }
    }
}

/// One sign-in attempt as it arrived.
#[derive(Clone, Copy)]
pub struct Attempt<'a> {
    pub ip: IpAddr,
    pub email: &'a str,
    pub password: &'a str,
    /// The device cookie the browser sent, if any.
    pub device_cookie: Option<&'a str>,
    /// Where it came from, for the audit log.
    pub context: &'a audit::Context,
}

impl std::fmt::Debug for Attempt<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt").field("ip", &self.ip).finish_non_exhaustive()
    }
}

/// The right password for an account that may sign in: what [`crate::completion`] turns
/// into a session, or into a pending second step when the account has a factor. Its
/// fields are private, so only this function makes one.
#[derive(Debug)]
pub struct PasswordChecked {
    pub(crate) user: User,
    /// The browser's device cookie, when it is a known device of this account.
    pub(crate) device: Option<Device>,
}

impl PasswordChecked {
    pub fn user(&self) -> &User {
        &self.user
    }
}

/// Checks an attempt. See the module documentation for the order.
pub async fn sign_in(
    accounts: &Accounts,
    throttle: &Throttle,
    devices: &Devices,
    attempt: Attempt<'_>,
) -> Result<PasswordChecked, SignInError> {
    let checked = check_password(accounts, throttle, devices, attempt).await;
    // A right password is counted where the sign-in completes (a session, or a second
    // step owed); a refusal here.
    if let Err(error) = &checked {
        crate::metrics::sign_in(crate::metrics::Method::Password, error.outcome());
    }
    checked
}

async fn check_password(
    accounts: &Accounts,
    throttle: &Throttle,
    devices: &Devices,
    attempt: Attempt<'_>,
) -> Result<PasswordChecked, SignInError> {
    // The account budget is keyed by the email whether or not an account has it.
    let email = Email::parse(attempt.email).ok();
    let found = match &email {
        Some(email) => accounts.credentials(email).await?,
        None => None,
    };
    let device = devices.recognise(attempt.device_cookie).await?;
    let trusted: Option<&Device> =
        device.as_ref().filter(|d| found.as_ref().is_some_and(|f| f.user_id() == d.user_id));
    let budget = match trusted {
        Some(device) => Budget::Device(&device.key),
        None => Budget::Untrusted(email.as_ref()),
    };
    let reservation = throttle.reserve_login(attempt.ip, budget).await?.map_err(SignInError::Throttled)?;

    let found_id = found.as_ref().map(|f| f.user_id());
    let priority = if trusted.is_some() { Priority::Trusted } else { Priority::Normal };
    let Some((reservation, ticket)) = admit_reserved(accounts.hasher(), reservation, priority).await? else {
        tracing::warn!(event = "authn_hashing_busy", "hashing queue full; sign-in refused");
        return Err(SignInError::Busy);
    };
    let verdict = match LoginForm::parse_parts(email.clone(), attempt.password) {
        Some(form) => accounts.check_password(ticket, found, &form.password).await,
        None => {
            drop(ticket);
            Err(AccountError::InvalidCredentials)
        }
    };
    match verdict {
        Ok(user) => {
            reservation.succeeded().await?;
            if let Some(block) = user.standing.block(accounts.clock.now()) {
                record(accounts, &user, attempt.context, Some(block), None).await?;
                tracing::info!(event = "authn_login_fail_blocked", user_id = user.id, block = ?block);
                return Err(SignInError::Blocked(block));
            }
            Ok(PasswordChecked { user, device: trusted.cloned() })
        }
        Err(AccountError::InvalidCredentials | AccountError::Invalid(_)) => {
            // Written for unknown addresses too (with no subject), so the answer takes the
            // same time whether the account exists.
            let mut connection = accounts.pool.acquire().await?;
            let entry = audit::Entry::new(Event::LoginFail, None, found_id, attempt.context).failed();
            audit::record(&mut connection, accounts.clock.now(), &entry).await?;
            let subject = email.as_ref().map(|e| throttle.log_tag(e));
            tracing::info!(
                event = "authn_login_fail",
                subject = subject.as_deref().unwrap_or("malformed"),
                device = trusted.is_some()
            );
            if reservation.failed().await? {
                if let Some(device) = trusted {
                    devices.revoke(device).await?;
                    tracing::warn!(
                        event = "authn_device_revoked",
                        "a device cookie failed too often and was revoked"
                    );
                }
            }
            Err(SignInError::InvalidCredentials)
        }
        Err(AccountError::Unexpected(UnexpectedError::Hashing(HashError::Busy))) => Err(SignInError::Busy),
        Err(AccountError::Unexpected(cause)) => Err(cause.into()),
    }
}

/// A reserved attempt takes a place in the hashing queue: `None` when the queue is full,
/// and then the reservation is refunded (nothing was checked). The reservation's in-flight
/// slots travel with the ticket: they stay taken until the hash has finished, even if the
/// request is dropped before then. Shared by sign-in and typing the password again.
pub(super) async fn admit_reserved(
    hasher: &crate::hashing::PasswordHasher,
    mut reservation: Reservation,
    priority: Priority,
) -> sqlx::Result<Option<(Reservation, Ticket)>> {
    let mut ticket = match hasher.admit_as(priority) {
        Ok(ticket) => ticket,
        Err(_) => {
            reservation.refund().await?;
            return Ok(None);
        }
    };
    for guard in reservation.take_guards() {
        ticket.hold(guard);
    }
    Ok(Some((reservation, ticket)))
}

/// A completed sign-in (or a right password refused for the account's state): the audit
/// event (naming the factor, if one was used) and, when the account may sign in, its "last
/// sign-in", in one transaction. Whether a new browser is worth announcing (see
/// `store::touch_sign_in`).
pub(crate) async fn record(
    accounts: &Accounts,
    user: &User,
    context: &audit::Context,
    blocked: Option<Block>,
    factor: Option<crate::factors::Factor>,
) -> Result<bool, SignInError> {
    let now = accounts.clock.now();
    let mut tx = crate::db::write(&accounts.pool).await?;
    let mut entry = audit::Entry::new(Event::LoginSuccess, Some(user.id), Some(user.id), context);
    if let Some(factor) = factor {
        entry = entry.details(serde_json::json!({ "factor": factor.as_str() }));
    }
    let mut before = true;
    if let Some(block) = blocked {
        entry = entry.failed().details(serde_json::json!({ "refused": format!("{block:?}").to_lowercase() }));
    } else {
        before = super::store::touch_sign_in(&mut tx, user.id, now).await?;
    }
    audit::record(&mut tx, now, &entry).await?;
    tx.commit().await?;
    Ok(before)
}
