//! Using a passkey: as the second step of a sign-in or for a step-up (an answer checked
//! like a code, through `Factors::check`), or on its own to sign in without an address
//! ([`Factors::passkey_sign_in`]).

use std::net::IpAddr;

use webauthn_rs::prelude::{
    AuthenticationResult, Passkey, PublicKeyCredential, WebauthnError, WebauthnResult,
};

use super::{
    ceremony::{Ceremony, State},
    credential_key, store, PasskeyError, RelyingParty,
};
use crate::{
    accounts::{store as accounts_store, UserId},
    audit::{self, Event},
    clock::UnixTime,
    factors::{pending_store, Factor, Factors, Offers, Passed, SECOND_STEP_MAX_FAILURES},
    mail::templates::FactorNotice,
    throttle::Budget,
    token::{self, Kind},
};

/// The browser's answer to a passkey request of a second step or a step-up, with the
/// state its ceremony left (already taken: it cannot be answered again).
pub struct PasskeyAnswer {
    credential: Option<PublicKeyCredential>,
    state: Option<(UserId, webauthn_rs::prelude::PasskeyAuthentication)>,
}

impl PasskeyAnswer {
    /// Whether it took a ceremony's state (an answer without one is refused).
    pub fn has_state(&self) -> bool {
        self.state.is_some()
    }
}

impl std::fmt::Debug for PasskeyAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasskeyAnswer(<redacted>)")
    }
}

/// A passkey sign-in under way: the cookie that ties it to this browser, and the options
/// for `navigator.credentials.get()` (JSON).
pub struct SignInChallenge {
    pub cookie: String,
    pub options: String,
}

impl Factors {
    /// Asks for one of the account's passkeys, for `ceremony` (a step-up or a second
    /// step): the options for `navigator.credentials.get()` (JSON), listing the account's
    /// usable passkeys. Only ever after the password (or on a signed-in session), so the
    /// list reveals nothing to a stranger.
    pub async fn passkey_challenge(
        &self,
        ceremony: Ceremony<'_>,
        user_id: UserId,
    ) -> Result<String, PasskeyError> {
        let relying_party = self.relying_party()?;
        let passkeys: Vec<Passkey> =
            self.usable_passkeys(user_id).await?.into_iter().map(|(_, p)| p).collect();
        if passkeys.is_empty() {
            return Err(PasskeyError::NoPasskey);
        }
        let (options, state) = relying_party
            .webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(|_| PasskeyError::Refused)?;
        self.put_ceremony(ceremony, Some(user_id), &State::Authenticate(state)).await?;
        serde_json::to_string(&options).map_err(|_| PasskeyError::Refused)
    }

    /// The passkey request of the pending second step `cookie` names.
    pub async fn second_step_challenge(&self, cookie: Option<&str>) -> Result<String, PasskeyError> {
        let Some(cookie) = cookie else { return Err(PasskeyError::Expired) };
        let Some(key) = token::parse_kind(Kind::SecondStep, cookie) else {
            return Err(PasskeyError::Expired);
        };
        let mut connection = self.pool.acquire().await?;
        let step =
            pending_store::live_step(&mut connection, &key, self.now(), SECOND_STEP_MAX_FAILURES).await?;
        drop(connection);
        let Some(step) = step else { return Err(PasskeyError::Expired) };
        self.passkey_challenge(Ceremony::SecondStep(cookie), step.user_id).await
    }

    /// What the account may answer with: an app's code, a passkey (recovery codes always).
    pub async fn offers(&self, user_id: UserId) -> sqlx::Result<Offers> {
        let status = self.status(user_id).await?;
        let passkey = self.passkeys_available() && !self.usable_passkeys(user_id).await?.is_empty();
        Ok(Offers { app: status.app, passkey })
    }

