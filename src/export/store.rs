//! The export's reads: columns selected by name, never a secret one (see the module
//! documentation of `export`). Read-only; each table's writes stay with its aggregate.

use super::{
    AuthenticatorApp, Browser, EmailChange, Event, MailSent, Passkey, Profile, RecoveryCodes, SecondFactors,
    Session, Time, MAX_EVENTS,
};
use crate::{
    accounts::UserId,
    clock::UnixTime,
    db::{AsConn, DbRow},
};

/// A session row: started, last seen, idle end, absolute end, IP, device, step-up.
type SessionRow = (i64, i64, i64, i64, String, String, Option<i64>);
/// A passkey row: name, added, last used, synced, discoverable, set aside.
type PasskeyRow = (String, i64, Option<i64>, i64, i64, Option<i64>);
/// An event row: at, event, outcome, actor, IP, device.
type EventRow = (i64, String, String, Option<i64>, Option<String>, Option<String>);

pub async fn profile(connection: &mut impl AsConn, user_id: UserId) -> sqlx::Result<Option<Profile>> {
    crate::on_db!(connection.conn(), c => {
        let row = sqlx::query(
            "SELECT id, email, display_name, role, created_at, email_verified_at, last_sign_in_at, disabled_at, \
             disabled_until, locked_at, must_change_password, support_access_until \
             FROM users WHERE id = $1 AND erased_at IS NULL",
        )
        .bind(user_id)
        .fetch_optional(c)
        .await?;
        row.map(|row| -> sqlx::Result<Profile> {
            Ok(Profile {
                account_number: row.try_get("id")?,
                email: row.try_get("email")?,
                username: row.try_get("display_name")?,
                role: row.try_get("role")?,
                created: Time::at(row.try_get("created_at")?),
                email_confirmed: Time::maybe(row.try_get("email_verified_at")?),
                last_sign_in: Time::maybe(row.try_get("last_sign_in_at")?),
                disabled_since: Time::maybe(row.try_get("disabled_at")?),
                disabled_until: Time::maybe(row.try_get("disabled_until")?),
                locked_since: Time::maybe(row.try_get("locked_at")?),
                must_change_password: row.try_get("must_change_password")?,
                support_access_until: Time::maybe(row.try_get("support_access_until")?),
            })
        })
        .transpose()
    })
}

pub async fn sessions(
    connection: &mut impl AsConn,
    user_id: UserId,
    now: UnixTime,
) -> sqlx::Result<Vec<Session>> {
    let rows: Vec<SessionRow> = crate::on_db!(connection.conn(), c => sqlx::query_as(
        "SELECT created_at, last_seen_at, idle_expires_at, absolute_expires_at, ip, device, stepped_up_at \
         FROM session_registry WHERE user_id = $1 AND impersonation_id IS NULL \
         AND idle_expires_at > $2 AND absolute_expires_at > $2 ORDER BY created_at, handle",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(c)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(created, seen, idle, absolute, ip, device, stepped_up)| Session {
            started: Time::at(created),
            last_seen: Time::at(seen),
            ends_if_idle: Time::at(idle),
            ends_at_the_latest: Time::at(absolute),
            ip,
            device,
            confirmed_it_was_you: Time::maybe(stepped_up),
        })
        .collect())
}

pub async fn browsers(
    connection: &mut impl AsConn,
    user_id: UserId,
    now: UnixTime,
) -> sqlx::Result<Vec<Browser>> {
    let rows: Vec<(i64, i64, i64)> = crate::on_db!(connection.conn(), c => sqlx::query_as(
        "SELECT created_at, last_used_at, expires_at FROM device_cookies \
         WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(c)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(created, used, expires)| Browser {
            first_signed_in: Time::at(created),
            last_used: Time::at(used),
            remembered_until: Time::at(expires),
        })
        .collect())
}

