//! The CRMs' official Node SDKs against the sandbox, unmodified except for the base URL:
//! jsforce 3.9.5 (`tests/js/sdk-salesforce.mjs`: describeGlobal, describe, limits, recent,
//! create/update/delete, retrieve of one and of several ids, relationship queries, a subquery,
//! COUNT(), queryMore paging, queryAll) and @hubspot/api-client 13.5.0
//! (`tests/js/sdk-hubspot.mjs`: properties, and for contacts, companies and deals getPage,
//! getById, create, update, archive, doSearch and batch read). Each script checks what the SDK
//! hands back and exits non-zero on a failed check; the test then reads the sandbox's counters
//! to see the SDK reached the endpoints it was meant to. They need `tests/js/node_modules`
//! (`npm ci` in tests/js) and skip without it unless `NEXUS_TEST_STRICT=1`.

use serde_json::{Value, json};
use tokio::process::Command;

use crate::helpers::{require, root, sandbox_with_tokens};

fn sdk_ready(package: &str) -> bool {
    require(
        root().join("tests/js/node_modules").join(package).exists(),
        &format!("tests/js/node_modules/{package} (run `npm ci` in tests/js)"),
    )
}

/// Runs a script of tests/js; its last stdout line as JSON. Fails the test when the script does.
async fn script(name: &str, args: &[&str]) -> Value {
    let output = Command::new("node")
        .arg(root().join("tests/js").join(name))
        .args(args)
        .output()
        .await
        .expect("node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{name} failed:\n{stderr}\n{stdout}"
    );
    serde_json::from_str(stdout.lines().last().unwrap_or("null"))
        .unwrap_or_else(|_| panic!("not JSON: {stdout}\n{stderr}"))
}

async fn counters(client: &reqwest::Client, origin: &str) -> Value {
    client
        .get(format!("{origin}/_sandbox/counters"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// How many answers with `status` a provider's route got.
fn count(counters: &Value, provider: &str, route: &str, status: &str) -> u64 {
    counters[provider][route][status].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn jsforce_drives_the_salesforce_sandbox() {
    if !sdk_ready("jsforce") {
        return;
    }
    let (origin, client, tokens) = sandbox_with_tokens("salesforce").await;
    let token = tokens["access_token"].as_str().unwrap();
    let report = script("sdk-salesforce.mjs", &[&origin, token]).await;
    assert_eq!(report["failures"], json!([]), "{report}");
    assert_eq!(report["count"], 2, "{report}");
    assert_eq!(report["queryAll"]["deleted"], 1, "{report}");

    let seen = counters(&client, &origin).await;
    let data = "/services/data/v58.0";
    for route in [
        "GET /sobjects",
        "GET /limits",
        "GET /sobjects/Account",
        "GET /sobjects/Contact/describe",
        "POST /composite/sobjects/Contact",
        "GET /queryAll",
        "GET /query/{locator}",
    ] {
        let (method, path) = route.split_once(' ').unwrap();
        let route = format!("{method} {data}{path}");
        assert!(
            count(&seen, "salesforce", &route, "200") >= 1,
            "{route} was never answered 200: {seen}"
        );
    }
}

#[tokio::test]
async fn the_hubspot_client_drives_the_hubspot_sandbox() {
    if !sdk_ready("@hubspot/api-client") {
        return;
    }
    let (origin, client, tokens) = sandbox_with_tokens("hubspot").await;
    // Three objects' searches and batch reads in a row would meet HubSpot's 4-a-second limit on
    // them; the SDK's own retry is off by default, and limits are not what this test is about.
    let limits = client
        .post(format!("{origin}/_sandbox/limits"))
        .json(&json!({ "provider": "hubspot", "enforce": false }))
        .send()
        .await
        .unwrap();
    assert!(limits.status().is_success());
    let token = tokens["access_token"].as_str().unwrap();
    let base = format!("{origin}/hubspot");
    let report = script("sdk-hubspot.mjs", &[&base, token]).await;
    assert_eq!(report["failures"], json!([]), "{report}");

    let seen = counters(&client, &origin).await;
    for (route, status) in [
        ("GET /crm/v3/properties/contacts", "200"),
        ("GET /crm/v3/properties/deals/{name}", "200"),
    ] {
        assert!(
            count(&seen, "hubspot", route, status) >= 1,
            "{route}: {seen}"
        );
    }
    for object in ["contacts", "companies", "deals"] {
        let base = format!("/crm/v3/objects/{object}");
        for (route, status, n) in [
            (format!("GET {base}"), "200", 2),
            (format!("POST {base}"), "201", 1),
            (format!("GET {base}/{{id}}"), "200", 1),
            (format!("GET {base}/{{id}}"), "404", 1),
            (format!("PATCH {base}/{{id}}"), "200", 1),
            (format!("DELETE {base}/{{id}}"), "204", 1),
            (format!("POST {base}/search"), "200", 1),
            (format!("POST {base}/batch/{{action}}"), "200", 1),
            (format!("POST {base}/batch/{{action}}"), "207", 1),
        ] {
            assert_eq!(
                count(&seen, "hubspot", &route, status),
                n,
                "{route} {status}: {seen}"
            );
        }
    }
}
