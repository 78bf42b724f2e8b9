//! Traces: tracing's spans exported as OpenTelemetry spans over OTLP/HTTP (protobuf, through
//! reqwest; no gRPC), when `telemetry.otlp_endpoint` names a collector. Off, none of this runs:
//! no layer, no exporter, no `traceparent` read or sent.
//!
//! Four kinds of span are exported, each marked by an `otel.kind` field, and no other span or log
//! event is (the logs go to stderr):
//!
//! - `request` (server): one per HTTP request, named by method and path, with its `request_id`
//!   and `http.response.status_code`. A request that arrives with a W3C `traceparent` continues
//!   the caller's trace ([`continue_trace`]).
//! - `graphql.operation` (internal): the operation executed, with `graphql.operation.name` and
//!   `graphql.operation.type`.
//! - `loader.batch` (internal): one batch of a dataloader (`loader`, `keys`).
//! - `upstream` (client): one call to a provider through the upstream stack, with `provider`,
//!   `op`, `rate_class`, `retries`, `retry_wait_ms`, `rate_wait_ms` and `outcome`; the call's
//!   requests carry a `traceparent` naming it ([`inject`]).
//!
//! A span that is not exported is skipped over: an exported span's parent is its nearest
//! exported ancestor. Spans are sent in batches from a task on the runtime; [`flush`] sends what
//! is left when the gateway stops.

use std::{future::Future, sync::OnceLock, time::Duration};

use futures_util::future::Either;

use http::HeaderMap;
use opentelemetry::{KeyValue, context::FutureExt, global, trace::TracerProvider as _};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    runtime,
    trace::{Sampler, SdkTracerProvider, span_processor_with_async_runtime::BatchSpanProcessor},
};
use tracing::{Subscriber, span::Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{Layer, filter::filter_fn, registry::LookupSpan};

use crate::config::TelemetrySettings;

/// The provider of the process's traces, once they are switched on.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Why traces could not be switched on.
#[derive(Debug, thiserror::Error)]
pub enum TracesError {
    #[error("telemetry.otlp_endpoint must be an http(s) URL, such as http://collector:4318: {0}")]
    Endpoint(String),
    #[error("telemetry.sample_ratio must be between 0 and 1")]
    SampleRatio,
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// Where spans go: `/v1/traces` below the base URL `endpoint`.
pub fn traces_url(endpoint: &str) -> Result<String, TracesError> {
    let url = url::Url::parse(endpoint.trim()).map_err(|e| TracesError::Endpoint(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(TracesError::Endpoint(format!("`{endpoint}`")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(TracesError::Endpoint(
            "a base URL has no query or fragment".into(),
        ));
    }
    Ok(format!("{}/v1/traces", url.as_str().trim_end_matches('/')))
}

/// The layer exporting the gateway's spans, when `settings` name a collector; it also makes
/// `traceparent` read on requests and written on upstream calls. Must run on the runtime.
pub fn layer<S>(settings: &TelemetrySettings) -> Result<Option<impl Layer<S>>, TracesError>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(endpoint) = settings.otlp_endpoint.as_deref() else {
        return Ok(None);
    };
    if !(0.0..=1.0).contains(&settings.sample_ratio) {
        return Err(TracesError::SampleRatio);
    }
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(traces_url(endpoint)?)
        .with_timeout(Duration::from_millis(settings.export_timeout_ms))
        .build()?;
    let resource = Resource::builder()
        .with_service_name(settings.service_name.clone())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(exporter, runtime::Tokio).build())
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            settings.sample_ratio,
        ))))
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("nexus");
    if PROVIDER.set(provider).is_err() {
        // Switched on once per process; a second subscriber would not be installed either.
        return Ok(None);
    }
    global::set_text_map_propagator(TraceContextPropagator::new());
    let exported = filter_fn(|meta| meta.is_span() && meta.fields().field("otel.kind").is_some());
    Ok(Some(
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false)
            .with_filter(exported),
    ))
}

/// Whether spans are exported.
pub fn enabled() -> bool {
    PROVIDER.get().is_some()
}

/// Makes `span` continue the trace a request's `traceparent` names, when it has one.
pub fn continue_trace(span: &Span, headers: &HeaderMap) {
    if !enabled() {
        return;
    }
    let caller = global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)));
    // Fails only when the span is not exported.
    let _ = span.set_parent(caller);
}

/// Adds the current span's `traceparent` to `headers`, for the provider's side of the call.
pub fn inject(headers: &mut HeaderMap) {
    if !enabled() {
        return;
    }
    let context = Span::current().context();
    global::get_text_map_propagator(|p| p.inject_context(&context, &mut HeaderInjector(headers)));
}

/// `task`, run in the current trace: for work handed to a task of its own (a dataloader's
/// batch), whose spans would otherwise begin traces of their own.
pub fn in_current_trace<F: Future>(task: F) -> impl Future<Output = F::Output> {
    if enabled() {
        Either::Left(task.with_current_context())
    } else {
        Either::Right(task)
    }
}

/// Sends the spans not yet exported and stops the exporter; for the end of the process.
pub async fn flush() {
    let Some(provider) = PROVIDER.get().cloned() else {
        return;
    };
    match tokio::task::spawn_blocking(move || provider.shutdown()).await {
        Ok(Ok(())) => {}
        Ok(Err(cause)) => tracing::warn!(%cause, "exporting the last spans"),
        Err(cause) => tracing::warn!(%cause, "exporting the last spans"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_appended_to_the_base_url() {
        for base in ["http://collector:4318", "http://collector:4318/"] {
            assert_eq!(traces_url(base).unwrap(), "http://collector:4318/v1/traces");
        }
        assert_eq!(
            traces_url("https://otel.example/ingest").unwrap(),
            "https://otel.example/ingest/v1/traces"
        );
        for bad in [
            "collector:4318",
            "ftp://collector",
            "http://c:4318/?x=1",
            "",
        ] {
            assert!(traces_url(bad).is_err(), "{bad}");
        }
    }
}
