//! Outbound webhooks end to end: endpoints managed through GraphQL, the change log delivered to a
//! receiver over real HTTP, every delivery verified by the official `standardwebhooks` npm
//! library (`tests/js/webhook-verify.mjs`); order and completeness through failures (500s,
//! timeouts, a kill -9 of the gateway), replay with the same `webhook-id`, rotation with both
//! signatures, the URL guard's refusals before any connection, and the secret shown once.

use std::{
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU8, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use chrono::Utc;
use serde_json::{Value, json};
use tempfile::TempDir;

use nexus::auth::{KeySpec, Scope, Scopes, create_api_key_with};

use crate::{
    helpers::{
        TestApp, backends, captured_logs, eventually, first_code, from_the_start, require, root,
        spawn_app_with, test_settings, wait_until_up,
    },
    subscriber::Subscriber,
};

const STRIPE_SECRET: &str = "whsec_nexus_outbound_test";

const CREATE: &str = "mutation($url: String!, $types: [String!], $providers: [Provider!]) {
  createWebhookEndpoint(url: $url, types: $types, providers: $providers) {
    endpoint { id url types providers enabled } secret
  }
}";

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

impl Received {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    /// The event's position in the log, from `data.cursor`.
    fn seq(&self) -> i64 {
        use base64::Engine;
        let cursor = self.json()["data"]["cursor"].as_str().unwrap().to_owned();
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .unwrap();
        String::from_utf8(text).unwrap()["change:".len()..]
            .parse()
            .unwrap()
    }
}

/// How the receiver answers.
const OK: u8 = 0;
const FAIL: u8 = 1;
const HANG: u8 = 2;

/// A loopback receiver that records every request and answers as told.
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    mode: Arc<AtomicU8>,
    answered_2xx: Arc<AtomicUsize>,
}

/// What a failing receiver answers, which the attempts log keeps as `responseExcerpt`.
const FAILING: &str = "the receiver is down for maintenance";

async fn receive(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    r.got.lock().unwrap().push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body: String::from_utf8(body.to_vec()).unwrap(),
    });
    match r.mode.load(Ordering::SeqCst) {
        OK => {
            r.answered_2xx.fetch_add(1, Ordering::SeqCst);
            (StatusCode::NO_CONTENT, "")
        }
        FAIL => (StatusCode::INTERNAL_SERVER_ERROR, FAILING),
        _ => {
            // Longer than the gateway's timeout: it gives up first.
            tokio::time::sleep(Duration::from_secs(30)).await;
            (StatusCode::SERVICE_UNAVAILABLE, "")
        }
    }
}

