//! Setting up and managing an authenticator app: the secret made on the server and
//! shown to the session that started the set-up only, its confirmation with a current
//! code, the recovery codes shown once, new codes, and turning the app off.

use super::{
    recovery_codes, store, Enrolment, Factor, FactorError, Factors, TotpSecret, ENROLMENT_SECS, REVEAL_SECS,
};
use crate::{
    accounts::{User, UserId},
    audit::{self, Event},
    clock::UnixTime,
    mail::templates::FactorNotice,
    sessions::guard::{still_may_act, Caller},
    Role,
};

impl Factors {
    /// The enrolment waiting for `user`'s confirming code on the session `session_key`: the
    /// one this session started in the last [`ENROLMENT_SECS`] (so reloading the page shows
    /// the same QR code), or a new one with a fresh secret. Another session (someone else
    /// who knows the password, say) never sees this session's secret: its own start
    /// replaces it, and then this session's confirmation fails.
    pub async fn enrolment(&self, user: &User, session_key: &str) -> Result<Enrolment, FactorError> {
        let now = self.now();
        let mut connection = self.pool.acquire().await?;
        let waiting = match store::totp(&mut connection, user.id).await? {
            Some(row) if row.confirmed_at.is_some() => return Err(FactorError::AlreadyEnrolled),
            Some(row)
                if now.saturating_sub(row.created_at) < ENROLMENT_SECS && row.started_by == session_key =>
            {
                self.keys.open(user.id, &row.sealed)
            }
            _ => None,
        };
        drop(connection);
        let secret = match waiting {
            Some(secret) => secret,
            None => {
                let secret = TotpSecret::generate();
                let sealed = self.keys.seal(user.id, &secret);
                if !store::start_enrolment(&self.pool, user.id, &sealed, now, session_key).await? {
                    return Err(FactorError::AlreadyEnrolled);
                }
                secret
            }
        };
        let qr_svg = secret.qr_svg(&self.issuer, &user.email).unwrap_or_default();
        Ok(Enrolment {
            qr_svg,
            key: secret.grouped_base32(),
            issuer: self.issuer.clone(),
            label: user.email.clone(),
        })
    }

    /// Turns the waiting enrolment into the account's factor when `code` is a current code
    /// of its secret: the code's step is burnt, ten recovery codes replace any old ones,
    /// the event is audited and the owner mailed, all in one transaction. Returns the
    /// recovery codes, to be shown once.
    pub async fn confirm_enrolment(
        &self,
        user: &User,
        session_key: &str,
        code: &str,
        context: &audit::Context,
    ) -> Result<Vec<String>, FactorError> {
        let now = self.now();
        let mut connection = self.pool.acquire().await?;
        let row = store::totp(&mut connection, user.id).await?;
        drop(connection);
        let waiting = |r: &store::TotpRow| {
            r.confirmed_at.is_none()
                && now.saturating_sub(r.created_at) < ENROLMENT_SECS
                && r.started_by == session_key
        };
        let Some(row) = row.filter(waiting) else {
            return Err(FactorError::NotWaiting);
        };
        let secret = self.keys.open(user.id, &row.sealed).ok_or(FactorError::NotWaiting)?;
        let step = secret.matching_step(code, now).ok_or(FactorError::WrongCode)?;
        let codes = recovery_codes::generate_set();
        let hashes: Vec<String> = codes.iter().map(|c| c.hash.clone()).collect();
        let mut tx = crate::db::write(&self.pool).await?;
        if !store::confirm(&mut tx, user.id, &row.sealed, step, now).await? {
            return Err(FactorError::NotWaiting);
        }
        store::replace_recovery_codes(&mut tx, user.id, &hashes, now).await?;
        self.keep_to_show(&mut tx, user.id, &codes, (now, session_key)).await?;
        // From now on a step-up counts only with the factor: one other sessions made with
        // the password (a thief's, say) no longer does.
        store::forget_other_step_ups(&mut tx, user.id, session_key).await?;
        let entry = audit::Entry::new(Event::FactorAdded, Some(user.id), Some(user.id), context)
            .details(serde_json::json!({ "factor": Factor::Totp.as_str() }));
        audit::record(&mut tx, now, &entry).await?;
        self.notify_in(&mut tx, user, FactorNotice::AppAdded).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(codes.into_iter().map(|c| c.code).collect())
    }

    /// A new set of recovery codes for an account with a factor (the old set dies).
    pub async fn renew_recovery_codes(
        &self,
        user: &User,
        session_key: &str,
        context: &audit::Context,
    ) -> Result<Vec<String>, FactorError> {
        if !user.has_factor() {
            return Err(FactorError::NoFactor);
        }
        let now = self.now();
        let codes = recovery_codes::generate_set();
        let hashes: Vec<String> = codes.iter().map(|c| c.hash.clone()).collect();
        let mut tx = crate::db::write(&self.pool).await?;
        store::replace_recovery_codes(&mut tx, user.id, &hashes, now).await?;
        self.keep_to_show(&mut tx, user.id, &codes, (now, session_key)).await?;
        audit::record(
            &mut tx,
            now,
            &audit::Entry::new(Event::RecoveryCodesRenewed, Some(user.id), Some(user.id), context),
        )
        .await?;
        self.notify_in(&mut tx, user, FactorNotice::CodesRenewed).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(codes.into_iter().map(|c| c.code).collect())
    }

