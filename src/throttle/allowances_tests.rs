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
    assert_eq!(reset(&t, "2001:db9:2::1", "owner@example.org").await, Ok(now), "another provider: sent now");
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
        mailed +=
            usize::from(reset(&t, &format!("198.51.100.{n}"), &format!("s{n}@example.net")).await.is_ok());
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
    assert_eq!(reset(&t, "2001:db9::1", "late@example.net").await, Err(Throttled { retry_after_secs: 60 }));
    let (late, v) = (email("late@example.net"), email("v@example.net"));
    for n in 0..5 {
        let trusted = t.link_mail_request(ip(&format!("2001:db9:{n}::1")), &late, LinkKind::Reset, true);
        let mail = trusted.await.expect("db").expect("the owner's known device");
        assert_eq!(mail, LinkMail { due: now, trusted: true }, "skips the queue");
    }
    let sixth = t.link_mail_request(ip("2001:db9:9::1"), &late, LinkKind::Reset, true);
    assert!(sixth.await.expect("db").is_err(), "a few an hour, then like anyone else");
    let verify = t.link_mail_request(ip("2001:db9::2"), &v, LinkKind::Verify, false);
    assert_eq!(verify.await.expect("db").map(|m| m.due), Ok(now), "verification mail has a rate of its own");
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
