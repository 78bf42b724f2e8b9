//! First passes: a connection's copy is filled as soon as the connection exists — when it
//! is made (a [`ConnectionHook`]) and, for connections made before, when the gateway starts —
//! whatever the polling interval (`changes.sync_interval_secs = 0` stops only the polling). A
//! first pass lists every record of each CRM type whose copy is not complete, or the window of
//! a mailbox, calendar or chat with a change feed (`feeds`), and marks the copy complete as it
//! ends; types already complete are left to the poll and the nudges. A
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

use super::{Syncer, comms, copy};

/// What the first passes' tasks are named (`Shutdown::running` counts them).
pub const TASK: &str = "first sync";

/// The providers whose connections have a copy: the CRMs, the mailboxes, calendars and chats.
const COPIED: [Provider; 7] = [
    Provider::Hubspot,
    Provider::Salesforce,
    Provider::Gmail,
    Provider::GoogleCalendar,
    Provider::Outlook,
    Provider::Teams,
    Provider::Slack,
];

impl Syncer {
    /// A pass over each type of `target`'s connection whose copy is not complete.
    pub async fn first_passes(&self, target: Target) {
        self.first_crm_passes(target).await;
        for kind in self.feed_kinds(target.provider) {
            self.first_feed_pass(target, kind).await;
        }
        if target.provider == Provider::Slack {
            self.first_slack_pass(target).await;
        }
    }

    /// Slack's backfill when its copy is not complete.
    async fn first_slack_pass(&self, target: Target) {
        if self.providers.chat(target.provider).is_err() {
            return;
        }
        match copy::status_of(&self.db, target, comms::MESSAGE).await {
            Ok(status) if status.complete => return,
            Ok(_) => {}
            Err(cause) => {
                tracing::warn!(%cause, "reading a copy's status");
                return;
            }
        }
        let labels = [
            ("provider", target.provider.slug()),
            ("type", comms::MESSAGE),
        ];
        let running = metrics::gauge!("nexus_backfills_running", &labels);
        running.increment(1.0);
        let passed = self.slack_pass(target).await;
        running.decrement(1.0);
        match passed {
            Ok(report) => {
                metrics::counter!("nexus_backfill_records_total", &labels)
                    .increment(report.seen as u64);
                tracing::info!(records = report.seen, "Slack backfill done");
            }
            Err(cause) => tracing::warn!(
                %cause,
                "Slack's backfill stopped; the next pass resumes it from each channel's oldest stored message"
            ),
        }
    }

    /// The types `provider`'s change feeds keep.
    fn feed_kinds(&self, provider: Provider) -> Vec<&'static str> {
        let mut kinds = Vec::new();
        if self.providers.mail(provider).is_ok_and(|m| m.feeds()) {
            kinds.push(comms::EMAIL);
        }
        if self.providers.calendar(provider).is_ok_and(|c| c.feeds()) {
            kinds.push(comms::EVENT);
        }
        if self.providers.chat(provider).is_ok_and(|c| c.feeds()) {
            kinds.push(comms::MESSAGE);
        }
        kinds
    }

    /// A feed pass over `kind` when its copy is not complete: it reads the window whole.
    async fn first_feed_pass(&self, target: Target, kind: &'static str) {
        match copy::status_of(&self.db, target, kind).await {
            Ok(status) if status.complete => return,
            Ok(_) => {}
            Err(cause) => {
                tracing::warn!(%cause, "reading a copy's status");
                return;
            }
        }
        let labels = [("provider", target.provider.slug()), ("type", kind)];
        let running = metrics::gauge!("nexus_backfills_running", &labels);
        running.increment(1.0);
        let passed = self.feed_pass(target, kind).await;
        running.decrement(1.0);
        match passed {
            Ok(report) => {
                metrics::counter!("nexus_backfill_records_total", &labels)
                    .increment(report.seen as u64);
                tracing::info!(
                    provider = target.provider.slug(),
                    resource = kind,
                    records = report.seen,
                    "first pass done"
                );
            }
            Err(cause) => tracing::warn!(
                provider = target.provider.slug(),
                resource = kind,
                %cause,
                "a first pass failed; the next pass reads the window again"
            ),
        }
    }

    /// A pass over each CRM type of `target`'s connection whose copy is not complete.
    async fn first_crm_passes(&self, target: Target) {
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

    /// First passes over every existing connection whose copy is not complete, as a task of
    /// `shutdown` (stopped between two connections at shutdown).
    pub fn first_passes_at_start(&self, shutdown: &Shutdown) {
        let this = self.clone();
        let stop = shutdown.clone();
        shutdown.spawn(TASK, async move {
            let mut targets = Vec::new();
            for provider in COPIED {
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
        &COPIED
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
