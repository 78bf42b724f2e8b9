//! The synced copy of mail, events and messages, through GraphQL against the sandbox with both
//! sides' limits on: contacts with their mail and events from fresh copies without a provider
//! call and with the same answers as live; an email received reaches the synced `emails`
//! through Gmail's push and history, and a deleted one leaves it; an unfiltered `messages`
//! over Slack (backfilled channel by channel) and Teams without RATE_LIMITED; disconnecting
//! erases the copy.

use std::{collections::BTreeMap, time::Duration};

use nexus::store::entities::{copy_records, copy_status, copy_terms, provider_subscriptions};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox_with},
    crm::{counters, nodes, total_calls},
    helpers::{TestApp, change_in_sandbox, eventually},
};

/// First passes on, and windows wide enough for the sandbox's whole seeded mail and messages
/// (the last 120 days) and events (90 days either side of today): the copy holds all of it, so
/// it answers as live does.
fn copying(settings: &mut nexus::config::Settings) {
    settings.changes.first_pass = true;
    for (slug, provider) in settings.providers.iter_mut() {
        if ["gmail", "outlook", "slack", "teams"].contains(&slug.as_str()) {
            provider.sync_window_days = Some(3650);
        }
        if ["google_calendar", "outlook"].contains(&slug.as_str()) {
            provider.sync_window_past_days = Some(3650);
            provider.sync_window_future_days = Some(3650);
        }
    }
}

async fn connect(app: &TestApp, providers: &[&str]) {
    for provider in providers {
        let back = consent(&connect_link(app, provider, None).await, "approve").await;
        assert_eq!(callback(&back).await.0, 200, "{provider} connects");
    }
}

/// Waits until `list` (a top-level list of `providers`) answers from the copy.
async fn until_synced(app: &TestApp, list: &str, provider: &str) {
    let query = format!(
        "{{ {list}(first: 1, providers: [{provider}], maxAge: 3600) {{ nodes {{ source }} }} }}"
    );
    eventually(
        &format!("{provider}'s {list} from the copy"),
        Duration::from_secs(180),
        async || {
            let (_, body) = app.graphql(&query, json!({})).await;
            let found = nodes(&body, list);
            (found.first().is_some_and(|n| n["source"] == "SYNCED")).then_some(())
        },
    )
    .await
}

const CONTACTS: &str = "query($maxAge: Int) {
  contacts(first: 50, providers: [HUBSPOT], maxAge: $maxAge) {
    nodes { id email
            emails(first: 5) { nodes { id subject source } }
            events(first: 5) { nodes { id title source } } }
  }
}";

/// Each contact's mail and event ids, by contact id.
type Joined = BTreeMap<String, (Vec<Value>, Vec<Value>)>;

/// Each contact's mail and event ids, and the sources they came from.
fn joined(body: &Value) -> (Joined, Vec<Value>) {
    let mut out = BTreeMap::new();
    let mut sources = Vec::new();
    for contact in nodes(body, "contacts") {
        let ids = |field: &str| -> Vec<Value> {
            contact[field]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["id"].clone())
                .collect()
        };
        for field in ["emails", "events"] {
            for node in contact[field]["nodes"].as_array().unwrap() {
                sources.push(node["source"].clone());
            }
        }
        out.insert(
            contact["id"].as_str().unwrap().to_owned(),
            (ids("emails"), ids("events")),
        );
    }
    (out, sources)
}

