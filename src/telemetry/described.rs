//! What each metric family means: the `# HELP` line `/metrics` shows above it, and the unit.
//! Every family the gateway records is listed here ([`FAMILIES`]), so the text an operator reads
//! lives in one place; a family recorded elsewhere but not listed here would show without help,
//! which the metrics test catches. The process's own families are described by
//! [`super::process`].
//!
//! Labels stay bounded: provider slugs, type and op names from the catalog, rate class names,
//! outcomes, and the operation label capped by [`super::operation_label`]. No metric is labelled
//! by a user, project, connection or record.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

use super::{REQUEST_DURATION, REQUESTS};

/// Open `changes` subscriptions.
pub const SUBSCRIPTIONS_OPEN: &str = "nexus_subscriptions_open";
/// Provider webhook deliveries received, by provider and outcome.
pub const WEBHOOK_DELIVERIES: &str = "nexus_webhook_deliveries_total";
/// Provider webhook deliveries being handled, by provider.
pub const WEBHOOK_DELIVERIES_IN_FLIGHT: &str = "nexus_webhook_deliveries_in_flight";
/// Seconds since the start of the last complete sync pass, oldest connection first.
pub const SYNC_LAG: &str = "nexus_sync_lag_seconds";
/// Connections whose copy of a type has had a complete pass.
pub const SYNCED_CONNECTIONS: &str = "nexus_sync_connections";

/// The kind of a family.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every family the gateway records: name, kind, unit and help.
pub const FAMILIES: &[(&str, Kind, Option<Unit>, &str)] = &[
    (
        REQUESTS,
        Kind::Counter,
        None,
        "GraphQL requests over HTTP, by operation name (the first 100 distinct names, then `other`) and outcome (ok, error, rejected, bad_request, unauthenticated, rate_limited).",
    ),
    (
        REQUEST_DURATION,
        Kind::Histogram,
        Some(Unit::Seconds),
        "Time from a GraphQL request's arrival to its answer, for requests that reached the schema, by operation name.",
    ),
    (
        "nexus_upstream_calls_total",
        Kind::Counter,
        None,
        "Calls to providers through the upstream stack (retries included in one call), by provider, op and outcome (ok, error).",
    ),
    (
        "nexus_upstream_retries_total",
        Kind::Counter,
        None,
        "Retries of upstream calls after a failure the provider may recover from, by provider and op.",
    ),
    (
        "nexus_upstream_retries_refused_total",
        Kind::Counter,
        None,
        "Retries not made because the provider's retry budget was spent, by provider.",
    ),
    (
        "nexus_upstream_429_total",
        Kind::Counter,
        None,
        "Answers `429 Too Many Requests` from providers, by provider and op.",
    ),
    (
        "nexus_breaker_opened_total",
        Kind::Counter,
        None,
        "Circuit breakers opened after repeated failures of a connection's provider, by provider.",
    ),
    (
        "nexus_breaker_open",
        Kind::Gauge,
        None,
        "Connections whose circuit breaker is open now, by provider.",
    ),
    (
        "nexus_rate_checks_total",
        Kind::Counter,
        None,
        "Upstream calls checked against a rate class of the catalog, by provider and class.",
    ),
    (
        "nexus_rate_waits_total",
        Kind::Counter,
        None,
        "Upstream calls that waited for room in a rate class, by provider and class.",
    ),
    (
        "nexus_rate_limited_total",
        Kind::Counter,
        None,
        "Upstream calls refused by the gateway's own rate limiting (no room in time, or the quota spent), by provider and class.",
    ),
    (
        crate::limits::DEGRADED,
        Kind::Gauge,
        None,
        "1 while the shared rate limits' Redis is unreachable and this gateway counts its share of each allowance (capacity / limits.assumed_instances) in memory; 0 while they count in Redis. Absent with limits.backend = \"local\".",
    ),
    (
        "nexus_quota_remaining",
        Kind::Gauge,
        None,
        "What is left of a daily quota after the last call that spent from it, by provider and class.",
    ),
    (
        "nexus_reads_total",
        Kind::Counter,
        None,
        "Records read for callers, by provider, type and source (live, synced, cached).",
    ),
    (
        "nexus_copy_age_seconds",
        Kind::Gauge,
        Some(Unit::Seconds),
        "Age of the synced copy at the last read it answered, by provider and type.",
    ),
    (
        "nexus_mail_cache_total",
        Kind::Counter,
        None,
        "Lookups in the cache of mail pages, by provider and outcome (hit, miss).",
    ),
    (
        "nexus_backfills_running",
        Kind::Gauge,
        None,
        "First sync passes running now (a new connection's copy being filled), by provider and type.",
    ),
    (
        "nexus_backfill_records_total",
        Kind::Counter,
        None,
        "Records read by first sync passes, by provider and type.",
    ),
    (
        SYNC_LAG,
        Kind::Gauge,
        Some(Unit::Seconds),
        "Seconds since the start of the last complete sync pass of the connection furthest behind, by provider and type: how stale the synced copy may be.",
    ),
    (
        SYNCED_CONNECTIONS,
        Kind::Gauge,
        None,
        "Connections whose copy of a type has had a complete sync pass, by provider and type.",
    ),
    (
        SUBSCRIPTIONS_OPEN,
        Kind::Gauge,
        None,
        "Open `changes` subscriptions.",
    ),
    (
        WEBHOOK_DELIVERIES,
        Kind::Counter,
        None,
        "Webhook deliveries received from providers, by provider and outcome (stored, duplicate, challenge, accepted, refused, unauthenticated, not_served, unavailable).",
    ),
    (
        WEBHOOK_DELIVERIES_IN_FLIGHT,
        Kind::Gauge,
        None,
        "Webhook deliveries from providers being verified and stored now, by provider.",
    ),
];

/// Describes every family to the installed recorder.
pub fn describe() {
    for &(name, kind, unit, help) in FAMILIES {
        match (kind, unit) {
            (Kind::Counter, Some(unit)) => describe_counter!(name, unit, help),
            (Kind::Counter, None) => describe_counter!(name, help),
            (Kind::Gauge, Some(unit)) => describe_gauge!(name, unit, help),
            (Kind::Gauge, None) => describe_gauge!(name, help),
            (Kind::Histogram, Some(unit)) => describe_histogram!(name, unit, help),
            (Kind::Histogram, None) => describe_histogram!(name, help),
        }
    }
    super::process::describe();
}

/// A gauge raised while the guard lives: work in flight, an open subscription.
pub struct InFlight(metrics::Gauge);

impl InFlight {
    pub fn new(gauge: metrics::Gauge) -> Self {
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}