impl Receiver {
    pub(crate) async fn start() -> (Receiver, String) {
        let receiver = Receiver::default();
        let app = axum::Router::new()
            .route("/hooks", post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` requests have come.
    pub(crate) async fn until(&self, n: usize) -> Vec<Received> {
        eventually(
            &format!("{n} requests at the receiver"),
            Duration::from_secs(30),
            async || {
                let got = self.got();
                (got.len() >= n).then_some(got)
            },
        )
        .await
    }

    /// Waits until `n` distinct events have been answered 2xx; every request so far.
    async fn until_delivered(&self, n: usize) -> Vec<Received> {
        eventually(
            &format!("{n} events delivered"),
            Duration::from_secs(60),
            async || {
                let got = self.got();
                (self.answered_2xx.load(Ordering::SeqCst) >= n && distinct(&got).len() >= n)
                    .then_some(got)
            },
        )
        .await
    }
}

/// The webhook-ids in the order first seen.
fn distinct(got: &[Received]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for r in got {
        if !ids.contains(&r.id) {
            ids.push(r.id.clone());
        }
    }
    ids
}

/// Verifies each delivery with the official library, once per secret.
pub(crate) async fn verified(deliveries: &[Received], secrets: &[&str]) -> Option<Vec<Vec<bool>>> {
    let modules = root().join("tests/js/node_modules/standardwebhooks");
    if !require(
        modules.exists(),
        "tests/js/node_modules (run `npm ci` in tests/js)",
    ) {
        return None;
    }
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("deliveries.json");
    let list: Vec<Value> = deliveries
        .iter()
        .map(|d| json!({ "id": d.id, "timestamp": d.timestamp, "signature": d.signature, "body": d.body }))
        .collect();
    std::fs::write(
        &file,
        json!({ "secrets": secrets, "deliveries": list }).to_string(),
    )
    .unwrap();
    let output = tokio::process::Command::new("node")
        .arg(root().join("tests/js/webhook-verify.mjs"))
        .arg(&file)
        .output()
        .await
        .expect("node");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    Some(serde_json::from_value(last["results"].clone()).unwrap())
}

/// Settings for a gateway that takes Stripe webhooks for "acme" and may deliver to loopback,
/// retrying quickly.
fn settings() -> nexus::config::Settings {
    let mut settings = test_settings();
    settings.changes.default_project = Some("acme".into());
    settings
        .providers
        .entry("stripe".into())
        .or_default()
        .webhook_secret = Some(STRIPE_SECRET.to_owned().into());
    settings.webhooks.allow_private_targets = true;
    settings.webhooks.retry_min_delay_ms = 20;
    settings.webhooks.retry_max_delay_ms = 200;
    settings.webhooks.timeout_ms = 500;
    settings.webhooks.lease_secs = 2;
    settings
}

/// A Stripe event into the project's change log, through `/webhooks/stripe`.
async fn stripe_event(origin: &str, n: usize) {
    let body = json!({
        "id": format!("evt_out_{n}_{}", uuid::Uuid::new_v4().simple()),
        "object": "event", "api_version": "2024-06-20", "created": Utc::now().timestamp(),
        "type": "invoice.paid", "livemode": false,
        "data": { "object": { "id": format!("in_{n}"), "object": "invoice", "amount_paid": n } },
    })
    .to_string();
    let response = reqwest::Client::new()
        .post(format!("{origin}/webhooks/stripe"))
        .header(
            "stripe-signature",
            nexus_sandbox::stripe::signature(STRIPE_SECRET, Utc::now().timestamp(), &body),
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

/// Creates an endpoint; its id and secret.
pub(crate) async fn create(app: &TestApp, url: &str) -> (String, String) {
    let (status, body) = app.graphql(CREATE, json!({ "url": url })).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    let created = &body["data"]["createWebhookEndpoint"];
    assert_eq!(created["endpoint"]["url"], url);
    assert_eq!(created["endpoint"]["enabled"], true);
    assert!(created["endpoint"]["types"].is_null());
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (
        created["endpoint"]["id"].as_str().unwrap().to_owned(),
        secret,
    )
}

#[tokio::test]
async fn deliveries_verify_with_the_standard_webhooks_library_replay_and_rotate() {
    let logs = captured_logs();
    let app = spawn_app_with(settings()).await;
    let (receiver, url) = Receiver::start().await;
    let (id, secret) = create(&app, &url).await;
    for n in 1..=3 {
        stripe_event(&app.origin, n).await;
    }
    let got = receiver.until_delivered(3).await;
    assert_eq!(got.len(), 3, "one request per event when all goes well");
    let seqs: Vec<i64> = got.iter().map(Received::seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let first = got[0].json();
    assert_eq!(first["type"], "stripe:invoice.paid");
    assert_eq!(first["data"]["provider"], "STRIPE");
    assert_eq!(first["data"]["op"], "UPDATED");
    assert_eq!(first["data"]["connection"]["provider"], "STRIPE");
    // The record: what the provider sent (Stripe's event).
    assert_eq!(first["data"]["record"]["data"]["object"]["amount_paid"], 1);
    if let Some(results) = verified(&got, &[&secret]).await {
        assert_eq!(results, vec![vec![true]; 3]);
    }
    // A wrong secret does not verify: the check is real.
    let other = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    if let Some(results) = verified(&got[..1], &[other]).await {
        assert_eq!(results, vec![vec![false]]);
    }

    // The attempts log.
    let (_, body) = app
        .graphql(
            "query($id: ID!) { webhookDeliveries(endpointId: $id, first: 10) {
               nodes { webhookId status latencyMs responseExcerpt attemptedAt } } }",
            json!({ "id": id }),
        )
        .await;
    let nodes = body["data"]["webhookDeliveries"]["nodes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(nodes.len(), 3, "{body}");
    assert!(nodes.iter().all(|n| n["status"] == 204), "{body}");
    assert_eq!(nodes[0]["webhookId"], got[2].id.as_str(), "newest first");

    // Replay from the start: the same events again, with the same ids, in order.
    let (_, body) = app
        .graphql(
            "mutation($id: ID!, $from: String!) { replayWebhookEndpoint(id: $id, from: $from) { id enabled } }",
            json!({ "id": id, "from": from_the_start() }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let all = receiver.until(6).await;
    let replayed: Vec<&str> = all[3..].iter().map(|r| r.id.as_str()).collect();
    let original: Vec<&str> = all[..3].iter().map(|r| r.id.as_str()).collect();
    assert_eq!(replayed, original);
    // Replay from an event's cursor (a delivery's `data.cursor`): the events after it.
    let (_, body) = app
        .graphql(
            "mutation($id: ID!, $from: String!) { replayWebhookEndpoint(id: $id, from: $from) { id } }",
            json!({ "id": id, "from": got[0].json()["data"]["cursor"] }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let all = receiver.until(8).await;
    let replayed: Vec<&str> = all[6..].iter().map(|r| r.id.as_str()).collect();
    assert_eq!(replayed, original[1..]);

    // Rotate with an overlap: the next delivery carries both signatures, each verifies alone.
    let (_, body) = app
        .graphql(
            "mutation($id: ID!) { rotateWebhookEndpointSecret(id: $id, overlapSecs: 3600) { endpoint { id } secret } }",
            json!({ "id": id }),
        )
        .await;
    let rotated = body["data"]["rotateWebhookEndpointSecret"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(rotated, secret);
    stripe_event(&app.origin, 4).await;
    let all = receiver.until(9).await;
    assert_eq!(
        all[8].signature.split(' ').count(),
        2,
        "{}",
        all[8].signature
    );
    if let Some(results) = verified(&all[8..9], &[&secret, &rotated]).await {
        assert_eq!(results, vec![vec![true, true]]);
    }
    // Without overlap the old secret stops signing at once.
    let (_, body) = app
        .graphql(
            "mutation($id: ID!) { rotateWebhookEndpointSecret(id: $id) { secret } }",
            json!({ "id": id }),
        )
        .await;
    let newest = body["data"]["rotateWebhookEndpointSecret"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    stripe_event(&app.origin, 5).await;
    let all = receiver.until(10).await;
    if let Some(results) = verified(&all[9..10], &[&rotated, &newest]).await {
        assert_eq!(results, vec![vec![false, true]]);
    }

    // The secrets never again: not in the list, the deliveries, nor the logs.
    let (_, listed) = app
        .graphql(
            "{ webhookEndpoints(first: 10) { nodes { id url types providers enabled createdAt } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        listed["data"]["webhookEndpoints"]["nodes"][0]["id"],
        id.as_str(),
        "{listed}"
    );
    let (_, deliveries) = app
        .graphql(
            "query($id: ID!) { webhookDeliveries(endpointId: $id, first: 100) { nodes { webhookId status responseExcerpt error } } }",
            json!({ "id": id }),
        )
        .await;
    let text = logs.text();
    for s in [&secret, &rotated, &newest] {
        let bare = s.trim_start_matches("whsec_");
        assert!(!listed.to_string().contains(bare));
        assert!(!deliveries.to_string().contains(bare));
        assert!(!text.contains(bare), "a secret is in the logs");
    }
}

#[tokio::test]
async fn a_receiver_that_fails_for_a_while_gets_every_event_in_order() {
    for (backend, url) in backends().await {
        let mut settings = settings();
        settings.database.url = url;
        let app = spawn_app_with(settings).await;
        eprintln!("{backend}");
        fails_for_a_while(&app).await;
    }
}

async fn fails_for_a_while(app: &TestApp) {
    let (receiver, url) = Receiver::start().await;
    receiver.set(FAIL);
    create(app, &url).await;
    for n in 1..=5 {
        stripe_event(&app.origin, n).await;
    }
    // 500s, then timeouts, then answers.
    let failed = receiver.until(3).await.len();
    receiver.set(HANG);
    receiver.until(failed + 2).await;
    receiver.set(OK);
    let got = receiver.until_delivered(5).await;
    let ids = distinct(&got);
    assert_eq!(ids.len(), 5, "every event, none lost");
    // In order: no request ever goes back to an earlier event.
    let seqs: Vec<i64> = got.iter().map(Received::seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] <= w[1]), "{seqs:?}");
    assert!(got.len() > 5, "the first event was retried");
    let (_, body) = app
        .graphql("{ webhookEndpoints { nodes { id } } }", json!({}))
        .await;
    let id = body["data"]["webhookEndpoints"]["nodes"][0]["id"].clone();
    let (_, body) = app
        .graphql(
            "query($id: ID!) { webhookDeliveries(endpointId: $id, first: 100) {
               nodes { status error latencyMs responseExcerpt attemptedAt } } }",
            json!({ "id": id }),
        )
        .await;
    let nodes = body["data"]["webhookDeliveries"]["nodes"]
        .as_array()
        .unwrap()
        .clone();
    // Each attempt as it went: a 500 with what the receiver said, a timeout after
    // `webhooks.timeout_ms` (500) with no answer, then a 204 — newest first.
    let failed = nodes.iter().find(|n| n["status"] == 500).expect("a 500");
    assert_eq!(failed["responseExcerpt"], FAILING, "{body}");
    let timed_out = nodes
        .iter()
        .find(|n| n["error"] == "timed out")
        .expect("a timeout");
    assert!(timed_out["status"].is_null(), "{body}");
    assert!(timed_out["latencyMs"].as_i64().unwrap() >= 500, "{body}");
    assert_eq!(nodes[0]["status"], 204, "{body}");
    let times: Vec<&str> = nodes
        .iter()
        .map(|n| n["attemptedAt"].as_str().unwrap())
        .collect();
    let parsed: Vec<chrono::DateTime<Utc>> = times.iter().map(|t| t.parse().unwrap()).collect();
    assert!(parsed.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
}

/// A key of `user` in "acme" holding `changes:project`.
async fn project_reader(app: &TestApp, user: &str) -> String {
    create_api_key_with(
        &app.tenants,
        "acme",
        user,
        &KeySpec {
            scopes: Scopes::DEFAULT.with(Scope::ChangesProject),
            ..KeySpec::default()
        },
    )
    .await
    .unwrap()
}

/// The `type` of each of the next `n` events of a `changes` subscription, lifecycle events
/// included.
async fn next_types(subscriber: &mut Subscriber, n: usize) -> Vec<String> {
    let mut types = Vec::new();
    while types.len() < n {
        let message = subscriber.message().await;
        assert_eq!(message["type"], "next", "{message}");
        let event = &message["payload"]["data"]["changes"];
        types.push(
            event["type"]
                .as_str()
                .unwrap_or_else(|| panic!("{message}"))
                .to_owned(),
        );
    }
    types
}

/// The `type` of each event the `changes` query shows `key`.
async fn logged_types(app: &TestApp, key: &str) -> Vec<String> {
    let (_, body) = app
        .graphql_as(key, "{ changes(first: 50) { nodes { type } } }", json!({}))
        .await;
    body["data"]["changes"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|n| n["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_endpoint_failing_past_retry_for_is_disabled_with_a_notice_for_project_readers_and_webhooks()
 {
    let mut settings = settings();
    settings.webhooks.retry_for_secs = 0;
    let app = spawn_app_with(settings).await;
    let olga = project_reader(&app, "olga@acme.test").await;
    // Ada (a member, the endpoints' maker) and Olga (`changes:project`) subscribe from the start.
    const SUBSCRIBE: &str = "subscription($after: String) { changes(after: $after) { type } }";
    let start = json!({ "after": from_the_start() });
    let mut ada_follows = Subscriber::start(&app, &app.key, SUBSCRIBE, start.clone()).await;
    let mut olga_follows = Subscriber::start(&app, &olga, SUBSCRIBE, start).await;
    let (failing, failing_url) = Receiver::start().await;
    failing.set(FAIL);
    let (id, _) = create(&app, &failing_url).await;
    // Another endpoint of Ada's, healthy: a webhook of a member.
    let (healthy, healthy_url) = Receiver::start().await;
    create(&app, &healthy_url).await;
    stripe_event(&app.origin, 1).await;
    let disabled = eventually(
        "the endpoint to be disabled",
        Duration::from_secs(30),
        async || {
            let (_, body) = app
                .graphql("{ webhookEndpoints { nodes { id enabled } } }", json!({}))
                .await;
            let nodes = body["data"]["webhookEndpoints"]["nodes"]
                .as_array()?
                .clone();
            nodes
                .into_iter()
                .find(|n| n["id"] == id.as_str() && n["enabled"] == false)
        },
    )
    .await;
    assert_eq!(disabled["id"], id.as_str());
    stripe_event(&app.origin, 2).await;

    // The project reader sees the notice, through the query and the subscription.
    let (_, body) = app
        .graphql_as(
            &olga,
            "{ changes(first: 10) { nodes { type op provider remoteId data } } }",
            json!({}),
        )
        .await;
    let nodes = body["data"]["changes"]["nodes"].as_array().unwrap();
    let event = nodes
        .iter()
        .find(|n| n["type"] == "webhook_endpoint.disabled")
        .unwrap_or_else(|| panic!("no lifecycle event: {body}"));
    assert_eq!(event["op"], "UPDATED");
    assert_eq!(event["provider"], "STRIPE", "the provider it failed on");
    assert_eq!(event["data"]["endpointId"], id.as_str());
    assert!(
        event["data"]["url"].is_null(),
        "no URL in a notice: {event}"
    );
    assert_eq!(
        next_types(&mut olga_follows, 3).await,
        [
            "stripe:invoice.paid",
            "webhook_endpoint.disabled",
            "stripe:invoice.paid"
        ]
    );
    // The maker, a member, does not: its subscription goes from the first Stripe event to the
    // second, and its query shows no notice.
    assert_eq!(
        next_types(&mut ada_follows, 2).await,
        ["stripe:invoice.paid", "stripe:invoice.paid"]
    );
    assert_eq!(
        logged_types(&app, &app.key).await,
        ["stripe:invoice.paid", "stripe:invoice.paid"]
    );
    // Webhooks do: the member's healthy endpoint gets it between the two.
    let got = healthy.until_delivered(3).await;
    let types: Vec<Value> = got.iter().map(|r| r.json()["type"].clone()).collect();
    assert_eq!(
        types,
        [
            "stripe:invoice.paid",
            "webhook_endpoint.disabled",
            "stripe:invoice.paid"
        ]
    );
    assert_eq!(got[1].json()["data"]["record"]["endpointId"], id.as_str());

    // Re-enabled, the failed endpoint resumes from the event that failed, and gets its own
    // notice next.
    failing.set(OK);
    let (_, body) = app
        .graphql(
            "mutation($id: ID!) { updateWebhookEndpoint(id: $id, enabled: true) { enabled } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        body["data"]["updateWebhookEndpoint"]["enabled"], true,
        "{body}"
    );
    let got = failing.until_delivered(3).await;
    let types: Vec<Value> = got[got.len() - 3..]
        .iter()
        .map(|r| r.json()["type"].clone())
        .collect();
    assert_eq!(
        types,
        [
            "stripe:invoice.paid",
            "webhook_endpoint.disabled",
            "stripe:invoice.paid"
        ]
    );
    ada_follows.close().await;
    olga_follows.close().await;
}

#[tokio::test]
async fn an_endpoints_audience_is_fixed_at_creation_and_only_its_readers_manage_it() {
    let app = spawn_app_with(settings()).await;
    let ada_project = project_reader(&app, "ada@acme.test").await;
    let olga = project_reader(&app, "olga@acme.test").await;
    let bob = app.key_for("acme", "bob@acme.test").await;

    // Ada's key with `changes:project` makes a project-wide endpoint.
    let (wide, wide_url) = Receiver::start().await;
    let (_, body) = app
        .graphql_as(&ada_project, CREATE, json!({ "url": wide_url }))
        .await;
    let wide_id = body["data"]["createWebhookEndpoint"]["endpoint"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    // Her member key could not read what it receives: it neither lists nor manages it, lest it
    // point the project's events at a URL of its own.
    let (_, body) = app
        .graphql("{ webhookEndpoints { nodes { id } } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["webhookEndpoints"]["nodes"],
        json!([]),
        "{body}"
    );
    for mutation in [
        "mutation($id: ID!) { updateWebhookEndpoint(id: $id, url: \"https://elsewhere.example/\") { id } }",
        "mutation($id: ID!) { rotateWebhookEndpointSecret(id: $id) { secret } }",
        "mutation($id: ID!) { replayWebhookEndpoint(id: $id, from: \"Y2hhbmdlOjA\") { id } }",
    ] {
        let (_, body) = app.graphql(mutation, json!({ "id": wide_id })).await;
        assert_eq!(first_code(&body), "NOT_FOUND", "{mutation}: {body}");
    }
    let (_, body) = app
        .graphql(
            "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }",
            json!({ "id": wide_id }),
        )
        .await;
    assert_eq!(body["data"]["deleteWebhookEndpoint"], false, "{body}");

    // Her member key's endpoint, moved by Olga (`changes:project`) to another receiver, still
    // receives what Ada's member key reads, not what Olga's does.
    let (_, unused_url) = Receiver::start().await;
    let (narrow_id, _) = create(&app, &unused_url).await;
    let (narrow, narrow_url) = Receiver::start().await;
    let (_, body) = app
        .graphql_as(
            &olga,
            "mutation($id: ID!, $url: String) { updateWebhookEndpoint(id: $id, url: $url) { id url } }",
            json!({ "id": narrow_id, "url": narrow_url }),
        )
        .await;
    assert_eq!(
        body["data"]["updateWebhookEndpoint"]["url"], narrow_url,
        "{body}"
    );

    // Bob connects Stripe (an event of his), then a project event comes.
    let (_, body) = app
        .graphql_as(
            &bob,
            "mutation { connectStripe(signingSecret: \"whsec_bobs_own_endpoint\") { url } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    stripe_event(&app.origin, 1).await;
    let got = wide.until_delivered(2).await;
    let types: Vec<Value> = got.iter().map(|r| r.json()["type"].clone()).collect();
    assert_eq!(types, ["connection.created", "stripe:invoice.paid"]);
    let got = narrow.until_delivered(1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        got[0].json()["type"],
        "stripe:invoice.paid",
        "Bob's event passed over: the audience stayed Ada's"
    );
}

#[tokio::test]
async fn private_and_loopback_targets_are_refused_before_any_connection() {
    // A listener on loopback that counts connections: none may come.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    let mut settings = settings();
    settings.webhooks.allow_private_targets = false;
    let app = spawn_app_with(settings).await;
    for url in [
        "http://10.0.0.1/hooks".to_owned(),
        format!("http://127.0.0.1:{port}/hooks"),
        format!("http://localhost:{port}/hooks"),
        "http://169.254.169.254/latest".to_owned(),
        "file:///etc/passwd".to_owned(),
    ] {
        let (status, body) = app.graphql(CREATE, json!({ "url": url })).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(first_code(&body), "BAD_USER_INPUT", "{url}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "url", "{body}");
    }
    let (_, body) = app
        .graphql("{ webhookEndpoints { nodes { id } } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["webhookEndpoints"]["nodes"],
        json!([]),
        "{body}"
    );
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn endpoints_belong_to_their_maker_and_bad_input_is_named() {
    let app = spawn_app_with(settings()).await;
    let (_, url) = Receiver::start().await;
    let (id, _) = create(&app, &url).await;
    let bob = app.key_for("acme", "bob@acme.test").await;
    let (_, body) = app
        .graphql_as(&bob, "{ webhookEndpoints { nodes { id } } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["webhookEndpoints"]["nodes"],
        json!([]),
        "{body}"
    );
    let (_, body) = app
        .graphql_as(
            &bob,
            "mutation($id: ID!) { updateWebhookEndpoint(id: $id, enabled: false) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(first_code(&body), "NOT_FOUND", "{body}");
    for (query, vars, field) in [
        (
            "mutation($id: ID!) { rotateWebhookEndpointSecret(id: $id, overlapSecs: -1) { secret } }",
            json!({ "id": id }),
            "overlapSecs",
        ),
        (
            "mutation($id: ID!) { replayWebhookEndpoint(id: $id, from: \"nope\") { id } }",
            json!({ "id": id }),
            "from",
        ),
        (
            "mutation { deleteWebhookEndpoint(id: \"bm9wZQ\") }",
            json!({}),
            "id",
        ),
        (
            "mutation($id: ID!) { updateWebhookEndpoint(id: $id, types: [\"\"]) { id } }",
            json!({ "id": id }),
            "types",
        ),
    ] {
        let (_, body) = app.graphql(query, vars).await;
        assert_eq!(first_code(&body), "BAD_USER_INPUT", "{query}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    let (_, body) = app
        .graphql(
            "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(body["data"]["deleteWebhookEndpoint"], true, "{body}");
}

#[tokio::test]
async fn with_two_gateways_on_one_database_one_delivers_each_event_once_in_order() {
    let mut settings = settings();
    // Renewed every 2 s: a loaded machine does not let the lease lapse mid-delivery.
    settings.webhooks.lease_secs = 6;
    let first = spawn_app_with(settings).await;
    let second = crate::helpers::spawn_on(first.settings.clone(), first.db.clone()).await;
    let (receiver, url) = Receiver::start().await;
    create(&first, &url).await;
    for n in 1..=10 {
        let gateway = if n % 2 == 0 { &first } else { &second };
        stripe_event(&gateway.origin, n).await;
    }
    let got = receiver.until_delivered(10).await;
    let seqs: Vec<i64> = got.iter().map(Received::seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(got.len(), 10, "one delivery per event: {seqs:?}");
}

/// Kills a child with SIGKILL on drop, should the test fail first.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The vault key the gateways of these tests run with.
const VAULT_KEY: &str = "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";

/// `nexus serve` on `dir`'s database with `config`, on a free port; its origin.
async fn serve(dir: &std::path::Path, config: &std::path::Path) -> (Killed, String) {
    serve_with_key(dir, config, VAULT_KEY).await
}

/// `nexus serve` as `serve`, with vault key `key`.
async fn serve_with_key(
    dir: &std::path::Path,
    config: &std::path::Path,
    key: &str,
) -> (Killed, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nexus"))
        .arg("--data-dir")
        .arg(dir)
        .arg("--config")
        .arg(config)
        .arg("serve")
        .env_remove("DATABASE_URL")
        .env("INTEGRATION_TOKEN_ENCRYPTION_KEY", key)
        .env("NEXUS_SERVER__PORT", port.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let origin = format!("http://127.0.0.1:{port}");
    wait_until_up(&format!("{origin}/healthz"), &mut child, "serve").await;
    (Killed(child), origin)
}

/// An API key for ada in "acme", made by `nexus keys create` on `dir`'s database.
fn cli_key(dir: &std::path::Path) -> String {
    let key = Command::new(env!("CARGO_BIN_EXE_nexus"))
        .arg("--data-dir")
        .arg(dir)
        .args([
            "keys",
            "create",
            "--project",
            "acme",
            "--user",
            "ada@acme.test",
        ])
        .env_remove("DATABASE_URL")
        .env("INTEGRATION_TOKEN_ENCRYPTION_KEY", VAULT_KEY)
        .output()
        .unwrap();
    String::from_utf8(key.stdout).unwrap().trim().to_owned()
}

/// The configuration of the `nexus serve` gateways (as `settings()`), with `more` after it.
fn write_config(dir: &std::path::Path, name: &str, more: &str) -> std::path::PathBuf {
    let config = dir.join(name);
    std::fs::write(
        &config,
        format!(
            "[changes]\ndefault_project = \"acme\"\n\
             [providers.stripe]\nwebhook_secret = \"{STRIPE_SECRET}\"\n\
             [webhooks]\nallow_private_targets = true\nlease_secs = 1\n\
             retry_min_delay_ms = 20\nretry_max_delay_ms = 200\ntimeout_ms = 60000\n{more}"
        ),
    )
    .unwrap();
    config
}

/// A GraphQL request to the gateway at `origin` with `key`; the answer's JSON.
async fn graphql_at(origin: &str, key: &str, query: &str, variables: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{origin}/graphql"))
        .bearer_auth(key)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_gateway_killed_mid_delivery_loses_nothing() {
    let dir = TempDir::new().unwrap();
    let key = cli_key(dir.path());
    let config = write_config(dir.path(), "nexus.toml", "");
    let (mut first, origin) = serve(dir.path(), &config).await;
    let (receiver, url) = Receiver::start().await;
    // The third request hangs: the gateway is killed while it waits for the answer.
    let graphql = async |origin: &str, query: &str, variables: Value| -> Value {
        graphql_at(origin, &key, query, variables).await
    };
    let created = graphql(&origin, CREATE, json!({ "url": url })).await;
    let secret = created["data"]["createWebhookEndpoint"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    for n in 1..=2 {
        stripe_event(&origin, n).await;
    }
    receiver.until_delivered(2).await;
    receiver.set(HANG);
    for n in 3..=5 {
        stripe_event(&origin, n).await;
    }
    receiver.until(3).await;
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    receiver.set(OK);
    let (_second, _) = serve(dir.path(), &config).await;
    let got = receiver.until_delivered(5).await;
    let ids = distinct(&got);
    assert_eq!(ids.len(), 5, "every event, none lost: {got:?}");
    let seqs: Vec<i64> = got.iter().map(Received::seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] <= w[1]), "{seqs:?}");
    assert_eq!(
        got[2].id, got[3].id,
        "the event in flight was delivered again"
    );
    if let Some(results) = verified(&got, &[&secret]).await {
        assert!(results.iter().all(|r| r == &vec![true]), "{results:?}");
    }
}

/// Verifies each delivery with docs/webhooks.md's Python snippet, as written there, and the
/// `standardwebhooks` PyPI package; the event types it returned. `None` when python3 or the
/// package is missing (a failure under `NEXUS_TEST_STRICT=1`).
async fn verified_in_python(deliveries: &[Received], secret: &str) -> Option<Vec<String>> {
    let present = Command::new("python3")
        .args(["-c", "import standardwebhooks"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !require(
        present,
        "python3 with the standardwebhooks package (pip install standardwebhooks)",
    ) {
        return None;
    }
    let docs = std::fs::read_to_string(root().join("docs/webhooks.md")).unwrap();
    let snippet = docs
        .split("```python\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/webhooks.md has a Python snippet");
    // The snippet, then a driver: every delivery verifies; a changed body does not.
    let driver = r#"
import json
import sys

deliveries = json.load(open(sys.argv[1]))
types = []
for d in deliveries:
    headers = {
        "Webhook-Id": d["id"],
        "Webhook-Timestamp": d["timestamp"],
        "Webhook-Signature": d["signature"],
    }
    types.append(verified_event(d["body"].encode(), headers)["type"])
    try:
        verified_event(d["body"].replace("}", " }", 1).encode(), headers)
        sys.exit("a changed body verified")
    except WebhookVerificationError:
        pass
print(json.dumps(types))
"#;
    let dir = TempDir::new().unwrap();
    let script = dir.path().join("verify.py");
    std::fs::write(&script, format!("{snippet}\n{driver}")).unwrap();
    let file = dir.path().join("deliveries.json");
    let list: Vec<Value> = deliveries
        .iter()
        .map(|d| json!({ "id": d.id, "timestamp": d.timestamp, "signature": d.signature, "body": d.body }))
        .collect();
    std::fs::write(&file, Value::Array(list).to_string()).unwrap();
    let output = tokio::process::Command::new("python3")
        .arg(&script)
        .arg(&file)
        .env("NEXUS_WEBHOOK_SECRET", secret)
        .output()
        .await
        .expect("python3");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_slice(&output.stdout).unwrap())
}

#[tokio::test]
async fn deliveries_verify_after_a_vault_key_rotation_with_the_docs_python_snippet() {
    const NEW_KEY: &str = "efefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefef";
    let dir = TempDir::new().unwrap();
    let key = cli_key(dir.path());
    let config = write_config(dir.path(), "nexus.toml", "");
    let (receiver, url) = Receiver::start().await;

    // A gateway on the old key makes the endpoint and delivers once.
    let (old_gateway, origin) = serve(dir.path(), &config).await;
    let created = graphql_at(&origin, &key, CREATE, json!({ "url": url })).await;
    let secret = created["data"]["createWebhookEndpoint"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    stripe_event(&origin, 1).await;
    receiver.until_delivered(1).await;
    drop(old_gateway);

    // The rotation re-seals the endpoint's secret under the new key.
    let rotating = write_config(
        dir.path(),
        "rotating.toml",
        &format!("[vault]\nprevious_keys = [\"{VAULT_KEY}\"]\n"),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_nexus"))
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--config")
        .arg(&rotating)
        .args(["keys", "rotate-encryption"])
        .env_remove("DATABASE_URL")
        .env("INTEGRATION_TOKEN_ENCRYPTION_KEY", NEW_KEY)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("webhook endpoint secrets: 1 examined, 1 re-encrypted"),
        "{stderr}"
    );
    assert!(!stderr.contains(&secret), "{stderr}");

    // A gateway on the new key alone signs with the same secret.
    let (_new_gateway, origin) = serve_with_key(dir.path(), &config, NEW_KEY).await;
    stripe_event(&origin, 2).await;
    let got = receiver.until_delivered(2).await;
    assert_eq!(got.len(), 2, "{got:?}");
    if let Some(results) = verified(&got, &[&secret]).await {
        assert!(results.iter().all(|r| r == &vec![true]), "{results:?}");
    }
    if let Some(types) = verified_in_python(&got, &secret).await {
        assert_eq!(types, ["stripe:invoice.paid", "stripe:invoice.paid"]);
    }
}
