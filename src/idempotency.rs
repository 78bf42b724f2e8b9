//! Idempotency keys: a write asked for with a key is claimed before it runs, and the claim is
//! kept for as long as the provider may have acted on it, so a repeat never does the write a
//! second time blindly.
//!
//! A claim is one row per project, operation and key (the unique index decides who claimed
//! first), holding:
//! - a hash of the write's normalized input: the same key with other input is refused
//!   ([`OnceError::Reused`]), as Stripe does;
//! - an owner (this process: its pid and a random instance id) and a lease: while the lease
//!   runs, a repeat is told the first is still running; once it has run out (the owner died
//!   mid-write), the next repeat takes the claim over;
//! - a state ([`Pending`]) saying what a taker-over must do first: nothing (`Running` when the
//!   owner never reported), look the write up at the provider and write only if it is not
//!   there (`Unknown`: the last try may or may not have reached the provider), or look it up
//!   and never write (`Sent`: the provider acted, but its answer named no id);
//! - the result (the provider and remote id of the record made) once known: a repeat reads that
//!   record back.
//!
//! Only a refusal proven to come before the provider acted ([`ProviderError::may_have_acted`]
//! is false) gives the key back ([`IdempotencyKeys::release`]). The resolvers' side of the
//! protocol (which lookup, which read-back) is `graphql::writes`.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
    sea_query::Expr,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use nexus_core::Provider;

use crate::store::entities::idempotency_keys as row;

/// What a claim whose result is not known yet asks of whoever takes it over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    /// Claimed; the owner has not reported (it may have died mid-write).
    Running,
    /// The last try ended without knowing whether the provider acted: look the write up, and
    /// write only if it is not there.
    Unknown,
    /// The provider acted but named no record: look it up; never write again.
    Sent,
}

impl Pending {
    fn as_str(self) -> &'static str {
        match self {
            Pending::Running => "running",
            Pending::Unknown => "unknown",
            Pending::Sent => "sent",
        }
    }

    fn parse(value: &str) -> Self {
        match value {
            "running" => Pending::Running,
            "sent" => Pending::Sent,
            // Claims from before states were kept: look them up.
            _ => Pending::Unknown,
        }
    }
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Nobody used the key: the write may run.
    New,
    /// The key's earlier try is over or its owner's lease ran out: this call holds the claim
    /// now, and must settle what the earlier try left (`pending`) before writing.
    TakenOver {
        pending: Pending,
        /// When the key was first claimed: a write it made is no older.
        since: DateTime<Utc>,
    },
    /// The key's write is done: the record it made.
    Done {
        provider: Provider,
        remote_id: String,
    },
    /// The key's write is running in another request, whose lease has not run out.
    InFlight,
}

/// Why a claim could not be made.
#[derive(Debug, thiserror::Error)]
pub enum OnceError {
    /// The key's first write is still running in another request.
    #[error("a write with this idempotency key is still running; repeat it in a moment")]
    InFlight,
    /// The key was used before with other input.
    #[error("idempotency key reused with different input")]
    Reused,
    #[error("idempotency store: {0}")]
    Store(#[from] DbErr),
}

/// One key of one operation in one project.
#[derive(Debug, Clone, Copy)]
pub struct KeyRef<'a> {
    pub project: Uuid,
    pub operation: &'a str,
    pub key: &'a str,
}

/// The hash stored with a claim: SHA-256 of the normalized input (JSON with sorted keys).
pub fn input_hash(input: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(input.to_string().as_bytes()))
}

/// A token standing for a key in what the provider keeps (a Message-ID, Slack metadata):
/// stable, unique per project, operation and key, and telling nothing of the key itself.
pub fn marker(key: KeyRef<'_>) -> String {
    let digest = Sha256::digest(format!("{}\n{}\n{}", key.project, key.operation, key.key));
    hex::encode(&digest[..16])
}

#[derive(Clone)]
pub struct IdempotencyKeys {
    db: DatabaseConnection,
    /// This process, as the owner of its claims.
    owner: String,
    lease: chrono::Duration,
    retry_after: std::time::Duration,
}

