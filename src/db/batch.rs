//! Point reads that coalesce: requests that ask for a row while earlier reads are in
//! flight are answered together, by one statement, when a read finishes.
//!
//! The request resolver reads one row per signed-in request. Alone, each read costs a
//! round trip (to PostgreSQL, or to the SQLite connection's worker thread) and a wake-up
//! on each side of it; under load, most of a signed-in page's cost beyond an anonymous one.
//! Here at most `lanes` reads run at once; whatever arrives meanwhile waits in a queue, and
//! the next read takes the whole queue (up to `max_batch` keys) in one statement.
//!
//! What a read sees is unchanged by this: a key joins only a statement that starts after
//! it was queued, never one already running. So a request that arrives after a write has
//! committed (a revocation on any instance) is answered by a statement that started after
//! that commit, exactly as its own read would have been. At low load nothing waits: a key
//! that finds a lane free is read at once, alone.

use std::{
    collections::HashMap,
    future::Future,
    hash::Hash,
    pin::Pin,
    sync::{Arc, Mutex},
};

use tokio::sync::oneshot;

/// A batched read failed: every key in that statement gets this.
#[derive(Debug, Clone, thiserror::Error)]
#[error("a batched read failed: {0}")]
pub struct BatchError(Arc<sqlx::Error>);

impl BatchError {
    /// The database's error.
    pub fn cause(&self) -> &sqlx::Error {
        &self.0
    }
}

type Fetched<K, V> = Pin<Box<dyn Future<Output = sqlx::Result<Vec<(K, V)>>> + Send>>;
type Fetch<K, V> = Arc<dyn Fn(Vec<K>) -> Fetched<K, V> + Send + Sync>;
type Answer<V> = oneshot::Sender<Result<Option<V>, BatchError>>;

/// See the module documentation. Cheap to clone: the clones share the queue.
pub struct Batcher<K, V> {
    inner: Arc<Inner<K, V>>,
}

impl<K, V> Clone for Batcher<K, V> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

struct Inner<K, V> {
    fetch: Fetch<K, V>,
    lanes: usize,
    max_batch: usize,
    state: Mutex<State<K, V>>,
}

struct State<K, V> {
    queue: Vec<(K, Answer<V>)>,
    /// Reads (lanes) running now.
    running: usize,
    /// Statements run so far, and keys they answered, for tests and benchmarks.
    statements: u64,
    keys: u64,
}

