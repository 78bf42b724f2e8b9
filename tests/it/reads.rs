//! Reads and their freshness through GraphQL against the sandbox, both sides' limits on:
//! `maxAge` checked and carried to nested fields, every object's `source` and `fetchedAt`,
//! live reads while a copy is not complete (never silently stale), Gmail pages served from the
//! cache as `CACHED` with the time they were fetched, cursors that say where each provider's
//! position came from, the copies `viewer.connections` shows, and the reads counted by source.
//! Then the synced copy: a burst answered without a provider call, an edit seen per `maxAge`
//! until a pass (or a webhook's nudge) brings it, paging across a change of source, writes
//! through, and relations from the copy.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use nexus::providers::crm::CrmObject;
use serde_json::{Value, json};

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox, pointed_at_sandbox_with},
    crm::{both_crms, calls, counters, nodes, total_calls},
    helpers::{TestApp, change_in_sandbox, eventually, first_code},
};

const CONTACTS: &str = "query($first: Int, $after: String, $providers: [Provider!], $maxAge: Int) {
  contacts(first: $first, after: $after, providers: $providers, maxAge: $maxAge) {
    pageInfo { hasNextPage endCursor }
    nodes { id provider remoteId name source fetchedAt
            company { id source fetchedAt }
            deals(first: 5) { nodes { id source fetchedAt } } }
  }
}";

const HUBSPOT_SEARCH: &str = "POST /crm/v3/objects/contacts/search";

