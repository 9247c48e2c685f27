//! Password reset links: issuing one for an address, showing which account a link is for,
//! and setting a new password with it.

use super::{store, AccountError, Accounts, UnexpectedError, User, RESET_PASSWORD_VALID_SECS};
use crate::{hashing::HashError, token, Email, Field, FieldErrors, Password};

/// Why a password reset was refused.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// Unknown, used, expired or superseded link: one answer. The link is only used up
    /// by a reset that succeeds.
    #[error("invalid, used or expired link")]
    InvalidLink,
    /// The new password broke a rule, or the second factor was missing or wrong; the link
    /// still works.
    #[error("invalid input")]
    Invalid(FieldErrors),
    /// Too many wrong second-factor answers for the account.
    #[error("throttled for {} s", .0.retry_after_secs)]
    Throttled(crate::throttle::Throttled),
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl From<sqlx::Error> for ResetError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(e.into())
    }
}

impl From<HashError> for ResetError {
    fn from(e: HashError) -> Self {
        Self::Unexpected(e.into())
    }
}

impl Accounts {
    /// A password reset link token for the account at `email`, if there is one.
    pub async fn issue_reset(&self, email: &Email) -> Result<Option<(User, String)>, AccountError> {
        let Some(user) = store::find_user_by_email(&self.pool, email).await? else { return Ok(None) };
        // A closing account gets no link, as an address without an account gets none.
        if user.standing.deletion_due_at.is_some() {
            return Ok(None);
        }
        // On a write transaction: they take turns, so an email change cannot commit between
        // this insert's check of the address and its own deletion of the account's links.
        let mut tx = crate::db::write(&self.pool).await?;
        let token = self.reset_token_in(&mut tx, &user).await?;
        tx.commit().await?;
        Ok(token.map(|token| (user, token)))
    }

    /// A reset link token for `user` as read on `tx` (a write transaction), stored only
    /// while the account still has that address and epoch; `None` when it moved on.
    pub async fn reset_token_in(&self, tx: &mut crate::db::Tx, user: &User) -> sqlx::Result<Option<String>> {
        let new = token::generate();
        let now = self.clock.now();
        let expires_at = now + RESET_PASSWORD_VALID_SECS;
        let stored = store::insert_token(
            tx,
            &new.hash,
            user.id,
            (&user.email, user.session_epoch),
            store::Purpose::ResetPassword,
            now,
            expires_at,
        )
        .await?;
        Ok(stored.then_some(new.token))
    }

    /// Sets a new password through a reset link. The password is checked (length and
    /// strength, against the account's email and username) before the link is used up, so
    /// a refused password does not cost the user their link. Success bumps the epoch:
    /// every session of the account ends and every other link dies. It also confirms the
    /// address, since the link proved it.
    #[tracing::instrument(name = "reset_password", skip_all)]
    pub async fn reset_password(
        &self,
        token: &str,
        password: &str,
        factor: &dyn FactorCheck,
    ) -> Result<User, ResetError> {
        let hash = token::parse(token).ok_or(ResetError::InvalidLink)?;
        let purpose = store::Purpose::ResetPassword;
        let (user_id, epoch, expires_at) =
            store::peek_token(&self.pool, &hash, purpose).await?.ok_or(ResetError::InvalidLink)?;
        let user = store::find_user(&mut self.pool.acquire().await?, user_id).await?;
        let now = self.clock.now();
        let Some(user) = user.filter(|u| u.session_epoch == epoch && expires_at > now) else {
            return Err(ResetError::InvalidLink);
        };

        let password = Password::parse(password, self.policy)
            .map_err(|e| ResetError::Invalid(FieldErrors::single(Field::Password, e.to_string())))?;
        let inputs = crate::password::user_inputs(&user.email, &user.username);
        if let Some(weak) = self.weakness(password.clone(), inputs).await? {
            return Err(ResetError::Invalid(FieldErrors::single(Field::Password, weak)));
        }
        let password_hash = self.hasher.hash(&password).await?;
        // An account with a second factor: the mailbox alone does not set its password
        // (the factor is asked only now, so a refused password spends no code).
        if user.has_factor() {
            factor.check(&user).await?;
        }

        // The link used up, the password set and the audit event, together or not at all.
        let mut tx = crate::db::write(&self.pool).await?;
        if store::take_token(&mut tx, &hash, purpose).await?.is_none()
            || !store::set_password(&mut tx, user_id, epoch, &password_hash, now).await?
        {
            return Err(ResetError::InvalidLink);
        }
        let context = crate::audit::Context::default();
        let entry = crate::audit::Entry::new(
            crate::audit::Event::PasswordReset,
            Some(user_id),
            Some(user_id),
            &context,
        );
        crate::audit::record(&mut tx, now, &entry).await?;
        // Read inside the write transaction: a change that commits right after (a forced
        // reset, say) must not lend its epoch to the device cookie made from what is returned.
        let changed = store::find_user(&mut tx, user_id).await?.ok_or(ResetError::InvalidLink)?;
        tx.commit().await?;
        store::delete_tokens(&self.pool, user_id, purpose).await?;
        store::delete_tokens(&self.pool, user_id, store::Purpose::VerifyEmail).await?;
        Ok(changed)
    }

