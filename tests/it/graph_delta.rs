//! Outlook's mail and calendar through Graph's delta queries, against the sandbox: the first
//! pass only takes the delta links; a mail delivered, read and deleted and an event created and
//! deleted are appended once each by the next passes; a pass with nothing new appends nothing; a
//! delta state Graph no longer keeps (410) starts the feed again from now, and it goes on.
//! Teams channel messages likewise: posted, edited and (softly) deleted, each appended once.

use serde_json::{Value, json};

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox_with},
    helpers::{TestApp, admin, eventually},
    subscriber::Subscriber,
};

use nexus::{changes::sync::Syncer, providers::Provider, upstream::Target};

/// An app with Outlook connected, polling every `sync_every` seconds (0: never).
async fn polled(sync_every: u64) -> (TestApp, String) {
    let (app, sandbox) = pointed_at_sandbox_with(false, |settings| {
        settings.changes.sync_interval_secs = Some(sync_every);
    })
    .await;
    let back = consent(&connect_link(&app, "OUTLOOK", None).await, "approve").await;
    assert_eq!(callback(&back).await.0, 200, "Outlook connects");
    (app, sandbox)
}

async fn connected() -> (TestApp, String, Syncer, Target) {
    let (app, sandbox) = polled(0).await;
    let syncer = nexus::startup::syncer(&app.settings, app.db.clone())
        .await
        .unwrap();
    let targets = syncer.targets(Some(Provider::Outlook), None).await.unwrap();
    assert_eq!(targets.len(), 1);
    (app, sandbox, syncer, targets[0])
}

/// How many delta requests to `route` the sandbox answered 410.
async fn gone(sandbox: &str, route: &str) -> u64 {
    let counters = crate::crm::counters(sandbox).await;
    counters["outlook"][format!("GET /microsoft{route}")]["410"]
        .as_u64()
        .unwrap_or_else(|| panic!("{counters}"))
}

/// The ops the sync appended for `remote_id` (Graph's change notifications, which the sandbox
/// also sends, carry a `subscriptionId` and are left out). What the log holds is the measure: a
/// notification nudges the app's own syncer, whose pass may take a change before the test's
/// pass does, which then finds it overtaken and appends nothing.
async fn synced(app: &TestApp, kind: &str, remote_id: &Value) -> Vec<String> {
    synced_from(app, "OUTLOOK", kind, remote_id).await
}

