//! A rolling-window limiter: admits a call when the weights of the calls in the last `window`
//! plus its own stay within `capacity` — the rule a provider enforces when it counts a rolling
//! window (HubSpot's secondly limit, Gmail's quota units per second, Slack's tiers per minute).
//! GCRA cannot fill such a window without overflowing it somewhere; this can, exactly.
//!
//! The provider counts a call when it arrives, which is some time after we admit it and before
//! its answer comes back. So a call holds its place from its admission until its answer
//! ([`Rolling::finish`]) and then for a whole window more: the provider's count of it has surely
//! ended by then, whatever the network did in between, and no fixed margin is needed — a call's
//! place is held only as much longer than the window as the call itself took.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// A call's place in its key's window.
#[derive(Debug)]
struct Place {
    id: u64,
    cost: u32,
    /// When its answer came back; `None` while it is in flight.
    finished: Option<Instant>,
}

pub struct Rolling<K> {
    window: Duration,
    capacity: u32,
    places: Mutex<HashMap<K, Vec<Place>>>,
    next: AtomicU64,
}

/// An admitted call, to hand back to [`Rolling::finish`] when its answer comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

impl<K: Hash + Eq + Clone> Rolling<K> {
    pub fn new(window: Duration, capacity: u32) -> Self {
        Self {
            window,
            capacity,
            places: Mutex::default(),
            next: AtomicU64::new(0),
        }
    }

    /// Admits `cost` now, or says how long until it could fit at the soonest (`None`: never).
    pub fn check(&self, key: &K, cost: u32, now: Instant) -> Result<Ticket, Option<Duration>> {
        if cost > self.capacity {
            return Err(None);
        }
        let window = self.window;
        let mut all = self.places.lock().expect("rolling window lock");
        let places = all.entry(key.clone()).or_default();
        places.retain(|p| p.finished.is_none_or(|at| now.duration_since(at) < window));
        let used: u32 = places.iter().map(|p| p.cost).sum();
        if used + cost <= self.capacity {
            let id = self.next.fetch_add(1, Ordering::Relaxed);
            places.push(Place {
                id,
                cost,
                finished: None,
            });
            return Ok(Ticket(id));
        }
        // When enough places will have been given up: a finished call's a window after its
        // answer; a call in flight's a window after now at the soonest.
        let mut frees: Vec<(Duration, u32)> = places
            .iter()
            .map(|p| {
                let left = p
                    .finished
                    .map_or(window, |at| window.saturating_sub(now.duration_since(at)));
                (left, p.cost)
            })
            .collect();
        frees.sort_unstable();
        let mut freed = 0;
        for (left, cost_freed) in frees {
            freed += cost_freed;
            if used - freed + cost <= self.capacity {
                return Err(Some(left));
            }
        }
        Err(Some(window))
    }

    /// The call of `ticket` has its answer (or has given up) at `now`: its place is held for
    /// one window more.
    pub fn finish(&self, key: &K, ticket: Ticket, now: Instant) {
        let mut all = self.places.lock().expect("rolling window lock");
        if let Some(place) = all
            .get_mut(key)
            .and_then(|places| places.iter_mut().find(|p| p.id == ticket.0))
        {
            place.finished = Some(now);
        }
    }

    /// Forgets keys with nothing in their window.
    pub fn retain_recent(&self, now: Instant) {
        let window = self.window;
        let mut all = self.places.lock().expect("rolling window lock");
        all.retain(|_, places| {
            places
                .iter()
                .any(|p| p.finished.is_none_or(|at| now.duration_since(at) < window))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_window_ever_holds_more_than_the_capacity() {
        let limiter = Rolling::new(Duration::from_secs(1), 4);
        let start = Instant::now();
        let mut admitted = Vec::new();
        // Offer a call every 50 ms for 5 s; each answers at once.
        for i in 0..100 {
            let now = start + Duration::from_millis(50 * i);
            if let Ok(ticket) = limiter.check(&"k", 1, now) {
                limiter.finish(&"k", ticket, now);
                admitted.push(now);
            }
        }
        for (i, at) in admitted.iter().enumerate() {
            let within = admitted[i..]
                .iter()
                .take_while(|t| t.duration_since(*at) < Duration::from_secs(1))
                .count();
            assert!(within <= 4, "{within} calls in one second");
        }
        assert_eq!(
            admitted.len(),
            20,
            "4 a second for 5 s: the whole allowance"
        );
    }

    #[test]
    fn weights_count_and_the_wait_is_exact() {
        let limiter = Rolling::new(Duration::from_secs(1), 250);
        let start = Instant::now();
        let first = limiter.check(&"u", 100, start).unwrap();
        limiter.finish(&"u", first, start);
        let at = start + Duration::from_millis(200);
        let second = limiter.check(&"u", 100, at).unwrap();
        limiter.finish(&"u", second, at);
        let wait = limiter
            .check(&"u", 100, start + Duration::from_millis(300))
            .unwrap_err();
        assert_eq!(
            wait,
            Some(Duration::from_millis(700)),
            "when the first send rolls off"
        );
        assert!(
            limiter.check(&"other", 250, start).is_ok(),
            "keys are apart"
        );
        assert_eq!(limiter.check(&"u", 251, start), Err(None));
    }

    #[test]
    fn a_call_holds_its_place_until_a_window_after_its_answer() {
        let limiter = Rolling::new(Duration::from_secs(1), 1);
        let start = Instant::now();
        let ticket = limiter.check(&"k", 1, start).unwrap();
        // In flight for 3 s: however late it reached the provider, it is still counted there.
        let later = start + Duration::from_secs(3);
        assert_eq!(
            limiter.check(&"k", 1, later),
            Err(Some(Duration::from_secs(1))),
            "at least a window from now"
        );
        limiter.finish(&"k", ticket, later);
        let almost = later + Duration::from_millis(999);
        assert_eq!(
            limiter.check(&"k", 1, almost),
            Err(Some(Duration::from_millis(1)))
        );
        assert!(
            limiter
                .check(&"k", 1, later + Duration::from_secs(1))
                .is_ok()
        );
    }
}