    /// The address of the account a live reset link is for (the one the link was mailed
    /// to), for its page to name before anything is typed: a genuine link for someone
    /// else's account, sent to a victim, then says whose it is. `None` for an unknown,
    /// used, expired or superseded link. Reads only; the link stays as it was.
    pub async fn reset_link_address(&self, token: &str) -> Result<Option<String>, AccountError> {
        Ok(self.reset_link_user(token).await?.map(|u| u.email))
    }

    /// The account a live reset link is for (nothing is used up).
    pub async fn reset_link_user(&self, token: &str) -> Result<Option<User>, AccountError> {
        let Some(hash) = token::parse(token) else { return Ok(None) };
        let Some((user_id, epoch, expires_at)) =
            store::peek_token(&self.pool, &hash, store::Purpose::ResetPassword).await?
        else {
            return Ok(None);
        };
        let user = store::find_user(&mut self.pool.acquire().await?, user_id).await?;
        let now = self.clock.now();
        Ok(user.filter(|u| u.session_epoch == epoch && expires_at > now))
    }
}

/// The second step of a reset, for an account with a second factor: supplied by the
/// caller (see `Recovery::reset_password`), which holds the answer typed with the new
/// password. `Err` refuses the reset and leaves the link usable.
#[async_trait::async_trait]
pub trait FactorCheck: Send + Sync {
    async fn check(&self, user: &User) -> Result<(), ResetError>;
}

/// For accounts without a factor only (tests, tools): any account with one is refused.
pub struct NoFactor;

#[async_trait::async_trait]
impl FactorCheck for NoFactor {
    async fn check(&self, _: &User) -> Result<(), ResetError> {
        Err(ResetError::Invalid(FieldErrors::single(Field::Code, crate::messages::CODE_EMPTY)))
    }
}

#[cfg(test)]
mod tests {
    use super::{
        super::tests::{accounts, sign_in, verified, GOOD, OTHER},
        *,
    };

    async fn reset_link(accounts: &Accounts, email: &str) -> (User, String) {
        accounts.issue_reset(&Email::parse(email).expect("email")).await.expect("db").expect("an account")
    }

