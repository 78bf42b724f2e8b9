//! Deliveries' authentication material out of the change log. Graph notifications were stored
//! with their `clientState` (the secret a notification proves itself with) and Slack envelopes
//! with their verification `token`; whoever read `changes { data }` could forge deliveries with
//! them. The gateway no longer stores either; this step removes them from the rows written
//! before. It cannot be undone: `down` leaves the rows as they are.

use sea_orm_migration::{prelude::*, sea_orm::DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The top-level keys of a provider's payload that authenticate its deliveries.
const SECRETS: [(&str, &str); 3] = [
    ("outlook", "clientState"),
    ("teams", "clientState"),
    ("slack", "token"),
];

/// The statement that drops `key` from the data of `provider`'s events (`data` is `jsonb` on
/// PostgreSQL and JSON text on SQLite).
fn scrub_sql(backend: DatabaseBackend, provider: &str, key: &str) -> String {
    match backend {
        DatabaseBackend::Postgres => format!(
            "UPDATE change_events SET data = data - '{key}' \
             WHERE provider = '{provider}' AND jsonb_typeof(data) = 'object'"
        ),
        _ => format!(
            "UPDATE change_events SET data = json_remove(data, '$.{key}') \
             WHERE provider = '{provider}' \
             AND CASE WHEN json_valid(data) THEN json_type(data) = 'object' ELSE 0 END"
        ),
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let db = manager.get_connection();
        for (provider, key) in SECRETS {
            db.execute_unprepared(&scrub_sql(backend, provider, key))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