impl IdempotencyKeys {
    /// Claims in `db`, each held by this process for `lease` until settled; a write whose
    /// outcome is not known yet is to be repeated after `retry_after`.
    pub fn new(
        db: DatabaseConnection,
        lease: std::time::Duration,
        retry_after: std::time::Duration,
    ) -> Self {
        Self {
            db,
            owner: format!("pid {} / {}", std::process::id(), Uuid::new_v4().simple()),
            lease: chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX),
            retry_after,
        }
    }

    /// How long a client should wait before repeating a write whose outcome is not known yet.
    pub fn retry_after(&self) -> std::time::Duration {
        self.retry_after
    }

    fn find(key: KeyRef<'_>) -> sea_orm::Select<row::Entity> {
        row::Entity::find()
            .filter(row::Column::ProjectId.eq(key.project))
            .filter(row::Column::Operation.eq(key.operation))
            .filter(row::Column::Key.eq(key.key))
    }

    fn lease_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now.checked_add_signed(self.lease)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Claims `key` for a write whose normalized input hashes to `hash`.
    pub async fn claim(&self, key: KeyRef<'_>, hash: &str) -> Result<Claim, OnceError> {
        // A claim released between the insert and the read is claimed afresh, a few times.
        for _ in 0..3 {
            if let Some(claim) = self.try_claim(key, hash).await? {
                return Ok(claim);
            }
        }
        Err(OnceError::InFlight)
    }

    async fn try_claim(&self, key: KeyRef<'_>, hash: &str) -> Result<Option<Claim>, OnceError> {
        let now = Utc::now();
        let inserted = row::ActiveModel {
            id: Set(Uuid::new_v4()),
            project_id: Set(key.project),
            operation: Set(key.operation.to_owned()),
            key: Set(key.key.to_owned()),
            result: Set(None),
            created_at: Set(now),
            input_hash: Set(Some(hash.to_owned())),
            owner: Set(Some(self.owner.clone())),
            lease_until: Set(Some(self.lease_until(now))),
            state: Set(Pending::Running.as_str().to_owned()),
        }
        .insert(&self.db)
        .await;
        if inserted.is_ok() {
            return Ok(Some(Claim::New));
        }
        // The unique key refused the insert: someone claimed it first.
        let Some(existing) = Self::find(key).one(&self.db).await? else {
            return Ok(None);
        };
        if existing.input_hash.as_deref().is_some_and(|h| h != hash) {
            return Err(OnceError::Reused);
        }
        if let Some(result) = &existing.result {
            let result: serde_json::Value = serde_json::from_str(result).unwrap_or_default();
            let provider = serde_json::from_value(result["provider"].clone()).ok();
            return match (provider, result["remoteId"].as_str()) {
                (Some(provider), Some(remote_id)) => Ok(Some(Claim::Done {
                    provider,
                    remote_id: remote_id.to_owned(),
                })),
                _ => Err(OnceError::Store(DbErr::Custom(
                    "an idempotency record without its result".into(),
                ))),
            };
        }
        if existing.lease_until.is_some_and(|until| until > now) {
            return Err(OnceError::InFlight);
        }
        // Take it over, if nobody did since it was read: the lease and state as read.
        let taken = row::Entity::update_many()
            .col_expr(row::Column::Owner, Expr::value(self.owner.clone()))
            .col_expr(row::Column::LeaseUntil, Expr::value(self.lease_until(now)))
            .col_expr(row::Column::State, Expr::value(Pending::Running.as_str()))
            .filter(row::Column::Id.eq(existing.id))
            .filter(row::Column::Result.is_null())
            .filter(row::Column::State.eq(existing.state.clone()))
            .filter(match existing.lease_until {
                Some(until) => row::Column::LeaseUntil.eq(until),
                None => row::Column::LeaseUntil.is_null(),
            })
            .exec(&self.db)
            .await?;
        if taken.rows_affected != 1 {
            return Err(OnceError::InFlight);
        }
        Ok(Some(Claim::TakenOver {
            pending: Pending::parse(&existing.state),
            since: existing.created_at,
        }))
    }

    /// Records the record a claimed write made: the claim is settled for good.
    pub async fn complete(
        &self,
        key: KeyRef<'_>,
        provider: Provider,
        remote_id: &str,
    ) -> Result<(), DbErr> {
        let result = serde_json::json!({ "provider": provider, "remoteId": remote_id });
        row::Entity::update_many()
            .col_expr(row::Column::Result, Expr::value(result.to_string()))
            .col_expr(row::Column::LeaseUntil, Expr::value(None::<DateTime<Utc>>))
            .filter(row::Column::ProjectId.eq(key.project))
            .filter(row::Column::Operation.eq(key.operation))
            .filter(row::Column::Key.eq(key.key))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Keeps the claim, its outcome unsettled (`pending`), and ends this owner's lease so that
    /// the next repeat takes it over at once and settles it.
    pub async fn leave(&self, key: KeyRef<'_>, pending: Pending) -> Result<(), DbErr> {
        row::Entity::update_many()
            .col_expr(row::Column::State, Expr::value(pending.as_str()))
            .col_expr(row::Column::LeaseUntil, Expr::value(Utc::now()))
            .filter(row::Column::ProjectId.eq(key.project))
            .filter(row::Column::Operation.eq(key.operation))
            .filter(row::Column::Key.eq(key.key))
            .filter(row::Column::Result.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Gives a claim back after the provider refused its write before acting.
    pub async fn release(&self, key: KeyRef<'_>) -> Result<(), DbErr> {
        row::Entity::delete_many()
            .filter(row::Column::ProjectId.eq(key.project))
            .filter(row::Column::Operation.eq(key.operation))
            .filter(row::Column::Key.eq(key.key))
            .filter(row::Column::Result.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
