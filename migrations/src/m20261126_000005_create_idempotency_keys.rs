//! `idempotency_keys`: the writes a client asked for with an `idempotencyKey`, so that a repeat
//! returns the first result and changes nothing at the provider. A row is claimed before the
//! write (the unique key makes concurrent repeats wait their turn or see the first one's
//! result) and holds the record the write produced once it is done.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{m20261126_000001_create_tenants::Projects, ownership::owned_by};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    Id,
    ProjectId,
    Operation,
    Key,
    Result,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(pk_uuid(IdempotencyKeys::Id))
                    .col(uuid(IdempotencyKeys::ProjectId))
                    .col(string(IdempotencyKeys::Operation))
                    .col(string(IdempotencyKeys::Key))
                    .col(text_null(IdempotencyKeys::Result))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    .foreign_key(&mut owned_by(
                        IdempotencyKeys::Table,
                        IdempotencyKeys::ProjectId,
                        Projects::Table,
                        Projects::Id,
                    ))
                    .index(
                        Index::create()
                            .name("idempotency_keys_unique")
                            .col(IdempotencyKeys::ProjectId)
                            .col(IdempotencyKeys::Operation)
                            .col(IdempotencyKeys::Key)
                            .unique(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned())
            .await
    }
}
