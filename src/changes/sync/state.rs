//! What a sync remembers between pages and passes: its checkpoint per connection and resource
//! (`sync_checkpoints`, the syncer's JSON) and the hash of every record it has seen
//! (`synced_records`). Both are written in the transaction that appends the page's changes; a
//! reconciliation forgets, in the transaction of their Deleted changes, the records it found gone.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    sea_query::{Expr, OnConflict},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    providers::{
        Provider,
        crm::{CrmObject, Export, Position},
    },
    store::entities::{sync_checkpoints, synced_records},
    upstream::Target,
};

/// Where a connection's sync of one resource stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Records modified after this time (the provider's clock) are asked for; `None` before the
    /// first complete pass.
    pub since: Option<DateTime<Utc>>,
    /// The pass under way. A pass cut short resumes here.
    pub pass: Option<Pass>,
    /// When the last complete reconciliation (or initial load) started: deletions are decided
    /// by the next one once this is older than the syncer's interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_at: Option<DateTime<Utc>>,
    /// Where a provider's change feed stands (Gmail's `historyId`), for resources synced
    /// through one instead of by listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed: Option<String>,
    /// Raised by every move (`advance`, `touch`), so that a checkpoint that comes back to the
    /// same place is still another one to a pass that read it before.
    #[serde(default)]
    pub rev: u64,
}

/// A pass under way: the greatest (modification time, id) stored so far — the next page starts
/// strictly after it — and the provider-side export being read, if the pass is an initial load
/// through one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pass {
    pub after: Option<Position>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<Export>,
    /// When the pass started.
    #[serde(default)]
    pub started: Option<DateTime<Utc>>,
    /// The pass lists every record, not only those modified since the checkpoint: the
    /// connection's copy of the type is not complete yet (a first pass, or after an erasure).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub full: bool,
}

/// The key of one sync: a connection and a resource (`contacts`, ...).
#[derive(Debug, Clone, Copy)]
pub struct Resource {
    pub target: Target,
    pub name: &'static str,
}

impl Resource {
    fn provider(&self) -> &'static str {
        self.target.provider.slug()
    }
}

/// A checkpoint as read, with the stored text it was read from: a pass moves it on only from
/// there (`advance`), so that of two passes over one resource at once (two gateways, or
/// `nexus sync` beside `serve`) only the first to store a page stores anything.
#[derive(Debug, Clone, Default)]
pub struct Held {
    pub checkpoint: Checkpoint,
    stored: Option<String>,
}

pub async fn load(db: &impl ConnectionTrait, resource: Resource) -> Result<Held, DbErr> {
    let tenant = resource.target.tenant;
    let row = sync_checkpoints::Entity::find()
        .filter(sync_checkpoints::Column::UserId.eq(tenant.user_id))
        .filter(sync_checkpoints::Column::ProjectId.eq(tenant.project_id))
        .filter(sync_checkpoints::Column::Provider.eq(resource.provider()))
        .filter(sync_checkpoints::Column::Resource.eq(resource.name))
        .one(db)
        .await?;
    Ok(match row {
        Some(row) => Held {
            checkpoint: serde_json::from_str(&row.cursor).unwrap_or_default(),
            stored: Some(row.cursor),
        },
        None => Held::default(),
    })
}

