//! Every table of the gateway, as sea-orm migrations that run unchanged on SQLite and PostgreSQL.
//!
//! Names follow `mYYYYMMDD_NNNNNN_verb_noun`; each file owns one step and its `down`.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_create_tenants;
mod m20261126_000002_create_integration_credentials;
mod m20261126_000003_create_change_events;
mod m20261126_000004_create_sync_and_webhook_tables;
mod m20261126_000005_create_idempotency_keys;
mod m20261126_000006_create_change_heads;
mod m20261126_000007_create_provider_subscriptions;
mod m20261207_000001_add_account_id;
mod m20261207_000002_scrub_delivery_secrets;
mod m20261207_110001_create_copy_tables;
mod m20261207_130001_api_key_lifecycle;
mod m20261207_130002_change_event_users;
mod m20261207_150001_idempotency_claims;
mod m20261207_190001_create_audit_log;
mod m20261207_210001_create_webhook_endpoints;
mod m20261207_210701_copy_comms_columns;
mod ownership;

/// The ordered list of migrations; `nexus migrate` and every start-up run it.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_tenants::Migration),
            Box::new(m20261126_000002_create_integration_credentials::Migration),
            Box::new(m20261126_000003_create_change_events::Migration),
            Box::new(m20261126_000004_create_sync_and_webhook_tables::Migration),
            Box::new(m20261126_000005_create_idempotency_keys::Migration),
            Box::new(m20261126_000006_create_change_heads::Migration),
            Box::new(m20261126_000007_create_provider_subscriptions::Migration),
            Box::new(m20261207_000001_add_account_id::Migration),
            Box::new(m20261207_000002_scrub_delivery_secrets::Migration),
            Box::new(m20261207_110001_create_copy_tables::Migration),
            Box::new(m20261207_130001_api_key_lifecycle::Migration),
            Box::new(m20261207_130002_change_event_users::Migration),
            Box::new(m20261207_150001_idempotency_claims::Migration),
            Box::new(m20261207_190001_create_audit_log::Migration),
            Box::new(m20261207_210001_create_webhook_endpoints::Migration),
            Box::new(m20261207_210701_copy_comms_columns::Migration),
        ]
    }
}
