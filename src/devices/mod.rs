//! Device cookies (OWASP Cheat Sheet: "Slow Down Online Guessing Attacks with Device
//! Cookies").
//!
//! After a successful sign-in the browser gets a long-lived cookie naming this device for
//! this account. A later sign-in attempt for the same account that presents it spends the
//! device's own throttle budget ([`crate::throttle::Budget::Device`]); every other attempt
//! spends the account's shared budget for untrusted clients. An attacker's flood (who never
//! has a device cookie: one is only issued after the right password) then blocks only
//! untrusted clients, and the owner, on a browser they used before, signs in at once.
//!
//! The cookie is 256 random bits; only its SHA-256 is stored, with the account it is bound
//! to and its expiry. It grants nothing by itself (it is not a session and proves no
//! identity), only a budget: a device that fails too often is deleted, and a password
//! reset deletes every device of the account.

mod store;

use crate::{
    accounts::{User, UserId},
    audit,
    clock::{SharedClock, UnixTime},
    db::Pool,
    mail::{templates::NewDeviceNotice, Outbox, Templates},
    token::{self, Kind},
    Email,
};

/// At most this many new-device notices per account per hour: someone who has the
/// password cannot flood the owner's mailbox by signing in without cookies (the owner has
/// been told by then).
pub const NOTICES_PER_HOUR: i64 = 3;

/// How long a device cookie lasts after its last successful sign-in.
pub const DEVICE_LIFETIME_SECS: i64 = 365 * 24 * 60 * 60;

/// Devices kept per account: more browsers than anyone uses, and a bound on the rows a
/// password holder can make. A new device pushes out the least recently used one only if
/// that one has not signed in for [`DEVICE_IN_USE_SECS`]; when twenty are in use, a new
/// browser gets no device cookie (it signs in as a new browser each time).
pub const MAX_DEVICES_PER_ACCOUNT: i64 = 20;

/// A device that signed in within this time is in use and never pushed out.
pub const DEVICE_IN_USE_SECS: i64 = 30 * 24 * 60 * 60;

/// A device cookie the server recognised.
#[derive(Clone, PartialEq, Eq)]
pub struct Device {
    /// The stored key (a hash of the cookie), which names its throttle budget.
    pub key: String,
    pub user_id: UserId,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device").field("user_id", &self.user_id).finish_non_exhaustive()
    }
}

/// A new device cookie's value, to send once in `Set-Cookie`.
pub struct NewDevice {
    pub cookie: String,
    pub expires_at: UnixTime,
}

impl std::fmt::Debug for NewDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewDevice(<redacted>)")
    }
}

/// The device cookie service. Cheap to clone.
#[derive(Clone)]
pub struct Devices {
    pool: Pool,
    clock: SharedClock,
    notices: Option<(Outbox, Templates)>,
}

impl Devices {
    pub fn new(pool: Pool, clock: SharedClock) -> Self {
        Self { pool, clock, notices: None }
    }

    /// Mails the owner when a sign-in comes from a browser new to the account (see
    /// [`Devices::signed_in`]).
    pub fn with_notices(self, outbox: Outbox, templates: Templates) -> Self {
        Self { notices: Some((outbox, templates)), ..self }
    }

    /// The live device this cookie value names, if any. A malformed value costs no lookup.
    pub async fn recognise(&self, cookie: Option<&str>) -> sqlx::Result<Option<Device>> {
        let Some(key) = cookie.and_then(|value| token::parse_kind(Kind::Device, value)) else {
            return Ok(None);
        };
        store::find(&self.pool, &key, self.clock.now()).await
    }

