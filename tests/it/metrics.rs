//! `/metrics` under attack and in its place: made-up operation names cannot grow it past 100
//! labelled names, `server.metrics_addr` moves it off the main listener, and
//! `server.metrics_token` guards it.

use std::{
    collections::HashSet,
    path::Path,
    process::{Child, Command, Stdio},
};

use futures_util::{StreamExt, stream};
use serde_json::json;
use tempfile::TempDir;

use crate::helpers::{captured_logs, spawn_app_with, test_settings, wait_until_up};

/// Made-up operation names the flood sends: 45.7 MB of `/metrics` before the cap.
const NAMES: usize = 20_000;
/// Requests in flight at once during the flood.
const IN_FLIGHT: usize = 32;
/// What `/metrics` may weigh after the flood (100 names, `other`, and the gateway's other
/// families): a tenth of what 1,000 uncapped names take.
const MAX_METRICS_BYTES: usize = 400 * 1024;

/// The distinct `operation` label values of the GraphQL request counter.
fn operations(metrics: &str) -> HashSet<String> {
    metrics
        .lines()
        .filter(|line| line.starts_with("nexus_graphql_requests_total{"))
        .filter_map(|line| {
            let start = line.find("operation=\"")? + "operation=\"".len();
            let end = start + line[start..].find('"')?;
            Some(line[start..end].to_owned())
        })
        .collect()
}

/// A `nexus serve` process, killed on drop: the flood runs in a process of its own, so that the
/// operation names other tests label are not pushed past the cap.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nexus(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nexus"));
    command
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .env("INTEGRATION_TOKEN_ENCRYPTION_KEY", "ab".repeat(32))
        .env("RUST_LOG", "warn");
    command
}