#[tokio::test]
async fn contacts_with_their_mail_and_events_from_fresh_copies_call_no_provider() {
    let (app, sandbox) = pointed_at_sandbox_with(false, copying).await;
    connect(&app, &["HUBSPOT", "GMAIL", "GOOGLE_CALENDAR"]).await;
    until_synced(&app, "contacts", "HUBSPOT").await;
    until_synced(&app, "emails", "GMAIL").await;
    until_synced(&app, "events", "GOOGLE_CALENDAR").await;
    app.until_idle(nexus::changes::sync::FIRST_PASS_TASK).await;

    let before = counters(&sandbox).await;
    let (_, synced) = app.graphql(CONTACTS, json!({})).await;
    assert!(synced["errors"].is_null(), "{synced}");
    let after = counters(&sandbox).await;
    for provider in ["hubspot", "gmail", "google_calendar"] {
        assert_eq!(
            total_calls(&after, provider),
            total_calls(&before, provider),
            "{provider} was not called"
        );
    }
    let (from_copy, sources) = joined(&synced);
    assert_eq!(from_copy.len(), 50, "{synced}");
    assert!(
        sources.iter().all(|s| s == "SYNCED"),
        "every email and event from the copy: {sources:?}"
    );
    assert!(
        from_copy.values().any(|(e, _)| !e.is_empty())
            && from_copy.values().any(|(_, v)| !v.is_empty()),
        "some contacts have mail and events: {synced}"
    );

    let (_, live) = app.graphql(CONTACTS, json!({ "maxAge": 0 })).await;
    assert!(live["errors"].is_null(), "{live}");
    let (from_providers, sources) = joined(&live);
    assert!(sources.iter().all(|s| s == "LIVE"), "{sources:?}");
    assert_eq!(
        from_copy, from_providers,
        "the copy answers as the providers"
    );
}

/// A gateway whose Gmail connection is watched: the sandbox's Pub/Sub pushes each mailbox change
/// to `/webhooks/gmail`, which brings the mailbox's feed pass forward. Polling is off.
async fn watched_gmail() -> (TestApp, String) {
    let (app, sandbox) = pointed_at_sandbox_with(false, |settings| {
        settings.changes.sync_interval_secs = Some(0);
        copying(settings);
        let gmail = settings.providers.get_mut("gmail").unwrap();
        let origin = gmail
            .base_url
            .clone()
            .unwrap()
            .trim_end_matches("/google")
            .to_owned();
        gmail.pubsub_topic = Some("projects/nexus-test/topics/gmail".into());
        gmail.certs_url = Some(format!("{origin}/google/oauth2/v3/certs"));
        gmail.push_service_account = Some("pubsub-push@nexus-test.iam.gserviceaccount.com".into());
    })
    .await;
    let response = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/webhooks"))
        .json(&json!({ "provider": "gmail", "url": app.url("/webhooks/gmail") }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    connect(&app, &["GMAIL"]).await;
    // Pushes come once the mailbox is watched (the gateway syncs it first, then watches it).
    eventually("the mailbox watched", Duration::from_secs(30), async || {
        let watches = provider_subscriptions::Entity::find()
            .filter(provider_subscriptions::Column::Provider.eq("gmail"))
            .count(&app.db)
            .await
            .unwrap();
        (watches > 0).then_some(())
    })
    .await;
    (app, sandbox)
}

const SYNCED_EMAILS: &str = "{ emails(first: 100, providers: [GMAIL], maxAge: 3600) {
  nodes { remoteId subject source } } }";