    /// After a successful sign-in of `user` (as read when its password was checked):
    /// renews `current` if it is this account's, or issues a new device cookie (returned,
    /// to be set on the response). Nothing is issued if the account's epoch moved on since
    /// (a password reset that finished while this sign-in was in flight).
    ///
    /// With notices on and `notify` given (the sign-in's origin; the caller leaves it out
    /// for an account's first sign-in), a new device also mails the owner, in the same
    /// transaction: no cookie without its mail.
    pub async fn signed_in(
        &self,
        user: &User,
        current: Option<&Device>,
        notify: Option<&audit::Context>,
    ) -> sqlx::Result<Option<NewDevice>> {
        let now = self.clock.now();
        let expires_at = now.saturating_add(DEVICE_LIFETIME_SECS);
        if let Some(device) = current.filter(|d| d.user_id == user.id) {
            store::renew(&self.pool, &device.key, now, expires_at).await?;
            return Ok(None);
        }
        let new = token::generate_kind(Kind::Device);
        let mut tx = crate::db::write(&self.pool).await?;
        let notify = match notify {
            Some(context) if self.notices.is_some() => {
                let sent = store::notices_since(&mut tx, user.id, now.saturating_sub(3600)).await?;
                if sent >= NOTICES_PER_HOUR {
                    tracing::info!(event = "authn_new_device_notice_capped", user_id = user.id);
                    None
                } else {
                    Some(context)
                }
            }
            _ => None,
        };
        // At the cap of devices in use, this browser gets none (it stays a new browser):
        // pushing out a device in use would let whoever has the password make the owner's
        // own browsers strangers, whom a flood of guesses then blocks (review N1).
        let in_use_since = now.saturating_sub(DEVICE_IN_USE_SECS);
        if store::used_since(&mut tx, user.id, in_use_since).await? >= MAX_DEVICES_PER_ACCOUNT {
            tracing::info!(
                event = "authn_device_cap",
                user_id = user.id,
                "devices in use at the cap; none issued"
            );
            return Ok(None);
        }
        if !store::insert(&mut tx, &new.hash, user.id, user.session_epoch, now, expires_at).await? {
            return Ok(None);
        }
        let dropped =
            store::drop_stale_beyond(&mut tx, user.id, MAX_DEVICES_PER_ACCOUNT, in_use_since).await?;
        if dropped > 0 {
            tracing::info!(
                event = "authn_device_dropped",
                user_id = user.id,
                dropped,
                "unused device cookies dropped"
            );
        }
        let mut notified = None;
        if let (Some((outbox, templates)), Some(context), Ok(email)) =
            (&self.notices, notify, Email::parse(&user.email))
        {
            let notice = NewDeviceNotice {
                at: now,
                device: context.device.as_deref().unwrap_or("Unknown device"),
                ip: context.ip.as_deref(),
            };
            let mail = templates.new_device_sign_in(&email, &user.username, &notice);
            outbox.enqueue_in(&mut tx, &mail).await?;
            store::record_notice(&mut tx, user.id, now).await?;
            notified = Some(outbox);
        }
        tx.commit().await?;
        if let Some(outbox) = notified {
            outbox.wake();
            tracing::info!(event = "authn_new_device_notice", user_id = user.id);
        }
        Ok(Some(NewDevice { cookie: new.token, expires_at }))
    }

    /// Deletes one device (it failed too often).
    pub async fn revoke(&self, device: &Device) -> sqlx::Result<()> {
        store::delete(&self.pool, &device.key).await
    }

    /// Deletes every device of the account (its password was reset).
    ///
    /// (See also [`forget`], for callers that hold only a device's key.)
    pub async fn revoke_all(&self, user_id: UserId) -> sqlx::Result<u64> {
        store::delete_for_user(&mut self.pool.acquire().await?, user_id).await
    }

    /// [`Self::revoke_all`] on `connection` (a change's own transaction).
    pub async fn revoke_all_in(
        &self,
        connection: &mut impl crate::db::AsConn,
        user_id: UserId,
    ) -> sqlx::Result<u64> {
        store::delete_for_user(connection, user_id).await
    }

    /// Deletes expired devices; returns how many.
    pub async fn delete_expired(&self) -> sqlx::Result<u64> {
        store::delete_expired(&self.pool, self.clock.now()).await
    }
}

