//! `idempotency_keys` claims that survive failures: a hash of the write's input (the same key
//! with other input is refused), the owner and its lease (a claim whose owner died is taken over
//! once the lease runs out), and the state a taker-over must settle (`running`, `unknown`,
//! `sent`). Claims made before have no hash, no owner and no lease; the ones still without a
//! result become `unknown`, so that the next repeat looks their write up before writing.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    InputHash,
    Owner,
    LeaseUntil,
    State,
}

/// SQLite alters one column a statement.
fn add(column: ColumnDef) -> TableAlterStatement {
    Table::alter()
        .table(IdempotencyKeys::Table)
        .add_column(column)
        .to_owned()
}

fn drop(column: IdempotencyKeys) -> TableAlterStatement {
    Table::alter()
        .table(IdempotencyKeys::Table)
        .drop_column(column)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            string_null(IdempotencyKeys::InputHash),
            string_null(IdempotencyKeys::Owner),
            timestamp_with_time_zone_null(IdempotencyKeys::LeaseUntil),
            string(IdempotencyKeys::State).default("unknown").to_owned(),
        ] {
            manager.alter_table(add(column)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            IdempotencyKeys::State,
            IdempotencyKeys::LeaseUntil,
            IdempotencyKeys::Owner,
            IdempotencyKeys::InputHash,
        ] {
            manager.alter_table(drop(column)).await?;
        }
        Ok(())
    }
}