/// The ops the sync appended for `remote_id` of `provider`.
async fn synced_from(app: &TestApp, provider: &str, kind: &str, remote_id: &Value) -> Vec<String> {
    let (status, body) = app
        .graphql(
            "{ changes(first: 100) { nodes { op provider type remoteId data } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["changes"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| {
            n["provider"] == provider
                && n["type"] == kind
                && &n["remoteId"] == remote_id
                && n["data"].get("subscriptionId").is_none()
        })
        .map(|n| n["op"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn outlook_mail_arrives_through_its_delta_once() {
    let (app, sandbox, syncer, target) = connected().await;
    let first = syncer.feed_pass(target, "Email").await.unwrap();
    assert_eq!(
        first.changes, 0,
        "the first pass only takes the delta links"
    );

    let mail = admin(
        &sandbox,
        "/records",
        json!({ "provider": "outlook", "object": "message", "op": "create",
                "fields": { "subject": "Delta" } }),
    )
    .await;
    let id = mail["id"].clone();
    let second = syncer.feed_pass(target, "Email").await.unwrap();
    assert!(second.changes <= 1, "{second:?}");
    assert_eq!(synced(&app, "Email", &id).await, ["CREATED"]);

    // Graph's timestamps are in whole seconds: a change in the second the mail arrived in looks
    // like its arrival.
    admin(&sandbox, "/clock", json!({ "advance_s": 2 })).await;
    admin(
        &sandbox,
        "/records",
        json!({ "provider": "outlook", "object": "message", "op": "update", "id": id,
                "fields": { "isRead": true } }),
    )
    .await;
    let third = syncer.feed_pass(target, "Email").await.unwrap();
    assert!(third.changes <= 1, "{third:?}");
    admin(
        &sandbox,
        "/records",
        json!({ "provider": "outlook", "object": "message", "op": "delete", "id": id }),
    )
    .await;
    let fourth = syncer.feed_pass(target, "Email").await.unwrap();
    assert!(fourth.changes <= 1, "{fourth:?}");
    assert_eq!(
        synced(&app, "Email", &id).await,
        ["CREATED", "UPDATED", "DELETED"]
    );
    let fifth = syncer.feed_pass(target, "Email").await.unwrap();
    assert_eq!(fifth.changes, 0, "nothing new since");

    // The inbox's delta state is lost: that folder starts again from now.
    admin(
        &sandbox,
        "/faults",
        json!({ "provider": "outlook", "path": "/v1.0/me/mailFolders/inbox/messages/delta",
                "status": 410, "count": 1 }),
    )
    .await;
    let restarted = syncer.feed_pass(target, "Email").await.unwrap();
    assert_eq!(restarted.changes, 0, "{restarted:?}");
    assert_eq!(
        gone(&sandbox, "/v1.0/me/mailFolders/{folder}/messages/delta").await,
        1
    );
    let later = admin(
        &sandbox,
        "/records",
        json!({ "provider": "outlook", "object": "message", "op": "create",
                "fields": { "subject": "After the restart" } }),
    )
    .await;
    let after = syncer.feed_pass(target, "Email").await.unwrap();
    assert!(after.changes <= 1, "{after:?}");
    assert_eq!(synced(&app, "Email", &later["id"]).await, ["CREATED"]);
}

#[tokio::test]
async fn outlook_events_arrive_through_the_calendar_view_delta_and_a_lost_state_restarts() {
    let (app, sandbox, syncer, target) = connected().await;
    let first = syncer.feed_pass(target, "Event").await.unwrap();
    assert_eq!(first.changes, 0, "the first pass only takes the delta link");

    let soon = (chrono::Utc::now() + chrono::Duration::days(7))
        .format("%Y-%m-%dT10:00:00")
        .to_string();
    let later = soon.replace("T10:", "T11:");
    let event = admin(
        &sandbox,
        "/records",
        json!({ "provider": "outlook", "object": "event", "op": "create", "fields": {
            "subject": "Delta review",
            "start": { "dateTime": soon, "timeZone": "UTC" },
            "end": { "dateTime": later, "timeZone": "UTC" } } }),
    )
    .await;
    let id = event["id"].clone();
    let second = syncer.feed_pass(target, "Event").await.unwrap();
    assert!(second.changes <= 1, "{second:?}");
    admin(
        &sandbox,
        "/records",
        json!({ "provider": "outlook", "object": "event", "op": "delete", "id": id }),
    )
    .await;
    let third = syncer.feed_pass(target, "Event").await.unwrap();
    assert!(third.changes <= 1, "{third:?}");
    assert_eq!(synced(&app, "Event", &id).await, ["CREATED", "DELETED"]);
    let fourth = syncer.feed_pass(target, "Event").await.unwrap();
    assert_eq!(fourth.changes, 0, "nothing new since");

    // Graph no longer keeps the delta state: the feed starts again from now, and goes on.
    admin(
        &sandbox,
        "/faults",
        json!({ "provider": "outlook", "path": "/v1.0/me/calendarView/delta",
                "status": 410, "count": 1 }),
    )
    .await;
    let restarted = syncer.feed_pass(target, "Event").await.unwrap();
    assert_eq!(restarted.changes, 0, "{restarted:?}");
    assert_eq!(gone(&sandbox, "/v1.0/me/calendarView/delta").await, 1);
    let again = admin(
        &sandbox,
        "/records",
        json!({ "provider": "outlook", "object": "event", "op": "create", "fields": {
            "subject": "After the restart",
            "start": { "dateTime": soon, "timeZone": "UTC" },
            "end": { "dateTime": later, "timeZone": "UTC" } } }),
    )
    .await;
    let after = syncer.feed_pass(target, "Event").await.unwrap();
    assert!(after.changes <= 1, "{after:?}");
    assert_eq!(synced(&app, "Event", &again["id"]).await, ["CREATED"]);
}

#[tokio::test]
async fn the_syncer_polls_outlook_and_a_subscriber_sees_what_its_delta_lists() {
    let (app, sandbox) = polled(1).await;
    // The first polled pass takes the delta links; a mail after it is a change.
    let route = "GET /microsoft/v1.0/me/mailFolders/{folder}/messages/delta";
    eventually(
        "two polled delta passes",
        std::time::Duration::from_secs(15),
        async || {
            let counters = crate::crm::counters(&sandbox).await;
            (counters["outlook"][route]["200"].as_u64().unwrap_or(0) >= 2).then_some(())
        },
    )
    .await;
    let mut subscriber = Subscriber::start(
        &app,
        &app.key,
        "subscription($types: [String!]) { changes(types: $types) { op provider type remoteId data } }",
        json!({ "types": ["Email"] }),
    )
    .await;
    let mail = admin(
        &sandbox,
        "/records",
        json!({ "provider": "outlook", "object": "message", "op": "create",
                "fields": { "subject": "Polled" } }),
    )
    .await;
    // Graph's change notification for it arrives too; the sync's change carries the message.
    loop {
        let got = subscriber.next().await["data"]["changes"].clone();
        if got["data"].get("subscriptionId").is_none() {
            assert_eq!(
                (&got["provider"], &got["op"], &got["remoteId"]),
                (&json!("OUTLOOK"), &json!("CREATED"), &mail["id"]),
                "{got}"
            );
            assert_eq!(got["data"]["subject"], "Polled");
            break;
        }
    }
    subscriber.close().await;
}

/// A Teams channel's message, changed through the sandbox's admin API.
async fn channel_message(sandbox: &str, channel: &str, op: &str, id: Option<&str>) -> Value {
    let (team, channel) = channel.split_once('/').unwrap();
    let mut body = json!({ "provider": "teams", "object": "channelMessage", "op": op,
        "fields": { "teamId": team, "channelId": channel, "content": format!("Delta {op}") } });
    if let Some(id) = id {
        body["id"] = json!(id);
    }
    admin(sandbox, "/records", body).await
}

#[tokio::test]
async fn teams_channel_messages_arrive_through_their_delta_once_and_a_lost_state_restarts() {
    let (app, sandbox) = pointed_at_sandbox_with(false, |settings| {
        settings.changes.sync_interval_secs = Some(0);
    })
    .await;
    // Graph keeps no subscription for this connection: its notifications would nudge the app's
    // own syncer, whose passes would race this test's (a second syncer, with its own turns).
    admin(
        &sandbox,
        "/faults",
        json!({ "provider": "microsoft", "path": "/v1.0/subscriptions", "status": 403 }),
    )
    .await;
    let back = consent(&connect_link(&app, "TEAMS", None).await, "approve").await;
    assert_eq!(callback(&back).await.0, 200, "Teams connects");
    let syncer = nexus::startup::syncer(&app.settings, app.db.clone())
        .await
        .unwrap();
    let targets = syncer.targets(Some(Provider::Teams), None).await.unwrap();
    assert_eq!(targets.len(), 1);
    let target = targets[0];
    // This syncer keeps its own limits beside the app's, whose reads (the channels listed, the
    // messages Graph's notifications name) share the sandbox's 5 a second: room for both.
    admin(
        &sandbox,
        "/limits",
        json!({ "provider": "teams", "enforce": true,
                "capacity": { "teams_get_channel_message": 20 } }),
    )
    .await;
    let first = syncer.feed_pass(target, "Message").await.unwrap();
    assert_eq!(
        first.changes, 0,
        "the first pass only takes each channel's delta link"
    );
    let route = "GET /microsoft/v1.0/teams/{team}/channels/{channel}/messages/delta";
    let counters = crate::crm::counters(&sandbox).await;
    assert_eq!(
        counters["teams"][route]["200"].as_u64(),
        Some(12),
        "one delta per joined channel (four teams, three channels each): {counters}"
    );

    let (_, body) = app
        .graphql(
            "{ channels(first: 50, providers: [TEAMS]) { nodes { remoteId name } } }",
            json!({}),
        )
        .await;
    let channel = body["data"]["channels"]["nodes"][0]["remoteId"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    let posted = channel_message(&sandbox, &channel, "create", None).await;
    let id = posted["id"].as_str().unwrap().to_owned();
    let remote = json!(format!("{channel}/{id}"));
    let second = syncer.feed_pass(target, "Message").await.unwrap();
    assert!(second.changes <= 1, "{second:?}");
    assert_eq!(
        synced_from(&app, "TEAMS", "Message", &remote).await,
        ["CREATED"]
    );

    admin(&sandbox, "/clock", json!({ "advance_s": 2 })).await;
    let edited = channel_message(&sandbox, &channel, "update", Some(&id)).await;
    assert!(edited["lastEditedDateTime"].is_string(), "{edited}");
    let third = syncer.feed_pass(target, "Message").await.unwrap();
    assert!(third.changes <= 1, "{third:?}");
    channel_message(&sandbox, &channel, "delete", Some(&id)).await;
    let fourth = syncer.feed_pass(target, "Message").await.unwrap();
    assert!(fourth.changes <= 1, "{fourth:?}");
    assert_eq!(
        synced_from(&app, "TEAMS", "Message", &remote).await,
        ["CREATED", "UPDATED", "DELETED"]
    );
    let fifth = syncer.feed_pass(target, "Message").await.unwrap();
    assert_eq!(fifth.changes, 0, "nothing new since");

    // A channel's delta state is lost: that channel starts again from now, and it goes on.
    admin(
        &sandbox,
        "/faults",
        json!({ "provider": "teams", "path": "/microsoft/v1.0/teams/{team}/channels/{channel}/messages/delta",
                "status": 410, "count": 1 }),
    )
    .await;
    let restarted = syncer.feed_pass(target, "Message").await.unwrap();
    assert_eq!(restarted.changes, 0, "{restarted:?}");
    let counters = crate::crm::counters(&sandbox).await;
    assert_eq!(
        counters["teams"][route]["410"].as_u64(),
        Some(1),
        "{counters}"
    );
    let later = channel_message(&sandbox, &channel, "create", None).await;
    let after = syncer.feed_pass(target, "Message").await.unwrap();
    assert!(after.changes <= 1, "{after:?}");
    let later = json!(format!("{channel}/{}", later["id"].as_str().unwrap()));
    assert_eq!(
        synced_from(&app, "TEAMS", "Message", &later).await,
        ["CREATED"]
    );
}
