//! `audit_log`: one row per raw provider call (passthrough) and per MCP tool call — who made it
//! (the project, the user, the API key when it was one), what it was, when, how it ended and
//! how long it took. Rows are only ever added; a project reads its own newest first, by
//! `(at, id)`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    ProjectId,
    UserId,
    KeyId,
    Kind,
    Action,
    Provider,
    Outcome,
    Status,
    DurationMs,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .if_not_exists()
                    .col(uuid(AuditLog::Id).primary_key())
                    .col(uuid(AuditLog::ProjectId))
                    .col(uuid(AuditLog::UserId))
                    .col(uuid_null(AuditLog::KeyId))
                    .col(string(AuditLog::Kind))
                    .col(string(AuditLog::Action))
                    .col(string_null(AuditLog::Provider))
                    .col(string(AuditLog::Outcome))
                    .col(integer_null(AuditLog::Status))
                    .col(big_integer(AuditLog::DurationMs))
                    .col(timestamp_with_time_zone(AuditLog::At))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_log_project_at")
                    .table(AuditLog::Table)
                    .col(AuditLog::ProjectId)
                    .col(AuditLog::At)
                    .col(AuditLog::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditLog::Table).to_owned())
            .await
    }
}
