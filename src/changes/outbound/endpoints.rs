//! The endpoints partners register, as a repository: made, changed, rotated, replayed, deleted
//! and listed on behalf of a caller.
//!
//! An endpoint is its maker's: it receives the events its maker could read when it was made
//! (`Audience`: the maker's and the project's, or — made with `changes:project` — every
//! member's), and the project's notices (`Audience::Webhook`), narrowed to its `types` and
//! `providers`. That audience is fixed when it is made: no change, by whomever, widens or
//! narrows it. So a caller manages (sees, changes, rotates, replays, deletes) only endpoints
//! whose events it could read itself: with `changes:project`, every endpoint of the project;
//! without, those it made without `changes:project` — a project-wide endpoint is out of reach
//! of a key that could not read the project, even its maker's, which could otherwise point it
//! at a URL of its own. It starts at the log's head, so it
//! receives what happens from then on; `replay` moves its cursor back (or forward) to any
//! position the log still holds. Its URL passes the guard when it is registered — the name is
//! resolved then, for a precise refusal — and again at every delivery. Its signing secret is
//! returned once, when made or rotated, and otherwise only ever stored sealed by the vault.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, DbErr,
    EntityTrait, ExprTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::{
    changes::{Audience, ChangeLog, LogError, Selection},
    net::{TargetRefused, UrlGuard},
    providers::Provider,
    store::entities::{webhook_deliveries, webhook_endpoints},
    vault::{Binding, Vault, VaultError},
};

use super::signing::{SigningKey, new_secret};

/// The longest overlap a rotation may give the previous secret: a week.
pub const MAX_OVERLAP_SECS: i64 = 7 * 24 * 60 * 60;

/// The vault binds an endpoint's secrets to its maker's row under this name.
const SEALED_AS: &str = "webhook_endpoint";

/// Who asks: the caller's project and user, and whether it reads the whole project's events.
#[derive(Debug, Clone, Copy)]
pub struct Owner {
    pub project_id: Uuid,
    pub user_id: Uuid,
    pub audience: Audience,
}

/// An endpoint as callers see it (never its secret).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: Uuid,
    pub url: String,
    pub types: Option<Vec<String>>,
    pub providers: Option<Vec<Provider>>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One attempt to deliver an event.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: Uuid,
    pub event_id: Uuid,
    pub seq: i64,
    pub status: Option<i32>,
    pub error: Option<String>,
    pub latency_ms: i64,
    pub response_excerpt: String,
    pub attempted_at: DateTime<Utc>,
}

/// What a change to an endpoint may change; `None` leaves a field as it is, and
/// `Some(None)` for a list means "every type" or "every provider".
#[derive(Debug, Default)]
pub struct EndpointChange {
    pub url: Option<String>,
    pub types: Option<Option<Vec<String>>>,
    pub providers: Option<Option<Vec<Provider>>>,
    pub enabled: Option<bool>,
}

/// Why an endpoint operation failed; the field named is the caller's argument at fault.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("{0}")]
    Refused(#[from] TargetRefused),
    #[error("no webhook endpoint with this id")]
    NotFound,
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("the cursor is older than the log's retention")]
    Expired,
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("vault: {0}")]
    Vault(#[from] VaultError),
}

impl From<LogError> for EndpointError {
    fn from(error: LogError) -> Self {
        match error {
            LogError::Expired => EndpointError::Expired,
            LogError::Db(e) => EndpointError::Db(e),
        }
    }
}

/// A page position: the `(time, id)` of the last item seen.
pub type Position = (DateTime<Utc>, Uuid);

/// The delivery tasks running in this process, each with the bell that wakes it when its
/// endpoint changes; and the scanner's bell, rung when an endpoint is made or enabled.
#[derive(Clone, Default)]
pub struct Bells {
    pub scanner: Arc<Notify>,
    pub tasks: Arc<Mutex<HashMap<Uuid, Arc<Notify>>>>,
}

