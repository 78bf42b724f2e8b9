//! Mail through GraphQL against the sandbox: Gmail and Outlook merged newest first, every filter
//! pushed down (the sandbox is asked for no more than a page), paging that returns every record
//! once, sending (the stored copy parsed back with mail-parser), idempotent sends, labels, the
//! five-minute list cache and its invalidation, Gmail's per-second quota under a burst,
//! Contact.emails batched per request, bad input and partial results.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::{Value, json};

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox},
    crm::{calls, counters, nodes, total_calls},
    helpers::{TestApp, first_code},
};

/// A gateway pointed at a fresh sandbox with Gmail and Outlook (and `more`) connected.
pub(crate) async fn mailboxes(more: &[&str]) -> (TestApp, String) {
    let (app, sandbox) = pointed_at_sandbox(false).await;
    for provider in ["GMAIL", "OUTLOOK"].iter().chain(more) {
        let back = consent(&connect_link(&app, provider, None).await, "approve").await;
        assert_eq!(callback(&back).await.0, 200, "{provider} connects");
    }
    (app, sandbox)
}

pub(crate) const EMAILS: &str =
    "query($first: Int, $after: String, $filter: EmailFilter, $providers: [Provider!]) {
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
pub(crate) const OUTLOOK_LIST: &str = "GET /microsoft/v1.0/me/messages";
const GRAPH_BATCH: &str = "POST /v1.0/$batch";

fn date(node: &Value) -> DateTime<Utc> {
    node["date"].as_str().unwrap().parse().unwrap()
}

pub(crate) async fn emails(app: &TestApp, variables: Value) -> Vec<Value> {
    let (status, body) = app.graphql(EMAILS, variables).await;
    assert_eq!(status, 200);
    assert!(body["errors"].is_null(), "{body}");
    nodes(&body, "emails")
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
    assert_eq!(calls(&c, "gmail", GMAIL_LIST), 1, "one Gmail search");
    assert_eq!(
        calls(&c, "gmail", GMAIL_BATCH),
        1,
        "its messages in one batch"
    );
    assert_eq!(calls(&c, "outlook", OUTLOOK_LIST), 1);
}

