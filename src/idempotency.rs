//! Idempotency keys: a write asked for with a key is claimed before it runs; a repeat finds the
//! claim and learns which record the first write made (or that the first is still running), so
//! the provider sees the write once. A failed write releases its claim, so the client may retry.
//!
//! Resolvers call [`IdempotencyKeys::once`]; the claim table is this module's own.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
    sea_query::Expr,
};
use uuid::Uuid;

use nexus_core::{Provider, ProviderError};

use crate::{providers::record::Record, store::entities::idempotency_keys as row};

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Claim {
    /// Nobody used the key: the write may run (then `complete` or `release`).
    New,
    /// The key's write is done: its result.
    Done(serde_json::Value),
    /// The key's write is running in another request.
    InFlight,
}

/// What a write run once per key came to.
#[derive(Debug)]
pub enum Once<T> {
    /// This call wrote the record.
    Written(Record<T>),
    /// An earlier call with the key wrote it: the record it made, to be read back.
    Repeat {
        provider: Provider,
        remote_id: String,
    },
}

/// Why a write run once per key did not happen.
#[derive(Debug, thiserror::Error)]
pub enum OnceError {
    /// The key's first write is still running in another request.
    #[error("a write with this idempotency key is still running; repeat it in a moment")]
    InFlight,
    /// The provider refused or failed the write; the key is free again.
    #[error(transparent)]
    Write(ProviderError),
    #[error("idempotency store: {0}")]
    Store(#[from] DbErr),
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

    /// Runs `write` once per `key`, `operation` and `project`: the first call writes and remembers
    /// which record it made; a repeat is told that record without writing. A write that fails
    /// releases the key, so it may be tried again.
    pub async fn once<T>(
        &self,
        project: Uuid,
        operation: &str,
        key: &str,
        write: impl Future<Output = Result<Record<T>, ProviderError>>,
    ) -> Result<Once<T>, OnceError> {
        match self.claim(project, operation, key).await? {
            Claim::New => match write.await {
                Ok(record) => {
                    let result = serde_json::json!({
                        "provider": record.provider,
                        "remoteId": record.remote_id,
                    });
                    self.complete(project, operation, key, &result).await?;
                    Ok(Once::Written(record))
                }
                Err(error) => {
                    self.release(project, operation, key).await?;
                    Err(OnceError::Write(error))
                }
            },
            Claim::Done(result) => {
                let provider = serde_json::from_value(result["provider"].clone()).ok();
                match (provider, result["remoteId"].as_str()) {
                    (Some(provider), Some(remote_id)) => Ok(Once::Repeat {
                        provider,
                        remote_id: remote_id.to_owned(),
                    }),
                    _ => Err(OnceError::Store(DbErr::Custom(
                        "an idempotency record without its result".into(),
                    ))),
                }
            }
            Claim::InFlight => Err(OnceError::InFlight),
        }
    }

    /// Claims `key` for `operation` in `project`.
    async fn claim(&self, project: Uuid, operation: &str, key: &str) -> Result<Claim, DbErr> {
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
    async fn complete(
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
    async fn release(&self, project: Uuid, operation: &str, key: &str) -> Result<(), DbErr> {
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
