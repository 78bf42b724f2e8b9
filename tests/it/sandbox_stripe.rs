//! The Stripe sender: events posted to the registered endpoint, signed as Stripe signs them.

use std::time::Duration;

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{helpers::webhook_receiver, sandbox_hubspot::hub};

#[tokio::test]
async fn events_arrive_signed_with_the_endpoint_secret() {
    let sandbox = hub().await;
    let early = sandbox
        .admin("/stripe/events", json!({ "type": "customer.created" }))
        .await;
    assert_eq!(early.status(), 400, "no endpoint registered yet");

    let (url, mut rx) = webhook_receiver().await;
    let no_secret = sandbox
        .admin("/webhooks", json!({ "provider": "stripe", "url": url }))
        .await;
    assert_eq!(no_secret.status(), 400);
    let secret = "whsec_sandbox_test";
    let ok = sandbox
        .admin(
            "/webhooks",
            json!({ "provider": "stripe", "url": url, "secret": secret }),
        )
        .await;
    assert_eq!(ok.status(), 204);

    let sent: Value = sandbox
        .admin(
            "/stripe/events",
            json!({ "type": "customer.updated", "data": { "email": "changed@acme.example" } }),
        )
        .await
        .json()
        .await
        .unwrap();
    let (headers, body) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event, sent);
    assert!(event["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(event["object"], "event");
    assert_eq!(event["type"], "customer.updated");
    assert_eq!(event["data"]["object"]["object"], "customer");
    assert_eq!(event["data"]["object"]["email"], "changed@acme.example");
    assert!(event["data"]["previous_attributes"].is_object());
    assert!(event["created"].is_i64());

    let header = headers["stripe-signature"].to_str().unwrap();
    let t = header
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .unwrap();
    let v1 = header
        .split(',')
        .find_map(|p| p.strip_prefix("v1="))
        .unwrap();
    assert!((chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap()).abs() < 300);
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", String::from_utf8_lossy(&body)).as_bytes());
    assert_eq!(v1, hex::encode(mac.finalize().into_bytes()));

    let unknown = sandbox
        .admin("/stripe/events", json!({ "type": "customer.teleported" }))
        .await;
    assert_eq!(unknown.status(), 400);
}
