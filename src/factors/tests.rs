//! The factor service against a real SQLite file: enrolment, the replay guard, recovery
//! codes spent once, and the second step's budget.

use std::sync::Arc;

use super::*;
use crate::Role;
use crate::{
    clock::{Clock, ManualClock},
    db,
    throttle::ThrottlePolicy,
};

pub(crate) struct Fixture {
    pub(crate) factors: Factors,
    pub(crate) clock: ManualClock,
    pub(crate) pool: Pool,
    _dir: tempfile::TempDir,
}

pub(crate) async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.expect("db");
    db::migrate(&pool).await.expect("migrate");
    crate::on_db!(&pool, c => sqlx::query(
        "INSERT INTO users (id, email, username, display_name, password_hash, created_at, email_verified_at) \
         VALUES (1, 'a@example.com', 'ann', 'Ann', 'x', 0, 0)",
    )
    .execute(c)
    .await
    .map(crate::db::Done::from))
    .expect("user");
    // Ann's sessions "s1" and "s2": changes commit only while their session is live.
    for key in ["s1", "s2"] {
        crate::on_db!(&pool, c => sqlx::query(
            "INSERT INTO session_registry (store_key, handle, user_id, created_at, last_seen_at, idle_expires_at, \
             absolute_expires_at, ip, device, epoch) VALUES ($1, $1, 1, 0, 0, 9999999999, 9999999999, '', '', 0)",
        )
        .bind(key)
        .execute(c)
        .await
        .map(crate::db::Done::from))
        .expect("session");
    }
    let clock = ManualClock::starting_at(1_700_000_000);
    let shared: SharedClock = Arc::new(clock.clone());
    let throttle = Throttle::new(pool.clone(), shared.clone(), ThrottlePolicy::default(), b"key");
    let factors = Factors::new(
        pool.clone(),
        shared.clone(),
        FactorKeys::new(b"secret", 1),
        throttle,
        Outbox::new(pool.clone(), shared),
        Templates::new("http://localhost"),
        "Bulwark",
    );
    Fixture { factors, clock, pool, _dir: dir }
}

pub(crate) async fn user(f: &Fixture) -> User {
    let mut connection = f.pool.acquire().await.expect("connection");
    crate::accounts::store::find_user(&mut connection, 1).await.expect("db").expect("user")
}

/// The waiting enrolment's secret, as the person's app would read it from the page.
fn secret_of(enrolment: &Enrolment) -> TotpSecret {
    TotpSecret::from_base32(&enrolment.key).expect("base32")
}

#[tokio::test]
async fn an_enrolment_becomes_a_factor_only_with_a_current_code() {
    let f = fixture().await;
    let ann = user(&f).await;
    let enrolment = f.factors.enrolment(&ann, "s1").await.expect("enrolment");
    assert!(enrolment.qr_svg.starts_with("<svg"));
    assert_eq!(
        f.factors.enrolment(&ann, "s1").await.expect("again").key,
        enrolment.key,
        "a reload shows the same key"
    );
    assert!(!user(&f).await.has_factor());
    // Another session (someone else who knows the password) never sees this secret, and
    // its own start makes this session's confirmation fail.
    let other = f.factors.enrolment(&ann, "s2").await.expect("another enrolment");
    assert_ne!(other.key, enrolment.key);
    let now = f.clock.now();
    let theirs = secret_of(&other).code_at_step(TotpSecret::step_at(now));
    assert!(matches!(
        f.factors.confirm_enrolment(&ann, "s1", &theirs, &Default::default()).await,
        Err(FactorError::NotWaiting)
    ));
    let enrolment = f.factors.enrolment(&ann, "s1").await.expect("started again");
    let secret = secret_of(&enrolment);
    let now = f.clock.now();
    let stale = secret.code_at_step(TotpSecret::step_at(now) - 2);
    assert!(matches!(
        f.factors.confirm_enrolment(&ann, "s1", &stale, &Default::default()).await,
        Err(FactorError::WrongCode)
    ));
    let code = secret.code_at_step(TotpSecret::step_at(now));
    let codes = f.factors.confirm_enrolment(&ann, "s1", &code, &Default::default()).await.expect("confirmed");
    assert_eq!(codes.len(), 10);
    let ann = user(&f).await;
    assert!(ann.has_factor());
    let status = f.factors.status(ann.id).await.expect("status");
    assert!(status.app);
    assert_eq!(status.recovery_codes_left, 10);
    assert!(matches!(f.factors.enrolment(&ann, "s1").await, Err(FactorError::AlreadyEnrolled)));
    // The confirming code's step is burnt: it does not also work for a step-up.
    let verdict = f
        .factors
        .step_up(&ann, ("198.51.100.1".parse().expect("ip"), "s"), Answer::Code(&code), &Default::default())
        .await;
    assert!(matches!(verdict, Err(FactorError::WrongCode)), "{verdict:?}");
}

