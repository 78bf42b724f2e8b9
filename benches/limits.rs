//! The gateway's rate limiting against the sandbox, both with their limits on: each scenario
//! offers 10× a provider's allowance through GraphQL, open loop (a query every `1 / offered`
//! seconds, whatever the earlier ones are doing), and prints the upstream cost the sandbox served
//! while the load was offered (its own counters) beside the most its rolling window allows in
//! that time (`capacity × ⌈time / window⌉`, starting from an empty window), the queries the
//! gateway refused with RATE_LIMITED (they could not fit within its longest wait), and the 429s
//! (and Gmail's 403 rateLimitExceeded) the sandbox answered — which must be 0.
//!
//! - HubSpot: `contacts(providers: [HUBSPOT])` is one CRM search, which the spec holds to 4 per
//!   second (beside 100 per rolling 10 s): offered 40 queries/s, for `LIMITS_BENCH_SECONDS` (60).
//! - Gmail: a mix of sends (`sendEmail`: a send, 100 units, and a read-back, a batch of the
//!   labels list, 1, and a get, 5), lists (`emails(first: 10)`: a list, 5, and a batch of the
//!   labels and 10 gets, 51) and gets by id (`node`: 6) — 250 units per rolling second allowed,
//!   about 2,400 offered; a list's `before` changes every time so that the gateway's list cache
//!   does not answer it. For `LIMITS_BENCH_SECONDS`.
//! - Slack: `messages(filter: {channel})` is one `conversations.history`, Tier 3: 50 per rolling
//!   minute; offered 500 a minute for `LIMITS_BENCH_SLACK_SECONDS` (150: two and a half windows,
//!   so that three windows' worth is allowed, and the fourth does not begin before the offer
//!   ends).
//!
//! `cargo bench --bench limits` (`LIMITS_BENCH_SECONDS`, `LIMITS_BENCH_SLACK_SECONDS` to
//! shorten; `LIMITS_BENCH_ONLY=hubspot|gmail|slack` for one scenario).
//!
//! `cargo bench --bench limits -- --gateways 3`: the same offer spread over three gateways on
//! one database (the demo's SQLite file) and one Redis (`limits.backend = "redis"`, a
//! `redis-server` of the bench's own on a free port; `redis-server` must be on PATH): the
//! `nexus demo` and two `nexus serve` processes pointed at its sandbox, each query sent to the
//! next gateway in turn. What the sandbox served is still measured against one allowance.

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
    query: Box<dyn Fn(u64) -> String>,
    /// The provider's rolling window: its capacity (calls or quota units) and length.
    capacity: f64,
    window: f64,
    /// Queries offered per second (10× what the allowance serves).
    offered: f64,
    seconds: u64,
    unit: &'static str,
    /// The cost of one successful call to a route of the provider (sandbox counters' names).
    cost: fn(&str) -> f64,
}

fn hubspot_cost(route: &str) -> f64 {
    if route.ends_with("/search") { 1.0 } else { 0.0 }
}

/// Gmail's quota units of a route (the sandbox counts each part of a batch on its own route).
fn gmail_cost(route: &str) -> f64 {
    match route.split_once(' ') {
        Some(("GET", path)) if path.ends_with("/messages") || path.ends_with("/messages/{id}") => {
            5.0
        }
        Some(("GET", path)) if path.ends_with("/labels") => 1.0,
        Some(("POST", path)) if path.ends_with("/messages/send") => 100.0,
        _ => 0.0,
    }
}

fn slack_cost(route: &str) -> f64 {
    if route.ends_with("conversations.history") {
        1.0
    } else {
        0.0
    }
}

/// Per route of `provider`: (cost served, 429s and 403s).
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

