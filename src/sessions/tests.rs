//! The registry's lifetimes (pure: no database).

use super::*;

const L: Lifetimes = Lifetimes { idle_secs: 30 * 60, absolute_secs: 12 * 60 * 60 };

#[test]
fn a_fresh_session_is_alive_and_touched_only_after_a_minute() {
    let meta = SessionMeta::new(1, 0, 1_000);
    assert_eq!(Liveness::of(&meta, 1_000, L), Liveness::Alive);
    assert_eq!(Liveness::of(&meta, 1_059, L), Liveness::Alive);
    assert_eq!(Liveness::of(&meta, 1_060, L), Liveness::Touch);
}

#[test]
fn an_idle_session_expires_after_the_idle_timeout() {
    let meta = SessionMeta::new(1, 0, 1_000);
    assert_eq!(Liveness::of(&meta, 1_000 + 30 * 60 - 1, L), Liveness::Touch);
    assert_eq!(Liveness::of(&meta, 1_000 + 30 * 60, L), Liveness::Expired);
}

#[test]
fn activity_never_extends_the_absolute_lifetime() {
    let mut meta = SessionMeta::new(1, 0, 0);
    let mut now = 0;
    // Active every five minutes, for longer than the absolute limit.
    while now < L.absolute_secs + 3600 {
        now += 5 * 60;
        match Liveness::of(&meta, now, L) {
            Liveness::Expired => break,
            _ => meta.last_seen_at = now,
        }
    }
    assert_eq!(now, L.absolute_secs, "the session must die exactly at the absolute limit");
}