async fn synced_subjects(app: &TestApp) -> Vec<(String, String)> {
    let (_, body) = app.graphql(SYNCED_EMAILS, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    nodes(&body, "emails")
        .iter()
        .map(|n| {
            assert_eq!(n["source"], "SYNCED", "{n}");
            (
                n["remoteId"].as_str().unwrap().to_owned(),
                n["subject"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_email_received_reaches_the_synced_list_by_push_and_a_deleted_one_leaves_it() {
    let (app, sandbox) = watched_gmail().await;
    until_synced(&app, "emails", "GMAIL").await;
    let subject = format!("copy-{}", uuid::Uuid::new_v4());
    let message = change_in_sandbox(
        &sandbox,
        json!({ "provider": "gmail", "object": "messages", "op": "deliver",
                "fields": { "from": "ada@acme.test", "subject": subject, "text": "hi" } }),
    )
    .await;
    let id = message["id"].as_str().unwrap().to_owned();
    eventually(
        "the delivered email in the synced list",
        Duration::from_secs(30),
        async || {
            let list = synced_subjects(&app).await;
            list.iter()
                .any(|(remote, s)| remote == &id && s == &subject)
                .then_some(())
        },
    )
    .await;

    // Deleted at Gmail (moved to the trash, as a mail client deletes), then gone from the copy.
    let tokens: Value = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/tokens"))
        .json(&json!({ "provider": "gmail" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tokens["access_token"].as_str().expect("a sandbox token");
    let deleted = reqwest::Client::new()
        .post(format!(
            "{sandbox}/google/gmail/v1/users/me/messages/{id}/trash"
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    eventually(
        "the deleted email gone from the synced list",
        Duration::from_secs(30),
        async || {
            let list = synced_subjects(&app).await;
            (!list.iter().any(|(remote, _)| remote == &id)).then_some(())
        },
    )
    .await;
}

/// Rows of the connections of `provider` in the copy tables (records, terms, status).
async fn copy_rows(app: &TestApp, provider: &str) -> [u64; 3] {
    [
        copy_records::Entity::find()
            .filter(copy_records::Column::Provider.eq(provider))
            .count(&app.db)
            .await
            .unwrap(),
        copy_terms::Entity::find()
            .filter(copy_terms::Column::Provider.eq(provider))
            .count(&app.db)
            .await
            .unwrap(),
        copy_status::Entity::find()
            .filter(copy_status::Column::Provider.eq(provider))
            .count(&app.db)
            .await
            .unwrap(),
    ]
}

#[tokio::test]
async fn disconnecting_a_mailbox_erases_its_copy() {
    let (app, _sandbox) = pointed_at_sandbox_with(false, copying).await;
    connect(&app, &["GMAIL", "GOOGLE_CALENDAR"]).await;
    until_synced(&app, "emails", "GMAIL").await;
    until_synced(&app, "events", "GOOGLE_CALENDAR").await;
    app.until_idle(nexus::changes::sync::FIRST_PASS_TASK).await;
    let held = copy_rows(&app, "gmail").await;
    assert!(held.iter().all(|n| *n > 0), "mail, terms, status: {held:?}");
    let (_, body) = app
        .graphql(
            "mutation { disconnectProvider(provider: GMAIL) }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["disconnectProvider"], true, "{body}");
    eventually(
        "the mailbox's copy erased",
        Duration::from_secs(10),
        async || (copy_rows(&app, "gmail").await == [0, 0, 0]).then_some(()),
    )
    .await;
    assert!(
        copy_rows(&app, "google_calendar").await[0] > 0,
        "the calendar's copy stays"
    );
}

#[tokio::test]
async fn unfiltered_messages_come_from_slack_and_teams_without_rate_limits() {
    // The default windows, as the demo runs: the seeded messages reach further back.
    let (app, sandbox) = pointed_at_sandbox_with(false, |settings| {
        settings.changes.first_pass = true;
    })
    .await;
    connect(&app, &["SLACK", "TEAMS"]).await;
    // Until Slack's channels are backfilled, its part is read live or named in an error, never
    // silently missing.
    let (_, early) = app
        .graphql(
            "{ messages(first: 50) { nodes { provider source } } }",
            json!({}),
        )
        .await;
    let slack_answered = nodes(&early, "messages")
        .iter()
        .any(|n| n["provider"] == "SLACK");
    let slack_named = early["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| e["extensions"]["provider"] == "SLACK");
    assert!(slack_answered || slack_named, "{early}");

    until_synced(&app, "messages", "SLACK").await;
    until_synced(&app, "messages", "TEAMS").await;
    // Page by page from the newest (the sandbox's Teams messages are newer than Slack's): every
    // page from the copies, without an error, until both providers have appeared.
    let mut seen = std::collections::HashSet::new();
    let mut after = Value::Null;
    for _ in 0..40 {
        let (_, body) = app
            .graphql(
                "query($after: String) { messages(first: 50, after: $after) {
                   nodes { provider source } pageInfo { hasNextPage endCursor } } }",
                json!({ "after": after }),
            )
            .await;
        assert!(body["errors"].is_null(), "no RATE_LIMITED: {body}");
        let list = nodes(&body, "messages");
        assert!(list.iter().all(|n| n["source"] == "SYNCED"), "{body}");
        seen.extend(
            list.iter()
                .map(|n| n["provider"].as_str().unwrap().to_owned()),
        );
        let info = &body["data"]["messages"]["pageInfo"];
        if seen.len() == 2 || info["hasNextPage"] != true {
            break;
        }
        after = info["endCursor"].clone();
    }
    assert!(
        seen.contains("SLACK") && seen.contains("TEAMS"),
        "Slack and Teams messages: {seen:?}"
    );

    // The backfill stayed within Slack's tier: no history call drew a 429.
    let arrivals: Value = reqwest::Client::new()
        .get(format!("{sandbox}/_sandbox/arrivals?provider=slack"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let history: Vec<&Value> = arrivals
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| {
            a["route"]
                .as_str()
                .unwrap()
                .contains("conversations.history")
        })
        .collect();
    assert!(!history.is_empty());
    assert!(
        history.iter().all(|a| a["status"] != 429),
        "no conversations.history call refused: {history:?}"
    );
    backfilled_newest_first_a_page_per_channel_per_round(&history);
    // Every channel the bot is in is backfilled.
    let channels = copy_status::Entity::find()
        .filter(copy_status::Column::Provider.eq("slack"))
        .filter(copy_status::Column::Type.starts_with("Message/"))
        .all(&app.db)
        .await
        .unwrap();
    assert!(!channels.is_empty());
    assert!(channels.iter().all(|c| c.complete));
}

/// The backfill's `conversations.history` calls as the sandbox received them (those bounded by
/// the window's start, `oldest`; a live read of every channel has none): each channel's first
/// call starts at its newest message (no `latest`), every channel has its first page before any
/// channel's second, and the second pages (`latest`: older than the first's last) exist.
fn backfilled_newest_first_a_page_per_channel_per_round(history: &[&Value]) {
    let calls: Vec<(String, bool)> = history
        .iter()
        .filter_map(|a| {
            let query = a["query"].as_str().unwrap_or_default();
            let params: BTreeMap<&str, &str> =
                query.split('&').filter_map(|p| p.split_once('=')).collect();
            params
                .contains_key("oldest")
                .then(|| (params["channel"].to_owned(), params.contains_key("latest")))
        })
        .collect();
    let firsts = calls.iter().take_while(|(_, later)| !later).count();
    let opened: std::collections::BTreeSet<&str> =
        calls[..firsts].iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        opened.len(),
        firsts,
        "one first page per channel: {calls:?}"
    );
    assert!(opened.len() > 40, "every member channel: {calls:?}");
    let rest = &calls[firsts..];
    assert!(!rest.is_empty(), "#general needs a second page: {calls:?}");
    assert!(
        rest.iter()
            .all(|(c, later)| *later && opened.contains(c.as_str())),
        "after the first round, only older pages of channels already read: {calls:?}"
    );
}

/// Every email of a paged list, with its source and date.
async fn page_all_mail(app: &TestApp, max_age: u32) -> (Vec<(String, String, String)>, bool) {
    let mut all = Vec::new();
    let mut spliced = false;
    let mut after = Value::Null;
    loop {
        let (_, body) = app
            .graphql(
                "query($after: String, $maxAge: Int) {
                   emails(first: 100, after: $after, providers: [GMAIL], maxAge: $maxAge) {
                     nodes { remoteId date source } pageInfo { hasNextPage endCursor } } }",
                json!({ "after": after, "maxAge": max_age }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
        let list = nodes(&body, "emails");
        let sources: std::collections::BTreeSet<&str> =
            list.iter().map(|n| n["source"].as_str().unwrap()).collect();
        spliced |= sources.len() > 1;
        all.extend(list.iter().map(|n| {
            (
                n["remoteId"].as_str().unwrap().to_owned(),
                n["source"].as_str().unwrap().to_owned(),
                n["date"].as_str().unwrap().to_owned(),
            )
        }));
        let info = &body["data"]["emails"]["pageInfo"];
        if info["hasNextPage"] != true {
            return (all, spliced);
        }
        after = info["endCursor"].clone();
    }
}

#[tokio::test]
async fn an_unfiltered_mail_list_continues_live_past_the_windows_edge() {
    // The default window (90 days) over a mailbox seeded over 120.
    let (app, _sandbox) = pointed_at_sandbox_with(false, |settings| {
        settings.changes.first_pass = true;
    })
    .await;
    connect(&app, &["GMAIL"]).await;
    until_synced(&app, "emails", "GMAIL").await;
    app.until_idle(nexus::changes::sync::FIRST_PASS_TASK).await;

    let (paged, spliced) = page_all_mail(&app, 3600).await;
    let edge = chrono::Utc::now() - chrono::Duration::days(90);
    let synced = paged.iter().take_while(|(_, s, _)| s == "SYNCED").count();
    assert!(synced > 0, "the window from the copy: {paged:?}");
    assert!(synced < paged.len(), "older mail follows: {paged:?}");
    for (id, source, date) in &paged[synced..] {
        assert_eq!(source, "LIVE", "{id}");
        let date: chrono::DateTime<chrono::Utc> = date.parse().unwrap();
        assert!(date < edge + chrono::Duration::hours(1), "{id} {date}");
    }
    assert!(spliced, "the page at the edge holds both sources");

    // The same mail in the same order as a live listing: nothing repeated, nothing skipped.
    let (live, _) = page_all_mail(&app, 0).await;
    let ids = |list: &[(String, String, String)]| -> Vec<String> {
        list.iter().map(|(id, _, _)| id.clone()).collect()
    };
    assert_eq!(ids(&paged), ids(&live));
}

#[tokio::test]
async fn outlook_mail_reaches_the_copy_through_graph_notifications_and_a_deleted_one_leaves_it() {
    // Polling off: only the first pass and Graph's change notifications (each brings the
    // mailbox's delta pass forward) move the copy.
    let (app, sandbox) = pointed_at_sandbox_with(false, |settings| {
        settings.changes.first_pass = true;
        settings.changes.sync_interval_secs = Some(0);
    })
    .await;
    connect(&app, &["OUTLOOK"]).await;
    until_synced(&app, "emails", "OUTLOOK").await;
    app.until_idle(nexus::changes::sync::FIRST_PASS_TASK).await;
    let synced = async || -> Vec<(String, String)> {
        let (_, body) = app
            .graphql(
                "{ emails(first: 100, providers: [OUTLOOK], maxAge: 3600) {
                   nodes { remoteId subject source } } }",
                json!({}),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
        nodes(&body, "emails")
            .iter()
            .map(|n| {
                assert_eq!(n["source"], "SYNCED", "{n}");
                (
                    n["remoteId"].as_str().unwrap().to_owned(),
                    n["subject"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let subject = format!("copy-{}", uuid::Uuid::new_v4());
    let message = change_in_sandbox(
        &sandbox,
        json!({ "provider": "outlook", "object": "message", "op": "create",
                "fields": { "subject": subject } }),
    )
    .await;
    let id = message["id"].as_str().unwrap().to_owned();
    eventually(
        "the new message in the synced list",
        Duration::from_secs(30),
        async || {
            let list = synced().await;
            list.iter()
                .any(|(remote, s)| remote == &id && s == &subject)
                .then_some(())
        },
    )
    .await;
    change_in_sandbox(
        &sandbox,
        json!({ "provider": "outlook", "object": "message", "op": "delete", "id": id }),
    )
    .await;
    eventually(
        "the deleted message gone from the synced list",
        Duration::from_secs(30),
        async || {
            let list = synced().await;
            (!list.iter().any(|(remote, _)| remote == &id)).then_some(())
        },
    )
    .await;
}
