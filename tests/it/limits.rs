//! Abuse limits: every one refuses the document before execution, with a clear error.

use std::{sync::Arc, time::Duration};

use serde_json::json;

use crate::helpers::{eventually, first_code, spawn_app, spawn_app_with, test_settings};

/// Sends a document and expects it refused before execution with `limit` (when given).
async fn assert_refused(app: &crate::helpers::TestApp, query: &str, needle: &str) {
    let (status, body) = app.graphql(query, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("data").is_none(), "executed: {body}");
    assert_eq!(first_code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    let message = body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(message.contains(needle), "{message}");
}

fn nested(levels: usize) -> String {
    let mut query = "id".to_owned();
    for i in 0..levels {
        query = if i % 2 == 0 {
            format!("deals(first: 1) {{ nodes {{ {query} }} }}")
        } else {
            format!("contacts(first: 1) {{ nodes {{ {query} }} }}")
        };
    }
    format!("{{ contacts(first: 1) {{ nodes {{ {query} }} }} }}")
}

#[tokio::test]
async fn a_contacts_deals_company_is_within_the_depth_limit_but_deeper_is_not() {
    let app = spawn_app().await;
    let query = "{ contacts(first: 5) { edges { node { deals(first: 5) { edges { node { company { name } } } } } } } }";
    let (status, body) = app.graphql(query, json!({})).await;
    assert_eq!(status, 200);
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["contacts"]["edges"], json!([]));
    assert_refused(&app, &nested(6), "nested too deep").await;
}

#[tokio::test]
async fn aliases_tokens_complexity_and_directives_are_capped() {
    let app = spawn_app().await;
    let aliases: String = (0..16)
        .map(|i| format!("a{i}: viewer {{ user {{ id }} }} "))
        .collect();
    assert_refused(&app, &format!("{{ {aliases} }}"), "aliases").await;

    let padding = "viewer { user { id } } ".repeat(200);
    assert_refused(&app, &format!("{{ {padding} }}"), "tokens").await;

    let costly = "{ contacts(first: 100) { nodes { deals(first: 100) { nodes { name } } } } }";
    assert_refused(&app, costly, "complex").await;

    let directives = "@include(if: true) ".repeat(51);
    assert_refused(
        &app,
        &format!("{{ viewer {directives} {{ user {{ id }} }} }}"),
        "directives",
    )
    .await;
}

#[tokio::test]
async fn limits_are_configurable() {
    let mut settings = test_settings();
    settings.graphql.max_aliases = 1;
    let app = spawn_app_with(settings).await;
    assert_refused(
        &app,
        "{ a: viewer { user { id } } b: viewer { user { id } } }",
        "aliases",
    )
    .await;
}

#[tokio::test]
async fn without_introspection_there_are_no_suggestions_either() {
    let mut settings = test_settings();
    settings.graphql.introspection = false;
    let app = spawn_app_with(settings).await;
    let (_, body) = app
        .graphql("{ __schema { types { name } } }", json!({}))
        .await;
    assert!(body["data"]["__schema"].is_null(), "{body}");
    let (_, body) = app.graphql("{ viewr { user { id } } }", json!({})).await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains("Did you mean"), "{message}");

    let open = spawn_app().await;
    let (_, body) = open.graphql("{ viewr { user { id } } }", json!({})).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Did you mean"),
        "{body}"
    );
}

/// The introspection query GraphiQL and other tools send (graphql-js `getIntrospectionQuery`).
const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}
"#;

#[tokio::test]
async fn tools_introspection_passes_the_limits() {
    let app = spawn_app().await;
    let (status, body) = app.graphql(INTROSPECTION, json!({})).await;
    assert_eq!(status, 200);
    assert!(body["errors"].is_null(), "{}", body["errors"]);
    assert!(body["data"]["__schema"]["types"].as_array().unwrap().len() > 50);
}

/// `query { ...F0 } fragment F0 on Query { ...F1 ...F1 } … fragment Fn on Query { leaf }`: ten
/// tokens a level, `2^levels` times the leaf's fields.
fn fragment_bomb(levels: usize, leaf: &str) -> String {
    let mut query = "query { ...F0 } ".to_owned();
    for i in 0..levels {
        let next = i + 1;
        query.push_str(&format!(
            "fragment F{i} on Query {{ ...F{next} ...F{next} }} "
        ));
    }
    query.push_str(&format!("fragment F{levels} on Query {{ {leaf} }}"));
    query
}

/// POSTs a document under `application/graphql-response+json`, where a refused request is 400.
async fn post_graphql_response(
    client: &reqwest::Client,
    app: &crate::helpers::TestApp,
    query: &str,
) -> (u16, serde_json::Value) {
    let response = client
        .post(app.url("/graphql"))
        .bearer_auth(&app.key)
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("request");
    crate::helpers::json_of(response).await
}

fn assert_bomb_refused(status: u16, body: &serde_json::Value) {
    assert_eq!(status, 400, "{body}");
    assert!(body.get("data").is_none(), "executed: {body}");
    assert_eq!(first_code(body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("max_fields"), "{message}");
}

/// 2^30 `__typename`s: within the tokens, the depth (the leaf is shallow) and the aliases, and
/// walking it expanded would take minutes; it is refused at once, for the fields it selects.
#[tokio::test]
async fn a_fragment_spread_bomb_is_refused_for_its_fields() {
    let app = spawn_app().await;
    let (status, body) =
        post_graphql_response(&app.client, &app, &fragment_bomb(30, "__typename")).await;
    assert_bomb_refused(status, &body);
    let (status, body) = post_graphql_response(
        &app.client,
        &app,
        &fragment_bomb(30, "viewer { user { email } }"),
    )
    .await;
    assert_bomb_refused(status, &body);
}

#[tokio::test]
async fn health_answers_while_bombs_are_in_flight() {
    let app = Arc::new(spawn_app().await);
    let bombs: Vec<_> = (0..2)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                post_graphql_response(&client, &app, &fragment_bomb(30, "__typename")).await
            })
        })
        .collect();
    eventually("/healthz to answer", Duration::from_secs(10), async || {
        let response = app.client.get(app.url("/healthz")).send().await.ok()?;
        (response.status() == 200).then_some(())
    })
    .await;
    for bomb in bombs {
        let (status, body) = bomb.await.expect("the bomb request");
        assert_bomb_refused(status, &body);
    }
}

#[tokio::test]
async fn fragments_within_the_field_limit_still_work() {
    let app = spawn_app().await;
    let query = "query { ...Me } fragment Me on Query { viewer { user { email } } }";
    let (status, body) = post_graphql_response(&app.client, &app, query).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["viewer"]["user"]["email"], "ada@acme.test");
    // 2^10 × 3 fields, spread many times over: within the limit, merged when it executes.
    let spread = fragment_bomb(10, "viewer { user { email } }");
    let (status, body) = post_graphql_response(&app.client, &app, &spread).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["viewer"]["user"]["email"], "ada@acme.test");
}
