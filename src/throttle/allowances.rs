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

impl Throttle {
    /// Counts a signup form from `ip` against the IP's hourly cap: every form, parsed or
    /// not (this is the client's own budget).
    pub async fn signup_attempt(&self, ip: IpAddr) -> sqlx::Result<Result<(), Throttled>> {
        let key = format!("signup-ip:{}", ip_bucket(ip));
        self.hit(&key, HOUR, self.policy.signups_per_ip_per_hour).await
    }

    /// Counts a signup whose form parsed and whose password passed the strength check
    /// against the site-wide per-minute allowance and its networks' shares of it. Junk
    /// forms never reach here, so they cannot use the allowance up.
    pub async fn signup_admitted(&self, ip: IpAddr) -> sqlx::Result<Result<(), Throttled>> {
        let total = self.policy.signups_per_minute;
        let now = self.clock.now();
        let site = store::get(&self.pool, "signup-all").await?;
        let busy = now.saturating_sub(site.last_failure_at) < 60 && site.failures.saturating_mul(2) >= total;
        if let Err(throttled) = self.shares("signup", ip, total, busy).await? {
            return Ok(Err(throttled));
        }
        self.hit("signup-all", 60, total).await
    }

    /// Counts a signup naming `email` from `ip`: a few an hour per address and requesting
    /// network, refused (429) past that, honestly: it is counted for every address, so
    /// the answer says nothing about the address's state. A network that uses this up
    /// takes nothing from a signup made from another.
    pub async fn signup_mail(&self, ip: IpAddr, email: &Email) -> sqlx::Result<Result<(), Throttled>> {
        let network = prefix_key(ip, PrefixShare::network()).unwrap_or_else(|| ip_bucket(ip));
        let key = format!("signup-mail-to:{}:{network}", self.keyed_hash(email));
        let limit = self.policy.signup_mails_per_address_per_network_per_hour;
        self.hit(&key, HOUR, limit).await
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
        let key = format!("link-submit-ip:{}", ip_bucket(ip));
        self.hit(&key, HOUR, self.policy.link_submissions_per_ip_per_hour).await
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
        let ip_key = format!("mail-ip:{}", ip_bucket(ip));
        if let Err(throttled) = self.hit(&ip_key, HOUR, self.policy.mail_requests_per_ip_per_hour).await? {
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
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{
        clock::{Clock, ManualClock},
        db,
        throttle::ThrottlePolicy,
    };

    async fn throttle(policy: ThrottlePolicy) -> (Throttle, ManualClock, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.expect("db");
        db::migrate(&pool).await.expect("migrate");
        let clock = ManualClock::starting_at(1_000_000);
        (Throttle::new(pool, Arc::new(clock.clone()), policy, b"secret"), clock, dir)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn email(s: &str) -> Email {
        Email::parse(s).expect("email")
    }

    async fn reset(t: &Throttle, from: &str, to: &str) -> Result<UnixTime, Throttled> {
        let verdict = t.link_mail_request(ip(from), &email(to), LinkKind::Reset, false).await.expect("db");
        verdict.map(|mail| mail.due)
    }

    #[tokio::test]
    async fn one_allocation_gets_only_half_the_site_wide_link_mail_and_then_its_share() {
        let (t, clock, _dir) = throttle(ThrottlePolicy::default()).await;
        let now = clock.now();
        // One /48, a fresh /64 (in a fresh /56) for every request, a fresh address each.
        let mut mailed = 0;
        for n in 0..60 {
            if reset(&t, &format!("2001:db8:1:{:x}00::1", n), &format!("r{n}@example.net")).await.is_ok() {
                mailed += 1;
            }
        }
        assert_eq!(mailed, 30, "free while the site is quiet; past half the minute, past its 30% share");
        assert_eq!(
            reset(&t, "2001:db9:2::1", "owner@example.org").await,
            Ok(now),
            "another provider: sent now"
        );
        assert_eq!(reset(&t, "198.51.100.1", "other@example.org").await, Ok(now));
        clock.advance(60);
        assert!(reset(&t, "2001:db8:1:ff00::1", "again@example.net").await.is_ok(), "a new minute");
    }

    #[tokio::test]
    async fn on_a_busy_site_ipv4_networks_get_their_shares() {
        let (t, _clock, _dir) = throttle(ThrottlePolicy::default()).await;
        for n in 0..30u32 {
            // Thirty networks of their own make the site busy.
            assert!(reset(&t, &format!("{}.1.0.1", 10 + n), &format!("q{n}@example.net")).await.is_ok());
        }
        let mut mailed = 0;
        for n in 0..40u32 {
            mailed += usize::from(
                reset(&t, &format!("198.51.100.{n}"), &format!("s{n}@example.net")).await.is_ok(),
            );
        }
        assert_eq!(mailed, 12, "a /24's share");
        let mut mailed = 0;
        for n in 0..40u32 {
            let from = format!("203.0.{}.{}", n % 5, n / 5 + 1);
            mailed += usize::from(reset(&t, &from, &format!("r{n}@example.net")).await.is_ok());
        }
        assert_eq!(mailed, 18, "a /16's share (the rest of the minute holds more)");
    }

    #[tokio::test]
    async fn over_the_site_wide_rate_mail_waits_for_a_later_minute_and_then_is_refused() {
        let policy = ThrottlePolicy {
            link_mails_per_minute: 2,
            link_mail_max_delay_secs: 120,
            ..ThrottlePolicy::default()
        };
        let (t, clock, _dir) = throttle(policy).await;
        let now = clock.now();
        let mut dues = Vec::new();
        for n in 0..6 {
            // Each from its own /32: no share stands in the way.
            let due = reset(&t, &format!("2001:db8{n}::1"), &format!("r{n}@example.net")).await;
            dues.push(due.expect("queued") - now);
        }
        assert_eq!(dues, [0, 0, 60, 60, 120, 120]);
        assert_eq!(
            reset(&t, "2001:db9::1", "late@example.net").await,
            Err(Throttled { retry_after_secs: 60 })
        );
        let (late, v) = (email("late@example.net"), email("v@example.net"));
        for n in 0..5 {
            let trusted = t.link_mail_request(ip(&format!("2001:db9:{n}::1")), &late, LinkKind::Reset, true);
            let mail = trusted.await.expect("db").expect("the owner's known device");
            assert_eq!(mail, LinkMail { due: now, trusted: true }, "skips the queue");
        }
        let sixth = t.link_mail_request(ip("2001:db9:9::1"), &late, LinkKind::Reset, true);
        assert!(sixth.await.expect("db").is_err(), "a few an hour, then like anyone else");
        let verify = t.link_mail_request(ip("2001:db9::2"), &v, LinkKind::Verify, false);
        assert_eq!(
            verify.await.expect("db").map(|m| m.due),
            Ok(now),
            "verification mail has a rate of its own"
        );
    }

    #[tokio::test]
    async fn an_addresss_hourly_cap_counts_only_mail_that_goes_out() {
        let (t, clock, _dir) = throttle(ThrottlePolicy::default()).await;
        let victim = email("victim@example.com");
        for n in 0..20 {
            // Requests alone (nothing found to mail) spend nothing of the address's cap.
            assert!(reset(&t, &format!("198.51.{n}.1"), "victim@example.com").await.is_ok());
        }
        for _ in 0..5 {
            assert!(t.link_mail_to(&victim, LinkKind::Reset, false).await.expect("db"));
        }
        assert!(!t.link_mail_to(&victim, LinkKind::Reset, false).await.expect("db"), "past it: no mail");
        assert!(t.link_mail_to(&victim, LinkKind::Reset, true).await.expect("db"), "a known device");
        assert!(t.link_mail_to(&victim, LinkKind::Verify, false).await.expect("db"), "each kind its own");
        clock.advance(HOUR);
        assert!(t.link_mail_to(&victim, LinkKind::Reset, false).await.expect("db"), "a new hour");
        for n in 0..9 {
            // A minute apart: one address alone gets 10% of a busy minute.
            clock.advance(60);
            assert!(reset(&t, "203.0.113.7", &format!("p{n}@example.com")).await.is_ok());
        }
        assert!(reset(&t, "203.0.113.7", "p9@example.com").await.is_ok(), "the tenth");
        assert!(reset(&t, "203.0.113.7", "p10@example.com").await.is_err(), "the IP's hourly cap");
    }

    #[tokio::test]
    async fn email_changes_naming_an_address_are_capped_per_network_and_leave_its_other_mail_alone() {
        let (t, _clock, _dir) = throttle(ThrottlePolicy::default()).await;
        let victim = email("victim@example.com");
        for n in 0..3 {
            assert_eq!(t.email_change(n, ip(&format!("198.51.100.{n}")), &victim).await.expect("db"), Ok(()));
        }
        assert!(t.email_change(9, ip("198.51.100.9"), &victim).await.expect("db").is_err(), "that network's");
        assert!(t.email_change(9, ip("203.0.113.1"), &victim).await.expect("db").is_ok(), "another network");
        assert!(t.link_mail_to(&victim, LinkKind::Verify, false).await.expect("db"));
        assert!(t.signup_mail(ip("203.0.113.1"), &victim).await.expect("db").is_ok());
        for n in 10..20 {
            let other = email(&format!("x{n}@example.com"));
            assert!(t.email_change(n, ip("192.0.2.1"), &other).await.expect("db").is_ok());
        }
        let other = email("x99@example.com");
        assert!(t.email_change(99, ip("192.0.2.1"), &other).await.expect("db").is_err(), "the IP's cap");
        for n in 0..5 {
            let other = email(&format!("y{n}@example.com"));
            assert!(t.email_change(7, ip(&format!("192.0.{}.1", 3 + n)), &other).await.expect("db").is_ok());
        }
        let other = email("y9@example.com");
        assert!(t.email_change(7, ip("192.0.9.1"), &other).await.expect("db").is_err(), "the account's cap");
    }

    #[tokio::test]
    async fn signup_mail_to_an_address_is_capped_per_network_and_in_total() {
        let (t, _clock, _dir) = throttle(ThrottlePolicy::default()).await;
        let victim = email("victim@example.com");
        for n in 0..3 {
            assert!(t.signup_mail(ip(&format!("2001:db8:1:{n}::1")), &victim).await.expect("db").is_ok());
        }
        let refused = t.signup_mail(ip("2001:db8:1:9::1"), &victim).await.expect("db");
        assert!(refused.is_err(), "that /48 used its part up, and is told so");
        assert!(t.signup_mail(ip("198.51.100.1"), &victim).await.expect("db").is_ok(), "the owner's network");
        for _ in 0..11 {
            assert!(t.fresh_signup_mail(&victim, "attacker").await.expect("db"));
        }
        assert!(!t.fresh_signup_mail(&victim, "attacker").await.expect("db"), "from every network together");
        assert!(t.fresh_signup_mail(&victim, "owner").await.expect("db"), "the first from another network");
        for n in 0..18 {
            assert!(t.fresh_signup_mail(&victim, &format!("net{n}")).await.expect("db"));
        }
        assert!(!t.fresh_signup_mail(&victim, "net99").await.expect("db"), "firsts are capped too");
    }

    #[tokio::test]
    async fn signups_are_shared_by_network_once_the_site_is_busy() {
        let (t, _clock, _dir) = throttle(ThrottlePolicy::default()).await;
        let mut admitted = 0;
        for n in 0..60u32 {
            admitted += usize::from(
                t.signup_admitted(ip(&format!("2001:db8:1:{:x}00::1", n))).await.expect("db").is_ok(),
            );
        }
        assert_eq!(admitted, 30);
        assert!(t.signup_admitted(ip("2001:db9:2::1")).await.expect("db").is_ok(), "another provider");
    }

    #[test]
    fn a_clock_far_behind_a_stored_minute_does_not_stop_all_mail() {
        let ahead = crate::throttle::Counter { failures: 60, last_failure_at: 10_000, blocked_until: 0 };
        assert_eq!(ahead.after_paced(1_000, 60, 900).map(|(_, due)| due), Ok(1_000));
    }
}
