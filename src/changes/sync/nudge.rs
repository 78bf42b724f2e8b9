//! Early sync: a webhook that hints at a change (a Gmail push, a Calendar notification) or
//! carries one (HubSpot, Slack, Graph) brings its connection's next sync pass forward, so the
//! gateway catches what the delivery only hinted at without waiting for the poll.
//!
//! Bursts coalesce: a nudge schedules one pass after a short delay; nudges before it starts add
//! nothing, and nudges while it runs schedule exactly one more after it, so N deliveries in a row
//! cost about one pass, and none is missed (a change after a pass began is seen by the next).
//! Passes of one connection never overlap here.
//!
//! A connection not synced yet (no checkpoint) is left to its first scheduled pass — its initial
//! load — so a webhook never starts a bulk load of a whole account.
//!
//! Every nudge runs as a task of the gateway's `Shutdown`, named [`TASK`]; at shutdown a pass
//! still waiting out its delay is dropped (the next poll catches its change), and one under way
//! finishes.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter};
use uuid::Uuid;

use crate::{
    providers::Provider, shutdown::Shutdown, store::entities::sync_checkpoints, upstream::Target,
};

use super::Syncer;

/// How long a nudge waits for more of a burst before the pass starts.
pub const DELAY: Duration = Duration::from_millis(250);

/// What the nudges' tasks are named (`Shutdown::running` counts them).
pub const TASK: &str = "early sync";

/// How many times in a row an overtaken early pass runs again.
const OVERTAKEN_RETRIES: usize = 3;

/// A connection, as a map key.
type Key = (Uuid, Uuid, Provider);

fn key(target: Target) -> Key {
    (
        target.tenant.project_id,
        target.tenant.user_id,
        target.provider,
    )
}

/// Where a connection's early pass stands.
enum Slot {
    /// Scheduled, not started: a nudge now adds nothing.
    Waiting,
    /// Under way; `again` when a nudge came since it began.
    Running { again: bool },
}

/// Schedules early sync passes, one connection at a time each.
#[derive(Clone)]
pub struct Nudge {
    syncer: Syncer,
    db: DatabaseConnection,
    delay: Duration,
    slots: Arc<Mutex<HashMap<Key, Slot>>>,
    shutdown: Shutdown,
}

impl Nudge {
    pub fn new(
        syncer: Syncer,
        db: DatabaseConnection,
        delay: Duration,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            syncer,
            db,
            delay,
            slots: Arc::default(),
            shutdown,
        }
    }

    /// Schedules one pass over `target`'s connection soon, if it has synced before.
    pub fn connection(&self, target: Target) {
        let this = self.clone();
        self.shutdown.spawn(TASK, async move {
            match this.synced_before(target).await {
                Ok(true) => this.schedule(target),
                Ok(false) => {}
                Err(cause) => tracing::warn!(%cause, "an early sync not scheduled"),
            }
        });
    }

    /// Schedules a pass over every connection of `provider` in `project` (a delivery routed to
    /// a project by the provider's account id).
    pub fn project(&self, project_id: Uuid, provider: Provider) {
        let this = self.clone();
        self.shutdown.spawn(TASK, async move {
            match this.syncer.targets(Some(provider), Some(project_id)).await {
                Ok(targets) => {
                    for target in targets {
                        this.connection(target);
                    }
                }
                Err(cause) => tracing::warn!(%cause, "an early sync not scheduled"),
            }
        });
    }

    async fn synced_before(&self, target: Target) -> Result<bool, DbErr> {
        let checkpoints = sync_checkpoints::Entity::find()
            .filter(sync_checkpoints::Column::UserId.eq(target.tenant.user_id))
            .filter(sync_checkpoints::Column::ProjectId.eq(target.tenant.project_id))
            .filter(sync_checkpoints::Column::Provider.eq(target.provider.slug()))
            .count(&self.db)
            .await?;
        Ok(checkpoints > 0)
    }

    fn schedule(&self, target: Target) {
        {
            let mut slots = self.slots.lock().expect("nudge slots");
            match slots.get_mut(&key(target)) {
                Some(Slot::Waiting) => return,
                Some(Slot::Running { again }) => {
                    *again = true;
                    return;
                }
                None => {
                    slots.insert(key(target), Slot::Waiting);
                }
            }
        }
        let this = self.clone();
        self.shutdown
            .spawn(TASK, async move { this.run(target).await });
    }

    /// Runs the scheduled pass, and one more as long as nudges came during the last, or (a few
    /// times) when another process's pass overtook it: that pass may have read the provider
    /// before the change this nudge is for.
    async fn run(&self, target: Target) {
        let mut overtaken = 0;
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => {
                    self.slots.lock().expect("nudge slots").remove(&key(target));
                    return;
                }
                () = tokio::time::sleep(self.delay) => {}
            }
            self.slots
                .lock()
                .expect("nudge slots")
                .insert(key(target), Slot::Running { again: false });
            let mut behind = false;
            for report in self.syncer.connection(target, &|_, _| {}).await {
                match report {
                    Ok(r) if r.overtaken => behind = true,
                    Ok(r) if r.changes > 0 => tracing::info!(
                        provider = target.provider.slug(),
                        resource = r.resource,
                        changes = r.changes,
                        "synced early"
                    ),
                    Ok(_) => {}
                    Err(cause) => tracing::warn!(
                        provider = target.provider.slug(),
                        %cause,
                        "an early sync pass failed"
                    ),
                }
            }
            let retry = behind && overtaken < OVERTAKEN_RETRIES;
            overtaken = if behind { overtaken + 1 } else { 0 };
            let mut slots = self.slots.lock().expect("nudge slots");
            match slots.get(&key(target)) {
                Some(Slot::Running { again }) if *again || retry => {
                    slots.insert(key(target), Slot::Waiting);
                }
                _ => {
                    slots.remove(&key(target));
                    return;
                }
            }
        }
    }
}
