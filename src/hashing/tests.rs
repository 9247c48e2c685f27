//! The hashing pool: its answers, its queue and its limits.

use argon2::{password_hash::PasswordHash, Params};

use super::*;
use crate::PasswordPolicy;

fn password(raw: &str) -> Password {
    Password::parse(raw, PasswordPolicy::default()).expect("valid")
}

#[tokio::test]
async fn a_hash_is_argon2id_with_at_least_the_owasp_parameters() {
    let hasher = PasswordHasher::new(HashParams::default()).expect("hasher");
    let phc = hasher.hash(&password("a perfectly fine passphrase")).await.expect("hash");
    let parsed = PasswordHash::new(&phc).expect("PHC string");
    assert_eq!(parsed.algorithm.as_str(), "argon2id");
    let params = Params::try_from(&parsed).expect("params");
    assert!(params.m_cost() >= 19_456 && params.t_cost() >= 2 && params.p_cost() >= 1);
}

#[test]
fn verifying_in_kept_memory_leaves_nothing_behind_for_the_next_run() {
    let engine = engine::Engine::new(HashParams::default()).expect("engine");
    let mut worker = engine.worker();
    assert_eq!(worker.kept_kib(), 0, "no memory before the first run");
    let phc = worker.hash(b"again and again").expect("hash");
    // Twice in a row through the same kept memory, and a wrong password between: a
    // previous run leaves nothing behind that changes the next one.
    assert!(worker.verify(b"again and again", &phc).expect("first"));
    assert!(!worker.verify(b"again and agaiN", &phc).expect("wrong"));
    assert!(worker.verify(b"again and again", &phc).expect("second"));
    assert_eq!(worker.kept_kib(), 19_456, "one run's memory kept and reused");
}

#[test]
fn a_damaged_stored_hash_is_an_error_not_a_match_and_not_a_huge_allocation() {
    let mut worker = engine::Engine::new(HashParams::default()).expect("engine").worker();
    for damaged in [
        "",
        "not a hash",
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ",
        // 64 GiB of working memory, from a row someone wrote by hand.
        "$argon2id$v=19$m=67108864,t=2,p=1$c29tZXNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        // Another variant: argon2i hashes are not ours.
        "$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        assert!(matches!(worker.verify(b"whatever", damaged), Err(HashError::Argon2(_))), "{damaged:?}");
    }
}

#[tokio::test]
async fn the_right_password_verifies_and_a_wrong_one_does_not() {
    let hasher = PasswordHasher::new(HashParams::default()).expect("hasher");
    let phc = hasher.hash(&password("a perfectly fine passphrase")).await.expect("hash");
    let ticket = || hasher.admit().expect("room");
    assert!(hasher
        .verify(ticket(), &password("a perfectly fine passphrase"), Some(phc.clone()))
        .await
        .expect("verify"));
    assert!(!hasher
        .verify(ticket(), &password("a perfectly fine passphrasE"), Some(phc))
        .await
        .expect("verify"));
}

#[tokio::test]
async fn an_unknown_account_never_verifies_even_with_the_dummy_password() {
    let hasher = PasswordHasher::new(HashParams::default()).expect("hasher");
    let dummy = password("bulwark dummy password for unknown accounts");
    assert!(!hasher.verify(hasher.admit().expect("room"), &dummy, None).await.expect("verify"));
}

#[tokio::test]
async fn a_full_queue_refuses_at_once_and_runs_nothing() {
    let hasher = PasswordHasher::new(HashParams::default()).expect("hasher").with_queue_limit(1);
    let slots = hasher.inner.threads + 1;
    let tickets: Vec<Ticket> = (0..slots).map(|_| hasher.admit().expect("room")).collect();
    assert!(matches!(hasher.admit(), Err(HashError::Busy)));
    let before = hasher.runs();
    assert!(matches!(hasher.hash(&password("a perfectly fine passphrase")).await, Err(HashError::Busy)));
    assert_eq!(hasher.runs(), before, "a refused request costs no hash");
    drop(tickets);
    assert!(hasher.admit().is_ok(), "places come back when tickets are dropped");
}

#[tokio::test]
async fn trusted_work_keeps_places_that_a_flood_of_ordinary_work_cannot_take() {
    let hasher = PasswordHasher::new(HashParams::default()).expect("hasher").with_queue_limit(4);
    let mut held = Vec::new();
    while let Ok(ticket) = hasher.admit() {
        held.push(ticket);
    }
    let ordinary = held.len();
    assert_eq!(ordinary, hasher.inner.threads + 2, "half the waiting room");
    let trusted: Vec<Ticket> =
        (0..2).map(|_| hasher.admit_as(Priority::Trusted).expect("kept back")).collect();
    assert!(matches!(hasher.admit_as(Priority::Trusted), Err(HashError::Busy)), "then it is full");
    drop(trusted);
}

#[tokio::test]
async fn a_hash_with_the_current_parameters_is_not_outdated_and_a_weaker_one_is() {
    let hasher = PasswordHasher::new(HashParams::default()).expect("hasher");
    let phc = hasher.hash(&password("a perfectly fine passphrase")).await.expect("hash");
    assert!(!hasher.is_outdated(&phc));
    let stronger =
        PasswordHasher::new(HashParams { iterations: 3, ..HashParams::default() }).expect("hasher");
    assert!(stronger.is_outdated(&phc));
}

