//! What a key may do and how long: scopes refused before anything runs (no provider called),
//! expiry, last use. JWT scope claims are in `auth`, the CLI's `keys` in `cli`.

use chrono::Utc;
use nexus::auth::{KeySpec, Scope, Scopes, create_api_key_with};
use serde_json::{Value, json};

use crate::{
    crm::{both_crms, counters},
    helpers::{TestApp, first_code, json_of, spawn_app},
    subscriber::Subscriber,
};

const CREATE: &str = "mutation { createContact(input: { provider: HUBSPOT, firstName: \"Ida\", lastName: \"Scoped\", email: \"ida@scoped.test\" }) { contact { id } } }";

/// Every call HubSpot's API answered, whatever the status, but the OAuth flow's.
async fn hubspot_calls(sandbox: &str) -> u64 {
    let counters = counters(sandbox).await;
    let routes = counters["hubspot"].as_object().cloned().unwrap_or_default();
    routes
        .iter()
        .filter(|(route, _)| !route.contains("oauth"))
        .flat_map(|(_, by_status)| by_status.as_object().unwrap().values())
        .map(|n| n.as_u64().unwrap())
        .sum()
}

async fn key_with(app: &TestApp, scopes: &[Scope], spec: KeySpec) -> String {
    let spec = KeySpec {
        scopes: scopes.iter().copied().collect(),
        ..spec
    };
    create_api_key_with(&app.tenants, "acme", "ada@acme.test", &spec)
        .await
        .unwrap()
}

/// POSTs with `Accept: application/graphql-response+json`.
async fn post(app: &TestApp, key: &str, query: &str) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(key)
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    json_of(response).await
}

#[tokio::test]
async fn a_key_without_write_cannot_mutate_and_no_provider_is_called() {
    let (app, sandbox) = both_crms().await;
    let reader = key_with(&app, &[Scope::Read], KeySpec::default()).await;
    let before = hubspot_calls(&sandbox).await;

    let (status, body) = post(&app, &reader, CREATE).await;
    assert_eq!(status, 400, "refused before execution: {body}");
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["scope"], "write");
    assert!(body.get("data").is_none(), "{body}");
    let (status, body) = app.graphql_as(&reader, CREATE, json!({})).await;
    assert_eq!(
        (status, first_code(&body)),
        (200, "FORBIDDEN"),
        "application/json: {body}"
    );
    assert_eq!(
        hubspot_calls(&sandbox).await,
        before,
        "no call reached HubSpot"
    );

    // It still reads; the default key (read write) still writes.
    let (_, body) = app
        .graphql_as(&reader, "{ viewer { user { email } } }", json!({}))
        .await;
    assert_eq!(body["data"]["viewer"]["user"]["email"], "ada@acme.test");
    let (_, body) = app.graphql(CREATE, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    assert!(body["data"]["createContact"]["contact"]["id"].is_string());
    assert!(
        hubspot_calls(&sandbox).await > before,
        "the count sees calls"
    );
}

#[tokio::test]
async fn a_key_without_read_cannot_query_or_subscribe() {
    let app = spawn_app().await;
    let writer = key_with(&app, &[Scope::Write], KeySpec::default()).await;
    let (status, body) = post(&app, &writer, "{ viewer { user { email } } }").await;
    assert_eq!((status, first_code(&body)), (400, "FORBIDDEN"), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["scope"], "read");

    let mut subscriber = Subscriber::start(
        &app,
        &writer,
        "subscription { heartbeat(count: 1, intervalMs: 10) { sequence } }",
        json!({}),
    )
    .await;
    // async-graphql answers a subscription refused before it starts with one `next` carrying
    // the errors and no data, then `complete`.
    let refused = subscriber.message().await;
    assert_eq!(refused["type"], "next", "{refused}");
    assert_eq!(refused["payload"]["data"], Value::Null, "{refused}");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"],
        "FORBIDDEN"
    );
    assert_eq!(subscriber.message().await["type"], "complete");
    subscriber.close().await;
}

#[tokio::test]
async fn an_expired_key_is_refused_like_an_unknown_one() {
    let app = spawn_app().await;
    let expired = key_with(
        &app,
        &[Scope::Read, Scope::Write],
        KeySpec {
            expires_at: Some(Utc::now() - chrono::Duration::seconds(1)),
            ..KeySpec::default()
        },
    )
    .await;
    let (status, body) = post(&app, &expired, "{ viewer { user { email } } }").await;
    assert_eq!(
        (status, first_code(&body)),
        (401, "UNAUTHENTICATED"),
        "{body}"
    );

    let later = key_with(
        &app,
        &[Scope::Read],
        KeySpec {
            expires_at: Some(Utc::now() + chrono::Duration::days(1)),
            ..KeySpec::default()
        },
    )
    .await;
    let (status, body) = post(&app, &later, "{ viewer { user { email } } }").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_key_records_its_last_use() {
    let app = spawn_app().await;
    let listed = |keys: Vec<nexus::auth::ApiKeyRow>| keys[0].last_used_at;
    assert_eq!(listed(app.tenants.list_keys().await.unwrap()), None);
    let (status, _) = app
        .graphql("{ viewer { user { email } } }", json!({}))
        .await;
    assert_eq!(status, 200);
    let used = listed(app.tenants.list_keys().await.unwrap()).expect("a last use");
    assert!(used <= Utc::now() && used > Utc::now() - chrono::Duration::minutes(1));
    assert_eq!(
        Scopes::parse(&app.tenants.list_keys().await.unwrap()[0].scopes),
        Ok(Scopes::DEFAULT)
    );
}