impl<K, V> Batcher<K, V>
where
    K: Clone + Eq + Hash + Send + 'static,
    V: Clone + Send + 'static,
{
    /// `fetch` reads the rows of the keys it is given (each key at most once; keys without
    /// a row are left out of its answer). At most `lanes` statements run at once, each
    /// for at most `max_batch` keys.
    pub fn new<F, Fut>(lanes: usize, max_batch: usize, fetch: F) -> Self
    where
        F: Fn(Vec<K>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = sqlx::Result<Vec<(K, V)>>> + Send + 'static,
    {
        let fetch: Fetch<K, V> = Arc::new(move |keys| Box::pin(fetch(keys)));
        Self {
            inner: Arc::new(Inner {
                fetch,
                lanes: lanes.max(1),
                max_batch: max_batch.max(1),
                state: Mutex::new(State { queue: Vec::new(), running: 0, statements: 0, keys: 0 }),
            }),
        }
    }

    /// The row of `key`, read by a statement that started after this call.
    pub async fn get(&self, key: K) -> Result<Option<V>, BatchError> {
        let (answer, answered) = oneshot::channel();
        let lead = {
            let mut state = self.inner.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            state.queue.push((key, answer));
            let free = state.running < self.inner.lanes;
            if free {
                state.running += 1;
            }
            free
        };
        if lead {
            // The lane runs as a task of its own: a request dropped mid-read (its client went
            // away) must not strand the keys of the others in its statement.
            tokio::spawn(Arc::clone(&self.inner).run_lane());
        }
        match answered.await {
            Ok(answer) => answer,
            // The lane's task ended without answering (the runtime is shutting down).
            Err(_) => Err(BatchError(Arc::new(sqlx::Error::PoolClosed))),
        }
    }

    /// Statements run so far, and the keys they answered.
    pub fn counts(&self) -> (u64, u64) {
        let state = self.inner.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        (state.statements, state.keys)
    }
}

impl<K, V> Inner<K, V>
where
    K: Clone + Eq + Hash + Send + 'static,
    V: Clone + Send + 'static,
{
    /// Takes what is queued, reads it in one statement, answers; again while keys are
    /// waiting; then frees the lane.
    async fn run_lane(self: Arc<Self>) {
        // Frees the lane however the task ends: were a panic (or the runtime dropping the
        // task) to skip that, the lane would be lost for good, and with every lane lost no
        // signed-in request would ever be answered again.
        let mut guard = LaneGuard { inner: Arc::clone(&self), freed: false };
        loop {
            let batch = {
                let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                // Keys whose requests went away are not read.
                state.queue.retain(|(_, answer)| !answer.is_closed());
                if state.queue.is_empty() {
                    state.running -= 1;
                    guard.freed = true;
                    return;
                }
                let take = state.queue.len().min(self.max_batch);
                let batch: Vec<(K, Answer<V>)> = state.queue.drain(..take).collect();
                state.statements += 1;
                state.keys += batch.len() as u64;
                batch
            };
            let mut keys: Vec<K> = Vec::with_capacity(batch.len());
            for (key, _) in &batch {
                if !keys.contains(key) {
                    keys.push(key.clone());
                }
            }
            match (self.fetch)(keys).await {
                Ok(rows) => {
                    let rows: HashMap<K, V> = rows.into_iter().collect();
                    for (key, answer) in batch {
                        let _ = answer.send(Ok(rows.get(&key).cloned()));
                    }
                }
                Err(error) => {
                    let error = BatchError(Arc::new(error));
                    for (_, answer) in batch {
                        let _ = answer.send(Err(error.clone()));
                    }
                }
            }
        }
    }
}

/// See [`Inner::run_lane`]: on an abnormal end, frees the lane and, if keys are waiting
/// and a runtime is still there, starts a lane for them.
struct LaneGuard<K, V>
where
    K: Clone + Eq + Hash + Send + 'static,
    V: Clone + Send + 'static,
{
    inner: Arc<Inner<K, V>>,
    freed: bool,
}

impl<K, V> Drop for LaneGuard<K, V>
where
    K: Clone + Eq + Hash + Send + 'static,
    V: Clone + Send + 'static,
{
    fn drop(&mut self) {
        if self.freed {
            return;
        }
        let restart = {
            let mut state = self.inner.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            state.queue.retain(|(_, answer)| !answer.is_closed());
            if state.queue.is_empty() {
                state.running -= 1;
                false
            } else {
                // The lane goes on in a new task.
                true
            }
        };
        if restart {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn(Arc::clone(&self.inner).run_lane())),
                Err(_) => {
                    // No runtime: nothing can read any more; the waiting requests end
                    // with an error as their answers are dropped.
                    let mut state = self.inner.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    state.queue.clear();
                    state.running -= 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
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
        let later: Vec<_> = (2..=9)
            .map(|key| {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.get(key).await })
            })
            .collect();
        let queued = || batcher.inner.state.lock().expect("lock").queue.len();
        while queued() < 8 {
            tokio::task::yield_now().await;
        }
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
        assert!(
            matches!(batcher.get(1).await, Err(error) if matches!(error.cause(), sqlx::Error::RowNotFound))
        );
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
            assert!(
                answer.expect("answered, the lane not lost").is_err(),
                "the panicking statement's key fails"
            );
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
        let later: Vec<_> = [7, 7, 8, 8, 9, 9]
            .into_iter()
            .map(|key| {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.get(key).await })
            })
            .collect();
        while batcher.inner.state.lock().expect("lock").queue.len() < 6 {
            tokio::task::yield_now().await;
        }
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
}