async fn enrolled(f: &Fixture) -> (User, TotpSecret, Vec<String>) {
    let ann = user(f).await;
    let enrolment = f.factors.enrolment(&ann, "s1").await.expect("enrolment");
    let secret = secret_of(&enrolment);
    let code = secret.code_at_step(TotpSecret::step_at(f.clock.now()));
    let codes = f.factors.confirm_enrolment(&ann, "s1", &code, &Default::default()).await.expect("confirmed");
    f.clock.advance(TOTP_STEP);
    (user(f).await, secret, codes)
}

const TOTP_STEP: i64 = totp::STEP_SECS as i64;

#[tokio::test]
async fn a_code_works_once_even_when_twenty_requests_carry_it() {
    let f = fixture().await;
    let (ann, secret, _) = enrolled(&f).await;
    let code = secret.code_at_step(TotpSecret::step_at(f.clock.now()));
    let mut tasks = Vec::new();
    for n in 0..20 {
        let factors = f.factors.clone();
        let ann = ann.clone();
        let code = code.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("session-{n}");
            let ip: IpAddr = format!("198.51.100.{}", n + 1).parse().expect("ip");
            factors.step_up(&ann, (ip, &key), Answer::Code(&code), &Default::default()).await
        }));
    }
    let mut passed = 0;
    for task in tasks {
        if task.await.expect("task").is_ok() {
            passed += 1;
        }
    }
    assert_eq!(passed, 1, "one code, one use");
}

#[tokio::test]
async fn a_recovery_code_is_spent_once_under_concurrency() {
    let f = fixture().await;
    let (ann, _, codes) = enrolled(&f).await;
    let mut tasks = Vec::new();
    for n in 0..10 {
        let factors = f.factors.clone();
        let ann = ann.clone();
        let code = codes[0].to_lowercase();
        tasks.push(tokio::spawn(async move {
            let key = format!("session-{n}");
            let ip: IpAddr = format!("198.51.100.{}", n + 1).parse().expect("ip");
            factors.step_up(&ann, (ip, &key), Answer::RecoveryCode(&code), &Default::default()).await
        }));
    }
    let mut passed = 0;
    for task in tasks {
        if task.await.expect("task").is_ok() {
            passed += 1;
        }
    }
    assert_eq!(passed, 1);
    assert_eq!(f.factors.status(ann.id).await.expect("status").recovery_codes_left, 9);
    // A new set kills the old one.
    let fresh = f.factors.renew_recovery_codes(&ann, "s1", &Default::default()).await.expect("renewed");
    let ip: IpAddr = "198.51.100.99".parse().expect("ip");
    let old = f.factors.step_up(&ann, (ip, "s2"), Answer::RecoveryCode(&codes[1]), &Default::default()).await;
    assert!(matches!(old, Err(FactorError::WrongRecoveryCode)));
    assert!(f
        .factors
        .step_up(&ann, (ip, "s3"), Answer::RecoveryCode(&fresh[0]), &Default::default())
        .await
        .is_ok());
}

#[tokio::test]
async fn a_sessions_step_up_gets_five_guesses_then_ends() {
    let f = fixture().await;
    let (ann, _, _) = enrolled(&f).await;
    let ip: IpAddr = "198.51.100.1".parse().expect("ip");
    for _ in 0..4 {
        let verdict =
            f.factors.step_up(&ann, (ip, "stolen"), Answer::Code("000000"), &Default::default()).await;
        assert!(matches!(verdict, Err(FactorError::WrongCode)), "{verdict:?}");
    }
    let last = f.factors.step_up(&ann, (ip, "stolen"), Answer::Code("000000"), &Default::default()).await;
    assert!(matches!(last, Err(FactorError::Exhausted)), "{last:?}");
}