    /// What the pending second step `cookie` names may be answered with (nothing when none
    /// waits). Only the holder of the right password learns it.
    pub async fn second_step_offers(&self, cookie: Option<&str>) -> sqlx::Result<Offers> {
        let Some(key) = cookie.and_then(|c| token::parse_kind(Kind::SecondStep, c)) else {
            return Ok(Offers::default());
        };
        let mut connection = self.pool.acquire().await?;
        let step =
            pending_store::live_step(&mut connection, &key, self.now(), SECOND_STEP_MAX_FAILURES).await?;
        drop(connection);
        match step {
            Some(step) => self.offers(step.user_id).await,
            None => Ok(Offers::default()),
        }
    }

    /// Takes `ceremony`'s state (it is gone from now on) with the browser's `response`:
    /// what [`crate::factors::Answer::Passkey`] carries to the check.
    pub async fn passkey_answer(
        &self,
        ceremony: Ceremony<'_>,
        response: &str,
    ) -> sqlx::Result<PasskeyAnswer> {
        let state = match self.take_ceremony(ceremony).await? {
            Some((Some(user_id), State::Authenticate(state))) => Some((user_id, state)),
            _ => None,
        };
        Ok(PasskeyAnswer { credential: serde_json::from_str(response).ok(), state })
    }

    /// Checks a passkey answer for the account (the caller reserved the attempt): the
    /// factor, or `None` (no ceremony, another account's, unknown, set aside, not user
    /// verified, a bad signature, a counter gone backwards).
    pub(in crate::factors) async fn check_passkey(
        &self,
        user_id: UserId,
        answer: &PasskeyAnswer,
        (now, context): (UnixTime, &audit::Context),
    ) -> sqlx::Result<Option<Factor>> {
        let (Some(credential), Some((owner, state)), Ok(relying_party)) =
            (&answer.credential, &answer.state, self.relying_party())
        else {
            return Ok(None);
        };
        if *owner != user_id {
            return Ok(None);
        }
        let mut connection = self.pool.acquire().await?;
        let row =
            store::by_credential(&mut connection, &credential_key(credential.get_credential_id())).await?;
        drop(connection);
        let Some(row) = row.filter(|r| r.user_id == user_id && r.flagged_at.is_none()) else {
            return Ok(None);
        };
        let result = relying_party.webauthn.finish_passkey_authentication(credential, state);
        self.after_assertion(&row, result, (now, context)).await
    }

    /// What an assertion's verdict does to the passkey: a verified use moves its stored
    /// credential forward; a counter gone backwards sets it aside and tells the owner.
    async fn after_assertion(
        &self,
        row: &store::PasskeyRow,
        result: WebauthnResult<AuthenticationResult>,
        (now, context): (UnixTime, &audit::Context),
    ) -> sqlx::Result<Option<Factor>> {
        match result {
            // The ceremony's state holds the credential as it was when the ceremony began
            // (the library sets a passkey aside when a counter is at or below that). Between
            // it and the newer stored counter lies either a copy or a real use checked out of
            // order (two tabs): refused, not set aside.
            Ok(result) if result.counter() > 0 && i64::from(result.counter()) <= row.counter => {
                tracing::info!(event = "authn_passkey_stale_counter", user_id = row.user_id);
                Ok(None)
            }
            Ok(result) if result.user_verified() => {
                let updated =
                    serde_json::from_str::<Passkey>(&row.credential).ok().and_then(|mut passkey| {
                        (passkey.update_credential(&result) == Some(true))
                            .then(|| serde_json::to_string(&passkey).ok())
                            .flatten()
                    });
                let mut connection = self.pool.acquire().await?;
                let counter = i64::from(result.counter());
                let synced = result.backup_state();
                // Removed or set aside meanwhile (an admin's reset, the owner): no use.
                let counted =
                    store::used(&mut connection, row.id, (updated.as_deref(), counter), synced, now).await?;
                Ok(counted.then_some(Factor::Passkey))
            }
            Ok(_) => Ok(None),
            Err(WebauthnError::CredentialPossibleCompromise) => {
                self.set_aside(row, (now, context)).await?;
                Ok(None)
            }
            Err(e) => {
                tracing::info!(event = "authn_passkey_refused", user_id = row.user_id, reason = %e);
                Ok(None)
            }
        }
    }

