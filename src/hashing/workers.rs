//! The hashing threads: one per core, each with its own working memory, taking jobs from
//! one queue in order of arrival.
//!
//! Dedicated threads rather than the async runtime's blocking pool: when a hash ends, its
//! thread takes the next waiting job at once, without a round trip through the async
//! runtime (waking the waiting request's task, which asks for a blocking thread, which
//! then starts). Under a burst of sign-ins the cores go from one hash to the next without
//! waiting for the runtime's workers, which are busy with the requests themselves.

use std::{
    panic::AssertUnwindSafe,
    sync::{mpsc, Arc, Mutex},
};

use super::engine::{Engine, Worker};

/// Work for a hashing thread, given that thread's worker.
pub(super) type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// Starts `threads` hashing threads and returns the queue that feeds them. The threads end
/// when every sender has been dropped and the queue is empty.
pub(super) fn start(engine: Engine, threads: usize) -> std::io::Result<mpsc::Sender<Job>> {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    for number in 0..threads.max(1) {
        let receiver = Arc::clone(&receiver);
        let mut worker = engine.worker();
        std::thread::Builder::new().name(format!("bulwark-hash-{number}")).spawn(move || loop {
            // The lock is held only while waiting for a job, never while running one.
            let next = match receiver.lock() {
                Ok(receiver) => receiver.recv(),
                Err(_) => return,
            };
            let Ok(job) = next else { return };
            // A panicking job ends itself (its caller sees the pool's error), not the thread.
            if std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut worker))).is_err() {
                worker = engine.worker();
            }
        })?;
    }
    Ok(sender)
}