#[tokio::test]
async fn paging_returns_every_record_once_across_both_mailboxes() {
    let (app, _sandbox) = mailboxes(&[]).await;
    let filter = json!({ "unread": true });
    let (_, whole) = app
        .graphql(EMAILS, json!({ "first": 100, "filter": filter }))
        .await;
    assert_eq!(
        whole["data"]["emails"]["pageInfo"]["hasNextPage"], false,
        "{whole}"
    );
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
            .graphql(
                EMAILS,
                json!({ "first": 7, "after": after, "filter": filter }),
            )
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

/// The sandbox's own stored copy of a Gmail message, raw.
async fn gmail_raw(sandbox: &str, id: &str) -> Vec<u8> {
    let client = reqwest::Client::new();
    let tokens: Value = client
        .post(format!("{sandbox}/_sandbox/tokens"))
        .json(&json!({ "provider": "gmail" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let message: Value = client
        .get(format!(
            "{sandbox}/google/gmail/v1/users/me/messages/{id}?format=raw"
        ))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE
        .decode(message["raw"].as_str().unwrap())
        .unwrap()
}

pub(crate) fn addresses(node: &Value, field: &str) -> Vec<String> {
    node[field]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|a| a["email"].as_str())
                .map(str::to_lowercase)
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn from(node: &Value) -> String {
    node["from"]["email"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase()
}

/// What a filter promises of each message it lets through.
type Holds = Box<dyn Fn(&Value) -> bool>;

/// Each filter on one mailbox: the answer keeps to it, and the sandbox was asked for no more
/// than a page (Gmail: the messages fetched; Outlook: one list call of a page).
async fn filters_hold(app: &TestApp, sandbox: &str, provider: &str) {
    let providers = json!([provider]);
    let base = emails(app, json!({ "first": 40, "providers": providers })).await;
    assert_eq!(base.len(), 40);
    let me = base
        .iter()
        .map(|n| addresses(n, "to"))
        .find(|to| to.len() == 1)
        .unwrap()[0]
        .clone();
    let inbound = base.iter().find(|n| from(n) != me).unwrap();
    let outbound = base.iter().find(|n| from(n) == me);
    let word = inbound["subject"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .find(|w| w.len() > 4 && w.chars().all(char::is_alphanumeric))
        .unwrap()
        .to_owned();
    let (newer, older) = (base[5]["date"].clone(), base[15]["date"].clone());

    let mut cases: Vec<(Value, Holds)> = vec![
        (
            json!({ "from": from(inbound) }),
            Box::new({
                let who = from(inbound);
                move |n| from(n) == who
            }),
        ),
        (
            json!({ "subjectContains": word.to_lowercase() }),
            Box::new({
                let word = word.to_lowercase();
                move |n| {
                    n["subject"]
                        .as_str()
                        .unwrap()
                        .to_lowercase()
                        .contains(&word)
                }
            }),
        ),
        (
            json!({ "unread": false }),
            Box::new(|n| n["unread"] == false),
        ),
        (json!({ "unread": true }), Box::new(|n| n["unread"] == true)),
    ];
    if let Some(outbound) = outbound {
        let who = addresses(outbound, "to")[0].clone();
        cases.push((
            json!({ "to": who }),
            Box::new(move |n| {
                addresses(n, "to").contains(&who) || addresses(n, "cc").contains(&who)
            }),
        ));
    }
    let label = if provider == "GMAIL" {
        "STARRED"
    } else {
        "Customer"
    };
    cases.push((
        json!({ "label": label }),
        Box::new(move |n| n["labels"].as_array().unwrap().iter().any(|l| l == label)),
    ));
    for (filter, holds) in cases {
        let before = counters(sandbox).await;
        let list = emails(
            app,
            json!({ "first": 10, "providers": providers, "filter": filter }),
        )
        .await;
        let after = counters(sandbox).await;
        assert!(!list.is_empty(), "{provider} {filter}: something matches");
        assert!(list.iter().all(&holds), "{provider} {filter}: {list:?}");
        if provider == "GMAIL" {
            let got = calls(&after, "gmail", GMAIL_GET) - calls(&before, "gmail", GMAIL_GET);
            assert!(
                got <= 11,
                "{filter}: {got} messages fetched for a page of 10"
            );
        } else {
            let asked =
                calls(&after, "outlook", OUTLOOK_LIST) - calls(&before, "outlook", OUTLOOK_LIST);
            assert_eq!(asked, 1, "{filter}: one list call");
        }
    }

    // A time window: exactly the messages of the unfiltered list between its bounds.
    let window = emails(
        app,
        json!({ "first": 40, "providers": providers,
                "filter": { "after": older, "before": newer } }),
    )
    .await;
    let ids = |list: &[Value]| -> Vec<String> {
        list.iter()
            .map(|n| n["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(&window),
        ids(&base[6..=15]),
        "{provider}: after ≤ date < before"
    );
}

#[tokio::test]
async fn every_filter_is_pushed_down_to_gmail_and_outlook() {
    let (app, sandbox) = mailboxes(&[]).await;
    filters_hold(&app, &sandbox, "GMAIL").await;
    filters_hold(&app, &sandbox, "OUTLOOK").await;
    // An Outlook label naming a well-known folder lists that folder.
    let sent = emails(
        &app,
        json!({ "first": 10, "providers": ["OUTLOOK"], "filter": { "label": "sentitems" } }),
    )
    .await;
    assert!(!sent.is_empty());
    let me = from(&sent[0]);
    assert!(sent.iter().all(|n| from(n) == me));
}

const SEND: &str = "mutation($input: SendEmailInput!) {
  sendEmail(input: $input) { email { id provider remoteId threadId subject from { email } to { email } cc { email } labels } }
}";

#[tokio::test]
async fn gmail_sends_rfc_2822_that_parses_back_and_replies_in_its_thread() {
    let (app, sandbox) = mailboxes(&[]).await;
    let base = emails(&app, json!({ "first": 10, "providers": ["GMAIL"] })).await;
    let person = base
        .iter()
        .map(from)
        .find(|a| !a.ends_with("@nexus.example"))
        .unwrap();
    let subject = "Prix spécial für Q3 — ✓ a subject long enough to fold into several words";
    let (status, body) = app
        .graphql(
            SEND,
            json!({ "input": {
                "provider": "GMAIL", "to": [person], "cc": ["cc.person@nexus.example"],
                "bcc": ["hidden@nexus.example"], "subject": subject,
                "text": "Grüße aus Köln", "html": "<p>Grüße aus <b>Köln</b></p>",
            } }),
        )
        .await;
    assert_eq!(status, 200);
    assert!(body["errors"].is_null(), "{body}");
    let sent = &body["data"]["sendEmail"]["email"];
    assert_eq!(sent["provider"], "GMAIL");
    assert_eq!(sent["subject"], subject);
    assert!(
        sent["labels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "SENT")
    );

    let raw = gmail_raw(&sandbox, sent["remoteId"].as_str().unwrap()).await;
    let parsed = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(parsed.subject(), Some(subject));
    assert_eq!(
        parsed
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address()),
        Some(person.as_str())
    );
    assert_eq!(
        parsed
            .cc()
            .and_then(|a| a.first())
            .and_then(|a| a.address()),
        Some("cc.person@nexus.example")
    );
    assert_eq!(
        parsed
            .bcc()
            .and_then(|a| a.first())
            .and_then(|a| a.address()),
        Some("hidden@nexus.example"),
        "the sender's copy keeps Bcc"
    );
    assert_eq!(parsed.body_text(0).as_deref(), Some("Grüße aus Köln"));
    assert_eq!(
        parsed.body_html(0).as_deref(),
        Some("<p>Grüße aus <b>Köln</b></p>")
    );
    let root = parsed.content_type().unwrap();
    assert_eq!(
        (root.ctype(), root.subtype()),
        ("multipart", Some("alternative"))
    );
    let first_id = parsed.message_id().unwrap().to_owned();

    // A reply: thread headers, the thread id, and the subject with one `Re:`.
    let (_, body) = app
        .graphql(
            SEND,
            json!({ "input": {
                "provider": "GMAIL", "to": [person], "text": "Thanks!", "replyToId": sent["id"],
            } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let reply = &body["data"]["sendEmail"]["email"];
    assert_eq!(reply["threadId"], sent["threadId"]);
    let raw = gmail_raw(&sandbox, reply["remoteId"].as_str().unwrap()).await;
    let parsed = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(parsed.in_reply_to().as_text(), Some(first_id.as_str()));
    assert_eq!(
        parsed.references().as_text(),
        Some(first_id.as_str()),
        "References names the thread so far"
    );
    assert_eq!(parsed.subject(), Some(format!("Re: {subject}").as_str()));
    assert_eq!(parsed.body_text(0).as_deref(), Some("Thanks!"));
}

#[tokio::test]
async fn a_gmail_reply_to_a_subject_that_starts_with_an_emoji_is_sent_with_one_re() {
    let (app, sandbox) = mailboxes(&[]).await;
    let subject = "🎉 Launch day — ¡listos!";
    let (_, body) = app
        .graphql(
            SEND,
            json!({ "input": {
                "provider": "GMAIL", "to": ["ana@nexus.example"], "subject": subject, "text": "Go",
            } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let sent = &body["data"]["sendEmail"]["email"];
    assert_eq!(sent["subject"], subject);

    let (status, body) = app
        .graphql(
            SEND,
            json!({ "input": {
                "provider": "GMAIL", "to": ["ana@nexus.example"], "text": "Yes!",
                "replyToId": sent["id"],
            } }),
        )
        .await;
    assert_eq!(status, 200);
    assert!(body["errors"].is_null(), "{body}");
    let reply = &body["data"]["sendEmail"]["email"];
    let expected = format!("Re: {subject}");
    assert_eq!(reply["subject"], expected.as_str());
    assert_eq!(reply["threadId"], sent["threadId"]);
    let raw = gmail_raw(&sandbox, reply["remoteId"].as_str().unwrap()).await;
    let parsed = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(parsed.subject(), Some(expected.as_str()), "the stored copy");
}

#[tokio::test]
async fn a_line_break_or_a_control_character_in_a_header_is_refused_before_any_send() {
    let (app, sandbox) = mailboxes(&[]).await;
    let before = counters(&sandbox).await;
    for (field, input) in [
        (
            "input.subject",
            json!({ "provider": "GMAIL", "to": ["ana@nexus.example"],
                    "subject": "Hello\r\nBcc: evil@x.example", "text": "hi" }),
        ),
        (
            "input.subject",
            json!({ "provider": "OUTLOOK", "to": ["ana@nexus.example"],
                    "subject": "Hello\0there", "text": "hi" }),
        ),
        (
            "input.cc",
            json!({ "provider": "GMAIL", "to": ["ana@nexus.example"],
                    "cc": ["bo@nexus.example\r\nBcc: evil@x.example"], "text": "hi" }),
        ),
        (
            "input.to",
            json!({ "provider": "GMAIL", "to": ["ana\0@nexus.example"], "text": "hi" }),
        ),
    ] {
        let (status, body) = app.graphql(SEND, json!({ "input": input })).await;
        assert_eq!(status, 200);
        assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    let after = counters(&sandbox).await;
    assert_eq!(calls(&after, "gmail", GMAIL_SEND), 0, "{after}");
    for provider in ["gmail", "outlook"] {
        assert_eq!(
            total_calls(&after, provider),
            total_calls(&before, provider),
            "no {provider} call: {after}"
        );
    }
}

#[tokio::test]
async fn outlook_sends_and_replies_in_the_conversation() {
    let (app, _sandbox) = mailboxes(&[]).await;
    let base = emails(&app, json!({ "first": 10, "providers": ["OUTLOOK"] })).await;
    let person = addresses(&base[0], "to")[0].clone();
    let (_, body) = app
        .graphql(
            SEND,
            json!({ "input": {
                "provider": "OUTLOOK", "to": ["ana.outlook@nexus.example"], "cc": [person],
                "subject": "Réunion — jeudi", "html": "<p>À jeudi</p>",
            } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let sent = &body["data"]["sendEmail"]["email"];
    assert_eq!(sent["provider"], "OUTLOOK");
    assert_eq!(sent["subject"], "Réunion — jeudi");
    assert_eq!(addresses(sent, "to"), ["ana.outlook@nexus.example"]);
    assert_eq!(addresses(sent, "cc"), std::slice::from_ref(&person));

    let inbound = base.iter().find(|n| from(n) != person).unwrap();
    let (_, body) = app
        .graphql(
            SEND,
            json!({ "input": {
                "provider": "OUTLOOK", "to": [from(inbound)], "text": "Sounds good",
                "replyToId": inbound["id"],
            } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let reply = &body["data"]["sendEmail"]["email"];
    assert_eq!(reply["threadId"], inbound["threadId"], "{reply}");
    assert!(reply["subject"].as_str().unwrap().starts_with("RE: "));
}

#[tokio::test]
async fn a_repeated_send_with_its_key_returns_the_first_and_sends_nothing() {
    let (app, sandbox) = mailboxes(&[]).await;
    let input = json!({ "input": {
        "provider": "GMAIL", "to": ["someone@nexus.example"], "subject": "Once",
        "text": "only once", "idempotencyKey": "send-once-1",
    } });
    let (_, first) = app.graphql(SEND, input.clone()).await;
    assert!(first["errors"].is_null(), "{first}");
    let (_, again) = app.graphql(SEND, input).await;
    assert!(again["errors"].is_null(), "{again}");
    assert_eq!(
        again["data"]["sendEmail"]["email"]["id"],
        first["data"]["sendEmail"]["email"]["id"]
    );
    assert_eq!(calls(&counters(&sandbox).await, "gmail", GMAIL_SEND), 1);
}

const MODIFY: &str = "mutation($input: ModifyEmailLabelsInput!) {
  modifyEmailLabels(input: $input) { email { id labels unread } }
}";

#[tokio::test]
async fn labels_change_on_gmail_and_outlook() {
    let (app, _sandbox) = mailboxes(&[]).await;
    let unread = emails(
        &app,
        json!({ "first": 1, "providers": ["GMAIL"], "filter": { "unread": true } }),
    )
    .await;
    let (_, body) = app
        .graphql(
            MODIFY,
            json!({ "input": { "id": unread[0]["id"], "add": ["Follow-up", "STARRED"], "remove": ["UNREAD"] } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let changed = &body["data"]["modifyEmailLabels"]["email"];
    let labels: Vec<&str> = changed["labels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        labels.contains(&"Follow-up") && labels.contains(&"STARRED"),
        "{labels:?}"
    );
    assert_eq!(changed["unread"], false);

    let outlook = emails(&app, json!({ "first": 1, "providers": ["OUTLOOK"] })).await;
    let (_, body) = app
        .graphql(
            MODIFY,
            json!({ "input": { "id": outlook[0]["id"], "add": ["VIP"] } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert!(
        body["data"]["modifyEmailLabels"]["email"]["labels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "VIP")
    );
    let (_, body) = app
        .graphql(
            MODIFY,
            json!({ "input": { "id": outlook[0]["id"], "remove": ["vip"] } }),
        )
        .await;
    assert!(
        !body["data"]["modifyEmailLabels"]["email"]["labels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "VIP"),
        "{body}"
    );
    // A label the mailbox does not have is the caller's mistake.
    let (_, body) = app
        .graphql(
            MODIFY,
            json!({ "input": { "id": unread[0]["id"], "add": ["No such label"] } }),
        )
        .await;
    assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body}");
}

#[tokio::test]
async fn a_repeated_list_is_served_from_the_cache_until_a_send() {
    let (app, sandbox) = mailboxes(&[]).await;
    let variables = json!({ "first": 15, "filter": { "unread": true } });
    let first = emails(&app, variables.clone()).await;
    let before = counters(&sandbox).await;
    let again = emails(&app, variables.clone()).await;
    let after = counters(&sandbox).await;
    assert_eq!(first, again);
    assert_eq!(total_calls(&after, "gmail"), total_calls(&before, "gmail"));
    assert_eq!(
        total_calls(&after, "outlook"),
        total_calls(&before, "outlook")
    );

    let (_, sent) = app
        .graphql(
            SEND,
            json!({ "input": { "provider": "GMAIL", "to": ["sandbox.user@nexus.example"], "subject": "To myself", "text": "hi" } }),
        )
        .await;
    assert!(sent["errors"].is_null(), "{sent}");
    let before = counters(&sandbox).await;
    let fresh = emails(&app, variables).await;
    let after = counters(&sandbox).await;
    assert!(calls(&after, "gmail", GMAIL_LIST) > calls(&before, "gmail", GMAIL_LIST));
    assert!(calls(&after, "outlook", OUTLOOK_LIST) > calls(&before, "outlook", OUTLOOK_LIST));
    assert_eq!(
        fresh[0]["subject"], "To myself",
        "the mail sent to oneself is the newest unread"
    );
}

#[tokio::test]
async fn a_burst_of_email_queries_never_draws_a_gmail_429() {
    let (app, sandbox) = mailboxes(&[]).await;
    let queries = (0..10).map(|i| {
        let app = &app;
        async move {
            // Different windows, so that none is served from the cache.
            let before = (chrono::Utc::now() - chrono::Duration::days(10 + 7 * (i % 7)))
                .format("%Y-%m-%dT00:00:00Z")
                .to_string();
            app.graphql(
                EMAILS,
                json!({ "first": 25, "providers": ["GMAIL"],
                        "filter": { "before": before, "unread": i % 2 == 0 } }),
            )
            .await
        }
    });
    let answers = futures_util::future::join_all(queries).await;
    let c = counters(&sandbox).await;
    let refused: u64 = c["gmail"]
        .as_object()
        .unwrap()
        .values()
        .map(|by_status| by_status["429"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(refused, 0, "{c}");
    for (status, body) in answers {
        assert_eq!(status, 200);
        assert!(body["errors"].is_null(), "{body}");
    }
    assert!(calls(&c, "gmail", GMAIL_GET) >= 100, "{c}");
}

#[tokio::test]
async fn contact_emails_for_a_page_of_contacts_take_few_round_trips() {
    let (app, sandbox) = mailboxes(&["HUBSPOT"]).await;
    let before = counters(&sandbox).await;
    let (status, body) = app
        .graphql(
            "{ contacts(first: 50) { nodes { email emails(first: 5) { nodes { provider from { email } to { email } cc { email } } } } } }",
            json!({}),
        )
        .await;
    let after = counters(&sandbox).await;
    assert_eq!(status, 200);
    assert!(body["errors"].is_null(), "{body}");
    let contacts = nodes(&body, "contacts");
    assert_eq!(contacts.len(), 50);
    let mut with_mail = 0;
    for contact in &contacts {
        let email = contact["email"].as_str().unwrap_or_default().to_lowercase();
        let mail = contact["emails"]["nodes"].as_array().unwrap();
        assert!(mail.len() <= 5);
        with_mail += usize::from(!mail.is_empty());
        for m in mail {
            let involved = from(m) == email
                || addresses(m, "to").contains(&email)
                || addresses(m, "cc").contains(&email);
            assert!(involved, "{email}: {m}");
        }
    }
    assert!(with_mail >= 5, "contacts with mail: {with_mail}");
    let delta = |route: &str, provider: &str| {
        calls(&after, provider, route) - calls(&before, provider, route)
    };
    let gmail_trips = delta(GMAIL_BATCH, "gmail");
    let outlook_trips = delta(GRAPH_BATCH, "microsoft");
    println!(
        "gmail: {gmail_trips} batches ({} list calls, {} gets inside); outlook: {outlook_trips} batches ({} list calls inside)",
        delta(GMAIL_LIST, "gmail"),
        delta(GMAIL_GET, "gmail"),
        delta(OUTLOOK_LIST, "outlook"),
    );
    // The floor is 3 for each (Gmail: 50 searches are 250 units, one batch's worth beside a
    // list call is 245, so 2 batches of searches, then 1 of messages; Graph: 20 + 20 + 10); a
    // contact whose resolver reaches the loader late makes one more small round.
    assert!(gmail_trips <= 5, "Gmail round trips: {gmail_trips}");
    assert!(outlook_trips <= 4, "Graph batches: {outlook_trips}");
    assert_eq!(
        delta(OUTLOOK_LIST, "outlook"),
        50,
        "each contact's own search, in the batches"
    );
}

#[tokio::test]
async fn bad_input_is_refused_with_its_field() {
    let (app, _sandbox) = mailboxes(&[]).await;
    let cases = [
        (
            EMAILS,
            json!({ "filter": { "from": "not-an-address" } }),
            "filter.from",
        ),
        (EMAILS, json!({ "first": 500 }), "first"),
        (EMAILS, json!({ "after": "garbage" }), "after"),
        (
            EMAILS,
            json!({ "filter": { "after": "2026-03-01T00:00:00Z", "before": "2026-02-01T00:00:00Z" } }),
            "filter.before",
        ),
        (EMAILS, json!({ "providers": ["HUBSPOT"] }), "providers"),
        (
            SEND,
            json!({ "input": { "provider": "GMAIL", "to": [], "text": "x" } }),
            "input.to",
        ),
        (
            SEND,
            json!({ "input": { "provider": "GMAIL", "to": ["a@b.example"] } }),
            "input.text",
        ),
        (
            SEND,
            json!({ "input": { "provider": "SLACK", "to": ["a@b.example"], "text": "x" } }),
            "input.provider",
        ),
        (
            SEND,
            json!({ "input": { "provider": "GMAIL", "to": ["a@b.example"], "text": "x", "idempotencyKey": "" } }),
            "input.idempotencyKey",
        ),
        (
            MODIFY,
            json!({ "input": { "id": "nope", "add": ["X"] } }),
            "input.id",
        ),
    ];
    for (query, variables, field) in cases {
        let (status, body) = app.graphql(query, variables.clone()).await;
        assert_eq!(status, 200, "{variables}");
        assert_eq!(first_code(&body), "BAD_USER_INPUT", "{variables}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
}

#[tokio::test]
async fn a_failing_mailbox_leaves_the_other_with_its_error() {
    let (app, sandbox) = mailboxes(&[]).await;
    let fault = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/faults"))
        .json(&json!({ "provider": "outlook", "status": 503 }))
        .send()
        .await
        .unwrap();
    assert!(fault.status().is_success());
    let (status, body) = app.graphql(EMAILS, json!({ "first": 10 })).await;
    assert_eq!(status, 200);
    let list = nodes(&body, "emails");
    assert_eq!(list.len(), 10, "{body}");
    assert!(list.iter().all(|n| n["provider"] == "GMAIL"));
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["extensions"]["code"], "PROVIDER_UNAVAILABLE");
    assert_eq!(errors[0]["extensions"]["provider"], "OUTLOOK");
}

#[tokio::test]
async fn bodies_come_only_when_selected() {
    let (app, _sandbox) = mailboxes(&[]).await;
    let (_, body) = app
        .graphql(
            "{ emails(first: 4, filter: { unread: true }) { edges { node { provider subject bodyText bodyHtml } } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let edges = body["data"]["emails"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 4);
    for edge in edges {
        let node = &edge["node"];
        match node["provider"].as_str().unwrap() {
            // Gmail's seeded mail is multipart/alternative: both parts, decoded.
            "GMAIL" => {
                assert!(
                    node["bodyText"].as_str().unwrap().starts_with("Hi "),
                    "{node}"
                );
                assert!(
                    node["bodyHtml"].as_str().unwrap().contains("<div"),
                    "{node}"
                );
            }
            _ => assert!(node["bodyHtml"].as_str().unwrap().contains("<p>"), "{node}"),
        }
    }
}

#[tokio::test]
async fn an_expired_token_inside_a_batch_is_refreshed_once() {
    let (app, sandbox) = mailboxes(&["HUBSPOT"]).await;
    let expired = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/expire-tokens"))
        .json(&json!({ "provider": "gmail" }))
        .send()
        .await
        .unwrap();
    assert!(expired.status().is_success());
    let before = counters(&sandbox).await;
    // Many contacts: their Gmail searches go out in one batch, whose parts the sandbox refuses.
    let (_, body) = app
        .graphql(
            "{ contacts(first: 20) { nodes { emails(first: 2) { nodes { provider remoteId } } } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let after = counters(&sandbox).await;
    let refused = |c: &Value| c["gmail"][GMAIL_LIST]["401"].as_u64().unwrap_or(0);
    assert!(
        refused(&after) > refused(&before),
        "the batch's parts met the expired token"
    );
    let gmail_mail = nodes(&body, "contacts")
        .iter()
        .flat_map(|c| c["emails"]["nodes"].as_array().cloned().unwrap_or_default())
        .filter(|m| m["provider"] == "GMAIL")
        .count();
    assert!(
        gmail_mail > 0,
        "the batch went through after one refresh: {body}"
    );
}

#[tokio::test]
async fn outlook_pages_split_messages_of_one_second_exactly() {
    let (app, sandbox) = mailboxes(&[]).await;
    let admin = reqwest::Client::new();
    // Outlook's times are whole seconds: these arrive together, mostly in one second.
    for n in 0..7 {
        let created = admin
            .post(format!("{sandbox}/_sandbox/records"))
            .json(
                &json!({ "provider": "outlook", "object": "message", "op": "create",
                           "fields": { "subject": format!("Tie break {n}") } }),
            )
            .send()
            .await
            .unwrap();
        assert!(created.status().is_success());
    }
    let filter = json!({ "subjectContains": "tie break" });
    let whole = emails(
        &app,
        json!({ "first": 100, "providers": ["OUTLOOK"], "filter": filter }),
    )
    .await;
    assert_eq!(whole.len(), 7);
    assert!(whole.windows(2).all(|w| date(&w[0]) >= date(&w[1])));
    for first in [1, 2, 3] {
        let mut seen = Vec::new();
        let mut after = Value::Null;
        loop {
            let (_, body) = app
                .graphql(
                    EMAILS,
                    json!({ "first": first, "after": after, "providers": ["OUTLOOK"], "filter": filter }),
                )
                .await;
            assert!(body["errors"].is_null(), "{body}");
            seen.extend(nodes(&body, "emails"));
            let info = &body["data"]["emails"]["pageInfo"];
            if info["hasNextPage"] != true {
                break;
            }
            after = info["endCursor"].clone();
        }
        assert_eq!(seen, whole, "pages of {first}");
    }
}
