//! Allowances counted per event rather than per failure: signups, mail, email changes.
//! Each has a per-client cap (the IP bucket) and, where it matters, a per-address one;
//! the site-wide ones (signups, link mail per minute) are shared out by network level by
//! level ([`PrefixShare`]), so one allocation, however many /64s it holds, gets only its
//! share and cannot turn the site's allowance into an off-switch for everyone else.
//!
//! Link mail over the site-wide rate is not dropped: it waits for a later minute (the
//! outbox holds it until then), up to [`ThrottlePolicy::link_mail_max_delay_secs`]; past
//! that the request is refused (429), honestly. A browser holding a device cookie of the
//! address's account skips the per-address cap, the shares and the site-wide rate.

use std::net::IpAddr;

use super::{
    client_ip::{ip_bucket, prefix_key},
    policy::PrefixShare,
    store, LinkKind, Throttle, Throttled,
};
use crate::{clock::UnixTime, Email};

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;
/// How many invitations (sent or sent again) one admin may mail in a day: plenty for
/// onboarding a team, and a stolen admin session cannot turn the site into a mail cannon.
pub const INVITATIONS_PER_ADMIN_PER_DAY: u32 = 100;
/// How many invitations one address may be mailed in a day, by every admin together
/// (room for a mistyped role, a revoked one sent again, and a double click).
pub const INVITATIONS_PER_ADDRESS_PER_DAY: u32 = 5;

/// Counts a refusal (a 429) under `budget` (`bulwark_throttle_blocks_total`). Only what the
/// caller is refused is counted: a mail quietly not sent (an address's hourly cap) is not,
/// or the count would tell whether the address has an account.
fn blocked<T>(
    budget: &'static str,
    verdict: sqlx::Result<Result<T, Throttled>>,
) -> sqlx::Result<Result<T, Throttled>> {
    if let Ok(Err(_)) = &verdict {
        crate::metrics::throttle_block_named(budget);
    }
    verdict
}

/// How many data exports one account may download in an hour: each reads every table about
/// the account and writes an audit event, so a stepped-up session (a thief's, or a script's)
/// cannot turn it into a load on the database or a flood in the owner's activity.
pub const EXPORTS_PER_ACCOUNT_PER_HOUR: u32 = 10;

impl Throttle {
    /// Counts a signup form from `ip` against the IP's hourly cap: every form, parsed or
    /// not (this is the client's own budget).
    pub async fn signup_attempt(&self, ip: IpAddr) -> sqlx::Result<Result<(), Throttled>> {
        blocked(
            "signup_ip",
            async {
                let key = format!("signup-ip:{}", ip_bucket(ip));
                self.hit(&key, HOUR, self.policy.signups_per_ip_per_hour).await
            }
            .await,
        )
    }

    /// Counts the start of a passkey sign-in from `ip` (each stores a ceremony for a few
    /// minutes) against the address's per-minute cap. Assertions themselves are throttled
    /// like any sign-in ([`Throttle::reserve_login`]).
    pub async fn passkey_start(&self, ip: IpAddr) -> sqlx::Result<Result<(), Throttled>> {
        blocked(
            "passkey_start_ip",
            async {
                let key = format!("passkey-start-ip:{}", ip_bucket(ip));
                self.hit(&key, 60, self.policy.passkey_starts_per_minute).await
            }
            .await,
        )
    }

    /// Counts a signup whose form parsed and whose password passed the strength check
    /// against the site-wide per-minute allowance and its networks' shares of it. Junk
    /// forms never reach here, so they cannot use the allowance up.
    pub async fn signup_admitted(&self, ip: IpAddr) -> sqlx::Result<Result<(), Throttled>> {
        blocked(
            "signup_site",
            async {
                let total = self.policy.signups_per_minute;
                let now = self.clock.now();
                let site = store::get(&self.pool, "signup-all").await?;
                let busy =
                    now.saturating_sub(site.last_failure_at) < 60 && site.failures.saturating_mul(2) >= total;
                if let Err(throttled) = self.shares("signup", ip, total, busy).await? {
                    return Ok(Err(throttled));
                }
                self.hit("signup-all", 60, total).await
            }
            .await,
        )
    }

