use sea_orm::entity::prelude::*;

/// A write asked for with an idempotency key: who holds it and until when, what a taker-over
/// must settle, and what it produced once done (see `crate::idempotency`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub operation: String,
    pub key: String,
    /// The write's result as JSON; absent until it is known.
    pub result: Option<String>,
    /// When the key was first claimed.
    pub created_at: DateTimeUtc,
    /// SHA-256 (hex) of the write's normalized input; absent on claims made before it was kept.
    pub input_hash: Option<String>,
    /// The process holding the claim (pid and instance id).
    pub owner: Option<String>,
    /// Until when the owner holds the claim; past it, a repeat takes the claim over.
    pub lease_until: Option<DateTimeUtc>,
    /// `running`, `unknown` or `sent` (`idempotency::Pending`) while there is no result.
    pub state: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
