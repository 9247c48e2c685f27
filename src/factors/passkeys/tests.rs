//! Passkeys against a real SQLite file and a software authenticator: registration and
//! use, single-use ceremonies, origins, user verification, user handles and counters.

use std::net::IpAddr;

use super::{soft::SoftAuthenticator, *};
use crate::{
    factors::{
        tests::{fixture, user, Fixture},
        Answer, Factor, FactorError, Offers, SecondStepError,
    },
    Role,
};

const ORIGIN: &str = "http://localhost:3000";

fn ip() -> IpAddr {
    "198.51.100.7".parse().expect("ip")
}

fn with_passkeys(mut f: Fixture) -> Fixture {
    let relying_party = RelyingParty::new(ORIGIN, "Bulwark").expect("relying party");
    f.factors = f.factors.clone().with_passkeys(Some(relying_party));
    f
}

/// The fixture (with Ann's sessions "s1" and "s2"), with passkeys.
async fn setup() -> Fixture {
    with_passkeys(fixture().await)
}

/// Registers `authenticator` on session "s1" and returns the result.
async fn register(f: &Fixture, authenticator: &mut SoftAuthenticator) -> Result<Registered, PasskeyError> {
    let ann = user(f).await;
    let options = f.factors.passkey_registration(&ann, "s1", "Laptop").await.expect("options");
    let response = authenticator.register(&options);
    f.factors.finish_passkey_registration(&ann, "s1", "Laptop", &response, &Default::default()).await
}

async fn step_up(f: &Fixture, authenticator: &mut SoftAuthenticator) -> Result<Factor, FactorError> {
    let ann = user(f).await;
    let options = f.factors.passkey_challenge(Ceremony::StepUp("s1"), ann.id).await.expect("options");
    let response = authenticator.assert(&options);
    let answer = f.factors.passkey_answer(Ceremony::StepUp("s1"), &response).await.expect("answer");
    f.factors.step_up(&ann, (ip(), "s1"), Answer::Passkey(&answer), &Default::default()).await
}

async fn count(f: &Fixture, sql: &str) -> i64 {
    crate::on_db!(&f.pool, c => sqlx::query_scalar::<_, i64>(sql).fetch_one(c).await).expect("count")
}

#[tokio::test]
async fn a_registered_passkey_proves_a_step_up_and_brings_recovery_codes() {
    let f = setup().await;
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    authenticator.counter = 1;
    assert!(!user(&f).await.has_factor());
    let registered = register(&f, &mut authenticator).await.expect("registered");
    assert_eq!(registered, Registered { codes_made: true, first_factor: true });
    let ann = user(&f).await;
    assert!(ann.has_factor(), "the account has a factor now");
    let status = f.factors.status(ann.id).await.expect("status");
    assert_eq!((status.passkeys, status.recovery_codes_left, status.app), (1, 10, false));
    let listed = f.factors.passkeys(ann.id).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "Laptop");
    assert!(listed[0].discoverable, "credProps.rk was reported");
    assert!(listed[0].last_used_at.is_none());
    assert_eq!(step_up(&f, &mut authenticator).await.expect("step-up"), Factor::Passkey);
    let listed = f.factors.passkeys(ann.id).await.expect("list");
    assert!(listed[0].last_used_at.is_some(), "the use is recorded");
    assert_eq!(count(&f, "SELECT counter FROM passkeys").await, 2, "the stored counter moved forward");
    assert_eq!(
        count(&f, "SELECT COUNT(*) FROM audit_events WHERE event = 'authn_factor_added'").await,
        1,
        "the registration is audited"
    );
    // The same authenticator cannot be registered twice (the library refuses a credential
    // the options excluded; the unique credential id would refuse it anyway).
    let again = register(&f, &mut authenticator).await;
    assert!(matches!(again, Err(PasskeyError::Refused | PasskeyError::AlreadyRegistered)), "{again:?}");
    assert_eq!(count(&f, "SELECT COUNT(*) FROM passkeys").await, 1);
}