    /// Counts a signup naming `email` from `ip`: a few an hour per address and requesting
    /// network, refused (429) past that, honestly: it is counted for every address, so
    /// the answer says nothing about the address's state. A network that uses this up
    /// takes nothing from a signup made from another.
    pub async fn signup_mail(&self, ip: IpAddr, email: &Email) -> sqlx::Result<Result<(), Throttled>> {
        blocked(
            "signup_mail",
            async {
                let network = prefix_key(ip, PrefixShare::network()).unwrap_or_else(|| ip_bucket(ip));
                let key = format!("signup-mail-to:{}:{network}", self.keyed_hash(email));
                let limit = self.policy.signup_mails_per_address_per_network_per_hour;
                self.hit(&key, HOUR, limit).await
            }
            .await,
        )
    }

    /// A keyed hash of the network `ip` belongs to (its /24 or /48), to tell networks apart
    /// without storing an address.
    pub fn network_tag(&self, ip: IpAddr) -> String {
        let network = prefix_key(ip, PrefixShare::network()).unwrap_or_else(|| ip_bucket(ip));
        crate::token::keyed_hex(&self.key, b"throttle network\0", network.as_bytes())[..16].to_owned()
    }

    /// Whether a stored signup's link may be mailed to `email`, the signup made from the
    /// network `network` ([`Throttle::network_tag`]). The first from each network in an
    /// hour always is: signups from other networks cannot keep the owner's own from being
    /// mailed. After that, a total an hour for the address from every network together;
    /// past it the signup is stored but not mailed (a resend reaches it), so repeated
    /// signups cannot flood a mailbox.
    pub async fn fresh_signup_mail(&self, email: &Email, network: &str) -> sqlx::Result<bool> {
        let hash = self.keyed_hash(email);
        // The first from a network, up to twice the total from every network together: the
        // exception is for the owner, not a way for many networks to flood a mailbox.
        let firsts = self.policy.signup_mails_per_address_per_hour.saturating_mul(2);
        if self.hit(&format!("signup-first:{hash}:{network}"), HOUR, 1).await?.is_ok()
            && self.hit(&format!("signup-first-all-to:{hash}"), HOUR, firsts).await?.is_ok()
        {
            return Ok(true);
        }
        let key = format!("signup-mail-all-to:{hash}");
        Ok(self.hit(&key, HOUR, self.policy.signup_mails_per_address_per_hour).await?.is_ok())
    }

    /// Whether the notice "someone tried to sign up with your address" may go to `email`
    /// (an address with an account): a few an hour, and dropping one loses nothing.
    pub async fn taken_notice(&self, email: &Email) -> sqlx::Result<bool> {
        let key = format!("mail-to:{}", self.keyed_hash(email));
        Ok(self.hit(&key, HOUR, self.policy.mails_per_address_per_hour).await?.is_ok())
    }

    /// Counts a link submission from `ip` (a reset or confirmation form: each runs a
    /// strength check or a hash).
    pub async fn link_submission(&self, ip: IpAddr) -> sqlx::Result<Result<(), Throttled>> {
        blocked(
            "link_submit_ip",
            async {
                let key = format!("link-submit-ip:{}", ip_bucket(ip));
                self.hit(&key, HOUR, self.policy.link_submissions_per_ip_per_hour).await
            }
            .await,
        )
    }

    /// Counts a request for a link mail of `kind` to `email` (a reset, a new verification
    /// link), before anything is looked up, so every answer is the same whether or not the
    /// address has an account. In order:
    ///
    /// - the IP's hourly cap: refused (429, the requester's own budget);
    /// - `trusted` (a browser with a device cookie of the address's account): due now, up
    ///   to a few an hour for the address (past that, treated like anyone else), so a
    ///   device cookie is not a way around the site's rate either;
    /// - each network's share of the site-wide rate, while the site is busy: refused (429);
    /// - the site-wide rate: due now, or at a later minute (queued, never dropped), or
    ///   refused when that would be too late.
    ///
    /// The address's own hourly cap is not counted here: only when a lookup found
    /// something to send ([`Throttle::link_mail_to`]), so requests that mail nothing, or
    /// were refused, cannot use it up against the owner.
    pub async fn link_mail_request(
        &self,
        ip: IpAddr,
        email: &Email,
        kind: LinkKind,
        trusted: bool,
    ) -> sqlx::Result<Result<LinkMail, Throttled>> {
        blocked(
            "link_mail",
            async {
                let ip_key = format!("mail-ip:{}", ip_bucket(ip));
                if let Err(throttled) =
                    self.hit(&ip_key, HOUR, self.policy.mail_requests_per_ip_per_hour).await?
                {
                    return Ok(Err(throttled));
                }
                let per_address = self.policy.mails_per_address_per_hour;
                if trusted {
                    let key = format!("trusted-{}-mail:{}", kind.name(), self.keyed_hash(email));
                    if self.hit(&key, HOUR, per_address).await?.is_ok() {
                        return Ok(Ok(LinkMail { due: self.clock.now(), trusted: true }));
                    }
                }
                let total = self.policy.link_mails_per_minute;
                let busy = self.link_mail_busy(kind).await?;
                if let Err(throttled) = self.shares(kind.name(), ip, total, busy).await? {
                    return Ok(Err(throttled));
                }
                Ok(self.paced(kind).await?.map(|due| LinkMail { due, trusted: false }))
            }
            .await,
        )
    }

