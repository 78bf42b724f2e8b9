//! Sends happen once per `idempotencyKey` whatever the provider does: under after-effect faults
//! (the provider sends, then answers 503) and random 5xx on every other call (lookups,
//! read-backs), 100 keys per provider, each repeated by the client until it gets a message,
//! leave exactly one message per key in the sandbox's store, and every answer is that message.
//! An outcome the gateway cannot know yet is `PROVIDER_UNAVAILABLE` with `retryAfter`; a key
//! reused with other input is `BAD_USER_INPUT`; a claim whose owner died mid-send (its lease
//! run out) is settled by looking the message up.

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures_util::future::join_all;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde_json::{Value, json};

use nexus::store::entities::idempotency_keys as claims;

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox_with},
    helpers::{TestApp, first_code},
};

const SEND: &str = "mutation($input: SendEmailInput!) { sendEmail(input: $input) { email { id remoteId subject } } }";
const POST: &str = "mutation($input: PostMessageInput!) { postMessage(input: $input) { message { id remoteId text } } }";

const KEYS: usize = 100;
/// Tries a client makes before it calls a send lost.
const MAX_TRIES: usize = 60;

/// The providers a test sends through, and how each is asked and counted.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Via {
    Gmail,
    Outlook,
    /// Outlook replies (`replyToId`): drafts made with `createReply`.
    OutlookReply,
    Slack,
    Teams,
}

impl Via {
    fn enum_value(self) -> &'static str {
        match self {
            Via::Gmail => "GMAIL",
            Via::Outlook | Via::OutlookReply => "OUTLOOK",
            Via::Slack => "SLACK",
            Via::Teams => "TEAMS",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Via::Gmail => "gmail",
            Via::Outlook | Via::OutlookReply => "outlook",
            Via::Slack => "slack",
            Via::Teams => "teams",
        }
    }

    /// The route the provider acts on (the after-effect fault's).
    fn send_route(self) -> &'static str {
        match self {
            Via::Gmail => "/google/gmail/v1/users/{userId}/messages/send",
            Via::Outlook | Via::OutlookReply => "/microsoft/v1.0/me/messages/{id}/send",
            Via::Slack => "/api/chat.postMessage",
            Via::Teams => "/microsoft/v1.0/teams/{team}/channels/{channel}/messages",
        }
    }
}

/// A gateway and sandbox with `via` connected, rate limits and the breaker out of the way (the
/// test is about faults, not about limits).
async fn connected(via: Via) -> (TestApp, String) {
    connected_to(via, None).await
}