#[tokio::test]
async fn the_user_handle_is_random_and_neither_the_id_nor_the_address() {
    let f = setup().await;
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    register(&f, &mut authenticator).await.expect("registered");
    let handle = authenticator.user_handle.clone();
    assert_eq!(handle.len(), 16, "a UUID");
    assert_ne!(handle, b"1".to_vec());
    assert!(!String::from_utf8_lossy(&handle).contains("example.com"));
    // A second passkey of the account carries the same handle.
    let mut second = SoftAuthenticator::new(ORIGIN);
    let ann = user(&f).await;
    let options = f.factors.passkey_registration(&ann, "s1", "Phone").await.expect("options");
    second.register(&options);
    assert_eq!(second.user_handle, handle);
}

#[tokio::test]
async fn a_ceremony_answers_once_whatever_its_outcome() {
    let f = setup().await;
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    register(&f, &mut authenticator).await.expect("registered");
    let ann = user(&f).await;
    let options = f.factors.passkey_challenge(Ceremony::StepUp("s1"), ann.id).await.expect("options");
    let response = authenticator.assert(&options);
    // Ten requests carry the same answer at once: one finds the ceremony.
    let answers = futures_join(&f, &response).await;
    assert_eq!(answers, 1, "one request took the ceremony");
    // Replayed after the first finish, the answer finds nothing.
    let answer = f.factors.passkey_answer(Ceremony::StepUp("s1"), &response).await.expect("answer");
    let verdict = f.factors.step_up(&ann, (ip(), "s1"), Answer::Passkey(&answer), &Default::default()).await;
    assert!(matches!(verdict, Err(FactorError::WrongPasskey)), "{verdict:?}");
    // A failed finish also ends the ceremony: a corrected answer must start again.
    let options = f.factors.passkey_challenge(Ceremony::StepUp("s1"), ann.id).await.expect("options");
    let answer = f.factors.passkey_answer(Ceremony::StepUp("s1"), "{}").await.expect("answer");
    assert!(f
        .factors
        .step_up(&ann, (ip(), "s1"), Answer::Passkey(&answer), &Default::default())
        .await
        .is_err());
    let late = authenticator.assert(&options);
    let answer = f.factors.passkey_answer(Ceremony::StepUp("s1"), &late).await.expect("answer");
    assert!(f
        .factors
        .step_up(&ann, (ip(), "s1"), Answer::Passkey(&answer), &Default::default())
        .await
        .is_err());
    // Another session's ceremony is not this one's.
    let options = f.factors.passkey_challenge(Ceremony::StepUp("s1"), ann.id).await.expect("options");
    let response = authenticator.assert(&options);
    let answer = f.factors.passkey_answer(Ceremony::StepUp("s2"), &response).await.expect("answer");
    assert!(f
        .factors
        .step_up(&ann, (ip(), "s2"), Answer::Passkey(&answer), &Default::default())
        .await
        .is_err());
    // A ceremony expires.
    let options = f.factors.passkey_challenge(Ceremony::StepUp("s1"), ann.id).await.expect("options");
    f.clock.advance(CEREMONY_SECS + 1);
    let response = authenticator.assert(&options);
    let answer = f.factors.passkey_answer(Ceremony::StepUp("s1"), &response).await.expect("answer");
    assert!(f
        .factors
        .step_up(&ann, (ip(), "s1"), Answer::Passkey(&answer), &Default::default())
        .await
        .is_err());
}

/// Ten concurrent finish calls with one answer: how many took the ceremony.
async fn futures_join(f: &Fixture, response: &str) -> usize {
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let factors = f.factors.clone();
        let response = response.to_owned();
        tasks.push(tokio::spawn(async move {
            let answer = factors.passkey_answer(Ceremony::StepUp("s1"), &response).await.expect("answer");
            answer.has_state()
        }));
    }
    let mut taken = 0;
    for task in tasks {
        taken += usize::from(task.await.expect("task"));
    }
    taken
}

