//! `change_heads`: the last sequence number handed out in each project's change log. An append
//! raises it inside its own transaction, so the row lock orders a project's appenders: a later
//! sequence number commits after an earlier one, and a reader that has seen N never later finds
//! a smaller one appear (which a shared BIGSERIAL cannot promise on PostgreSQL).

use sea_orm_migration::{prelude::*, schema::*};

use crate::{m20261126_000001_create_tenants::Projects, ownership::owned_by};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ChangeHeads {
    Table,
    ProjectId,
    Seq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ChangeHeads::Table)
                    .col(pk_uuid(ChangeHeads::ProjectId))
                    .col(big_integer(ChangeHeads::Seq).default(0))
                    .foreign_key(&mut owned_by(
                        ChangeHeads::Table,
                        ChangeHeads::ProjectId,
                        Projects::Table,
                        Projects::Id,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ChangeHeads::Table).to_owned())
            .await
    }
}