    pub(super) async fn keep_to_show(
        &self,
        connection: &mut impl crate::db::AsConn,
        user_id: UserId,
        codes: &[recovery_codes::NewCode],
        (now, session_key): (UnixTime, &str),
    ) -> sqlx::Result<()> {
        let joined = codes.iter().map(|c| c.code.as_str()).collect::<Vec<_>>().join("\n");
        let sealed = self.keys.seal_bytes(user_id, joined.as_bytes());
        store::put_reveal(connection, user_id, &sealed, now.saturating_add(REVEAL_SECS), session_key).await
    }

    /// The new recovery codes waiting to be shown to their owner (until they say they saved
    /// them, or for [`REVEAL_SECS`]); `None` when there are none.
    pub async fn codes_to_show(
        &self,
        user_id: UserId,
        session_key: &str,
    ) -> sqlx::Result<Option<Vec<String>>> {
        let mut connection = self.pool.acquire().await?;
        let Some(sealed) = store::reveal(&mut connection, user_id, self.now(), session_key).await? else {
            return Ok(None);
        };
        let plain = self.keys.open_bytes(user_id, &sealed).and_then(|bytes| String::from_utf8(bytes).ok());
        Ok(plain.map(|text| text.lines().map(str::to_owned).collect()))
    }

    /// The session `old` now goes by `new` (its id was rotated at a step-up): the set-up it
    /// started and the codes waiting for it move with it.
    pub async fn session_moved(&self, user_id: UserId, old: &str, new: &str) -> sqlx::Result<()> {
        store::session_moved(&self.pool, user_id, old, new).await
    }

    /// "I have saved them": the codes are never shown again.
    pub async fn codes_saved(&self, user_id: UserId) -> sqlx::Result<()> {
        store::drop_reveals(&self.pool, Some(user_id), self.now()).await
    }

    /// Removes the authenticator app (the owner, after a step-up with a factor), with the
    /// recovery codes when it was the last factor. Never an admin's last factor.
    pub async fn remove_app(
        &self,
        (user, session_key): (&User, &str),
        context: &audit::Context,
    ) -> Result<(), FactorError> {
        let now = self.now();
        let mut tx = crate::db::write(&self.pool).await?;
        // The session that asked may have been signed out while the request was in flight.
        if !still_may_act(&mut tx, Caller::Owner { user_id: user.id, session_key }).await? {
            return Err(FactorError::SessionEnded);
        }
        // With a passkey left, the account keeps its factor and its recovery codes; without,
        // the app was its last factor.
        let last = super::passkeys::store::count_usable(&mut tx, user.id).await? == 0;
        if last && user.role == Role::Admin {
            return Err(FactorError::AdminNeedsFactor);
        }
        if !store::remove_totp(&mut tx, user.id).await? {
            return Err(FactorError::NoFactor);
        }
        if last {
            store::remove_all(&mut tx, user.id).await?;
        }
        let entry = audit::Entry::new(Event::FactorRemoved, Some(user.id), Some(user.id), context)
            .details(serde_json::json!({ "factor": Factor::Totp.as_str() }));
        audit::record(&mut tx, now, &entry).await?;
        self.notify_in(&mut tx, user, FactorNotice::AppRemoved { last }).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(())
    }

    /// Sets up an authenticator app with a secret the caller supplies, confirmed at once
    /// (the command line's testers' option; never in production: the caller checks). The
    /// new recovery codes.
    pub async fn enrol_with_secret(
        &self,
        user: &User,
        secret: &TotpSecret,
        context: &audit::Context,
    ) -> Result<Vec<String>, FactorError> {
        let now = self.now();
        let sealed = self.keys.seal(user.id, secret);
        if !store::start_enrolment(&self.pool, user.id, &sealed, now, "command line").await? {
            return Err(FactorError::AlreadyEnrolled);
        }
        let codes = recovery_codes::generate_set();
        let hashes: Vec<String> = codes.iter().map(|c| c.hash.clone()).collect();
        let mut tx = crate::db::write(&self.pool).await?;
        if !store::confirm(&mut tx, user.id, &sealed, 0, now).await? {
            return Err(FactorError::NotWaiting);
        }
        store::replace_recovery_codes(&mut tx, user.id, &hashes, now).await?;
        let entry = audit::Entry::new(Event::FactorAdded, None, Some(user.id), context)
            .details(serde_json::json!({ "factor": Factor::Totp.as_str(), "supplied_secret": true }));
        audit::record(&mut tx, now, &entry).await?;
        tx.commit().await?;
        Ok(codes.into_iter().map(|c| c.code).collect())
    }
}
