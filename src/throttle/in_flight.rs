//! How many password verifications are running (or queued) right now per IP bucket and per
//! account or device, in this process. The database budget decides how many attempts a
//! key gets in all; this decides how many may be on the hashing pool at once, so one
//! account or one address cannot fill the queue that everybody else needs.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

#[derive(Clone, Default)]
pub struct InFlight(Arc<Mutex<HashMap<String, u32>>>);

/// One slot for `key`; given back when dropped (after the verification has finished, even
/// if the request that started it is gone: the hasher keeps it alive until then).
pub struct InFlightGuard {
    map: InFlight,
    key: String,
}

impl InFlight {
    /// A slot for `key` if fewer than `limit` are taken.
    pub fn enter(&self, key: &str, limit: u32) -> Option<InFlightGuard> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let taken = map.entry(key.to_owned()).or_insert(0);
        if *taken >= limit {
            return None;
        }
        *taken += 1;
        Some(InFlightGuard { map: self.clone(), key: key.to_owned() })
    }

    #[cfg(test)]
    fn taken(&self, key: &str) -> u32 {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).get(key).copied().unwrap_or(0)
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut map = self.map.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(taken) = map.get_mut(&self.key) {
            *taken = taken.saturating_sub(1);
            if *taken == 0 {
                map.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_has_at_most_its_limit_in_flight_and_slots_come_back() {
        let in_flight = InFlight::default();
        let a = in_flight.enter("k", 2).expect("first");
        let _b = in_flight.enter("k", 2).expect("second");
        assert!(in_flight.enter("k", 2).is_none());
        assert!(in_flight.enter("other", 2).is_some(), "keys are independent");
        drop(a);
        assert_eq!(in_flight.taken("k"), 1);
        assert!(in_flight.enter("k", 2).is_some());
    }
}