async fn graphql(client: &reqwest::Client, origin: &str, key: &str, query: &str) -> Value {
    client
        .post(format!("{origin}/graphql"))
        .bearer_auth(key)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
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
    origins: &[String],
    key: &str,
    sandbox: &str,
    scenario: &Scenario,
) {
    let seconds = scenario.seconds;
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
        let origin = &origins[i as usize % origins.len()];
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
    let served = at_offer_end - before;
    let allowed = scenario.capacity * (offered_for / scenario.window).ceil();
    println!(
        "{} through {} gateway(s): offered {i} queries in {offered_for:.1} s ({:.1}/s); served {}, refused RATE_LIMITED {}, other errors {}",
        scenario.provider,
        origins.len(),
        scenario.offered,
        ok.load(Ordering::Relaxed),
        limited.load(Ordering::Relaxed),
        other.load(Ordering::Relaxed),
    );
    println!(
        "  upstream {served:.0} {unit} of the {allowed:.0} its window allows in that time ({:.1}%; {:.2} {unit}/s of {:.2}) while offered; {:.0} {unit} in all by the end of the drain ({elapsed:.1} s); 429s from the sandbox: {}",
        100.0 * served / allowed,
        served / offered_for,
        scenario.capacity / scenario.window,
        after - before,
        refused_after - refused_before,
        unit = scenario.unit,
    );
}

/// A query for each Gmail call mix's `i`th request: of every 6, a send, 2 lists and 3 gets.
fn gmail_mix(ids: Vec<String>) -> impl Fn(u64) -> String {
    move |i| match i % 6 {
        0 => format!(
            "mutation {{ sendEmail(input: {{ provider: GMAIL, to: [\"bench{i}@example.com\"], subject: \"Bench {i}\", text: \"hello\" }}) {{ email {{ id }} }} }}"
        ),
        1 | 3 => {
            let before =
                chrono::DateTime::<chrono::Utc>::from_timestamp(4_102_444_800 + i as i64, 0)
                    .unwrap()
                    .to_rfc3339();
            format!(
                "{{ emails(first: 10, providers: [GMAIL], maxAge: 0, filter: {{ before: \"{before}\" }}) {{ nodes {{ subject }} }} }}"
            )
        }
        _ => format!(
            "{{ node(id: \"{}\", maxAge: 0) {{ ... on Email {{ subject }} }} }}",
            ids[i as usize % ids.len()]
        ),
    }
}

/// `--gateways N` (1 by default).
fn gateways() -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--gateways")
        .and_then(|i| args.get(i + 1))
        .map_or(1, |n| n.parse().expect("--gateways takes a number"))
}

