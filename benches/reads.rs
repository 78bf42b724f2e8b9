//! Synced reads under load: `contacts(first: 100)` answered from the copy, beside the same query
//! read live (`maxAge: 0`), with the same concurrency for the same time.
//!
//! The sandbox runs in its own process (`nexus sandbox`, limits off so the live run measures the
//! gateway, not the quota), the gateway in another (`nexus demo --sandbox-url`, both CRMs
//! connected through the real OAuth flow, its own HubSpot and Salesforce limiting off, so the live
//! run measures the gateway and not Salesforce's daily quota). The bench waits until both CRMs' contact copies are complete (`viewer.connections.copies`), then
//! runs the synced load (every record must say `source: SYNCED`) and counts the provider calls the
//! sandbox answered meanwhile, then the live load. Requests per second, p50/p99 latency and the
//! gateway's peak RSS (VmHWM) are printed. On SQLite (the demo's default), and on PostgreSQL too
//! when `NEXUS_TEST_POSTGRES_URL` names a server (a fresh database is created on it).
//!
//! `cargo bench --bench reads` (`READS_BENCH_SECONDS`, default 15; `READS_BENCH_CONCURRENCY`,
//! default 50; `READS_BENCH_GATEWAY_PRELOAD`, a shared library preloaded into the gateway alone,
//! such as another allocator to compare). The gateway's CPU time per request is printed too; the
//! load starts once the gateway is idle (every first pass over), so that it counts the reads'.

mod support;

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use support::{Process, cpu_seconds, env_or, load, peak_rss_mib, wait_for_file};

const SYNCED: &str = "{ contacts(first: 100) { nodes { id name email source } } }";
const LIVE: &str = "{ contacts(first: 100, maxAge: 0) { nodes { id name email source } } }";

