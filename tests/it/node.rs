//! Conformance from the outside: graphql-http's server audits, the official graphql-ws client,
//! and the playground in headless Chromium. These need `tests/js/node_modules` (`npm ci`) and
//! `/usr/bin/chromium`; they skip without them unless `NEXUS_TEST_STRICT=1`.

use std::path::Path;

use serde_json::Value;
use tokio::process::Command;

use crate::helpers::{TestApp, require, root, spawn_app};

fn node_ready() -> bool {
    let modules = root().join("tests/js/node_modules");
    require(
        modules.join("graphql-http").exists() && modules.join("graphql-ws").exists(),
        "tests/js/node_modules (run `npm ci` in tests/js)",
    )
}

/// Runs a script of tests/js; returns its exit success and last stdout line as JSON.
async fn script(name: &str, args: &[&str]) -> (bool, Value, String) {
    let output = Command::new("node")
        .arg(root().join("tests/js").join(name))
        .args(args)
        .output()
        .await
        .expect("node");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let last = stdout.lines().last().unwrap_or("null");
    let json = serde_json::from_str(last).unwrap_or(Value::Null);
    (output.status.success(), json, stderr)
}

fn ws_url(app: &TestApp) -> String {
    app.url("/graphql").replacen("http://", "ws://", 1)
}

#[tokio::test]
async fn graphql_http_server_audits_pass_every_must() {
    if !node_ready() {
        return;
    }
    let app = spawn_app().await;
    let (ok, report, stderr) = script("audit.mjs", &[&app.url("/graphql"), &app.key]).await;
    assert!(ok, "MUST audits failed: {stderr}\n{report}");
    assert_eq!(report["must"]["fail"], 0, "{report}");
    eprintln!(
        "graphql-http audits: MUST {}/{} SHOULD {}/{} MAY {}/{}",
        report["must"]["pass"],
        report["must"]["pass"].as_u64().unwrap_or(0) + report["must"]["fail"].as_u64().unwrap_or(0),
        report["should"]["pass"],
        report["should"]["pass"].as_u64().unwrap_or(0)
            + report["should"]["fail"].as_u64().unwrap_or(0),
        report["may"]["pass"],
        report["may"]["pass"].as_u64().unwrap_or(0) + report["may"]["fail"].as_u64().unwrap_or(0),
    );
}

#[tokio::test]
async fn graphql_ws_client_completes_a_subscription() {
    if !node_ready() {
        return;
    }
    let app = spawn_app().await;
    let (ok, report, stderr) = script("subscribe.mjs", &[&ws_url(&app), &app.key]).await;
    assert!(ok, "{stderr}\n{report}");
    assert_eq!(report["completed"], true);
    let sequences: Vec<u64> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(sequences, [1, 2, 3]);
}

#[tokio::test]
async fn graphql_ws_refuses_a_bad_key_with_4403() {
    if !node_ready() {
        return;
    }
    let app = spawn_app().await;
    let (ok, report, stderr) = script(
        "subscribe.mjs",
        &[&ws_url(&app), "nxk_wrong", "--expect-auth-failure"],
    )
    .await;
    assert!(ok, "{stderr}\n{report}");
    assert_eq!(report["closeCode"], 4403);
}

#[tokio::test]
async fn playground_runs_a_query_in_chromium_without_leaving_loopback() {
    if !node_ready()
        || !require(
            Path::new("/usr/bin/chromium").exists()
                && root()
                    .join("tests/js/node_modules/playwright-core")
                    .exists(),
            "/usr/bin/chromium and playwright-core",
        )
    {
        return;
    }
    let app = crate::helpers::spawn_app_with_playground_key().await;
    let (ok, report, stderr) = script("playground.mjs", &[&app.origin]).await;
    assert!(ok, "{stderr}\n{report}");
    assert_eq!(report["externalRequests"], Value::Array(vec![]));
    assert_eq!(
        report["result"]["data"]["viewer"]["user"]["email"],
        "ada@acme.test"
    );
}

#[tokio::test]
async fn the_playgrounds_connect_button_runs_the_whole_flow_in_chromium() {
    if !node_ready()
        || !require(
            Path::new("/usr/bin/chromium").exists()
                && root()
                    .join("tests/js/node_modules/playwright-core")
                    .exists(),
            "/usr/bin/chromium and playwright-core",
        )
    {
        return;
    }
    let (app, _) = crate::connect::pointed_at_sandbox(true).await;
    for provider in ["HUBSPOT", "SALESFORCE"] {
        let (ok, report, stderr) = script("connect.mjs", &[&app.origin, provider]).await;
        assert!(ok, "{provider}: {stderr}\n{report}");
        assert_eq!(report["before"], "NOT_CONNECTED");
        assert_eq!(report["after"], "CONNECTED");
    }
    // Denied at the provider: back on the playground, the panel says so.
    let (ok, report, stderr) = script("connect.mjs", &[&app.origin, "GMAIL", "--deny"]).await;
    assert!(ok, "GMAIL denied: {stderr}\n{report}");
    assert_eq!(report["after"], "NOT_CONNECTED");
    assert_eq!(
        report["notice"],
        "Could not connect Gmail: access was not granted (access_denied)"
    );
    let (_, body) = app
        .graphql(
            "{ viewer { connections { provider status } } }",
            serde_json::json!({}),
        )
        .await;
    let statuses = body["data"]["viewer"]["connections"].to_string();
    assert!(
        statuses.contains(r#"{"provider":"HUBSPOT","status":"CONNECTED"}"#),
        "{statuses}"
    );
}
