//! The remaining tables of DESIGN.md ("Storage"):
//!
//! - `oauth_states`: one-time connect-flow states (stored hashed), bound to user and project,
//!   with the PKCE verifier (sealed) and where to return; they expire and are consumed once.
//! - `sync_checkpoints`: where incremental sync stopped, per connection and resource.
//! - `synced_records`: a hash per record seen by sync, to tell created, updated and deleted apart.
//! - `webhook_receipts`: provider event ids already accepted, so a duplicate is stored once.
//! - `quota_usage`: daily provider quotas that must survive a restart.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{
    m20261126_000001_create_tenants::{Projects, Users},
    ownership::owned_by,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OauthStates {
    Table,
    Id,
    StateHash,
    UserId,
    ProjectId,
    Provider,
    PkceVerifierEncrypted,
    RedirectAfter,
    CreatedAt,
    ExpiresAt,
    ConsumedAt,
}

#[derive(DeriveIden)]
enum SyncCheckpoints {
    Table,
    Id,
    UserId,
    ProjectId,
    Provider,
    Resource,
    Cursor,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SyncedRecords {
    Table,
    Id,
    ProjectId,
    Provider,
    Type,
    RemoteId,
    Hash,
    SeenAt,
}

#[derive(DeriveIden)]
enum WebhookReceipts {
    Table,
    Id,
    Provider,
    EventId,
    ProjectId,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum QuotaUsage {
    Table,
    Id,
    Scope,
    RateClass,
    Day,
    Used,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OauthStates::Table)
                    .col(pk_uuid(OauthStates::Id))
                    .col(string_uniq(OauthStates::StateHash))
                    .col(uuid(OauthStates::UserId))
                    .col(uuid(OauthStates::ProjectId))
                    .col(string(OauthStates::Provider))
                    .col(text_null(OauthStates::PkceVerifierEncrypted))
                    .col(text_null(OauthStates::RedirectAfter))
                    .col(timestamp_with_time_zone(OauthStates::CreatedAt))
                    .col(timestamp_with_time_zone(OauthStates::ExpiresAt))
                    .col(timestamp_with_time_zone_null(OauthStates::ConsumedAt))
                    .foreign_key(&mut owned_by(
                        OauthStates::Table,
                        OauthStates::UserId,
                        Users::Table,
                        Users::Id,
                    ))
                    .foreign_key(&mut owned_by(
                        OauthStates::Table,
                        OauthStates::ProjectId,
                        Projects::Table,
                        Projects::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SyncCheckpoints::Table)
                    .col(pk_uuid(SyncCheckpoints::Id))
                    .col(uuid(SyncCheckpoints::UserId))
                    .col(uuid(SyncCheckpoints::ProjectId))
                    .col(string(SyncCheckpoints::Provider))
                    .col(string(SyncCheckpoints::Resource))
                    .col(text(SyncCheckpoints::Cursor))
                    .col(timestamp_with_time_zone(SyncCheckpoints::UpdatedAt))
                    .foreign_key(&mut owned_by(
                        SyncCheckpoints::Table,
                        SyncCheckpoints::UserId,
                        Users::Table,
                        Users::Id,
                    ))
                    .foreign_key(&mut owned_by(
                        SyncCheckpoints::Table,
                        SyncCheckpoints::ProjectId,
                        Projects::Table,
                        Projects::Id,
                    ))
                    .index(
                        Index::create()
                            .name("sync_checkpoints_connection_resource")
                            .col(SyncCheckpoints::UserId)
                            .col(SyncCheckpoints::ProjectId)
                            .col(SyncCheckpoints::Provider)
                            .col(SyncCheckpoints::Resource)
                            .unique(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SyncedRecords::Table)
                    .col(pk_uuid(SyncedRecords::Id))
                    .col(uuid(SyncedRecords::ProjectId))
                    .col(string(SyncedRecords::Provider))
                    .col(string(SyncedRecords::Type))
                    .col(string(SyncedRecords::RemoteId))
                    .col(string(SyncedRecords::Hash))
                    .col(timestamp_with_time_zone(SyncedRecords::SeenAt))
                    .foreign_key(&mut owned_by(
                        SyncedRecords::Table,
                        SyncedRecords::ProjectId,
                        Projects::Table,
                        Projects::Id,
                    ))
                    .index(
                        Index::create()
                            .name("synced_records_record")
                            .col(SyncedRecords::ProjectId)
                            .col(SyncedRecords::Provider)
                            .col(SyncedRecords::Type)
                            .col(SyncedRecords::RemoteId)
                            .unique(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookReceipts::Table)
                    .col(pk_uuid(WebhookReceipts::Id))
                    .col(string(WebhookReceipts::Provider))
                    .col(string(WebhookReceipts::EventId))
                    .col(uuid_null(WebhookReceipts::ProjectId))
                    .col(timestamp_with_time_zone(WebhookReceipts::ReceivedAt))
                    .foreign_key(&mut owned_by(
                        WebhookReceipts::Table,
                        WebhookReceipts::ProjectId,
                        Projects::Table,
                        Projects::Id,
                    ))
                    .index(
                        Index::create()
                            .name("webhook_receipts_event")
                            .col(WebhookReceipts::Provider)
                            .col(WebhookReceipts::EventId)
                            .unique(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(QuotaUsage::Table)
                    .col(pk_uuid(QuotaUsage::Id))
                    .col(string(QuotaUsage::Scope))
                    .col(string(QuotaUsage::RateClass))
                    .col(string(QuotaUsage::Day))
                    .col(big_integer(QuotaUsage::Used).default(0))
                    .col(timestamp_with_time_zone(QuotaUsage::UpdatedAt))
                    .index(
                        Index::create()
                            .name("quota_usage_scope_class_day")
                            .col(QuotaUsage::Scope)
                            .col(QuotaUsage::RateClass)
                            .col(QuotaUsage::Day)
                            .unique(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            QuotaUsage::Table.into_iden(),
            WebhookReceipts::Table.into_iden(),
            SyncedRecords::Table.into_iden(),
            SyncCheckpoints::Table.into_iden(),
            OauthStates::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
