//! The change log: append, page, retain. Every append runs in one transaction that raises the
//! project's head (`change_heads`) and inserts the events numbered from it; the head's row lock
//! makes a project's appenders commit in sequence order, so readers never see a number appear
//! behind one they have already read. A webhook's receipt (the provider's event id) is inserted
//! in the same transaction: a redelivered event is acknowledged and stored once.
//!
//! Within one gateway, a project's appenders first take their turn on an in-memory lock and only
//! then open their transaction: waiting for the head's row lock inside a transaction would hold a
//! pooled connection for as long as the appenders ahead take (a burst of webhook deliveries, the
//! first sync passes' pages), and enough such waiters starve the reads of connections. The row
//! lock still orders appenders across gateways sharing the database.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, SqlErr, TransactionTrait,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use uuid::Uuid;

use crate::{
    providers::Provider,
    store::entities::{change_events, change_heads, webhook_receipts},
};

use super::Bus;

/// Whether a change created, updated or deleted its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Created,
    Updated,
    Deleted,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Created => "created",
            Op::Updated => "updated",
            Op::Deleted => "deleted",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "created" => Some(Op::Created),
            "updated" => Some(Op::Updated),
            "deleted" => Some(Op::Deleted),
            _ => None,
        }
    }
}

/// One change to append.
#[derive(Debug, Clone)]
pub struct Change {
    /// The user whose connection it came from, who alone (with `changes:project` readers) sees
    /// it; none for the project's own events (the default project's Stripe webhooks).
    pub user_id: Option<Uuid>,
    pub op: Op,
    pub provider: Provider,
    /// The unified type's name (`Contact`, ...) or `<provider>:<event type>`.
    pub kind: String,
    pub remote_id: String,
    /// The provider's payload.
    pub data: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
}

impl Change {
    /// The same change, as `user`'s (a connection's user; none: the project's).
    pub fn of(self, user: Option<Uuid>) -> Self {
        Self {
            user_id: user,
            ..self
        }
    }
}

/// A change as the log holds it: what was appended, with its place in the project's log. The
/// log hands these out, never its rows.
#[derive(Debug, Clone)]
pub struct LoggedChange {
    pub id: Uuid,
    pub project_id: Uuid,
    /// Its place in the project's log, from 1.
    pub seq: i64,
    /// Whose it is (`Audience`); none: the whole project's.
    pub user_id: Option<Uuid>,
    pub op: Op,
    pub provider: Provider,
    /// The unified type's name (`Contact`, ...) or `<provider>:<event type>`.
    pub kind: String,
    pub remote_id: String,
    /// The provider's payload.
    pub data: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
}

impl TryFrom<change_events::Model> for LoggedChange {
    type Error = DbErr;

    fn try_from(row: change_events::Model) -> Result<Self, DbErr> {
        let corrupt = |what: &str| DbErr::Custom(format!("change {} has {what}", row.id));
        Ok(Self {
            op: Op::parse(&row.op).ok_or_else(|| corrupt(&format!("op `{}`", row.op)))?,
            provider: row
                .provider
                .parse()
                .map_err(|_| corrupt(&format!("provider `{}`", row.provider)))?,
            id: row.id,
            project_id: row.project_id,
            seq: row.seq,
            user_id: row.user_id,
            kind: row.r#type,
            remote_id: row.remote_id,
            data: row.data,
            occurred_at: row.occurred_at,
            received_at: row.received_at,
        })
    }
}

/// A provider's delivery by its own event id.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub provider: Provider,
    pub event_id: String,
}

/// How long a delivery's receipt is kept at least, whatever the retention.
const RECEIPTS_KEPT: chrono::Duration = chrono::Duration::days(7);

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Stored; the project's log now ends at `last_seq`.
    Stored { last_seq: i64 },
    /// The receipt was seen before: nothing stored.
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    /// The cursor points before the oldest event retained: events after it are gone.
    #[error("the cursor is older than the log's retention; start again without one")]
    Expired,
}

/// How far behind the head a live follower may fall, by default, before it is told to resume.
pub const MAX_LAG: i64 = 10_000;

/// How many turn locks a gateway keeps: projects share one when their ids fall on the same,
/// which only makes them wait for each other's appends (short transactions), never wrong.
const TURNS: usize = 64;

