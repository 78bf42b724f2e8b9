//! Logs (tracing, to stderr) and metrics (the `metrics` facade, rendered as Prometheus text).
//!
//! Logs are `pretty` (one line for people, coloured on a terminal only) or `json` (one object a
//! line, from tracing-subscriber's JSON format: the event's fields at the top level beside
//! `timestamp`, `level`, `target` and `message`, and the spans it happened in, outermost first,
//! under `spans`). `log.format` chooses; unset, a terminal gets `pretty` and anything else
//! (a pipe, a file, a log collector) `json`. A request's span carries its `request_id`, so
//! every line written while the request is served has it.

use std::{io::IsTerminal, sync::OnceLock};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, fmt};

use crate::config::{LogFormat, LogSettings};

/// Request latency buckets, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The histogram of GraphQL request latency.
pub const REQUEST_DURATION: &str = "nexus_graphql_request_duration_seconds";
/// The counter of GraphQL requests by operation and outcome.
pub const REQUESTS: &str = "nexus_graphql_requests_total";

/// Logs to stderr in the format `settings` ask for; `RUST_LOG` overrides the default level.
pub fn init_logging(default: &str, settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let terminal = std::io::stderr().is_terminal();
    let format = settings.format.unwrap_or(if terminal {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(terminal);
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .try_init(),
    };
}

/// The process-wide Prometheus recorder (installed on first use).
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.into()), LATENCY_BUCKETS)
                .expect("latency buckets are not empty")
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}