/// A free port on loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `redis-server` of the bench's own (nothing saved), and its URL.
fn redis_server() -> (Process, String) {
    let port = free_port();
    let server = Process(
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on PATH (apt-get install redis-server)"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, format!("redis://127.0.0.1:{port}"))
}

/// Settings for `nexus serve` beside the demo in `dir`: its database, key and sandbox, no
/// polling of its own.
fn serve_config(dir: &std::path::Path, sandbox: &str) -> std::path::PathBuf {
    let mut file = format!(
        "[vault]\nkey_file = \"{}\"\n\n[changes]\nsync_interval_secs = 0\nfirst_pass = false\n",
        dir.join("encryption-key").display()
    );
    use nexus::providers::Cataloged;
    for provider in nexus::providers::Provider::ALL {
        let Some(paths) = &provider.entry().sandbox else {
            continue;
        };
        let app = nexus_sandbox::App::for_provider(provider.slug());
        file.push_str(&format!(
            "\n[providers.{}]\nclient_id = \"{}\"\nclient_secret = \"{}\"\nauthorize_url = \"{sandbox}{}\"\ntoken_url = \"{sandbox}{}\"\nbase_url = \"{sandbox}{}\"\n",
            provider.slug(),
            app.client_id,
            app.client_secret,
            paths.authorize_path,
            paths.token_path,
            paths.base_path,
        ));
    }
    let path = dir.join("serve.toml");
    std::fs::write(&path, file).unwrap();
    path
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let gateways = gateways();
    let seconds = env_or("LIMITS_BENCH_SECONDS", 60);
    let slack_seconds = env_or("LIMITS_BENCH_SLACK_SECONDS", 150);
    let binary = env!("CARGO_BIN_EXE_nexus");
    let (_sandbox, sandbox_url) = support::sandbox(binary);
    let dir = tempfile::TempDir::new().unwrap();
    let redis = (gateways > 1).then(redis_server);
    let shared = |command: &mut Command| {
        if let Some((_, url)) = &redis {
            command
                .env("NEXUS_LIMITS__BACKEND", "redis")
                .env("NEXUS_LIMITS__ASSUMED_INSTANCES", gateways.to_string())
                .env("NEXUS_REDIS__URL", url);
        }
    };
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
    shared(&mut demo);
    let mut gateway = Process(demo.spawn().unwrap());
    let origin = wait_for_file(&dir.path().join("gateway-url"), &mut gateway);
    let config = serve_config(dir.path(), &sandbox_url);
    let mut others = Vec::new();
    let mut origins = vec![origin.clone()];
    for _ in 1..gateways {
        let port = free_port();
        let mut serve = Command::new(binary);
        serve
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path())
            .arg("serve")
            .env("NEXUS_SERVER__PORT", port.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        shared(&mut serve);
        let mut process = Process(serve.spawn().unwrap());
        let origin = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        // Listening once built (migrations run, Redis set up): requests wait in the backlog.
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(process.0.try_wait().unwrap().is_none(), "a gateway ended");
            assert!(Instant::now() < deadline, "a gateway did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        others.push(process);
        origins.push(origin);
    }
    let key = std::fs::read_to_string(dir.path().join("demo-api-key"))
        .unwrap()
        .trim()
        .to_owned();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .unwrap();
        // What the mixes need to name: messages to get, a channel to read.
        let emails = graphql(
            &client,
            &origin,
            &key,
            "{ emails(first: 20, providers: [GMAIL]) { nodes { id } } }",
        )
        .await;
        let ids: Vec<String> = emails["data"]["emails"]["nodes"]
            .as_array()
            .unwrap_or_else(|| panic!("{emails}"))
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_owned())
            .collect();
        // A channel the app's bot is in (conversations.history answers not_in_channel elsewhere).
        let channels = graphql(
            &client,
            &origin,
            &key,
            "{ channels(first: 100, providers: [SLACK]) { nodes { remoteId raw } } }",
        )
        .await;
        let channel = channels["data"]["channels"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["raw"]["is_member"] == true)
            .and_then(|c| c["remoteId"].as_str())
            .unwrap_or_else(|| panic!("{channels}"))
            .to_owned();
        // Let the set-up calls leave the windows.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let scenarios = [
            Scenario {
                provider: "hubspot",
                query: Box::new(|_| {
                    "{ contacts(first: 5, providers: [HUBSPOT], maxAge: 0) { nodes { id } } }".into()
                }),
                capacity: 4.0,
                window: 1.0,
                offered: 40.0,
                seconds,
                unit: "searches",
                cost: hubspot_cost,
            },
            Scenario {
                provider: "gmail",
                query: Box::new(gmail_mix(ids)),
                capacity: 250.0,
                window: 1.0,
                // Every 6 queries spend 106 + 2 × 56 + 3 × 6 = 236 units: 60 a second offer
                // about 2,400 units a second.
                offered: 60.0,
                seconds,
                unit: "units",
                cost: gmail_cost,
            },
            Scenario {
                provider: "slack",
                query: Box::new(move |_| {
                    format!(
                        "{{ messages(first: 5, providers: [SLACK], maxAge: 0, filter: {{ channel: \"{channel}\" }}) {{ nodes {{ id }} }} }}"
                    )
                }),
                capacity: 50.0,
                window: 60.0,
                offered: 500.0 / 60.0,
                seconds: slack_seconds,
                unit: "calls",
                cost: slack_cost,
            },
        ];
        println!(
            "10× each allowance through {gateways} gateway(s), the sandbox's limits and the gateways' on ({seconds} s; Slack {slack_seconds} s)"
        );
        let only = std::env::var("LIMITS_BENCH_ONLY").ok();
        for scenario in &scenarios {
            if only.as_deref().is_none_or(|p| p == scenario.provider) {
                run(&client, &origins, &key, &sandbox_url, scenario).await;
            }
        }
    });
    drop(others);
    drop(gateway);
    drop(redis);
}
