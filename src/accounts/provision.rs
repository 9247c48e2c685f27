//! Accounts made by an operator rather than by signing up (`server create-admin`,
//! `server create-user`): confirmed at once, under the same rules as signup (address and
//! username forms, password policy and strength). Unlike signup, an operator is told
//! plainly when the address or username is taken.

use super::{store, AccountError, Accounts, UnexpectedError, User};
use crate::db::AsConn;
use crate::{
    audit::{self, Event},
    Role,
};

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// A field broke a rule; messages per field.
    #[error("invalid input")]
    Invalid(crate::FieldErrors),
    #[error("an account with this email address already exists")]
    EmailTaken,
    #[error("this username is already taken")]
    UsernameTaken,
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl From<sqlx::Error> for ProvisionError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(e.into())
    }
}

impl From<AccountError> for ProvisionError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid(errors) => Self::Invalid(errors),
            AccountError::InvalidCredentials => Self::Invalid(crate::FieldErrors::default()),
            AccountError::Unexpected(cause) => Self::Unexpected(cause),
        }
    }
}

impl Accounts {
    /// Creates a confirmed account with `role`, and its audit event, in one transaction.
    pub async fn create_confirmed(
        &self,
        email: &str,
        username: &str,
        password: &str,
        role: Role,
        context: &audit::Context,
    ) -> Result<User, ProvisionError> {
        let prepared = self.prepare_signup(email, username, password).await?;
        let now = self.clock.now();
        let new = store::NewUser {
            email: prepared.email.as_str(),
            username: prepared.username.canonical(),
            display_name: prepared.username.display(),
            password_hash: &prepared.password_hash,
            created_at: now,
        };
        let mut tx = crate::db::write(&self.pool).await?;
        let Some(id) = store::insert_confirmed(&mut tx, &new, role).await? else {
            return Err(if store::email_exists(&mut tx, new.email).await? {
                ProvisionError::EmailTaken
            } else {
                ProvisionError::UsernameTaken
            });
        };
        let entry = audit::Entry::new(Event::UserCreated, None, Some(id), context)
            .details(serde_json::json!({ "role": role.as_str(), "confirmed": true }));
        audit::record(&mut tx, now, &entry).await?;
        tx.commit().await?;
        store::find_user(&mut self.pool.acquire().await?, id)
            .await?
            .ok_or_else(|| ProvisionError::Unexpected(sqlx::Error::RowNotFound.into()))
    }
}

/// What inserting an invited account came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    Created(super::UserId),
    /// The address has an account (made since the invitation was sent).
    EmailTaken,
    /// Another account holds the username, or it is reserved after an erasure.
    UsernameTaken,
}

impl Accounts {
    /// Inserts the confirmed account `prepared` describes, with `role`, on the caller's
    /// transaction (an invitation's acceptance: following the mailed link confirmed the
    /// address). A username reserved after an erasure counts as taken.
    pub async fn insert_invited(
        &self,
        tx: &mut crate::db::Tx,
        prepared: &super::PreparedSignup,
        role: Role,
        now: crate::clock::UnixTime,
    ) -> sqlx::Result<Inserted> {
        let reserved_hash = self.retired_username_hash(prepared.username.canonical());
        let reserved: Option<i64> = crate::on_db!(tx.conn(), c => sqlx::query_scalar(
            "SELECT until FROM retired_usernames WHERE username_hash = $1 AND until > $2",
        )
        .bind(&reserved_hash)
        .bind(now)
        .fetch_optional(c)
        .await)?;
        if reserved.is_some() {
            return Ok(Inserted::UsernameTaken);
        }
        let new = store::NewUser {
            email: prepared.email.as_str(),
            username: prepared.username.canonical(),
            display_name: prepared.username.display(),
            password_hash: &prepared.password_hash,
            created_at: now,
        };
        Ok(match store::insert_confirmed(tx, &new, role).await? {
            Some(id) => Inserted::Created(id),
            None if store::email_exists(tx, new.email).await? => Inserted::EmailTaken,
            None => Inserted::UsernameTaken,
        })
    }
}
