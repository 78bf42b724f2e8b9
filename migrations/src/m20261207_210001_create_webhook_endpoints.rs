//! `webhook_endpoints` and `webhook_deliveries`: partners' endpoints that the change log is
//! pushed to (Standard Webhooks), and the log of every attempt to deliver to them.
//!
//! An endpoint row is also its delivery state: `cursor` is the last sequence number of the
//! project's log delivered (advanced only after a 2xx), `failing_since` when the event at its
//! head first failed, and `lease_owner`/`lease_until` which gateway delivers to it now. The
//! signing secrets are stored sealed by the vault, never in the clear. Deliveries are read per
//! endpoint, newest first, by `(attempted_at, id)`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Id,
    ProjectId,
    UserId,
    SeesProject,
    Url,
    Types,
    Providers,
    Enabled,
    Secret,
    PreviousSecret,
    PreviousUntil,
    Cursor,
    FailingSince,
    LeaseOwner,
    LeaseUntil,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    EndpointId,
    EventId,
    Seq,
    Status,
    Error,
    LatencyMs,
    ResponseExcerpt,
    AttemptedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpoints::Table)
                    .if_not_exists()
                    .col(uuid(WebhookEndpoints::Id).primary_key())
                    .col(uuid(WebhookEndpoints::ProjectId))
                    .col(uuid(WebhookEndpoints::UserId))
                    .col(boolean(WebhookEndpoints::SeesProject))
                    .col(text(WebhookEndpoints::Url))
                    .col(json_null(WebhookEndpoints::Types))
                    .col(json_null(WebhookEndpoints::Providers))
                    .col(boolean(WebhookEndpoints::Enabled))
                    .col(text(WebhookEndpoints::Secret))
                    .col(text_null(WebhookEndpoints::PreviousSecret))
                    .col(timestamp_with_time_zone_null(
                        WebhookEndpoints::PreviousUntil,
                    ))
                    .col(big_integer(WebhookEndpoints::Cursor))
                    .col(timestamp_with_time_zone_null(
                        WebhookEndpoints::FailingSince,
                    ))
                    .col(uuid_null(WebhookEndpoints::LeaseOwner))
                    .col(timestamp_with_time_zone_null(WebhookEndpoints::LeaseUntil))
                    .col(timestamp_with_time_zone(WebhookEndpoints::CreatedAt))
                    .col(timestamp_with_time_zone(WebhookEndpoints::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_endpoints_project_created")
                    .table(WebhookEndpoints::Table)
                    .col(WebhookEndpoints::ProjectId)
                    .col(WebhookEndpoints::CreatedAt)
                    .col(WebhookEndpoints::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .if_not_exists()
                    .col(uuid(WebhookDeliveries::Id).primary_key())
                    .col(uuid(WebhookDeliveries::EndpointId))
                    .col(uuid(WebhookDeliveries::EventId))
                    .col(big_integer(WebhookDeliveries::Seq))
                    .col(integer_null(WebhookDeliveries::Status))
                    .col(text_null(WebhookDeliveries::Error))
                    .col(big_integer(WebhookDeliveries::LatencyMs))
                    .col(text(WebhookDeliveries::ResponseExcerpt))
                    .col(timestamp_with_time_zone(WebhookDeliveries::AttemptedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_endpoint_at")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::EndpointId)
                    .col(WebhookDeliveries::AttemptedAt)
                    .col(WebhookDeliveries::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookDeliveries::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(WebhookEndpoints::Table).to_owned())
            .await
    }
}