/// Deletes the device stored under `key` (it failed too often).
pub(crate) async fn forget(pool: &crate::db::Pool, key: &str) -> sqlx::Result<()> {
    store::delete(pool, key).await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{clock::ManualClock, db};

    fn user(id: UserId) -> User {
        User {
            id,
            email: String::new(),
            username: String::new(),
            role: crate::Role::User,
            session_epoch: 0,
            email_verified: true,
            standing: Default::default(),
            factors_since: None,
        }
    }

    async fn devices() -> (Devices, ManualClock, Pool, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.expect("db");
        db::migrate(&pool).await.expect("migrate");
        for (id, email) in [(1, "a@example.com"), (2, "b@example.com")] {
            crate::on_db!(&pool, c => sqlx::query(
                "INSERT INTO users (id, email, username, display_name, password_hash, created_at) \
                 VALUES ($1, $2, $3, $4, 'x', 0)",
            )
            .bind(id)
            .bind(email)
            .bind(email)
            .bind(email)
            .execute(c)
            .await.map(|_| ()))
            .expect("user");
        }
        let clock = ManualClock::starting_at(1_000_000);
        (Devices::new(pool.clone(), Arc::new(clock.clone())), clock, pool, dir)
    }

    #[tokio::test]
    async fn a_new_device_is_recognised_for_its_account_and_stored_only_hashed() {
        let (devices, _clock, pool, _dir) = devices().await;
        let new = devices.signed_in(&user(1), None, None).await.expect("db").expect("a new cookie");
        let device = devices.recognise(Some(&new.cookie)).await.expect("db").expect("recognised");
        assert_eq!(device.user_id, 1);
        let keys: Vec<String> =
            crate::on_db!(&pool, c => sqlx::query_scalar("SELECT key FROM device_cookies").fetch_all(c).await).expect("keys");
        assert_eq!(keys, vec![device.key.clone()]);
        assert_ne!(keys[0], new.cookie);
        assert!(
            devices.signed_in(&user(1), Some(&device), None).await.expect("db").is_none(),
            "renewed, not replaced"
        );
        assert!(
            devices.signed_in(&user(2), Some(&device), None).await.expect("db").is_some(),
            "another account: a new one"
        );
    }

    #[tokio::test]
    async fn unknown_malformed_expired_and_revoked_cookies_are_not_recognised() {
        let (devices, clock, _pool, _dir) = devices().await;
        assert!(devices.recognise(None).await.expect("db").is_none());
        assert!(devices.recognise(Some("not a cookie")).await.expect("db").is_none());
        assert!(devices.recognise(Some(&"a".repeat(64))).await.expect("db").is_none());
        let new = devices.signed_in(&user(1), None, None).await.expect("db").expect("cookie");
        let link_like = token::generate();
        assert!(devices.recognise(Some(&link_like.token)).await.expect("db").is_none());
        clock.advance(DEVICE_LIFETIME_SECS);
        assert!(devices.recognise(Some(&new.cookie)).await.expect("db").is_none(), "expired");
        let other = devices.signed_in(&user(2), None, None).await.expect("db").expect("cookie");
        let device = devices.recognise(Some(&other.cookie)).await.expect("db").expect("live");
        devices.revoke(&device).await.expect("db");
        assert!(devices.recognise(Some(&other.cookie)).await.expect("db").is_none(), "revoked");
    }

    #[tokio::test]
    async fn a_device_dies_with_its_epoch_and_none_is_issued_for_a_stale_one() {
        let (devices, _clock, pool, _dir) = devices().await;
        let new = devices.signed_in(&user(1), None, None).await.expect("db").expect("cookie");
        crate::on_db!(&pool, c => sqlx::query("UPDATE users SET session_epoch = session_epoch + 1 WHERE id = 1")
            .execute(c)
            .await.map(|_| ()))
            .expect("a password reset");
        assert!(devices.recognise(Some(&new.cookie)).await.expect("db").is_none(), "the reset ended it");
        // A sign-in checked before the reset finishes after it: no device for it.
        assert!(devices.signed_in(&user(1), None, None).await.expect("db").is_none());
    }
}
