//! The MCP server at `/mcp`, through the official MCP TypeScript SDK client
//! (`tests/js/mcp.mjs`, Streamable HTTP) against a gateway on the sandbox: the tools listed,
//! a read tool's result capped with a cursor that continues it, a write tool that reaches
//! HubSpot, the refusals (no key: HTTP 401 before `initialize`; a read-only key on a write:
//! FORBIDDEN), and each tool call in the audit log; then every tool once (`tests/js/mcp-tools.mjs`),
//! each write seen at its provider, and bad input refused as BAD_USER_INPUT. Needs `tests/js/node_modules` (`npm ci`);
//! skips without it unless `NEXUS_TEST_STRICT=1`.

use nexus::auth::{KeySpec, Scope, create_api_key_with};
use serde_json::{Value, json};
use tokio::process::Command;

use crate::{
    crm::{both_crms_with, counters},
    helpers::{TestApp, require, root},
    mail::mailboxes,
};

fn sdk_ready() -> bool {
    require(
        root()
            .join("tests/js/node_modules/@modelcontextprotocol/sdk")
            .exists(),
        "tests/js/node_modules/@modelcontextprotocol/sdk (run `npm ci` in tests/js)",
    )
}

async fn key_with(app: &TestApp, scopes: &[Scope]) -> String {
    let spec = KeySpec {
        scopes: scopes.iter().copied().collect(),
        ..KeySpec::default()
    };
    create_api_key_with(&app.tenants, "acme", "ada@acme.test", &spec)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_official_sdk_lists_calls_pages_and_is_refused_where_it_should_be() {
    if !sdk_ready() {
        return;
    }
    let (app, sandbox) = both_crms_with(|settings| {
        settings.mcp.max_result_bytes = 4096;
        for provider in ["hubspot", "salesforce"] {
            settings.providers.get_mut(provider).unwrap().rate_limits = Some(false);
        }
    })
    .await;
    let writer = key_with(&app, &[Scope::Read, Scope::Write, Scope::Audit]).await;
    let reader = key_with(&app, &[Scope::Read]).await;
    let before = counters(&sandbox).await;

    let output = Command::new("node")
        .arg(root().join("tests/js/mcp.mjs"))
        .args([&app.url("/mcp"), &writer, &reader])
        .output()
        .await
        .expect("node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}\n{stdout}");
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap_or("null"))
        .unwrap_or_else(|_| panic!("not JSON: {stdout}\n{stderr}"));

    // No key: 401 with a Bearer challenge, and the SDK's connect fails on it.
    assert_eq!(seen["unauthorized"]["status"], 401, "{seen}");
    assert!(
        seen["unauthorized"]["wwwAuthenticate"]
            .as_str()
            .is_some_and(|h| h.starts_with("Bearer")),
        "{seen}"
    );
    assert_eq!(seen["unauthorized"]["sdkRefused"], true);

    // The SDK's newest revision that still initializes.
    assert_eq!(seen["protocolVersion"], "2025-11-25");
    let tools: Vec<&str> = seen["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for tool in [
        "search_contacts",
        "search_leads",
        "search_deals",
        "search_companies",
        "get_record",
        "list_emails",
        "list_events",
        "list_messages",
        "contact_timeline",
        "create_record",
        "update_record",
        "send_email",
        "create_event",
        "post_message",
        "list_connections",
        "graphql",
    ] {
        assert!(tools.contains(&tool), "{tool} missing from {tools:?}");
    }
    assert!(!tools.contains(&"passthrough"), "off by default");

    // Capped: fewer than asked, within the cap, and the cursor continues without repeats.
    let first = &seen["firstPage"];
    let count = first["count"].as_u64().unwrap();
    assert!(count > 0 && count < 50, "{first}");
    assert!(first["bytes"].as_u64().unwrap() <= 4096, "{first}");
    assert!(first["nextCursor"].is_string(), "{first}");
    assert!(seen["secondPage"]["count"].as_u64().unwrap() > 0);
    assert_eq!(seen["secondPage"]["overlap"], 0);

    // The write reached HubSpot, and reads back.
    assert_eq!(seen["created"]["provider"], "HUBSPOT", "{seen}");
    assert_eq!(seen["created"]["email"], "mona.agent@example.test");
    assert_eq!(
        seen["fetched"]["id"], seen["created"]["id"],
        "{}",
        seen["fetched"]
    );
    let created = |c: &Value| {
        c["hubspot"]["POST /crm/v3/objects/contacts"]["201"]
            .as_u64()
            .unwrap_or(0)
    };
    assert_eq!(created(&counters(&sandbox).await) - created(&before), 1);

    // Read-only operations only through `graphql`; no writes with a read-only key.
    assert_eq!(
        seen["graphqlQuery"]["data"]["viewer"]["user"]["email"],
        "ada@acme.test"
    );
    assert_eq!(seen["graphqlMutation"]["isError"], true);
    assert!(
        seen["graphqlMutation"]["text"]
            .as_str()
            .unwrap()
            .contains("FORBIDDEN")
    );
    assert_eq!(seen["readOnlyWrite"]["isError"], true);
    assert!(
        seen["readOnlyWrite"]["text"]
            .as_str()
            .unwrap()
            .contains("FORBIDDEN"),
        "{seen}"
    );

    // Every tool call is in the audit log.
    let (_, log) = app
        .graphql_as(
            &writer,
            "{ auditLog(first: 20) { nodes { kind action outcome keyId } } }",
            json!({}),
        )
        .await;
    let entries = log["data"]["auditLog"]["nodes"].as_array().unwrap().clone();
    let mcp: Vec<(String, String)> = entries
        .iter()
        .filter(|e| e["kind"] == "mcp")
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        mcp.contains(&("create_record".into(), "ok".into())),
        "{mcp:?}"
    );
    assert!(
        mcp.contains(&("create_record".into(), "FORBIDDEN".into())),
        "{mcp:?}"
    );
    assert_eq!(
        mcp.iter().filter(|(a, _)| a == "search_contacts").count(),
        2,
        "{mcp:?}"
    );
}

