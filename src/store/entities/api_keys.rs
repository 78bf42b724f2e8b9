use sea_orm::entity::prelude::*;

/// An API key is stored as the SHA-256 of the whole key; `prefix` is the part shown in listings.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub project_id: Uuid,
    pub prefix: String,
    #[sea_orm(unique)]
    pub key_hash: String,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    /// What the key may do: scope names, space-delimited (`auth::Scopes`).
    pub scopes: String,
    /// A name its owner gave it, shown in listings.
    pub label: Option<String>,
    /// After this the key is refused as if unknown; never when absent.
    pub expires_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