    #[tokio::test]
    async fn a_reset_link_is_stored_only_while_the_address_and_epoch_are_the_ones_looked_up() {
        let (accounts, clock, _dir) = accounts().await;
        let id = verified(&accounts, "a@example.com", "alpha").await;
        let user = accounts.find_user(id).await.expect("db").expect("the account");
        let now = crate::clock::Clock::now(&clock);
        let insert = |hash: &'static str, seen: (&'static str, i64)| {
            let pool = accounts.pool.clone();
            async move {
                let mut connection = pool.acquire().await.expect("connection");
                let purpose = store::Purpose::ResetPassword;
                store::insert_token(&mut connection, hash, user.id, seen, purpose, now, now + 60)
                    .await
                    .expect("db")
            }
        };
        // An email change (no epoch bump) or a new password committed between the look-up
        // and the insert: no link for the old mailbox.
        assert!(!insert("h1", ("someone.else@example.com", user.session_epoch)).await);
        assert!(!insert("h2", ("a@example.com", user.session_epoch + 1)).await);
        assert!(insert("h3", ("a@example.com", user.session_epoch)).await);
    }

    #[tokio::test]
    async fn a_reset_sets_the_password_bumps_the_epoch_and_works_once() {
        let (accounts, _clock, _dir) = accounts().await;
        verified(&accounts, "a@example.com", "alpha").await;
        let (before, token) = reset_link(&accounts, "a@example.com").await;
        let after = accounts.reset_password(&token, OTHER, &super::NoFactor).await.expect("reset");
        assert_eq!(after.session_epoch, before.session_epoch + 1, "every session ends");
        assert!(sign_in(&accounts, "a@example.com", GOOD).await.is_err());
        assert!(sign_in(&accounts, "a@example.com", OTHER).await.is_ok());
        assert!(matches!(
            accounts.reset_password(&token, GOOD, &super::NoFactor).await,
            Err(ResetError::InvalidLink)
        ));
    }

    #[tokio::test]
    async fn a_live_link_names_its_account_and_a_dead_one_nothing() {
        let (accounts, clock, _dir) = accounts().await;
        verified(&accounts, "a@example.com", "alpha").await;
        let (_, token) = reset_link(&accounts, "a@example.com").await;
        let named = accounts.reset_link_address(&token).await.expect("db");
        assert_eq!(named.as_deref(), Some("a@example.com"));
        assert_eq!(accounts.reset_link_address(&token).await.expect("db"), named, "looking used nothing up");
        for dead in ["", "not-hex", &"0".repeat(64)] {
            assert_eq!(accounts.reset_link_address(dead).await.expect("db"), None);
        }
        clock.advance(RESET_PASSWORD_VALID_SECS);
        assert_eq!(accounts.reset_link_address(&token).await.expect("db"), None, "expired");
        let (_, token) = reset_link(&accounts, "a@example.com").await;
        accounts.reset_password(&token, OTHER, &super::NoFactor).await.expect("reset");
        assert_eq!(accounts.reset_link_address(&token).await.expect("db"), None, "used");
    }

    #[tokio::test]
    async fn a_refused_password_keeps_the_link_usable() {
        let (accounts, _clock, _dir) = accounts().await;
        verified(&accounts, "kitten@example.com", "kitten").await;
        let (_, token) = reset_link(&accounts, "kitten@example.com").await;
        for weak in ["short", "kittenkittenkitten1"] {
            match accounts.reset_password(&token, weak, &super::NoFactor).await {
                Err(ResetError::Invalid(errors)) => assert!(errors.get(Field::Password).is_some()),
                other => panic!("expected a password error, got {other:?}"),
            }
        }
        accounts.reset_password(&token, OTHER, &super::NoFactor).await.expect("the link still works");
    }

    #[tokio::test]
    async fn a_reset_link_expires_after_an_hour_and_dies_with_the_next_reset() {
        let (accounts, clock, _dir) = accounts().await;
        verified(&accounts, "a@example.com", "alpha").await;
        let (_, old) = reset_link(&accounts, "a@example.com").await;
        clock.advance(RESET_PASSWORD_VALID_SECS);
        assert!(matches!(
            accounts.reset_password(&old, OTHER, &super::NoFactor).await,
            Err(ResetError::InvalidLink)
        ));

        let (_, first) = reset_link(&accounts, "a@example.com").await;
        let (_, second) = reset_link(&accounts, "a@example.com").await;
        accounts.reset_password(&second, OTHER, &super::NoFactor).await.expect("reset");
        assert!(matches!(
            accounts.reset_password(&first, GOOD, &super::NoFactor).await,
            Err(ResetError::InvalidLink)
        ));
    }

    #[tokio::test]
    async fn no_reset_link_for_an_unknown_address() {
        let (accounts, _clock, _dir) = accounts().await;
        let unknown = Email::parse("nobody@example.com").expect("email");
        assert!(accounts.issue_reset(&unknown).await.expect("db").is_none());
    }
}
