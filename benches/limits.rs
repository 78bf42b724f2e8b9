//! The gateway's rate limiting against the sandbox, both with their limits on: each scenario
//! offers 10× a provider's allowance for `LIMITS_BENCH_SECONDS` (60) through GraphQL, open loop
//! (a query every `1 / offered` seconds, whatever the earlier ones are doing), and prints the
//! upstream rate the sandbox served while the load was offered (its own counters) beside the
//! allowed rate, the queries the gateway refused with RATE_LIMITED (they could not fit within its
//! longest wait), and the 429s (and Gmail's 403 rateLimitExceeded) the sandbox answered — which
//! must be 0.
//!
//! - HubSpot: `contacts(providers: [HUBSPOT])` is one CRM search, which the spec holds to 4 per
//!   second (beside 100 per rolling 10 s): allowed 4 calls/s, offered 40 queries/s.
//! - Gmail: `emails(first: 10, providers: [GMAIL])`, a list (5 units) and a batch of 10 gets
//!   (5 units each) — 250 units per second allowed; the query's `before` changes every time so
//!   that the gateway's list cache does not answer it.
//!
//! `cargo bench --bench limits` (`LIMITS_BENCH_SECONDS` to shorten).

mod support;

use std::{
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use support::{Process, env_or, wait_for_file};

/// One provider's load: what a query costs upstream and what the provider allows.
struct Scenario {
    provider: &'static str,
    /// The query for the `i`th request.
    query: fn(u64) -> String,
    /// Allowed upstream cost per second (calls or quota units).
    allowed: f64,
    /// Queries offered per second (10× what the allowance serves).
    offered: f64,
    unit: &'static str,
    /// The cost of one successful call to a route of the provider (sandbox counters' names).
    cost: fn(&str) -> f64,
}

fn hubspot_query(_: u64) -> String {
    "{ contacts(first: 5, providers: [HUBSPOT]) { nodes { id } } }".into()
}

fn gmail_query(i: u64) -> String {
    let before = chrono::DateTime::<chrono::Utc>::from_timestamp(4_102_444_800 + i as i64, 0)
        .unwrap()
        .to_rfc3339();
    format!(
        "{{ emails(first: 10, providers: [GMAIL], filter: {{ before: \"{before}\" }}) {{ nodes {{ subject }} }} }}"
    )
}

fn hubspot_cost(route: &str) -> f64 {
    if route.ends_with("/search") { 1.0 } else { 0.0 }
}

fn gmail_cost(route: &str) -> f64 {
    match route {
        r if r.starts_with("GET ") && r.contains("/messages") => 5.0,
        _ => 0.0,
    }
}

/// Per route of `provider`: (successful calls, 429s and 403s).
fn tally(counters: &Value, provider: &str, cost: fn(&str) -> f64) -> (f64, u64) {
    let mut spent = 0.0;
    let mut refused = 0;
    for (route, statuses) in counters[provider].as_object().into_iter().flatten() {
        for (status, n) in statuses.as_object().into_iter().flatten() {
            let n = n.as_u64().unwrap_or(0);
            match status.as_str() {
                s if s.starts_with('2') => spent += cost(route) * n as f64,
                "429" | "403" => refused += n,
                _ => {}
            }
        }
    }
    (spent, refused)
}

async fn counters(client: &reqwest::Client, sandbox: &str) -> Value {
    client
        .get(format!("{sandbox}/_sandbox/counters"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn run(
    client: &reqwest::Client,
    origin: &str,
    key: &str,
    sandbox: &str,
    scenario: &Scenario,
    seconds: u64,
) {
    let ok = Arc::new(AtomicU64::new(0));
    let limited = Arc::new(AtomicU64::new(0));
    let other = Arc::new(AtomicU64::new(0));
    let (before, refused_before) = tally(
        &counters(client, sandbox).await,
        scenario.provider,
        scenario.cost,
    );
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / scenario.offered));
    let mut tasks = Vec::new();
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        ticker.tick().await;
        i += 1;
        let request = client
            .post(format!("{origin}/graphql"))
            .bearer_auth(key)
            .json(&json!({ "query": (scenario.query)(i) }));
        let (ok, limited, other) = (ok.clone(), limited.clone(), other.clone());
        tasks.push(tokio::spawn(async move {
            let body: Value = request.send().await.unwrap().json().await.unwrap();
            let counter = match body["errors"][0]["extensions"]["code"].as_str() {
                None => &ok,
                Some("RATE_LIMITED") => &limited,
                Some(_) => {
                    eprintln!("{body}");
                    &other
                }
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }));
    }
    let offered_for = started.elapsed().as_secs_f64();
    // The rate while load was offered: calls the sandbox had served when the offer stopped.
    let (at_offer_end, _) = tally(
        &counters(client, sandbox).await,
        scenario.provider,
        scenario.cost,
    );
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (after, refused_after) = tally(
        &counters(client, sandbox).await,
        scenario.provider,
        scenario.cost,
    );
    let rate = (at_offer_end - before) / offered_for;
    println!(
        "{}: offered {i} queries in {offered_for:.0} s ({:.0}/s); served {}, refused RATE_LIMITED {}, other errors {}",
        scenario.provider,
        scenario.offered,
        ok.load(Ordering::Relaxed),
        limited.load(Ordering::Relaxed),
        other.load(Ordering::Relaxed),
    );
    println!(
        "  upstream {rate:.2} {unit}/s of {allowed:.0} allowed ({:.1}%) while offered; {:.0} {unit} in all by the end of the drain ({elapsed:.1} s); 429s from the sandbox: {}",
        100.0 * rate / scenario.allowed,
        after - before,
        refused_after - refused_before,
        unit = scenario.unit,
        allowed = scenario.allowed,
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let seconds = env_or("LIMITS_BENCH_SECONDS", 60);
    let binary = env!("CARGO_BIN_EXE_nexus");
    let (_sandbox, sandbox_url) = support::sandbox(binary);
    let dir = tempfile::TempDir::new().unwrap();
    let mut gateway = Process(
        Command::new(binary)
            .args([
                "demo",
                "--port",
                "0",
                "--sandbox-url",
                &sandbox_url,
                "--data-dir",
            ])
            .arg(dir.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let origin = wait_for_file(&dir.path().join("gateway-url"), &mut gateway);
    let key = std::fs::read_to_string(dir.path().join("demo-api-key"))
        .unwrap()
        .trim()
        .to_owned();
    let scenarios = [
        Scenario {
            provider: "hubspot",
            query: hubspot_query,
            allowed: 4.0,
            offered: 40.0,
            unit: "searches",
            cost: hubspot_cost,
        },
        Scenario {
            provider: "gmail",
            query: gmail_query,
            allowed: 250.0,
            // A query spends 55 units: 10× the allowance is about 45 queries a second.
            offered: 45.0,
            unit: "units",
            cost: gmail_cost,
        },
    ];
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .unwrap();
        println!("10× each allowance for {seconds} s, the sandbox's limits and the gateway's on");
        for scenario in &scenarios {
            run(&client, &origin, &key, &sandbox_url, scenario, seconds).await;
        }
    });
    drop(gateway);
}
