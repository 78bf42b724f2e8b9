//! The gateway as an Apollo Federation v2 subgraph (`graphql.federation = true`): `_service`
//! behind the same Bearer key as everything else, `@key(fields: "id")` on the record types,
//! `_entities` batched per provider through the record loader and scoped to the caller's tenant,
//! and (with `tests/js/node_modules`) a real composition served by `@apollo/gateway` with a
//! second subgraph extending `Contact`. A plain gateway has neither field.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox_with},
    crm::{counters, nodes, total_calls},
    helpers::{TestApp, require, root},
};

/// A federated gateway on a fresh sandbox with both CRMs connected, and entity lookups live:
/// `providers.<crm>.max_age_secs = 0` (and no first pass fills a copy), so every lookup reaches
/// the provider and its calls show in the sandbox's counters.
async fn federated_crms() -> (TestApp, String) {
    let (app, sandbox) = pointed_at_sandbox_with(false, |settings| {
        settings.graphql.federation = true;
        for crm in ["hubspot", "salesforce"] {
            settings.providers.get_mut(crm).unwrap().max_age_secs = Some(0);
        }
    })
    .await;
    for provider in ["HUBSPOT", "SALESFORCE"] {
        let back = consent(&connect_link(&app, provider, None).await, "approve").await;
        assert_eq!(callback(&back).await.0, 200, "{provider} connects");
    }
    (app, sandbox)
}

const SERVICE: &str = "{ _service { sdl } }";

const ENTITIES: &str = "query($representations: [_Any!]!) {
  _entities(representations: $representations) {
    __typename
    ... on Contact { id provider remoteId name }
    ... on Deal { id provider name }
  }
}";