pub async fn factors(connection: &mut impl AsConn, user_id: UserId) -> sqlx::Result<SecondFactors> {
    let since: Option<i64> = crate::on_db!(connection.conn(), c => sqlx::query_scalar("SELECT factors_since FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(c)
        .await)?
    .flatten();
    let app: Option<Option<i64>> = crate::on_db!(connection.conn(), c => sqlx::query_scalar(
        "SELECT confirmed_at FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL",
    )
    .bind(user_id)
    .fetch_optional(c)
    .await)?;
    let codes: Vec<(i64, Option<i64>)> = crate::on_db!(connection.conn(), c => sqlx::query_as(
        "SELECT created_at, used_at FROM recovery_codes WHERE user_id = $1 ORDER BY used_at, created_at",
    )
    .bind(user_id)
    .fetch_all(c)
    .await)?;
    let recovery_codes = codes.iter().map(|(made, _)| *made).max().map(|made| RecoveryCodes {
        made: Time::at(made),
        unused: codes.iter().filter(|(_, used)| used.is_none()).count() as i64,
        used: codes.iter().filter_map(|(_, used)| used.map(Time::at)).collect(),
    });
    let keys: Vec<PasskeyRow> = crate::on_db!(connection.conn(), c => sqlx::query_as(
        "SELECT name, created_at, last_used_at, synced, discoverable, flagged_at FROM passkeys \
         WHERE user_id = $1 ORDER BY created_at, id",
    )
    .bind(user_id)
    .fetch_all(c)
    .await)?;
    Ok(SecondFactors {
        two_factor_since: Time::maybe(since),
        authenticator_app: app.map(|confirmed| AuthenticatorApp { set_up: Time::maybe(confirmed) }),
        recovery_codes,
        passkeys: keys
            .into_iter()
            .map(|(name, added, used, synced, discoverable, flagged)| Passkey {
                name,
                added: Time::at(added),
                last_used: Time::maybe(used),
                synced: synced != 0,
                signs_in_without_an_address: discoverable != 0,
                set_aside: Time::maybe(flagged),
            })
            .collect(),
    })
}

/// The account's security events, newest first, as its activity page shows them: where an
/// admin acted from is not the owner's to see, nor an admin's free text.
pub async fn events(connection: &mut impl AsConn, user_id: UserId) -> sqlx::Result<Vec<Event>> {
    let rows: Vec<EventRow> = crate::on_db!(connection.conn(), c => sqlx::query_as(
        "SELECT at, event, outcome, actor_id, ip, device FROM audit_events \
         WHERE subject_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(user_id)
    .bind(MAX_EVENTS)
    .fetch_all(c)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(at, event, outcome, actor, ip, device)| {
            let by_admin = actor.is_some_and(|actor| actor != user_id);
            Event {
                at: Time::at(at),
                event,
                outcome,
                by_an_administrator: by_admin,
                ip: if by_admin { None } else { ip },
                device: if by_admin { None } else { device },
            }
        })
        .collect())
}

pub async fn email_changes(connection: &mut impl AsConn, user_id: UserId) -> sqlx::Result<Vec<EmailChange>> {
    let rows: Vec<(i64, String, String, String)> = crate::on_db!(connection.conn(), c => sqlx::query_as(
        "SELECT created_at, old_email, new_email, state FROM email_changes WHERE user_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(c)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(asked, from, to, state)| EmailChange { asked: Time::at(asked), from, to, state })
        .collect())
}

pub async fn mail(connection: &mut impl AsConn, user_id: UserId) -> sqlx::Result<Vec<MailSent>> {
    let rows: Vec<(i64, String, String)> = crate::on_db!(connection.conn(), c => sqlx::query_as(
        "SELECT sent_at, kind, subject FROM mail_log WHERE user_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(c)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(at, kind, subject)| MailSent {
            at: Time::at(at),
            kind: crate::mail::log_kind(&kind).to_owned(),
            subject,
        })
        .collect())
}
