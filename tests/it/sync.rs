//! Incremental sync against the sandbox: with no webhooks, a change made in HubSpot reaches a
//! subscriber through the polling sync alone; a Salesforce initial load over 200 records runs
//! through a Bulk API 2.0 query job and logs each record once; 300 Salesforce records with one
//! SystemModstamp across a REST page boundary all arrive, once; HubSpot's modified records past
//! its search cap all arrive; a record deleted at the provider becomes one Deleted change after
//! a complete reconciliation, none before, and none from a reconciliation cut short; a second
//! pass over unchanged records appends nothing; two gateways passing over one connection (or
//! reading one change feed) at once log each change once, on SQLite and PostgreSQL.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use nexus::{changes::sync::Syncer, providers::crm::CrmObject, upstream::Target};

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox_with},
    crm::counters,
    helpers::{TestApp, admin, from_the_start},
    subscriber::Subscriber,
};

const SUBSCRIBE: &str = "subscription($after: String, $providers: [Provider!], $types: [String!], $ops: [ChangeOp!]) {
  changes(after: $after, providers: $providers, types: $types, ops: $ops) { op provider type remoteId data }
}";

async fn connected(provider: &str, sync_every: u64) -> (TestApp, String) {
    let (app, sandbox) = pointed_at_sandbox_with(false, |settings| {
        settings.changes.sync_interval_secs = Some(sync_every);
    })
    .await;
    let back = consent(&connect_link(&app, provider, None).await, "approve").await;
    assert_eq!(callback(&back).await.0, 200, "{provider} connects");
    (app, sandbox)
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

/// The syncer `nexus sync` builds for `app`, and the app's one connection of `provider`.
pub async fn syncer(app: &TestApp, provider: nexus::providers::Provider) -> (Syncer, Target) {
    let syncer = nexus::startup::syncer(&app.settings, app.db.clone())
        .await
        .unwrap();
    let targets = syncer.targets(Some(provider), None).await.unwrap();
    assert_eq!(targets.len(), 1);
    (syncer, targets[0])
}

/// Every change in the log: (type, op, remote id), oldest first.
async fn logged(app: &TestApp) -> Vec<(String, String, String)> {
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (_, body) = app
            .graphql(
                "query($after: String) { changes(after: $after, first: 100) { pageInfo { hasNextPage endCursor } nodes { type op remoteId } } }",
                json!({ "after": after }),
            )
            .await;
        let changes = &body["data"]["changes"];
        for node in changes["nodes"].as_array().unwrap() {
            let text = |k: &str| node[k].as_str().unwrap().to_owned();
            seen.push((text("type"), text("op"), text("remoteId")));
        }
        if changes["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = changes["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    seen
}

/// The remote ids of the logged changes of `kind` and `op`.
fn ids_of(log: &[(String, String, String)], kind: &str, op: &str) -> Vec<String> {
    log.iter()
        .filter(|(k, o, _)| k == kind && o == op)
        .map(|(_, _, id)| id.clone())
        .collect()
}

fn count(counters: &Value, provider: &str, route: &str) -> u64 {
    counters[provider][route]["200"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn two_gateways_passing_over_one_connection_at_once_log_each_change_once() {
    for (backend, url) in crate::helpers::backends().await {
        eprintln!("on {backend}");
        passes_at_once(url).await;
    }
}

async fn passes_at_once(database: Option<secrecy::SecretString>) {
    let (app, sandbox) = pointed_at_sandbox_with(false, |settings| {
        settings.changes.sync_interval_secs = Some(0);
        settings.database.url = database;
    })
    .await;
    let back = consent(&connect_link(&app, "HUBSPOT", None).await, "approve").await;
    assert_eq!(callback(&back).await.0, 200, "HubSpot connects");
    let (one, target) = syncer(&app, nexus::providers::Provider::Hubspot).await;
    let (other, _) = syncer(&app, nexus::providers::Provider::Hubspot).await;
    let (a, b) = tokio::join!(
        one.pass(target, CrmObject::Contact, &|_| {}),
        other.pass(target, CrmObject::Contact, &|_| {}),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let created = ids_of(&logged(&app).await, "Contact", "CREATED");
    let unique: BTreeSet<&String> = created.iter().collect();
    assert_eq!(unique.len(), created.len(), "no record twice: {a:?} {b:?}");
    assert_eq!(created.len(), a.changes + b.changes);
    assert_eq!(created.len(), a.seen.max(b.seen), "every record once");

    admin(
        &sandbox,
        "/records",
        json!({ "provider": "hubspot", "object": "contacts", "op": "update", "id": "405", "fields": { "firstname": "Raced" } }),
    )
    .await;
    let (a, b) = tokio::join!(
        one.pass(target, CrmObject::Contact, &|_| {}),
        other.pass(target, CrmObject::Contact, &|_| {}),
    );
    assert_eq!(a.unwrap().changes + b.unwrap().changes, 1);
    assert_eq!(ids_of(&logged(&app).await, "Contact", "UPDATED"), ["405"]);
}

#[tokio::test]
async fn two_gateways_reading_one_change_feed_at_once_log_each_change_once() {
    let (app, _sandbox) = connected("GMAIL", 0).await;
    let (one, target) = syncer(&app, nexus::providers::Provider::Gmail).await;
    let (other, _) = syncer(&app, nexus::providers::Provider::Gmail).await;
    one.feed_pass(target, "Email").await.unwrap();
    for subject in ["Raced once", "Raced twice"] {
        let (_, sent) = app
            .graphql(
                "mutation($input: SendEmailInput!) { sendEmail(input: $input) { email { id } } }",
                json!({ "input": { "provider": "GMAIL", "to": ["bob@globex.test"], "subject": subject, "text": "hi" } }),
            )
            .await;
        assert!(sent["errors"].is_null(), "{sent}");
    }
    let (a, b) = tokio::join!(
        one.feed_pass(target, "Email"),
        other.feed_pass(target, "Email"),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let log = logged(&app).await;
    let emails: Vec<_> = log.iter().filter(|(kind, _, _)| kind == "Email").collect();
    let unique: BTreeSet<_> = emails.iter().collect();
    assert_eq!(unique.len(), emails.len(), "no change twice: {emails:?}");
    assert!(emails.len() >= 2, "{emails:?}");
    assert_eq!(emails.len(), a.changes + b.changes, "{a:?} {b:?}");
}

const SF_QUERY: &str = "GET /services/data/v58.0/query";
const SF_QUERY_JOBS: &str = "POST /services/data/v58.0/jobs/query";

#[tokio::test]
async fn a_salesforce_initial_load_over_200_records_runs_through_a_bulk_query_job() {
    let (app, sandbox) = connected("SALESFORCE", 0).await;
    let (syncer, target) = syncer(&app, nexus::providers::Provider::Salesforce).await;
    let first = syncer
        .pass(target, CrmObject::Contact, &|_| {})
        .await
        .unwrap();
    assert!(first.seen > 200, "{first:?}");
    assert_eq!(
        first.changes, first.seen,
        "the first pass creates every record"
    );
    let after_first = counters(&sandbox).await;
    assert_eq!(
        count(&after_first, "salesforce", SF_QUERY_JOBS),
        1,
        "one query job: {after_first}"
    );
    assert!(
        count(
            &after_first,
            "salesforce",
            "GET /services/data/v58.0/jobs/query/{id}/results"
        ) >= 1,
        "{after_first}"
    );
    let created = ids_of(&logged(&app).await, "Contact", "CREATED");
    let unique: BTreeSet<&String> = created.iter().collect();
    assert_eq!(unique.len(), created.len(), "no record twice");
    assert_eq!(created.len(), first.seen);

    // The next pass reads the look-back window over REST: what came through the job hashes the
    // same as the REST API renders it, so nothing is taken for an update.
    let again = syncer
        .pass(target, CrmObject::Contact, &|_| {})
        .await
        .unwrap();
    assert!(
        again.seen >= 1,
        "the look-back re-reads the latest: {again:?}"
    );
    assert_eq!(again.changes, 0, "{again:?}");
    let after_again = counters(&sandbox).await;
    assert_eq!(count(&after_again, "salesforce", SF_QUERY_JOBS), 1);
}

#[tokio::test]
async fn salesforce_records_sharing_one_modstamp_across_a_page_boundary_all_arrive_once() {
    let (app, sandbox) = connected("SALESFORCE", 0).await;
    let (syncer, target) = syncer(&app, nexus::providers::Provider::Salesforce).await;
    syncer
        .pass(target, CrmObject::Contact, &|_| {})
        .await
        .unwrap();
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
    let before = count(&counters(&sandbox).await, "salesforce", SF_QUERY);
    let second = syncer
        .pass(target, CrmObject::Contact, &|_| {})
        .await
        .unwrap();
    assert_eq!(second.changes, 300, "{second:?}");
    let after = counters(&sandbox).await;
    assert!(
        count(&after, "salesforce", SF_QUERY) - before >= 2,
        "the 300 span REST pages of 200: {after}"
    );
    assert_eq!(
        count(&after, "salesforce", SF_QUERY_JOBS),
        1,
        "only the initial load used a job"
    );
    let again = syncer
        .pass(target, CrmObject::Contact, &|_| {})
        .await
        .unwrap();
    assert_eq!(again.changes, 0, "nothing changed since: {again:?}");

    let created = ids_of(&logged(&app).await, "Contact", "CREATED");
    let unique: BTreeSet<String> = created.iter().cloned().collect();
    assert_eq!(unique.len(), created.len(), "no record twice");
    assert!(made.is_subset(&unique), "all 300 arrive");
}

#[tokio::test]
async fn hubspot_records_past_the_search_cap_all_arrive() {
    // HubSpot caps a search at 10,000 results; the sandbox's cap is lowered to 300 here so the
    // 400 seeded contacts pass it without making 10,000 records in a debug test.
    let (app, sandbox) = connected("HUBSPOT", 0).await;
    admin(
        &sandbox,
        "/limits",
        json!({ "provider": "hubspot", "enforce": false, "capacity": { "search.results": 300 } }),
    )
    .await;
    let tokens = admin(&sandbox, "/tokens", json!({ "provider": "hubspot" })).await;
    let capped = reqwest::Client::new()
        .post(format!("{sandbox}/hubspot/crm/v3/objects/contacts/search"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .json(&json!({ "after": "200", "limit": 200 }))
        .send()
        .await
        .unwrap();
    assert_eq!(capped.status(), 400, "the sandbox enforces the cap");

    let (syncer, target) = syncer(&app, nexus::providers::Provider::Hubspot).await;
    let first = syncer
        .pass(target, CrmObject::Contact, &|_| {})
        .await
        .unwrap();
    assert_eq!((first.seen, first.changes), (400, 400), "{first:?}");
    let created = ids_of(&logged(&app).await, "Contact", "CREATED");
    let unique: BTreeSet<&String> = created.iter().collect();
    assert_eq!((created.len(), unique.len()), (400, 400));

    for id in ["405", "410"] {
        admin(
            &sandbox,
            "/records",
            json!({ "provider": "hubspot", "object": "contacts", "op": "update", "id": id, "fields": { "jobtitle": "Synced" } }),
        )
        .await;
    }
    let second = syncer
        .pass(target, CrmObject::Contact, &|_| {})
        .await
        .unwrap();
    assert_eq!(second.changes, 2, "{second:?}");
    let mut updated = ids_of(&logged(&app).await, "Contact", "UPDATED");
    updated.sort();
    assert_eq!(updated, vec!["405", "410"]);
}

#[tokio::test]
async fn a_deleted_record_becomes_one_deleted_change_after_a_complete_reconciliation() {
    let (app, sandbox) = connected("HUBSPOT", 0).await;
    admin(
        &sandbox,
        "/limits",
        json!({ "provider": "hubspot", "enforce": false }),
    )
    .await;
    let (syncer, target) = syncer(&app, nexus::providers::Provider::Hubspot).await;
    let first = syncer
        .pass(target, CrmObject::Contact, &|_| {})
        .await
        .unwrap();
    assert!(
        !first.reconciled,
        "an initial load counts as a reconciliation"
    );
    admin(
        &sandbox,
        "/records",
        json!({ "provider": "hubspot", "object": "contacts", "op": "delete", "id": "405" }),
    )
    .await;
    let incremental = syncer
        .pass(target, CrmObject::Contact, &|_| {})
        .await
        .unwrap();
    assert!(!incremental.reconciled);
    assert!(ids_of(&logged(&app).await, "Contact", "DELETED").is_empty());

    // A reconciliation whose listing fails decides nothing.
    let full = syncer.clone().full(true);
    admin(
        &sandbox,
        "/faults",
        json!({ "provider": "hubspot", "path": "/crm/v3/objects/{object}", "status": 400, "count": 1 }),
    )
    .await;
    assert!(
        full.pass(target, CrmObject::Contact, &|_| {})
            .await
            .is_err()
    );
    assert!(ids_of(&logged(&app).await, "Contact", "DELETED").is_empty());

    let reconciled = full
        .pass(target, CrmObject::Contact, &|_| {})
        .await
        .unwrap();
    assert!(reconciled.reconciled);
    assert_eq!(reconciled.deleted, 1, "{reconciled:?}");
    assert_eq!(
        ids_of(&logged(&app).await, "Contact", "DELETED"),
        vec!["405"]
    );
    let again = full
        .pass(target, CrmObject::Contact, &|_| {})
        .await
        .unwrap();
    assert_eq!((again.deleted, again.changes), (0, 0), "{again:?}");
    assert_eq!(ids_of(&logged(&app).await, "Contact", "DELETED").len(), 1);
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

/// What `nexus sync`'s progress bar shows for a connection: each type it syncs by name, as the
/// pass over it starts and with the records it read, mailboxes' feeds as much as CRM objects.
#[tokio::test]
async fn a_connections_progress_names_each_type_with_its_count() {
    let (app, _sandbox) = connected("OUTLOOK", 0).await;
    let (syncer, target) = syncer(&app, nexus::providers::Provider::Outlook).await;
    assert_eq!(
        syncer.resources(nexus::providers::Provider::Outlook),
        ["Email", "Event"]
    );
    let heard = std::sync::Mutex::new(Vec::new());
    let reports = syncer
        .connection(target, &|resource, seen| {
            heard.lock().unwrap().push((resource, seen))
        })
        .await;
    let reports: Vec<_> = reports.into_iter().map(Result::unwrap).collect();
    let heard = heard.into_inner().unwrap();
    for report in &reports {
        let of_it: Vec<_> = heard
            .iter()
            .filter(|(r, _)| *r == report.resource)
            .collect();
        assert_eq!(of_it.first(), Some(&&(report.resource, 0)), "{heard:?}");
        assert_eq!(
            of_it.last(),
            Some(&&(report.resource, report.seen)),
            "{heard:?}"
        );
    }
    assert_eq!(
        reports.iter().map(|r| r.resource).collect::<Vec<_>>(),
        ["Email", "Event"]
    );
}
