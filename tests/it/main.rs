//! The integration suite: one test binary (each `tests/*.rs` would link the whole graph again).
//!
//! `helpers::spawn_app()` starts the gateway in-process on port 0 with a fresh SQLite database;
//! `cli` drives the real `nexus` binary. Tests that need Node packages or Chromium run when those
//! are present and skip with a message otherwise — unless `NEXUS_TEST_STRICT=1` (set by `.ci/run`),
//! which turns a missing tool into a failure.

mod auth;
mod browser_apps;
mod calendar;
mod caller_limits;
mod changes;
mod chat;
mod cli;
mod comms_nodes;
mod connect;
mod connect_errors;
mod connections;
mod crm;
mod crm_writes;
mod deploy;
mod federation;
mod field_errors;
mod google_push;
mod graph_delta;
mod graph_notifications;
mod graphql_http;
mod helpers;
mod keys;
mod limits;
mod limits_upstream;
mod logs;
mod mail;
mod mcp;
mod metrics;
mod node;
mod ops;
mod passthrough;
mod playground_serve;
mod read_model;
mod readiness;
mod reads;
mod refresh;
mod request_ids;
mod salesforce_outbound;
mod sandbox_calendar;
mod sandbox_fields;
mod sandbox_gmail;
mod sandbox_graph;
mod sandbox_hubspot;
mod sandbox_salesforce;
mod sandbox_slack;
mod sandbox_strict;
mod sandbox_stripe;
mod schema;
mod schema_guard;
mod secrets_manager;
mod sends_once;
mod sends_under_faults;
mod shutdown;
mod strict_gateway;
mod subscriber;
mod sync;
mod tenancy;
mod traces;
mod url_guard;
mod vault;
mod walls;
mod webhooks_out;
