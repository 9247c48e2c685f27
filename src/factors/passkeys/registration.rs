//! Adding a passkey: a challenge for this session (after a step-up), then the browser's
//! answer made into the account's passkey. The first factor of an account also brings its
//! recovery codes, as the authenticator app does.

use webauthn_rs::prelude::{Passkey, RegisterPublicKeyCredential, Uuid};

use super::{
    ceremony::{Ceremony, State},
    counter, credential_key, flags, parse_name, store, PasskeyError,
};
use crate::{
    accounts::User,
    audit::{self, Event},
    factors::{recovery_codes, store as factor_store, Factor, Factors},
    mail::templates::FactorNotice,
    sessions::guard::{still_may_act, Caller},
};

/// A passkey added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registered {
    /// It was the account's first factor: it has ten new recovery codes, to be shown once.
    pub codes_made: bool,
    /// It was the account's first factor (the caller signs the other sessions out).
    pub first_factor: bool,
}

impl Factors {
    /// Starts adding a passkey named `name` for `user` on the session `session_key`: the
    /// options for `navigator.credentials.create()` (JSON). The account's passkeys are
    /// excluded (an authenticator that holds one says so instead of making another).
    pub async fn passkey_registration(
        &self,
        user: &User,
        session_key: &str,
        name: &str,
    ) -> Result<String, PasskeyError> {
        parse_name(name)?;
        let relying_party = self.relying_party()?;
        let mut connection = self.pool.acquire().await?;
        let handle = match store::handle(&mut connection, user.id).await? {
            Some(handle) => Some(handle),
            None => store::ensure_handle(&mut connection, user.id, &Uuid::new_v4().to_string()).await?,
        };
        let exclude = store::passkeys(&mut connection, user.id)
            .await?
            .iter()
            .filter_map(|row| serde_json::from_str::<Passkey>(&row.credential).ok())
            .map(|passkey| passkey.cred_id().clone())
            .collect();
        drop(connection);
        let handle = handle.and_then(|h| Uuid::parse_str(&h).ok()).ok_or(PasskeyError::Refused)?;
        let (options, state) = relying_party
            .webauthn
            .start_passkey_registration(handle, &user.email, &user.username, Some(exclude))
            .map_err(|e| {
                tracing::error!(event = "authn_passkey_start_failed", error = %e);
                PasskeyError::Refused
            })?;
        self.put_ceremony(Ceremony::Register(session_key), Some(user.id), &State::Register(state)).await?;
        let mut options = serde_json::to_value(&options).map_err(|_| PasskeyError::Refused)?;
        // The library asks for a non-discoverable credential ("discouraged", to spare the
        // few slots of old security keys). Bulwark's passkeys sign in without an address,
        // which takes a discoverable one: "preferred" asks for it where the authenticator
        // can keep it, and still accepts one that cannot (it then answers the second step
        // and step-up only; the list says which). The library checks nothing about it.
        if let Some(selection) = options["publicKey"]["authenticatorSelection"].as_object_mut() {
            selection.insert("residentKey".into(), "preferred".into());
            selection.insert("requireResidentKey".into(), false.into());
        }
        Ok(options.to_string())
    }

