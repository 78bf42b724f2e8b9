//! Incremental sync against the sandbox: with no webhooks, a change made in HubSpot reaches a
//! subscriber through the polling sync alone; 300 Salesforce records with one SystemModstamp
//! across a page boundary all arrive, once; a second pass over unchanged records appends nothing.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox_with},
    helpers::TestApp,
    subscriber::Subscriber,
};

const SUBSCRIBE: &str = "subscription($after: String, $providers: [Provider!], $types: [String!], $ops: [ChangeOp!]) {
  changes(after: $after, providers: $providers, types: $types, ops: $ops) { op provider type remoteId data }
}";

fn from_the_start() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("change:0")
}

async fn connected(provider: &str, sync_every: u64) -> (TestApp, String) {
    let (app, sandbox) = pointed_at_sandbox_with(false, |settings| {
        settings.changes.sync_interval_secs = Some(sync_every);
    })
    .await;
    let back = consent(&connect_link(&app, provider, None).await, "approve").await;
    assert_eq!(callback(&back).await.0, 200, "{provider} connects");
    (app, sandbox)
}

async fn admin(sandbox: &str, path: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_hubspot_change_reaches_a_subscriber_through_sync_alone() {
    let (app, sandbox) = connected("HUBSPOT", 1).await;
    let mut subscriber = Subscriber::start(
        &app,
        &app.key,
        SUBSCRIBE,
        json!({ "after": from_the_start(), "providers": ["HUBSPOT"], "types": ["Contact"] }),
    )
    .await;
    // The first pass loads what is there: contact 405 among the created.
    loop {
        let change = subscriber.next().await["data"]["changes"].clone();
        assert_eq!(change["op"], "CREATED", "{change}");
        if change["remoteId"] == "405" {
            break;
        }
    }
    admin(
        &sandbox,
        "/records",
        json!({ "provider": "hubspot", "object": "contacts", "op": "update", "id": "405", "fields": { "firstname": "Synced" } }),
    )
    .await;
    loop {
        let change = subscriber.next().await["data"]["changes"].clone();
        if change["op"] == "UPDATED" {
            assert_eq!(change["remoteId"], "405", "{change}");
            assert_eq!(change["data"]["properties"]["firstname"], "Synced");
            break;
        }
    }
    subscriber.close().await;
}

#[tokio::test]
async fn salesforce_records_sharing_one_modstamp_across_a_page_boundary_all_arrive_once() {
    let (app, sandbox) = connected("SALESFORCE", 0).await;
    let stamp = "2031-01-01T00:00:00.000+0000";
    let mut made = BTreeSet::new();
    for i in 0..300 {
        let created = admin(
            &sandbox,
            "/records",
            json!({ "provider": "salesforce", "object": "Contact", "op": "create",
                    "fields": { "LastName": format!("Stamp {i}"), "SystemModstamp": stamp } }),
        )
        .await;
        made.insert(created["Id"].as_str().unwrap().to_owned());
    }
    let syncer = nexus::startup::syncer(&app.settings, app.db.clone())
        .await
        .unwrap();
    let targets = syncer
        .targets(Some(nexus::providers::Provider::Salesforce), None)
        .await
        .unwrap();
    assert_eq!(targets.len(), 1);
    let first = syncer
        .pass(
            targets[0],
            nexus::providers::crm::CrmObject::Contact,
            &|_| {},
        )
        .await
        .unwrap();
    assert!(first.seen > 300, "{first:?}");
    assert_eq!(
        first.changes, first.seen,
        "the first pass creates every record"
    );
    let again = syncer
        .pass(
            targets[0],
            nexus::providers::crm::CrmObject::Contact,
            &|_| {},
        )
        .await
        .unwrap();
    assert_eq!(again.changes, 0, "nothing changed since: {again:?}");

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (_, body) = app
            .graphql(
                "query($after: String) { changes(after: $after, first: 100) { pageInfo { hasNextPage endCursor } nodes { type remoteId } } }",
                json!({ "after": after }),
            )
            .await;
        let changes = &body["data"]["changes"];
        for node in changes["nodes"].as_array().unwrap() {
            if node["type"] == "Contact" {
                seen.push(node["remoteId"].as_str().unwrap().to_owned());
            }
        }
        if changes["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = changes["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no record twice");
    assert!(made.is_subset(&unique), "all 300 arrive");
}

#[tokio::test]
async fn gmail_changes_arrive_through_its_history() {
    let (app, _sandbox) = connected("GMAIL", 0).await;
    let syncer = nexus::startup::syncer(&app.settings, app.db.clone())
        .await
        .unwrap();
    let targets = syncer
        .targets(Some(nexus::providers::Provider::Gmail), None)
        .await
        .unwrap();
    assert_eq!(targets.len(), 1);
    let first = syncer.feed_pass(targets[0], "Email").await.unwrap();
    assert_eq!(first.changes, 0, "the first pass sets the feed's start");

    let (_, sent) = app
        .graphql(
            "mutation($input: SendEmailInput!) { sendEmail(input: $input) { email { id remoteId } } }",
            json!({ "input": { "provider": "GMAIL", "to": ["ada@acme.test"], "subject": "Synced", "text": "hello" } }),
        )
        .await;
    let sent = sent["data"]["sendEmail"]["email"].clone();
    let (_, labelled) = app
        .graphql(
            "mutation($input: ModifyEmailLabelsInput!) { modifyEmailLabels(input: $input) { email { id } } }",
            json!({ "input": { "id": sent["id"], "add": ["STARRED"] } }),
        )
        .await;
    assert!(labelled["errors"].is_null(), "{labelled}");
    let second = syncer.feed_pass(targets[0], "Email").await.unwrap();
    assert!(second.changes >= 2, "{second:?}");
    let (_, body) = app
        .graphql(
            "{ changes(first: 20) { nodes { op provider type remoteId } } }",
            json!({}),
        )
        .await;
    let nodes = body["data"]["changes"]["nodes"].as_array().unwrap().clone();
    let of_sent: Vec<&str> = nodes
        .iter()
        .filter(|n| {
            n["remoteId"] == sent["remoteId"] && n["type"] == "Email" && n["provider"] == "GMAIL"
        })
        .map(|n| n["op"].as_str().unwrap())
        .collect();
    assert_eq!(of_sent.first(), Some(&"CREATED"), "{nodes:?}");
    assert!(of_sent.contains(&"UPDATED"), "the label change: {nodes:?}");
    let third = syncer.feed_pass(targets[0], "Email").await.unwrap();
    assert_eq!(third.changes, 0, "nothing new since");
}

#[tokio::test]
async fn google_calendar_changes_arrive_through_its_sync_tokens() {
    let (app, _sandbox) = connected("GOOGLE_CALENDAR", 0).await;
    let syncer = nexus::startup::syncer(&app.settings, app.db.clone())
        .await
        .unwrap();
    let targets = syncer
        .targets(Some(nexus::providers::Provider::GoogleCalendar), None)
        .await
        .unwrap();
    let first = syncer.feed_pass(targets[0], "Event").await.unwrap();
    assert_eq!(
        first.changes, 0,
        "the first pass takes the calendar's sync token"
    );

    let (_, created) = app
        .graphql(
            "mutation($input: CreateEventInput!) { createEvent(input: $input) { event { id remoteId } } }",
            json!({ "input": { "provider": "GOOGLE_CALENDAR", "title": "Synced",
                               "start": "2031-02-03T10:00:00Z", "end": "2031-02-03T11:00:00Z" } }),
        )
        .await;
    let event = created["data"]["createEvent"]["event"].clone();
    assert!(event["id"].is_string(), "{created}");
    let second = syncer.feed_pass(targets[0], "Event").await.unwrap();
    assert_eq!(second.changes, 1, "{second:?}");
    let (_, updated) = app
        .graphql(
            "mutation($input: UpdateEventInput!) { updateEvent(input: $input) { event { id } } }",
            json!({ "input": { "id": event["id"], "title": "Synced again" } }),
        )
        .await;
    assert!(updated["errors"].is_null(), "{updated}");
    let third = syncer.feed_pass(targets[0], "Event").await.unwrap();
    assert_eq!(third.changes, 1, "{third:?}");
    let (_, body) = app
        .graphql(
            "{ changes(first: 10) { nodes { op provider type remoteId data } } }",
            json!({}),
        )
        .await;
    let nodes = body["data"]["changes"]["nodes"].as_array().unwrap().clone();
    let ops: Vec<&str> = nodes
        .iter()
        .filter(|n| n["remoteId"] == event["remoteId"] && n["type"] == "Event")
        .map(|n| n["op"].as_str().unwrap())
        .collect();
    assert_eq!(ops, vec!["CREATED", "UPDATED"], "{nodes:?}");
    assert_eq!(nodes.last().unwrap()["data"]["summary"], "Synced again");
}