#[tokio::test]
async fn another_origin_and_a_missing_user_verification_are_refused() {
    let f = setup().await;
    let mut phished = SoftAuthenticator::new("http://localhost.evil.example:3000");
    assert!(matches!(register(&f, &mut phished).await, Err(PasskeyError::Refused)));
    let mut unverified = SoftAuthenticator::new(ORIGIN);
    unverified.user_verified = false;
    assert!(matches!(register(&f, &mut unverified).await, Err(PasskeyError::Refused)));
    assert!(!user(&f).await.has_factor());

    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    register(&f, &mut authenticator).await.expect("registered");
    authenticator.origin = "https://evil.example".into();
    assert!(matches!(step_up(&f, &mut authenticator).await, Err(FactorError::WrongPasskey)));
    authenticator.origin = ORIGIN.into();
    authenticator.user_verified = false;
    assert!(matches!(step_up(&f, &mut authenticator).await, Err(FactorError::WrongPasskey)));
    authenticator.user_verified = true;
    assert!(step_up(&f, &mut authenticator).await.is_ok());
}

#[tokio::test]
async fn a_counter_that_goes_backwards_sets_the_passkey_aside_and_tells_the_owner() {
    let f = setup().await;
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    authenticator.counter = 5;
    register(&f, &mut authenticator).await.expect("registered");
    assert!(step_up(&f, &mut authenticator).await.is_ok());
    let mails_before = count(&f, "SELECT COUNT(*) FROM mail_outbox").await;
    // A clone answers with an older counter.
    authenticator.counter = 2;
    assert!(matches!(step_up(&f, &mut authenticator).await, Err(FactorError::WrongPasskey)));
    let ann = user(&f).await;
    assert!(f.factors.passkeys(ann.id).await.expect("list")[0].flagged);
    assert_eq!(count(&f, "SELECT COUNT(*) FROM mail_outbox").await, mails_before + 1, "the owner is mailed");
    assert_eq!(count(&f, "SELECT COUNT(*) FROM audit_events WHERE event = 'authn_passkey_flagged'").await, 1);
    // Set aside, it does not sign in even with a counter ahead again.
    authenticator.counter = 100;
    assert!(matches!(
        f.factors.passkey_challenge(Ceremony::StepUp("s1"), ann.id).await,
        Err(PasskeyError::NoPasskey)
    ));
}

#[tokio::test]
async fn a_synced_passkey_that_always_reports_zero_keeps_working() {
    let f = setup().await;
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    authenticator.synced = true;
    register(&f, &mut authenticator).await.expect("registered");
    for _ in 0..3 {
        assert!(step_up(&f, &mut authenticator).await.is_ok());
    }
    let ann = user(&f).await;
    let listed = f.factors.passkeys(ann.id).await.expect("list");
    assert!(listed[0].synced && !listed[0].flagged);
}

async fn sign_in(
    f: &Fixture,
    authenticator: &mut SoftAuthenticator,
) -> Result<crate::factors::Passed, PasskeyError> {
    let challenge = f.factors.passkey_sign_in_challenge().await.expect("challenge");
    let response = authenticator.assert(&challenge.options);
    f.factors.passkey_sign_in(ip(), Some(&challenge.cookie), &response, &Default::default()).await
}

#[tokio::test]
async fn a_discoverable_sign_in_finds_the_account_by_credential_and_checks_its_handle() {
    let f = setup().await;
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    register(&f, &mut authenticator).await.expect("registered");
    let passed = sign_in(&f, &mut authenticator).await.expect("signed in");
    assert_eq!(passed.factor(), Factor::Passkey);
    assert_eq!(passed.user.id, 1);
    // The same credential returned under another handle (web-auth/webauthn-framework#215).
    let real = authenticator.user_handle.clone();
    authenticator.user_handle = vec![7; 16];
    assert!(matches!(sign_in(&f, &mut authenticator).await, Err(PasskeyError::Refused)));
    authenticator.user_handle = real;
    // A credential nobody registered.
    let mut stranger = SoftAuthenticator::new(ORIGIN);
    stranger.user_handle = authenticator.user_handle.clone();
    assert!(matches!(sign_in(&f, &mut stranger).await, Err(PasskeyError::Refused)));
    // No cookie, or a replayed answer: no ceremony.
    let challenge = f.factors.passkey_sign_in_challenge().await.expect("challenge");
    let response = authenticator.assert(&challenge.options);
    assert!(matches!(
        f.factors.passkey_sign_in(ip(), None, &response, &Default::default()).await,
        Err(PasskeyError::Expired)
    ));
    let challenge = f.factors.passkey_sign_in_challenge().await.expect("challenge");
    let response = authenticator.assert(&challenge.options);
    assert!(f
        .factors
        .passkey_sign_in(ip(), Some(&challenge.cookie), &response, &Default::default())
        .await
        .is_ok());
    assert!(matches!(
        f.factors.passkey_sign_in(ip(), Some(&challenge.cookie), &response, &Default::default()).await,
        Err(PasskeyError::Expired)
    ));
    // Without user verification it is not a sign-in.
    authenticator.user_verified = false;
    assert!(matches!(sign_in(&f, &mut authenticator).await, Err(PasskeyError::Refused)));
}