#[tokio::test]
async fn a_second_step_is_not_unlimited_however_many_sign_ins_open_one() {
    let f = fixture().await;
    let (ann, secret, _) = enrolled(&f).await;
    let ip = |n: u8| -> IpAddr { format!("203.0.113.{n}").parse().expect("ip") };
    // An attacker with the password opens pending step after pending step and guesses.
    let mut checked = 0;
    let mut throttled = false;
    for n in 0..40u8 {
        let pending = f.factors.begin_second_step(&ann, None).await.expect("pending");
        match f
            .factors
            .second_step(ip(n), Some(&pending.cookie), Answer::Code("000000"), &Default::default())
            .await
        {
            Err(SecondStepError::Wrong(_)) => checked += 1,
            Err(SecondStepError::Throttled(_)) => {
                throttled = true;
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(throttled, "the account's budget stops the guessing");
    assert!(checked <= 5, "{checked} guesses checked before the backoff");
    // The owner, on a known device, still gets in with a right code.
    let device = crate::devices::Device { key: "owner-device".into(), user_id: ann.id };
    let pending = f.factors.begin_second_step(&ann, Some(&device)).await.expect("pending");
    let code = secret.code_at_step(TotpSecret::step_at(f.clock.now()));
    let passed =
        f.factors.second_step(ip(200), Some(&pending.cookie), Answer::Code(&code), &Default::default()).await;
    assert!(passed.is_ok(), "{passed:?}");
    // A pending step is used up by its success.
    let again =
        f.factors.second_step(ip(200), Some(&pending.cookie), Answer::Code(&code), &Default::default()).await;
    assert!(matches!(again, Err(SecondStepError::Expired)));
}

#[tokio::test]
async fn a_pending_step_dies_after_five_wrong_answers_and_at_its_expiry() {
    let f = fixture().await;
    let (ann, secret, _) = enrolled(&f).await;
    let device = crate::devices::Device { key: "d".into(), user_id: ann.id };
    let ip: IpAddr = "203.0.113.1".parse().expect("ip");
    let pending = f.factors.begin_second_step(&ann, Some(&device)).await.expect("pending");
    for n in 1..=5 {
        let verdict = f
            .factors
            .second_step(ip, Some(&pending.cookie), Answer::Code("000000"), &Default::default())
            .await;
        match n {
            5 => assert!(matches!(verdict, Err(SecondStepError::Exhausted)), "{verdict:?}"),
            _ => assert!(matches!(verdict, Err(SecondStepError::Wrong(_))), "{verdict:?}"),
        }
    }
    let dead =
        f.factors.second_step(ip, Some(&pending.cookie), Answer::Code("000000"), &Default::default()).await;
    assert!(matches!(dead, Err(SecondStepError::Expired)), "{dead:?}");
    let late = f.factors.begin_second_step(&ann, Some(&device)).await.expect("pending");
    f.clock.advance(SECOND_STEP_SECS);
    let code = secret.code_at_step(TotpSecret::step_at(f.clock.now()));
    let verdict =
        f.factors.second_step(ip, Some(&late.cookie), Answer::Code(&code), &Default::default()).await;
    assert!(matches!(verdict, Err(SecondStepError::Expired)), "{verdict:?}");
}

#[tokio::test]
async fn an_admin_keeps_their_factor_and_a_user_can_remove_theirs() {
    let f = fixture().await;
    let (mut ann, _, _) = enrolled(&f).await;
    ann.role = Role::Admin;
    assert!(matches!(
        f.factors.remove_app((&ann, "s1"), &Default::default()).await,
        Err(FactorError::AdminNeedsFactor)
    ));
    ann.role = Role::User;
    f.factors.remove_app((&ann, "s1"), &Default::default()).await.expect("removed");
    let ann = user(&f).await;
    assert!(!ann.has_factor());
    assert_eq!(f.factors.status(ann.id).await.expect("status"), Status::default());
}
