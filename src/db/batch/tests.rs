//! The batcher's promises: what a statement may answer, and that nothing is stranded.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

use super::*;

/// A fetch that records each statement's keys and waits for `gate` before answering
/// (when `gate` is set), answering every key with its own value doubled.
fn recording(
    statements: Arc<Mutex<Vec<Vec<u32>>>>,
    gate: Option<Arc<Notify>>,
) -> impl Fn(Vec<u32>) -> Fetched<u32, u32> + Send + Sync + 'static {
    move |keys: Vec<u32>| {
        let statements = Arc::clone(&statements);
        let gate = gate.clone();
        Box::pin(async move {
            statements.lock().expect("lock").push(keys.clone());
            if let Some(gate) = gate {
                gate.notified().await;
            }
            Ok(keys.into_iter().filter(|k| *k != 0).map(|k| (k, k * 2)).collect())
        })
    }
}

/// Asks for `keys` one after another, each once the one before is queued, so the queue's
/// order is the order of `keys`.
async fn ask_in_order(
    batcher: &Batcher<u32, u32>,
    keys: &[u32],
) -> Vec<tokio::task::JoinHandle<Result<Option<u32>, BatchError>>> {
    let mut asked = Vec::new();
    for &key in keys {
        let before = batcher.inner.state.lock().expect("lock").queue.len();
        asked.push(tokio::spawn({
            let batcher = batcher.clone();
            async move { batcher.get(key).await }
        }));
        while batcher.inner.state.lock().expect("lock").queue.len() == before {
            tokio::task::yield_now().await;
        }
    }
    asked
}

