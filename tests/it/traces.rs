//! Traces as a collector receives them: `nexus demo` with `telemetry.otlp_endpoint` pointed at an
//! OTLP/HTTP receiver in this test (axum on port 0, decoding the protobuf
//! `ExportTraceServiceRequest`), one query sent with a W3C `traceparent`, and the span tree the
//! receiver got once the process stopped: request → GraphQL operation → loader batch → upstream
//! call, all in the caller's trace, each parent the one above; the provider (the sandbox) got a
//! `traceparent` of that trace too.

use std::{
    collections::HashMap,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{AnyValue, KeyValue, any_value::Value as Any},
    trace::v1::{Span, span::SpanKind},
};
use prost::Message;
use serde_json::{Value, json};
use tempfile::TempDir;

/// What the receiver got: each export's content type and its spans, with the service name.
#[derive(Default)]
struct Received {
    content_types: Vec<String>,
    spans: Vec<(String, Span)>,
}

type Shared = Arc<Mutex<Received>>;

async fn export(State(received): State<Shared>, headers: HeaderMap, body: Bytes) -> Vec<u8> {
    let request = ExportTraceServiceRequest::decode(body).expect("an ExportTraceServiceRequest");
    let mut received = received.lock().unwrap();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    received.content_types.push(content_type.to_owned());
    for resource in request.resource_spans {
        let service = resource
            .resource
            .as_ref()
            .and_then(|r| string(&r.attributes, "service.name"))
            .unwrap_or_default();
        for scope in resource.scope_spans {
            for span in scope.spans {
                received.spans.push((service.clone(), span));
            }
        }
    }
    // An empty `ExportTraceServiceResponse`.
    Vec::new()
}

