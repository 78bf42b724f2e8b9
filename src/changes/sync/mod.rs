//! Incremental sync: for each connection of a CRM and each type it keeps, a pass lists the
//! records modified since the checkpoint (less a short look-back, for clocks and commits that
//! lag) in the order of (modification time, id) ascending, each page strictly after the last
//! (time, id) stored, so records with equal timestamps at a page boundary are neither skipped
//! nor repeated (Salesforce: SystemModstamp; HubSpot: the modification date). Each record's
//! payload hash, compared with the one last seen, tells a creation from an update from nothing
//! new; each page's changes are appended in one transaction with the hashes and the pass's
//! position, so a pass cut short (a crash, a kill) resumes after its last stored page and
//! neither loses nor repeats a change. A complete pass moves the checkpoint to the latest
//! modification it saw (the provider's clock). An initial load may run through a provider-side
//! export (a Salesforce Bulk API query job), whose reading position is checkpointed the same way.
//!
//! Deletions show in no modified list: they are decided by a reconciliation, which lists every
//! live id of the type and, only once the listing is complete, appends in one transaction a
//! Deleted change for each record it remembers (seen before the listing started) that the
//! listing lacks, and forgets them. A reconciliation cut short decides nothing. It runs when
//! the last one is older than the syncer's interval (`changes.full_sync_interval_secs`, a day
//! by default) or when asked (`nexus sync --full`); an initial load counts as one. Listing ids
//! costs a call per 100 (HubSpot) or 2,000 (Salesforce) records; the alternatives — Salesforce's
//! `queryAll` with `IsDeleted` or `getDeleted`, HubSpot's `archived=true` lists — are cheaper
//! per pass but miss hard deletes and records past the recycle bin's retention (and archived
//! lists, records purged after 90 days), so the id listing is the one that is always right.
//!
//! Each page's records are also stored whole in the connection's copy (`copy`, the read model
//! `SyncedCopy` reads), with the relations the adapter's `associated` gives for them, in the same
//! transaction; a type whose copy is not complete is listed whole (`Pass::full`), and the pass's
//! end marks it complete as of the pass's start. Reconciliations remove from the copy what the
//! listing lacks. First passes run on connect and at startup (`first`).
//!
//! Mailboxes, calendars and chats with a change feed (Gmail's history, Google Calendar's sync
//! tokens, Graph's delta queries for Outlook and Teams channel messages) sync through it instead: each pass appends the changes since the feed's cursor together with
//! the new cursor.
//!
//! Two passes over one resource at once (two gateways, `nexus sync` beside `serve`) cannot log
//! a change twice: each page's transaction moves the checkpoint only from where its pass read
//! it, so the pass that stores second stores nothing and stops (`SyncError::Overtaken`, reported
//! as a pass that ended early).
//!
//! A pass over a connection (every type it keeps) tells the change log how it ended, as a
//! `sync.completed` or `sync.failed` lifecycle event, within the bounds `told` keeps.
//!
//! Passes run on a timer per provider (the catalog's `sync_interval_secs`, or
//! `changes.sync_interval_secs`) and on demand (`nexus sync`). The timers are tasks of the
//! gateway's `Shutdown`: at shutdown a poller stops while it waits or between two connections,
//! never inside a pass.

pub mod comms;
mod comms_read;
pub mod copy;
mod feeds;
mod first;
pub mod lag;
pub mod memo;
pub mod nudge;
mod read_model;
mod slack;
mod state;
mod told;
mod turns;

pub use first::{FirstPass, TASK as FIRST_PASS_TASK};
pub use read_model::SyncedCopy;
pub use state::{forget, listed, touch};

use std::{collections::HashSet, time::Duration};

use chrono::{DateTime, Utc};

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    TransactionTrait,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    auth::Tenant,
    providers::{
        Cataloged, Kind, Provider, Registry,
        crm::{Crm, CrmObject, ModifiedRequest, Position},
        record::Order,
    },
    shutdown::Shutdown,
    store::entities::integration_credentials,
    upstream::{ErrorKind, ProviderError, Target},
};

use super::{Appended, Change, ChangeLog, Op};
use state::{Checkpoint, Pass, Resource};
use told::{Ended, Told};
use turns::Turns;

/// Records asked for per page.
const PAGE: usize = 200;

/// How far before the checkpoint a pass starts asking.
const LOOK_BACK: chrono::Duration = chrono::Duration::minutes(2);