/// Stores `next` in place of the checkpoint `held` was read as, if it is still that one, and
/// makes `held` hold it; `false` when another pass has moved it since (the caller's
/// transaction must then store nothing).
pub async fn advance(
    db: &impl ConnectionTrait,
    resource: Resource,
    held: &mut Held,
    next: Checkpoint,
) -> Result<bool, DbErr> {
    let tenant = resource.target.tenant;
    let next = Checkpoint {
        rev: held.checkpoint.rev.wrapping_add(1),
        ..next
    };
    let cursor = serde_json::to_string(&next).map_err(|e| DbErr::Custom(e.to_string()))?;
    let moved = match &held.stored {
        Some(before) => {
            sync_checkpoints::Entity::update_many()
                .col_expr(
                    sync_checkpoints::Column::Cursor,
                    Expr::value(cursor.clone()),
                )
                .col_expr(sync_checkpoints::Column::UpdatedAt, Expr::value(Utc::now()))
                .filter(sync_checkpoints::Column::UserId.eq(tenant.user_id))
                .filter(sync_checkpoints::Column::ProjectId.eq(tenant.project_id))
                .filter(sync_checkpoints::Column::Provider.eq(resource.provider()))
                .filter(sync_checkpoints::Column::Resource.eq(resource.name))
                .filter(sync_checkpoints::Column::Cursor.eq(before.as_str()))
                .exec(db)
                .await?
                .rows_affected
                == 1
        }
        None => {
            let inserted = sync_checkpoints::Entity::insert(sync_checkpoints::ActiveModel {
                id: Set(Uuid::new_v4()),
                user_id: Set(tenant.user_id),
                project_id: Set(tenant.project_id),
                provider: Set(resource.provider().to_owned()),
                resource: Set(resource.name.to_owned()),
                cursor: Set(cursor.clone()),
                updated_at: Set(Utc::now()),
            })
            .on_conflict(
                OnConflict::columns([
                    sync_checkpoints::Column::UserId,
                    sync_checkpoints::Column::ProjectId,
                    sync_checkpoints::Column::Provider,
                    sync_checkpoints::Column::Resource,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(db)
            .await;
            match inserted {
                Ok(rows) => rows == 1,
                Err(DbErr::RecordNotInserted) => false,
                Err(e) => return Err(e),
            }
        }
    };
    if moved {
        *held = Held {
            checkpoint: next,
            stored: Some(cursor),
        };
    }
    Ok(moved)
}

/// Records that a reconciliation started at `started` has completed, wherever the checkpoint
/// stands now (passes may have moved it while the ids were listed); `false` when it moved again
/// between the read and the write.
pub async fn reconciled(
    db: &impl ConnectionTrait,
    resource: Resource,
    started: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let mut held = load(db, resource).await?;
    let next = Checkpoint {
        full_at: held.checkpoint.full_at.max(Some(started)),
        ..held.checkpoint.clone()
    };
    advance(db, resource, &mut held, next).await
}

/// The CRM type named `kind`, the types a sync lists.
fn listed_type(kind: &str) -> Option<&'static str> {
    CrmObject::ALL
        .into_iter()
        .map(CrmObject::name)
        .find(|name| *name == kind)
}

/// Whether the sync lists `resource` (`Contact`, ...) for any of `connections`: a pass over it
/// has completed, so the next one sees every creation and update since.
pub async fn listed(
    db: &impl ConnectionTrait,
    connections: &[Target],
    resource: &str,
) -> Result<bool, DbErr> {
    let Some(name) = listed_type(resource) else {
        return Ok(false);
    };
    for target in connections {
        let held = load(
            db,
            Resource {
                target: *target,
                name,
            },
        )
        .await?;
        let done = held.checkpoint.since.is_some() || held.checkpoint.full_at.is_some();
        if done && held.checkpoint.feed.is_none() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Moves `resource`'s checkpoint of `target` on without changing where it stands, so that a
/// pass under way, which read it before, is overtaken and stores nothing (a delivered deletion,
/// stored in the same transaction, would otherwise race what it read: the pass would remember
/// the record again). Reconciliations are not held back by it: they decide what is gone inside
/// their own transaction.
pub async fn touch(db: &impl ConnectionTrait, target: Target, resource: &str) -> Result<(), DbErr> {
    let Some(name) = listed_type(resource) else {
        return Ok(());
    };
    let resource = Resource { target, name };
    // A pass's last move is stored outside the project's appends: should it land between the
    // read and the write, read again.
    for _ in 0..3 {
        let mut held = load(db, resource).await?;
        if held.stored.is_none() {
            return Ok(());
        }
        let same = held.checkpoint.clone();
        if advance(db, resource, &mut held, same).await? {
            return Ok(());
        }
    }
    Ok(())
}

/// The hashes last seen of these records of one type, by remote id.
pub async fn hashes(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    provider: Provider,
    kind: &str,
    remote_ids: &[String],
) -> Result<HashMap<String, String>, DbErr> {
    if remote_ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(synced_records::Entity::find()
        .filter(synced_records::Column::ProjectId.eq(project_id))
        .filter(synced_records::Column::Provider.eq(provider.slug()))
        .filter(synced_records::Column::Type.eq(kind))
        .filter(synced_records::Column::RemoteId.is_in(remote_ids.iter().cloned()))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.remote_id, r.hash))
        .collect())
}

/// Records the hashes of records just seen.
pub async fn remember(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    provider: Provider,
    kind: &str,
    seen: &[(String, String)],
) -> Result<(), DbErr> {
    if seen.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let rows = seen
        .iter()
        .map(|(remote_id, hash)| synced_records::ActiveModel {
            id: Set(Uuid::new_v4()),
            project_id: Set(project_id),
            provider: Set(provider.slug().to_owned()),
            r#type: Set(kind.to_owned()),
            remote_id: Set(remote_id.clone()),
            hash: Set(hash.clone()),
            seen_at: Set(now),
        });
    synced_records::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([
                synced_records::Column::ProjectId,
                synced_records::Column::Provider,
                synced_records::Column::Type,
                synced_records::Column::RemoteId,
            ])
            .update_columns([synced_records::Column::Hash, synced_records::Column::SeenAt])
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The ids of the records of one type last seen before `before`.
pub async fn seen_before(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    provider: Provider,
    kind: &str,
    before: DateTime<Utc>,
) -> Result<Vec<String>, DbErr> {
    use sea_orm::QuerySelect;
    synced_records::Entity::find()
        .select_only()
        .column(synced_records::Column::RemoteId)
        .filter(synced_records::Column::ProjectId.eq(project_id))
        .filter(synced_records::Column::Provider.eq(provider.slug()))
        .filter(synced_records::Column::Type.eq(kind))
        .filter(synced_records::Column::SeenAt.lt(before))
        .into_tuple()
        .all(db)
        .await
}

/// Forgets records found gone.
pub async fn forget(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    provider: Provider,
    kind: &str,
    remote_ids: &[String],
) -> Result<(), DbErr> {
    for chunk in remote_ids.chunks(500) {
        synced_records::Entity::delete_many()
            .filter(synced_records::Column::ProjectId.eq(project_id))
            .filter(synced_records::Column::Provider.eq(provider.slug()))
            .filter(synced_records::Column::Type.eq(kind))
            .filter(synced_records::Column::RemoteId.is_in(chunk.iter().cloned()))
            .exec(db)
            .await?;
    }
    Ok(())
}
