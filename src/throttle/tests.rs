use std::sync::Arc;

use super::*;
use crate::{clock::ManualClock, db};

async fn throttle() -> (Throttle, ManualClock, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.expect("db");
    db::migrate(&pool).await.expect("migrate");
    let clock = ManualClock::starting_at(1_000_000);
    (Throttle::new(pool, Arc::new(clock.clone()), ThrottlePolicy::default(), b"secret"), clock, dir)
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

async fn fail(throttle: &Throttle, from: &str, email: Option<&Email>) -> Result<(), Throttled> {
    let reservation = throttle.reserve_login(ip(from), Budget::Untrusted(email)).await.expect("db")?;
    reservation.failed().await.expect("db");
    Ok(())
}

#[tokio::test]
async fn an_unknown_account_is_throttled_exactly_like_a_known_one() {
    let (throttle, _clock, _dir) = throttle().await;
    let email = Email::parse("nobody@example.com").expect("email");
    for n in 0..5 {
        fail(&throttle, &format!("198.51.100.{n}"), Some(&email)).await.expect("admitted");
    }
    let verdict = throttle.reserve_login(ip("203.0.113.1"), Budget::Untrusted(Some(&email))).await;
    assert_eq!(verdict.expect("db").err(), Some(Throttled { retry_after_secs: 30 }), "blocked from any IP");
}

#[tokio::test]
async fn success_refunds_its_own_attempt_and_leaves_the_others_counted() {
    let (throttle, _clock, _dir) = throttle().await;
    let email = Email::parse("a@example.com").expect("email");
    for _ in 0..4 {
        fail(&throttle, "198.51.100.1", Some(&email)).await.expect("admitted");
    }
    let reservation =
        throttle.reserve_login(ip("198.51.100.1"), Budget::Untrusted(Some(&email))).await.expect("db");
    reservation.expect("admitted").succeeded().await.expect("db");
    let account = store::get(&throttle.pool, &throttle.account_key(&email)).await.expect("db");
    assert_eq!(account.failures, 4, "an attacker's earlier guesses stay counted");
    assert_eq!(store::get(&throttle.pool, "ip:198.51.100.1").await.expect("db").failures, 4);
    throttle.clear_account(&email).await.expect("db");
    assert_eq!(
        store::get(&throttle.pool, &throttle.account_key(&email)).await.expect("db"),
        Counter::default()
    );
}

#[tokio::test]
async fn a_refused_budget_gives_the_ip_its_attempt_back() {
    let (throttle, _clock, _dir) = throttle().await;
    let email = Email::parse("a@example.com").expect("email");
    for n in 0..5 {
        fail(&throttle, &format!("198.51.100.{n}"), Some(&email)).await.expect("admitted");
    }
    assert!(fail(&throttle, "203.0.113.1", Some(&email)).await.is_err());
    assert_eq!(store::get(&throttle.pool, "ip:203.0.113.1").await.expect("db").failures, 0);
}

#[tokio::test]
async fn concurrent_attempts_spend_the_budget_once_each() {
    let (throttle, _clock, _dir) = throttle().await;
    let throttle = Throttle {
        policy: ThrottlePolicy { in_flight_per_key: 100, ..ThrottlePolicy::default() },
        ..throttle
    };
    let email = Email::parse("a@example.com").expect("email");
    let tasks: Vec<_> = (0..40)
        .map(|n| {
            let (t, email) = (throttle.clone(), email.clone());
            tokio::spawn(async move {
                let from = ip(&format!("198.51.100.{n}"));
                t.reserve_login(from, Budget::Untrusted(Some(&email))).await.map(|r| r.is_ok())
            })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        admitted += usize::from(task.await.expect("join").expect("db"));
    }
    assert_eq!(admitted, 5, "the fifth reservation blocks the rest, however they interleave");
}

#[tokio::test]
async fn at_most_the_in_flight_limit_is_admitted_per_key_until_slots_come_back() {
    let (throttle, _clock, _dir) = throttle().await;
    let email = Email::parse("a@example.com").expect("email");
    let mut held = Vec::new();
    for n in 0..2 {
        let from = ip(&format!("198.51.100.{n}"));
        let mut r =
            throttle.reserve_login(from, Budget::Untrusted(Some(&email))).await.expect("db").expect("ok");
        held.push(r.take_guards());
    }
    let third = throttle.reserve_login(ip("198.51.100.9"), Budget::Untrusted(Some(&email))).await;
    assert_eq!(third.expect("db").err(), Some(Throttled { retry_after_secs: 1 }));
    held.clear();
    assert!(throttle
        .reserve_login(ip("198.51.100.9"), Budget::Untrusted(Some(&email)))
        .await
        .expect("db")
        .is_ok());
}

#[tokio::test]
async fn a_device_neither_obeys_nor_spends_its_ips_ladder() {
    let (throttle, _clock, _dir) = throttle().await;
    for n in 0..60 {
        // Strangers behind the owner's address guess at many accounts: the IP blocks.
        let email = Email::parse(&format!("p{n}@example.com")).expect("email");
        let _ = fail(&throttle, "198.51.100.7", Some(&email)).await;
    }
    let email = Email::parse("owner@example.com").expect("email");
    assert!(fail(&throttle, "198.51.100.7", Some(&email)).await.is_err(), "the IP is blocked");
    let device = throttle.reserve_login(ip("198.51.100.7"), Budget::Device("known")).await.expect("db");
    let device = device.expect("the owner's known browser, from the same address (review O3)");
    let ip_before = store::get(&throttle.pool, "ip:198.51.100.7").await.expect("db");
    device.failed().await.expect("db");
    assert_eq!(store::get(&throttle.pool, "ip:198.51.100.7").await.expect("db"), ip_before, "not spent");
    assert_eq!(store::get(&throttle.pool, "device:known").await.expect("db").failures, 1, "its own");

    // Device attempts from one address still take places of their own, two at a time:
    // a pile of device cookies cannot fill the hashing queue from one address.
    let mut held = Vec::new();
    for key in ["d1", "d2"] {
        let mut r =
            throttle.reserve_login(ip("198.51.100.8"), Budget::Device(key)).await.expect("db").expect("ok");
        held.push(r.take_guards());
    }
    let third = throttle.reserve_login(ip("198.51.100.8"), Budget::Device("d3")).await.expect("db");
    assert_eq!(third.err(), Some(Throttled { retry_after_secs: 1 }));
    let elsewhere = throttle.reserve_login(ip("198.51.100.9"), Budget::Device("d4")).await.expect("db");
    assert!(elsewhere.is_ok(), "another address");
}

#[tokio::test]
async fn the_table_holds_no_email_addresses() {
    let (throttle, _clock, _dir) = throttle().await;
    let email = Email::parse("secret.person@example.com").expect("email");
    fail(&throttle, "198.51.100.1", Some(&email)).await.expect("admitted");
    let keys: Vec<String> =
        crate::on_db!(&throttle.pool, c => sqlx::query_scalar("SELECT key FROM throttle_counters")
        .fetch_all(c)
        .await)
        .expect("keys");
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| !k.contains("secret.person")));
}