/// How often a reconciliation decides deletions, unless configured.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("database: {0}")]
    Db(#[from] DbErr),
    /// Another pass over the same resource (another gateway, `nexus sync` beside `serve`)
    /// stored a page first; this one stops, storing nothing more.
    #[error("another pass over this resource moved its checkpoint first")]
    Overtaken,
}

/// A checkpoint's move inside an append's transaction: one that did not happen (another pass
/// moved it first) fails the transaction as overtaken.
fn moved(moved: bool) -> Result<(), SyncError> {
    match moved {
        true => Ok(()),
        false => Err(SyncError::Overtaken),
    }
}

/// How often a reconciliation decides again when deletions came in meanwhile.
const RECONCILE_TRIES: usize = 3;

/// The remembered records of `kind` last seen before `started` that the listing `live` lacks,
/// sorted.
async fn gone(
    db: &impl ConnectionTrait,
    resource: Resource,
    kind: &str,
    started: DateTime<Utc>,
    live: &HashSet<String>,
) -> Result<Vec<String>, DbErr> {
    let target = resource.target;
    let mut gone: Vec<String> =
        state::seen_before(db, target.tenant.project_id, target.provider, kind, started)
            .await?
            .into_iter()
            .filter(|id| !live.contains(id))
            .collect();
    gone.sort();
    Ok(gone)
}

/// Whether a page went in: `false` when another pass overtook this one.
fn went_in(stored: Result<Appended, SyncError>) -> Result<bool, SyncError> {
    match stored {
        Ok(_) => Ok(true),
        Err(SyncError::Overtaken) => Ok(false),
        Err(e) => Err(e),
    }
}

/// How a connection's passes ended, for its lifecycle event: failed when one failed (another
/// pass overtaking this one is no failure), else completed with the changes appended.
fn ended<'r>(
    reports: impl IntoIterator<Item = (&'static str, &'r Result<PassReport, SyncError>)>,
    first: bool,
) -> Ended {
    let mut resources = Vec::new();
    let mut error = None;
    let mut changes = 0;
    for (resource, report) in reports {
        match report {
            Ok(report) => changes += report.changes,
            Err(SyncError::Overtaken) => {}
            Err(e) => {
                error.get_or_insert_with(|| match e {
                    SyncError::Provider(e) => e.to_string(),
                    _ => "the gateway's database failed".to_owned(),
                });
                resources.push(resource);
            }
        }
    }
    match error {
        Some(error) => Ended::Failed { resources, error },
        None => Ended::Completed { changes, first },
    }
}

/// A pass's report when another pass overtook it: what it stored until then.
fn overtaken(report: PassReport) -> PassReport {
    tracing::info!(
        provider = report.provider.slug(),
        resource = report.resource,
        "another pass over this resource is ahead; this one stops"
    );
    PassReport {
        overtaken: true,
        ..report
    }
}

/// What one pass did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassReport {
    pub provider: Provider,
    /// The unified type synced (`Contact`, `Email`, ...).
    pub resource: &'static str,
    /// Records read.
    pub seen: usize,
    /// Changes appended (deletions included).
    pub changes: usize,
    /// Whether the pass ended with a complete reconciliation, and the deletions it found.
    pub reconciled: bool,
    pub deleted: usize,
    /// Another pass over the same resource stored first; this one stopped early.
    pub overtaken: bool,
}

#[derive(Clone)]
pub struct Syncer {
    providers: Registry,
    log: ChangeLog,
    db: DatabaseConnection,
    /// How old the last reconciliation may grow before a pass runs one.
    reconcile_every: Duration,
    /// Every pass reconciles (`nexus sync --full`).
    full: bool,
    /// One pass at a time per connection and resource.
    turns: Turns,
    /// What the copies of mail, events and messages hold.
    windows: comms::Windows,
    /// Slack's `conversations_history` capacity when the config overrides the catalog's.
    slack_capacity: Option<u32>,
    /// What the passes' ends told the log last (`sync.completed`, `sync.failed`).
    told: Told,
}

fn hash(raw: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(raw.to_string().as_bytes()))
}

impl Syncer {
    pub fn new(providers: Registry, log: ChangeLog, db: DatabaseConnection) -> Self {
        Self {
            providers,
            log,
            db,
            reconcile_every: RECONCILE_EVERY,
            full: false,
            turns: Turns::default(),
            windows: comms::Windows::default(),
            slack_capacity: None,
            told: Told::default(),
        }
    }

    /// Paces Slack's backfill to this `conversations_history` capacity (the config's
    /// `rate_capacity` override) instead of the catalog's.
    pub fn slack_capacity(mut self, capacity: Option<u32>) -> Self {
        self.slack_capacity = capacity;
        self
    }

