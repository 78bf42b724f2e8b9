//! The change log: append-only, ordered by `seq`, a sequence that only grows per project.

use sea_orm_migration::{prelude::*, schema::*};

use crate::ownership::owned_by;

use crate::m20261126_000001_create_tenants::Projects;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ChangeEvents {
    Table,
    Id,
    ProjectId,
    Seq,
    Op,
    Provider,
    Type,
    RemoteId,
    Data,
    OccurredAt,
    ReceivedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ChangeEvents::Table)
                    .col(pk_uuid(ChangeEvents::Id))
                    .col(uuid(ChangeEvents::ProjectId))
                    .col(big_integer(ChangeEvents::Seq))
                    .col(string(ChangeEvents::Op))
                    .col(string(ChangeEvents::Provider))
                    .col(string(ChangeEvents::Type))
                    .col(string(ChangeEvents::RemoteId))
                    .col(json_binary(ChangeEvents::Data))
                    .col(timestamp_with_time_zone(ChangeEvents::OccurredAt))
                    .col(timestamp_with_time_zone(ChangeEvents::ReceivedAt))
                    .foreign_key(&mut owned_by(
                        ChangeEvents::Table,
                        ChangeEvents::ProjectId,
                        Projects::Table,
                        Projects::Id,
                    ))
                    .index(
                        Index::create()
                            .name("change_events_project_seq")
                            .col(ChangeEvents::ProjectId)
                            .col(ChangeEvents::Seq)
                            .unique(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ChangeEvents::Table).to_owned())
            .await
    }
}
