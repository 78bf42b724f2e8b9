//! Per-caller limits (`auth.rate_limit_per_key`, `auth.rate_limit_burst`): a burst from one key
//! is answered 429 with `Retry-After` and `RATE_LIMITED` while another key goes on, over HTTP and
//! at a WebSocket's `connection_init`; with no limit set, the same burst passes.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::{
    connect_async,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};

use crate::helpers::{TestApp, spawn_app, spawn_app_with, test_settings};

/// Requests in the burst: at one request a second and a burst of two, the burst would have to
/// take 18 s for none of them to be refused.
const BURST: usize = 20;

/// Sends `BURST` queries with `key`, one after another: each answer's status, `Retry-After`
/// and body.
async fn burst(app: &TestApp, key: &str) -> Vec<(u16, Option<String>, Value)> {
    let mut answers = Vec::new();
    for _ in 0..BURST {
        let response = app
            .client
            .post(app.url("/graphql"))
            .bearer_auth(key)
            .json(&json!({ "query": "{ viewer { user { email } } }" }))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        answers.push((status, retry_after, response.json().await.unwrap()));
    }
    answers
}

fn limited_settings() -> nexus::config::Settings {
    let mut settings = test_settings();
    settings.auth.rate_limit_per_key = Some(1);
    settings.auth.rate_limit_burst = Some(2);
    settings
}

#[tokio::test]
async fn a_burst_from_one_key_is_refused_with_retry_after_while_another_key_goes_on() {
    let app = spawn_app_with(limited_settings()).await;
    let other = app.key_for("acme", "bob@acme.test").await;

    let answers = burst(&app, &app.key).await;
    assert!(
        answers[..2].iter().all(|(status, ..)| *status == 200),
        "the burst's first two are admitted: {answers:?}"
    );
    let refused: Vec<_> = answers.iter().filter(|(s, ..)| *s == 429).collect();
    assert!(!refused.is_empty(), "{answers:?}");
    for (_, retry_after, body) in refused {
        let seconds: u64 = retry_after
            .as_deref()
            .expect("Retry-After")
            .parse()
            .expect("whole seconds");
        assert!((1..=2).contains(&seconds), "{seconds}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
        assert_eq!(body["errors"][0]["extensions"]["retryAfter"], seconds);
        assert!(body.get("data").is_none(), "{body}");
    }

    let (status, body) = app
        .graphql_as(&other, "{ viewer { user { email } } }", json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["viewer"]["user"]["email"], "bob@acme.test");
}

#[tokio::test]
async fn with_no_limit_set_the_same_burst_passes() {
    let app = spawn_app().await;
    let answers = burst(&app, &app.key).await;
    assert!(
        answers.iter().all(|(status, ..)| *status == 200),
        "{answers:?}"
    );
}

/// The close code of a WebSocket whose `connection_init` carries `key`, or `None` when it was
/// acknowledged.
async fn init_closes_with(app: &TestApp, key: &str) -> Option<u16> {
    let url = app.url("/graphql").replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let mut socket = connect_async(request).await.expect("websocket").0;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {key}") } });
    socket.send(Message::text(init.to_string())).await.unwrap();
    while let Some(frame) = socket.next().await {
        match frame.expect("a frame") {
            Message::Text(text) => {
                let message: Value = serde_json::from_str(&text).unwrap();
                if message["type"] == "connection_ack" {
                    return None;
                }
            }
            Message::Close(frame) => return frame.map(|f| u16::from(f.code)),
            _ => {}
        }
    }
    panic!("the socket ended without a close frame")
}

#[tokio::test]
async fn a_websocket_init_over_the_limit_is_closed_with_4429() {
    let app = spawn_app_with(limited_settings()).await;
    let other = app.key_for("acme", "bob@acme.test").await;
    let answers = burst(&app, &app.key).await;
    assert!(answers.iter().any(|(s, ..)| *s == 429), "{answers:?}");
    let mut closes = Vec::new();
    for _ in 0..3 {
        closes.push(init_closes_with(&app, &app.key).await);
    }
    assert!(closes.contains(&Some(4429)), "{closes:?}");
    assert_eq!(init_closes_with(&app, &other).await, None);
}
