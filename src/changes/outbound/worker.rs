//! The delivery worker: every enabled endpoint's events, in order, at least once.
//!
//! A scanner finds the enabled endpoints no gateway holds (`lease`) and starts one task per
//! endpoint it takes. The task reads the endpoint's row, the next event after its cursor that
//! the endpoint receives, and POSTs it; only a 2xx answer moves the cursor, in the row, past the
//! event — so an event is delivered again after any failure, a crash or a kill, and never
//! skipped. A failure is retried with exponential backoff and jitter (`backon`) while the event
//! has failed for less than `webhooks.retry_for_secs`; then the endpoint is disabled and its
//! `webhook_endpoint.disabled` lifecycle event appended to the log, in one transaction. Every attempt is
//! logged (status, latency, the first KiB of the answer) and attempts older than
//! `deliveries_kept_days` are dropped.
//!
//! Requests go through the URL guard's client (the address connected to is checked, redirects
//! are not followed), with `webhooks.timeout_ms` for the whole exchange, and read at most 1 KiB
//! of an answer. Tasks wait — for an event, a retry, a lease renewal — on the shutdown signal
//! too, and give their lease back when they stop, so another gateway carries on at once.

use std::{sync::Arc, time::Duration as StdDuration};

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::{Duration, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    sea_query::Expr,
};
use serde_json::json;
use tokio::{sync::Notify, time::Instant};
use uuid::Uuid;

use crate::{
    changes::{
        LoggedChange,
        lifecycle::{self, Lifecycle, LifecycleEvent},
    },
    config::WebhooksSettings,
    net::{GuardedClient, TargetRefused},
    shutdown::Shutdown,
    store::entities::{webhook_deliveries, webhook_endpoints},
};

use super::{Endpoints, lease::Leases, payload, signing::signature_header};

/// The most of an answer's body read and kept.
pub const EXCERPT_BYTES: usize = 1024;

/// The background task names (`Shutdown::running`).
pub const SCANNER: &str = "webhook-scanner";
pub const DELIVERY: &str = "webhook-delivery";

/// How an attempt ended.
struct Outcome {
    status: Option<u16>,
    error: Option<String>,
    excerpt: String,
    latency: StdDuration,
}

impl Outcome {
    fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// The worker of one gateway; clones share it.
#[derive(Clone)]
pub struct Deliverer {
    endpoints: Endpoints,
    client: GuardedClient,
    leases: Leases,
    settings: Arc<WebhooksSettings>,
    shutdown: Shutdown,
}

impl Deliverer {
    pub fn new(
        endpoints: Endpoints,
        client: GuardedClient,
        settings: WebhooksSettings,
        shutdown: Shutdown,
    ) -> Self {
        let leases = Leases::new(
            endpoints.db().clone(),
            StdDuration::from_secs(settings.lease_secs.max(1)),
        );
        Self {
            endpoints,
            client,
            leases,
            settings: Arc::new(settings),
            shutdown,
        }
    }

    /// How often a task renews its lease, and the scanner looks for endpoints to take.
    fn beat(&self) -> StdDuration {
        StdDuration::from_millis((self.settings.lease_secs.max(1) * 1000 / 3).max(200))
    }

    /// Starts the scanner.
    pub fn start(self) {
        let shutdown = self.shutdown.clone();
        shutdown.spawn(SCANNER, async move { self.scan().await });
    }

    async fn scan(self) {
        let bell = self.endpoints.bells().scanner.clone();
        let mut trimmed: Option<Instant> = None;
        while !self.shutdown.is_stopping() {
            if let Err(cause) = self.take_free().await {
                tracing::warn!(%cause, "webhook endpoints: scanning");
            }
            if trimmed.is_none_or(|t| t.elapsed() > StdDuration::from_secs(3600)) {
                trimmed = Some(Instant::now());
                if let Err(cause) = self.trim().await {
                    tracing::warn!(%cause, "webhook deliveries: trimming");
                }
            }
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                () = bell.notified() => {}
                () = tokio::time::sleep(self.beat()) => {}
            }
        }
    }

