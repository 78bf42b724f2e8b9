//! Request ids over WebSocket: every error sent on a graphql-transport-ws socket — a refused
//! `subscribe` (an `error` message) and a resolver's error (in the `errors` of a `next` payload,
//! or an `error` message) — carries the handshake's `x-request-id` as `extensions.requestId`,
//! as errors over HTTP do. A caller's id that is too long or not visible ASCII is replaced by a
//! fresh one, so a caller cannot grow every log line of its request.

use serde_json::{Value, json};

use crate::{helpers::spawn_app, subscriber::Subscriber};

/// The error objects of an `error` or `next` message.
fn errors(message: &Value) -> Vec<Value> {
    match message["type"].as_str() {
        Some("error") => message["payload"].as_array().cloned().unwrap_or_default(),
        Some("next") => message["payload"]["errors"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[tokio::test]
async fn websocket_errors_carry_the_handshakes_request_id() {
    let app = spawn_app().await;

    // Refused before it runs: a field the schema lacks.
    let mut invalid = Subscriber::start_identified(
        &app,
        &app.key,
        "ws-req-invalid",
        "subscription { changes { noSuchField } }",
        json!({}),
    )
    .await;
    let message = invalid.message().await;
    let refused = errors(&message);
    assert!(!refused.is_empty(), "{message}");
    for error in &refused {
        assert_eq!(
            error["extensions"]["requestId"], "ws-req-invalid",
            "{message}"
        );
    }
    invalid.close().await;

    // Refused by the resolver: a cursor that is not one, on `after`.
    let mut bad_cursor = Subscriber::start_identified(
        &app,
        &app.key,
        "ws-req-cursor",
        "subscription($after: String) { changes(after: $after) { cursor } }",
        json!({ "after": "not-a-cursor" }),
    )
    .await;
    let message = bad_cursor.message().await;
    let refused = errors(&message);
    assert!(!refused.is_empty(), "{message}");
    for error in &refused {
        assert_eq!(
            error["extensions"]["requestId"], "ws-req-cursor",
            "{message}"
        );
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{message}");
    }
    bad_cursor.close().await;
}

#[tokio::test]
async fn an_oversized_or_unprintable_request_id_is_replaced_by_a_fresh_one() {
    let app = spawn_app().await;
    let echoed = |id: &str| {
        let request = app
            .client
            .get(format!("{}/healthz", app.origin))
            .header("x-request-id", id.to_owned());
        async move {
            let response = request.send().await.expect("healthz answers");
            assert_eq!(response.status(), 200);
            response.headers()["x-request-id"]
                .to_str()
                .expect("an ascii id")
                .to_owned()
        }
    };
    let fitting = "a".repeat(128);
    assert_eq!(echoed(&fitting).await, fitting);
    assert_eq!(echoed("req-42").await, "req-42");
    for unfit in ["a".repeat(129), "x".repeat(8_000), "two words".to_owned()] {
        let fresh = echoed(&unfit).await;
        assert_ne!(fresh, unfit);
        assert!(
            uuid::Uuid::parse_str(&fresh).is_ok(),
            "a fresh id replaces {} bytes: {fresh}",
            unfit.len()
        );
    }
}
