//! The in-process backend: every class's counts in this gateway's memory — governor's GCRA,
//! the exact rolling window (`rolling.rs`) and the semaphores of concurrency classes
//! (`concurrent.rs`). The default, and the shared backend's fallback while Redis is
//! unreachable, then built with each capacity divided by the number of gateways assumed.

use std::{
    num::NonZeroU32,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};

use crate::providers::RateKind;

use super::{
    Class, Key, MARGIN,
    backend::{Backend, Held, Taken},
    concurrent::Concurrent,
    gcra,
    rolling::Rolling,
};

enum Engine {
    Gcra(DefaultKeyedRateLimiter<Key>),
    Rolling(Rolling<Key>),
    Concurrent(Concurrent<Key>),
    /// Daily quotas are counted in the database, whatever the backend.
    None,
}

/// One engine per class, in the classes' order.
pub struct Local {
    engines: Vec<Engine>,
}

impl Local {
    /// Engines for `classes`, each with its capacity divided by `share` (at least 1 left).
    pub fn new(classes: &[Class], share: u32) -> Self {
        let engines = classes
            .iter()
            .map(|class| {
                let capacity = (class.capacity / share.max(1)).max(1);
                match class.kind {
                    RateKind::Daily => Engine::None,
                    RateKind::Concurrent => Engine::Concurrent(Concurrent::new(capacity)),
                    RateKind::Rolling => Engine::Rolling(Rolling::new(class.window, capacity)),
                    // A call admitted here reaches the provider a little later, and not always
                    // in the order admitted: a window a margin longer keeps the provider's own
                    // count in bounds.
                    RateKind::Gcra => {
                        let (burst, period) = gcra(class.window + MARGIN, capacity);
                        let quota = Quota::with_period(period)
                            .expect("a positive period")
                            .allow_burst(burst);
                        Engine::Gcra(RateLimiter::keyed(quota))
                    }
                }
            })
            .collect();
        Self { engines }
    }
}

#[async_trait]
impl Backend for Local {
    async fn admit(&self, class: &Class, key: &Key, cost: u32) -> Result<Held, Option<Duration>> {
        match &self.engines[class.id] {
            Engine::None | Engine::Concurrent(_) => Ok(Held::Nothing),
            Engine::Rolling(r) => r.check(key, cost, Instant::now()).map(Held::Ticket),
            Engine::Gcra(g) => {
                let Some(n) = NonZeroU32::new(cost) else {
                    return Ok(Held::Nothing);
                };
                match g.check_key_n(key, n) {
                    Ok(Ok(())) => Ok(Held::Nothing),
                    Ok(Err(not_until)) => Err(Some(not_until.wait_time_from(g.clock().now()))),
                    Err(_) => Err(None),
                }
            }
        }
    }

    async fn take(&self, class: &Class, key: &Key, n: u32, max_wait: Duration) -> Taken {
        match &self.engines[class.id] {
            Engine::Concurrent(slots) => slots.take(key, n, max_wait).await,
            _ => Taken::Free(Held::Nothing),
        }
    }

    fn give_back(&self, class: &Class, key: &Key, held: Held) {
        match (&self.engines[class.id], held) {
            (Engine::Rolling(r), Held::Ticket(ticket)) => r.finish(key, ticket, Instant::now()),
            // Slots go back as their permit drops.
            (_, Held::Slots(permit)) => drop(permit),
            _ => {}
        }
    }

    fn retain_recent(&self) {
        let now = Instant::now();
        for engine in &self.engines {
            match engine {
                Engine::Gcra(g) => {
                    g.retain_recent();
                    g.shrink_to_fit();
                }
                Engine::Rolling(r) => r.retain_recent(now),
                Engine::Concurrent(c) => c.retain_recent(),
                Engine::None => {}
            }
        }
    }
}
