use super::{super::tests::*, *};

async fn pending(accounts: &Accounts, email: &str, username: &str, password: &str) -> String {
    match accounts.sign_up(email, username, password).await.expect("valid signup").outcome {
        SignupOutcome::Pending { token } => token,
        SignupOutcome::EmailTaken => panic!("the address is taken"),
    }
}

fn field(result: Result<User, ConfirmError>, field: Field) -> String {
    match result {
        Err(ConfirmError::Invalid(errors)) => errors.get(field).expect("a message for the field").to_owned(),
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_signup_creates_no_account_until_its_link_and_password_confirm_it() {
    let (accounts, _clock, _dir) = accounts().await;
    let token = pending(&accounts, "a@example.com", "alpha", GOOD).await;
    assert!(sign_in(&accounts, "a@example.com", GOOD).await.is_err(), "nothing to sign in to yet");
    let user = accounts.confirm_signup(&token, GOOD, None).await.expect("confirmed");
    assert_eq!(user.username, "alpha");
    assert!(user.email_verified);
    assert!(sign_in(&accounts, "a@example.com", GOOD).await.is_ok());
    assert!(matches!(accounts.confirm_signup(&token, GOOD, None).await, Err(ConfirmError::InvalidLink)));
}

#[tokio::test]
async fn a_confirmed_address_cannot_be_signed_up_again() {
    let (accounts, _clock, _dir) = accounts().await;
    verified(&accounts, "a@example.com", "alpha").await;
    let again = accounts.sign_up(" A@Example.com", "beta", OTHER).await.expect("valid");
    assert_eq!(again.outcome, SignupOutcome::EmailTaken);
    assert!(sign_in(&accounts, "a@example.com", OTHER).await.is_err(), "the password did not change");
}

#[tokio::test]
async fn each_link_confirms_its_own_signup_with_its_own_password_and_ends_the_others() {
    let (accounts, _clock, _dir) = accounts().await;
    let owners = pending(&accounts, "a@example.com", "alpha", GOOD).await;
    let attackers = pending(&accounts, "a@example.com", "mallory", OTHER).await;
    // The owner, opening the attacker's link by mistake, cannot confirm it: they do
    // not know the attacker's password.
    assert_eq!(
        field(accounts.confirm_signup(&attackers, GOOD, None).await, Field::Password),
        WRONG_SIGNUP_PASSWORD
    );
    let user = accounts.confirm_signup(&owners, GOOD, None).await.expect("the owner's own signup");
    assert_eq!(user.username, "alpha");
    assert!(matches!(accounts.confirm_signup(&attackers, OTHER, None).await, Err(ConfirmError::InvalidLink)));
    assert!(sign_in(&accounts, "a@example.com", OTHER).await.is_err());
}

#[tokio::test]
async fn a_pending_username_claims_nothing_and_a_taken_one_is_replaced_at_confirmation() {
    let (accounts, _clock, _dir) = accounts().await;
    let first = pending(&accounts, "a@example.com", "Alpha", GOOD).await;
    let second = pending(&accounts, "b@example.com", "ALPHA", GOOD).await;
    accounts.confirm_signup(&second, GOOD, None).await.expect("first to confirm gets it");
    assert_eq!(
        field(accounts.confirm_signup(&first, GOOD, None).await, Field::Username),
        USERNAME_TAKEN_MEANWHILE
    );
    let bad = accounts.confirm_signup(&first, GOOD, Some("x")).await;
    assert!(field(bad, Field::Username).contains("at least"), "the username rules apply");
    let user = accounts.confirm_signup(&first, GOOD, Some("alpha2")).await.expect("another name");
    assert_eq!(user.username, "alpha2");
}

#[tokio::test]
async fn picking_another_username_never_uses_up_the_signups_guesses() {
    let (accounts, _clock, _dir) = accounts().await;
    let first = pending(&accounts, "a@example.com", "alpha", GOOD).await;
    let second = pending(&accounts, "b@example.com", "alpha", GOOD).await;
    accounts.confirm_signup(&second, GOOD, None).await.expect("confirmed");
    for _ in 0..2 * CONFIRM_ATTEMPTS {
        let taken = accounts.confirm_signup(&first, GOOD, None).await;
        assert_eq!(field(taken, Field::Username), USERNAME_TAKEN_MEANWHILE);
        let bad = accounts.confirm_signup(&first, GOOD, Some("x")).await;
        assert!(field(bad, Field::Username).contains("at least"));
    }
    let user = accounts.confirm_signup(&first, GOOD, Some("alpha3")).await.expect("still alive (review O5)");
    assert_eq!(user.username, "alpha3");
}

#[tokio::test]
async fn concurrent_confirmations_of_one_address_create_one_account() {
    let (accounts, _clock, _dir) = accounts().await;
    let tokens: Vec<String> = pending_signups_for_one_address(&accounts).await;
    let tasks: Vec<_> = tokens
        .into_iter()
        .map(|token| {
            let accounts = accounts.clone();
            tokio::spawn(async move { accounts.confirm_signup(&token, GOOD, None).await })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.expect("join") {
            Ok(_) => created += 1,
            Err(ConfirmError::InvalidLink) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(created, 1, "one account; the other links are moot");
}

/// Eight pending signups for one address, each with its own link.
async fn pending_signups_for_one_address(accounts: &Accounts) -> Vec<String> {
    let mut tokens = Vec::new();
    for n in 0..8 {
        tokens.push(pending(accounts, "a@example.com", &format!("alpha{n}"), GOOD).await);
    }
    tokens
}

#[tokio::test]
async fn forty_concurrent_wrong_passwords_get_only_the_allowance_checked() {
    let (accounts, _clock, _dir) = accounts().await;
    let token = pending(&accounts, "a@example.com", "alpha", GOOD).await;
    let before = accounts.hasher().runs();
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let (accounts, token) = (accounts.clone(), token.clone());
            tokio::spawn(async move { accounts.confirm_signup(&token, OTHER, None).await })
        })
        .collect();
    for task in tasks {
        let _ = task.await.expect("join");
    }
    assert!(accounts.hasher().runs() - before <= CONFIRM_ATTEMPTS as u64, "at most the allowance hashed");
    assert!(matches!(accounts.confirm_signup(&token, GOOD, None).await, Err(ConfirmError::InvalidLink)));
}

#[tokio::test]
async fn wrong_passwords_at_confirmation_end_the_signup() {
    let (accounts, _clock, _dir) = accounts().await;
    let token = pending(&accounts, "a@example.com", "alpha", GOOD).await;
    for _ in 0..CONFIRM_ATTEMPTS {
        assert!(matches!(accounts.confirm_signup(&token, OTHER, None).await, Err(ConfirmError::Invalid(_))));
    }
    assert!(matches!(accounts.confirm_signup(&token, GOOD, None).await, Err(ConfirmError::InvalidLink)));
}

#[tokio::test]
async fn a_link_expires_after_24_hours_and_a_renewed_one_replaces_it() {
    let (accounts, clock, _dir) = accounts().await;
    let old = pending(&accounts, "a@example.com", "alpha", GOOD).await;
    let email = Email::parse("a@example.com").expect("email");
    let renewed = accounts.renew_pending(&email).await.expect("db").pop().expect("a pending signup");
    assert!(matches!(accounts.confirm_signup(&old, GOOD, None).await, Err(ConfirmError::InvalidLink)));
    clock.advance(VERIFY_EMAIL_VALID_SECS);
    assert!(matches!(accounts.confirm_signup(&renewed, GOOD, None).await, Err(ConfirmError::InvalidLink)));
    assert_eq!(accounts.delete_expired_pending().await.expect("db"), 1);
    let unknown = Email::parse("nobody@example.com").expect("email");
    assert!(accounts.renew_pending(&unknown).await.expect("db").is_empty());
}

#[tokio::test]
async fn a_resend_renews_every_live_signup_and_an_address_keeps_its_newest_few() {
    let (accounts, clock, _dir) = accounts().await;
    let owners = pending(&accounts, "a@example.com", "alice", GOOD).await;
    clock.advance(1);
    let attackers = pending(&accounts, "a@example.com", "mallory", OTHER).await;
    let email = Email::parse("a@example.com").expect("email");
    let renewed = accounts.renew_pending(&email).await.expect("db");
    assert_eq!(renewed.len(), 2, "the owner's signup is renewed too, not only the newest");
    for old in [&owners, &attackers] {
        assert!(matches!(accounts.confirm_signup(old, GOOD, None).await, Err(ConfirmError::InvalidLink)));
    }
    let mut newest = Vec::new();
    for n in 0..PENDING_PER_ADDRESS {
        clock.advance(1);
        newest.push(pending(&accounts, "a@example.com", &format!("later{n}"), OTHER).await);
    }
    assert_eq!(
        accounts.renew_pending(&email).await.expect("db").len(),
        usize::try_from(PENDING_PER_ADDRESS).expect("small"),
        "the oldest were pushed out"
    );
    for token in &renewed {
        assert!(matches!(accounts.confirm_signup(token, GOOD, None).await, Err(ConfirmError::InvalidLink)));
    }
}

#[tokio::test]
async fn malformed_and_unknown_links_are_refused() {
    let (accounts, _clock, _dir) = accounts().await;
    for token in ["", "not-hex", &"0".repeat(64)] {
        assert!(matches!(accounts.confirm_signup(token, GOOD, None).await, Err(ConfirmError::InvalidLink)));
    }
}

#[tokio::test]
async fn a_weak_password_is_refused_with_feedback() {
    let (accounts, _clock, _dir) = accounts().await;
    let errors = field_errors(accounts.sign_up("kitten@example.com", "kitten", "kittenkittenkitten").await);
    let message = errors.get(Field::Password).expect("password message");
    assert!(message.starts_with("This password is too easy to guess."), "{message}");
}

#[tokio::test]
async fn a_weak_password_is_reported_even_when_another_field_is_invalid() {
    let (accounts, _clock, _dir) = accounts().await;
    let errors = field_errors(accounts.sign_up("someone@example.com", "root", "passwordpassword1").await);
    assert!(errors.get(Field::Username).is_some());
    assert!(errors.get(Field::Password).is_some());
    assert!(errors.get(Field::Email).is_none());
}
