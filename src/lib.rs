//! Nexus Gateway: one GraphQL endpoint over the SaaS tools a revenue team lives in.
//!
//! The map (DESIGN.md has the whole picture):
//! - [`cli`]: the `nexus` command; `demo`: `nexus demo` (the `demo` feature, on by default);
//!   [`config`]: settings; [`startup`]: `Application::build`.
//! - [`http`]: axum routes — GraphQL over HTTP and WebSocket, health, metrics, playground.
//! - [`auth`]: API keys and JWTs become a [`auth::Tenant`].
//! - [`graphql`]: the schema — unified types, connections, ids, errors, limits.
//! - [`providers`]: the provider catalog; adapters join it one folder each.
//! - [`changes`]: the change log — appends from webhooks and sync, followers for subscriptions.
//! - [`idempotency`]: writes asked for with a key reach the provider once.
//! - [`store`]: the database and its entities (schema in the `migrations` crate).
//! - [`vault`]: token encryption and the credential repository — the only plaintext tokens.
//! - [`telemetry`]: logs and Prometheus metrics.
//! - [`limits`]: the providers' rate classes, kept per connection.
//! - [`upstream`]: the stack every provider call goes through — credentials, retries, timeouts.
//! - [`shutdown`]: the signal every background loop watches, and the record of those loops.

pub mod agents;
pub mod auth;
pub mod changes;
pub mod cli;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod graphql;
pub mod http;
pub mod idempotency;
pub mod limits;
pub mod net;
pub mod oauth;
pub mod providers;
pub mod shutdown;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod upstream;
pub mod vault;
