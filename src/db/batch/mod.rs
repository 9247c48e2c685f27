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
mod tests;