    /// A passkey whose counter went backwards (a clone, perhaps): it signs in no more; the
    /// event and the owner's notice go with the mark, once.
    async fn set_aside(
        &self,
        row: &store::PasskeyRow,
        (now, context): (UnixTime, &audit::Context),
    ) -> sqlx::Result<()> {
        tracing::warn!(
            event = "authn_passkey_flagged",
            user_id = row.user_id,
            "a passkey's counter went backwards"
        );
        let mut tx = crate::db::write(&self.pool).await?;
        if !store::flag(&mut tx, row.id, now).await? {
            return Ok(());
        }
        let entry = audit::Entry::new(Event::PasskeyFlagged, None, Some(row.user_id), context)
            .details(serde_json::json!({ "factor": Factor::Passkey.as_str(), "name": row.name }));
        audit::record(&mut tx, now, &entry).await?;
        if let Some(user) = accounts_store::find_user(&mut tx, row.user_id).await? {
            self.notify_in(&mut tx, &user, FactorNotice::PasskeyFlagged).await?;
        }
        tx.commit().await?;
        self.outbox.wake();
        Ok(())
    }

    /// Starts a sign-in with a passkey and no address (a discoverable credential, by the
    /// button or the browser's autofill).
    pub async fn passkey_sign_in_challenge(&self) -> Result<SignInChallenge, PasskeyError> {
        let relying_party = self.relying_party()?;
        let (options, state) =
            relying_party.webauthn.start_discoverable_authentication().map_err(|_| PasskeyError::Refused)?;
        let new = token::generate_kind(Kind::PasskeySignIn);
        self.put_ceremony(Ceremony::SignIn(&new.token), None, &State::Discover(state)).await?;
        let options = serde_json::to_string(&options).map_err(|_| PasskeyError::Refused)?;
        Ok(SignInChallenge { cookie: new.token, options })
    }

    /// Finishes a sign-in with a passkey: the ceremony `cookie` names is taken, the
    /// credential looked up by its id and checked to belong to the user handle the
    /// authenticator returned, the attempt reserved on the account's factor budget and
    /// the address's ladder, then the assertion verified (user verification required).
    /// Only [`crate::completion::complete`] turns the result into a session.
    pub async fn passkey_sign_in(
        &self,
        ip: IpAddr,
        cookie: Option<&str>,
        response: &str,
        context: &audit::Context,
    ) -> Result<Passed, PasskeyError> {
        use crate::metrics::{self, Method, Outcome};
        let verdict = self.check_passkey_sign_in(ip, cookie, response, context).await;
        // A passkey that passed is counted where the sign-in completes.
        if let Err(error) = &verdict {
            let outcome = match error {
                PasskeyError::Throttled(_) => Outcome::Throttled,
                PasskeyError::Unexpected(_) => Outcome::Error,
                _ => Outcome::Failed,
            };
            metrics::sign_in(Method::Passkey, outcome);
        }
        verdict
    }