#[tokio::test]
async fn failed_passkey_sign_ins_spend_the_accounts_factor_budget_but_never_lock_the_owner_out() {
    let f = setup().await;
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    register(&f, &mut authenticator).await.expect("registered");
    // Assertions without user verification (a stolen, locked device) count as failures.
    authenticator.user_verified = false;
    for _ in 0..6 {
        assert!(matches!(sign_in(&f, &mut authenticator).await, Err(PasskeyError::Refused)));
    }
    assert!(f.factors.throttle.factor_failures(1).await.expect("count") >= 5, "counted on the account");
    // Someone with the password drives the account's factor budget into its backoff...
    let ann = user(&f).await;
    for n in 0..10u8 {
        let pending = f.factors.begin_second_step(&ann, None).await.expect("pending");
        let ip: IpAddr = format!("203.0.113.{n}").parse().expect("ip");
        let _ = f
            .factors
            .second_step(ip, Some(&pending.cookie), Answer::Code("000000"), &Default::default())
            .await;
    }
    let pending = f.factors.begin_second_step(&ann, None).await.expect("pending");
    assert!(matches!(
        f.factors.second_step(ip(), Some(&pending.cookie), Answer::Code("000000"), &Default::default()).await,
        Err(SecondStepError::Throttled(_))
    ));
    // ...and the owner's passkey, whose signature nobody can guess, still signs in.
    authenticator.user_verified = true;
    assert!(sign_in(&f, &mut authenticator).await.is_ok());
}

#[tokio::test]
async fn a_passkey_answers_the_second_step() {
    let f = setup().await;
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    register(&f, &mut authenticator).await.expect("registered");
    let ann = user(&f).await;
    let pending = f.factors.begin_second_step(&ann, None).await.expect("pending");
    let offers = f.factors.second_step_offers(Some(&pending.cookie)).await.expect("offers");
    assert_eq!(offers, Offers { app: false, passkey: true });
    assert_eq!(f.factors.second_step_offers(Some("junk")).await.expect("offers"), Offers::default());
    let options = f.factors.second_step_challenge(Some(&pending.cookie)).await.expect("options");
    let response = authenticator.assert(&options);
    // Another pending step's ceremony does not answer this one.
    let other = f.factors.begin_second_step(&ann, None).await.expect("pending");
    let answer =
        f.factors.passkey_answer(Ceremony::SecondStep(&other.cookie), &response).await.expect("answer");
    let verdict =
        f.factors.second_step(ip(), Some(&other.cookie), Answer::Passkey(&answer), &Default::default()).await;
    assert!(matches!(verdict, Err(SecondStepError::Wrong(Factor::Passkey))), "{verdict:?}");
    let answer =
        f.factors.passkey_answer(Ceremony::SecondStep(&pending.cookie), &response).await.expect("answer");
    let passed = f
        .factors
        .second_step(ip(), Some(&pending.cookie), Answer::Passkey(&answer), &Default::default())
        .await
        .expect("passed");
    assert_eq!(passed.factor(), Factor::Passkey);
}

