//! Raw provider calls (`Query/Mutation.passthrough`) against the sandbox: a HubSpot endpoint the
//! unified model lacks answers with the connection's token and counts against the provider's
//! `passthrough` rate class; paths that would leave the API base are refused before any call;
//! the scopes gate both roots; and every call lands in the audit log, which only `audit` keys
//! read.

use nexus::auth::{KeySpec, Scope, create_api_key_with};
use serde_json::{Value, json};

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox_with},
    crm::{calls, counters},
    helpers::{TestApp, first_code},
};

const OWNERS: &str = "GET /crm/v3/owners";

const READ: &str = "query($path: String!, $query: JSON) {
  passthrough(provider: HUBSPOT, method: \"GET\", path: $path, query: $query) {
    status headers { name value } body truncated
  }
}";

async fn key_with(app: &TestApp, scopes: &[Scope]) -> String {
    let spec = KeySpec {
        scopes: scopes.iter().copied().collect(),
        ..KeySpec::default()
    };
    create_api_key_with(&app.tenants, "acme", "ada@acme.test", &spec)
        .await
        .unwrap()
}

/// A gateway on a fresh sandbox with HubSpot connected; its `passthrough` class holds `capacity`.
async fn hubspot(capacity: u32) -> (TestApp, String) {
    let (app, sandbox) = pointed_at_sandbox_with(false, |settings| {
        settings
            .providers
            .get_mut("hubspot")
            .unwrap()
            .rate_capacity
            .insert("passthrough".into(), capacity);
    })
    .await;
    let back = consent(&connect_link(&app, "HUBSPOT", None).await, "approve").await;
    assert_eq!(callback(&back).await.0, 200, "HubSpot connects");
    (app, sandbox)
}

#[tokio::test]
async fn a_hubspot_endpoint_the_model_lacks_answers_with_the_connections_token() {
    let (app, sandbox) = hubspot(2).await;
    let key = key_with(&app, &[Scope::Read, Scope::PassthroughRead, Scope::Audit]).await;

    let (status, body) = app
        .graphql_as(
            &key,
            READ,
            json!({ "path": "/crm/v3/owners", "query": { "limit": 2 } }),
        )
        .await;
    assert_eq!(status, 200);
    assert!(body["errors"].is_null(), "{body}");
    let answer = &body["data"]["passthrough"];
    assert_eq!(answer["status"], 200);
    assert_eq!(answer["truncated"], false);
    let owners = answer["body"]["results"]
        .as_array()
        .expect("HubSpot's owners");
    assert_eq!(owners.len(), 2, "`limit` reached HubSpot: {answer}");
    assert_eq!(owners[0]["email"], "riley.rep@nexus-sales.example");
    let names: Vec<&str> = answer["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"content-type"), "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| !n.contains("cookie") && *n != "authorization"),
        "{names:?}"
    );
    assert!(
        !body.to_string().contains("Bearer"),
        "no token in the answer"
    );
    assert_eq!(calls(&counters(&sandbox).await, "hubspot", OWNERS), 1);

    // The class holds 2: the second call goes out, the third is refused without a call.
    let (_, second) = app
        .graphql_as(&key, READ, json!({ "path": "/crm/v3/owners" }))
        .await;
    assert!(second["errors"].is_null(), "{second}");
    let (_, third) = app
        .graphql_as(&key, READ, json!({ "path": "/crm/v3/owners" }))
        .await;
    assert_eq!(first_code(&third), "RATE_LIMITED", "{third}");
    assert_eq!(calls(&counters(&sandbox).await, "hubspot", OWNERS), 2);

    // Each call is in the audit log, newest first.
    let (_, log) = app
        .graphql_as(
            &key,
            "{ auditLog(first: 2) { pageInfo { hasNextPage endCursor }
                nodes { kind action provider outcome status keyId userId durationMs at } } }",
            json!({}),
        )
        .await;
    assert!(log["errors"].is_null(), "{log}");
    let entries = log["data"]["auditLog"]["nodes"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["outcome"], "RATE_LIMITED");
    assert_eq!(entries[1]["outcome"], "ok");
    assert_eq!(entries[1]["status"], 200);
    assert_eq!(entries[1]["kind"], "passthrough");
    assert_eq!(entries[1]["action"], "GET /crm/v3/owners");
    assert_eq!(entries[1]["provider"], "hubspot");
    assert!(entries[1]["keyId"].is_string());
    assert_eq!(log["data"]["auditLog"]["pageInfo"]["hasNextPage"], true);
    let after = log["data"]["auditLog"]["pageInfo"]["endCursor"].clone();
    let (_, rest) = app
        .graphql_as(
            &key,
            "query($after: String) { auditLog(first: 5, after: $after) { nodes { outcome } } }",
            json!({ "after": after }),
        )
        .await;
    assert_eq!(
        rest["data"]["auditLog"]["nodes"],
        json!([{ "outcome": "ok" }])
    );

    // Without the `audit` scope the log stays shut.
    let (_, shut) = app
        .graphql("{ auditLog { nodes { action } } }", json!({}))
        .await;
    assert_eq!(first_code(&shut), "FORBIDDEN", "{shut}");
}

