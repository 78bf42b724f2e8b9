//! Microsoft Graph change notifications into the change stream, against the sandbox: connecting
//! Outlook or Teams makes the gateway subscribe at Graph right away (the keep-alive pass runs
//! after each connection, then on its timer); the sandbox validates the notification URL with
//! its handshake and notifies it of every change; the gateway checks each notification's
//! `clientState`, stores it once, and a `changes` subscriber sees it.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox},
    helpers::{TestApp, change_in_sandbox, eventually, from_the_start, stored},
    subscriber::Subscriber,
};

const SUBSCRIBE: &str = "subscription($after: String, $types: [String!]) {
  changes(after: $after, types: $types) { cursor op provider type remoteId data }
}";

async fn connected(provider: &str) -> (TestApp, String) {
    let (app, sandbox) = pointed_at_sandbox(false).await;
    let back = consent(&connect_link(&app, provider, None).await, "approve").await;
    assert_eq!(callback(&back).await.0, 200, "{provider} connects");
    (app, sandbox)
}

/// The subscriptions the sandbox holds for the default user's `slug` connection, once there are
/// `at_least` of them (the gateway creates them just after connecting).
async fn subscriptions_at_graph(sandbox: &str, slug: &str, at_least: usize) -> Vec<Value> {
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{sandbox}/_sandbox/tokens"))
        .json(&json!({ "provider": slug }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    eventually(
        &format!("{slug}: {at_least} subscriptions at Graph"),
        Duration::from_secs(10),
        async || {
            let listed: Value = http
                .get(format!("{sandbox}/microsoft/v1.0/subscriptions"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let value = listed["value"].as_array().cloned().unwrap_or_default();
            (value.len() >= at_least).then_some(value)
        },
    )
    .await
}

async fn notify(app: &TestApp, slug: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(app.url(&format!("/webhooks/{slug}")))
        .json(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn outlook_mail_and_events_reach_a_subscriber_through_graph_notifications() {
    let (app, sandbox) = connected("OUTLOOK").await;
    let held = subscriptions_at_graph(&sandbox, "outlook", 2).await;
    let mut resources: Vec<&str> = held.iter().filter_map(|s| s["resource"].as_str()).collect();
    resources.sort();
    assert_eq!(resources, ["me/events", "me/messages"]);
    assert!(
        held.iter()
            .all(|s| s["notificationUrl"] == app.url("/webhooks/outlook"))
    );

    let mut subscriber = Subscriber::start(
        &app,
        &app.key,
        SUBSCRIBE,
        json!({ "after": from_the_start() }),
    )
    .await;
    let message = change_in_sandbox(
        &sandbox,
        json!({ "provider": "outlook", "object": "message", "op": "create",
                "fields": { "subject": "Notified" } }),
    )
    .await;
    let got = subscriber.next().await["data"]["changes"].clone();
    assert_eq!(
        (&got["provider"], &got["type"], &got["op"], &got["remoteId"]),
        (
            &json!("OUTLOOK"),
            &json!("Email"),
            &json!("CREATED"),
            &message["id"]
        ),
        "{got}"
    );
    assert_eq!(got["data"]["changeType"], "created");

    let event = change_in_sandbox(
        &sandbox,
        json!({ "provider": "outlook", "object": "event", "op": "create", "fields": {
            "subject": "Review",
            "start": { "dateTime": "2030-01-07T10:00:00", "timeZone": "UTC" },
            "end": { "dateTime": "2030-01-07T11:00:00", "timeZone": "UTC" } } }),
    )
    .await;
    let got = subscriber.next().await["data"]["changes"].clone();
    assert_eq!(
        (&got["type"], &got["op"], &got["remoteId"]),
        (&json!("Event"), &json!("CREATED"), &event["id"]),
        "{got}"
    );
    let id = event["id"].as_str().unwrap();
    change_in_sandbox(
        &sandbox,
        json!({ "provider": "outlook", "object": "event", "op": "delete", "id": id }),
    )
    .await;
    let got = subscriber.next().await["data"]["changes"].clone();
    assert_eq!(
        (&got["type"], &got["op"]),
        (&json!("Event"), &json!("DELETED"))
    );
    subscriber.close().await;
}

#[tokio::test]
async fn teams_channel_messages_reach_a_subscriber_through_graph_notifications() {
    let (app, sandbox) = connected("TEAMS").await;
    let held = subscriptions_at_graph(&sandbox, "teams", 1).await;
    let resource = held[0]["resource"].as_str().unwrap().to_owned();
    let parts: Vec<&str> = resource.split('/').collect();
    let ["teams", team, "channels", channel, "messages"] = parts.as_slice() else {
        panic!("a channel's messages: {resource}");
    };
    let mut subscriber = Subscriber::start(
        &app,
        &app.key,
        SUBSCRIBE,
        json!({ "after": from_the_start(), "types": ["Message"] }),
    )
    .await;
    let posted = change_in_sandbox(
        &sandbox,
        json!({ "provider": "teams", "object": "channelMessage", "op": "create",
                "fields": { "teamId": team, "channelId": channel, "content": "Notified" } }),
    )
    .await;
    let got = subscriber.next().await["data"]["changes"].clone();
    assert_eq!(
        (&got["provider"], &got["op"]),
        (&json!("TEAMS"), &json!("CREATED")),
        "{got}"
    );
    assert_eq!(
        got["remoteId"],
        format!("{team}/{channel}/{}", posted["id"].as_str().unwrap())
    );
    subscriber.close().await;
}

#[tokio::test]
async fn graph_notifications_are_checked_by_client_state_and_stored_once() {
    let (app, sandbox) = connected("OUTLOOK").await;
    let held = subscriptions_at_graph(&sandbox, "outlook", 2).await;
    let messages = held
        .iter()
        .find(|s| s["resource"] == "me/messages")
        .unwrap();

    // The handshake Graph makes on creating a subscription: the token echoed as plain text.
    let response = reqwest::Client::new()
        .post(app.url("/webhooks/outlook?validationToken=Validation%3A%20Testing%20abc"))
        .header("content-type", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(response.text().await.unwrap(), "Validation: Testing abc");

    let notification = |client_state: &str, subscription: &str| {
        json!({ "value": [{
            "subscriptionId": subscription,
            "subscriptionExpirationDateTime": messages["expirationDateTime"],
            "clientState": client_state,
            "changeType": "updated",
            "resource": "Users/u1/Messages/AAMk-1",
            "resourceData": { "@odata.type": "#Microsoft.Graph.Message", "id": "AAMk-1" },
            "tenantId": "t1",
        }] })
    };
    let id = messages["id"].as_str().unwrap();
    let client_state = messages["clientState"].as_str().unwrap();

    // A wrong clientState, or a subscription the gateway does not hold: accepted, as Graph
    // asks, and dropped.
    for forged in [
        notification("forged", id),
        notification(client_state, "not-ours"),
    ] {
        let (status, body) = notify(&app, "outlook", &forged).await;
        assert_eq!((status, &body["stored"]), (202, &json!(0)), "{body}");
    }
    // The right subscription on the wrong provider's endpoint is not its notification either.
    let (status, body) = notify(&app, "teams", &notification(client_state, id)).await;
    assert_eq!((status, &body["stored"]), (202, &json!(0)), "{body}");
    assert!(stored(&app).await.is_empty());

    // The genuine one, delivered twice: stored once.
    let genuine = notification(client_state, id);
    assert_eq!(notify(&app, "outlook", &genuine).await.1["stored"], 1);
    assert_eq!(notify(&app, "outlook", &genuine).await.1["stored"], 0);
    let nodes = stored(&app).await;
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    assert_eq!(
        (&nodes[0]["type"], &nodes[0]["op"], &nodes[0]["remoteId"]),
        (&json!("Email"), &json!("UPDATED"), &json!("AAMk-1"))
    );

    // Not a notification collection: 400, nothing stored.
    let (status, _) = notify(&app, "outlook", &json!({ "nope": true })).await;
    assert_eq!(status, 400);
    assert_eq!(stored(&app).await.len(), 1);
}

#[tokio::test]
async fn a_notifications_client_state_is_neither_stored_nor_returned() {
    let (app, sandbox) = connected("OUTLOOK").await;
    let held = subscriptions_at_graph(&sandbox, "outlook", 2).await;
    let messages = held
        .iter()
        .find(|s| s["resource"] == "me/messages")
        .unwrap();
    let client_state = messages["clientState"].as_str().unwrap();
    let genuine = json!({ "value": [{
        "subscriptionId": messages["id"],
        "subscriptionExpirationDateTime": messages["expirationDateTime"],
        "clientState": client_state,
        "changeType": "deleted",
        "resource": "Users/u1/Messages/AAMk-2",
        "resourceData": { "@odata.type": "#Microsoft.Graph.Message", "id": "AAMk-2" },
        "tenantId": "t1",
    }] });
    assert_eq!(notify(&app, "outlook", &genuine).await.1["stored"], 1);
    let (status, body) = app
        .graphql(
            "query { changes(first: 100) { nodes { remoteId data } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let nodes = &body["data"]["changes"]["nodes"];
    let stored = nodes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["remoteId"] == "AAMk-2")
        .unwrap_or_else(|| panic!("stored: {nodes}"));
    assert_eq!(stored["data"]["changeType"], "deleted");
    let text = nodes.to_string();
    assert!(!text.contains(client_state), "{text}");
    assert!(!text.contains("clientState"), "{text}");
}

/// Brings every stored subscription's expiry to within a minute, as if its lifetime had passed
/// at the gateway (whose clock the test cannot move; the sandbox's clock moves only Graph's).
async fn expiring_soon(app: &TestApp) {
    use nexus::store::entities::provider_subscriptions as row;
    use sea_orm::{EntityTrait, sea_query::Expr};
    let soon = chrono::Utc::now() + chrono::Duration::minutes(1);
    let updated = row::Entity::update_many()
        .col_expr(row::Column::ExpiresAt, Expr::value(soon))
        .exec(&app.db)
        .await
        .unwrap();
    assert_eq!(updated.rows_affected, 2);
}

#[tokio::test]
async fn subscriptions_near_expiry_are_renewed_and_deleted_at_graph_on_disconnect() {
    let (app, sandbox) = connected("OUTLOOK").await;
    let before = subscriptions_at_graph(&sandbox, "outlook", 2).await;
    expiring_soon(&app).await;
    // Connecting again runs the keep-alive pass now rather than at its next tick.
    let back = consent(&connect_link(&app, "OUTLOOK", None).await, "approve").await;
    assert_eq!(callback(&back).await.0, 200);
    let renewed = eventually(
        "both subscriptions renewed",
        Duration::from_secs(10),
        async || {
            let renewed = subscriptions_at_graph(&sandbox, "outlook", 2).await;
            renewed
                .iter()
                .all(|s| {
                    before.iter().any(|b| {
                        b["id"] == s["id"] && b["expirationDateTime"] != s["expirationDateTime"]
                    })
                })
                .then_some(renewed)
        },
    )
    .await;
    assert_eq!(renewed.len(), 2, "renewed, not created again: {renewed:?}");
    for s in &renewed {
        let old = before
            .iter()
            .find(|b| b["id"] == s["id"])
            .expect("the same subscription");
        assert_ne!(old["expirationDateTime"], s["expirationDateTime"], "{s}");
    }

    let (status, body) = app
        .graphql(
            "mutation { disconnectProvider(provider: OUTLOOK) }",
            json!({}),
        )
        .await;
    assert_eq!(
        (status, &body["data"]["disconnectProvider"]),
        (200, &json!(true)),
        "{body}"
    );
    assert!(
        subscriptions_at_graph(&sandbox, "outlook", 0)
            .await
            .is_empty(),
        "deleted at Graph"
    );
}

#[tokio::test]
async fn an_outlook_mail_notification_drops_the_mailbox_cached_lists() {
    let (app, sandbox) = connected("OUTLOOK").await;
    subscriptions_at_graph(&sandbox, "outlook", 2).await;
    crate::google_push::cached_mail_list(&app, "OUTLOOK").await;

    let mut subscriber = Subscriber::start(
        &app,
        &app.key,
        SUBSCRIBE,
        json!({ "after": from_the_start(), "types": ["Email"] }),
    )
    .await;
    let message = change_in_sandbox(
        &sandbox,
        json!({ "provider": "outlook", "object": "message", "op": "create",
                "fields": { "subject": "Past the cache" } }),
    )
    .await;
    let got = subscriber.next().await["data"]["changes"].clone();
    assert_eq!(got["remoteId"], message["id"], "{got}");
    subscriber.close().await;
    let id = message["id"].as_str().unwrap();
    crate::google_push::mail_list_holds(&app, "OUTLOOK", id).await;
}