    /// Counts one invitation mailed by admin `admin` (`None`: the command line) to `email`:
    /// refused (429) past [`INVITATIONS_PER_ADMIN_PER_DAY`] for the admin, or
    /// [`INVITATIONS_PER_ADDRESS_PER_DAY`] for the address (every admin together), so that
    /// neither a stolen admin session nor several admins can flood a mailbox. Counted for
    /// every address alike, so a refusal says nothing about whether it has an account.
    pub async fn invitation_mail(
        &self,
        admin: Option<i64>,
        email: &Email,
    ) -> sqlx::Result<Result<(), Throttled>> {
        blocked(
            "invitation",
            async {
                let address = format!("invite-to:{}", self.keyed_hash(email));
                if let Err(throttled) = self.hit(&address, DAY, INVITATIONS_PER_ADDRESS_PER_DAY).await? {
                    return Ok(Err(throttled));
                }
                match admin {
                    Some(admin) => {
                        self.hit(&format!("invite-by:{admin}"), DAY, INVITATIONS_PER_ADMIN_PER_DAY).await
                    }
                    None => Ok(Ok(())),
                }
            }
            .await,
        )
    }

    /// Counts one data export by account `user_id`: refused (429) past
    /// [`EXPORTS_PER_ACCOUNT_PER_HOUR`].
    pub async fn data_export(&self, user_id: i64) -> sqlx::Result<Result<(), Throttled>> {
        blocked(
            "data_export",
            self.hit(&format!("export:{user_id}"), HOUR, EXPORTS_PER_ACCOUNT_PER_HOUR).await,
        )
    }

    /// Whether a link mail of `kind` may go to `email`, once a lookup found something to
    /// send: a few an hour per address and kind. Past that, nothing is mailed and the
    /// answer (already given) was the same: the address has had mail of this kind, with a
    /// live link, within the hour. `trusted` requests are not held to it.
    pub async fn link_mail_to(&self, email: &Email, kind: LinkKind, trusted: bool) -> sqlx::Result<bool> {
        if trusted {
            return Ok(true);
        }
        let key = format!("{}-mail-to:{}", kind.name(), self.keyed_hash(email));
        let sent = self.hit(&key, HOUR, self.policy.mails_per_address_per_hour).await?.is_ok();
        if !sent {
            tracing::info!(
                event = "excess_mail_suppressed",
                kind = kind.name(),
                "address's hourly link mail used up"
            );
        }
        Ok(sent)
    }

    /// Counts a request by account `user_id`, from `ip`, to move to `new` (each mails the
    /// old and the new address): refused (429) over the IP's or the account's hourly cap,
    /// or the new address's cap for these mails per requesting network and in total. All
    /// are counted for every address, so a refusal says nothing about the address; and
    /// the new address's caps are their own, so asking to move to someone's address cannot
    /// touch their verification or reset mail. One network asking for an address cannot
    /// keep its owner, elsewhere, from moving their own account there; many can, for an
    /// hour at a time, and then the owner is told to try later rather than left waiting.
    pub async fn email_change(
        &self,
        user_id: i64,
        ip: IpAddr,
        new: &Email,
    ) -> sqlx::Result<Result<(), Throttled>> {
        blocked(
            "email_change",
            async {
                let per_address = self.policy.mails_per_address_per_hour;
                let network = prefix_key(ip, PrefixShare::network()).unwrap_or_else(|| ip_bucket(ip));
                let hash = self.keyed_hash(new);
                let keys = [
                    (format!("email-change-ip:{}", ip_bucket(ip)), self.policy.email_changes_per_ip_per_hour),
                    (format!("email-change:{user_id}"), per_address),
                    (
                        format!("change-mail-to:{hash}:{network}"),
                        self.policy.signup_mails_per_address_per_network_per_hour,
                    ),
                    (format!("change-mail-all-to:{hash}"), self.policy.signup_mails_per_address_per_hour),
                ];
                for (key, limit) in keys {
                    if let Err(throttled) = self.hit(&key, HOUR, limit).await? {
                        return Ok(Err(throttled));
                    }
                }
                Ok(Ok(()))
            }
            .await,
        )
    }

