//! Chat through GraphQL against the sandbox: Slack and Teams messages merged newest first, every
//! filter (channel, thread, time window pushed down; text applied to what comes back), paging
//! that returns every message once, channels, postMessage to both (the sandbox holds the
//! message) with thread replies and idempotency keys, authors resolved through the cached users
//! loader, Slack's expired token refreshed, Slack's tiers never drawing a 429, bad input, and
//! partial results when a provider fails.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox_with},
    crm::{calls, counters},
    helpers::{TestApp, first_code},
};

/// A gateway pointed at a fresh sandbox with Slack and Teams connected through the real flow.
pub async fn chat_app() -> (TestApp, String) {
    chat_app_with(|_| {}).await
}

async fn chat_app_with(adjust: impl FnOnce(&mut nexus::config::Settings)) -> (TestApp, String) {
    let (app, sandbox) = pointed_at_sandbox_with(false, adjust).await;
    for provider in ["SLACK", "TEAMS"] {
        let back = consent(&connect_link(&app, provider, None).await, "approve").await;
        assert_eq!(callback(&back).await.0, 200, "{provider} connects");
    }
    (app, sandbox)
}

/// Turns the sandbox's and the gateway's limits off for `providers` (walks over whole lists).
fn unlimited(providers: &'static [&'static str]) -> impl FnOnce(&mut nexus::config::Settings) {
    move |settings| {
        for p in providers {
            settings.providers.get_mut(*p).unwrap().rate_limits = Some(false);
        }
    }
}

async fn sandbox_unlimited(sandbox: &str, providers: &[&str]) {
    for p in providers {
        let answer = reqwest::Client::new()
            .post(format!("{sandbox}/_sandbox/limits"))
            .json(&json!({ "provider": p, "enforce": false }))
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success());
    }
}

const MESSAGES: &str =
    "query($first: Int, $after: String, $filter: MessageFilter, $providers: [Provider!]) {
  messages(first: $first, after: $after, filter: $filter, providers: $providers) {
    pageInfo { hasNextPage endCursor }
    nodes { id provider remoteId text sentAt threadId replyCount channel { id name } }
  }
}";

const POST: &str = "mutation($input: PostMessageInput!) {
  postMessage(input: $input) { message { id provider remoteId text sentAt threadId channel { id name } author { id } } }
}";

fn nodes(body: &Value) -> Vec<Value> {
    body["data"]["messages"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("{body}"))
}

fn sent(node: &Value) -> DateTime<Utc> {
    node["sentAt"].as_str().unwrap().parse().unwrap()
}

const HISTORY: &str = "GET /api/conversations.history";
const POST_MESSAGE: &str = "POST /api/chat.postMessage";
const TEAMS_MESSAGES: &str = "GET /microsoft/v1.0/teams/{team}/channels/{channel}/messages";

/// Every call the sandbox counted for a route, whatever its status.
fn all_calls(counters: &Value, provider: &str, route: &str) -> u64 {
    counters[provider][route]
        .as_object()
        .map(|by_status| by_status.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0)
}

async fn messages(app: &TestApp, variables: Value) -> Value {
    let (status, body) = app.graphql(MESSAGES, variables).await;
    assert_eq!(status, 200);
    body
}