/// The in-memory turn locks of appenders, one per group of projects (a fixed number, so the
/// set never grows with the projects).
#[derive(Clone)]
struct Turns(Arc<[tokio::sync::Mutex<()>]>);

impl Turns {
    fn new() -> Self {
        Self((0..TURNS).map(|_| tokio::sync::Mutex::new(())).collect())
    }

    /// The lock `project`'s appenders take turns on.
    fn of(&self, project: Uuid) -> &tokio::sync::Mutex<()> {
        &self.0[(project.as_u128() % self.0.len() as u128) as usize]
    }
}

#[derive(Clone)]
pub struct ChangeLog {
    db: DatabaseConnection,
    bus: Bus,
    max_lag: i64,
    turns: Turns,
}

impl ChangeLog {
    pub fn new(db: DatabaseConnection, bus: Bus) -> Self {
        Self {
            db,
            bus,
            max_lag: MAX_LAG,
            turns: Turns::new(),
        }
    }

    /// Sets how many events a live follower may fall behind the head before it is told so
    /// (`follow::Behind`) rather than carried on.
    pub fn with_max_lag(mut self, events: i64) -> Self {
        self.max_lag = Ord::max(events, 1);
        self
    }

    pub fn max_lag(&self) -> i64 {
        self.max_lag
    }

    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// Appends `changes` to `project_id`'s log, once per `receipt` when given.
    pub async fn append(
        &self,
        project_id: Uuid,
        receipt: Option<&Receipt>,
        changes: Vec<Change>,
    ) -> Result<Appended, DbErr> {
        self.append_with(project_id, receipt, changes, async |_| Ok::<_, DbErr>(()))
            .await
    }