#[tokio::test]
async fn removing_the_last_passkey_ends_two_factor_sign_in_but_never_an_admins() {
    let f = setup().await;
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    register(&f, &mut authenticator).await.expect("registered");
    let ann = user(&f).await;
    let id = f.factors.passkeys(ann.id).await.expect("list")[0].id;
    f.factors.rename_passkey((&ann, "s1"), id, "Work laptop", &Default::default()).await.expect("renamed");
    assert!(matches!(
        f.factors.rename_passkey((&ann, "s1"), id, &"x".repeat(65), &Default::default()).await,
        Err(PasskeyError::BadName)
    ));
    assert_eq!(f.factors.passkeys(ann.id).await.expect("list")[0].name, "Work laptop");
    let mut admin = ann.clone();
    admin.role = Role::Admin;
    assert!(matches!(
        f.factors.remove_passkey((&admin, "s1"), id, &Default::default()).await,
        Err(PasskeyError::AdminNeedsFactor)
    ));
    assert!(matches!(
        f.factors.remove_passkey((&ann, "s1"), id + 1, &Default::default()).await,
        Err(PasskeyError::NoPasskey)
    ));
    f.factors.remove_passkey((&ann, "s1"), id, &Default::default()).await.expect("removed");
    let ann = user(&f).await;
    assert!(!ann.has_factor());
    assert_eq!(f.factors.status(ann.id).await.expect("status").recovery_codes_left, 0);
}

#[test]
fn an_ip_address_cannot_be_the_relying_party() {
    assert!(matches!(
        RelyingParty::new("http://127.0.0.1:3000", "Bulwark"),
        Err(RelyingPartyError::NotADomain(_))
    ));
    assert!(matches!(
        RelyingParty::new("http://[::1]:3000", "Bulwark"),
        Err(RelyingPartyError::NotADomain(_))
    ));
    assert_eq!(
        RelyingParty::new("https://auth.example.com", "Bulwark").expect("rp").id(),
        "auth.example.com"
    );
}

#[tokio::test]
async fn a_registration_whose_session_ended_meanwhile_adds_nothing() {
    let f = setup().await;
    let ann = user(&f).await;
    let options = f.factors.passkey_registration(&ann, "s2", "Thief").await.expect("options");
    let response = SoftAuthenticator::new(ORIGIN).register(&options);
    // The owner signs that session out while its browser answers.
    crate::on_db!(&f.pool, c => sqlx::query("DELETE FROM session_registry WHERE store_key = 's2'")
        .execute(c)
        .await
        .map(crate::db::Done::from))
    .expect("signed out");
    let verdict =
        f.factors.finish_passkey_registration(&ann, "s2", "Thief", &response, &Default::default()).await;
    assert!(matches!(verdict, Err(PasskeyError::Expired)), "{verdict:?}");
    assert_eq!(count(&f, "SELECT COUNT(*) FROM passkeys").await, 0);
    assert!(!user(&f).await.has_factor());
}

#[test]
fn a_name_is_short_and_has_no_hidden_characters() {
    assert_eq!(parse_name("  Work laptop ").expect("name"), "Work laptop");
    assert_eq!(parse_name("").expect("default"), "Passkey");
    for bad in ["a\u{202E}b", "a\u{200B}b", "a\nb", &"x".repeat(65)] {
        assert!(matches!(parse_name(bad), Err(PasskeyError::BadName)), "{bad:?}");
    }
}

#[tokio::test]
async fn two_real_uses_checked_out_of_order_refuse_the_older_without_setting_the_passkey_aside() {
    let f = setup().await;
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    authenticator.counter = 5;
    register(&f, &mut authenticator).await.expect("registered");
    let ann = user(&f).await;
    // Two tabs ask at once; the authenticator answers the first (counter 6), then the
    // second (7); the second's answer arrives first.
    let first = f.factors.passkey_challenge(Ceremony::StepUp("s1"), ann.id).await.expect("options");
    let second = f.factors.passkey_challenge(Ceremony::StepUp("s2"), ann.id).await.expect("options");
    let older = authenticator.assert(&first);
    let newer = authenticator.assert(&second);
    let answer = f.factors.passkey_answer(Ceremony::StepUp("s2"), &newer).await.expect("answer");
    assert!(f
        .factors
        .step_up(&ann, (ip(), "s2"), Answer::Passkey(&answer), &Default::default())
        .await
        .is_ok());
    let answer = f.factors.passkey_answer(Ceremony::StepUp("s1"), &older).await.expect("answer");
    let late = f.factors.step_up(&ann, (ip(), "s1"), Answer::Passkey(&answer), &Default::default()).await;
    assert!(matches!(late, Err(FactorError::WrongPasskey)), "{late:?}");
    assert!(!f.factors.passkeys(ann.id).await.expect("list")[0].flagged, "not a copy: not set aside");
    assert!(step_up(&f, &mut authenticator).await.is_ok(), "the passkey goes on working");
}