/// The first `first` contacts' ids (both CRMs merged).
async fn contact_ids(app: &TestApp, first: u32) -> Vec<Value> {
    let (_, body) = app
        .graphql(
            "query($first: Int) { contacts(first: $first) { nodes { id provider } } }",
            json!({ "first": first }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    nodes(&body, "contacts")
}

fn representations(contacts: &[Value]) -> Value {
    contacts
        .iter()
        .map(|c| json!({ "__typename": "Contact", "id": c["id"] }))
        .collect()
}

#[tokio::test]
async fn the_service_sdl_needs_the_key_and_declares_the_entities() {
    let (app, _sandbox) = pointed_at_sandbox_with(false, |s| s.graphql.federation = true).await;

    // Composition tools send the same Bearer key as any client; without it, nothing.
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": SERVICE }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    let (status, body) = app.graphql(SERVICE, json!({})).await;
    assert_eq!(status, 200, "{body}");
    let sdl = body["data"]["_service"]["sdl"].as_str().expect("sdl");
    assert!(
        sdl.contains("extend schema @link(\n\turl: \"https://specs.apollo.dev/federation/v2."),
        "{sdl}"
    );
    for entity in [
        "Contact", "Lead", "Deal", "Company", "Email", "Event", "Message",
    ] {
        let line = format!("type {entity} implements Node @key(fields: \"id\") {{");
        assert!(sdl.contains(&line), "missing `{line}`");
    }
    // Neither emails nor domains are keys: they are unique neither across nor within providers.
    assert!(!sdl.contains("@key(fields: \"email\")"));
    assert!(!sdl.contains("@key(fields: \"domain\")"));
    assert!(!sdl.contains("type Channel implements Node @key"));
    assert_eq!(
        sdl,
        nexus::graphql::federation_sdl(),
        "`_service` answers what `nexus schema --federation` prints"
    );
}

#[tokio::test]
async fn a_plain_gateway_has_neither_service_nor_entities() {
    let (app, _sandbox) = pointed_at_sandbox_with(false, |_| {}).await;
    let (_, body) = app.graphql(SERVICE, json!({})).await;
    assert!(body["data"].is_null(), "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("_service"),
        "{body}"
    );
    let (_, body) = app
        .graphql(ENTITIES, json!({ "representations": [] }))
        .await;
    assert!(body["data"].is_null(), "{body}");
    assert!(!nexus::graphql::sdl().contains("_entities"));
}

#[tokio::test]
async fn a_hundred_representations_cost_one_batch_per_provider_within_the_tenant() {
    let (app, sandbox) = federated_crms().await;
    let contacts = contact_ids(&app, 100).await;
    assert_eq!(contacts.len(), 100);
    let providers: BTreeSet<&str> = contacts
        .iter()
        .map(|c| c["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers, BTreeSet::from(["HUBSPOT", "SALESFORCE"]));

    let before = counters(&sandbox).await;
    let (status, body) = app
        .graphql(
            ENTITIES,
            json!({ "representations": representations(&contacts) }),
        )
        .await;
    let after = counters(&sandbox).await;
    assert_eq!(status, 200);
    assert!(body["errors"].is_null(), "{body}");
    let entities = body["data"]["_entities"].as_array().unwrap();
    assert_eq!(entities.len(), 100);
    for (entity, contact) in entities.iter().zip(&contacts) {
        assert_eq!(entity["__typename"], "Contact");
        assert_eq!(entity["id"], contact["id"], "in the representations' order");
        assert_eq!(entity["provider"], contact["provider"]);
        assert!(!entity["name"].as_str().unwrap().is_empty());
    }
    // Live lookups: one batch read at HubSpot, one `Id IN (...)` query at Salesforce.
    assert_eq!(
        total_calls(&after, "hubspot") - total_calls(&before, "hubspot"),
        1,
        "{after}"
    );
    assert_eq!(
        total_calls(&after, "salesforce") - total_calls(&before, "salesforce"),
        1,
        "{after}"
    );

    // Another project's caller, and another user of the same project, connected to nothing:
    // every representation is null, and no provider is asked.
    for key in [
        app.key_for("globex", "eve@globex.test").await,
        app.key_for("acme", "bob@acme.test").await,
    ] {
        let before = counters(&sandbox).await;
        let (status, body) = app
            .graphql_as(
                &key,
                ENTITIES,
                json!({ "representations": representations(&contacts) }),
            )
            .await;
        let after = counters(&sandbox).await;
        assert_eq!(status, 200);
        assert!(body["errors"].is_null(), "{body}");
        let entities = body["data"]["_entities"].as_array().unwrap();
        assert_eq!(entities.len(), 100);
        assert!(entities.iter().all(Value::is_null), "{body}");
        for crm in ["hubspot", "salesforce"] {
            assert_eq!(total_calls(&after, crm), total_calls(&before, crm), "{crm}");
        }
    }

    // An id of another type, an id that is no global id and a record the account lacks: null
    // beside the record that resolves.
    let (_, body) = app
        .graphql("{ deals(first: 1) { nodes { id name } } }", json!({}))
        .await;
    let deal = nodes(&body, "deals")[0].clone();
    let missing = nexus::graphql::GlobalId::for_record(
        "Contact",
        nexus::providers::Provider::Hubspot,
        "999999999",
    );
    let (_, body) = app
        .graphql(
            ENTITIES,
            json!({ "representations": [
                { "__typename": "Contact", "id": deal["id"] },
                { "__typename": "Contact", "id": "not-an-id" },
                { "__typename": "Contact", "id": missing.as_str() },
                { "__typename": "Deal", "id": deal["id"] },
            ] }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let entities = body["data"]["_entities"].as_array().unwrap();
    assert!(entities[..3].iter().all(Value::is_null), "{body}");
    assert_eq!(entities[3]["__typename"], "Deal");
    assert_eq!(entities[3]["name"], deal["name"]);
}

/// `tests/js/federation.mjs`: composition with a second subgraph and `@apollo/gateway`.
#[tokio::test]
async fn a_gateway_composes_the_subgraph_and_answers_from_both() {
    let modules = root().join("tests/js/node_modules");
    if !require(
        [
            "@apollo/gateway",
            "@apollo/composition",
            "@apollo/subgraph",
            "@apollo/server",
        ]
        .iter()
        .all(|m| modules.join(m).exists()),
        "the Apollo packages of tests/js/node_modules (npm ci in tests/js)",
    ) {
        return;
    }
    let (app, sandbox) = federated_crms().await;
    let output = tokio::process::Command::new("node")
        .arg(root().join("tests/js/federation.mjs"))
        .args([&app.url("/graphql"), &app.key, &sandbox])
        .output()
        .await
        .expect("node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}\n{stdout}");
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or("null"))
        .unwrap_or_else(|_| panic!("not JSON: {stdout}\n{stderr}"));
    assert_eq!(report["composed"], true, "{report}");

    // Nexus's list, with the accounts subgraph's field on every contact of both CRMs.
    let listed = report["listed"].as_array().unwrap();
    assert_eq!(listed.len(), 100);
    let providers: BTreeSet<&str> = listed
        .iter()
        .map(|c| c["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers, BTreeSet::from(["HUBSPOT", "SALESFORCE"]));
    for contact in listed {
        let id = contact["id"].as_str().unwrap();
        assert_eq!(contact["accountManager"], format!("manager-of:{id}"));
    }

    // The accounts subgraph's list, with Nexus's fields resolved through `_entities`.
    let entities = report["entities"].as_array().unwrap();
    assert_eq!(entities.len(), 100);
    for (entity, contact) in entities.iter().zip(listed) {
        assert_eq!(entity["id"], contact["id"]);
        assert_eq!(entity["provider"], contact["provider"]);
        assert_eq!(entity["name"], contact["name"]);
        assert_eq!(entity["accountManager"], contact["accountManager"]);
    }
    // Live lookups: one batch per provider for the hundred representations.
    let upstream = &report["upstream"];
    for crm in ["hubspot", "salesforce"] {
        let calls: u64 = upstream[crm]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert_eq!(calls, 1, "{crm}: {upstream}");
    }
}
