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
        let entities = body["data"]["_entities"].as_array().unwrap();
        assert_eq!(entities.len(), 100);
        assert!(entities.iter().all(Value::is_null), "{body}");
        let errors = errors_by_index(&body);
        assert_eq!(errors.len(), 100, "an error at each index: {body}");
        assert!(
            errors
                .values()
                .all(|e| e["extensions"]["code"] == "NOT_FOUND"
                    && e["message"] == "no Contact with this id"),
            "{body}"
        );
        for crm in ["hubspot", "salesforce"] {
            assert_eq!(total_calls(&after, crm), total_calls(&before, crm), "{crm}");
        }
    }

    // An id of another type, an id that is no global id and a record the account lacks: null
    // (with an error at its index) beside the record that resolves.
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
    let entities = body["data"]["_entities"].as_array().unwrap();
    assert!(entities[..3].iter().all(Value::is_null), "{body}");
    assert_eq!(
        errors_by_index(&body).keys().copied().collect::<Vec<_>>(),
        [0, 1, 2],
        "{body}"
    );
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
    // async-graphql links federation v2.5; composition 2.14.4 takes it beside a v2.3 subgraph
    // and the gateway serves the supergraph it makes.
    assert_eq!(report["links"]["nexus"], "v2.5", "{report}");
    assert_eq!(report["links"]["accounts"], "v2.3", "{report}");
    let supergraph: Vec<&str> = report["supergraphLinks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        supergraph.contains(&"https://specs.apollo.dev/join/v0.3"),
        "{supergraph:?}"
    );

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

/// A federated gateway on a fresh sandbox with both mailboxes, Google Calendar and Slack
/// connected (Outlook holds events too).
async fn federated_comms() -> (TestApp, String) {
    let (app, sandbox) = pointed_at_sandbox_with(false, |s| s.graphql.federation = true).await;
    for provider in ["GMAIL", "OUTLOOK", "GOOGLE_CALENDAR", "SLACK"] {
        let back = consent(&connect_link(&app, provider, None).await, "approve").await;
        assert_eq!(callback(&back).await.0, 200, "{provider} connects");
    }
    (app, sandbox)
}

const ITEMS: &str = "query($representations: [_Any!]!) {
  _entities(representations: $representations) {
    __typename
    ... on Email { id provider remoteId subject source }
    ... on Event { id provider remoteId title source }
    ... on Message { id provider remoteId text source }
  }
}";

/// `{__typename, id}` for each node of `list`.
fn typed(kind: &str, list: &[Value]) -> Vec<Value> {
    list.iter()
        .map(|n| json!({ "__typename": kind, "id": n["id"] }))
        .collect()
}

fn count_of(list: &[Value], provider: &str) -> u64 {
    list.iter().filter(|n| n["provider"] == provider).count() as u64
}

/// Calls of one route (any status) between two counter snapshots.
fn route_calls(before: &Value, after: &Value, provider: &str, route: &str) -> u64 {
    let sum = |c: &Value| -> u64 {
        c[provider][route]
            .as_object()
            .map(|by_status| by_status.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0)
    };
    sum(after) - sum(before)
}

/// `errors` with a path `["_entities", index]`, by index.
fn errors_by_index(body: &Value) -> std::collections::BTreeMap<u64, Value> {
    body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            assert_eq!(e["path"][0], "_entities", "{e}");
            (e["path"][1].as_u64().expect("an index"), e.clone())
        })
        .collect()
}

const GMAIL_BATCH: &str = "POST /google/batch/gmail/v1";
const GMAIL_GET: &str = "GET /google/gmail/v1/users/{userId}/messages/{id}";
const GRAPH_BATCH: &str = "POST /v1.0/$batch";
const OUTLOOK_GET: &str = "GET /microsoft/v1.0/me/messages/{id}";
const OUTLOOK_EVENT_GET: &str = "GET /microsoft/v1.0/me/events/{id}";
const CALENDAR_BATCH: &str = "POST /google/batch/calendar/v3";
const CALENDAR_GET: &str = "GET /google/calendar/v3/calendars/{calendarId}/events/{eventId}";
const SLACK_REPLIES: &str = "GET /api/conversations.replies";