#[tokio::test]
async fn twenty_thousand_made_up_operation_names_leave_metrics_small() {
    let _heavy = crate::helpers::heavy().await;
    let dir = TempDir::new().unwrap();
    let created = nexus(dir.path())
        .args([
            "keys",
            "create",
            "--project",
            "acme",
            "--user",
            "ada@acme.test",
        ])
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    let key = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let mut served = Served(
        nexus(dir.path())
            .arg("serve")
            .env("NEXUS_SERVER__PORT", &port)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let origin = format!("http://127.0.0.1:{port}");
    wait_until_up(&format!("{origin}/healthz"), &mut served.0, "serve").await;

    let client = reqwest::Client::new();
    let statuses: Vec<u16> = stream::iter(0..NAMES)
        .map(|i| {
            let name = format!("MadeUp{i}");
            let request = client
                .post(format!("{origin}/graphql"))
                .bearer_auth(&key)
                .json(&json!({ "query": format!("query {name} {{ __typename }}"), "operationName": name }))
                .send();
            async move { request.await.map(|r| r.status().as_u16()).unwrap_or(0) }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200), "every request answered");

    let metrics = client
        .get(format!("{origin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let operations = operations(&metrics);
    println!(
        "/metrics after {NAMES} operation names: {} bytes, {} operation labels",
        metrics.len(),
        operations.len()
    );
    assert!(operations.contains("other"), "{operations:?}");
    assert!(operations.len() <= 101, "{} labels", operations.len());
    assert!(
        metrics.len() <= MAX_METRICS_BYTES,
        "/metrics is {} bytes",
        metrics.len()
    );
}

#[tokio::test]
async fn metrics_addr_moves_metrics_off_the_main_listener() {
    let mut settings = test_settings();
    settings.server.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    let app = spawn_app_with(settings).await;
    app.graphql("query MovedProbe { __typename }", json!({}))
        .await;

    let main = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(main.status(), 404);
    let metrics_origin = app.metrics_origin.clone().expect("a metrics listener");
    let moved = app
        .client
        .get(format!("{metrics_origin}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 200);
    let text = moved.text().await.unwrap();
    assert!(text.contains(r#"operation="MovedProbe""#), "{text}");
    // The metrics listener serves nothing else.
    let graphql = app
        .client
        .get(format!("{metrics_origin}/graphql?query=%7B__typename%7D"))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(graphql.status(), 404);
}

#[tokio::test]
async fn metrics_token_is_required_when_set_and_never_logged() {
    let logs = captured_logs();
    let token = "mt-8c1f0e7d5b3a-do-not-log";
    for metrics_addr in [None, Some("127.0.0.1:0".parse().unwrap())] {
        let mut settings = test_settings();
        settings.server.metrics_addr = metrics_addr;
        settings.server.metrics_token = Some(token.to_owned().into());
        let app = spawn_app_with(settings).await;
        app.graphql("{ __typename }", json!({})).await;
        let origin = app.metrics_origin.clone().unwrap_or(app.origin.clone());
        let url = format!("{origin}/metrics");
        let bare = app.client.get(&url).send().await.unwrap();
        assert_eq!(bare.status(), 401);
        assert_eq!(bare.headers()["www-authenticate"], "Bearer");
        let wrong = app
            .client
            .get(&url)
            .bearer_auth(format!("{token}x"))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
        let right = app
            .client
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(right.status(), 200);
        assert!(right.text().await.unwrap().contains("# TYPE"));
    }
    assert!(!logs.text().contains(token), "the token was logged");
}

/// The value of the first sample of `family` whose labels include every one of `labels`.
fn sample(metrics: &str, family: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|line| {
            line.strip_prefix(family)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .find(|line| labels.iter().all(|l| line.contains(l)))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn every_family_has_help_and_the_process_subscribers_webhooks_and_sync_lag_are_shown() {
    let (app, _sandbox) = crate::connect::pointed_at_sandbox_with(false, |settings| {
        settings.changes.first_pass = true;
        settings.changes.sync_interval_secs = Some(0);
    })
    .await;
    let back = crate::connect::consent(
        &crate::connect::connect_link(&app, "HUBSPOT", None).await,
        "approve",
    )
    .await;
    assert_eq!(crate::connect::callback(&back).await.0, 200);
    let subscriber = crate::subscriber::Subscriber::start(
        &app,
        &app.key,
        "subscription { changes { cursor } }",
        json!({}),
    )
    .await;
    let refused = app
        .client
        .post(app.url("/webhooks/hubspot"))
        .body("[]")
        .send()
        .await
        .unwrap();
    assert!(refused.status().is_client_error(), "{}", refused.status());
    app.graphql("query HelpProbe { __typename }", json!({}))
        .await;

    // The first pass runs on connect; once it is done, the lag of HubSpot's contacts shows.
    let metrics = crate::helpers::eventually(
        "the sync lag of HubSpot contacts",
        std::time::Duration::from_secs(60),
        async || {
            let text = app
                .client
                .get(app.url("/metrics"))
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            sample(
                &text,
                "nexus_sync_lag_seconds",
                &["provider=\"hubspot\"", "type=\"Contact\""],
            )
            .is_some()
            .then_some(text)
        },
    )
    .await;

    let lag = sample(
        &metrics,
        "nexus_sync_lag_seconds",
        &["provider=\"hubspot\"", "type=\"Contact\""],
    )
    .unwrap();
    assert!((0.0..3600.0).contains(&lag), "{lag}");
    let synced = sample(
        &metrics,
        "nexus_sync_connections",
        &["provider=\"hubspot\"", "type=\"Contact\""],
    );
    assert!(synced >= Some(1.0), "{synced:?}");
    // No family without its help text.
    let typed: Vec<&str> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next())
        .collect();
    assert!(typed.len() > 10, "{metrics}");
    for family in &typed {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with(&format!("# HELP {family} "))),
            "{family} has no HELP line"
        );
    }
    // The process's own figures.
    for family in [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        let value = sample(&metrics, family, &[]).unwrap_or_else(|| panic!("{family}"));
        assert!(
            value > 0.0 || family == "process_cpu_seconds_total",
            "{family}"
        );
    }
    // An open subscription, and a delivery refused.
    assert!(sample(&metrics, "nexus_subscriptions_open", &[]) >= Some(1.0));
    assert!(
        sample(
            &metrics,
            "nexus_webhook_deliveries_total",
            &["provider=\"hubspot\"", "outcome=\"refused\""]
        ) >= Some(1.0),
        "{metrics}"
    );
    assert!(
        sample(
            &metrics,
            "nexus_webhook_deliveries_in_flight",
            &["provider=\"hubspot\""]
        )
        .is_some()
    );
    // Labels name providers, types and outcomes, never a user, project or connection.
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        let Some(labels) = line
            .split_once('{')
            .and_then(|(_, rest)| rest.split_once('}'))
        else {
            continue;
        };
        for value in labels.0.split(',').filter_map(|l| l.split_once('=')) {
            let value = value.1.trim_matches('"');
            assert!(
                uuid::Uuid::parse_str(value).is_err(),
                "an id as a label: {line}"
            );
        }
    }
    subscriber.close().await;
}