    /// Counts one event of `what` from `ip` against each network level's share of the
    /// site-wide per-minute `total`. While the site is `busy` (half its minute used, or
    /// running late) a request is refused as soon as one level's share is used. On a quiet
    /// site a network may use what nobody else wants, up to half the minute, so neighbours
    /// in one network are not held back for nothing; and since each level's count is one
    /// atomic step, however many requests race past a stale "quiet", one network never
    /// gets more than half.
    async fn shares(
        &self,
        what: &str,
        ip: IpAddr,
        total: u32,
        busy: bool,
    ) -> sqlx::Result<Result<(), Throttled>> {
        for share in &self.policy.prefix_shares {
            let Some(prefix) = prefix_key(ip, *share) else { continue };
            let key = format!("share:{what}:{prefix}");
            let limit = if busy { share.of(total) } else { (total / 2).max(share.of(total)) };
            if let Err(throttled) = self.hit(&key, 60, limit).await? {
                tracing::info!(
                    event = "network_share_used",
                    what,
                    percent = share.percent,
                    "a network used its share of a site-wide allowance"
                );
                return Ok(Err(throttled));
            }
        }
        Ok(Ok(()))
    }

    /// Whether the site's link mail of `kind` is busy: half this minute's allowance used,
    /// or running late already.
    async fn link_mail_busy(&self, kind: LinkKind) -> sqlx::Result<bool> {
        let now = self.clock.now();
        let site = store::get(&self.pool, &format!("link-mail-all:{}", kind.name())).await?;
        let this_minute = now.saturating_sub(site.last_failure_at) < 60;
        Ok(site.last_failure_at > now
            || (this_minute && site.failures.saturating_mul(2) >= self.policy.link_mails_per_minute))
    }

    /// Schedules one link mail of `kind` under the site-wide rate: when it is due, or how
    /// long to wait when it would be due too late.
    async fn paced(&self, kind: LinkKind) -> sqlx::Result<Result<UnixTime, Throttled>> {
        let key = format!("link-mail-all:{}", kind.name());
        let (now, per_minute) = (self.clock.now(), self.policy.link_mails_per_minute);
        let max_delay = self.policy.link_mail_max_delay_secs;
        let written = store::update_from(&self.pool, &key, None, |c| {
            c.after_paced(now, per_minute, max_delay).map(|(next, _)| next)
        })
        .await?;
        match written {
            Ok(Some((counter, _))) => {
                let due = counter.last_failure_at.max(now);
                // Once per minute that fills: the operator sees the site running late.
                if due > now && counter.failures == 1 {
                    tracing::warn!(
                        event = "link_mail_delayed",
                        kind = kind.name(),
                        delay_secs = due - now,
                        per_minute,
                        "site-wide link mail rate reached: mail waits for a later minute"
                    );
                }
                Ok(Ok(due))
            }
            Ok(None) => Ok(Ok(now)),
            Err(wait) => {
                tracing::warn!(
                    event = "link_mail_refused",
                    kind = kind.name(),
                    retry_after_secs = wait,
                    per_minute,
                    max_delay_secs = max_delay,
                    "site-wide link mail queue full: request refused"
                );
                Ok(Err(Throttled { retry_after_secs: wait }))
            }
        }
    }
}

/// A link mail a request may send: when, and whether a known device of the address's
/// account asked (then the address's hourly cap does not apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkMail {
    pub due: UnixTime,
    pub trusted: bool,
}

impl LinkKind {
    fn name(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Reset => "reset",
        }
    }
}

#[cfg(test)]
#[path = "allowances_tests.rs"]
mod tests;
