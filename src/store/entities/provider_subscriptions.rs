use sea_orm::entity::prelude::*;

/// A change-notification subscription held at a provider for a connection.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "provider_subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub user_id: Uuid,
    pub provider: String,
    /// The provider's id for the subscription.
    #[sea_orm(unique)]
    pub remote_id: String,
    pub resource: String,
    /// The `clientState`, sealed by the vault.
    pub client_state: String,
    pub expires_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
