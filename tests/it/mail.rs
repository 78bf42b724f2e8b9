//! Mail through GraphQL against the sandbox: Gmail and Outlook merged newest first, every filter
//! pushed down (the sandbox is asked for no more than a page), paging that returns every record
//! once, sending (the stored copy parsed back with mail-parser), idempotent sends, labels, the
//! five-minute list cache and its invalidation, Gmail's per-second quota under a burst,
//! Contact.emails batched per request, bad input and partial results.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use mail_parser::MessageParser;
use serde_json::{Value, json};

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox},
    crm::{calls, counters, nodes, total_calls},
    helpers::{TestApp, first_code},
};

/// A gateway pointed at a fresh sandbox with Gmail and Outlook (and `more`) connected.
async fn mailboxes(more: &[&str]) -> (TestApp, String) {
    let (app, sandbox) = pointed_at_sandbox(false).await;
    for provider in ["GMAIL", "OUTLOOK"].iter().chain(more) {
        let back = consent(&connect_link(&app, provider, None).await, "approve").await;
        assert_eq!(callback(&back).await.0, 200, "{provider} connects");
    }
    (app, sandbox)
}

const EMAILS: &str = "query($first: Int, $after: String, $filter: EmailFilter, $providers: [Provider!]) {
  emails(first: $first, after: $after, filter: $filter, providers: $providers) {
    pageInfo { hasNextPage endCursor }
    nodes { id provider remoteId threadId subject from { name email } to { email } cc { email }
            date snippet labels unread }
  }
}";

const GMAIL_GET: &str = "GET /google/gmail/v1/users/{userId}/messages/{id}";
const GMAIL_LIST: &str = "GET /google/gmail/v1/users/{userId}/messages";
const GMAIL_BATCH: &str = "POST /google/batch/gmail/v1";
const GMAIL_SEND: &str = "POST /google/gmail/v1/users/{userId}/messages/send";
const OUTLOOK_LIST: &str = "GET /microsoft/v1.0/me/messages";

fn date(node: &Value) -> DateTime<Utc> {
    node["date"].as_str().unwrap().parse().unwrap()
}

async fn emails(app: &TestApp, variables: Value) -> Vec<Value> {
    let (status, body) = app.graphql(EMAILS, variables).await;
    assert_eq!(status, 200);
    assert!(body["errors"].is_null(), "{body}");
    nodes(&body, "emails")
}

fn routes(c: &Value, provider: &str) -> Value {
    c[provider].clone()
}

#[tokio::test]
async fn emails_merge_both_mailboxes_newest_first() {
    let (app, sandbox) = mailboxes(&[]).await;
    let list = emails(&app, json!({ "first": 30, "filter": { "unread": true } })).await;
    assert_eq!(list.len(), 30);
    let providers: BTreeSet<&str> = list
        .iter()
        .map(|n| n["provider"].as_str().unwrap())
        .collect();
    assert!(providers.contains("OUTLOOK"), "{list:?}");
    assert!(
        list.windows(2).all(|w| date(&w[0]) >= date(&w[1])),
        "newest first"
    );
    assert!(list.iter().all(|n| n["unread"] == true));
    assert!(list.iter().all(|n| n["from"]["email"].is_string()));
    let c = counters(&sandbox).await;
    println!("{}", routes(&c, "gmail"));
    println!("{}", routes(&c, "outlook"));
}

#[tokio::test]
async fn paging_returns_every_record_once_across_both_mailboxes() {
    let (app, _sandbox) = mailboxes(&[]).await;
    let filter = json!({ "unread": true });
    let (_, whole) = app
        .graphql(EMAILS, json!({ "first": 100, "filter": filter }))
        .await;
    assert_eq!(whole["data"]["emails"]["pageInfo"]["hasNextPage"], false, "{whole}");
    let expected: Vec<String> = nodes(&whole, "emails")
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(expected.len() > 20, "{}", expected.len());
    let providers: BTreeSet<String> = nodes(&whole, "emails")
        .iter()
        .map(|n| n["provider"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(providers.len(), 2, "both mailboxes have unread mail");

    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let (status, body) = app
            .graphql(EMAILS, json!({ "first": 7, "after": after, "filter": filter }))
            .await;
        assert_eq!(status, 200);
        assert!(body["errors"].is_null(), "{body}");
        seen.extend(
            nodes(&body, "emails")
                .iter()
                .map(|n| n["id"].as_str().unwrap().to_owned()),
        );
        let info = &body["data"]["emails"]["pageInfo"];
        if info["hasNextPage"] != true {
            break;
        }
        after = info["endCursor"].clone();
    }
    assert_eq!(seen, expected, "pages of 7 give the same list, each once");
}