#[tokio::test]
async fn no_key_is_refused_with_a_bearer_challenge_before_initialize() {
    let (app, _sandbox) = both_crms_with(|_| {}).await;
    let response = app
        .client
        .post(app.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": { "name": "t", "version": "1" } } }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers().get("www-authenticate").unwrap(),
        "Bearer"
    );
}

/// Successful calls of one sandbox route, any 2xx status.
fn succeeded(counters: &Value, provider: &str, route: &str) -> u64 {
    counters[provider][route]
        .as_object()
        .map(|by_status| {
            by_status
                .iter()
                .filter(|(status, _)| status.starts_with('2'))
                .filter_map(|(_, n)| n.as_u64())
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn every_tool_answers_through_the_sdk_and_each_write_reaches_its_provider() {
    if !sdk_ready() {
        return;
    }
    let (app, sandbox) = mailboxes(&["GOOGLE_CALENDAR", "SLACK", "HUBSPOT"]).await;
    let writer = key_with(&app, &[Scope::Read, Scope::Write]).await;
    let before = counters(&sandbox).await;

    let output = Command::new("node")
        .arg(root().join("tests/js/mcp-tools.mjs"))
        .args([&app.url("/mcp"), &writer])
        .output()
        .await
        .expect("node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}\n{stdout}");
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap_or("null"))
        .unwrap_or_else(|_| panic!("not JSON: {stdout}\n{stderr}"));
    let after = counters(&sandbox).await;

    for (call, answer) in seen["refusals"].as_object().unwrap() {
        assert_eq!(answer["isError"], true, "{call}: {answer}");
        let text = answer["text"].as_str().unwrap();
        assert!(text.contains("BAD_USER_INPUT"), "{call}: {answer}");
    }
    for (tool, answer) in seen
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "refusals")
    {
        assert_eq!(answer["isError"], false, "{tool}: {answer}");
        let errors = answer["result"]["errors"].as_array();
        assert!(errors.is_none_or(|e| e.is_empty()), "{tool}: {answer}");
    }
    for list in [
        "list_connections",
        "search_contacts",
        "search_deals",
        "search_companies",
        "list_emails",
        "list_events",
        "list_messages",
    ] {
        let items = seen[list]["result"]["items"].as_array();
        assert!(
            items.is_some_and(|i| !i.is_empty()),
            "{list}: {}",
            seen[list]
        );
    }
    assert!(seen["contact_timeline"]["result"]["items"].is_array());
    assert_eq!(
        seen["get_record"]["result"]["id"],
        seen["search_deals"]["result"]["items"][0]["id"]
    );
    assert_eq!(seen["update_record"]["result"]["firstName"], "Renamed");

    for (provider, route) in [
        ("hubspot", "PATCH /crm/v3/objects/contacts/{id}"),
        (
            "gmail",
            "POST /google/gmail/v1/users/{userId}/messages/send",
        ),
        (
            "google_calendar",
            "POST /google/calendar/v3/calendars/{calendarId}/events",
        ),
        ("slack", "POST /api/chat.postMessage"),
    ] {
        assert_eq!(
            succeeded(&after, provider, route) - succeeded(&before, provider, route),
            1,
            "{provider} {route}"
        );
    }
}
