//! Where a rate class keeps its counts: the one seam between the classes (what a call costs,
//! which classes count it, how long it may wait) and the engines that count. Two backends
//! implement it: [`super::local::Local`], in this process (the default), and
//! [`super::shared::Redis`], in a Redis every gateway shares, which falls back to a local share
//! while Redis is unreachable.

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::OwnedSemaphorePermit;

use super::{Class, Key, rolling::Ticket};

/// What an admitted call holds until its answer is in, to give back then.
pub enum Held {
    /// Nothing (a GCRA cell is spent once admitted).
    Nothing,
    /// A place in a local rolling window.
    Ticket(Ticket),
    /// Local slots of a concurrency class.
    Slots(OwnedSemaphorePermit),
    /// A place or slots in Redis: the key and the holder's id.
    Shared { key: String, id: String, cost: u32 },
}

/// How taking slots of a concurrency class went.
pub enum Taken {
    /// At once.
    Free(Held),
    /// After waiting for others to finish.
    Waited(Held),
    /// Not within the wait allowed.
    TimedOut,
}

#[async_trait]
pub trait Backend: Send + Sync {
    /// Admits `cost` of a window class (rolling or GCRA) for `key` now, with what the call
    /// holds, or says how long until it could fit (`None`: never).
    async fn admit(&self, class: &Class, key: &Key, cost: u32) -> Result<Held, Option<Duration>>;

    /// Takes `n` slots of a concurrency class for `key`, waiting at most `max_wait`.
    async fn take(&self, class: &Class, key: &Key, n: u32, max_wait: Duration) -> Taken;

    /// Gives back what an admitted call held, now that its answer is in (or it gave up).
    fn give_back(&self, class: &Class, key: &Key, held: Held);

    /// Forgets connections that have been quiet for a window.
    fn retain_recent(&self);
}