    async fn check_passkey_sign_in(
        &self,
        ip: IpAddr,
        cookie: Option<&str>,
        response: &str,
        context: &audit::Context,
    ) -> Result<Passed, PasskeyError> {
        let relying_party = self.relying_party()?;
        let taken = match cookie {
            Some(cookie) => self.take_ceremony(Ceremony::SignIn(cookie)).await?,
            None => None,
        };
        let Some((_, State::Discover(state))) = taken else { return Err(PasskeyError::Expired) };
        let credential: Option<PublicKeyCredential> = serde_json::from_str(response).ok();
        let found = match &credential {
            Some(credential) => self.discovered(relying_party, credential, context).await?,
            None => None,
        };
        let (Some(credential), Some((row, passkey))) = (credential, found) else {
            // Nobody's passkey: the attempt counts on the address's ladder alone (there is
            // no account to charge, and no address was typed).
            let reservation = self.throttle.reserve_login(ip, Budget::Untrusted(None)).await?;
            reservation?.failed().await?;
            tracing::info!(event = "authn_passkey_unknown", "a passkey sign-in named no usable passkey");
            return Err(PasskeyError::Refused);
        };
        // The account as it is before the signature is checked: the session begins at this
        // epoch, so a password reset, a disable, a lock or a factor reset that commits
        // meanwhile (each moves the epoch on) leaves it nothing to begin.
        let mut connection = self.pool.acquire().await?;
        let user = accounts_store::find_user(&mut connection, row.user_id).await?;
        drop(connection);
        // A closing account's passkey is nobody's passkey (see `deletion`): the answer,
        // the budget spent and the log line are an unknown passkey's, and its signature is
        // not even checked.
        let Some(user) = user.filter(|user| user.standing.deletion_due_at.is_none()) else {
            let reservation = self.throttle.reserve_login(ip, Budget::Untrusted(None)).await?;
            reservation?.failed().await?;
            tracing::info!(event = "authn_passkey_unknown", "a passkey sign-in named no usable passkey");
            return Err(PasskeyError::Refused);
        };
        // Failures count on the account's factor budget. But while that budget backs off
        // (someone with the password giving wrong codes, say), a passkey still signs its
        // owner in: its signature cannot be guessed, so refusing would only lock the owner
        // out. Such attempts count on the address's ladder alone.
        let reservation = match self.throttle.reserve_login(ip, Budget::Factor(user.id)).await? {
            Ok(reservation) => reservation,
            Err(_) if self.throttle.factor_backing_off(user.id).await? => {
                self.throttle.reserve_login(ip, Budget::Untrusted(None)).await??
            }
            // Only busy (attempts in flight on the account): wait like anyone else.
            Err(throttled) => return Err(PasskeyError::Throttled(throttled)),
        };
        let result =
            relying_party.webauthn.finish_discoverable_authentication_v2(&credential, state, &passkey);
        let now = self.now();
        if self.after_assertion(&row, result, (now, context)).await?.is_none() {
            let entry = audit::Entry::new(Event::LoginFail, Some(user.id), Some(user.id), context)
                .failed()
                .details(serde_json::json!({ "factor": Factor::Passkey.as_str() }));
            audit::record(&mut self.pool.acquire().await?, now, &entry).await?;
            reservation.failed().await?;
            return Err(PasskeyError::Refused);
        }
        reservation.succeeded().await?;
        Ok(Passed { user, factor: Factor::Passkey, codes_left: None })
    }

    /// The usable passkey a discoverable answer names, if its account's handle is the one
    /// the authenticator returned.
    async fn discovered(
        &self,
        relying_party: &RelyingParty,
        credential: &PublicKeyCredential,
        context: &audit::Context,
    ) -> sqlx::Result<Option<(store::PasskeyRow, Passkey)>> {
        let Ok((handle, credential_id)) =
            relying_party.webauthn.identify_discoverable_authentication(credential)
        else {
            return Ok(None);
        };
        let mut connection = self.pool.acquire().await?;
        let Some(row) = store::by_credential(&mut connection, &credential_key(credential_id)).await? else {
            return Ok(None);
        };
        let owner = store::handle(&mut connection, row.user_id).await?;
        let belongs =
            owner.as_deref().and_then(|h| webauthn_rs::prelude::Uuid::parse_str(h).ok()) == Some(handle);
        if !belongs {
            tracing::info!(event = "authn_passkey_handle_mismatch", user_id = row.user_id);
            return Ok(None);
        }
        if row.flagged_at.is_some() {
            // A passkey set aside as a possible copy, still in use: the owner's activity
            // and the audit log show it.
            let entry = audit::Entry::new(Event::LoginFail, None, Some(row.user_id), context)
                .failed()
                .details(serde_json::json!({ "factor": Factor::Passkey.as_str(), "set_aside": true }));
            audit::record(&mut connection, self.now(), &entry).await?;
            tracing::warn!(event = "authn_passkey_set_aside_used", user_id = row.user_id);
            return Ok(None);
        }
        let Ok(passkey) = serde_json::from_str::<Passkey>(&row.credential) else { return Ok(None) };
        Ok(Some((row, passkey)))
    }
}