    /// Like `append`, and runs `also` in the same transaction (a sync's checkpoint), so that the
    /// changes and what they depend on are stored together or not at all: an error from `also`
    /// stores nothing.
    pub async fn append_with<E: From<DbErr>>(
        &self,
        project_id: Uuid,
        receipt: Option<&Receipt>,
        changes: Vec<Change>,
        also: impl AsyncFnOnce(&DatabaseTransaction) -> Result<(), E>,
    ) -> Result<Appended, E> {
        // Held until the transaction ends: the next appender of the project waits here, without
        // a connection.
        let _turn = self.turns.of(project_id).lock().await;
        let txn = self.db.begin().await?;
        if let Some(receipt) = receipt {
            let inserted = webhook_receipts::Entity::insert(webhook_receipts::ActiveModel {
                id: Set(Uuid::new_v4()),
                provider: Set(receipt.provider.slug().to_owned()),
                event_id: Set(receipt.event_id.clone()),
                project_id: Set(Some(project_id)),
                received_at: Set(Utc::now()),
            })
            .exec_without_returning(&txn)
            .await;
            match inserted {
                Ok(_) => {}
                Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                    txn.rollback().await?;
                    return Ok(Appended::Duplicate);
                }
                Err(e) => return Err(e.into()),
            }
        }
        let count = changes.len() as i64;
        // One statement raises the head (making it on the first append) and returns it; the
        // row's lock holds until commit, ordering this project's appenders.
        let last_seq = change_heads::Entity::insert(change_heads::ActiveModel {
            project_id: Set(project_id),
            seq: Set(count),
        })
        .on_conflict(
            OnConflict::column(change_heads::Column::ProjectId)
                .value(
                    change_heads::Column::Seq,
                    Expr::col((change_heads::Entity, change_heads::Column::Seq)).add(count),
                )
                .to_owned(),
        )
        .exec_with_returning(&txn)
        .await?
        .seq;
        let received_at = Utc::now();
        let events: Vec<LoggedChange> = changes
            .into_iter()
            .enumerate()
            .map(|(i, change)| LoggedChange {
                id: Uuid::new_v4(),
                project_id,
                seq: last_seq - count + 1 + i as i64,
                user_id: change.user_id,
                op: change.op,
                provider: change.provider,
                kind: change.kind,
                remote_id: change.remote_id,
                data: change.data,
                occurred_at: change.occurred_at,
                received_at,
            })
            .collect();
        let rows: Vec<change_events::ActiveModel> = events
            .iter()
            .map(|e| change_events::ActiveModel {
                id: Set(e.id),
                project_id: Set(e.project_id),
                seq: Set(e.seq),
                user_id: Set(e.user_id),
                op: Set(e.op.as_str().to_owned()),
                provider: Set(e.provider.slug().to_owned()),
                r#type: Set(e.kind.clone()),
                remote_id: Set(e.remote_id.clone()),
                data: Set(e.data.clone()),
                occurred_at: Set(e.occurred_at),
                received_at: Set(e.received_at),
            })
            .collect();
        if !rows.is_empty() {
            change_events::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await?;
        }
        also(&txn).await?;
        if count > 0 {
            super::relay::notify(&txn, project_id, last_seq).await?;
        }
        txn.commit().await?;
        self.bus.appended(project_id, events);
        Ok(Appended::Stored { last_seq })
    }

    /// The last sequence number of the project's log (0 before the first change).
    pub async fn head(&self, project_id: Uuid) -> Result<i64, DbErr> {
        Ok(change_heads::Entity::find_by_id(project_id)
            .one(&self.db)
            .await?
            .map_or(0, |h| h.seq))
    }

    /// Checks that nothing after `after` has been dropped by retention.
    pub async fn check_cursor(&self, project_id: Uuid, after: i64) -> Result<(), LogError> {
        // The head first: an append between the two reads then only adds events above it, so
        // it cannot make a fresh log look trimmed.
        let head = self.head(project_id).await?;
        let oldest = change_events::Entity::find()
            .select_only()
            .column_as(change_events::Column::Seq.min(), "oldest")
            .filter(change_events::Column::ProjectId.eq(project_id))
            .into_tuple::<Option<i64>>()
            .one(&self.db)
            .await?
            .flatten();
        let first_kept = oldest.unwrap_or(head + 1);
        if after + 1 < first_kept && after < head {
            return Err(LogError::Expired);
        }
        Ok(())
    }

    /// Up to `limit` entries of the project after sequence number `after` that `selection`
    /// takes (its audience sees), oldest first.
    pub async fn page(
        &self,
        project_id: Uuid,
        after: i64,
        limit: u64,
        selection: &super::Selection,
    ) -> Result<Vec<LoggedChange>, DbErr> {
        let mut query = change_events::Entity::find()
            .filter(change_events::Column::ProjectId.eq(project_id))
            .filter(change_events::Column::Seq.gt(after));
        match selection.audience {
            super::Audience::Project => {}
            super::Audience::Member(user) => {
                query = query.filter(
                    change_events::Column::UserId
                        .is_null()
                        .or(change_events::Column::UserId.eq(user)),
                );
            }
            super::Audience::Webhook(user) => {
                query = query.filter(
                    change_events::Column::UserId
                        .is_null()
                        .or(change_events::Column::UserId.is_in([user, Uuid::nil()])),
                );
            }
        }
        if let Some(providers) = &selection.providers {
            query = query
                .filter(change_events::Column::Provider.is_in(providers.iter().map(|p| p.slug())));
        }
        if let Some(kinds) = &selection.kinds {
            query = query.filter(change_events::Column::Type.is_in(kinds.iter().cloned()));
        }
        if let Some(ops) = &selection.ops {
            query = query.filter(change_events::Column::Op.is_in(ops.iter().map(|o| o.as_str())));
        }
        query
            .order_by_asc(change_events::Column::Seq)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(LoggedChange::try_from)
            .collect()
    }

    /// One entry by id, only if it belongs to the project.
    pub async fn by_id(&self, project_id: Uuid, id: Uuid) -> Result<Option<LoggedChange>, DbErr> {
        change_events::Entity::find_by_id(id)
            .filter(change_events::Column::ProjectId.eq(project_id))
            .one(&self.db)
            .await?
            .map(LoggedChange::try_from)
            .transpose()
    }

    /// Drops the events received before `before`, in every project, and the receipts of
    /// deliveries as old — but at least a week old, past every provider's redelivery (Stripe's
    /// three days the longest), so that a short retention never lets a redelivery in twice;
    /// returns how many events.
    pub async fn retain_after(&self, before: DateTime<Utc>) -> Result<u64, DbErr> {
        let result = change_events::Entity::delete_many()
            .filter(change_events::Column::ReceivedAt.lt(before))
            .exec(&self.db)
            .await?;
        let redeliveries_end = Utc::now() - RECEIPTS_KEPT;
        webhook_receipts::Entity::delete_many()
            .filter(webhook_receipts::Column::ReceivedAt.lt(Ord::min(before, redeliveries_end)))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }
}
