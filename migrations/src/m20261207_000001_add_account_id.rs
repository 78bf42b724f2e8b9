//! `integration_credentials.account_id`: the provider account a connection's metadata names
//! (HubSpot's portal, Slack's team, Salesforce's org, Graph's tenant, a Stripe endpoint), indexed
//! with `provider`, so that a webhook delivery finds its connections by one lookup instead of
//! reading every credential of its provider. The gateway fills it on every write (the catalog's
//! `account`); this step copies it out of the metadata of the rows written before, with the
//! catalog's pointers as they were when the column came.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IntegrationCredentials {
    Table,
    Provider,
    AccountId,
}

const INDEX: &str = "integration_credentials_provider_account";

/// Where each provider's metadata named its account: the JSON path, and the marker the account
/// follows in that value (Salesforce's identity URL `…/id/{org}/{user}`).
const ACCOUNTS: [(&str, &[&str], Option<&str>); 6] = [
    ("salesforce", &["id"], Some("/id/")),
    ("hubspot", &["hub_id"], None),
    ("slack", &["team", "id"], None),
    ("outlook", &["tenant_id"], None),
    ("teams", &["tenant_id"], None),
    ("stripe", &["endpoint_id"], None),
];

/// The SQL of the account at `path` in `metadata` (NULL where it names none).
fn account_sql(backend: DatabaseBackend, path: &[&str], after: Option<&str>) -> String {
    match backend {
        DatabaseBackend::Postgres => {
            let path = format!("'{{{}}}'", path.join(","));
            let text = format!("(metadata #>> {path})");
            let value = match after {
                Some(marker) => {
                    format!("split_part(split_part({text}, '{marker}', 2), '/', 1)")
                }
                None => text,
            };
            format!(
                "CASE WHEN jsonb_typeof(metadata #> {path}) IN ('string', 'number') \
                 THEN NULLIF({value}, '') END"
            )
        }
        _ => {
            let path = format!("'$.{}'", path.join("."));
            let text = format!("CAST(json_extract(metadata, {path}) AS TEXT)");
            let value = match after {
                Some(marker) => {
                    let rest = format!(
                        "substr({text}, instr({text}, '{marker}') + {})",
                        marker.len()
                    );
                    format!(
                        "CASE WHEN instr({text}, '{marker}') > 0 THEN \
                         CASE WHEN instr({rest}, '/') > 0 \
                         THEN substr({rest}, 1, instr({rest}, '/') - 1) ELSE {rest} END END"
                    )
                }
                None => text,
            };
            format!(
                "CASE WHEN json_valid(metadata) AND json_type(metadata, {path}) IN ('text', 'integer') \
                 THEN NULLIF({value}, '') END"
            )
        }
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(IntegrationCredentials::Table)
                    .add_column(string_null(IntegrationCredentials::AccountId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(IntegrationCredentials::Table)
                    .col(IntegrationCredentials::Provider)
                    .col(IntegrationCredentials::AccountId)
                    .to_owned(),
            )
            .await?;
        let backend = manager.get_database_backend();
        let db = manager.get_connection();
        for (provider, path, after) in ACCOUNTS {
            db.execute_unprepared(&format!(
                "UPDATE integration_credentials SET account_id = {} WHERE provider = '{provider}'",
                account_sql(backend, path, after)
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(IntegrationCredentials::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(IntegrationCredentials::Table)
                    .drop_column(IntegrationCredentials::AccountId)
                    .to_owned(),
            )
            .await
    }
}
