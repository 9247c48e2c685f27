//! The invitee's side: what a link offers, and accepting it (see the module above).

use super::{store, InvitationError, Invitations, Offer};
use crate::{accounts::Inserted, accounts::UserId, audit, audit::Event, token, Field, FieldErrors, Role};

impl Invitations {
    /// What a live link offers, for its page: the address and the role.
    pub async fn peek(&self, token: &str) -> Result<Offer, InvitationError> {
        let hash = token::parse(token).ok_or(InvitationError::InvalidLink)?;
        let mut connection = self.pool.acquire().await?;
        let (_, email, role, expires_at) = store::find_live(&mut connection, &hash, self.clock.now())
            .await?
            .ok_or(InvitationError::InvalidLink)?;
        Ok(Offer { email, role: Role::parse_lenient(&role), expires_at })
    }

    /// Accepts the invitation behind `token` with `username` and `password`: a confirmed
    /// account with the invitation's role. Throttled per client IP (each submission may
    /// hash a password). The new account's id.
    pub async fn accept(
        &self,
        ip: std::net::IpAddr,
        token: &str,
        username: &str,
        password: &str,
        context: &audit::Context,
    ) -> Result<UserId, InvitationError> {
        self.throttle.link_submission(ip).await?.map_err(InvitationError::Throttled)?;
        let offer = self.peek(token).await?;
        let prepared = self.accounts.prepare_signup(&offer.email, username, password).await?;
        let hash = token::parse(token).ok_or(InvitationError::InvalidLink)?;
        let mut tx = crate::db::write(&self.pool).await?;
        let now = self.clock.now();
        // The link is claimed first: of concurrent acceptances, one gets past this.
        let (id, _, role) = store::claim(&mut tx, &hash, now).await?.ok_or(InvitationError::InvalidLink)?;
        let role = Role::parse_lenient(&role);
        let user = match self.accounts.insert_invited(&mut tx, &prepared, role, now).await? {
            Inserted::Created(user) => user,
            // Rolled back: the link still works (with another username).
            Inserted::UsernameTaken => {
                return Err(InvitationError::Invalid(FieldErrors::single(
                    Field::Username,
                    crate::messages::USERNAME_TAKEN,
                )))
            }
            Inserted::EmailTaken => return Err(InvitationError::EmailTaken),
        };
        store::accepted_as(&mut tx, id, user).await?;
        let details = serde_json::json!({ "role": role.as_str(), "confirmed": true, "via": "invitation", "invitation": id });
        let entry = audit::Entry::new(Event::UserCreated, Some(user), Some(user), context).details(details);
        audit::record(&mut tx, now, &entry).await?;
        tx.commit().await?;
        tracing::info!(event = "user_created", user_id = user, invitation = id, role = role.as_str());
        Ok(user)
    }
}
