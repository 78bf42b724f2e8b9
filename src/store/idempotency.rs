//! Idempotency keys: a write asked for with a key is claimed before it runs; a repeat finds the
//! claim and gets the first write's result (or is told the first is still running), so the
//! provider sees the write once. A failed write releases its claim, so the client may retry.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
    sea_query::Expr,
};
use uuid::Uuid;

use super::entities::idempotency_keys as row;

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Nobody used the key: the write may run (then `complete` or `release`).
    New,
    /// The key's write is done: its result.
    Done(serde_json::Value),
    /// The key's write is running in another request.
    InFlight,
}

#[derive(Clone)]
pub struct IdempotencyKeys {
    db: DatabaseConnection,
}

impl IdempotencyKeys {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    fn find(project: Uuid, operation: &str, key: &str) -> sea_orm::Select<row::Entity> {
        row::Entity::find()
            .filter(row::Column::ProjectId.eq(project))
            .filter(row::Column::Operation.eq(operation))
            .filter(row::Column::Key.eq(key))
    }

    /// Claims `key` for `operation` in `project`.
    pub async fn claim(&self, project: Uuid, operation: &str, key: &str) -> Result<Claim, DbErr> {
        let inserted = row::ActiveModel {
            id: Set(Uuid::new_v4()),
            project_id: Set(project),
            operation: Set(operation.to_owned()),
            key: Set(key.to_owned()),
            result: Set(None),
            created_at: Set(Utc::now()),
        }
        .insert(&self.db)
        .await;
        if inserted.is_ok() {
            return Ok(Claim::New);
        }
        // The unique key refused the insert: someone claimed it first.
        let existing = Self::find(project, operation, key).one(&self.db).await?;
        Ok(match existing.and_then(|r| r.result) {
            Some(result) => Claim::Done(serde_json::from_str(&result).unwrap_or_default()),
            None => Claim::InFlight,
        })
    }

    /// Records the result of a claimed write.
    pub async fn complete(
        &self,
        project: Uuid,
        operation: &str,
        key: &str,
        result: &serde_json::Value,
    ) -> Result<(), DbErr> {
        row::Entity::update_many()
            .col_expr(row::Column::Result, Expr::value(result.to_string()))
            .filter(row::Column::ProjectId.eq(project))
            .filter(row::Column::Operation.eq(operation))
            .filter(row::Column::Key.eq(key))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Gives a claim back after its write failed.
    pub async fn release(&self, project: Uuid, operation: &str, key: &str) -> Result<(), DbErr> {
        row::Entity::delete_many()
            .filter(row::Column::ProjectId.eq(project))
            .filter(row::Column::Operation.eq(operation))
            .filter(row::Column::Key.eq(key))
            .filter(row::Column::Result.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
