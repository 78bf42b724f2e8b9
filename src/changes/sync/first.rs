//! First passes: a connection's CRM copy is filled as soon as the connection exists — when it
//! is made (a [`ConnectionHook`]) and, for connections made before, when the gateway starts —
//! whatever the polling interval (`changes.sync_interval_secs = 0` stops only the polling). A
//! first pass lists every record of each type whose copy is not complete and marks the copy
//! complete as it ends; types already complete are left to the poll and the nudges. A
//! disconnection erases the connection's copy (after its credentials are gone, so no pass
//! stores into it again: each page's transaction stores only for a connection that exists).
//!
//! `changes.first_pass = false` turns both off (tests that count every provider call).
//!
//! A connection's first passes end with a `sync.completed` lifecycle event (`"first": true`),
//! or `sync.failed` (`sync::told`).
//!
//! Their progress is in the metrics: `nexus_backfills_running{provider,type}` (first passes under
//! way) and `nexus_backfill_records_total{provider,type}` (records they have read).

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{
    changes::hooks::ConnectionHook,
    providers::{Cataloged, Kind, Provider},
    shutdown::Shutdown,
    upstream::Target,
};

use super::{Syncer, copy};

/// What the first passes' tasks are named (`Shutdown::running` counts them).
pub const TASK: &str = "first sync";

/// The CRMs: the providers whose connections have a copy.
const CRMS: [Provider; 2] = [Provider::Hubspot, Provider::Salesforce];

impl Syncer {
    /// A pass over each CRM type of `target`'s connection whose copy is not complete.
    pub async fn first_passes(&self, target: Target) {
        if !self.providers.has(target.provider, Kind::Crm) {
            return;
        }
        let mut passes = Vec::new();
        for object in crate::providers::crm::CrmObject::ALL {
            if !target.provider.feeds(object.capability()) {
                continue;
            }
            match copy::status(&self.db, target, object).await {
                Ok(status) if status.complete => continue,
                Ok(_) => {}
                Err(cause) => {
                    tracing::warn!(%cause, "reading a copy's status");
                    continue;
                }
            }
            let labels = [
                ("provider", target.provider.slug()),
                ("type", object.name()),
            ];
            let running = metrics::gauge!("nexus_backfills_running", &labels);
            running.increment(1.0);
            let counted = AtomicUsize::new(0);
            let progress = |seen: usize| {
                let before = counted.swap(seen, Ordering::Relaxed);
                metrics::counter!("nexus_backfill_records_total", &labels)
                    .increment(seen.saturating_sub(before) as u64);
            };
            let passed = self.pass(target, object, &progress).await;
            running.decrement(1.0);
            match &passed {
                Ok(report) => tracing::info!(
                    provider = target.provider.slug(),
                    resource = report.resource,
                    records = report.seen,
                    "first pass done"
                ),
                Err(cause) => tracing::warn!(
                    provider = target.provider.slug(),
                    resource = object.name(),
                    %cause,
                    "a first pass failed; the next pass lists every record again"
                ),
            }
            passes.push((object.name(), passed));
        }
        if !passes.is_empty() {
            let ends = super::ended(passes.iter().map(|(name, passed)| (*name, passed)), true);
            self.told.tell(&self.log, target, ends).await;
        }
    }

    /// First passes over every existing CRM connection whose copy is not complete, as a task of
    /// `shutdown` (stopped between two connections at shutdown).
    pub fn first_passes_at_start(&self, shutdown: &Shutdown) {
        let this = self.clone();
        let stop = shutdown.clone();
        shutdown.spawn(TASK, async move {
            let mut targets = Vec::new();
            for provider in CRMS {
                match this.targets(Some(provider), None).await {
                    Ok(found) => targets.extend(found),
                    Err(cause) => tracing::warn!(%cause, "listing connections to sync first"),
                }
            }
            for target in targets {
                if stop.is_stopping() {
                    return;
                }
                this.first_passes(target).await;
            }
        });
    }
}

/// Starts a connection's first passes when it is made, and erases its copy when it ends.
pub struct FirstPass {
    syncer: Syncer,
    /// Whether connecting starts the first passes (`changes.first_pass`).
    enabled: bool,
}

impl FirstPass {
    pub fn new(syncer: Syncer, enabled: bool) -> Self {
        Self { syncer, enabled }
    }
}

#[async_trait::async_trait]
impl ConnectionHook for FirstPass {
    fn providers(&self) -> &[Provider] {
        &CRMS
    }

    async fn after_connect(&self, target: Target, shutdown: &Shutdown) {
        if self.enabled {
            let syncer = self.syncer.clone();
            shutdown.spawn(TASK, async move { syncer.first_passes(target).await });
        }
    }

    async fn after_disconnect(&self, target: Target) {
        if let Err(cause) = copy::erase(&self.syncer.db, target).await {
            tracing::error!(provider = target.provider.slug(), %cause, "the copy of a connection gone was not erased");
        }
    }
}