#[tokio::test]
async fn emails_events_and_messages_cost_one_batch_per_provider() {
    let (app, sandbox) = federated_comms().await;
    let (_, body) = app
        .graphql(
            "{ gmail: emails(first: 60, providers: [GMAIL]) { nodes { id provider remoteId subject } }
               outlook: emails(first: 40, providers: [OUTLOOK]) { nodes { id provider remoteId subject } }
               google: events(first: 60, providers: [GOOGLE_CALENDAR]) { nodes { id provider remoteId title } }
               outlookEvents: events(first: 40, providers: [OUTLOOK]) { nodes { id provider remoteId title } }
               messages(first: 10, filter: { channel: \"C0SBX0000\" }) { nodes { id provider remoteId text } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let emails = [nodes(&body, "gmail"), nodes(&body, "outlook")].concat();
    // The sandbox reads no Outlook occurrence of a series by its id (`<series>_<date>`), so
    // single events only.
    let single = |n: &Value| !n["remoteId"].as_str().unwrap().contains('_');
    let outlook_single: Vec<Value> = nodes(&body, "outlookEvents")
        .into_iter()
        .filter(single)
        .collect();
    let events = [nodes(&body, "google"), outlook_single].concat();
    let messages = nodes(&body, "messages");
    assert_eq!(emails.len(), 100);
    let (gmail, outlook) = (count_of(&emails, "GMAIL"), count_of(&emails, "OUTLOOK"));
    assert!(
        gmail > 0 && outlook > 0,
        "both mailboxes: {gmail} + {outlook}"
    );
    let (google, outlook_events) = (
        count_of(&events, "GOOGLE_CALENDAR"),
        count_of(&events, "OUTLOOK"),
    );
    assert!(
        google > 0 && outlook_events > 0,
        "{google} + {outlook_events}"
    );
    assert_eq!(messages.len(), 10);

    let mut all = typed("Email", &emails);
    all.extend(typed("Event", &events));
    all.extend(typed("Message", &messages));
    let before = counters(&sandbox).await;
    let (status, body) = app.graphql(ITEMS, json!({ "representations": all })).await;
    let after = counters(&sandbox).await;
    assert_eq!(status, 200);
    assert!(body["errors"].is_null(), "{body}");
    let entities = body["data"]["_entities"].as_array().unwrap();
    let expected: Vec<(&str, &Value, &str)> = emails
        .iter()
        .map(|n| ("Email", n, "subject"))
        .chain(events.iter().map(|n| ("Event", n, "title")))
        .chain(messages.iter().map(|n| ("Message", n, "text")))
        .collect();
    assert_eq!(entities.len(), expected.len());
    for (entity, (kind, node, detail)) in entities.iter().zip(expected) {
        assert_eq!(entity["__typename"], kind, "{entity}");
        assert_eq!(entity["id"], node["id"], "in the representations' order");
        assert_eq!(entity["remoteId"], node["remoteId"]);
        assert_eq!(entity[detail], node[detail], "{kind}");
        assert_eq!(entity["source"], "LIVE", "the copy holds CRM records only");
    }

    // Gmail: the messages in batches of the endpoint (49 calls beside a list call's units, the
    // labels list riding in the first), no single read.
    let gmail_batches = route_calls(&before, &after, "gmail", GMAIL_BATCH);
    assert_eq!(gmail_batches, (gmail + 1).div_ceil(49), "{after}");
    assert_eq!(route_calls(&before, &after, "gmail", GMAIL_GET), gmail);
    // Outlook: mail and events through `$batch`, twenty calls a batch (the sandbox refuses 21
    // as Graph does); each kind in its own batches.
    let graph_batches = route_calls(&before, &after, "microsoft", GRAPH_BATCH);
    assert_eq!(
        graph_batches,
        outlook.div_ceil(20) + outlook_events.div_ceil(20),
        "{after}"
    );
    assert_eq!(
        route_calls(&before, &after, "outlook", OUTLOOK_GET),
        outlook
    );
    assert_eq!(
        route_calls(&before, &after, "outlook", OUTLOOK_EVENT_GET),
        outlook_events
    );
    // Google Calendar: the events through its batch endpoint, fifty a batch.
    assert_eq!(
        route_calls(&before, &after, "google_calendar", CALENDAR_BATCH),
        google.div_ceil(50),
        "{after}"
    );
    assert_eq!(
        route_calls(&before, &after, "google_calendar", CALENDAR_GET),
        google
    );
    // Slack has no read by many ids: one `conversations.replies` per message.
    assert_eq!(
        route_calls(&before, &after, "slack", SLACK_REPLIES),
        messages.len() as u64,
        "{after}"
    );
}

#[tokio::test]
async fn an_unresolvable_representation_is_null_with_its_error_and_the_others_resolve() {
    let (app, sandbox) = federated_comms().await;
    let (_, body) = app
        .graphql(
            "{ emails(first: 6) { nodes { id provider remoteId subject } } }",
            json!({}),
        )
        .await;
    let emails = nodes(&body, "emails");
    assert_eq!(emails.len(), 6);
    let unknown = nexus::graphql::GlobalId::for_record(
        "Email",
        nexus::providers::Provider::Gmail,
        "ffffffffffffffff",
    );
    // A record of a provider this project has not connected (another project's Teams message).
    let elsewhere = nexus::graphql::GlobalId::for_record(
        "Message",
        nexus::providers::Provider::Teams,
        "team-1/channel-1/1700000000000",
    );
    let representations = json!([
        { "__typename": "Email", "id": emails[0]["id"] },
        { "__typename": "Email", "id": unknown.as_str() },
        { "__typename": "Email", "id": emails[1]["id"] },
        { "__typename": "Message", "id": elsewhere.as_str() },
        { "__typename": "Email", "id": "not-an-id" },
        { "__typename": "Event", "id": emails[2]["id"] },
        { "__typename": "Email", "id": emails[3]["id"] },
        { "__typename": "Email", "id": unknown.as_str() },
    ]);
    let (status, body) = app
        .graphql(ITEMS, json!({ "representations": representations }))
        .await;
    assert_eq!(status, 200, "{body}");
    let entities = body["data"]["_entities"].as_array().expect("a list");
    assert_eq!(entities.len(), 8, "{body}");
    for (at, email) in [(0, &emails[0]), (2, &emails[1]), (6, &emails[3])] {
        assert_eq!(entities[at]["id"], email["id"], "{body}");
        assert_eq!(entities[at]["subject"], email["subject"]);
    }
    let errors = errors_by_index(&body);
    assert_eq!(
        errors.keys().copied().collect::<Vec<_>>(),
        [1, 3, 4, 5, 7],
        "one error at each unresolved index: {body}"
    );
    for (at, error) in &errors {
        assert!(entities[*at as usize].is_null(), "{body}");
        assert_eq!(error["extensions"]["code"], "NOT_FOUND", "{error}");
    }
    // The same message whether the record is unknown or another project's.
    assert_eq!(errors[&1]["message"], "no Email with this id");
    assert_eq!(errors[&3]["message"], "no Message with this id");

    // One provider failing fails its own representations only.
    let fault = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/faults"))
        .json(&json!({ "provider": "outlook", "status": 503, "retry_after": 7 }))
        .send()
        .await
        .unwrap();
    assert!(fault.status().is_success());
    let (status, body) = app
        .graphql(ITEMS, json!({ "representations": typed("Email", &emails) }))
        .await;
    assert_eq!(status, 200, "{body}");
    let entities = body["data"]["_entities"].as_array().expect("a list");
    let errors = errors_by_index(&body);
    for (at, (entity, email)) in entities.iter().zip(&emails).enumerate() {
        if email["provider"] == "OUTLOOK" {
            assert!(entity.is_null(), "{body}");
            let extensions = &errors[&(at as u64)]["extensions"];
            assert_eq!(extensions["code"], "PROVIDER_UNAVAILABLE", "{body}");
            assert_eq!(extensions["provider"], "OUTLOOK");
        } else {
            assert_eq!(entity["id"], email["id"], "{body}");
            assert!(!errors.contains_key(&(at as u64)));
        }
    }
    assert_eq!(errors.len() as u64, count_of(&emails, "OUTLOOK"), "{body}");

    // Another project's caller: every representation null with its error, no provider asked.
    let globex = app.key_for("globex", "eve@globex.test").await;
    let before = counters(&sandbox).await;
    let (_, body) = app
        .graphql_as(
            &globex,
            ITEMS,
            json!({ "representations": typed("Email", &emails) }),
        )
        .await;
    let after = counters(&sandbox).await;
    let entities = body["data"]["_entities"].as_array().expect("a list");
    assert!(entities.iter().all(Value::is_null), "{body}");
    assert_eq!(errors_by_index(&body).len(), emails.len(), "{body}");
    for provider in ["gmail", "outlook"] {
        assert_eq!(
            total_calls(&after, provider),
            total_calls(&before, provider),
            "{provider}"
        );
    }
}
