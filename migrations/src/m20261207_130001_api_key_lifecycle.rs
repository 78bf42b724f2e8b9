//! What an API key may do and how long it lives: `scopes` (space-delimited, as OAuth writes
//! them), an optional `label` and `expires_at`. `last_used_at` was there from the start. Keys
//! made before this step get `read write` — what every key could do until then, short of the
//! project's whole change stream (`changes:project`) and the raw passthrough.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Scopes,
    Label,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        for column in [
            string(ApiKeys::Scopes).default("read write").to_owned(),
            string_null(ApiKeys::Label),
            timestamp_with_time_zone_null(ApiKeys::ExpiresAt),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ApiKeys::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [ApiKeys::ExpiresAt, ApiKeys::Label, ApiKeys::Scopes] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ApiKeys::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
