//! The cross-provider joins under upstream latency:
//! `contacts(first: 50) { emails(first: 5) { subject } events(first: 5) { title } }` with
//! `JOINS_BENCH_LATENCY_MS` (50) added to every call the sandbox answers for the CRMs, Gmail,
//! Google Calendar and Outlook, limits off on both sides (the sandbox's and the gateway's own),
//! as in the CRM benchmark. Printed: the upstream calls one query makes, per provider and route
//! (the sandbox's counters), the latency of the first (cold) query, then p50/p99 of
//! `JOINS_BENCH_RUNS` (30) repeats — Gmail and Outlook lists are then in the gateway's
//! five-minute cache, calendars and CRMs are asked again.
//!
//! `cargo bench --bench joins`.

mod support;

use std::{
    collections::BTreeMap,
    process::{Command, Stdio},
    time::Instant,
};

use serde_json::{Value, json};
use support::{Process, env_or, wait_for_file};

const QUERY: &str = "{ contacts(first: 50) { nodes { emails(first: 5) { nodes { subject } } events(first: 5) { nodes { title } } } } }";

const PROVIDERS: [&str; 5] = [
    "hubspot",
    "salesforce",
    "gmail",
    "google_calendar",
    "outlook",
];

/// Successful calls per provider and route, from the sandbox's counters.
fn calls(counters: &Value) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for provider in PROVIDERS {
        let Some(routes) = counters[provider].as_object() else {
            continue;
        };
        for (route, statuses) in routes {
            let n: u64 = statuses
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(status, _)| status.starts_with('2'))
                .filter_map(|(_, n)| n.as_u64())
                .sum();
            if n > 0 {
                out.insert(format!("{provider} {route}"), n);
            }
        }
    }
    out
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let latency = env_or("JOINS_BENCH_LATENCY_MS", 50);
    let runs = env_or("JOINS_BENCH_RUNS", 30) as usize;
    let binary = env!("CARGO_BIN_EXE_nexus");
    let (_sandbox, sandbox_url) = support::sandbox(binary);
    let dir = tempfile::TempDir::new().unwrap();
    let mut demo = Command::new(binary);
    demo.args([
        "demo",
        "--port",
        "0",
        "--sandbox-url",
        &sandbox_url,
        "--data-dir",
    ])
    .arg(dir.path())
    .env("RUST_LOG", "warn")
    .stdout(Stdio::null());
    for provider in PROVIDERS {
        demo.env(
            format!("NEXUS_PROVIDERS__{}__RATE_LIMITS", provider.to_uppercase()),
            "false",
        );
    }
    let mut gateway = Process(demo.spawn().unwrap());
    let origin = wait_for_file(&dir.path().join("gateway-url"), &mut gateway);
    let key = std::fs::read_to_string(dir.path().join("demo-api-key"))
        .unwrap()
        .trim()
        .to_owned();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let admin = |path: &str, body: Value| {
            client
                .post(format!("{sandbox_url}/_sandbox{path}"))
                .json(&body)
                .send()
        };
        for provider in PROVIDERS {
            let answer = admin("/limits", json!({ "provider": provider, "enforce": false }))
                .await
                .unwrap();
            assert!(answer.status().is_success(), "{provider}: {}", answer.status());
        }
        for provider in PROVIDERS {
            let answer = admin(
                "/faults",
                json!({ "provider": provider, "latency_ms": latency, "error_rate": 0 }),
            )
            .await
            .unwrap();
            assert!(answer.status().is_success(), "{provider}: {}", answer.status());
        }
        let counters = || async {
            client
                .get(format!("{sandbox_url}/_sandbox/counters"))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        };
        let query = || async {
            let started = Instant::now();
            let response = client
                .post(format!("{origin}/graphql"))
                .bearer_auth(&key)
                .json(&json!({ "query": QUERY }))
                .send()
                .await
                .unwrap();
            let body: Value = response.json().await.unwrap();
            assert!(body["errors"].is_null(), "{body}");
            assert_eq!(body["data"]["contacts"]["nodes"].as_array().map(Vec::len), Some(50));
            started.elapsed()
        };
        let before = calls(&counters().await);
        let cold = query().await;
        let after = calls(&counters().await);
        println!("{QUERY}\nwith {latency} ms added to every upstream call; upstream calls of one cold query:");
        let mut total = 0;
        for (route, n) in &after {
            let n = n - before.get(route).copied().unwrap_or(0);
            if n > 0 {
                total += n;
                println!("  {n:>3}  {route}");
            }
        }
        println!("  {total:>3}  in all; cold query {:.0} ms", cold.as_secs_f64() * 1000.0);
        let mut latencies = Vec::with_capacity(runs);
        for _ in 0..runs {
            latencies.push(query().await);
        }
        latencies.sort();
        let at = |q: f64| {
            latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)].as_secs_f64() * 1000.0
        };
        println!(
            "{runs} repeats (mail lists cached): p50 {:.0} ms, p99 {:.0} ms",
            at(0.5),
            at(0.99)
        );
    });
}