/// A Teams channel the connected user reads: (unified id, name).
async fn teams_channel(app: &TestApp) -> (String, String) {
    let (_, body) = app
        .graphql(
            "{ channels(first: 50, providers: [TEAMS]) { nodes { remoteId name } } }",
            json!({}),
        )
        .await;
    let general = body["data"]["channels"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .find(|c| c["name"] == "General")
        .unwrap_or_else(|| panic!("{body}"))
        .clone();
    (
        general["remoteId"].as_str().unwrap().to_owned(),
        "General".to_owned(),
    )
}

#[tokio::test]
async fn messages_merge_slack_and_teams_newest_first_with_their_authors() {
    // Without a channel, Slack is read channel by channel: more than Tier 3 allows in a minute.
    let (app, sandbox) = chat_app_with(unlimited(&["slack"])).await;
    sandbox_unlimited(&sandbox, &["slack"]).await;
    // Teams' seeded messages are all newer than Slack's: the page where they meet holds both.
    let query = "query($after: String) { messages(first: 100, after: $after) { pageInfo { endCursor } nodes { provider sentAt text channel { id name } author { id name email } } } }";
    let mut after = Value::Null;
    let list = loop {
        let (_, body) = app.graphql(query, json!({ "after": after })).await;
        assert!(body["errors"].is_null(), "{body}");
        let list = nodes(&body);
        assert_eq!(list.len(), 100);
        let providers: BTreeSet<&str> = list
            .iter()
            .map(|n| n["provider"].as_str().unwrap())
            .collect();
        if providers.len() == 2 {
            break list;
        }
        assert_eq!(providers, BTreeSet::from(["TEAMS"]), "{body}");
        after = body["data"]["messages"]["pageInfo"]["endCursor"].clone();
    };
    assert!(
        list.windows(2).all(|w| sent(&w[0]) >= sent(&w[1])),
        "newest first"
    );
    let counters = counters(&sandbox).await;
    assert!(
        counters["teams"][TEAMS_MESSAGES]["429"].is_null(),
        "Teams' 5 reads a second are kept: {counters}"
    );
    for node in &list {
        assert!(node["channel"]["name"].is_string(), "{node}");
        let email = node["author"]["email"].as_str().unwrap_or_default();
        assert!(email.contains('@'), "authors resolve to people: {node}");
        assert!(node["author"]["name"].is_string(), "{node}");
    }
}

#[tokio::test]
async fn a_channel_filter_reads_only_that_channel_with_the_window_pushed_down() {
    let (app, sandbox) = chat_app().await;
    // #random, where the bot is a member.
    let body = messages(
        &app,
        json!({ "first": 100, "filter": { "channel": "C0SBX0001" } }),
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    let all = nodes(&body);
    assert!(all.len() > 5, "{body}");
    assert!(all.iter().all(|n| n["channel"]["id"] == "C0SBX0001"));
    assert!(all.iter().all(|n| n["channel"]["name"] == "random"));

    let newest = sent(&all[1]);
    let oldest = sent(&all[all.len() - 2]);
    let before = counters(&sandbox).await;
    let filter = json!({ "channel": "C0SBX0001", "after": oldest, "before": newest });
    let body = messages(&app, json!({ "first": 100, "filter": filter })).await;
    assert!(body["errors"].is_null(), "{body}");
    let window = nodes(&body);
    assert_eq!(window.len(), all.len() - 4, "strictly inside the window");
    assert!(window.iter().all(|n| sent(n) > oldest && sent(n) < newest));
    let after = counters(&sandbox).await;
    assert_eq!(
        calls(&after, "slack", HISTORY) - calls(&before, "slack", HISTORY),
        1,
        "one history call for one channel: {after}"
    );
    assert_eq!(
        all_calls(&after, "teams", TEAMS_MESSAGES),
        all_calls(&before, "teams", TEAMS_MESSAGES),
        "a Slack channel asks nothing of Teams"
    );

    let needle = all[0]["text"].as_str().unwrap().split(' ').next().unwrap();
    let filter = json!({ "channel": "C0SBX0001", "textContains": needle.to_uppercase() });
    let body = messages(&app, json!({ "first": 100, "filter": filter })).await;
    let matching = nodes(&body);
    let expected = all
        .iter()
        .filter(|n| {
            n["text"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains(&needle.to_lowercase())
        })
        .count();
    assert!(expected >= 1);
    assert_eq!(matching.len(), expected, "{body}");

    // A Teams channel: only Teams is asked.
    let (teams, name) = teams_channel(&app).await;
    let before = counters(&sandbox).await;
    let body = messages(&app, json!({ "first": 10, "filter": { "channel": teams } })).await;
    assert!(body["errors"].is_null(), "{body}");
    let list = nodes(&body);
    assert_eq!(list.len(), 10);
    assert!(
        list.iter()
            .all(|n| n["provider"] == "TEAMS" && n["channel"]["name"] == name.as_str())
    );
    let after = counters(&sandbox).await;
    assert_eq!(
        calls(&after, "slack", HISTORY),
        calls(&before, "slack", HISTORY)
    );
    assert_eq!(
        calls(&after, "teams", TEAMS_MESSAGES) - calls(&before, "teams", TEAMS_MESSAGES),
        1
    );
}

#[tokio::test]
async fn threads_list_their_replies() {
    let (app, _sandbox) = chat_app().await;
    for channel in ["C0SBX0000".to_owned(), teams_channel(&app).await.0] {
        let body = messages(
            &app,
            json!({ "first": 100, "filter": { "channel": channel } }),
        )
        .await;
        let parent = nodes(&body)
            .into_iter()
            .find(|n| n["replyCount"].as_i64().unwrap() > 1)
            .unwrap_or_else(|| panic!("a thread in {channel}: {body}"));
        let thread = parent["threadId"].as_str().unwrap();
        let body = messages(
            &app,
            json!({ "first": 100, "filter": { "channel": channel, "threadId": thread } }),
        )
        .await;
        assert!(body["errors"].is_null(), "{body}");
        let replies = nodes(&body);
        assert_eq!(
            replies.len() as i64,
            parent["replyCount"].as_i64().unwrap(),
            "{body}"
        );
        assert!(replies.iter().all(|r| r["threadId"] == thread));
        assert!(replies.iter().all(|r| sent(r) > sent(&parent)));
    }
}

/// Pages through `messages` to the end; every node seen, calling `between` after each page.
async fn walk(app: &TestApp, variables: Value, mut between: impl AsyncFnMut(usize)) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut after = Value::Null;
    for page in 0.. {
        let mut variables = variables.clone();
        variables["after"] = after.clone();
        let body = messages(app, variables).await;
        assert!(body["errors"].is_null(), "{body}");
        seen.extend(nodes(&body));
        let info = &body["data"]["messages"]["pageInfo"];
        if !info["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = info["endCursor"].clone();
        between(page).await;
    }
    seen
}

#[tokio::test]
async fn paging_returns_every_message_once_across_slack_and_teams() {
    let (app, sandbox) = chat_app_with(unlimited(&["slack", "teams"])).await;
    sandbox_unlimited(&sandbox, &["slack", "teams"]).await;
    let started = std::time::Instant::now();
    // New messages arrive while paging: they are newer than the position, so they do not
    // show up in this walk, and nothing shifts.
    let seen = walk(&app, json!({ "first": 100 }), async |page| {
        // Once both providers stand somewhere in the cursor (Slack's first messages come on
        // the third page of 100).
        if page == 4 {
            let posted = reqwest::Client::new()
                .post(format!("{sandbox}/_sandbox/records"))
                .json(&json!({ "provider": "slack", "object": "message", "op": "create",
                               "fields": { "channel": "C0SBX0000", "user": "U0SBX0001", "text": "arrived while paging" } }))
                .send()
                .await
                .unwrap();
            assert!(posted.status().is_success());
        }
    })
    .await;
    eprintln!("walked {} messages in {:?}", seen.len(), started.elapsed());
    let ids: BTreeSet<&str> = seen.iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), seen.len(), "no message twice");
    for (i, w) in seen.windows(2).enumerate() {
        assert!(sent(&w[0]) >= sent(&w[1]), "newest first at {i}: {w:?}");
    }
    assert!(!seen.iter().any(|n| n["text"] == "arrived while paging"));

    // The same lists walked one provider at a time hold exactly the same messages.
    for provider in ["SLACK", "TEAMS"] {
        let alone = walk(
            &app,
            json!({ "first": 100, "providers": [provider] }),
            async |_| {},
        )
        .await;
        let mine: BTreeSet<&str> = seen
            .iter()
            .filter(|n| n["provider"] == provider && n["text"] != "arrived while paging")
            .map(|n| n["id"].as_str().unwrap())
            .collect();
        let theirs: BTreeSet<&str> = alone
            .iter()
            .filter(|n| n["text"] != "arrived while paging")
            .map(|n| n["id"].as_str().unwrap())
            .collect();
        assert_eq!(mine, theirs, "{provider}");
        assert!(mine.len() > 200, "{provider}: {}", mine.len());
    }
}

#[tokio::test]
async fn channels_of_both_newest_first_and_by_name() {
    let (app, _sandbox) = chat_app().await;
    let (_, body) = app
        .graphql(
            "{ channels(first: 100) { pageInfo { hasNextPage endCursor } nodes { id provider remoteId name createdAt isPrivate } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let list = body["data"]["channels"]["nodes"].as_array().unwrap();
    assert_eq!(list.len(), 100);
    let created = |n: &Value| {
        n["createdAt"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap()
    };
    assert!(list.windows(2).all(|w| created(&w[0]) >= created(&w[1])));
    let (_, body) = app
        .graphql(
            "{ channels(first: 100, filter: { nameContains: \"GENERAL\" }) { nodes { provider remoteId name } } }",
            json!({}),
        )
        .await;
    let named = body["data"]["channels"]["nodes"].as_array().unwrap();
    let slack: Vec<&Value> = named.iter().filter(|n| n["provider"] == "SLACK").collect();
    let teams: Vec<&Value> = named.iter().filter(|n| n["provider"] == "TEAMS").collect();
    assert_eq!(slack.len(), 1, "{body}");
    assert_eq!(slack[0]["remoteId"], "C0SBX0000");
    assert_eq!(teams.len(), 4, "one General per joined team: {body}");
    assert!(
        teams
            .iter()
            .all(|t| t["remoteId"].as_str().unwrap().contains('/'))
    );

    // Paging the channels returns each once.
    let mut seen = BTreeSet::new();
    let mut after = Value::Null;
    loop {
        let (_, body) = app
            .graphql(
                "query($after: String) { channels(first: 30, after: $after) { pageInfo { hasNextPage endCursor } nodes { id } } }",
                json!({ "after": after }),
            )
            .await;
        let connection = &body["data"]["channels"];
        for n in connection["nodes"].as_array().unwrap() {
            assert!(seen.insert(n["id"].as_str().unwrap().to_owned()), "{n}");
        }
        if !connection["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }
    assert!(seen.len() > 100, "{}", seen.len());
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

#[tokio::test]
async fn post_message_to_slack_and_teams_and_reply_in_the_thread() {
    let (app, sandbox) = chat_app().await;
    let client = reqwest::Client::new();

    // Slack: the message, then a reply through the message's remote id.
    let (_, body) = app
        .graphql(
            POST,
            json!({ "input": { "provider": "SLACK", "channelId": "C0SBX0000", "text": "Hello from Nexus" } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let posted = &body["data"]["postMessage"]["message"];
    assert_eq!(posted["provider"], "SLACK");
    assert_eq!(posted["channel"]["name"], "general");
    assert_eq!(posted["author"]["id"], "U0SBXBOT1");
    let remote = posted["remoteId"].as_str().unwrap();
    let ts = remote.split_once(':').unwrap().1.to_owned();
    let (_, body) = app
        .graphql(
            POST,
            json!({ "input": { "provider": "SLACK", "channelId": "C0SBX0000", "text": "A reply", "threadId": remote } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["postMessage"]["message"]["threadId"], ts);

    let token = sandbox_token(&sandbox, "slack").await;
    let thread: Value = client
        .get(format!("{sandbox}/slack/api/conversations.replies"))
        .bearer_auth(&token)
        .query(&[("channel", "C0SBX0000"), ("ts", ts.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored = thread["messages"].as_array().unwrap();
    assert_eq!(stored.len(), 2, "{thread}");
    assert_eq!(stored[0]["text"], "Hello from Nexus");
    assert_eq!(stored[0]["user"], "U0SBXBOT1");
    assert_eq!(stored[1]["text"], "A reply");
    assert_eq!(stored[1]["thread_ts"], ts.as_str());

    // Teams: the channel message, then a reply.
    let (channel, _) = teams_channel(&app).await;
    let (_, body) = app
        .graphql(
            POST,
            json!({ "input": { "provider": "TEAMS", "channelId": channel, "text": "Hello Teams" } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let posted = &body["data"]["postMessage"]["message"];
    assert_eq!(posted["provider"], "TEAMS");
    assert_eq!(posted["channel"]["id"], channel.as_str());
    let remote = posted["remoteId"].as_str().unwrap().to_owned();
    let (_, body) = app
        .graphql(
            POST,
            json!({ "input": { "provider": "TEAMS", "channelId": channel, "text": "Teams reply", "threadId": remote } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let parent_id = remote.rsplit('/').next().unwrap();
    assert_eq!(
        body["data"]["postMessage"]["message"]["threadId"],
        parent_id
    );

    let token = sandbox_token(&sandbox, "teams").await;
    let (team, channel_id) = channel.split_once('/').unwrap();
    let replies: Value = client
        .get(format!(
            "{sandbox}/microsoft/v1.0/teams/{team}/channels/{channel_id}/messages/{parent_id}/replies"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored = replies["value"].as_array().unwrap();
    assert_eq!(stored.len(), 1, "{replies}");
    assert_eq!(stored[0]["body"]["content"], "Teams reply");
    assert_eq!(stored[0]["replyToId"], parent_id);
    // And the list shows the parent with its reply.
    let body = messages(
        &app,
        json!({ "first": 1, "filter": { "channel": channel } }),
    )
    .await;
    assert_eq!(nodes(&body)[0]["text"], "Hello Teams");
    assert_eq!(nodes(&body)[0]["replyCount"], 1);
}

#[tokio::test]
async fn a_repeated_idempotency_key_returns_the_first_message_and_posts_nothing() {
    let (app, sandbox) = chat_app().await;
    let (channel, _) = teams_channel(&app).await;
    for (provider, channel) in [("SLACK", "C0SBX0001".to_owned()), ("TEAMS", channel)] {
        let input = json!({ "provider": provider, "channelId": channel, "text": "Only once", "idempotencyKey": format!("key-{provider}") });
        let (_, first) = app.graphql(POST, json!({ "input": input })).await;
        assert!(first["errors"].is_null(), "{first}");
        let before = counters(&sandbox).await;
        let (_, again) = app.graphql(POST, json!({ "input": input })).await;
        assert!(again["errors"].is_null(), "{again}");
        assert_eq!(
            again["data"]["postMessage"]["message"]["remoteId"],
            first["data"]["postMessage"]["message"]["remoteId"]
        );
        assert_eq!(again["data"]["postMessage"]["message"]["text"], "Only once");
        let after = counters(&sandbox).await;
        let route = if provider == "SLACK" {
            ("slack", POST_MESSAGE)
        } else {
            (
                "teams",
                "POST /microsoft/v1.0/teams/{team}/channels/{channel}/messages",
            )
        };
        assert_eq!(
            all_calls(&after, route.0, route.1),
            all_calls(&before, route.0, route.1),
            "the repeat posted nothing: {after}"
        );
        assert!(all_calls(&after, route.0, route.1) >= 1, "{after}");
    }
}

#[tokio::test]
async fn authors_come_from_the_users_loader_and_its_cache() {
    let (app, sandbox) = chat_app().await;
    let query = json!({ "first": 50, "filter": { "channel": "C0SBX0000" } });
    let authors = "query($first: Int, $filter: MessageFilter) { messages(first: $first, filter: $filter) { nodes { author { id name email } } } }";
    let before = counters(&sandbox).await;
    let (_, body) = app.graphql(authors, query.clone()).await;
    assert!(body["errors"].is_null(), "{body}");
    let distinct: BTreeSet<String> = nodes(&body)
        .iter()
        .map(|n| n["author"]["id"].as_str().unwrap().to_owned())
        .collect();
    let after = counters(&sandbox).await;
    let info = "GET /api/users.info";
    assert_eq!(
        calls(&after, "slack", info) - calls(&before, "slack", info),
        distinct.len() as u64,
        "one users.info per distinct author: {after}"
    );
    let (_, again) = app.graphql(authors, query).await;
    assert_eq!(again, body);
    let last = counters(&sandbox).await;
    assert_eq!(
        calls(&last, "slack", info),
        calls(&after, "slack", info),
        "the second request asks no users.* at all"
    );
}

#[tokio::test]
async fn an_expired_slack_token_is_refreshed_once_and_the_call_retried() {
    let (app, sandbox) = chat_app().await;
    let expired = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/expire-tokens"))
        .json(&json!({ "provider": "slack" }))
        .send()
        .await
        .unwrap();
    assert!(expired.status().is_success());
    let before = counters(&sandbox).await;
    let body = messages(
        &app,
        json!({ "first": 5, "filter": { "channel": "C0SBX0001" } }),
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(nodes(&body).len(), 5);
    let after = counters(&sandbox).await;
    let token = "POST /api/oauth.v2.access";
    assert_eq!(
        all_calls(&after, "slack", token) - all_calls(&before, "slack", token),
        1,
        "one refresh: {after}"
    );
}

#[tokio::test]
async fn a_burst_waits_for_slacks_tiers_instead_of_drawing_429s() {
    let (app, sandbox) = chat_app_with(|settings| {
        settings.upstream.max_retry_wait_ms = 1_000;
    })
    .await;
    // 60 history reads at once against Tier 3's 50 a minute: 50 go through, the rest are
    // refused by the gateway with retryAfter, and none reaches Slack to draw its 429.
    let queries = (0..60).map(|i| {
        let channel = format!("C0SBX{:04}", i % 8);
        let app = &app;
        async move { messages(app, json!({ "first": 1, "filter": { "channel": channel } })).await }
    });
    let answers = futures_util::future::join_all(queries).await;
    let refused: Vec<&Value> = answers
        .iter()
        .filter(|body| !body["errors"].is_null())
        .collect();
    assert_eq!(answers.len() - refused.len(), 50, "{refused:?}");
    for body in &refused {
        let extensions = &body["errors"][0]["extensions"];
        assert_eq!(extensions["code"], "RATE_LIMITED", "{body}");
        assert_eq!(extensions["provider"], "SLACK");
        assert!(extensions["retryAfter"].as_u64().unwrap() >= 1, "{body}");
    }
    let counters = counters(&sandbox).await;
    assert_eq!(calls(&counters, "slack", HISTORY), 50, "{counters}");
    assert!(
        counters["slack"][HISTORY]["429"].is_null(),
        "no 429 from Slack: {counters}"
    );
    assert_eq!(
        all_calls(&counters, "slack", "GET /api/conversations.list"),
        1,
        "the channels are listed once for the whole burst"
    );
}

#[tokio::test]
async fn slack_without_a_channel_beyond_tier_3_is_refused_with_retry_after_never_a_429() {
    // The sandbox's bot sits in 108 public channels: a list across them all needs 108 history
    // reads, more than Tier 3's 50 a minute. The gateway sends what fits and answers
    // RATE_LIMITED with the wait; Teams' messages still come.
    let (app, sandbox) = chat_app_with(|settings| {
        settings.upstream.max_retry_wait_ms = 3_000;
    })
    .await;
    let body = messages(&app, json!({ "first": 10 })).await;
    let list = nodes(&body);
    assert_eq!(list.len(), 10, "{body}");
    assert!(list.iter().all(|n| n["provider"] == "TEAMS"));
    let error = &body["errors"][0]["extensions"];
    assert_eq!(error["code"], "RATE_LIMITED", "{body}");
    assert_eq!(error["provider"], "SLACK");
    assert!(error["retryAfter"].as_u64().unwrap() >= 1, "{body}");
    let counters = counters(&sandbox).await;
    assert!(calls(&counters, "slack", HISTORY) <= 50, "{counters}");
    assert!(counters["slack"][HISTORY]["429"].is_null(), "{counters}");
}

#[tokio::test]
async fn bad_input_is_refused_before_any_call() {
    let (app, sandbox) = chat_app().await;
    let before = counters(&sandbox).await;
    for (variables, field) in [
        (
            json!({ "filter": { "after": "2026-01-02T00:00:00Z", "before": "2026-01-01T00:00:00Z" } }),
            "filter.before",
        ),
        (json!({ "filter": { "channel": " " } }), "filter.channel"),
        (
            json!({ "filter": { "threadId": "123.456" } }),
            "filter.threadId",
        ),
        (
            json!({ "filter": { "textContains": "" } }),
            "filter.textContains",
        ),
        (json!({ "first": 500 }), "first"),
        (json!({ "after": "not-a-cursor" }), "after"),
        (json!({ "providers": ["HUBSPOT"] }), "providers"),
    ] {
        let (_, body) = app.graphql(MESSAGES, variables.clone()).await;
        assert_eq!(first_code(&body), "BAD_USER_INPUT", "{variables}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    for (input, field) in [
        (
            json!({ "provider": "SLACK", "channelId": "C0SBX0000", "text": "  " }),
            "input.text",
        ),
        (
            json!({ "provider": "SLACK", "channelId": "", "text": "hi" }),
            "input.channelId",
        ),
        (
            json!({ "provider": "TEAMS", "channelId": "C0SBX0000", "text": "hi" }),
            "input.channelId",
        ),
        (
            json!({ "provider": "SLACK", "channelId": "C0SBX0000", "text": "x".repeat(40_001) }),
            "input.text",
        ),
        (
            json!({ "provider": "GMAIL", "channelId": "C0SBX0000", "text": "hi" }),
            "input.provider",
        ),
        (
            json!({ "provider": "SLACK", "channelId": "C0SBX0000", "text": "hi", "idempotencyKey": "" }),
            "input.idempotencyKey",
        ),
    ] {
        let (_, body) = app.graphql(POST, json!({ "input": input })).await;
        assert_eq!(first_code(&body), "BAD_USER_INPUT", "{input}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    let after = counters(&sandbox).await;
    assert_eq!(
        all_calls(&after, "slack", POST_MESSAGE),
        all_calls(&before, "slack", POST_MESSAGE)
    );
    assert_eq!(
        all_calls(&after, "slack", HISTORY),
        all_calls(&before, "slack", HISTORY)
    );
}

#[tokio::test]
async fn one_provider_down_still_returns_the_other_with_its_error() {
    let (app, sandbox) = chat_app_with(unlimited(&["slack"])).await;
    sandbox_unlimited(&sandbox, &["slack"]).await;
    let fault = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/faults"))
        .json(&json!({ "provider": "teams", "status": 503 }))
        .send()
        .await
        .unwrap();
    assert!(fault.status().is_success());
    let body = messages(&app, json!({ "first": 10 })).await;
    let list = nodes(&body);
    assert_eq!(list.len(), 10, "{body}");
    assert!(list.iter().all(|n| n["provider"] == "SLACK"));
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["extensions"]["code"], "PROVIDER_UNAVAILABLE");
    assert_eq!(errors[0]["extensions"]["provider"], "TEAMS");
    assert_eq!(errors[0]["path"], json!(["messages"]));

    // A channel Slack does not have is Slack's NOT_FOUND, not a crash.
    let body = messages(
        &app,
        json!({ "first": 10, "filter": { "channel": "C9NOPE" }, "providers": ["SLACK"] }),
    )
    .await;
    assert_eq!(first_code(&body), "NOT_FOUND", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["provider"], "SLACK");
}

#[tokio::test]
async fn contact_messages_join_by_email_in_one_pass_per_provider() {
    let (app, sandbox) = chat_app_with(unlimited(&["slack", "teams"])).await;
    sandbox_unlimited(&sandbox, &["slack", "teams"]).await;
    let back = consent(&connect_link(&app, "HUBSPOT", None).await, "approve").await;
    assert_eq!(callback(&back).await.0, 200);
    // The third page of HubSpot's contacts: people the Slack workspace has as members too.
    let (_, skip) = app
        .graphql(
            "{ contacts(first: 100, providers: [HUBSPOT]) { pageInfo { endCursor } } }",
            json!({}),
        )
        .await;
    let cursor = json!({ "after": skip["data"]["contacts"]["pageInfo"]["endCursor"] });
    let query = "query($after: String) { contacts(first: 50, after: $after, providers: [HUBSPOT]) { nodes { email messages(first: 3) { nodes { provider sentAt author { email } } } } } }";
    let before = counters(&sandbox).await;
    let started = std::time::Instant::now();
    let (_, body) = app.graphql(query, cursor.clone()).await;
    let elapsed = started.elapsed();
    assert!(body["errors"].is_null(), "{body}");
    let contacts = body["data"]["contacts"]["nodes"].as_array().unwrap();
    assert_eq!(contacts.len(), 50);
    let mut with_messages = 0;
    let mut providers = BTreeSet::new();
    for contact in contacts {
        let email = contact["email"].as_str().unwrap().to_lowercase();
        let list = contact["messages"]["nodes"].as_array().unwrap();
        assert!(list.len() <= 3);
        if !list.is_empty() {
            with_messages += 1;
        }
        assert!(list.windows(2).all(|w| sent(&w[0]) >= sent(&w[1])));
        for message in list {
            assert_eq!(message["author"]["email"], email.as_str(), "{contact}");
            providers.insert(message["provider"].as_str().unwrap().to_owned());
        }
    }
    let after = counters(&sandbox).await;
    let delta = |provider: &str, route: &str| {
        all_calls(&after, provider, route) - all_calls(&before, provider, route)
    };
    let history = delta("slack", HISTORY);
    let lookups = delta("slack", "GET /api/users.lookupByEmail");
    let directory = delta("slack", "GET /api/users.list");
    let teams_reads = delta("teams", TEAMS_MESSAGES);
    let graph_users = delta("microsoft", "GET /v1.0/users/{id}");
    eprintln!(
        "join of 50 contacts: {elapsed:?}; Slack history {history}, users.list {directory}, lookupByEmail {lookups}, users.info {}, conversations.list {}; Teams channel reads {teams_reads}, Graph users {graph_users}",
        delta("slack", "GET /api/users.info"),
        delta("slack", "GET /api/conversations.list"),
    );
    assert!(with_messages >= 10, "{with_messages} of 50 contacts wrote");
    assert_eq!(providers.len(), 2, "{providers:?}: {after}");
    // One read per channel for all 50 contacts together (the bot's public member channels; the
    // user's joined Teams channels); Slack's directory in one users.list instead of 50 lookups,
    // Graph one lookup per distinct email; no users.info afterwards.
    assert_eq!(history, 108, "each member channel once: {after}");
    assert_eq!(teams_reads, 12, "each joined channel once");
    let distinct: BTreeSet<String> = contacts
        .iter()
        .map(|c| c["email"].as_str().unwrap().to_lowercase())
        .collect();
    assert_eq!(directory, 1, "one users.list, shared by every batch");
    assert!(
        lookups <= 3,
        "the few emails of a batch that came before it: {lookups}"
    );
    assert!(graph_users <= distinct.len() as u64);
    assert_eq!(delta("slack", "GET /api/users.info"), 0);

    // Again: the users are cached; only the channels are read again.
    let before = counters(&sandbox).await;
    let (_, again) = app.graphql(query, cursor).await;
    assert_eq!(again, body);
    let after = counters(&sandbox).await;
    assert_eq!(
        all_calls(&after, "slack", "GET /api/users.list"),
        all_calls(&before, "slack", "GET /api/users.list")
    );
    assert_eq!(
        all_calls(&after, "microsoft", "GET /v1.0/users/{id}"),
        all_calls(&before, "microsoft", "GET /v1.0/users/{id}")
    );
}