fn at(node: &Value, field: &str) -> DateTime<Utc> {
    node[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {node}"))
        .parse()
        .unwrap()
}

/// What a cursor holds: each provider's position and the source it came from.
fn decoded(cursor: &str) -> Value {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()
}

async fn connect(app: &TestApp, providers: &[&str]) {
    for provider in providers {
        let back = consent(&connect_link(app, provider, None).await, "approve").await;
        assert_eq!(callback(&back).await.0, 200, "{provider} connects");
    }
}

#[tokio::test]
async fn a_negative_max_age_is_refused_naming_the_argument_before_any_call() {
    let (app, sandbox) = both_crms().await;
    connect(&app, &["GMAIL", "SLACK", "GOOGLE_CALENDAR"]).await;
    let before = counters(&sandbox).await;
    for query in [
        "{ contacts(maxAge: -1) { nodes { id } } }",
        "{ leads(maxAge: -5) { nodes { id } } }",
        "{ deals(maxAge: -1) { nodes { id } } }",
        "{ companies(maxAge: -1) { nodes { id } } }",
        "{ emails(maxAge: -1) { nodes { id } } }",
        "{ events(maxAge: -1) { nodes { id } } }",
        "{ messages(maxAge: -1) { nodes { id } } }",
        "{ channels(maxAge: -1) { nodes { id } } }",
        "{ node(id: \"Q29udGFjdDpodWJzcG90OjE\", maxAge: -1) { id } }",
    ] {
        let (status, body) = app.graphql(query, json!({})).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(first_code(&body), "BAD_USER_INPUT", "{query}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "maxAge", "{body}");
    }
    let after = counters(&sandbox).await;
    for provider in ["hubspot", "salesforce", "gmail", "slack", "google_calendar"] {
        assert_eq!(
            total_calls(&after, provider),
            total_calls(&before, provider),
            "{provider} was not called"
        );
    }
    // `changes` takes no maxAge.
    let (_, body) = app
        .graphql("{ changes(maxAge: 0) { nodes { id } } }", json!({}))
        .await;
    assert_eq!(first_code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
}

#[tokio::test]
async fn max_age_zero_reads_live_and_every_object_says_so_down_to_its_relations() {
    let (app, sandbox) = both_crms().await;
    let started = Utc::now();
    let before = calls(&counters(&sandbox).await, "hubspot", HUBSPOT_SEARCH);
    let (_, body) = app
        .graphql(
            CONTACTS,
            json!({ "first": 10, "providers": ["HUBSPOT"], "maxAge": 0 }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let list = nodes(&body, "contacts");
    assert_eq!(list.len(), 10, "{body}");
    let after = calls(&counters(&sandbox).await, "hubspot", HUBSPOT_SEARCH);
    assert_eq!(after, before + 1, "one live HubSpot search");
    for contact in &list {
        assert_eq!(contact["source"], "LIVE", "{contact}");
        let fetched = at(contact, "fetchedAt");
        assert!(fetched >= started && fetched <= Utc::now(), "{contact}");
        if !contact["company"].is_null() {
            assert_eq!(contact["company"]["source"], "LIVE", "{contact}");
        }
        for deal in contact["deals"]["nodes"].as_array().unwrap() {
            assert_eq!(deal["source"], "LIVE", "{contact}");
        }
    }
    // node(id:) with maxAge 0 too.
    let (_, body) = app
        .graphql(
            "query($id: ID!) { node(id: $id, maxAge: 0) { ... on Contact { source fetchedAt } } }",
            json!({ "id": list[0]["id"] }),
        )
        .await;
    assert_eq!(body["data"]["node"]["source"], "LIVE", "{body}");
}

#[tokio::test]
async fn while_no_copy_is_complete_reads_go_live_and_the_cursor_says_so() {
    let (app, sandbox) = both_crms().await;
    let (_, body) = app
        .graphql(
            "{ viewer { connections { provider copies { type complete ageSeconds } } } }",
            json!({}),
        )
        .await;
    let connections = body["data"]["viewer"]["connections"].as_array().unwrap();
    let copies = |provider: &str| -> Vec<Value> {
        connections
            .iter()
            .find(|c| c["provider"] == provider)
            .unwrap()["copies"]
            .as_array()
            .unwrap()
            .clone()
    };
    let types = |copies: &[Value]| -> Vec<String> {
        let mut t: Vec<String> = copies
            .iter()
            .map(|c| c["type"].as_str().unwrap().to_owned())
            .collect();
        t.sort();
        t
    };
    assert_eq!(types(&copies("HUBSPOT")), ["Company", "Contact", "Deal"]);
    assert_eq!(
        types(&copies("SALESFORCE")),
        ["Company", "Contact", "Deal", "Lead"]
    );
    assert!(copies("GMAIL").is_empty(), "not connected, no copies");
    let incomplete: Vec<String> = copies("HUBSPOT")
        .iter()
        .chain(copies("SALESFORCE").iter())
        .filter(|c| c["complete"] == false)
        .map(|c| c["type"].as_str().unwrap().to_owned())
        .collect();
    for copy in copies("HUBSPOT").iter().chain(copies("SALESFORCE").iter()) {
        if copy["complete"] == false {
            assert!(copy["ageSeconds"].is_null(), "{copy}");
        }
    }
    if !incomplete.contains(&"Contact".to_owned()) {
        // The first passes finished before we looked: the synced tests cover that side.
        return;
    }

    // Omitted maxAge: the CRMs' default (900 s), but no copy to answer it.
    let before = counters(&sandbox).await;
    let (_, body) = app.graphql(CONTACTS, json!({ "first": 30 })).await;
    assert!(body["errors"].is_null(), "{body}");
    let list = nodes(&body, "contacts");
    assert_eq!(list.len(), 30);
    assert!(list.iter().all(|c| c["source"] == "LIVE"), "{body}");
    let after = counters(&sandbox).await;
    assert!(
        calls(&after, "hubspot", HUBSPOT_SEARCH) > calls(&before, "hubspot", HUBSPOT_SEARCH),
        "HubSpot was asked"
    );
    let cursor = body["data"]["contacts"]["pageInfo"]["endCursor"]
        .as_str()
        .unwrap();
    // Each provider that has a position says where it came from.
    let state = decoded(cursor);
    let positions = state["positions"].as_object().unwrap();
    assert!(!positions.is_empty(), "{state}");
    for provider in positions.keys() {
        assert_eq!(state["sources"][provider], "live", "{state}");
    }

    // The next page resumes from that cursor; nothing repeats.
    let (_, next) = app
        .graphql(CONTACTS, json!({ "first": 30, "after": cursor }))
        .await;
    let ids: std::collections::BTreeSet<&str> =
        list.iter().filter_map(|c| c["id"].as_str()).collect();
    let next = nodes(&next, "contacts");
    assert_eq!(next.len(), 30);
    assert!(
        next.iter()
            .all(|c| !ids.contains(c["id"].as_str().unwrap())),
        "{next:?}"
    );
}

#[tokio::test]
async fn a_repeated_gmail_list_is_cached_with_its_fetch_time_until_max_age_says_otherwise() {
    let (app, sandbox) = pointed_at_sandbox(false).await;
    connect(&app, &["GMAIL"]).await;
    const EMAILS: &str = "query($maxAge: Int) {
      emails(first: 5, providers: [GMAIL], maxAge: $maxAge) { nodes { id source fetchedAt } }
    }";
    let list_calls = async || total_calls(&counters(&sandbox).await, "gmail");

    let (_, first) = app.graphql(EMAILS, json!({})).await;
    let first = nodes(&first, "emails");
    assert_eq!(first.len(), 5);
    assert!(first.iter().all(|e| e["source"] == "LIVE"), "{first:?}");
    let fetched = at(&first[0], "fetchedAt");
    let calls_after_first = list_calls().await;

    let (_, again) = app.graphql(EMAILS, json!({})).await;
    let again = nodes(&again, "emails");
    assert_eq!(again.len(), 5);
    assert!(again.iter().all(|e| e["source"] == "CACHED"), "{again:?}");
    assert!(
        again.iter().all(|e| at(e, "fetchedAt") == fetched),
        "the cached page says when it was fetched: {again:?}"
    );
    assert_eq!(list_calls().await, calls_after_first, "no Gmail call");

    // Asked for something younger than the cached page: live again.
    let (_, live) = app.graphql(EMAILS, json!({ "maxAge": 0 })).await;
    let live = nodes(&live, "emails");
    assert!(live.iter().all(|e| e["source"] == "LIVE"), "{live:?}");
    assert!(at(&live[0], "fetchedAt") > fetched);
    assert!(list_calls().await > calls_after_first, "Gmail was asked");
}

#[tokio::test]
async fn reads_are_counted_by_provider_type_and_source() {
    let (app, _sandbox) = both_crms().await;
    let (_, body) = app
        .graphql(CONTACTS, json!({ "first": 5, "maxAge": 0 }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let metrics = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for provider in ["hubspot", "salesforce"] {
        assert!(
            metrics.lines().any(|l| l.starts_with("nexus_reads_total{")
                && l.contains(&format!("provider=\"{provider}\""))
                && l.contains("type=\"Contact\"")
                && l.contains("source=\"live\"")),
            "{provider}'s live contact reads in /metrics"
        );
    }
}

/// Both CRMs connected, with the first passes that fill their copies on.
async fn synced_crms() -> (TestApp, String) {
    let (app, sandbox) = pointed_at_sandbox_with(false, |settings| {
        settings.changes.first_pass = true;
    })
    .await;
    connect(&app, &["HUBSPOT", "SALESFORCE"]).await;
    (app, sandbox)
}

/// Registers the gateway's HubSpot webhook endpoint with the sandbox.
async fn hubspot_webhooks(app: &TestApp, sandbox: &str) {
    let registered = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/webhooks"))
        .json(&json!({ "provider": "hubspot", "url": app.url("/webhooks/hubspot") }))
        .send()
        .await
        .unwrap();
    assert!(registered.status().is_success());
}

/// Waits until `provider`'s copies of `types` are complete (its first full pass done).
async fn copy_complete(app: &TestApp, provider: &str, types: &[&str]) {
    let query = "{ viewer { connections { provider copies { type complete ageSeconds } } } }";
    eventually(
        &format!("{provider}'s copies of {types:?}"),
        Duration::from_secs(120),
        async || {
            let (_, body) = app.graphql(query, json!({})).await;
            let connections = body["data"]["viewer"]["connections"].as_array()?.clone();
            let copies = connections.iter().find(|c| c["provider"] == provider)?["copies"]
                .as_array()?
                .clone();
            types
                .iter()
                .all(|t| {
                    copies.iter().any(|c| {
                        c["type"] == *t && c["complete"] == true && c["ageSeconds"].is_number()
                    })
                })
                .then_some(())
        },
    )
    .await;
}

/// One incremental pass over `provider`'s `object`, as `nexus sync` runs it.
async fn pass(app: &TestApp, provider: nexus::providers::Provider, object: CrmObject) {
    let (syncer, target) = crate::sync::syncer(app, provider).await;
    syncer.pass(target, object, &|_| {}).await.unwrap();
}

/// Every contact of the merged list, paged `first` at a time with `max_age` for each page (by
/// page number), as (id, source) in order.
async fn paged(
    app: &TestApp,
    first: u64,
    max_age: impl Fn(usize) -> Option<i64>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    for page in 0.. {
        let (_, body) = app
            .graphql(
                "query($first: Int, $after: String, $maxAge: Int) {
                   contacts(first: $first, after: $after, maxAge: $maxAge) {
                     pageInfo { hasNextPage endCursor } nodes { id source } } }",
                json!({ "first": first, "after": after, "maxAge": max_age(page) }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
        for node in nodes(&body, "contacts") {
            out.push((
                node["id"].as_str().unwrap().to_owned(),
                node["source"].as_str().unwrap().to_owned(),
            ));
        }
        let info = &body["data"]["contacts"]["pageInfo"];
        if info["hasNextPage"] != true {
            break;
        }
        after = info["endCursor"].as_str().map(str::to_owned);
    }
    out
}

#[tokio::test]
async fn a_burst_of_150_hubspot_lists_is_answered_from_the_copy_without_a_hubspot_call() {
    let (app, sandbox) = synced_crms().await;
    // Every HubSpot type's first pass done, so no pass is calling HubSpot during the burst.
    copy_complete(&app, "HUBSPOT", &["Contact", "Company", "Deal"]).await;
    let before = total_calls(&counters(&sandbox).await, "hubspot");
    let burst = (0..150).map(|_| {
        app.graphql(
            "{ contacts(first: 100, providers: [HUBSPOT]) { nodes { id source fetchedAt } } }",
            json!({}),
        )
    });
    let answers = futures_util::future::join_all(burst).await;
    for (status, body) in &answers {
        assert_eq!(*status, 200);
        assert!(body["errors"].is_null(), "{body}");
        let list = nodes(body, "contacts");
        assert_eq!(list.len(), 100, "{body}");
        assert!(list.iter().all(|c| c["source"] == "SYNCED"), "{body}");
    }
    assert_eq!(
        total_calls(&counters(&sandbox).await, "hubspot"),
        before,
        "no HubSpot call from 150 reads"
    );
    let metrics = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("nexus_reads_total{")
            && l.contains("provider=\"hubspot\"")
            && l.contains("source=\"synced\"")),
        "synced reads counted"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("nexus_copy_age_seconds{")
                && l.contains("provider=\"hubspot\"")
                && l.contains("type=\"Contact\"")),
        "the copy's age reported"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("nexus_backfill_records_total{")
                && l.contains("provider=\"hubspot\"")
                && l.contains("type=\"Contact\"")
                && l.rsplit(' ').next().and_then(|n| n.parse::<f64>().ok()) >= Some(400.0)),
        "the first pass's progress counted: HubSpot's 400 contacts read"
    );
}

#[tokio::test]
async fn an_edit_at_the_provider_shows_per_max_age_until_the_next_pass_brings_it() {
    let (app, sandbox) = synced_crms().await;
    copy_complete(&app, "HUBSPOT", &["Contact"]).await;
    const ONE: &str = "query($id: ID!, $maxAge: Int) {
      node(id: $id, maxAge: $maxAge) { ... on Contact { remoteId title source fetchedAt } } }";
    let (_, body) = app
        .graphql(
            "{ contacts(first: 1, providers: [HUBSPOT]) { nodes { id remoteId title source fetchedAt } } }",
            json!({}),
        )
        .await;
    let contact = nodes(&body, "contacts")[0].clone();
    assert_eq!(contact["source"], "SYNCED", "{contact}");
    let old_fetched = at(&contact, "fetchedAt");
    change_in_sandbox(
        &sandbox,
        json!({ "provider": "hubspot", "object": "contacts", "op": "update",
                "id": contact["remoteId"], "fields": { "jobtitle": "Edited at HubSpot" } }),
    )
    .await;

    let (_, body) = app
        .graphql(ONE, json!({ "id": contact["id"], "maxAge": 3600 }))
        .await;
    let stale = &body["data"]["node"];
    assert_eq!(stale["source"], "SYNCED", "{body}");
    assert_eq!(stale["title"], contact["title"], "the copy's old value");
    assert_eq!(
        at(stale, "fetchedAt"),
        old_fetched,
        "with its old as-of time"
    );

    let (_, body) = app
        .graphql(ONE, json!({ "id": contact["id"], "maxAge": 0 }))
        .await;
    let live = &body["data"]["node"];
    assert_eq!(live["source"], "LIVE", "{body}");
    assert_eq!(live["title"], "Edited at HubSpot");

    pass(
        &app,
        nexus::providers::Provider::Hubspot,
        CrmObject::Contact,
    )
    .await;
    let (_, body) = app
        .graphql(ONE, json!({ "id": contact["id"], "maxAge": 3600 }))
        .await;
    let synced = &body["data"]["node"];
    assert_eq!(synced["source"], "SYNCED", "{body}");
    assert_eq!(synced["title"], "Edited at HubSpot", "the pass brought it");
    assert!(at(synced, "fetchedAt") > old_fetched);
}

#[tokio::test]
async fn with_hubspot_webhooks_an_edit_reaches_the_copy_through_the_nudge() {
    let (app, sandbox) = synced_crms().await;
    copy_complete(&app, "HUBSPOT", &["Contact"]).await;
    hubspot_webhooks(&app, &sandbox).await;
    let (_, body) = app
        .graphql(
            "{ contacts(first: 1, providers: [HUBSPOT]) { nodes { id remoteId } } }",
            json!({}),
        )
        .await;
    let contact = nodes(&body, "contacts")[0].clone();
    change_in_sandbox(
        &sandbox,
        json!({ "provider": "hubspot", "object": "contacts", "op": "update",
                "id": contact["remoteId"], "fields": { "jobtitle": "Pushed by webhook" } }),
    )
    .await;
    // Polling is off (`changes.sync_interval_secs = 0`): only the webhook's nudge can bring it.
    eventually("the edit in the copy", Duration::from_secs(30), async || {
        let (_, body) = app
            .graphql(
                "query($id: ID!) { node(id: $id, maxAge: 3600) { ... on Contact { title source } } }",
                json!({ "id": contact["id"] }),
            )
            .await;
        let node = &body["data"]["node"];
        (node["source"] == "SYNCED" && node["title"] == "Pushed by webhook").then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_contact_deleted_at_hubspot_leaves_the_copy_with_the_webhook() {
    let (app, sandbox) = synced_crms().await;
    copy_complete(&app, "HUBSPOT", &["Contact"]).await;
    hubspot_webhooks(&app, &sandbox).await;
    const NEWEST: &str =
        "{ contacts(first: 5, providers: [HUBSPOT], maxAge: 3600) { nodes { remoteId source } } }";
    let (_, body) = app.graphql(NEWEST, json!({})).await;
    let listed = nodes(&body, "contacts");
    assert!(listed.iter().all(|c| c["source"] == "SYNCED"), "{body}");
    let gone = listed[0]["remoteId"].clone();
    change_in_sandbox(
        &sandbox,
        json!({ "provider": "hubspot", "object": "contacts", "op": "delete", "id": gone }),
    )
    .await;
    // No reconciliation runs here (a day away): only the delivery can take it out of the copy.
    eventually(
        "the deletion in the copy",
        Duration::from_secs(30),
        async || {
            let (_, body) = app.graphql(NEWEST, json!({})).await;
            let listed = nodes(&body, "contacts");
            (listed.iter().all(|c| c["source"] == "SYNCED")
                && !listed.iter().any(|c| c["remoteId"] == gone))
            .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn paging_300_contacts_from_the_copy_matches_live_and_survives_source_changes() {
    let (app, sandbox) = synced_crms().await;
    copy_complete(&app, "HUBSPOT", &["Contact"]).await;
    copy_complete(&app, "SALESFORCE", &["Contact"]).await;
    let live = paged(&app, 100, |_| Some(0)).await;
    let live: Vec<String> = live
        .into_iter()
        .take(300)
        .map(|(id, s)| {
            assert_eq!(s, "LIVE");
            id
        })
        .collect();
    let synced = paged(&app, 100, |_| None).await;
    assert!(synced.iter().all(|(_, s)| s == "SYNCED"), "{synced:?}");
    let synced: Vec<String> = synced.into_iter().take(300).map(|(id, _)| id).collect();
    assert_eq!(synced, live, "the same ids in the same order");

    // Page 1 from the copy, a contact added at each CRM, page 2 live, page 3 from the copy again.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for (page, max_age) in [(0, None), (1, Some(0)), (2, None)] {
        let (_, body) = app
            .graphql(
                "query($after: String, $maxAge: Int) { contacts(first: 100, after: $after, maxAge: $maxAge) {
                   pageInfo { endCursor } nodes { id source } } }",
                json!({ "after": after, "maxAge": max_age }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
        let want = if max_age == Some(0) { "LIVE" } else { "SYNCED" };
        for node in nodes(&body, "contacts") {
            assert_eq!(node["source"], want, "page {page}: {node}");
            seen.push(node["id"].as_str().unwrap().to_owned());
        }
        after = body["data"]["contacts"]["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_owned);
        if page == 0 {
            for change in [
                json!({ "provider": "salesforce", "object": "Contact", "op": "create",
                        "fields": { "LastName": "Between", "Email": "between@sf.test" } }),
                json!({ "provider": "hubspot", "object": "contacts", "op": "create",
                        "fields": { "lastname": "Between", "email": "between@hs.test" } }),
            ] {
                change_in_sandbox(&sandbox, change).await;
            }
        }
    }
    assert_eq!(
        seen, live,
        "each record once, none skipped, across the change of source"
    );
}

#[tokio::test]
async fn a_created_contact_is_in_the_next_synced_list() {
    let (app, _sandbox) = synced_crms().await;
    copy_complete(&app, "HUBSPOT", &["Contact"]).await;
    const NEWEST: &str = "{ contacts(first: 5, providers: [HUBSPOT]) { nodes { id source } } }";
    // Read once before: the page the gateway keeps in memory must not hide the new contact.
    let (_, before) = app.graphql(NEWEST, json!({})).await;
    assert!(
        nodes(&before, "contacts")
            .iter()
            .all(|c| c["source"] == "SYNCED"),
        "{before}"
    );
    let (_, body) = app
        .graphql(
            "mutation { createContact(input: { provider: HUBSPOT, firstName: \"Wanda\", lastName: \"Through\", email: \"wanda@through.test\" }) { contact { id source } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let created = &body["data"]["createContact"]["contact"];
    assert_eq!(created["source"], "LIVE");
    let (_, body) = app
        .graphql(
            "{ contacts(first: 100, providers: [HUBSPOT], filter: { email: \"wanda@through.test\" }) { nodes { id source } } }",
            json!({}),
        )
        .await;
    let (_, list) = app.graphql(NEWEST, json!({})).await;
    let list = nodes(&list, "contacts");
    assert!(list.iter().all(|c| c["source"] == "SYNCED"), "{list:?}");
    assert!(
        list.iter().any(|c| c["id"] == created["id"]),
        "the new contact is in the synced list: {list:?} ({body})"
    );
}

#[tokio::test]
async fn contacts_with_company_and_deals_from_the_copy_cost_no_upstream_call() {
    let (app, sandbox) = synced_crms().await;
    copy_complete(&app, "HUBSPOT", &["Contact", "Company", "Deal"]).await;
    copy_complete(&app, "SALESFORCE", &["Contact", "Company", "Deal"]).await;
    let before = counters(&sandbox).await;
    let (_, body) = app.graphql(CONTACTS, json!({ "first": 100 })).await;
    assert!(body["errors"].is_null(), "{body}");
    let list = nodes(&body, "contacts");
    assert_eq!(list.len(), 100);
    let mut related = 0;
    for contact in &list {
        assert_eq!(contact["source"], "SYNCED", "{contact}");
        if !contact["company"].is_null() {
            assert_eq!(contact["company"]["source"], "SYNCED", "{contact}");
            related += 1;
        }
        for deal in contact["deals"]["nodes"].as_array().unwrap() {
            assert_eq!(deal["source"], "SYNCED", "{contact}");
            related += 1;
        }
    }
    assert!(related > 0, "some contacts have a company or deals");
    let after = counters(&sandbox).await;
    for provider in ["hubspot", "salesforce"] {
        assert_eq!(
            total_calls(&after, provider),
            total_calls(&before, provider),
            "no {provider} call"
        );
    }
}

#[tokio::test]
async fn raw_and_custom_fields_from_the_copy_match_live_when_selected_and_again_when_kept() {
    let (app, _sandbox) = synced_crms().await;
    copy_complete(&app, "HUBSPOT", &["Contact"]).await;
    copy_complete(&app, "SALESFORCE", &["Contact"]).await;
    const PAYLOADS: &str = "query($maxAge: Int) {
      hubspot: contacts(first: 20, providers: [HUBSPOT], maxAge: $maxAge) {
        nodes { id source raw stage: field(name: \"jobtitle\") sfEmail: field(name: \"Email\") } }
      salesforce: contacts(first: 20, providers: [SALESFORCE], maxAge: $maxAge) {
        nodes { id source raw stage: field(name: \"jobtitle\") sfEmail: field(name: \"Email\") } } }";
    let by_id = |body: &Value| -> std::collections::BTreeMap<String, Value> {
        assert!(body["errors"].is_null(), "{body}");
        ["hubspot", "salesforce"]
            .into_iter()
            .flat_map(|crm| nodes(body, crm))
            .map(|c| (c["id"].as_str().unwrap().to_owned(), c))
            .collect()
    };
    // Read without the payload first, so the page kept in memory holds it unparsed.
    let (_, body) = app
        .graphql(
            "{ hubspot: contacts(first: 20, providers: [HUBSPOT]) { nodes { id source } }
               salesforce: contacts(first: 20, providers: [SALESFORCE]) { nodes { id source } } }",
            json!({}),
        )
        .await;
    for crm in ["hubspot", "salesforce"] {
        let read = nodes(&body, crm);
        assert!(
            !read.is_empty() && read.iter().all(|c| c["source"] == "SYNCED"),
            "{body}"
        );
    }
    let (_, live) = app.graphql(PAYLOADS, json!({ "maxAge": 0 })).await;
    let live = by_id(&live);
    for round in ["first read of the payloads", "the kept page again"] {
        let (_, synced) = app.graphql(PAYLOADS, json!({})).await;
        let synced = by_id(&synced);
        assert_eq!(
            synced.keys().collect::<Vec<_>>(),
            live.keys().collect::<Vec<_>>(),
            "{round}"
        );
        for (id, contact) in &synced {
            assert_eq!(contact["source"], "SYNCED", "{round}: {contact}");
            let expected = &live[id];
            assert!(contact["raw"].is_object(), "{round}: {contact}");
            assert_eq!(contact["raw"], expected["raw"], "{round}: raw of {id}");
            assert_eq!(contact["stage"], expected["stage"], "{round}: {id}");
            assert_eq!(contact["sfEmail"], expected["sfEmail"], "{round}: {id}");
        }
        assert!(
            synced.values().any(|c| c["stage"].is_string())
                && synced.values().any(|c| c["sfEmail"].is_string()),
            "{round}: fields of both CRMs' payloads read"
        );
    }
}
