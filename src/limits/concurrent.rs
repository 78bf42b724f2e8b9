//! A concurrency class: at most `capacity` calls in flight per key (Outlook's four requests per
//! mailbox at once). A call takes its slots before it is sent and gives them back when its
//! answer is in; one that finds none free waits for one, in turn (tokio's semaphore is fair).

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::Semaphore;

use super::backend::{Held, Taken};

pub struct Concurrent<K> {
    capacity: u32,
    slots: Mutex<HashMap<K, Arc<Semaphore>>>,
}

impl<K: Hash + Eq + Clone> Concurrent<K> {
    pub fn new(capacity: u32) -> Self {
        Self {
            capacity: capacity.max(1),
            slots: Mutex::default(),
        }
    }

    /// Takes `n` slots of `key` (at most the capacity: a batch that could use more runs on all
    /// of them), waiting at most `max_wait`.
    pub async fn take(&self, key: &K, n: u32, max_wait: Duration) -> Taken {
        let n = n.clamp(1, self.capacity);
        let semaphore = self
            .slots
            .lock()
            .expect("concurrency lock")
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(self.capacity as usize)))
            .clone();
        if let Ok(permit) = semaphore.clone().try_acquire_many_owned(n) {
            return Taken::Free(Held::Slots(permit));
        }
        match tokio::time::timeout(max_wait, semaphore.acquire_many_owned(n)).await {
            Ok(Ok(permit)) => Taken::Waited(Held::Slots(permit)),
            // (The semaphore is never closed.)
            Ok(Err(_)) | Err(_) => Taken::TimedOut,
        }
    }

    /// Forgets keys with nothing in flight and nobody waiting.
    pub fn retain_recent(&self) {
        let capacity = self.capacity as usize;
        self.slots
            .lock()
            .expect("concurrency lock")
            .retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() < capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_more_than_the_capacity_in_flight_per_key() {
        let limiter = Concurrent::new(2);
        let wait = Duration::from_millis(20);
        let Taken::Free(a) = limiter.take(&"m", 1, wait).await else {
            panic!("free")
        };
        let Taken::Free(_b) = limiter.take(&"m", 1, wait).await else {
            panic!("free")
        };
        assert!(matches!(limiter.take(&"m", 1, wait).await, Taken::TimedOut));
        assert!(
            matches!(limiter.take(&"other", 1, wait).await, Taken::Free(_)),
            "keys are apart"
        );
        let waiting = limiter.take(&"m", 1, Duration::from_secs(5));
        drop(a);
        assert!(matches!(waiting.await, Taken::Free(_) | Taken::Waited(_)));
        assert!(
            matches!(limiter.take(&"batch", 20, wait).await, Taken::Free(_)),
            "a batch takes the whole capacity, not more"
        );
    }
}
