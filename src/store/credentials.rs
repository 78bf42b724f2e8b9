//! Credential rows as the rest of the gateway may see them: which providers a tenant has
//! connected, with scopes and expiry. Tokens stay ciphertext here; only the vault opens them.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::entities::integration_credentials;

/// A connection's public face.
#[derive(Debug, Clone)]
pub struct ConnectionRow {
    pub provider: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Clone)]
pub struct Credentials {
    db: DatabaseConnection,
}

impl Credentials {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The providers this user has connected in this project.
    pub async fn connections(
        &self,
        user_id: Uuid,
        project_id: Uuid,
    ) -> Result<Vec<ConnectionRow>, DbErr> {
        let rows = integration_credentials::Entity::find()
            .filter(integration_credentials::Column::UserId.eq(user_id))
            .filter(integration_credentials::Column::ProjectId.eq(project_id))
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| ConnectionRow {
                provider: r.provider,
                scopes: serde_json::from_value(r.scopes).unwrap_or_default(),
                expires_at: r.token_expires_at,
            })
            .collect())
    }

    /// Deletes the tenant's credential for a provider; false when there was none.
    pub async fn delete(
        &self,
        user_id: Uuid,
        project_id: Uuid,
        provider: &str,
    ) -> Result<bool, DbErr> {
        let result = integration_credentials::Entity::delete_many()
            .filter(integration_credentials::Column::UserId.eq(user_id))
            .filter(integration_credentials::Column::ProjectId.eq(project_id))
            .filter(integration_credentials::Column::Provider.eq(provider))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected > 0)
    }
}
