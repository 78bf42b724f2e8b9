//! The playground and the API as `nexus serve` runs them: no key handed to the page,
//! introspection off. An introspection query is refused with `INTROSPECTION_DISABLED` (over
//! HTTP); in headless Chromium the Connections panel uses the key typed into the Headers editor,
//! the documentation pane says introspection is off and how to turn it on, and a subscription
//! without a key fails at once; the example tabs validate against the schema and run.

use serde_json::{Value, json};
use tokio::process::Command;

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox_with},
    helpers::{TestApp, require, root, spawn_app_with, test_settings},
};

/// A gateway configured as `serve` is by default: introspection off, no key in the playground.
async fn served() -> TestApp {
    let mut settings = test_settings();
    settings.graphql.introspection = false;
    spawn_app_with(settings).await
}

/// The query graphql-js's `getIntrospectionQuery` makes (GraphiQL's), shortened.
const INTROSPECTION: &str = "query IntrospectionQuery { __schema { queryType { name } \
                             types { kind name fields(includeDeprecated: true) { name } } } }";

#[tokio::test]
async fn an_introspection_query_is_refused_with_introspection_disabled_naming_the_setting() {
    let app = served().await;
    for query in [
        INTROSPECTION,
        r#"{ __type(name: "Contact") { name } }"#,
        "query { ...Schema } fragment Schema on Query { __schema { types { name } } }",
    ] {
        let (status, body) = app.graphql(query, json!({})).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body.get("data").is_none(),
            "refused before execution: {body}"
        );
        let error = &body["errors"][0];
        assert_eq!(
            error["extensions"]["code"], "INTROSPECTION_DISABLED",
            "{body}"
        );
        assert_eq!(error["extensions"]["setting"], "graphql.introspection");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains("graphql.introspection = true"),
            "{message}"
        );
        assert!(
            message.contains("NEXUS_GRAPHQL__INTROSPECTION=true"),
            "{message}"
        );
    }
    // Under the GraphQL-over-HTTP media type a request error is a 400.
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&app.key)
        .header("Accept", "application/graphql-response+json")
        .json(&json!({ "query": INTROSPECTION }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // `__typename` is not introspection, and ordinary queries run.
    let (_, body) = app
        .graphql("{ __typename viewer { user { email } } }", json!({}))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["__typename"], "Query");
    assert_eq!(body["data"]["viewer"]["user"]["email"], "ada@acme.test");

    // Turned on, the same query answers the schema.
    let open = crate::helpers::spawn_app().await;
    let (_, body) = open.graphql(INTROSPECTION, json!({})).await;
    assert_eq!(
        body["data"]["__schema"]["queryType"]["name"], "Query",
        "{body}"
    );
}

fn chromium_ready() -> bool {
    let modules = root().join("tests/js/node_modules");
    require(
        std::path::Path::new("/usr/bin/chromium").exists()
            && modules.join("playwright-core").exists()
            && modules.join("graphql").exists(),
        "/usr/bin/chromium and tests/js/node_modules (npm ci in tests/js)",
    )
}

/// Runs a script of tests/js; its exit success, last stdout line as JSON, and stderr.
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
    (
        output.status.success(),
        serde_json::from_str(last).unwrap_or(Value::Null),
        stderr,
    )
}

/// A served gateway pointed at the sandbox, with every provider the sandbox simulates connected
/// through the consent flow.
async fn served_and_connected() -> TestApp {
    let (app, _) = pointed_at_sandbox_with(false, |s| s.graphql.introspection = false).await;
    for provider in nexus::providers::Provider::ALL {
        use nexus::providers::Cataloged;
        let entry = provider.entry();
        if entry.sandbox.is_none() || entry.oauth.is_none() {
            continue;
        }
        let value = provider.slug().to_ascii_uppercase();
        let back = consent(&connect_link(&app, &value, None).await, "approve").await;
        let (status, page, _) = callback(&back).await;
        assert_eq!(status, 200, "{provider}: {page}");
    }
    app
}

#[tokio::test]
async fn under_serve_the_playground_uses_the_typed_key_explains_the_docs_and_fails_fast() {
    if !chromium_ready() {
        return;
    }
    let app = served_and_connected().await;
    let settings: Value = app
        .client
        .get(app.url("/playground/settings.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(settings["headers"], json!({}), "serve hands out no key");

    let (ok, report, stderr) = script("playground-serve.mjs", &[&app.origin, &app.key]).await;
    assert!(ok, "{stderr}\n{report}");
    // A subscription without a key: the refusal at once, not after graphql-ws's retries.
    let refusal = report["subscription"]["text"].as_str().unwrap();
    assert!(refusal.contains("UNAUTHENTICATED"), "{refusal}");
    assert!(refusal.contains("4403"), "{refusal}");
    assert_eq!(
        report["sockets"], 1,
        "one WebSocket for the whole page, never reopened: {report}"
    );
    // The panel: refused without a key, the connections with the key typed in the editor.
    let before = report["connections"]["before"].as_str().unwrap_or_default();
    assert!(before.contains("UNAUTHENTICATED"), "{report}");
    assert_eq!(
        report["connections"]["statuses"]["HUBSPOT"], "CONNECTED",
        "{report}"
    );
    assert_eq!(
        report["connections"]["statuses"]["GMAIL"], "CONNECTED",
        "{report}"
    );
    // The documentation pane names the setting.
    assert_eq!(report["docs"]["code"], "INTROSPECTION_DISABLED", "{report}");
    let docs = report["docs"]["text"].as_str().unwrap();
    assert!(docs.contains("graphql.introspection = true"), "{docs}");
    assert_eq!(report["externalRequests"], json!([]));
}

#[tokio::test]
async fn every_example_validates_against_the_schema_and_its_queries_and_mutation_run() {
    if !chromium_ready() {
        return;
    }
    let app = served_and_connected().await;
    let schema = root().join("schema.graphql");
    let (ok, report, stderr) = script(
        "examples.mjs",
        &[schema.to_str().unwrap(), &app.url("/graphql"), &app.key],
    )
    .await;
    assert!(ok, "{stderr}\n{report}");
    let examples = report["examples"].as_array().unwrap();
    let operations: Vec<&str> = examples
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert!(operations.contains(&"mutation"), "{report}");
    assert!(operations.contains(&"subscription"), "{report}");
    let names: Vec<&str> = examples
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for name in [
        "ContactChanges",
        "RecentMail",
        "Calendar",
        "ContactsWithMailAndMeetings",
    ] {
        assert!(names.contains(&name), "{name}: {report}");
    }
    let ran = examples.iter().filter(|e| e["ran"] == true).count();
    assert_eq!(
        ran,
        operations.iter().filter(|o| **o != "subscription").count()
    );
    // The mutation's contact is in HubSpot now: the join example's CRM half sees it.
    let (_, body) = app
        .graphql(
            "{ contacts(first: 50, providers: [HUBSPOT]) { nodes { email } } }",
            json!({}),
        )
        .await;
    assert!(
        body.to_string().contains("grace.hopper@example.com"),
        "{body}"
    );
}
