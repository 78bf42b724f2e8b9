//! Fan-out of the change stream: `CHANGES_BENCH_SUBSCRIBERS` (1,000) WebSocket subscribers of
//! `subscription { changes }` on one gateway (`nexus demo`, SQLite), while
//! `CHANGES_BENCH_EVENTS` (200) Stripe events are delivered to `/webhooks/stripe`, signed, one
//! after the other. Append-to-client latency is measured from just before each webhook POST to
//! the moment each subscriber has the event; p50/p99 over every (event, subscriber) pair, the
//! throughput of deliveries, and the gateway's peak RSS (VmHWM) are printed.
//!
//! `cargo bench --bench changes`.

mod support;

use std::{
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use support::{Process, env_or, peak_rss_mib, wait_for_file};
use tokio_tungstenite::{
    connect_async,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};

/// When each event (by index) was posted.
type Sent = Arc<Mutex<Vec<Option<Instant>>>>;

/// One subscriber: connects, subscribes from the start, and records how long each event took.
async fn subscriber(
    url: String,
    key: String,
    events: usize,
    sent: Sent,
    ready: tokio::sync::mpsc::Sender<()>,
) -> Vec<Duration> {
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = connect_async(request).await.expect("websocket");
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {key}") } });
    socket.send(Message::text(init.to_string())).await.unwrap();
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": {
        "query": "subscription($after: String) { changes(after: $after) { cursor remoteId } }",
        "variables": { "after": "Y2hhbmdlOjA" },
    } });
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
    ready.send(()).await.unwrap();
    let mut latencies = Vec::with_capacity(events);
    while latencies.len() < events {
        let Some(Ok(Message::Text(text))) = socket.next().await else {
            panic!("the socket closed");
        };
        let message: Value = serde_json::from_str(&text).unwrap();
        match message["type"].as_str() {
            Some("next") => {
                let remote_id = message["payload"]["data"]["changes"]["remoteId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{message}"));
                let index: usize = remote_id.trim_start_matches("cus_").parse().unwrap();
                let at = sent.lock().unwrap()[index].expect("received after it was sent");
                latencies.push(at.elapsed());
            }
            Some("ping") => {
                let pong = json!({ "type": "pong" }).to_string();
                socket.send(Message::text(pong)).await.unwrap();
            }
            _ => {}
        }
    }
    let _ = socket.close(None).await;
    latencies
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let subscribers = env_or("CHANGES_BENCH_SUBSCRIBERS", 1000) as usize;
    let events = env_or("CHANGES_BENCH_EVENTS", 200) as usize;
    let binary = env!("CARGO_BIN_EXE_nexus");
    let dir = tempfile::TempDir::new().unwrap();
    let mut gateway = Process(
        Command::new(binary)
            .args([
                "demo",
                "--port",
                "0",
                "--sandbox-port",
                "0",
                "--no-connect",
                "--data-dir",
            ])
            .arg(dir.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let origin = wait_for_file(&dir.path().join("gateway-url"), &mut gateway);
    let read = |name: &str| {
        std::fs::read_to_string(dir.path().join(name))
            .unwrap()
            .trim()
            .to_owned()
    };
    let key = read("demo-api-key");
    let secret = read("stripe-webhook-secret");
    let ws_url = format!("{}/graphql", origin.replacen("http://", "ws://", 1));

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let sent: Sent = Arc::new(Mutex::new(vec![None; events]));
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(subscribers);
        let connecting = Instant::now();
        let tasks: Vec<_> = (0..subscribers)
            .map(|_| {
                tokio::spawn(subscriber(
                    ws_url.clone(),
                    key.clone(),
                    events,
                    sent.clone(),
                    ready_tx.clone(),
                ))
            })
            .collect();
        for _ in 0..subscribers {
            ready_rx.recv().await.unwrap();
        }
        println!(
            "{subscribers} subscribers connected in {:.2} s; gateway RSS {:.1} MiB",
            connecting.elapsed().as_secs_f64(),
            peak_rss_mib(&gateway.0.id().to_string())
        );
        let client = reqwest::Client::new();
        let started = Instant::now();
        for i in 0..events {
            let body = json!({
                "id": format!("evt_bench_{i}"), "object": "event", "created": chrono::Utc::now().timestamp(),
                "type": "customer.updated", "data": { "object": { "id": format!("cus_{i}") } },
            })
            .to_string();
            let signature =
                nexus_sandbox::stripe::signature(&secret, chrono::Utc::now().timestamp(), &body);
            sent.lock().unwrap()[i] = Some(Instant::now());
            let response = client
                .post(format!("{origin}/webhooks/stripe"))
                .header("stripe-signature", signature)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
        let mut latencies = Vec::with_capacity(subscribers * events);
        for task in tasks {
            latencies.extend(task.await.unwrap());
        }
        let elapsed = started.elapsed().as_secs_f64();
        latencies.sort();
        let at = |q: f64| {
            let i = ((latencies.len() as f64 * q) as usize).min(latencies.len() - 1);
            latencies[i].as_secs_f64() * 1000.0
        };
        println!(
            "{events} events to {subscribers} subscribers: {} deliveries in {elapsed:.2} s ({:.0}/s); append-to-client p50 {:.1} ms, p99 {:.1} ms; gateway peak RSS {:.1} MiB",
            latencies.len(),
            latencies.len() as f64 / elapsed,
            at(0.50),
            at(0.99),
            peak_rss_mib(&gateway.0.id().to_string())
        );
    });
}
