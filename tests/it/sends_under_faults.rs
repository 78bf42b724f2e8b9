//! Sends are never repeated blindly: when the provider acts and then answers with a 5xx,
//! `sendEmail` and `postMessage` report the failure and the provider was asked once (the
//! sandbox's counters); the gateway does not retry a call that may have reached it.

use serde_json::{Value, json};

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox},
    crm::counters,
    helpers::{TestApp, first_code},
};

const SEND: &str =
    "mutation($input: SendEmailInput!) { sendEmail(input: $input) { email { id } } }";
const POST: &str =
    "mutation($input: PostMessageInput!) { postMessage(input: $input) { message { id } } }";

const GMAIL_SEND: &str = "POST /google/gmail/v1/users/{userId}/messages/send";
const SLACK_POST: &str = "POST /api/chat.postMessage";

/// Every call the sandbox counted for a route, whatever its status.
fn tries(counters: &Value, provider: &str, route: &str) -> u64 {
    counters[provider][route]
        .as_object()
        .map(|by_status| by_status.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0)
}

async fn connected() -> (TestApp, String) {
    let (app, sandbox) = pointed_at_sandbox(false).await;
    for provider in ["GMAIL", "SLACK"] {
        let back = consent(&connect_link(&app, provider, None).await, "approve").await;
        assert_eq!(callback(&back).await.0, 200, "{provider} connects");
    }
    (app, sandbox)
}

async fn fault(sandbox: &str, spec: Value) {
    let answer = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/faults"))
        .json(&spec)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{spec}");
}

#[tokio::test]
async fn a_send_that_fails_after_the_provider_acted_is_not_sent_again() {
    let (app, sandbox) = connected().await;
    let email = json!({ "input": { "provider": "GMAIL", "to": ["ada@acme.test"], "subject": "Once", "text": "only once" } });
    let message =
        json!({ "input": { "provider": "SLACK", "channelId": "C0SBX0000", "text": "only once" } });
    for (provider, route) in [("gmail", GMAIL_SEND), ("slack", SLACK_POST)] {
        fault(
            &sandbox,
            json!({ "provider": provider, "path": route.split_once(' ').unwrap().1, "status": 502, "after_effect": true }),
        )
        .await;
    }
    let before = counters(&sandbox).await;
    let (_, sent) = app.graphql(SEND, email.clone()).await;
    let (_, posted) = app.graphql(POST, message.clone()).await;
    let after = counters(&sandbox).await;
    for (body, provider, route) in [(&sent, "gmail", GMAIL_SEND), (&posted, "slack", SLACK_POST)] {
        assert_eq!(first_code(body), "PROVIDER_UNAVAILABLE", "{body}");
        assert_eq!(
            tries(&after, provider, route) - tries(&before, provider, route),
            1,
            "{provider}: one try, no retry of a send that may have gone out"
        );
    }
}
