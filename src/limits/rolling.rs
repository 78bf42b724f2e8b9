//! A rolling-window limiter: admits a call when the weights of the calls admitted in the last
//! `window` plus its own stay within `capacity` — the rule a provider enforces when it counts a
//! rolling window (HubSpot's secondly limit, Gmail's quota units per second). GCRA cannot fill
//! such a window without overflowing it somewhere; this can, exactly.

use std::{
    collections::{HashMap, VecDeque},
    hash::Hash,
    sync::Mutex,
    time::{Duration, Instant},
};

pub struct Rolling<K> {
    window: Duration,
    capacity: u32,
    admitted: Mutex<HashMap<K, VecDeque<(Instant, u32)>>>,
}

impl<K: Hash + Eq + Clone> Rolling<K> {
    pub fn new(window: Duration, capacity: u32) -> Self {
        Self {
            window,
            capacity,
            admitted: Mutex::default(),
        }
    }

    /// Admits `cost` now, or says how long until it would fit (`None`: it never can).
    pub fn check(&self, key: &K, cost: u32, now: Instant) -> Result<(), Option<Duration>> {
        if cost > self.capacity {
            return Err(None);
        }
        let mut all = self.admitted.lock().expect("rolling window lock");
        let log = all.entry(key.clone()).or_default();
        while log
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) >= self.window)
        {
            log.pop_front();
        }
        let used: u32 = log.iter().map(|(_, w)| w).sum();
        if used + cost <= self.capacity {
            log.push_back((now, cost));
            return Ok(());
        }
        // The earliest moment enough of the window has rolled off.
        let mut freed = 0;
        for (at, weight) in log.iter() {
            freed += weight;
            if used - freed + cost <= self.capacity {
                return Err(Some(self.window.saturating_sub(now.duration_since(*at))));
            }
        }
        Err(Some(self.window))
    }

    /// Forgets keys with nothing in their window.
    pub fn retain_recent(&self, now: Instant) {
        let mut all = self.admitted.lock().expect("rolling window lock");
        all.retain(|_, log| {
            log.back()
                .is_some_and(|(at, _)| now.duration_since(*at) < self.window)
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
        // Offer a call every 50 ms for 5 s.
        for i in 0..100 {
            let now = start + Duration::from_millis(50 * i);
            if limiter.check(&"k", 1, now).is_ok() {
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
        assert!(limiter.check(&"u", 100, start).is_ok());
        assert!(
            limiter
                .check(&"u", 100, start + Duration::from_millis(200))
                .is_ok()
        );
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
}
