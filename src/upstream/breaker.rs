//! A circuit breaker per provider connection: after `threshold` calls in a row that found the
//! provider unavailable, calls fail at once (PROVIDER_UNAVAILABLE, with the time left) for a
//! cool-down, without reaching the provider; then one call probes, and its outcome closes the
//! breaker or opens it again. The gauge `nexus_breaker_open{provider}` counts the connections
//! whose breaker is open or probing.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use uuid::Uuid;

use crate::providers::Provider;

type Key = (Provider, Uuid, Uuid);

#[derive(Debug, Clone, Copy)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One call is probing; the others wait for its outcome as if open (a probe that never
    /// reports, its request dropped, gives way to another after a cool-down).
    Probing {
        until: Instant,
    },
}

pub struct Breakers {
    threshold: u32,
    cooldown: Duration,
    states: Mutex<HashMap<Key, State>>,
}

impl Breakers {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            states: Mutex::default(),
        }
    }

    /// Lets a call through, or says how long the breaker stays open.
    pub fn admit(&self, key: Key, now: Instant) -> Result<(), Duration> {
        let mut states = self.states.lock().expect("breaker lock");
        let state = states.entry(key).or_insert(State::Closed { failures: 0 });
        match *state {
            State::Closed { .. } => Ok(()),
            State::Open { until } | State::Probing { until } if now < until => Err(until - now),
            State::Open { .. } | State::Probing { .. } => {
                *state = State::Probing {
                    until: now + self.cooldown,
                };
                Ok(())
            }
        }
    }

    /// Records a call's outcome: `unavailable` when the provider could not serve it.
    pub fn record(&self, key: Key, unavailable: bool, now: Instant) {
        let mut states = self.states.lock().expect("breaker lock");
        let state = states.entry(key).or_insert(State::Closed { failures: 0 });
        let was_closed = matches!(state, State::Closed { .. });
        *state = match (*state, unavailable) {
            (_, false) => State::Closed { failures: 0 },
            (State::Closed { failures }, true) if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            (_, true) => {
                metrics::counter!("nexus_breaker_opened_total", "provider" => key.0.slug())
                    .increment(1);
                State::Open {
                    until: now + self.cooldown,
                }
            }
        };
        let open = metrics::gauge!("nexus_breaker_open", "provider" => key.0.slug());
        match (was_closed, matches!(state, State::Closed { .. })) {
            (true, false) => open.increment(1.0),
            (false, true) => open.decrement(1.0),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_failures_in_a_row_then_probes_once() {
        let breakers = Breakers::new(3, Duration::from_secs(10));
        let key = (Provider::Salesforce, Uuid::nil(), Uuid::nil());
        let t = Instant::now();
        for _ in 0..2 {
            assert!(breakers.admit(key, t).is_ok());
            breakers.record(key, true, t);
        }
        breakers.record(key, false, t);
        assert!(breakers.admit(key, t).is_ok(), "a success resets the count");
        for _ in 0..3 {
            breakers.record(key, true, t);
        }
        assert_eq!(
            breakers.admit(key, t + Duration::from_secs(4)),
            Err(Duration::from_secs(6))
        );
        let later = t + Duration::from_secs(11);
        assert!(breakers.admit(key, later).is_ok(), "one probe");
        assert!(
            breakers.admit(key, later).is_err(),
            "the others wait for it"
        );
        breakers.record(key, true, later);
        assert!(
            breakers.admit(key, later).is_err(),
            "a failed probe opens it again"
        );
        let after = later + Duration::from_secs(11);
        assert!(breakers.admit(key, after).is_ok());
        breakers.record(key, false, after);
        assert!(breakers.admit(key, after).is_ok(), "a good probe closes it");
    }
}
