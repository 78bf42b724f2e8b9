//! Waiting lines: the calls that found no room in a class wait in a line per class, provider
//! account and cost, and only the call at the head of a line asks the backend again (after the
//! wait the backend named); the next call's turn comes when the head is admitted or gives up.
//! Without lines every waiting call would wake at the same moment — the moment the backend
//! named to all of them — and all but one would ask in vain: a burst of round trips to Redis
//! and of wake-ups at every place given back, paid in the latency of the calls in flight, which
//! a rolling window counts as lost capacity.
//!
//! Calls of different costs stand in different lines, so that a small call never waits behind a
//! large one for room it could use now (a rolling window's place, once taken, is held a whole
//! window: room left idle for a large call is lost). Turns are first come, first served
//! (tokio's mutex is fair).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::{Mutex as Turn, OwnedMutexGuard};

use super::Key;

/// A line: the class's place among every class, the account, the cost.
type Line = (usize, Key, u32);

#[derive(Default)]
pub struct Lines(Mutex<HashMap<Line, Arc<Turn<()>>>>);

/// A call's turn at the head of its line, until dropped.
pub struct Head<'a> {
    lines: &'a Lines,
    line: Line,
    turn: Option<OwnedMutexGuard<()>>,
}

impl Drop for Head<'_> {
    fn drop(&mut self) {
        drop(self.turn.take());
        self.lines.tidy(&self.line);
    }
}

impl Lines {
    /// Waits for the call's turn in `line` for at most `max_wait`; `None` when it did not come.
    pub async fn turn(&self, line: Line, max_wait: Duration) -> Option<Head<'_>> {
        let turn = self
            .0
            .lock()
            .expect("lines lock")
            .entry(line)
            .or_default()
            .clone();
        match tokio::time::timeout(max_wait, turn.lock_owned()).await {
            Ok(turn) => Some(Head {
                lines: self,
                line,
                turn: Some(turn),
            }),
            Err(_) => {
                self.tidy(&line);
                None
            }
        }
    }

    /// Forgets `line` when no call stands in it.
    fn tidy(&self, line: &Line) {
        let mut all = self.0.lock().expect("lines lock");
        if all
            .get(line)
            .is_some_and(|turn| Arc::strong_count(turn) == 1)
        {
            all.remove(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_head_at_a_time_in_order_and_lines_apart() {
        let lines = Lines::default();
        let key = (uuid::Uuid::nil(), uuid::Uuid::nil());
        let first = lines
            .turn((0, key, 5), Duration::from_secs(1))
            .await
            .unwrap();
        assert!(
            lines
                .turn((0, key, 5), Duration::from_millis(20))
                .await
                .is_none(),
            "the second waits for the head"
        );
        let other = lines.turn((0, key, 100), Duration::from_millis(20)).await;
        assert!(other.is_some(), "another cost stands in another line");
        drop(other);
        drop(first);
        assert!(
            lines
                .turn((0, key, 5), Duration::from_millis(20))
                .await
                .is_some()
        );
        assert!(
            lines.0.lock().unwrap().is_empty(),
            "empty lines are forgotten"
        );
    }
}