#[tokio::test]
async fn counters_are_deleted_once_they_can_no_longer_matter() {
    let (throttle, clock, _dir) = throttle().await;
    let email = Email::parse("a@example.com").expect("email");
    fail(&throttle, "198.51.100.1", Some(&email)).await.expect("admitted");
    throttle.signup_attempt(ip("198.51.100.1")).await.expect("db").expect("room");
    assert_eq!(throttle.delete_stale().await.expect("db"), 0, "all still count");
    clock.advance(3601);
    assert_eq!(throttle.delete_stale().await.expect("db"), 2, "ip and signup-ip");
    clock.advance(throttle.policy.account_window_secs);
    assert_eq!(throttle.delete_stale().await.expect("db"), 1, "the account's, after its long window");
}

#[tokio::test]
async fn signups_are_capped_per_ip_per_hour() {
    let (throttle, clock, _dir) = throttle().await;
    for _ in 0..20 {
        assert!(throttle.signup_attempt(ip("198.51.100.1")).await.expect("db").is_ok());
        clock.advance(1);
    }
    assert!(throttle.signup_attempt(ip("198.51.100.1")).await.expect("db").is_err());
    assert!(throttle.signup_attempt(ip("198.51.100.2")).await.expect("db").is_ok(), "other IPs unaffected");
}

/// Every counter the throttle stores (`format!("prefix:…")` in its code) is pruned by
/// `delete_stale` once it can no longer matter: a prefix missing from its list would keep
/// one row per client or address for ever. (`ip-device:` is an in-flight key, never
/// stored.)
#[test]
fn every_stored_counter_kind_is_pruned() {
    let after = include_str!("mod.rs").split("fn delete_stale").nth(1).expect("delete_stale");
    let pruned = after.split("];").next().expect("the list of kinds").to_owned();
    let mut seen = 0;
    for source in [include_str!("mod.rs"), include_str!("allowances.rs")] {
        for piece in source.split("format!(\"").skip(1) {
            let Some((prefix, _)) = piece.split_once(':') else { continue };
            if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                continue;
            }
            if prefix == "ip-device" {
                continue;
            }
            seen += 1;
            assert!(pruned.contains(&format!("(\"{prefix}:\"")), "counters {prefix}:… are never pruned");
        }
    }
    assert!(seen > 20, "the throttle's key prefixes were not found ({seen})");
    // Keys not written as `format!("prefix:…")`: a literal, and kinds named at run time.
    for kind in ["(\"signup-all\"", "(\"trusted-\"", "(\"verify-mail-to:\"", "(\"reset-mail-to:\""] {
        assert!(pruned.contains(kind), "counters {kind} are never pruned");
    }
}