/// Calls the sandbox answered for the CRMs (OAuth aside).
async fn crm_calls(client: &reqwest::Client, sandbox: &str) -> u64 {
    let counters: Value = client
        .get(format!("{sandbox}/_sandbox/counters"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    ["hubspot", "salesforce"]
        .iter()
        .filter_map(|p| counters[p].as_object())
        .flat_map(|routes| routes.iter())
        .filter(|(route, _)| !route.contains("oauth") && !route.contains("token"))
        .filter_map(|(_, by_status)| by_status.as_object())
        .flat_map(|by_status| by_status.values())
        .filter_map(Value::as_u64)
        .sum()
}

/// Waits until both CRMs' contact copies are complete.
async fn copies_complete(client: &reqwest::Client, origin: &str, key: &str) {
    let query = "{ viewer { connections { provider copies { type complete } } } }";
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let body: Value = client
            .post(format!("{origin}/graphql"))
            .bearer_auth(key)
            .json(&json!({ "query": query }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let connections = body["data"]["viewer"]["connections"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let complete = |provider: &str| {
            connections.iter().any(|c| {
                c["provider"] == provider
                    && c["copies"].as_array().is_some_and(|copies| {
                        copies
                            .iter()
                            .any(|t| t["type"] == "Contact" && t["complete"] == true)
                    })
            })
        };
        if complete("HUBSPOT") && complete("SALESFORCE") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the contact copies did not complete: {body}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until the gateway has been idle (under 50 ms of CPU in 5 s): every first pass over.
async fn quiet(pid: &str) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let before = cpu_seconds(pid);
        tokio::time::sleep(Duration::from_secs(5)).await;
        if cpu_seconds(pid) - before < 0.05 || Instant::now() > deadline {
            return;
        }
    }
}

/// One backend's run: a gateway on `database_url` (the demo's SQLite when `None`).
fn run(binary: &str, sandbox_url: &str, database_url: Option<&str>, name: &str) {
    let seconds = env_or("READS_BENCH_SECONDS", 15);
    let concurrency = env_or("READS_BENCH_CONCURRENCY", 50);
    let dir = tempfile::TempDir::new().unwrap();
    let mut command = Command::new(binary);
    command
        .args(["demo", "--port", "0", "--sandbox-url", sandbox_url])
        .arg("--data-dir")
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .env("NEXUS_PROVIDERS__HUBSPOT__RATE_LIMITS", "false")
        .env("NEXUS_PROVIDERS__SALESFORCE__RATE_LIMITS", "false")
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null());
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    if let Ok(library) = std::env::var("READS_BENCH_GATEWAY_PRELOAD") {
        command.env("LD_PRELOAD", library);
    }
    let mut gateway = Process(command.spawn().unwrap());
    let origin = wait_for_file(&dir.path().join("gateway-url"), &mut gateway);
    let key = std::fs::read_to_string(dir.path().join("demo-api-key"))
        .unwrap()
        .trim()
        .to_owned();
    let pid = gateway.0.id().to_string();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(128)
            .build()
            .unwrap();
        copies_complete(&client, &origin, &key).await;
        // The other types' first passes too, so that their CPU is not counted as the reads'.
        quiet(&pid).await;
        println!(
            "{name}: contacts(first: 100); {concurrency} concurrent clients, {seconds} s each"
        );
        let request = |query: &'static str, source: &'static str| {
            let client = client.clone();
            let origin = origin.clone();
            let key = key.clone();
            move || {
                let request = client
                    .post(format!("{origin}/graphql"))
                    .bearer_auth(&key)
                    .json(&json!({ "query": query }));
                async move {
                    let response = request.send().await.unwrap();
                    assert_eq!(response.status(), 200);
                    let body: Value = response.json().await.unwrap();
                    assert!(body["errors"].is_null(), "{body}");
                    let nodes = body["data"]["contacts"]["nodes"].as_array().unwrap();
                    assert_eq!(nodes.len(), 100);
                    assert!(nodes.iter().all(|n| n["source"] == source), "{body}");
                }
            }
        };
        let cpu_per_request = |cpu_before: f64, requests: usize| {
            let ms = (cpu_seconds(&pid) - cpu_before) * 1000.0 / requests as f64;
            println!("         gateway CPU {ms:.2} ms a request (user + system)");
        };
        let before = crm_calls(&client, sandbox_url).await;
        let cpu_before = cpu_seconds(&pid);
        let mut synced = load(concurrency, seconds, request(SYNCED, "SYNCED")).await;
        cpu_per_request(cpu_before, synced.requests);
        let upstream = crm_calls(&client, sandbox_url).await - before;
        synced.report("synced", peak_rss_mib(&pid));
        println!("         {upstream} CRM calls reached the sandbox during the synced run");
        let cpu_before = cpu_seconds(&pid);
        let mut live = load(concurrency, seconds, request(LIVE, "LIVE")).await;
        cpu_per_request(cpu_before, live.requests);
        live.report("live", peak_rss_mib(&pid));
    });
    drop(gateway);
}

/// A fresh database on the PostgreSQL server at `admin_url`.
fn fresh_postgres(admin_url: &str) -> String {
    let name = format!("nexus_bench_{}", uuid::Uuid::new_v4().simple());
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let admin = sea_orm::Database::connect(admin_url).await.unwrap();
        sea_orm::ConnectionTrait::execute_unprepared(&admin, &format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        admin.close().await.ok();
    });
    let mut url = url::Url::parse(admin_url).unwrap();
    url.set_path(&name);
    url.to_string()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let binary = env!("CARGO_BIN_EXE_nexus");
    let (_sandbox, sandbox_url) = support::sandbox(binary);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = reqwest::Client::new();
        for provider in ["hubspot", "salesforce"] {
            let answer = client
                .post(format!("{sandbox_url}/_sandbox/limits"))
                .json(&json!({ "provider": provider, "enforce": false }))
                .send()
                .await
                .unwrap();
            assert!(answer.status().is_success());
        }
    });
    run(binary, &sandbox_url, None, "SQLite");
    match std::env::var("NEXUS_TEST_POSTGRES_URL") {
        Ok(admin) => run(
            binary,
            &sandbox_url,
            Some(&fresh_postgres(&admin)),
            "PostgreSQL",
        ),
        Err(_) => println!("PostgreSQL: skipped (set NEXUS_TEST_POSTGRES_URL)"),
    }
}
