use sea_orm::entity::prelude::*;

/// A connect flow in progress: its `state` (stored hashed), who started it, the sealed PKCE
/// verifier, where to return, and until when it may be used (once).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_states")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub state_hash: String,
    pub user_id: Uuid,
    pub project_id: Uuid,
    pub provider: String,
    pub pkce_verifier_encrypted: Option<String>,
    pub redirect_after: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub consumed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