/// Occupies every hashing thread until the returned sender is dropped.
async fn occupy_every_thread(hasher: &PasswordHasher) -> std::sync::mpsc::Sender<()> {
    let (release, released) = std::sync::mpsc::channel::<()>();
    let released = Arc::new(std::sync::Mutex::new(released));
    let before = hasher.runs();
    for _ in 0..hasher.inner.threads {
        let released = Arc::clone(&released);
        let hasher = hasher.clone();
        tokio::spawn(async move {
            // Each blocker holds its thread until the sender is dropped.
            let _ = hasher.run_bounded(move || drop(released.lock().map(|r| r.recv()))).await;
        });
    }
    wait_until(|| hasher.runs() == before + hasher.inner.threads as u64).await;
    release
}

async fn wait_until(condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "waited 10 s in vain");
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_hash_keeps_its_place_until_it_finishes() {
    let hasher = PasswordHasher::new(HashParams::default()).expect("hasher");
    let secret = password("a perfectly fine passphrase");
    let before = hasher.runs();
    let started = {
        let hasher = hasher.clone();
        tokio::spawn(async move { hasher.hash(&secret).await })
    };
    // The hash has started; then its caller goes away (a client disconnect).
    wait_until(|| hasher.runs() == before + 1).await;
    started.abort();
    assert!(started.await.is_err_and(|e| e.is_cancelled()), "the caller was dropped");
    assert_eq!(hasher.inner.admitted.load(Ordering::SeqCst), 1, "its place is still taken");
    // Once it has finished, the place comes back.
    wait_until(|| hasher.inner.admitted.load(Ordering::SeqCst) == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_whose_caller_left_before_it_started_is_never_run() {
    let hasher = PasswordHasher::new(HashParams::default()).expect("hasher");
    let release = occupy_every_thread(&hasher).await;
    let runs = hasher.runs();
    // Queued behind the blockers, then abandoned before any thread is free.
    let secret = password("a perfectly fine passphrase");
    let waiting = tokio::time::timeout(std::time::Duration::from_millis(20), hasher.hash(&secret)).await;
    assert!(waiting.is_err(), "it could not run while every thread was taken");
    drop(release);
    wait_until(|| hasher.inner.admitted.load(Ordering::SeqCst) == 0).await;
    assert_eq!(hasher.runs(), runs, "nobody was waiting for its answer, so it was not computed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_waiting_hash_starts_as_soon_as_a_thread_is_free() {
    // Every thread busy, and more work waiting: when the blockers end, every waiting
    // job runs, without anything else nudging the queue.
    let hasher = PasswordHasher::new(HashParams::default()).expect("hasher");
    let release = occupy_every_thread(&hasher).await;
    let waiting: Vec<_> = (0..hasher.inner.threads * 2)
        .map(|n| {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.run_bounded(move || n * 2).await })
        })
        .collect();
    drop(release);
    for (n, job) in waiting.into_iter().enumerate() {
        assert_eq!(job.await.expect("task").expect("ran"), n * 2);
    }
}

#[tokio::test]
async fn a_panicking_job_fails_alone_and_the_pool_keeps_working() {
    let hasher = PasswordHasher::new(HashParams::default()).expect("hasher");
    for _ in 0..hasher.inner.threads + 1 {
        let outcome = hasher.run_bounded(|| -> u8 { panic!("deliberately") }).await;
        assert!(matches!(outcome, Err(HashError::Closed)));
    }
    let secret = password("a perfectly fine passphrase");
    let phc = hasher.hash(&secret).await.expect("the threads still hash");
    assert!(hasher.verify(hasher.admit().expect("room"), &secret, Some(phc)).await.expect("verify"));
}

#[tokio::test]
async fn a_damaged_stored_hash_is_answered_as_a_wrong_password() {
    let hasher = PasswordHasher::new(HashParams::default()).expect("hasher");
    let secret = password("a perfectly fine passphrase");
    for damaged in [
        "not a hash",
        "$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let before = hasher.runs();
        let verdict = hasher.verify(hasher.admit().expect("room"), &secret, Some(damaged.to_owned())).await;
        assert!(!verdict.expect("an answer, not an error"), "{damaged:?} matches nothing");
        assert_eq!(hasher.runs(), before + 1);
    }
}

#[test]
fn parameters_above_the_maximum_are_refused() {
    for costly in [
        HashParams { memory_kib: HashParams::MAXIMUM.memory_kib + 1, ..HashParams::default() },
        HashParams { iterations: 65, ..HashParams::default() },
        HashParams { parallelism: 17, ..HashParams::default() },
    ] {
        assert!(matches!(costly.checked(), Err(HashError::CostlyParams(_))), "{costly:?}");
    }
    assert!(HashParams::MAXIMUM.checked().is_ok());
}

#[test]
fn parameters_below_the_minimum_are_refused() {
    let weak = HashParams { memory_kib: 4096, ..HashParams::default() };
    assert!(matches!(PasswordHasher::new(weak), Err(HashError::WeakParams(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_place_is_free_again_by_the_time_its_answer_arrives() {
    let hasher = PasswordHasher::new(HashParams::default()).expect("hasher").with_queue_limit(1);
    let normal = hasher.inner.threads + 1;
    for round in 0..300 {
        // Every ordinary place but one is taken; the work in the last one answers, and
        // whoever got the answer finds that place free at once (a client's next request).
        let held: Vec<Ticket> = (0..normal - 1).map(|_| hasher.admit().expect("room")).collect();
        hasher.run_bounded(|| ()).await.expect("ran");
        assert!(hasher.admit().is_ok(), "round {round}: the place was still taken after its answer");
        drop(held);
    }
}
