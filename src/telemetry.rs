//! Logs (tracing, to stderr), traces (tracing's spans over OTLP, [`traces`], when a collector is
//! configured) and metrics (the `metrics` facade, rendered as Prometheus text; every family is
//! described in [`described`], and the process's own figures come from [`process`]).
//!
//! Every distinct label value is a series the recorder keeps for the life of the process, and
//! the operation name is the client's to choose: [`operation_label`] labels at most
//! [`MAX_OPERATIONS`] distinct names, the first ones seen, and counts every later name as
//! `other`, so no client can grow `/metrics` or the process without bound.
//!
//! Logs are `pretty` (one line for people, coloured on a terminal only) or `json` (one object a
//! line, from tracing-subscriber's JSON format: the event's fields at the top level beside
//! `timestamp`, `level`, `target` and `message`, and the spans it happened in, outermost first,
//! under `spans`). `log.format` chooses; unset, a terminal gets `pretty` and anything else
//! (a pipe, a file, a log collector) `json`. A request's span carries its `request_id`, so
//! every line written while the request is served has it.

use std::{
    collections::HashSet,
    io::IsTerminal,
    sync::{OnceLock, RwLock},
};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, Layer, fmt, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::{LogFormat, LogSettings, TelemetrySettings};

pub mod described;
pub mod process;
pub mod traces;

/// Request latency buckets, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The histogram of GraphQL request latency.
pub const REQUEST_DURATION: &str = "nexus_graphql_request_duration_seconds";
/// The counter of GraphQL requests by operation and outcome.
pub const REQUESTS: &str = "nexus_graphql_requests_total";

/// Distinct operation names the metrics label; later ones are `other`.
pub const MAX_OPERATIONS: usize = 100;
/// The label of every operation name past the first [`MAX_OPERATIONS`].
pub const OTHER_OPERATION: &str = "other";

/// The operation label for `name`: the name itself while it is one of the first
/// [`MAX_OPERATIONS`] distinct names seen by this process, `other` after that.
pub fn operation_label(name: &str) -> String {
    static SEEN: OnceLock<RwLock<HashSet<String>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    let known = seen
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .contains(name);
    if known {
        return name.to_owned();
    }
    let mut seen = seen
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if seen.contains(name) || seen.len() < MAX_OPERATIONS && seen.insert(name.to_owned()) {
        name.to_owned()
    } else {
        OTHER_OPERATION.to_owned()
    }
}

/// Logs to stderr in the format `settings` ask for (`RUST_LOG` overrides the default level), and
/// exports spans when `telemetry` names a collector. Must run on the runtime.
pub fn init_logging(
    default: &str,
    settings: &LogSettings,
    telemetry: &TelemetrySettings,
) -> Result<(), traces::TracesError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let terminal = std::io::stderr().is_terminal();
    let format = settings.format.unwrap_or(if terminal {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    let logs = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(terminal);
    // Each layer has its own filter: the log level decides what is written, not which spans
    // are exported.
    let logs = match format {
        LogFormat::Pretty => logs.with_filter(filter).boxed(),
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .with_filter(filter)
            .boxed(),
    };
    let registry = tracing_subscriber::registry().with(logs);
    let _ = match traces::layer(telemetry)? {
        Some(traces) => registry.with(traces).try_init(),
        None => registry.try_init(),
    };
    Ok(())
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
                .inspect(|_| described::describe())
                .expect("no other metrics recorder is installed")
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_past_the_cap_are_other_and_known_names_stay() {
        let first = operation_label("CapProbeFirst");
        let labels: HashSet<String> = (0..MAX_OPERATIONS * 3)
            .map(|i| operation_label(&format!("CapProbe{i}")))
            .collect();
        assert!(labels.contains(OTHER_OPERATION));
        assert!(labels.len() <= MAX_OPERATIONS + 1, "{}", labels.len());
        assert_eq!(operation_label("CapProbeFirst"), first);
    }
}
