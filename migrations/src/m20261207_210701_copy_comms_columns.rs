//! The copy of mail, events and messages (`changes::sync::comms`) keeps two more columns in
//! `copy_records`: `channel`, the chat channel a message is in (Slack `C…`, Teams
//! `{team}/{channel}`), and `thread`, the thread it belongs to (Slack parent `ts`, Teams parent
//! id, Gmail and Outlook conversation ids), so that a channel's or a thread's messages are read
//! through an index. CRM records leave both empty.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum CopyRecords {
    Table,
    UserId,
    ProjectId,
    Provider,
    Type,
    Channel,
    Thread,
}

/// SQLite alters one column a statement.
fn add(column: ColumnDef) -> TableAlterStatement {
    Table::alter()
        .table(CopyRecords::Table)
        .add_column(column)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            string_null(CopyRecords::Channel),
            string_null(CopyRecords::Thread),
        ] {
            manager.alter_table(add(column)).await?;
        }
        for (name, column) in [
            ("copy_records_channel", CopyRecords::Channel),
            ("copy_records_thread", CopyRecords::Thread),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(CopyRecords::Table)
                        .col(CopyRecords::UserId)
                        .col(CopyRecords::ProjectId)
                        .col(CopyRecords::Provider)
                        .col(CopyRecords::Type)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["copy_records_thread", "copy_records_channel"] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(CopyRecords::Table)
                        .to_owned(),
                )
                .await?;
        }
        for column in [CopyRecords::Thread, CopyRecords::Channel] {
            manager
                .alter_table(
                    Table::alter()
                        .table(CopyRecords::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