/// The OTLP/HTTP receiver: its base URL and what it got.
async fn receiver() -> (String, Shared) {
    let received = Shared::default();
    let app = Router::new()
        .route("/v1/traces", post(export))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (origin, received)
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Any> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

fn string(attributes: &[KeyValue], key: &str) -> Option<String> {
    match attribute(attributes, key)? {
        Any::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

fn int(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match attribute(attributes, key)? {
        Any::IntValue(n) => Some(*n),
        Any::StringValue(s) => s.parse().ok(),
        _ => None,
    }
}

/// `nexus demo` on free ports, its traces sent to `collector`; killed on drop.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn demo(dir: &Path, collector: &str) -> (Demo, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_nexus"))
        .arg("--data-dir")
        .arg(dir)
        .args(["demo", "--port", "0", "--sandbox-port", "0"])
        .env_remove("DATABASE_URL")
        .env_remove("INTEGRATION_TOKEN_ENCRYPTION_KEY")
        .env("RUST_LOG", "warn")
        .env("NEXUS_TELEMETRY__OTLP_ENDPOINT", collector)
        .env("NEXUS_TELEMETRY__SERVICE_NAME", "nexus-traces-test")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn demo");
    let mut demo = Demo(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(origin) = std::fs::read_to_string(dir.join("gateway-url")) {
            return (demo, origin.trim().to_owned());
        }
        if let Some(status) = demo.0.try_wait().unwrap() {
            panic!("demo exited early: {status}");
        }
        assert!(Instant::now() < deadline, "demo not ready within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// The receiver runs on the test's runtime while the test thread waits for the process: two
// workers keep it answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_query_is_one_trace_from_the_callers_span_to_the_providers_call() {
    let (collector, received) = receiver().await;
    let dir = TempDir::new().unwrap();
    let (mut demo, origin) = demo(dir.path(), &collector);
    let key = std::fs::read_to_string(dir.path().join("demo-api-key")).unwrap();
    let sandbox = std::fs::read_to_string(dir.path().join("sandbox-url")).unwrap();

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let response = reqwest::Client::new()
        .post(format!("{origin}/graphql"))
        .bearer_auth(key.trim())
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .json(&json!({
            "query": "query Traced { contacts(first: 3, providers: [HUBSPOT], maxAge: 0) { nodes { id deals(first: 5) { nodes { id } } } } }",
            "operationName": "Traced",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["errors"].is_null(), "{body}");
    assert!(
        !body["data"]["contacts"]["nodes"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{body}"
    );

    // The provider's side: the calls of this query came with a traceparent of the same trace.
    let arrivals: Value = reqwest::get(format!(
        "{}/_sandbox/arrivals?provider=hubspot",
        sandbox.trim()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let traced: Vec<&str> = arrivals
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["traceparent"].as_str())
        .filter(|t| t.starts_with(&format!("00-{trace_id}-")))
        .collect();
    assert!(!traced.is_empty(), "{arrivals:#}");

    // Stopping flushes the spans not exported yet.
    let sent = Command::new("kill")
        .args(["-TERM", &demo.0.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    assert!(demo.0.wait().unwrap().success());

    let received = received.lock().unwrap();
    assert!(
        received
            .content_types
            .iter()
            .all(|c| c == "application/x-protobuf"),
        "{:?}",
        received.content_types
    );
    let ours: Vec<&Span> = received
        .spans
        .iter()
        .filter(|(_, span)| hex(&span.trace_id) == trace_id)
        .map(|(service, span)| {
            assert_eq!(service, "nexus-traces-test");
            span
        })
        .collect();
    let by_id: HashMap<String, &Span> = ours.iter().map(|s| (hex(&s.span_id), *s)).collect();
    let names: Vec<&str> = ours.iter().map(|s| s.name.as_str()).collect();

    // The request continues the caller's span.
    let request = ours
        .iter()
        .find(|s| s.kind == SpanKind::Server as i32)
        .unwrap_or_else(|| {
            panic!(
                "no request span in {names:?}; received {} spans: {:?}",
                received.spans.len(),
                received
                    .spans
                    .iter()
                    .map(|(_, s)| (s.name.as_str(), hex(&s.trace_id)))
                    .collect::<Vec<_>>()
            )
        });
    assert_eq!(hex(&request.parent_span_id), caller_span);
    assert_eq!(request.name, "POST /graphql");
    assert_eq!(
        int(&request.attributes, "http.response.status_code"),
        Some(200)
    );
    assert!(string(&request.attributes, "request_id").is_some());

    // The operation, under the request.
    let operation = ours
        .iter()
        .find(|s| string(&s.attributes, "graphql.operation.name").as_deref() == Some("Traced"))
        .unwrap_or_else(|| panic!("no operation span in {names:?}"));
    assert_eq!(
        string(&operation.attributes, "graphql.operation.type").as_deref(),
        Some("query")
    );
    assert_eq!(hex(&operation.parent_span_id), hex(&request.span_id));

    // A provider call made by a loader's batch, whose nearest exported ancestor is the operation.
    let upstream: Vec<&&Span> = ours
        .iter()
        .filter(|s| s.kind == SpanKind::Client as i32)
        .collect();
    assert!(!upstream.is_empty(), "no upstream span in {names:?}");
    for call in &upstream {
        assert_eq!(
            string(&call.attributes, "provider").as_deref(),
            Some("hubspot")
        );
        assert!(string(&call.attributes, "op").is_some(), "{call:?}");
        assert!(string(&call.attributes, "rate_class").is_some(), "{call:?}");
        assert_eq!(int(&call.attributes, "retries"), Some(0), "{call:?}");
        assert!(int(&call.attributes, "rate_wait_ms").is_some(), "{call:?}");
        assert!(int(&call.attributes, "retry_wait_ms").is_some(), "{call:?}");
        // Every exported ancestor is in this trace, up to the request.
        let mut at = call.parent_span_id.clone();
        while hex(&at) != hex(&request.span_id) {
            at = by_id
                .get(&hex(&at))
                .unwrap_or_else(|| panic!("{} has a parent outside the trace", call.name))
                .parent_span_id
                .clone();
        }
    }
    let batched = upstream
        .iter()
        .find_map(|call| {
            let parent = by_id.get(&hex(&call.parent_span_id))?;
            (parent.name.starts_with("load ")).then_some((call, parent))
        })
        .unwrap_or_else(|| panic!("no upstream call under a loader batch in {names:?}"));
    let (_, batch) = batched;
    assert!(string(&batch.attributes, "loader").is_some(), "{batch:?}");
    assert!(int(&batch.attributes, "keys").unwrap() >= 1, "{batch:?}");
    assert_eq!(hex(&batch.parent_span_id), hex(&operation.span_id));
    // The provider got the call's own span as its parent.
    let call_ids: Vec<String> = upstream.iter().map(|s| hex(&s.span_id)).collect();
    assert!(
        traced
            .iter()
            .any(|t| call_ids.iter().any(|id| t.contains(id.as_str()))),
        "{traced:?} vs {call_ids:?}"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
