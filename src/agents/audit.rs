//! The audit log: every raw provider call and every MCP tool call, recorded as it ends — who
//! made it (project, user, API key), what it was (the tool, or the method and path), when, how
//! it ended (`ok` or the error code) and how long it took. Callers with the `audit` scope read
//! their project's log, newest first, a page at a time (`auditLog(first:, after:)`).
//!
//! A failed write is logged and the call's answer goes out regardless: the log is a record,
//! not a gate; a caller never waits on it for more than the insert.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::{
    auth::{KeyId, Tenant},
    store::entities::audit_log::{self, Column, Entity},
};

/// What kind of call an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Passthrough,
    Mcp,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Passthrough => "passthrough",
            Kind::Mcp => "mcp",
        }
    }
}

/// One call to record.
#[derive(Debug, Clone)]
pub struct Entry {
    pub tenant: Tenant,
    pub key: Option<KeyId>,
    pub kind: Kind,
    /// The tool's name, or `METHOD /path`.
    pub action: String,
    /// The provider's slug, for raw calls.
    pub provider: Option<String>,
    /// `ok`, or the error code the caller got.
    pub outcome: String,
    /// The provider's HTTP status, when it answered.
    pub status: Option<u16>,
    pub started: DateTime<Utc>,
    pub duration: std::time::Duration,
}

/// Where a page of the log starts: just after the entry at `(at, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct After {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

/// An entry as the log holds it, with its id and time: what [`AuditLog::page`] returns.
pub type Recorded = audit_log::Model;

/// The log, in the database.
#[derive(Clone)]
pub struct AuditLog {
    db: DatabaseConnection,
}

impl AuditLog {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Records `entry`; a failure is logged, never returned.
    pub async fn record(&self, entry: Entry) {
        let row = audit_log::ActiveModel {
            id: Set(Uuid::new_v4()),
            project_id: Set(entry.tenant.project_id),
            user_id: Set(entry.tenant.user_id),
            key_id: Set(entry.key.map(|k| k.0)),
            kind: Set(entry.kind.as_str().to_owned()),
            action: Set(entry.action),
            provider: Set(entry.provider),
            outcome: Set(entry.outcome),
            status: Set(entry.status.map(i32::from)),
            duration_ms: Set(i64::try_from(entry.duration.as_millis()).unwrap_or(i64::MAX)),
            at: Set(entry.started),
        };
        if let Err(cause) = Entity::insert(row).exec_without_returning(&self.db).await {
            tracing::error!(%cause, "recording an audit entry");
        }
    }

    /// Up to `first` entries of `project`, newest first, after `after`; one more than asked
    /// tells whether the page is the last.
    pub async fn page(
        &self,
        project: Uuid,
        first: u64,
        after: Option<After>,
    ) -> Result<(Vec<Recorded>, bool), DbErr> {
        let mut query = Entity::find().filter(Column::ProjectId.eq(project));
        if let Some(after) = after {
            query = query.filter(
                Condition::any().add(Column::At.lt(after.at)).add(
                    Condition::all()
                        .add(Column::At.eq(after.at))
                        .add(Column::Id.lt(after.id)),
                ),
            );
        }
        let mut rows = query
            .order_by_desc(Column::At)
            .order_by_desc(Column::Id)
            .limit(first + 1)
            .all(&self.db)
            .await?;
        let more = rows.len() as u64 > first;
        rows.truncate(first as usize);
        Ok((rows, more))
    }
}