    /// Keeps these windows of mail, events and messages in the copy.
    pub fn windows(mut self, windows: comms::Windows) -> Self {
        self.windows = windows;
        self
    }

    /// The provider adapters the passes read.
    pub fn providers(&self) -> &Registry {
        &self.providers
    }

    /// Reconciles when the last reconciliation is older than `every`.
    pub fn reconcile_every(mut self, every: Duration) -> Self {
        self.reconcile_every = every;
        self
    }

    /// Reconciles at every pass.
    pub fn full(mut self, full: bool) -> Self {
        self.full = full;
        self
    }

    /// One pass over `object` for `target`'s connection; `progress` hears the records read so far.
    pub async fn pass(
        &self,
        target: Target,
        object: CrmObject,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<PassReport, SyncError> {
        let mut report = PassReport {
            provider: target.provider,
            resource: object.name(),
            seen: 0,
            changes: 0,
            reconciled: false,
            deleted: 0,
            overtaken: false,
        };
        let Ok(adapter) = self.providers.crm(target.provider) else {
            return Ok(report);
        };
        let resource = Resource {
            target,
            name: object.name(),
        };
        let _turn = self.turns.take(target, object.name()).await;
        let mut held = state::load(&self.db, resource).await?;
        let mut checkpoint = held.checkpoint.clone();
        // A type whose copy is not complete is listed whole; a pass under way that lists less
        // starts again.
        let full =
            !copy::status(&self.db, target, object).await?.complete || checkpoint.since.is_none();
        let mut pass = match checkpoint.pass.clone() {
            Some(under_way) if under_way.full || !full || checkpoint.since.is_none() => under_way,
            _ => Pass {
                started: Some(Utc::now()),
                full,
                ..Pass::default()
            },
        };
        let since = match pass.full {
            true => None,
            false => checkpoint.since.map(|since| since - LOOK_BACK),
        };
        let mut export_lost = false;
        loop {
            let request = ModifiedRequest {
                object,
                since,
                after: pass.after.clone(),
                export: pass.export.clone(),
                limit: PAGE,
            };
            let page = match adapter.modified(target, &request).await {
                Err(e)
                    if e.kind == ErrorKind::NotFound && pass.export.is_some() && !export_lost =>
                {
                    export_lost = true;
                    tracing::warn!(
                        provider = target.provider.slug(),
                        resource = object.name(),
                        "the export under way is gone (expired, deleted); the load starts again, once"
                    );
                    pass = Pass {
                        started: pass.started,
                        full: pass.full,
                        ..Pass::default()
                    };
                    continue;
                }
                page => page?,
            };
            pass.after = [pass.after.take(), page.last.clone()]
                .into_iter()
                .flatten()
                .max_by(|a, b| Position::compare(Order::OldestFirst, a, b));
            pass.export = page.export.clone();
            let ids: Vec<String> = page.records.iter().map(|r| r.remote_id.clone()).collect();
            let mut associated = Vec::new();
            if !ids.is_empty() {
                for to in copy::associations(target.provider, object) {
                    let found = adapter.associated(target, object, *to, &ids).await?;
                    associated.push((*to, found));
                }
            }
            let known = state::hashes(
                &self.db,
                target.tenant.project_id,
                target.provider,
                object.name(),
                &ids,
            )
            .await?;
            let mut seen = Vec::with_capacity(page.records.len());
            let mut changes = Vec::new();
            for record in &page.records {
                let digest = hash(record.raw.value());
                let op = match known.get(&record.remote_id) {
                    None => Some(Op::Created),
                    Some(previous) if *previous != digest => Some(Op::Updated),
                    Some(_) => None,
                };
                if let Some(op) = op {
                    changes.push(Change {
                        user_id: Some(target.tenant.user_id),
                        op,
                        provider: target.provider,
                        kind: object.name().to_owned(),
                        remote_id: record.remote_id.clone(),
                        data: record.raw.value().clone(),
                        occurred_at: record.updated_at,
                    });
                }
                seen.push((record.remote_id.clone(), digest));
            }
            let appended = changes.len();
            checkpoint.pass = Some(pass.clone());
            let next = checkpoint.clone();
            let stored = self
                .log
                .append_with(target.tenant.project_id, None, changes, async |txn| {
                    state::remember(
                        txn,
                        target.tenant.project_id,
                        target.provider,
                        object.name(),
                        &seen,
                    )
                    .await?;
                    copy::store(txn, target, object, &page.records, &associated, None).await?;
                    moved(state::advance(txn, resource, &mut held, next).await?)
                })
                .await;
            memo::changed(&self.db, target, object.name()).await;
            if !went_in(stored)? {
                return Ok(overtaken(report));
            }
            report.seen += page.records.len();
            report.changes += appended;
            progress(report.seen);
            if !page.more {
                break;
            }
        }
        let initial = checkpoint.since.is_none();
        let done = Checkpoint {
            since: pass.after.map(|p| p.at).or(checkpoint.since),
            pass: None,
            feed: None,
            full_at: if initial {
                pass.started
            } else {
                checkpoint.full_at
            },
            rev: checkpoint.rev,
        };
        // The checkpoint's last move and the copy's completion go together.
        let txn = self.db.begin().await?;
        if !state::advance(&txn, resource, &mut held, done.clone()).await? {
            return Ok(overtaken(report));
        }
        if let Some(started) = pass.started {
            copy::completed(&txn, target, object.name(), started).await?;
        }
        txn.commit().await?;
        memo::changed(&self.db, target, object.name()).await;
        let due = done.full_at.is_none_or(|at| {
            (Utc::now() - at).to_std().unwrap_or_default() >= self.reconcile_every
        });
        if self.full || due {
            let seen = report.seen;
            report.deleted = match self
                .reconcile(&*adapter, resource, object, &|n| progress(seen + n))
                .await
            {
                Ok(deleted) => deleted,
                Err(SyncError::Overtaken) => return Ok(overtaken(report)),
                Err(e) => return Err(e),
            };
            report.changes += report.deleted;
            report.reconciled = true;
        }
        Ok(report)
    }

    /// Lists every live id of `object` and, once the listing is complete, appends a Deleted
    /// change for each remembered record it lacks and forgets them, in one transaction with the
    /// checkpoint's new reconciliation time. Returns the deletions.
    async fn reconcile(
        &self,
        adapter: &dyn Crm,
        resource: Resource,
        object: CrmObject,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<usize, SyncError> {
        let target = resource.target;
        let started = Utc::now();
        let mut live = HashSet::new();
        let mut after: Option<String> = None;
        loop {
            let page = adapter.ids(target, object, after.as_deref()).await?;
            live.extend(page.ids);
            progress(live.len());
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let project = target.tenant.project_id;
        let kind = object.name();
        // What is gone is decided again in the transaction that logs it, which follows every
        // other append to the project: a deletion delivered (and its record forgotten) meanwhile,
        // or another gateway's reconciliation, is not logged twice. When that differs, decide
        // again from the same listing.
        for _ in 0..RECONCILE_TRIES {
            let gone = gone(&self.db, resource, kind, started, &live).await?;
            let changes = gone
                .iter()
                .map(|id| Change {
                    user_id: Some(target.tenant.user_id),
                    op: Op::Deleted,
                    provider: target.provider,
                    kind: kind.to_owned(),
                    remote_id: id.clone(),
                    data: serde_json::json!({ "id": id }),
                    occurred_at: started,
                })
                .collect();
            let decided = self
                .log
                .append_with(project, None, changes, async |txn| {
                    if gone != self::gone(txn, resource, kind, started, &live).await? {
                        return Err(SyncError::Overtaken);
                    }
                    state::forget(txn, project, target.provider, kind, &gone).await?;
                    let unlisted = copy::unlisted(txn, target, object, started, &live).await?;
                    copy::remove(txn, target, kind, &unlisted).await?;
                    moved(state::reconciled(txn, resource, started).await?)
                })
                .await;
            memo::changed(&self.db, target, kind).await;
            if went_in(decided)? {
                return Ok(gone.len());
            }
        }
        Err(SyncError::Overtaken)
    }

    /// The unified types a pass over `provider`'s connections syncs, in the order it syncs
    /// them: its CRM objects, then its mail, calendar and chat feeds (`Email`, `Event`,
    /// `Message`). Empty when this build syncs nothing of it.
    pub fn resources(&self, provider: Provider) -> Vec<&'static str> {
        let mut resources: Vec<&'static str> = CrmObject::ALL
            .into_iter()
            .filter(|o| provider.feeds(o.capability()) && self.providers.has(provider, Kind::Crm))
            .map(|o| o.name())
            .collect();
        let feeds = [
            (
                "Email",
                self.providers.mail(provider).is_ok_and(|m| m.feeds()),
            ),
            (
                "Event",
                self.providers.calendar(provider).is_ok_and(|c| c.feeds()),
            ),
            (
                "Message",
                self.providers.chat(provider).is_ok_and(|c| c.feeds()),
            ),
        ];
        resources.extend(
            feeds
                .into_iter()
                .filter(|(_, on)| *on)
                .map(|(kind, _)| kind),
        );
        resources
    }

    /// A pass over every type `target`'s provider keeps ([`resources`](Self::resources));
    /// `progress` hears the type being synced and the records read of it so far.
    pub async fn connection(
        &self,
        target: Target,
        progress: &(dyn Fn(&'static str, usize) + Sync),
    ) -> Vec<Result<PassReport, SyncError>> {
        let mut reports = Vec::new();
        for resource in self.resources(target.provider) {
            progress(resource, 0);
            let report = match CrmObject::ALL.into_iter().find(|o| o.name() == resource) {
                Some(object) => self.pass(target, object, &|n| progress(resource, n)).await,
                None => self.feed_pass(target, resource).await,
            };
            if let Ok(done) = &report {
                progress(resource, done.seen);
            }
            reports.push(report);
        }
        if target.provider == Provider::Slack && self.providers.chat(target.provider).is_ok() {
            reports.push(self.slack_pass(target).await);
        }
        let resources = self.resources(target.provider);
        let ends = ended(resources.into_iter().zip(&reports), false);
        self.told.tell(&self.log, target, ends).await;
        reports
    }

    /// The connections a sync can serve: CRM connections, of `only` when given, of `project`
    /// when given.
    pub async fn targets(
        &self,
        only: Option<Provider>,
        project: Option<Uuid>,
    ) -> Result<Vec<Target>, DbErr> {
        let mut query = integration_credentials::Entity::find();
        if let Some(project) = project {
            query = query.filter(integration_credentials::Column::ProjectId.eq(project));
        }
        Ok(query
            .all(&self.db)
            .await?
            .into_iter()
            .filter_map(|row| {
                let provider: Provider = row.provider.parse().ok()?;
                let wanted = only.is_none_or(|p| p == provider);
                (wanted && self.syncs(provider)).then_some(Target {
                    tenant: Tenant {
                        user_id: row.user_id,
                        project_id: row.project_id,
                    },
                    provider,
                })
            })
            .collect())
    }

    /// Whether this build syncs `provider` (a CRM, a mailbox, a calendar, a chat with a feed,
    /// Slack's paced backfill).
    fn syncs(&self, provider: Provider) -> bool {
        !self.kinds(provider).is_empty()
    }

    /// The types a pass over a connection of `provider` keeps ([`connection`](Self::connection)):
    /// its [`resources`](Self::resources), and Slack's messages, which its paced backfill keeps.
    pub fn kinds(&self, provider: Provider) -> Vec<&'static str> {
        let mut kinds = self.resources(provider);
        if provider == Provider::Slack && self.providers.chat(provider).is_ok() {
            kinds.push(comms::MESSAGE);
        }
        kinds
    }

    /// Passes over every connection of `provider` every `every`, until shutdown: the poller
    /// stops while it waits, or between two connections' passes.
    pub fn poll(self, provider: Provider, every: Duration, shutdown: &Shutdown) {
        let stop = shutdown.clone();
        shutdown.spawn("sync poller", async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                let targets = match self.targets(Some(provider), None).await {
                    Ok(targets) => targets,
                    Err(cause) => {
                        tracing::warn!(%cause, "listing connections to sync");
                        continue;
                    }
                };
                for target in targets {
                    if stop.is_stopping() {
                        return;
                    }
                    for report in self.connection(target, &|_, _| {}).await {
                        match report {
                            Ok(r) if r.changes > 0 => tracing::info!(
                                provider = provider.slug(),
                                resource = r.resource,
                                changes = r.changes,
                                "synced"
                            ),
                            Ok(_) => {}
                            Err(cause) => {
                                tracing::warn!(provider = provider.slug(), %cause, "sync pass failed")
                            }
                        }
                    }
                }
            }
        });
    }

    /// Starts polling every provider the catalog gives an interval, or `every_secs` when set
    /// (0: no polling), as tasks of `shutdown`.
    pub fn start(&self, every_secs: Option<u64>, shutdown: &Shutdown) {
        for provider in Provider::ALL {
            let Some(secs) = every_secs.or(provider.entry().sync_interval_secs) else {
                continue;
            };
            if secs > 0 && self.syncs(provider) {
                self.clone()
                    .poll(provider, Duration::from_secs(secs), shutdown);
            }
        }
    }
}
