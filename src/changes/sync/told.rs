//! The sync's lifecycle events: what a pass over a connection tells the change log when it ends
//! (`sync.completed`, `sync.failed`), bounded so that a poller passing every minute over an
//! idle or broken connection does not fill the log with news of nothing:
//!
//! - `sync.failed` when a connection's passes start failing, not again while they keep failing;
//! - `sync.completed` when a connection's first passes end (`"first": true`), when a pass ends
//!   after failed ones, and when a pass appended changes — that last at most once a minute
//!   ([`COMPLETED_EVERY`]) per connection.
//!
//! What was told last is kept per process: a restarted gateway tells a failing connection's
//! failure once more.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::json;
use uuid::Uuid;

use crate::{
    changes::{
        ChangeLog,
        lifecycle::{self, Lifecycle, LifecycleEvent},
    },
    providers::Provider,
    upstream::Target,
};

/// The shortest time between two `sync.completed` events of a connection for passes that
/// appended changes.
pub const COMPLETED_EVERY: Duration = Duration::from_secs(60);

/// How a pass over a connection ended.
#[derive(Debug)]
pub enum Ended {
    Completed {
        /// Changes appended by the pass.
        changes: usize,
        /// The connection's first passes (its copy filled for the first time).
        first: bool,
    },
    Failed {
        /// The types whose pass failed.
        resources: Vec<&'static str>,
        /// The first failure, as safe to show as the pass's error.
        error: String,
    },
}

/// What was last told of each connection.
#[derive(Debug, Clone, Copy, Default)]
struct Last {
    failing: bool,
    completed_at: Option<Instant>,
}

/// A connection: its user, project and provider.
type Connection = (Uuid, Uuid, Provider);

#[derive(Clone, Default)]
pub struct Told {
    last: Arc<Mutex<HashMap<Connection, Last>>>,
}

impl Told {
    /// Whether a pass of `target` that ended so is worth an event, and records it.
    fn worth(&self, target: Target, ended: &Ended, now: Instant) -> bool {
        let key = (
            target.tenant.user_id,
            target.tenant.project_id,
            target.provider,
        );
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let last = last.entry(key).or_default();
        match ended {
            Ended::Failed { .. } => {
                let worth = !last.failing;
                last.failing = true;
                worth
            }
            Ended::Completed { changes, first } => {
                let recent = last
                    .completed_at
                    .is_some_and(|at| now.duration_since(at) < COMPLETED_EVERY);
                let worth = *first || last.failing || (*changes > 0 && !recent);
                last.failing = false;
                if worth {
                    last.completed_at = Some(now);
                }
                worth
            }
        }
    }

    /// Appends the event for a pass of `target` that ended so, when it is worth one.
    pub async fn tell(&self, log: &ChangeLog, target: Target, ended: Ended) {
        if !self.worth(target, &ended, Instant::now()) {
            return;
        }
        let (kind, details) = match ended {
            Ended::Completed { changes, first } => (
                Lifecycle::SyncCompleted,
                json!({ "changes": changes, "first": first }),
            ),
            Ended::Failed { resources, error } => (
                Lifecycle::SyncFailed,
                json!({ "types": resources, "error": error }),
            ),
        };
        let event = LifecycleEvent::connection(kind, target.tenant, target.provider, details);
        lifecycle::tell(log, target.tenant.project_id, event).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Tenant;

    fn target() -> Target {
        Target {
            tenant: Tenant {
                user_id: Uuid::new_v4(),
                project_id: Uuid::new_v4(),
            },
            provider: Provider::Hubspot,
        }
    }

    fn failed() -> Ended {
        Ended::Failed {
            resources: vec!["Contact"],
            error: "down".into(),
        }
    }

    fn completed(changes: usize) -> Ended {
        Ended::Completed {
            changes,
            first: false,
        }
    }

    #[test]
    fn a_failure_is_told_once_per_streak_and_its_end_once() {
        let (told, target, now) = (Told::default(), target(), Instant::now());
        assert!(told.worth(target, &failed(), now));
        assert!(!told.worth(target, &failed(), now));
        assert!(told.worth(target, &completed(0), now), "the recovery");
        assert!(!told.worth(target, &completed(0), now), "an idle pass");
        assert!(told.worth(target, &failed(), now), "a new streak");
    }

    #[test]
    fn passes_with_changes_are_told_at_most_once_a_minute() {
        let (told, target, now) = (Told::default(), target(), Instant::now());
        assert!(told.worth(target, &completed(3), now));
        assert!(!told.worth(target, &completed(3), now + COMPLETED_EVERY / 2));
        assert!(told.worth(target, &completed(1), now + COMPLETED_EVERY));
        let first = Ended::Completed {
            changes: 0,
            first: true,
        };
        assert!(told.worth(target, &first, now + COMPLETED_EVERY));
    }
}