#[tokio::test]
async fn alone_a_key_is_read_at_once_and_a_missing_row_is_none() {
    let statements = Arc::new(Mutex::new(Vec::new()));
    let batcher = Batcher::new(2, 64, recording(Arc::clone(&statements), None));
    assert_eq!(batcher.get(21).await.expect("read"), Some(42));
    assert_eq!(batcher.get(0).await.expect("read"), None);
    assert_eq!(*statements.lock().expect("lock"), vec![vec![21], vec![0]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_queued_during_a_read_join_the_next_statement_never_the_running_one() {
    let statements = Arc::new(Mutex::new(Vec::new()));
    let gate = Arc::new(Notify::new());
    let batcher = Batcher::new(1, 64, recording(Arc::clone(&statements), Some(Arc::clone(&gate))));
    // The first read starts and is held inside its statement.
    let first = tokio::spawn({
        let batcher = batcher.clone();
        async move { batcher.get(1).await }
    });
    while statements.lock().expect("lock").is_empty() {
        tokio::task::yield_now().await;
    }
    // Keys asked for while it runs: none may be answered by the statement that
    // started before they were asked for.
    let later = ask_in_order(&batcher, &(2..=9).collect::<Vec<u32>>()).await;
    assert_eq!(*statements.lock().expect("lock"), vec![vec![1]], "the running statement did not grow");
    gate.notify_one();
    assert_eq!(first.await.expect("task").expect("read"), Some(2));
    // The next statement takes all eight at once.
    while statements.lock().expect("lock").len() < 2 {
        tokio::task::yield_now().await;
    }
    gate.notify_one();
    for (key, task) in (2..=9).zip(later) {
        assert_eq!(task.await.expect("task").expect("read"), Some(key * 2));
    }
    assert_eq!(*statements.lock().expect("lock"), vec![vec![1], (2..=9).collect::<Vec<u32>>()]);
    assert_eq!(batcher.counts(), (2, 9));
}

/// The revocation case: a key asked for again while its own statement runs (the same
/// session's next request), after a write that statement may not have seen, is read
/// again, never answered from the statement that started before it was asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_asked_again_during_its_read_is_read_again_afterwards() {
    let version = Arc::new(AtomicUsize::new(1));
    let gate = Arc::new(Notify::new());
    let started = Arc::new(AtomicUsize::new(0));
    let batcher = Batcher::new(1, 64, {
        let (version, gate, started) = (Arc::clone(&version), Arc::clone(&gate), Arc::clone(&started));
        move |keys: Vec<u32>| {
            // What the statement sees is fixed when it starts, as a database snapshot is.
            let seen = version.load(Ordering::SeqCst);
            let (gate, started) = (Arc::clone(&gate), Arc::clone(&started));
            async move {
                started.fetch_add(1, Ordering::SeqCst);
                gate.notified().await;
                Ok(keys.into_iter().map(|k| (k, seen)).collect::<Vec<(u32, usize)>>())
            }
        }
    });
    let before = tokio::spawn({
        let batcher = batcher.clone();
        async move { batcher.get(7).await }
    });
    while started.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    // A write commits while that statement runs; then the same key is asked for.
    version.store(2, Ordering::SeqCst);
    let after = tokio::spawn({
        let batcher = batcher.clone();
        async move { batcher.get(7).await }
    });
    while batcher.inner.state.lock().expect("lock").queue.is_empty() {
        tokio::task::yield_now().await;
    }
    gate.notify_one();
    assert_eq!(before.await.expect("task").expect("read"), Some(1), "asked before the write");
    let read_again = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while started.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
    });
    assert!(read_again.await.is_ok(), "the key asked for after the write was never read again");
    gate.notify_one();
    assert_eq!(after.await.expect("task").expect("read"), Some(2), "asked after the write: sees it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_statement_fails_each_of_its_keys_and_the_next_one_works() {
    let calls = Arc::new(AtomicUsize::new(0));
    let batcher = Batcher::new(1, 64, {
        let calls = Arc::clone(&calls);
        move |keys: Vec<u32>| {
            let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                if first {
                    Err(sqlx::Error::RowNotFound)
                } else {
                    Ok(keys.into_iter().map(|k| (k, k)).collect())
                }
            }
        }
    });
    assert!(matches!(batcher.get(1).await, Err(error) if matches!(error.cause(), sqlx::Error::RowNotFound)));
    assert_eq!(batcher.get(2).await.expect("read"), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_that_panics_fails_its_keys_and_loses_no_lane() {
    let calls = Arc::new(AtomicUsize::new(0));
    // One lane: were it lost, nothing after the panics would ever be answered.
    let batcher = Batcher::new(1, 64, {
        let calls = Arc::clone(&calls);
        move |keys: Vec<u32>| {
            let panics = calls.fetch_add(1, Ordering::SeqCst) < 3;
            async move {
                assert!(!panics, "a deliberate panic inside a statement");
                Ok(keys.into_iter().map(|k| (k, k)).collect())
            }
        }
    });
    let soon = std::time::Duration::from_secs(5);
    for key in 0..3 {
        let answer = tokio::time::timeout(soon, batcher.get(key)).await;
        assert!(answer.expect("answered, the lane not lost").is_err(), "the panicking statement's key fails");
    }
    let answered = tokio::time::timeout(soon, batcher.get(9)).await;
    assert_eq!(answered.expect("the lane came back").expect("read"), Some(9));
    // The lane frees itself just after its last answer.
    let freed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while batcher.inner.state.lock().expect("lock").running != 0 {
            tokio::task::yield_now().await;
        }
    });
    assert!(freed.await.is_ok(), "the lane was never freed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_dropped_mid_read_does_not_strand_the_others() {
    let statements = Arc::new(Mutex::new(Vec::new()));
    let gate = Arc::new(Notify::new());
    let batcher = Batcher::new(1, 64, recording(Arc::clone(&statements), Some(Arc::clone(&gate))));
    // The leader's request is dropped while its statement runs.
    let leader = tokio::spawn({
        let batcher = batcher.clone();
        async move { batcher.get(1).await }
    });
    while statements.lock().expect("lock").is_empty() {
        tokio::task::yield_now().await;
    }
    let other = tokio::spawn({
        let batcher = batcher.clone();
        async move { batcher.get(5).await }
    });
    while batcher.inner.state.lock().expect("lock").queue.is_empty() {
        tokio::task::yield_now().await;
    }
    leader.abort();
    gate.notify_one();
    while statements.lock().expect("lock").len() < 2 {
        tokio::task::yield_now().await;
    }
    gate.notify_one();
    assert_eq!(other.await.expect("task").expect("read"), Some(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_reads_at_most_max_batch_keys_and_each_key_once() {
    let statements = Arc::new(Mutex::new(Vec::new()));
    let gate = Arc::new(Notify::new());
    let batcher = Batcher::new(1, 4, recording(Arc::clone(&statements), Some(Arc::clone(&gate))));
    let first = tokio::spawn({
        let batcher = batcher.clone();
        async move { batcher.get(100).await }
    });
    while statements.lock().expect("lock").is_empty() {
        tokio::task::yield_now().await;
    }
    // Six asks for three keys, queued while the first statement runs.
    let later = ask_in_order(&batcher, &[7, 7, 8, 8, 9, 9]).await;
    for _ in 0..3 {
        gate.notify_one();
        tokio::task::yield_now().await;
    }
    let mut answers = Vec::new();
    for task in later {
        // Keep the gate open until every statement has answered.
        gate.notify_one();
        answers.push(task.await.expect("task").expect("read"));
    }
    gate.notify_one();
    assert_eq!(first.await.expect("task").expect("read"), Some(200));
    assert_eq!(answers, vec![Some(14), Some(14), Some(16), Some(16), Some(18), Some(18)]);
    let statements = statements.lock().expect("lock").clone();
    assert_eq!(statements[0], vec![100]);
    assert_eq!(statements[1], vec![7, 8], "four asks, two keys, each read once");
    assert_eq!(statements[2], vec![9], "the rest in the next statement");
}
