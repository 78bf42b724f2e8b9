//! sea-orm entities, one file per table of `migrations/`.

pub mod api_keys;
pub mod audit_log;
pub mod change_events;
pub mod change_heads;
pub mod copy_links;
pub mod copy_records;
pub mod copy_status;
pub mod copy_terms;
pub mod idempotency_keys;
pub mod integration_credentials;
pub mod oauth_states;
pub mod projects;
pub mod provider_subscriptions;
pub mod quota_usage;
pub mod sync_checkpoints;
pub mod synced_records;
pub mod users;
pub mod webhook_deliveries;
pub mod webhook_endpoints;
pub mod webhook_receipts;
