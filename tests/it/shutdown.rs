//! Stopping the gateway ends its background work: every poller, keeper, relay and retention
//! loop watches the shutdown signal, so none outlives `run_until_stopped`; and a `nexus serve`
//! given SIGTERM closes its open WebSockets with 1001 Going Away and a reason.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio_tungstenite::{
    connect_async,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox_with},
    helpers::backends,
    logs::{Served, create_key},
};

#[tokio::test]
async fn stopping_the_gateway_ends_every_background_task() {
    for (backend, url) in backends().await {
        let (mut app, _sandbox) = pointed_at_sandbox_with(false, |settings| {
            // Every loop on: pollers for each provider that syncs, keepers, retention (and the
            // relay on PostgreSQL); a loop that ignored the signal would hold the stop for
            // this grace period and still be running after it.
            settings.changes.sync_interval_secs = Some(3600);
            settings.server.shutdown_grace_secs = 5;
            settings.database.url = url;
        })
        .await;
        let back = consent(&connect_link(&app, "HUBSPOT", None).await, "approve").await;
        assert_eq!(callback(&back).await.0, 200, "{backend}: HubSpot connects");
        let background = app.background.clone();
        assert!(
            background.running("sync poller") > 0,
            "{backend}: the pollers run"
        );
        assert!(
            background.running("Graph subscriptions") > 0 && background.running("retention") == 1,
            "{backend}: the keepers and retention run"
        );
        if backend == "postgres" {
            assert_eq!(background.running("change relay"), 1, "the relay listens");
        }

        tokio::time::timeout(Duration::from_secs(4), app.stop())
            .await
            .unwrap_or_else(|_| panic!("{backend}: stopped within the grace period"));
        assert!(
            background.is_empty(),
            "{backend}: {} background tasks still run",
            background.len()
        );
    }
}

/// The next graphql-transport-ws message of `type` on `socket`.
async fn next_of_type<S>(socket: &mut S, kind: &str) -> Value
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match socket.next().await.expect("the socket is open").unwrap() {
            Message::Text(text) => {
                let message: Value = serde_json::from_str(&text).unwrap();
                if message["type"] == kind {
                    return message;
                }
            }
            Message::Close(frame) => panic!("closed while waiting for {kind}: {frame:?}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn sigterm_closes_open_websockets_with_1001_and_a_reason() {
    let dir = TempDir::new().unwrap();
    let key = create_key(dir.path());
    let serve = Served::start(dir.path(), &[], |line| {
        let line: Value = serde_json::from_str(line).ok()?;
        (line["message"] == "serving").then(|| line["addr"].as_str().unwrap().to_owned())
    });
    let url = format!("{}/graphql", serve.origin.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = connect_async(request).await.expect("websocket");
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {key}") } });
    socket.send(Message::text(init.to_string())).await.unwrap();
    next_of_type(&mut socket, "connection_ack").await;
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": {
        "query": "subscription { heartbeat(intervalMs: 100) { sequence } }" } });
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
    next_of_type(&mut socket, "next").await;

    tokio::task::spawn_blocking(move || serve.stop())
        .await
        .unwrap();
    let close = loop {
        match socket.next().await {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("the socket ended without a close frame (1006): {other:?}"),
        }
    };
    let frame = close.expect("a close frame with a code");
    assert_eq!(u16::from(frame.code), 1001, "{frame:?}");
    assert!(!frame.reason.is_empty(), "a reason: {frame:?}");
}
