//! GraphQL over Server-Sent Events on `/graphql/stream` and the lifecycle events it carries:
//! request refusals as HTTP statuses with GraphQL errors, a query as one `next` and `complete`,
//! the stream ended cleanly at shutdown, the official `graphql-sse` client resuming with
//! `Last-Event-ID` after its connection is cut (no loss, no repeat), and a refused token refresh
//! told as `connection.reauth_required` over both the WebSocket (`graphql-ws`) and SSE.

use std::process::Stdio;

use chrono::Utc;
use nexus::{
    auth::{KeySpec, Scope, Scopes, create_api_key_with},
    changes::{
        Bus, ChangeLog,
        lifecycle::{self, Lifecycle, LifecycleEvent},
    },
    providers::Provider,
    store::entities::integration_credentials as credentials,
};
use sea_orm::{EntityTrait, sea_query::Expr};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::Command,
};

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox_with},
    helpers::{
        TestApp, eventually, from_the_start, require, root, spawn_app, spawn_app_with,
        test_settings,
    },
};

const STRIPE_SECRET: &str = "whsec_nexus_test_secret";

/// POSTs `body` to `/graphql/stream` with `headers`; the status, content type and body text.
async fn stream(app: &TestApp, headers: &[(&str, &str)], body: &str) -> (u16, String, String) {
    let mut request = app
        .client
        .post(app.url("/graphql/stream"))
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

/// The events of an SSE body: (event, id, data), comments left out.
fn events(text: &str) -> Vec<(String, Option<String>, String)> {
    text.split("\n\n")
        .filter_map(|block| {
            let (mut event, mut id, mut data) = (None, None, String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            Some((event?, id, data))
        })
        .collect()
}

fn first_error(body: &str) -> Value {
    let body: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    body["errors"][0].clone()
}

#[tokio::test]
async fn requests_that_cannot_start_a_stream_get_a_status_and_a_graphql_error() {
    let app = spawn_app().await;
    let bearer = format!("Bearer {}", app.key);
    let sse = ("accept", "text/event-stream");
    let json_body = ("content-type", "application/json");
    let auth = ("authorization", bearer.as_str());
    let query = r#"{"query":"{ viewer { user { email } } }"}"#;

    let (status, media, body) = stream(&app, &[sse, json_body], query).await;
    assert_eq!(status, 401, "{body}");
    assert!(media.starts_with("application/json"), "{media}");
    assert_eq!(first_error(&body)["extensions"]["code"], "UNAUTHENTICATED");
    let (status, _, body) = stream(
        &app,
        &[sse, json_body, ("authorization", "Bearer nxk_wrong")],
        query,
    )
    .await;
    assert_eq!(status, 401, "{body}");

    let (status, _, body) = stream(
        &app,
        &[("accept", "application/json"), json_body, auth],
        query,
    )
    .await;
    assert_eq!(status, 406, "{body}");
    assert_eq!(first_error(&body)["extensions"]["code"], "BAD_REQUEST");

    let (status, _, body) = stream(&app, &[sse, json_body, auth], "{not json").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        first_error(&body)["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    let (status, _, body) = stream(&app, &[sse, json_body, auth], r#"{"variables":{}}"#).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(first_error(&body)["message"], "`query` is missing");
    let (status, _, body) = stream(&app, &[sse, auth], query).await;
    assert_eq!(status, 415, "{body}");

    let (status, _, body) = stream(
        &app,
        &[sse, json_body, auth, ("last-event-id", "not-a-cursor")],
        r#"{"query":"subscription { changes { cursor } }"}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let error = first_error(&body);
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    assert_eq!(error["extensions"]["field"], "Last-Event-ID");
    assert!(error["extensions"]["requestId"].is_string(), "{body}");
}

#[tokio::test]
async fn a_query_is_one_next_then_complete_and_a_bad_document_a_next_with_its_errors() {
    let app = spawn_app().await;
    let bearer = format!("Bearer {}", app.key);
    let headers = [
        ("accept", "text/event-stream"),
        ("content-type", "application/json"),
        ("authorization", bearer.as_str()),
    ];
    let (status, media, body) = stream(
        &app,
        &headers,
        r#"{"query":"query Me { viewer { user { email } } }","operationName":"Me"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(media.starts_with("text/event-stream"), "{media}");
    let got = events(&body);
    assert_eq!(got.len(), 2, "{body}");
    assert_eq!(got[0].0, "next");
    let result: Value = serde_json::from_str(&got[0].2).unwrap();
    assert_eq!(
        result["data"]["viewer"]["user"]["email"], "ada@acme.test",
        "{body}"
    );
    assert_eq!(got[1].0, "complete");

    // Validation happens in the stream, as the protocol asks.
    let (status, _, body) = stream(&app, &headers, r#"{"query":"{ nope }"}"#).await;
    assert_eq!(status, 200, "{body}");
    let got = events(&body);
    assert_eq!((got[0].0.as_str(), got[1].0.as_str()), ("next", "complete"));
    let result: Value = serde_json::from_str(&got[0].2).unwrap();
    assert_eq!(
        result["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{body}"
    );
    assert!(result.get("data").is_none_or(Value::is_null), "{body}");

    // A cursor the log cannot serve is the resolver's BAD_USER_INPUT, in the stream.
    let (status, _, body) = stream(
        &app,
        &headers,
        r#"{"query":"subscription { changes(after: \"nope\") { cursor } }"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let result: Value = serde_json::from_str(&events(&body)[0].2).unwrap();
    assert_eq!(result["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(result["errors"][0]["extensions"]["field"], "after");
}

#[tokio::test]
async fn a_stream_ends_cleanly_without_complete_when_the_gateway_stops() {
    let mut app = spawn_app().await;
    let mut response = app
        .client
        .post(app.url("/graphql/stream"))
        .header("accept", "text/event-stream")
        .header("content-type", "application/json")
        .bearer_auth(&app.key)
        .body(r#"{"query":"subscription { heartbeat(intervalMs: 50) { sequence } }"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut text = String::new();
    while !text.contains("event: next") {
        let chunk = response.chunk().await.unwrap().expect("a first beat");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let rest = async {
        // A body cut off mid-way (the drain giving up on it) is an error here.
        while let Some(chunk) = response.chunk().await.expect("the stream ends cleanly") {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    tokio::join!(app.stop(), rest);
    assert!(
        !text.contains("event: complete"),
        "a stream cut by shutdown is not complete: {text}"
    );
}

fn node_ready() -> bool {
    let modules = root().join("tests/js/node_modules");
    require(
        modules.join("graphql-sse").exists() && modules.join("graphql-ws").exists(),
        "tests/js/node_modules with graphql-sse and graphql-ws (run `npm ci` in tests/js)",
    )
}

/// An app that takes Stripe webhooks for its own project ("acme").
async fn stripe_app() -> TestApp {
    let mut settings = test_settings();
    settings.changes.default_project = Some("acme".into());
    settings
        .providers
        .entry("stripe".into())
        .or_default()
        .webhook_secret = Some(STRIPE_SECRET.to_owned().into());
    spawn_app_with(settings).await
}

/// Delivers a signed Stripe event, as the sandbox's sender would.
async fn deliver(app: &TestApp, n: usize) {
    let body = json!({
        "id": format!("evt_sse_{n}"), "object": "event", "api_version": "2024-06-20",
        "created": Utc::now().timestamp(), "type": "customer.updated", "livemode": false,
        "data": { "object": { "id": format!("cus_{n}"), "object": "customer" } },
    })
    .to_string();
    let response = app
        .client
        .post(app.url("/webhooks/stripe"))
        .header(
            "stripe-signature",
            nexus_sandbox::stripe::signature(STRIPE_SECRET, Utc::now().timestamp(), &body),
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// The whole log as the key's owner pages it: `{ cursor op provider type remoteId data }`.
async fn whole_log(app: &TestApp, key: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut after = Value::Null;
    loop {
        let (status, body) = app
            .graphql_as(
                key,
                "query($after: String) { changes(first: 100, after: $after) {
                   pageInfo { hasNextPage endCursor }
                   nodes { cursor op provider type remoteId data } } }",
                json!({ "after": after }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let page = &body["data"]["changes"];
        events.extend(page["nodes"].as_array().unwrap().iter().cloned());
        if page["pageInfo"]["hasNextPage"] != true {
            return events;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

#[tokio::test]
async fn the_graphql_sse_client_resumes_after_a_cut_connection_with_no_loss_or_repeat() {
    if !node_ready() {
        return;
    }
    let app = stripe_app().await;
    for n in 1..=3 {
        deliver(&app, n).await;
    }
    let mut child = Command::new("node")
        .arg(root().join("tests/js/sse-resume.mjs"))
        .args([
            &app.url("/graphql/stream"),
            &app.key,
            &from_the_start(),
            "3",
            "8",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let dropped = stdout.next_line().await.unwrap().expect("the drop");
    assert!(dropped.contains("dropped"), "{dropped}");
    // Appended while the client is away: the resumed stream replays them from the log.
    for n in 4..=6 {
        deliver(&app, n).await;
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"go\n").await.unwrap();
    stdin.flush().await.unwrap();
    for n in 7..=8 {
        deliver(&app, n).await;
    }
    let last = stdout.next_line().await.unwrap().unwrap_or_default();
    let output = child.wait_with_output().await.unwrap();
    let report: Value = serde_json::from_str(&last).unwrap_or(Value::Null);
    assert!(
        output.status.success(),
        "{}\n{report}",
        String::from_utf8_lossy(&output.stderr)
    );

    let log: Vec<(String, String)> = whole_log(&app, &app.key)
        .await
        .iter()
        .map(|e| {
            (
                e["cursor"].as_str().unwrap().into(),
                e["remoteId"].as_str().unwrap().into(),
            )
        })
        .collect();
    let got: Vec<(String, String)> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["cursor"].as_str().unwrap().into(),
                e["remoteId"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(log.len(), 8);
    assert_eq!(got, log, "every event once, in order, across the cut");
    assert_eq!(report["connections"], 2, "{report}");
    let resumed_from = &report["lastEventIds"][1];
    assert!(
        got.iter()
            .any(|(cursor, _)| resumed_from == cursor.as_str()),
        "the second connection sent the last id seen: {report}"
    );
    assert_eq!(report["lastEventIds"][0], Value::Null);
    let ids: Vec<&str> = report["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    for (cursor, _) in &got {
        assert!(
            ids.contains(&cursor.as_str()),
            "`id:` {cursor} was sent: {report}"
        );
    }
}

async fn set_expiry(app: &TestApp, at: chrono::DateTime<Utc>) {
    credentials::Entity::update_many()
        .col_expr(credentials::Column::TokenExpiresAt, Expr::value(at))
        .exec(&app.db)
        .await
        .unwrap();
}

async fn one_lead(app: &TestApp) -> Value {
    app.graphql("{ leads(first: 1) { nodes { id } } }", json!({}))
        .await
        .1
}

/// The connection lifecycle types among `events`, in order.
fn connection_types(events: &Value) -> Vec<String> {
    events
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .filter(|t| t.starts_with("connection."))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_refused_refresh_reaches_websocket_and_sse_subscribers_as_reauth_required() {
    if !node_ready() {
        return;
    }
    // The third channel: a webhook endpoint on a loopback receiver (allowed for the test).
    let (app, sandbox) = pointed_at_sandbox_with(false, |settings| {
        settings.webhooks.allow_private_targets = true;
    })
    .await;
    let (receiver, url) = crate::webhooks_out::Receiver::start().await;
    let (_, secret) = crate::webhooks_out::create(&app, &url).await;
    let back = consent(&connect_link(&app, "SALESFORCE", None).await, "approve").await;
    assert_eq!(callback(&back).await.0, 200);
    let (ada, _) = app.tenant("acme", "ada@acme.test").await;
    let child = Command::new("node")
        .arg(root().join("tests/js/lifecycle.mjs"))
        .args([
            &app.origin,
            &app.key,
            &from_the_start(),
            "connection.reauth_required",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node");

    // A refresh that works, then one the provider refuses.
    set_expiry(&app, Utc::now() - chrono::Duration::minutes(1)).await;
    let body = one_lead(&app).await;
    assert!(body["errors"].is_null(), "{body}");
    let revoked = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/revoke"))
        .json(&json!({ "provider": "salesforce" }))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    set_expiry(&app, Utc::now() - chrono::Duration::minutes(1)).await;
    let body = one_lead(&app).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "REAUTH_REQUIRED");

    let output = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("null")).unwrap_or(Value::Null);
    assert!(
        output.status.success(),
        "{}\n{report}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected = [
        "connection.created",
        "connection.refreshed",
        "connection.reauth_required",
    ];
    for channel in ["ws", "sse"] {
        assert_eq!(
            connection_types(&report[channel]),
            expected,
            "{channel}: {report}"
        );
        let reauth = report[channel]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == "connection.reauth_required")
            .unwrap();
        assert_eq!(reauth["op"], "UPDATED");
        assert_eq!(reauth["provider"], "SALESFORCE");
        assert_eq!(reauth["remoteId"], ada.to_string());
        assert_eq!(reauth["data"]["provider"], "salesforce");
        let text = reauth["data"].to_string();
        assert!(!text.contains("token\":"), "no token in {text}");
    }

    // The webhook endpoint got the same three, signed as the Standard Webhooks library checks.
    let delivered = eventually(
        "connection.reauth_required delivered to the webhook endpoint",
        std::time::Duration::from_secs(30),
        async || {
            let got = receiver.until(1).await;
            got.iter()
                .any(|r| r.json()["type"] == "connection.reauth_required")
                .then_some(got)
        },
    )
    .await;
    let types: Vec<String> = delivered
        .iter()
        .filter_map(|r| r.json()["type"].as_str().map(str::to_owned))
        .filter(|t| t.starts_with("connection."))
        .collect();
    assert_eq!(types, expected, "webhook: {types:?}");
    let reauth = delivered
        .iter()
        .find(|r| r.json()["type"] == "connection.reauth_required")
        .unwrap();
    assert_eq!(reauth.json()["data"]["provider"], "SALESFORCE");
    if let Some(checks) = crate::webhooks_out::verified(&delivered, &[&secret]).await {
        assert!(checks.iter().all(|c| c == &vec![true]), "{checks:?}");
    }

    // Ending the connection is told too.
    let (_, body) = app
        .graphql(
            "mutation { disconnectProvider(provider: SALESFORCE) }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["disconnectProvider"], true, "{body}");
    let log = whole_log(&app, &app.key).await;
    assert_eq!(
        connection_types(&Value::Array(log))
            .last()
            .map(String::as_str),
        Some("connection.disconnected")
    );
}

#[tokio::test]
async fn lifecycle_events_are_their_users_and_endpoint_events_project_readers_only() {
    let (app, _sandbox) = pointed_at_sandbox_with(false, |settings| {
        settings.changes.first_pass = true;
    })
    .await;
    let back = consent(&connect_link(&app, "HUBSPOT", None).await, "approve").await;
    assert_eq!(callback(&back).await.0, 200);
    let bob = app.key_for("acme", "bob@acme.test").await;
    let olga = create_api_key_with(
        &app.tenants,
        "acme",
        "olga@acme.test",
        &KeySpec {
            scopes: Scopes::DEFAULT.with(Scope::ChangesProject),
            ..KeySpec::default()
        },
    )
    .await
    .unwrap();
    // The first passes over the new connection end with `sync.completed`.
    let completed = eventually(
        "a sync event after the first passes",
        std::time::Duration::from_secs(60),
        async || {
            whole_log(&app, &app.key)
                .await
                .into_iter()
                .find(|e| e["type"].as_str().is_some_and(|t| t.starts_with("sync.")))
        },
    )
    .await;
    assert_eq!(completed["type"], "sync.completed", "{completed}");
    assert_eq!(completed["provider"], "HUBSPOT");
    assert_eq!(completed["data"]["first"], true, "{completed}");

    let (_, project_id) = app.tenant("acme", "ada@acme.test").await;
    let log = ChangeLog::new(app.db.clone(), Bus::default());
    let endpoint = uuid::Uuid::new_v4();
    lifecycle::append(
        &log,
        project_id,
        LifecycleEvent::webhook_endpoint(
            Lifecycle::WebhookEndpointDisabled,
            endpoint,
            Provider::Hubspot,
            json!({ "reason": "failing for a day" }),
        ),
    )
    .await
    .unwrap();

    let types = |events: Vec<Value>| -> Vec<String> {
        events
            .iter()
            .filter_map(|e| e["type"].as_str().map(str::to_owned))
            .collect()
    };
    let ada_sees = types(whole_log(&app, &app.key).await);
    assert!(
        ada_sees.contains(&"connection.created".to_owned()),
        "{ada_sees:?}"
    );
    assert!(
        !ada_sees.contains(&"webhook_endpoint.disabled".to_owned()),
        "an endpoint's event is for project readers: {ada_sees:?}"
    );
    let bob_sees = types(whole_log(&app, &bob).await);
    assert!(
        !bob_sees
            .iter()
            .any(|t| t.starts_with("connection.") || t.starts_with("sync.")),
        "another member's connection is not bob's: {bob_sees:?}"
    );
    let olga_sees = whole_log(&app, &olga).await;
    let disabled = olga_sees
        .iter()
        .find(|e| e["type"] == "webhook_endpoint.disabled")
        .expect("the project reader sees the endpoint's event");
    assert_eq!(disabled["remoteId"], endpoint.to_string());
    assert_eq!(disabled["op"], "UPDATED");
    assert!(types(olga_sees.clone()).contains(&"connection.created".to_owned()));
}
