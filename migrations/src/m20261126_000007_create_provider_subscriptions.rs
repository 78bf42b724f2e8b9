//! `provider_subscriptions`: the change-notification subscriptions the gateway holds at a
//! provider (Microsoft Graph's `/subscriptions`) for a connection: the provider's id for it, the
//! resource it watches, the `clientState` every notification must carry (sealed by the vault, as
//! tokens are, since it is compared on each delivery) and when the provider lets it expire.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{m20261126_000001_create_tenants::Projects, ownership::owned_by};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ProviderSubscriptions {
    Table,
    Id,
    ProjectId,
    UserId,
    Provider,
    RemoteId,
    Resource,
    ClientState,
    ExpiresAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ProviderSubscriptions::Table)
                    .col(pk_uuid(ProviderSubscriptions::Id))
                    .col(uuid(ProviderSubscriptions::ProjectId))
                    .col(uuid(ProviderSubscriptions::UserId))
                    .col(string(ProviderSubscriptions::Provider))
                    .col(string_uniq(ProviderSubscriptions::RemoteId))
                    .col(string(ProviderSubscriptions::Resource))
                    .col(text(ProviderSubscriptions::ClientState))
                    .col(timestamp_with_time_zone(ProviderSubscriptions::ExpiresAt))
                    .col(timestamp_with_time_zone(ProviderSubscriptions::CreatedAt))
                    .foreign_key(&mut owned_by(
                        ProviderSubscriptions::Table,
                        ProviderSubscriptions::ProjectId,
                        Projects::Table,
                        Projects::Id,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ProviderSubscriptions::Table).to_owned())
            .await
    }
}
