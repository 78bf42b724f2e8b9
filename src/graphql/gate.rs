//! A gate that holds the lookups of one wave of resolvers until the wave has fully arrived, so
//! that a dataloader sees all of its keys at once.
//!
//! A dataloader batches the keys that arrive within its delay of the first one. The resolvers of
//! a long list start one after another as the executor polls them, and in a slow (debug or busy)
//! process that takes longer than any fixed delay: 50 contacts' `events` split into several
//! batches. Instead, each resolver passes the gate before it asks the loader; the gate opens once
//! no resolver has arrived for a few rounds of the scheduler (every resolver already started has
//! had its turn), and at least `MIN_WAIT` after the first. Everyone waiting then asks in the same
//! instant, and the loader's own delay gathers them into one batch.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::watch;

/// Scheduler rounds without a new arrival before the gate opens.
const QUIET_ROUNDS: u32 = 4;
/// The least time the gate stays shut after the first arrival (threads of a multi-threaded
/// runtime start resolvers in parallel).
const MIN_WAIT: Duration = Duration::from_millis(1);

pub struct Gate {
    arrived: AtomicU64,
    settling: AtomicBool,
    /// The number of waves let through so far.
    waves: watch::Sender<u64>,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            arrived: AtomicU64::new(0),
            settling: AtomicBool::new(false),
            waves: watch::Sender::new(0),
        }
    }
}

impl Gate {
    /// Arrives, and returns once the wave this arrival belongs to is let through.
    pub async fn pass(self: &Arc<Self>) {
        let mut waves = self.waves.subscribe();
        let wave = *waves.borrow_and_update();
        self.arrived.fetch_add(1, Ordering::SeqCst);
        if !self.settling.swap(true, Ordering::SeqCst) {
            let gate = self.clone();
            tokio::spawn(async move { gate.settle().await });
        }
        // The sender lives as long as the gate, which this call holds.
        let _ = waves.wait_for(|w| *w > wave).await;
    }

    /// Waits until arrivals stop, then lets the wave through.
    async fn settle(&self) {
        let started = Instant::now();
        let mut seen = self.arrived.load(Ordering::SeqCst);
        let mut quiet = 0;
        loop {
            tokio::task::yield_now().await;
            let now = self.arrived.load(Ordering::SeqCst);
            if now != seen {
                (seen, quiet) = (now, 0);
                continue;
            }
            quiet += 1;
            if quiet < QUIET_ROUNDS {
                continue;
            }
            match MIN_WAIT.checked_sub(started.elapsed()) {
                Some(rest) if !rest.is_zero() => {
                    tokio::time::sleep(rest).await;
                    quiet = 0;
                }
                _ => break,
            }
        }
        self.settling.store(false, Ordering::SeqCst);
        self.waves.send_modify(|w| *w += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn arrivals_of_one_wave_pass_together() {
        let gate = Arc::new(Gate::default());
        let passed = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for i in 0..50u64 {
            let (gate, passed) = (gate.clone(), passed.clone());
            tasks.push(tokio::spawn(async move {
                // Arrivals spread over several scheduler rounds.
                for _ in 0..(i % 3) {
                    tokio::task::yield_now().await;
                }
                gate.pass().await;
                passed.fetch_add(1, Ordering::SeqCst)
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(passed.load(Ordering::SeqCst), 50);
        assert_eq!(*gate.waves.borrow(), 1, "one wave");
    }
}
