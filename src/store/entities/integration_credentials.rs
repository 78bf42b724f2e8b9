use sea_orm::entity::prelude::*;

/// The spec's credential row. Token columns hold ciphertext only; the vault owns their meaning.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "integration_credentials")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub user_id: Uuid,
    pub project_id: Uuid,
    pub provider: String,
    pub access_token_encrypted: String,
    pub refresh_token_encrypted: Option<String>,
    pub token_expires_at: Option<DateTimeUtc>,
    pub scopes: Json,
    pub metadata: Json,
    /// The provider account the connection's metadata names (the catalog's `account`), by which
    /// webhook deliveries find their connections; indexed with `provider`.
    pub account_id: Option<String>,
    pub version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
