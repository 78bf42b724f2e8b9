//! Shutdown: one signal that every background task of the gateway watches, and a record of those
//! tasks to wait on.
//!
//! Besides answering requests, the gateway runs work of its own: the sync poller, the keepers of
//! provider registrations (Graph subscriptions, Google watches), the change relay, retention,
//! and early sync passes after webhooks. Each starts through [`Shutdown::spawn`], which records
//! it, and each watches [`Shutdown::cancelled`] where it waits — for a timer tick, a
//! notification, a nudge's delay — so it ends between two units of work (a sync page, a keeper
//! pass, a trim), never inside one and never inside a transaction. Work that only runs once and
//! briefly (the pass after a connect) just runs to its end.
//!
//! `Application::run_until_stopped` stops in order: the HTTP server drains first (no request
//! then starts new work), then [`Shutdown::stop`] cancels the token and waits for the recorded
//! tasks, within what is left of the grace period, and only then is the database closed. A task
//! still running at the deadline is dropped with the runtime; an open transaction then rolls
//! back, and every loop resumes from what it last stored.
//!
//! Answers that stream until the client leaves (GraphQL over SSE) are HTTP requests the drain
//! would wait on: they watch [`Shutdown::draining`], which `run_until_stopped` fires when the
//! signal comes, before the drain.
//!
//! A clone is the same signal and the same record: hand one to each part that starts tasks.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
};

use tokio::time::Instant;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::Instrument;

/// The shutdown signal and the tasks that watch it.
#[derive(Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    /// Cancelled when the signal comes, before the HTTP server drains.
    draining: CancellationToken,
    tracker: TaskTracker,
    /// How many tasks of each name run.
    running: Arc<Mutex<HashMap<&'static str, usize>>>,
}

/// Counts a task under its name while it lives.
struct Running {
    name: &'static str,
    running: Arc<Mutex<HashMap<&'static str, usize>>>,
}

impl Running {
    fn new(name: &'static str, running: &Arc<Mutex<HashMap<&'static str, usize>>>) -> Self {
        *running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(name)
            .or_default() += 1;
        Self {
            name,
            running: running.clone(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(n) = running.get_mut(self.name) {
            *n -= 1;
            if *n == 0 {
                running.remove(self.name);
            }
        }
    }
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `task` in the background under `name` (its log span, and what [`Shutdown::running`]
    /// counts). The task is recorded, so `stop` waits for it; it should end once
    /// [`Shutdown::cancelled`] resolves. Once stopping, nothing new starts.
    pub fn spawn<F>(&self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if self.is_stopping() {
            tracing::debug!(task = name, "not started: shutting down");
            return;
        }
        // Counted from here, not from the task's first poll: a task that spawns another before
        // it ends leaves no moment where neither counts.
        let running = Running::new(name, &self.running);
        self.tracker.spawn(
            async move {
                let _running = running;
                task.await;
                tracing::debug!("ended");
            }
            .instrument(tracing::debug_span!("background", task = name)),
        );
    }

    /// Resolves once shutdown has begun; loops `select!` on it where they wait.
    pub async fn cancelled(&self) {
        self.token.cancelled().await;
    }

    /// Tells the answers that never end on their own (event streams) that the server is about
    /// to drain: they end now, so that the drain does not wait on them for the whole grace
    /// period. `stop` implies it.
    pub fn drain(&self) {
        self.draining.cancel();
    }

    /// Resolves once the server drains (`drain`) or shutdown has begun.
    pub async fn draining(&self) {
        tokio::select! {
            () = self.draining.cancelled() => {}
            () = self.token.cancelled() => {}
        }
    }

    /// Whether shutdown has begun; loops check it between units of work.
    pub fn is_stopping(&self) -> bool {
        self.token.is_cancelled()
    }

    /// How many recorded tasks named `name` have not ended yet.
    pub fn running(&self, name: &str) -> usize {
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(name)
            .copied()
            .unwrap_or(0)
    }

    /// How many recorded tasks have not ended yet, whatever their name.
    pub fn len(&self) -> usize {
        self.tracker.len()
    }

    /// Whether every recorded task has ended.
    pub fn is_empty(&self) -> bool {
        self.tracker.is_empty()
    }

    /// Signals shutdown and waits until every recorded task has ended, or until `deadline`;
    /// `true` when they all ended.
    pub async fn stop(&self, deadline: Instant) -> bool {
        self.token.cancel();
        self.tracker.close();
        tokio::time::timeout_at(deadline, self.tracker.wait())
            .await
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn stop_waits_for_tasks_that_watch_the_signal() {
        let shutdown = Shutdown::new();
        let watching = shutdown.clone();
        shutdown.spawn("loop", async move { watching.cancelled().await });
        assert_eq!((shutdown.len(), shutdown.running("loop")), (1, 1));
        let deadline = Instant::now() + Duration::from_secs(5);
        assert!(shutdown.stop(deadline).await, "the loop ended");
        assert!(shutdown.is_empty());
        assert_eq!(shutdown.running("loop"), 0);
        shutdown.spawn("late", async {});
        assert!(shutdown.is_empty(), "nothing starts once stopping");
    }

    #[tokio::test]
    async fn stop_gives_up_at_the_deadline_on_a_task_that_ignores_the_signal() {
        let shutdown = Shutdown::new();
        shutdown.spawn("deaf", std::future::pending());
        let deadline = Instant::now() + Duration::from_millis(20);
        assert!(!shutdown.stop(deadline).await);
        assert_eq!(shutdown.running("deaf"), 1);
    }
}