    /// Finishes adding a passkey with the browser's answer (`response`, the credential's
    /// JSON). The ceremony is taken first, so an answer works once, whatever its outcome.
    /// The passkey, the account's factor mark, recovery codes for a first factor, the audit
    /// event and the owner's notice are one transaction.
    pub async fn finish_passkey_registration(
        &self,
        user: &User,
        session_key: &str,
        name: &str,
        response: &str,
        context: &audit::Context,
    ) -> Result<Registered, PasskeyError> {
        let relying_party = self.relying_party()?;
        let taken = self.take_ceremony(Ceremony::Register(session_key)).await?;
        let Some((Some(owner), State::Register(state))) = taken else { return Err(PasskeyError::Expired) };
        if owner != user.id {
            return Err(PasskeyError::Expired);
        }
        let name = parse_name(name)?;
        let credential: RegisterPublicKeyCredential =
            serde_json::from_str(response).map_err(|_| PasskeyError::Refused)?;
        let passkey =
            relying_party.webauthn.finish_passkey_registration(&credential, &state).map_err(|e| {
                tracing::info!(event = "authn_passkey_registration_refused", user_id = user.id, reason = %e);
                PasskeyError::Refused
            })?;
        let (discoverable, synced) = flags(&passkey);
        let stored = serde_json::to_string(&passkey).map_err(|_| PasskeyError::Refused)?;
        let now = self.now();
        let mut tx = crate::db::write(&self.pool).await?;
        // The session that asked may have been signed out (or the account reset) while the
        // browser answered: then nothing is added.
        if !still_may_act(&mut tx, Caller::Owner { user_id: user.id, session_key }).await? {
            return Err(PasskeyError::Expired);
        }
        let first_factor = factor_store::factors_since(&mut tx, user.id).await?.is_none();
        let key = credential_key(passkey.cred_id().as_ref());
        let named = (name.as_str(), counter(&passkey));
        if !store::insert(&mut tx, user.id, &key, &stored, named, (discoverable, synced), now).await? {
            return Err(PasskeyError::AlreadyRegistered);
        }
        factor_store::mark_factors(&mut tx, user.id, now).await?;
        let codes_made = factor_store::recovery_codes_left(&mut tx, user.id).await? == 0;
        if codes_made {
            let codes = recovery_codes::generate_set();
            let hashes: Vec<String> = codes.iter().map(|c| c.hash.clone()).collect();
            factor_store::replace_recovery_codes(&mut tx, user.id, &hashes, now).await?;
            self.keep_to_show(&mut tx, user.id, &codes, (now, session_key)).await?;
        }
        // As with an authenticator app: from now on only a step-up with a factor counts.
        factor_store::forget_other_step_ups(&mut tx, user.id, session_key).await?;
        let entry = audit::Entry::new(Event::FactorAdded, Some(user.id), Some(user.id), context).details(
            serde_json::json!({ "factor": Factor::Passkey.as_str(), "name": name, "synced": synced }),
        );
        audit::record(&mut tx, now, &entry).await?;
        self.notify_in(&mut tx, user, FactorNotice::PasskeyAdded).await?;
        tx.commit().await?;
        self.outbox.wake();
        tracing::info!(event = "authn_passkey_added", user_id = user.id, discoverable, synced);
        Ok(Registered { codes_made, first_factor })
    }

    /// Renames the account's passkey `id` (for the session `session_key`, still live when
    /// it commits). Audited.
    pub async fn rename_passkey(
        &self,
        (user, session_key): (&User, &str),
        id: i64,
        name: &str,
        context: &audit::Context,
    ) -> Result<(), PasskeyError> {
        let name = parse_name(name)?;
        let now = self.now();
        let mut tx = crate::db::write(&self.pool).await?;
        if !still_may_act(&mut tx, Caller::Owner { user_id: user.id, session_key }).await? {
            return Err(PasskeyError::Expired);
        }
        let old = store::passkeys(&mut tx, user.id).await?.into_iter().find(|row| row.id == id);
        let Some(old) = old else { return Err(PasskeyError::NoPasskey) };
        if !store::rename(&mut tx, user.id, id, &name).await? {
            return Err(PasskeyError::NoPasskey);
        }
        let entry = audit::Entry::new(Event::PasskeyRenamed, Some(user.id), Some(user.id), context).details(
            serde_json::json!({ "factor": Factor::Passkey.as_str(), "from": old.name, "name": name }),
        );
        audit::record(&mut tx, now, &entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes the account's passkey `id` (the owner, after a step-up with a factor). An
    /// admin's last factor stays. When it was the last factor, the recovery codes go too
    /// and the account signs in with its password alone. Audited and mailed, in one
    /// transaction.
    pub async fn remove_passkey(
        &self,
        (user, session_key): (&User, &str),
        id: i64,
        context: &audit::Context,
    ) -> Result<(), PasskeyError> {
        let now = self.now();
        let mut tx = crate::db::write(&self.pool).await?;
        if !still_may_act(&mut tx, Caller::Owner { user_id: user.id, session_key }).await? {
            return Err(PasskeyError::Expired);
        }
        // Passkeys set aside do not count: they no longer sign in.
        let this_usable = store::passkeys(&mut tx, user.id)
            .await?
            .iter()
            .any(|row| row.id == id && row.flagged_at.is_none());
        let others = store::count_usable(&mut tx, user.id).await?.saturating_sub(i64::from(this_usable));
        let app = factor_store::totp(&mut tx, user.id).await?.is_some_and(|row| row.confirmed_at.is_some());
        let last = others == 0 && !app;
        if last && user.role == crate::Role::Admin {
            return Err(PasskeyError::AdminNeedsFactor);
        }
        let Some(name) = store::remove(&mut tx, user.id, id).await? else {
            return Err(PasskeyError::NoPasskey);
        };
        if last {
            factor_store::remove_all(&mut tx, user.id).await?;
        }
        let entry = audit::Entry::new(Event::FactorRemoved, Some(user.id), Some(user.id), context)
            .details(serde_json::json!({ "factor": Factor::Passkey.as_str(), "name": name, "last": last }));
        audit::record(&mut tx, now, &entry).await?;
        self.notify_in(&mut tx, user, FactorNotice::PasskeyRemoved { last }).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(())
    }
}