    /// Takes every enabled endpoint that no gateway holds and starts its task.
    async fn take_free(&self) -> Result<(), DbErr> {
        let now = Utc::now();
        let free: Vec<Uuid> = webhook_endpoints::Entity::find()
            .filter(webhook_endpoints::Column::Enabled.eq(true))
            .filter(
                sea_orm::Condition::any()
                    .add(webhook_endpoints::Column::LeaseOwner.is_null())
                    .add(webhook_endpoints::Column::LeaseUntil.lt(now))
                    .add(webhook_endpoints::Column::LeaseOwner.eq(self.leases.me)),
            )
            .all(self.endpoints.db())
            .await?
            .into_iter()
            .map(|row| row.id)
            .collect();
        for id in free {
            let bell = {
                let mut tasks = self
                    .endpoints
                    .bells()
                    .tasks
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if tasks.contains_key(&id) {
                    continue;
                }
                let bell = Arc::new(Notify::new());
                tasks.insert(id, bell.clone());
                bell
            };
            if self.leases.take(id).await? {
                let worker = self.clone();
                self.shutdown.spawn(DELIVERY, async move {
                    worker.deliver_to(id, bell).await;
                });
            } else {
                self.forget(id);
            }
        }
        Ok(())
    }

    fn forget(&self, id: Uuid) {
        self.endpoints
            .bells()
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    /// Drops delivery attempts older than the retention.
    async fn trim(&self) -> Result<(), DbErr> {
        let before = Utc::now() - Duration::days(i64::from(self.settings.deliveries_kept_days));
        webhook_deliveries::Entity::delete_many()
            .filter(webhook_deliveries::Column::AttemptedAt.lt(before))
            .exec(self.endpoints.db())
            .await?;
        Ok(())
    }

    /// The task of one endpoint, until shutdown or it stops being this gateway's to deliver.
    async fn deliver_to(self, id: Uuid, bell: Arc<Notify>) {
        let result = self.run(id, &bell).await;
        if let Err(cause) = result {
            tracing::warn!(%cause, endpoint = %id, "webhook delivery stopped");
        }
        if let Err(cause) = self.leases.release(id).await {
            tracing::warn!(%cause, endpoint = %id, "webhook lease not given back");
        }
        self.forget(id);
        // Another pass may take it up again at once (re-enabled, say).
        self.endpoints.bells().scanner.notify_one();
    }

    fn backoff(&self) -> impl Iterator<Item = StdDuration> + use<> {
        ExponentialBuilder::default()
            .with_min_delay(StdDuration::from_millis(self.settings.retry_min_delay_ms))
            .with_max_delay(StdDuration::from_millis(
                self.settings
                    .retry_max_delay_ms
                    .max(self.settings.retry_min_delay_ms),
            ))
            .with_jitter()
            .without_max_times()
            .build()
    }

    /// Waits `wait` (renewing the lease) or until `bell` rings; false when the task should stop
    /// instead (shutdown, the lease lost).
    async fn pause(&self, id: Uuid, wait: StdDuration, bell: &Notify) -> bool {
        let until = Instant::now() + wait;
        loop {
            let step = until
                .saturating_duration_since(Instant::now())
                .min(self.beat());
            tokio::select! {
                () = self.shutdown.cancelled() => return false,
                () = bell.notified() => return true,
                () = tokio::time::sleep(step) => {}
            }
            if !self.leases.take(id).await.unwrap_or(false) {
                return false;
            }
            if Instant::now() >= until {
                return true;
            }
        }
    }

    async fn run(&self, id: Uuid, bell: &Notify) -> Result<(), DbErr> {
        let log = self.endpoints.log().clone();
        let mut announcements = log.bus().subscribe();
        let mut backoff = self.backoff();
        loop {
            if self.shutdown.is_stopping() || !self.leases.take(id).await? {
                return Ok(());
            }
            let Some(row) = webhook_endpoints::Entity::find_by_id(id)
                .one(self.endpoints.db())
                .await?
                .filter(|row| row.enabled)
            else {
                return Ok(());
            };
            let selection = Endpoints::selection(&row);
            let next = log
                .page(row.project_id, row.cursor, 1, &selection)
                .await?
                .into_iter()
                .next();
            let Some(event) = next else {
                // Caught up: wait for an append to the project, a change to the endpoint, a
                // renewal, or shutdown.
                let project = row.project_id;
                let announced = async {
                    loop {
                        match announcements.recv().await {
                            Ok(a) if a.project_id == project || a.project_id.is_nil() => break,
                            Ok(_) => {}
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                                std::future::pending::<()>().await
                            }
                        }
                    }
                };
                tokio::select! {
                    () = self.shutdown.cancelled() => return Ok(()),
                    () = bell.notified() => {}
                    () = announced => {}
                    () = tokio::time::sleep(self.beat()) => {}
                }
                continue;
            };
            let outcome = tokio::select! {
                () = self.shutdown.cancelled() => return Ok(()),
                outcome = self.attempt(&row, &event) => outcome,
            };
            self.record(&row, &event, &outcome).await?;
            if outcome.delivered() {
                backoff = self.backoff();
                // Moves on only from where this task read it: a replay in between wins.
                webhook_endpoints::Entity::update_many()
                    .col_expr(webhook_endpoints::Column::Cursor, Expr::value(event.seq))
                    .col_expr(
                        webhook_endpoints::Column::FailingSince,
                        Expr::value(Option::<chrono::DateTime<Utc>>::None),
                    )
                    .filter(webhook_endpoints::Column::Id.eq(id))
                    .filter(webhook_endpoints::Column::Cursor.eq(row.cursor))
                    .filter(webhook_endpoints::Column::LeaseOwner.eq(self.leases.me))
                    .exec(self.endpoints.db())
                    .await?;
                continue;
            }
            let failing_since = row.failing_since.unwrap_or_else(Utc::now);
            let retry_for = Duration::seconds(self.settings.retry_for_secs as i64);
            if Utc::now() - failing_since >= retry_for {
                self.disable(&row, &event).await?;
                return Ok(());
            }
            if row.failing_since.is_none() {
                webhook_endpoints::Entity::update_many()
                    .col_expr(
                        webhook_endpoints::Column::FailingSince,
                        Expr::value(Some(failing_since)),
                    )
                    .filter(webhook_endpoints::Column::Id.eq(id))
                    .filter(webhook_endpoints::Column::Cursor.eq(row.cursor))
                    .filter(webhook_endpoints::Column::LeaseOwner.eq(self.leases.me))
                    .exec(self.endpoints.db())
                    .await?;
            }
            let wait = backoff.next().unwrap_or(StdDuration::from_secs(1));
            if !self.pause(id, wait, bell).await {
                return Ok(());
            }
        }
    }