/// As [`connected`], on the database at `url` (the embedded SQLite when `None`).
async fn connected_to(via: Via, url: Option<secrecy::SecretString>) -> (TestApp, String) {
    let (app, sandbox) = pointed_at_sandbox_with(false, |settings| {
        settings.database.url = url;
        settings.providers.get_mut(via.slug()).unwrap().rate_limits = Some(false);
        settings.upstream.breaker_failures = 1_000_000;
        // The client repeats; the gateway's own retries of reads would only slow the test.
        settings.upstream.max_retries = 0;
    })
    .await;
    let answer = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/limits"))
        .json(&json!({ "provider": via.slug(), "enforce": false }))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
    let back = consent(&connect_link(&app, via.enum_value(), None).await, "approve").await;
    assert_eq!(callback(&back).await.0, 200, "{via:?} connects");
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

async fn clear_faults(sandbox: &str) {
    reqwest::Client::new()
        .delete(format!("{sandbox}/_sandbox/faults"))
        .send()
        .await
        .unwrap();
}

/// The after-effect faults on the send and random 5xx on every other call of the provider.
/// Outlook replies also meet after-effect faults where a reply is made: `createReply` (a draft
/// the gateway does not hear of) and `reply` (a reply sent with no marker, the way the gateway
/// once replied).
async fn faulty(sandbox: &str, via: Via) {
    if via == Via::OutlookReply {
        for path in [
            "/microsoft/v1.0/me/messages/{id}/createReply",
            "/microsoft/v1.0/me/messages/{id}/reply",
        ] {
            fault(
                sandbox,
                json!({ "provider": "outlook", "path": path, "status": 503,
                        "error_rate": 0.3, "after_effect": true }),
            )
            .await;
        }
    }
    fault(
        sandbox,
        json!({ "provider": via.slug(), "path": via.send_route(), "status": 503,
                "error_rate": 0.3, "after_effect": true }),
    )
    .await;
    fault(
        sandbox,
        json!({ "provider": via.slug(), "status": 500, "error_rate": 0.2 }),
    )
    .await;
}

/// A token for the sandbox's own API, to look at what it stored.
async fn sandbox_token(sandbox: &str, provider: &str) -> String {
    let tokens: Value = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/tokens"))
        .json(&json!({ "provider": provider }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokens["access_token"].as_str().unwrap().to_owned()
}

async fn get_json(url: &str, token: &str, query: &[(&str, &str)]) -> Value {
    let answer = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .query(query)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{url}: {}", answer.status());
    answer.json().await.unwrap()
}

/// The Teams channel the tests post to: `(team/channel as the gateway names it, sandbox path)`.
async fn teams_channel(app: &TestApp) -> (String, String) {
    let (_, body) = app
        .graphql(
            "{ channels(first: 50, providers: [TEAMS]) { nodes { remoteId name } } }",
            json!({}),
        )
        .await;
    let id = body["data"]["channels"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .find(|c| c["name"] == "General")
        .unwrap_or_else(|| panic!("{body}"))["remoteId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (team, channel) = id.split_once('/').unwrap();
    let path = format!(
        "/microsoft/v1.0/teams/{}/channels/{}/messages",
        urlencoding(team),
        urlencoding(channel)
    );
    (id, path)
}

/// The Outlook email the reply tests answer: `(its id, its conversation)`.
async fn outlook_original(app: &TestApp) -> (String, String) {
    let (_, body) = app
        .graphql(
            "{ emails(first: 1, providers: [OUTLOOK]) { nodes { id threadId } } }",
            json!({}),
        )
        .await;
    let original = &body["data"]["emails"]["nodes"][0];
    let id = original["id"].as_str().unwrap_or_else(|| panic!("{body}"));
    let thread = original["threadId"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"));
    (id.to_owned(), thread.to_owned())
}

fn urlencoding(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

/// Where a send goes: the GraphQL mutation and its input for the `i`th key of run `tag`, to
/// `channel` (for Outlook replies, the email answered).
fn send_of(via: Via, channel: &str, tag: &str, i: usize) -> (&'static str, Value) {
    let text = format!("once-{tag}-{i:03}");
    let key = format!("{tag}-{i:03}");
    match via {
        Via::Gmail | Via::Outlook => (
            SEND,
            json!({ "input": { "provider": via.enum_value(), "to": ["ada@acme.test"],
                               "subject": text, "text": "exactly once", "idempotencyKey": key } }),
        ),
        // A reply's subject is the original's: the text tells the keys apart.
        Via::OutlookReply => (
            SEND,
            json!({ "input": { "provider": "OUTLOOK", "to": ["ada@acme.test"], "text": text,
                               "replyToId": channel, "idempotencyKey": key } }),
        ),
        Via::Slack | Via::Teams => (
            POST,
            json!({ "input": { "provider": via.enum_value(), "channelId": channel,
                               "text": text, "idempotencyKey": key } }),
        ),
    }
}

/// What one client saw: the message it got, after how many tries.
struct Outcome {
    remote_id: Option<String>,
    tries: usize,
}

/// Repeats the send until it answers with a message (or `MAX_TRIES` pass). Every error on the
/// way must be one that says to repeat: `PROVIDER_UNAVAILABLE`.
async fn until_sent(app: &TestApp, query: &str, variables: Value) -> Outcome {
    for tries in 1..=MAX_TRIES {
        let (_, body) = app.graphql(query, variables.clone()).await;
        let data = body["data"]
            .as_object()
            .and_then(|d| d.values().next())
            .filter(|v| !v.is_null());
        if let Some(payload) = data {
            let message = payload.as_object().unwrap().values().next().unwrap();
            return Outcome {
                remote_id: message["remoteId"].as_str().map(str::to_owned),
                tries,
            };
        }
        // An outcome not known yet, or a finished send whose read-back failed: repeat.
        assert_eq!(first_code(&body), "PROVIDER_UNAVAILABLE", "{body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Outcome {
        remote_id: None,
        tries: MAX_TRIES,
    }
}

/// Every message of run `tag` in the sandbox's store: its text (or subject) → remote ids as the
/// gateway names them. `place` is the Teams channel's sandbox path, or the conversation Outlook
/// replies went to.
async fn stored(via: Via, sandbox: &str, place: &str, tag: &str) -> HashMap<String, Vec<String>> {
    let needle = format!("once-{tag}-");
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    match via {
        Via::Gmail => {
            let token = sandbox_token(sandbox, "gmail").await;
            let base = format!("{sandbox}/google/gmail/v1/users/me/messages");
            let q = format!("subject:{needle}");
            let list = get_json(
                &base,
                &token,
                &[
                    ("q", q.as_str()),
                    ("labelIds", "SENT"),
                    ("maxResults", "500"),
                ],
            )
            .await;
            for m in list["messages"].as_array().cloned().unwrap_or_default() {
                let id = m["id"].as_str().unwrap();
                let full = get_json(
                    &format!("{base}/{id}"),
                    &token,
                    &[("format", "metadata"), ("metadataHeaders", "Subject")],
                )
                .await;
                let subject = full["payload"]["headers"][0]["value"].as_str().unwrap();
                out.entry(subject.to_owned())
                    .or_default()
                    .push(id.to_owned());
            }
        }
        Via::Outlook => {
            let token = sandbox_token(sandbox, "outlook").await;
            let filter = format!("contains(subject,'{needle}')");
            let mut url = format!("{sandbox}/microsoft/v1.0/me/mailFolders/sentitems/messages");
            let mut query = vec![
                ("$filter", filter.as_str()),
                ("$select", "subject"),
                ("$top", "100"),
            ];
            loop {
                let page = get_json(&url, &token, &query).await;
                for m in page["value"].as_array().unwrap() {
                    out.entry(m["subject"].as_str().unwrap().to_owned())
                        .or_default()
                        .push(m["id"].as_str().unwrap().to_owned());
                }
                match page["@odata.nextLink"].as_str() {
                    Some(next) => {
                        url = next.to_owned();
                        query.clear();
                    }
                    None => break,
                }
            }
        }
        Via::OutlookReply => {
            let token = sandbox_token(sandbox, "outlook").await;
            let filter = format!("conversationId eq '{place}'");
            let mut url = format!("{sandbox}/microsoft/v1.0/me/mailFolders/sentitems/messages");
            let mut query = vec![
                ("$filter", filter.as_str()),
                ("$select", "body"),
                ("$top", "100"),
            ];
            loop {
                let page = get_json(&url, &token, &query).await;
                for m in page["value"].as_array().unwrap() {
                    let text = m["body"]["content"].as_str().unwrap_or_default();
                    if text.starts_with(&needle) {
                        out.entry(text.to_owned())
                            .or_default()
                            .push(m["id"].as_str().unwrap().to_owned());
                    }
                }
                match page["@odata.nextLink"].as_str() {
                    Some(next) => {
                        url = next.to_owned();
                        query.clear();
                    }
                    None => break,
                }
            }
        }
        Via::Slack => {
            let token = sandbox_token(sandbox, "slack").await;
            let history = get_json(
                &format!("{sandbox}/slack/api/conversations.history"),
                &token,
                &[("channel", "C0SBX0000"), ("limit", "999")],
            )
            .await;
            assert_eq!(history["ok"], true, "{history}");
            for m in history["messages"].as_array().unwrap() {
                let text = m["text"].as_str().unwrap();
                if text.starts_with(&needle) {
                    let ts = m["ts"].as_str().unwrap();
                    out.entry(text.to_owned())
                        .or_default()
                        .push(format!("C0SBX0000:{ts}"));
                }
            }
        }
        Via::Teams => {
            let token = sandbox_token(sandbox, "teams").await;
            let mut url = format!("{sandbox}{place}");
            let mut query = vec![("$top", "50")];
            loop {
                let page = get_json(&url, &token, &query).await;
                for m in page["value"].as_array().unwrap() {
                    let text = m["body"]["content"].as_str().unwrap_or_default();
                    if text.starts_with(&needle) {
                        out.entry(text.to_owned())
                            .or_default()
                            .push(m["id"].as_str().unwrap().to_owned());
                    }
                }
                match page["@odata.nextLink"].as_str() {
                    Some(next) => {
                        url = next.to_owned();
                        query.clear();
                    }
                    None => break,
                }
            }
        }
    }
    out
}

/// Sends `KEYS` keys at once through `via` under faults, each client repeating until it has its
/// message; then counts what the sandbox holds.
async fn hundred_keys_under_faults(via: Via) {
    let (app, sandbox) = connected(via).await;
    let (channel, place) = match via {
        Via::Teams => teams_channel(&app).await,
        Via::Slack => ("C0SBX0000".to_owned(), String::new()),
        Via::OutlookReply => outlook_original(&app).await,
        Via::Gmail | Via::Outlook => (String::new(), String::new()),
    };
    faulty(&sandbox, via).await;
    let tag = format!("{:08x}", rand::random::<u32>());
    let app = Arc::new(app);
    let outcomes = join_all((0..KEYS).map(|i| {
        let app = app.clone();
        let (query, variables) = send_of(via, &channel, &tag, i);
        async move { until_sent(&app, query, variables).await }
    }))
    .await;
    clear_faults(&sandbox).await;

    let store = stored(via, &sandbox, &place, &tag).await;
    let mut duplicates = 0;
    let mut lost = 0;
    let mut wrong = 0;
    for (i, outcome) in outcomes.iter().enumerate() {
        let text = format!("once-{tag}-{i:03}");
        let held = store.get(&text).map(Vec::as_slice).unwrap_or_default();
        duplicates += held.len().saturating_sub(1);
        match &outcome.remote_id {
            None => lost += 1,
            Some(id) if held.is_empty() => {
                lost += 1;
                eprintln!("{via:?} key {i}: answered {id}, nothing stored");
            }
            Some(id) if !held.iter().any(|h| id.ends_with(h.as_str())) => {
                wrong += 1;
                eprintln!("{via:?} key {i}: answered {id}, stored {held:?}");
            }
            Some(_) => {}
        }
    }
    let tries: usize = outcomes.iter().map(|o| o.tries).sum();
    eprintln!(
        "{via:?}: {KEYS} keys, {tries} tries, {duplicates} duplicates, {lost} lost, {wrong} answered with another message"
    );
    assert_eq!(
        (duplicates, lost, wrong),
        (0, 0, 0),
        "{via:?}: duplicates, lost sends, wrong answers"
    );
}

#[tokio::test]
async fn a_hundred_gmail_sends_under_faults_each_go_out_once() {
    hundred_keys_under_faults(Via::Gmail).await;
}

#[tokio::test]
async fn a_hundred_outlook_sends_under_faults_each_go_out_once() {
    hundred_keys_under_faults(Via::Outlook).await;
}

#[tokio::test]
async fn a_hundred_outlook_replies_under_faults_each_go_out_once() {
    hundred_keys_under_faults(Via::OutlookReply).await;
}

#[tokio::test]
async fn a_hundred_slack_posts_under_faults_each_go_out_once() {
    hundred_keys_under_faults(Via::Slack).await;
}

#[tokio::test]
async fn a_hundred_teams_posts_under_faults_each_go_out_once() {
    hundred_keys_under_faults(Via::Teams).await;
}

#[tokio::test]
async fn an_outcome_not_known_yet_keeps_the_key_and_says_when_to_repeat() {
    let (app, sandbox) = connected(Via::Gmail).await;
    fault(
        &sandbox,
        json!({ "provider": "gmail", "path": Via::Gmail.send_route(), "status": 503,
                "after_effect": true, "count": 1 }),
    )
    .await;
    let tag = format!("{:08x}", rand::random::<u32>());
    let (query, variables) = send_of(Via::Gmail, "", &tag, 0);
    let (_, first) = app.graphql(query, variables.clone()).await;
    assert_eq!(first_code(&first), "PROVIDER_UNAVAILABLE", "{first}");
    assert!(
        first["errors"][0]["extensions"]["retryAfter"].as_u64() >= Some(1),
        "{first}"
    );
    // The key is kept: the repeat finds the message the provider sent and sends nothing.
    let (_, again) = app.graphql(query, variables).await;
    assert!(again["errors"].is_null(), "{again}");
    let store = stored(Via::Gmail, &sandbox, "", &tag).await;
    let held = &store[&format!("once-{tag}-000")];
    assert_eq!(held.len(), 1, "{store:?}");
    assert_eq!(
        again["data"]["sendEmail"]["email"]["remoteId"],
        held[0].as_str()
    );
}

#[tokio::test]
async fn a_key_reused_with_other_input_is_refused() {
    let (app, sandbox) = connected(Via::Slack).await;
    let tag = format!("{:08x}", rand::random::<u32>());
    let (query, variables) = send_of(Via::Slack, "C0SBX0000", &tag, 0);
    let (_, first) = app.graphql(query, variables.clone()).await;
    assert!(first["errors"].is_null(), "{first}");

    let mut other = variables.clone();
    other["input"]["text"] = json!(format!("once-{tag}-001"));
    let (_, refused) = app.graphql(query, other).await;
    assert_eq!(first_code(&refused), "BAD_USER_INPUT", "{refused}");
    assert_eq!(
        refused["errors"][0]["message"],
        "idempotency key reused with different input"
    );
    assert_eq!(
        refused["errors"][0]["extensions"]["field"],
        "input.idempotencyKey"
    );

    // The same input again is the first message, and nothing more was posted.
    let (_, again) = app.graphql(query, variables).await;
    assert_eq!(
        again["data"]["postMessage"]["message"]["remoteId"],
        first["data"]["postMessage"]["message"]["remoteId"]
    );
    let store = stored(Via::Slack, &sandbox, "", &tag).await;
    assert_eq!(store.len(), 1, "{store:?}");
    assert_eq!(store.values().next().unwrap().len(), 1, "{store:?}");
}

/// Makes `key`'s claim look as a process killed mid-send leaves it: no result, running under an
/// owner whose lease ran out a minute ago.
async fn kill_owner(app: &TestApp, key: &str) {
    let claim = claims::Entity::find()
        .filter(claims::Column::Key.eq(key))
        .one(&app.db)
        .await
        .unwrap()
        .expect("the key's claim");
    let mut dead = claim.into_active_model();
    dead.result = Set(None);
    dead.state = Set("running".into());
    dead.owner = Set(Some("pid 4242 / killed".into()));
    dead.lease_until = Set(Some(chrono::Utc::now() - chrono::Duration::minutes(1)));
    dead.update(&app.db).await.unwrap();
}

#[tokio::test]
async fn a_claim_whose_owner_died_is_settled_by_looking_the_message_up() {
    let backends = crate::helpers::backends().await;
    let runs = [Via::Gmail, Via::Outlook, Via::Slack, Via::Teams]
        .into_iter()
        .flat_map(|via| backends.iter().map(move |(_, url)| (via, url.clone())));
    for (via, url) in runs {
        let (app, sandbox) = connected_to(via, url).await;
        let (channel, teams_path) = match via {
            Via::Teams => teams_channel(&app).await,
            _ => ("C0SBX0000".to_owned(), String::new()),
        };
        let tag = format!("{:08x}", rand::random::<u32>());

        // Died after the provider acted: the repeat finds the message and sends nothing.
        let (query, variables) = send_of(via, &channel, &tag, 0);
        let (_, sent) = app.graphql(query, variables.clone()).await;
        assert!(sent["errors"].is_null(), "{via:?}: {sent}");
        kill_owner(&app, &format!("{tag}-000")).await;
        let (_, again) = app.graphql(query, variables).await;
        assert!(again["errors"].is_null(), "{via:?}: {again}");
        let first = sent["data"].as_object().unwrap().values().next().unwrap();
        let second = again["data"].as_object().unwrap().values().next().unwrap();
        let id =
            |payload: &Value| payload.as_object().unwrap().values().next().unwrap()["id"].clone();
        assert_eq!(id(first), id(second), "{via:?}");

        // Died before the provider acted (a 503 before the send, then the owner's end): the
        // repeat finds nothing and sends, once.
        fault(
            &sandbox,
            json!({ "provider": via.slug(), "path": via.send_route(), "status": 503, "count": 1 }),
        )
        .await;
        let (query, variables) = send_of(via, &channel, &tag, 1);
        let (_, failed) = app.graphql(query, variables.clone()).await;
        assert_eq!(
            first_code(&failed),
            "PROVIDER_UNAVAILABLE",
            "{via:?}: {failed}"
        );
        kill_owner(&app, &format!("{tag}-001")).await;
        let (_, sent) = app.graphql(query, variables).await;
        assert!(sent["errors"].is_null(), "{via:?}: {sent}");

        let store = stored(via, &sandbox, &teams_path, &tag).await;
        assert_eq!(store.len(), 2, "{via:?}: {store:?}");
        assert!(
            store.values().all(|ids| ids.len() == 1),
            "{via:?}: {store:?}"
        );
    }
}

#[tokio::test]
async fn the_sandbox_refuses_malformed_markers_as_the_providers_do() {
    let (sandbox, client, tokens) = crate::helpers::sandbox_with_tokens("slack").await;
    let token = tokens["access_token"].as_str().unwrap();
    for (metadata, error) in [
        (json!("not json"), "invalid_metadata_format"),
        (
            json!({ "event_type": "nexus send", "event_payload": {} }),
            "invalid_metadata_schema",
        ),
        (
            json!({ "event_type": "nexus_send" }),
            "invalid_metadata_schema",
        ),
    ] {
        let answer: Value = client
            .post(format!("{sandbox}/slack/api/chat.postMessage"))
            .bearer_auth(token)
            .json(&json!({ "channel": "C0SBX0000", "text": "hi", "metadata": metadata }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["error"], error, "{metadata}: {answer}");
    }

    let token = sandbox_token(&sandbox, "outlook").await;
    let create = |body: Value| {
        client
            .post(format!("{sandbox}/microsoft/v1.0/me/messages"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let bad_id = create(json!({ "subject": "x", "internetMessageId": "no-brackets@x" }))
        .await
        .unwrap();
    assert_eq!(bad_id.status(), 400);
    let unknown = create(json!({ "subject": "x", "colour": "red" }))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    let draft: Value = create(json!({ "subject": "x", "internetMessageId": "<a.b@c>",
                                      "toRecipients": [{ "emailAddress": { "address": "ada@acme.test" } }] }))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(draft["isDraft"], true, "{draft}");
    let send = |id: String| {
        client
            .post(format!("{sandbox}/microsoft/v1.0/me/messages/{id}/send"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(
        send(draft["id"].as_str().unwrap().to_owned())
            .await
            .unwrap()
            .status(),
        202
    );
    // The draft is gone; its sent copy keeps the internetMessageId and is no draft.
    assert_eq!(
        send(draft["id"].as_str().unwrap().to_owned())
            .await
            .unwrap()
            .status(),
        404
    );
    let found = get_json(
        &format!("{sandbox}/microsoft/v1.0/me/messages"),
        &token,
        &[(
            "$filter",
            "internetMessageId eq '<a.b@c>' and isDraft eq false",
        )],
    )
    .await;
    let sent = found["value"].as_array().unwrap();
    assert_eq!(sent.len(), 1, "{found}");
    assert_ne!(sent[0]["id"], draft["id"]);
}

/// Graph's answer to a request: status and JSON body (`null` when there is none).
async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_sandbox_makes_outlook_reply_drafts_and_refuses_what_graph_refuses() {
    let (sandbox, client, _) = crate::helpers::sandbox_with_tokens("slack").await;
    let token = sandbox_token(&sandbox, "outlook").await;
    let graph = format!("{sandbox}/microsoft/v1.0/me");
    let inbox = get_json(
        &format!("{graph}/mailFolders/inbox/messages"),
        &token,
        &[("$top", "1")],
    )
    .await;
    let original = &inbox["value"][0];
    let original_id = original["id"].as_str().unwrap();

    // An unknown message has no reply; a malformed id is refused as such.
    let unknown = "AAMkAGbm8tc3VjaC1tZXNzYWdl";
    let (status, body) = answer(
        client
            .post(format!("{graph}/messages/{unknown}/createReply"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("ErrorItemNotFound")),
        "{body}"
    );
    let (status, body) = answer(
        client
            .post(format!("{graph}/messages/not-an-id/createReply"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("ErrorInvalidIdMalformed")),
        "{body}"
    );

    // The reply draft: to the original's sender, `RE:` its subject, in its conversation.
    let (status, draft) = answer(
        client
            .post(format!("{graph}/messages/{original_id}/createReply"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 201, "{draft}");
    assert_eq!(draft["isDraft"], true);
    assert_eq!(draft["conversationId"], original["conversationId"]);
    let mut subject = original["subject"].as_str().unwrap();
    while let Some(rest) = subject.get(..3).filter(|p| p.eq_ignore_ascii_case("re:")) {
        subject = subject[rest.len()..].trim_start();
    }
    assert_eq!(draft["subject"], format!("RE: {subject}"));
    assert_eq!(
        draft["toRecipients"][0]["emailAddress"]["address"],
        original["from"]["emailAddress"]["address"]
    );
    let draft_id = draft["id"].as_str().unwrap();
    let patch = |id: &str, body: Value| {
        client
            .patch(format!("{graph}/messages/{id}"))
            .bearer_auth(&token)
            .json(&body)
    };

    // A malformed internetMessageId is refused as `POST /me/messages` refuses it.
    let (status, refused) = answer(patch(
        draft_id,
        json!({ "internetMessageId": "no-brackets@x" }),
    ))
    .await;
    let (create_status, create_refused) = answer(
        client
            .post(format!("{graph}/messages"))
            .bearer_auth(&token)
            .json(&json!({ "subject": "x", "internetMessageId": "no-brackets@x" })),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(
        (
            status,
            &refused["error"]["code"],
            &refused["error"]["message"]
        ),
        (
            create_status,
            &create_refused["error"]["code"],
            &create_refused["error"]["message"]
        )
    );

    let marker = "<reply.once@nexus.idempotency>";
    let (status, patched) = answer(patch(
        draft_id,
        json!({ "internetMessageId": marker,
                "body": { "contentType": "Text", "content": "once, as a reply" } }),
    ))
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["internetMessageId"], marker);
    let (status, _) = answer(
        client
            .post(format!("{graph}/messages/{draft_id}/send"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 202);

    // The sent reply is found by its marker, in the original's conversation, and no longer
    // takes an internetMessageId.
    let found = get_json(
        &format!("{graph}/messages"),
        &token,
        &[(
            "$filter",
            "internetMessageId eq '<reply.once@nexus.idempotency>' and isDraft eq false",
        )],
    )
    .await;
    let sent = found["value"].as_array().unwrap();
    assert_eq!(sent.len(), 1, "{found}");
    assert_eq!(sent[0]["conversationId"], original["conversationId"]);
    assert_eq!(sent[0]["body"]["content"], "once, as a reply");
    for id in [sent[0]["id"].as_str().unwrap(), original_id] {
        let (status, refused) =
            answer(patch(id, json!({ "internetMessageId": "<other@x>" }))).await;
        assert_eq!(
            (
                status,
                refused["error"]["code"].as_str(),
                refused["error"]["message"].as_str()
            ),
            (
                400,
                Some("ErrorInvalidPropertyUpdateSentMessage"),
                Some("Update is not allowed for this type of item.")
            ),
            "{refused}"
        );
    }
}