impl Bells {
    /// Wakes the scanner and the endpoint's task, if one runs here.
    fn ring(&self, id: Uuid) {
        self.scanner.notify_one();
        let tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bell) = tasks.get(&id) {
            bell.notify_one();
        }
    }
}

/// The endpoints repository; clones share it.
#[derive(Clone)]
pub struct Endpoints {
    db: DatabaseConnection,
    vault: Vault,
    log: ChangeLog,
    guard: UrlGuard,
    bells: Bells,
}

/// The parsed lists of a row.
fn list_of<T: serde::de::DeserializeOwned>(value: &Option<serde_json::Value>) -> Option<Vec<T>> {
    value
        .as_ref()
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

impl From<&webhook_endpoints::Model> for Endpoint {
    fn from(row: &webhook_endpoints::Model) -> Self {
        Self {
            id: row.id,
            url: row.url.clone(),
            types: list_of(&row.types),
            providers: list_of::<String>(&row.providers)
                .map(|slugs| slugs.iter().filter_map(|s| s.parse().ok()).collect()),
            enabled: row.enabled,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

impl From<webhook_deliveries::Model> for Delivery {
    fn from(row: webhook_deliveries::Model) -> Self {
        Self {
            id: row.id,
            event_id: row.event_id,
            seq: row.seq,
            status: row.status,
            error: row.error,
            latency_ms: row.latency_ms,
            response_excerpt: row.response_excerpt,
            attempted_at: row.attempted_at,
        }
    }
}

fn types_json(types: &Option<Vec<String>>) -> Option<serde_json::Value> {
    types.as_ref().map(|t| serde_json::json!(t))
}

fn providers_json(providers: &Option<Vec<Provider>>) -> Option<serde_json::Value> {
    providers
        .as_ref()
        .map(|ps| serde_json::json!(ps.iter().map(|p| p.slug()).collect::<Vec<_>>()))
}

/// The binding of an endpoint's sealed secrets.
pub(super) fn binding(row_user: Uuid, row_project: Uuid) -> Binding<'static> {
    Binding {
        user_id: row_user,
        project_id: row_project,
        provider: SEALED_AS,
    }
}

impl Endpoints {
    pub fn new(
        db: DatabaseConnection,
        vault: Vault,
        log: ChangeLog,
        guard: UrlGuard,
        bells: Bells,
    ) -> Self {
        Self {
            db,
            vault,
            log,
            guard,
            bells,
        }
    }

    pub(super) fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub(super) fn log(&self) -> &ChangeLog {
        &self.log
    }

    pub(super) fn bells(&self) -> &Bells {
        &self.bells
    }

    /// Checks a URL now, its name resolved, so a refusal comes when the endpoint is registered.
    async fn check_url(&self, url: &str) -> Result<(), EndpointError> {
        self.guard.check_resolved(url).await?;
        Ok(())
    }

    fn check_types(types: &Option<Vec<String>>) -> Result<(), EndpointError> {
        if let Some(types) = types
            && types.iter().any(|t| t.trim().is_empty())
        {
            return Err(EndpointError::Invalid {
                field: "types",
                message: "an event type may not be empty".into(),
            });
        }
        Ok(())
    }

    /// The caller's endpoint `id`, if it may manage it: its events are ones the caller could
    /// read.
    async fn own(&self, owner: Owner, id: Uuid) -> Result<webhook_endpoints::Model, EndpointError> {
        let row = webhook_endpoints::Entity::find_by_id(id)
            .filter(webhook_endpoints::Column::ProjectId.eq(owner.project_id))
            .one(&self.db)
            .await?
            .ok_or(EndpointError::NotFound)?;
        let manages = match owner.audience {
            Audience::Project => true,
            Audience::Member(user) | Audience::Webhook(user) => {
                row.user_id == user && !row.sees_project
            }
        };
        if manages {
            Ok(row)
        } else {
            Err(EndpointError::NotFound)
        }
    }

    /// Registers an endpoint for `owner`, delivering from the log's head on; returns it with its
    /// secret, which is never shown again.
    pub async fn create(
        &self,
        owner: Owner,
        url: &str,
        types: Option<Vec<String>>,
        providers: Option<Vec<Provider>>,
    ) -> Result<(Endpoint, SecretString), EndpointError> {
        self.check_url(url).await?;
        Self::check_types(&types)?;
        let secret = new_secret();
        let now = Utc::now();
        let row = webhook_endpoints::ActiveModel {
            id: Set(Uuid::new_v4()),
            project_id: Set(owner.project_id),
            user_id: Set(owner.user_id),
            sees_project: Set(owner.audience == Audience::Project),
            url: Set(url.to_owned()),
            types: Set(types_json(&types)),
            providers: Set(providers_json(&providers)),
            enabled: Set(true),
            secret: Set(self
                .vault
                .seal(&binding(owner.user_id, owner.project_id), &secret)),
            previous_secret: Set(None),
            previous_until: Set(None),
            cursor: Set(self.log.head(owner.project_id).await?),
            failing_since: Set(None),
            lease_owner: Set(None),
            lease_until: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&self.db)
        .await?;
        self.bells.ring(row.id);
        Ok((Endpoint::from(&row), secret))
    }

    /// Changes what `change` names; enabling an endpoint starts its retries afresh. Whose
    /// events it receives stays as it was made, whoever changes it.
    pub async fn update(
        &self,
        owner: Owner,
        id: Uuid,
        change: EndpointChange,
    ) -> Result<Endpoint, EndpointError> {
        let row = self.own(owner, id).await?;
        if let Some(url) = &change.url {
            self.check_url(url).await?;
        }
        if let Some(types) = &change.types {
            Self::check_types(types)?;
        }
        let mut active = row.into_active_model();
        if let Some(url) = change.url {
            active.url = Set(url);
        }
        if let Some(types) = change.types {
            active.types = Set(types_json(&types));
        }
        if let Some(providers) = change.providers {
            active.providers = Set(providers_json(&providers));
        }
        if let Some(enabled) = change.enabled {
            active.enabled = Set(enabled);
            if enabled {
                active.failing_since = Set(None);
            }
        }
        active.updated_at = Set(Utc::now());
        let row = active.update(&self.db).await?;
        self.bells.ring(id);
        Ok(Endpoint::from(&row))
    }

    /// Deletes the endpoint and its delivery log; false when there was none to delete.
    pub async fn delete(&self, owner: Owner, id: Uuid) -> Result<bool, EndpointError> {
        let row = match self.own(owner, id).await {
            Ok(row) => row,
            Err(EndpointError::NotFound) => return Ok(false),
            Err(e) => return Err(e),
        };
        webhook_endpoints::Entity::delete_by_id(row.id)
            .exec(&self.db)
            .await?;
        webhook_deliveries::Entity::delete_many()
            .filter(webhook_deliveries::Column::EndpointId.eq(row.id))
            .exec(&self.db)
            .await?;
        self.bells.ring(id);
        Ok(true)
    }

    /// A new secret for the endpoint; the current one keeps signing for `overlap_secs` more, so
    /// deliveries carry both signatures until the receiver has switched.
    pub async fn rotate(
        &self,
        owner: Owner,
        id: Uuid,
        overlap_secs: i64,
    ) -> Result<(Endpoint, SecretString), EndpointError> {
        if !(0..=MAX_OVERLAP_SECS).contains(&overlap_secs) {
            return Err(EndpointError::Invalid {
                field: "overlapSecs",
                message: format!("`overlapSecs` must be between 0 and {MAX_OVERLAP_SECS}"),
            });
        }
        let row = self.own(owner, id).await?;
        let secret = new_secret();
        let now = Utc::now();
        let sealed = self
            .vault
            .seal(&binding(row.user_id, row.project_id), &secret);
        let previous = row.secret.clone();
        let mut active = row.into_active_model();
        active.secret = Set(sealed);
        active.previous_secret = Set((overlap_secs > 0).then_some(previous));
        active.previous_until =
            Set((overlap_secs > 0).then(|| now + Duration::seconds(overlap_secs)));
        active.updated_at = Set(now);
        let row = active.update(&self.db).await?;
        Ok((Endpoint::from(&row), secret))
    }

    /// Delivers again everything after sequence number `from` (in order, each event with its
    /// own `webhook-id` as before), then carries on; retries start afresh.
    pub async fn replay(
        &self,
        owner: Owner,
        id: Uuid,
        from: i64,
    ) -> Result<Endpoint, EndpointError> {
        let row = self.own(owner, id).await?;
        self.log.check_cursor(row.project_id, from).await?;
        let mut active = row.into_active_model();
        active.cursor = Set(from);
        active.failing_since = Set(None);
        active.updated_at = Set(Utc::now());
        let row = active.update(&self.db).await?;
        self.bells.ring(id);
        Ok(Endpoint::from(&row))
    }

    /// The caller's endpoints, oldest first, after `after`.
    pub async fn list(
        &self,
        owner: Owner,
        after: Option<Position>,
        limit: u64,
    ) -> Result<Vec<Endpoint>, EndpointError> {
        use webhook_endpoints::Column as C;
        let mut query = webhook_endpoints::Entity::find().filter(C::ProjectId.eq(owner.project_id));
        if let Audience::Member(user) | Audience::Webhook(user) = owner.audience {
            query = query
                .filter(C::UserId.eq(user))
                .filter(C::SeesProject.eq(false));
        }
        if let Some((at, id)) = after {
            query = query.filter(
                Condition::any()
                    .add(C::CreatedAt.gt(at))
                    .add(C::CreatedAt.eq(at).and(C::Id.gt(id))),
            );
        }
        Ok(query
            .order_by_asc(C::CreatedAt)
            .order_by_asc(C::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .iter()
            .map(Endpoint::from)
            .collect())
    }

    /// The endpoint's delivery attempts, newest first, after `after`.
    pub async fn deliveries(
        &self,
        owner: Owner,
        endpoint_id: Uuid,
        after: Option<Position>,
        limit: u64,
    ) -> Result<Vec<Delivery>, EndpointError> {
        use webhook_deliveries::Column as C;
        let row = self.own(owner, endpoint_id).await?;
        let mut query = webhook_deliveries::Entity::find().filter(C::EndpointId.eq(row.id));
        if let Some((at, id)) = after {
            query = query.filter(
                Condition::any()
                    .add(C::AttemptedAt.lt(at))
                    .add(C::AttemptedAt.eq(at).and(C::Id.lt(id))),
            );
        }
        Ok(query
            .order_by_desc(C::AttemptedAt)
            .order_by_desc(C::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Delivery::from)
            .collect())
    }

    /// The keys that sign a delivery to `row` now: its secret's, and the previous one's while
    /// its overlap lasts.
    pub(super) fn signing_keys(
        &self,
        row: &webhook_endpoints::Model,
    ) -> Result<Vec<SigningKey>, VaultError> {
        let binding = binding(row.user_id, row.project_id);
        let mut sealed = vec![&row.secret];
        if let (Some(previous), Some(until)) = (&row.previous_secret, row.previous_until)
            && until > Utc::now()
        {
            sealed.push(previous);
        }
        sealed
            .into_iter()
            .map(|s| {
                let secret = self.vault.open(&binding, s)?;
                SigningKey::from_secret(&secret).map_err(|_| VaultError::Format)
            })
            .collect()
    }

    /// What the endpoint `row` receives of its project's log.
    pub(super) fn selection(row: &webhook_endpoints::Model) -> Selection {
        Selection {
            audience: if row.sees_project {
                Audience::Project
            } else {
                Audience::Webhook(row.user_id)
            },
            providers: list_of::<String>(&row.providers)
                .map(|slugs| slugs.iter().filter_map(|s| s.parse().ok()).collect()),
            kinds: list_of(&row.types),
            ops: None,
        }
    }
}

/// A secret's text, for the one answer that returns it.
pub fn reveal(secret: &SecretString) -> String {
    secret.expose_secret().to_owned()
}