    /// POSTs `event` to the endpoint, signed, and reads at most [`EXCERPT_BYTES`] of the answer.
    async fn attempt(&self, row: &webhook_endpoints::Model, event: &LoggedChange) -> Outcome {
        let started = Instant::now();
        let failed = |error: String| Outcome {
            status: None,
            error: Some(error),
            excerpt: String::new(),
            latency: started.elapsed(),
        };
        let keys = match self.endpoints.signing_keys(row) {
            Ok(keys) => keys,
            Err(cause) => return failed(format!("the signing secret does not open: {cause}")),
        };
        let id = payload::webhook_id(event);
        let body = payload::body(event).to_string();
        let timestamp = Utc::now().timestamp();
        let request = match self.client.post(&row.url) {
            Ok(request) => request,
            Err(refused) => return failed(refused.to_string()),
        };
        let sent = request
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                signature_header(&keys, &id, timestamp, body.as_bytes()),
            )
            .body(body)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(error) => {
                let reason = match TargetRefused::in_error(&error) {
                    Some(refused) => refused.to_string(),
                    None if error.is_timeout() => "timed out".to_owned(),
                    None if error.is_connect() => "could not connect".to_owned(),
                    None => "the request failed".to_owned(),
                };
                return failed(reason);
            }
        };
        let status = response.status().as_u16();
        let mut excerpt = Vec::new();
        let mut error = None;
        while excerpt.len() < EXCERPT_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) if e.is_timeout() => {
                    error = Some("timed out reading the answer".to_owned());
                    break;
                }
                Err(_) => {
                    error = Some("the answer broke off".to_owned());
                    break;
                }
            }
        }
        excerpt.truncate(EXCERPT_BYTES);
        let mut excerpt = String::from_utf8_lossy(&excerpt).into_owned();
        // A cut in the middle of a character leaves a replacement character at the end.
        while excerpt.len() > EXCERPT_BYTES {
            excerpt.pop();
        }
        Outcome {
            status: Some(status),
            error,
            excerpt,
            latency: started.elapsed(),
        }
    }

    /// Logs an attempt.
    async fn record(
        &self,
        row: &webhook_endpoints::Model,
        event: &LoggedChange,
        outcome: &Outcome,
    ) -> Result<(), DbErr> {
        webhook_deliveries::Entity::insert(webhook_deliveries::ActiveModel {
            id: Set(Uuid::new_v4()),
            endpoint_id: Set(row.id),
            event_id: Set(event.id),
            seq: Set(event.seq),
            status: Set(outcome.status.map(i32::from)),
            error: Set(outcome.error.clone()),
            latency_ms: Set(outcome.latency.as_millis() as i64),
            response_excerpt: Set(outcome.excerpt.clone()),
            attempted_at: Set(Utc::now()),
        })
        .exec_without_returning(self.endpoints.db())
        .await?;
        if !outcome.delivered() {
            tracing::info!(
                endpoint = %row.id,
                seq = event.seq,
                status = outcome.status,
                error = outcome.error.as_deref(),
                "webhook delivery failed; retrying"
            );
        }
        Ok(())
    }

    /// Disables the endpoint, whose head event has failed for `retry_for_secs`, and appends
    /// its `webhook_endpoint.disabled` lifecycle event in the same transaction: a project
    /// notice, for `changes:project` readers and webhook endpoints (`lifecycle`), listed under
    /// the provider of the event it failed on.
    async fn disable(
        &self,
        row: &webhook_endpoints::Model,
        stuck: &LoggedChange,
    ) -> Result<(), DbErr> {
        let id = row.id;
        let me = self.leases.me;
        let event = LifecycleEvent::webhook_endpoint(
            Lifecycle::WebhookEndpointDisabled,
            id,
            stuck.provider,
            json!({
                "reason": format!(
                    "deliveries failed for {} seconds", self.settings.retry_for_secs
                ),
                "failingSince": row.failing_since,
                "stuckAt": payload::body(stuck)["data"]["cursor"],
            }),
        );
        lifecycle::append_with(
            self.endpoints.log(),
            row.project_id,
            event,
            async |txn: &DatabaseTransaction| {
                webhook_endpoints::Entity::update_many()
                    .col_expr(webhook_endpoints::Column::Enabled, Expr::value(false))
                    .col_expr(
                        webhook_endpoints::Column::UpdatedAt,
                        Expr::value(Utc::now()),
                    )
                    .filter(webhook_endpoints::Column::Id.eq(id))
                    .filter(webhook_endpoints::Column::LeaseOwner.eq(me))
                    .exec(txn)
                    .await?;
                Ok::<_, DbErr>(())
            },
        )
        .await?;
        tracing::warn!(endpoint = %id, "webhook endpoint disabled after failing deliveries");
        Ok(())
    }
}
