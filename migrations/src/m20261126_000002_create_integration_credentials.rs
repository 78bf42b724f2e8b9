//! The spec's `integration_credentials`: one row per (user, project, provider), tokens encrypted.
//!
//! Portable types where SQLite lacks PostgreSQL's: `scopes` is a JSON array and `metadata` JSON
//! (JSONB on PostgreSQL). A provider that issues no refresh token or no expiry stores NULL there,
//! which relaxes the spec's NOT NULL. `version` counts writes, for compare-and-swap on refresh.

use sea_orm_migration::{prelude::*, schema::*};

use crate::ownership::owned_by;

use crate::m20261126_000001_create_tenants::{Projects, Users};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IntegrationCredentials {
    Table,
    Id,
    CreatedAt,
    UpdatedAt,
    UserId,
    ProjectId,
    Provider,
    AccessTokenEncrypted,
    RefreshTokenEncrypted,
    TokenExpiresAt,
    Scopes,
    Metadata,
    Version,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IntegrationCredentials::Table)
                    .col(pk_uuid(IntegrationCredentials::Id))
                    .col(timestamp_with_time_zone(IntegrationCredentials::CreatedAt))
                    .col(timestamp_with_time_zone(IntegrationCredentials::UpdatedAt))
                    .col(uuid(IntegrationCredentials::UserId))
                    .col(uuid(IntegrationCredentials::ProjectId))
                    .col(string(IntegrationCredentials::Provider))
                    .col(text(IntegrationCredentials::AccessTokenEncrypted))
                    .col(text_null(IntegrationCredentials::RefreshTokenEncrypted))
                    .col(timestamp_with_time_zone_null(
                        IntegrationCredentials::TokenExpiresAt,
                    ))
                    .col(json_binary(IntegrationCredentials::Scopes).default("[]"))
                    .col(json_binary(IntegrationCredentials::Metadata).default("{}"))
                    .col(big_integer(IntegrationCredentials::Version).default(0))
                    .foreign_key(&mut owned_by(
                        IntegrationCredentials::Table,
                        IntegrationCredentials::UserId,
                        Users::Table,
                        Users::Id,
                    ))
                    .foreign_key(&mut owned_by(
                        IntegrationCredentials::Table,
                        IntegrationCredentials::ProjectId,
                        Projects::Table,
                        Projects::Id,
                    ))
                    .index(
                        Index::create()
                            .name("integration_credentials_user_project_provider")
                            .col(IntegrationCredentials::UserId)
                            .col(IntegrationCredentials::ProjectId)
                            .col(IntegrationCredentials::Provider)
                            .unique(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(IntegrationCredentials::Table)
                    .to_owned(),
            )
            .await
    }
}