#[tokio::test]
async fn paths_that_leave_the_api_base_are_refused_before_any_call() {
    let (app, sandbox) = hubspot(60).await;
    let key = key_with(&app, &[Scope::Read, Scope::PassthroughRead]).await;
    let before = counters(&sandbox).await;
    for path in [
        "//evil.example/crm/v3/owners",
        "/../salesforce/services/data",
        "/crm/v3/../../x",
        "/%2e%2e/salesforce",
        "/%252e%252e/salesforce",
        "https://evil.example/crm/v3/owners",
        "http:/evil.example",
        "crm/v3/owners",
        "/\\evil.example",
        "/crm/v3/owners\r\nHost: evil.example",
        "/crm/v3/owners?hapikey=x",
    ] {
        let (status, body) = app.graphql_as(&key, READ, json!({ "path": path })).await;
        assert_eq!(status, 200);
        assert_eq!(first_code(&body), "BAD_USER_INPUT", "{path:?}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "path", "{path:?}");
    }
    assert_eq!(
        hubspot_calls(&counters(&sandbox).await),
        hubspot_calls(&before),
        "no call reached the provider"
    );
}

#[tokio::test]
async fn scopes_and_methods_gate_each_root() {
    let (app, sandbox) = hubspot(60).await;
    let before = counters(&sandbox).await;

    // The default key (read, write) has no passthrough scope.
    let (_, body) = app.graphql(READ, json!({ "path": "/crm/v3/owners" })).await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["scope"], "passthrough:read");

    // A read key cannot write, and a write is a mutation.
    let reader = key_with(&app, &[Scope::Read, Scope::Write, Scope::PassthroughRead]).await;
    let write = "mutation { passthrough(provider: HUBSPOT, method: \"POST\",
        path: \"/crm/v3/objects/contacts\", body: { properties: { email: \"x@y.test\" } }) { status } }";
    let (_, body) = app.graphql_as(&reader, write, json!({})).await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["scope"],
        "passthrough:write"
    );

    // Query.passthrough takes reads only.
    let (_, body) = app
        .graphql_as(
            &reader,
            "{ passthrough(provider: HUBSPOT, method: \"DELETE\", path: \"/crm/v3/owners\") { status } }",
            json!({}),
        )
        .await;
    assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "method");
    assert_eq!(
        hubspot_calls(&counters(&sandbox).await),
        hubspot_calls(&before)
    );

    // With `passthrough:write`, the write goes through the connection.
    let writer = key_with(&app, &[Scope::Write, Scope::PassthroughWrite]).await;
    let (_, body) = app.graphql_as(&writer, write, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["passthrough"]["status"], 201);
}

/// Every HubSpot API call the sandbox answered, whatever its status (token grants apart).
fn hubspot_calls(counters: &Value) -> u64 {
    counters["hubspot"]
        .as_object()
        .map(|routes| {
            routes
                .iter()
                .filter(|(route, _)| !route.contains("oauth"))
                .flat_map(|(_, by_status)| by_status.as_object().unwrap().values())
                .map(|n| n.as_u64().unwrap())
                .sum()
        })
        .unwrap_or(0)
}
