//! The chat endpoints the official SDKs call, as raw HTTP against the sandbox: Slack's
//! `chat.update`, `chat.delete`, `reactions.add` and `conversations.members` with each refusal
//! Slack's method reference lists and their tiers, Graph's get channel and list team members
//! with Graph's error bodies, and every Slack or Graph 404 carrying the provider's body (the
//! rules in docs/sandbox.md, "Strictness").

use reqwest::{Client, StatusCode, header::HeaderMap};
use serde_json::{Value, json};

use crate::helpers::sandbox_with_tokens;

struct Sandbox {
    origin: String,
    token: String,
    client: Client,
}

async fn sandbox(provider: &str) -> Sandbox {
    let (origin, client, tokens) = sandbox_with_tokens(provider).await;
    Sandbox {
        origin,
        token: tokens["access_token"].as_str().unwrap().to_owned(),
        client,
    }
}

impl Sandbox {
    /// A Slack Web API call, form-encoded as `@slack/web-api` sends it.
    async fn slack(&self, method: &str, args: &[(&str, &str)]) -> (StatusCode, HeaderMap, Value) {
        let r = self
            .client
            .post(format!("{}/slack/api/{method}", self.origin))
            .bearer_auth(&self.token)
            .form(args)
            .send()
            .await
            .unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        (status, headers, r.json().await.unwrap_or(Value::Null))
    }

    async fn ok(&self, method: &str, args: &[(&str, &str)]) -> Value {
        let (status, _, body) = self.slack(method, args).await;
        assert_eq!(status, 200, "{method}: {body}");
        assert_eq!(body["ok"], true, "{method}: {body}");
        body
    }

    /// Slack's refusal: HTTP 200, `ok:false`; the error.
    async fn refused(&self, method: &str, args: &[(&str, &str)]) -> String {
        let (status, _, body) = self.slack(method, args).await;
        assert_eq!(status, 200, "{method}: {body}");
        assert_eq!(body["ok"], false, "{method}: {body}");
        body["error"].as_str().unwrap().to_owned()
    }

    async fn get(&self, path: &str) -> (StatusCode, HeaderMap, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.origin))
            .bearer_auth(&self.token)
            .header("client-request-id", "7d6f1c7e-0000-4000-8000-000000000001")
            .send()
            .await
            .unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        (status, headers, r.json().await.unwrap_or(Value::Null))
    }

    async fn admin(&self, path: &str, body: Value) {
        let r = self
            .client
            .post(format!("{}/_sandbox{path}", self.origin))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }
}

const GENERAL: &str = "C0SBX0000";

/// Graph's error body: `{error:{code,message,innerError:{date,request-id,client-request-id}}}`.
fn assert_graph_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    let inner = &body["error"]["innerError"];
    assert!(inner["date"].is_string(), "{body}");
    assert!(inner["request-id"].is_string(), "{body}");
    assert_eq!(
        inner["client-request-id"], "7d6f1c7e-0000-4000-8000-000000000001",
        "{body}"
    );
}

#[tokio::test]
async fn chat_update_and_delete_refuse_what_slack_refuses_and_leave_a_tombstone() {
    let s = sandbox("slack").await;
    let posted = s
        .ok("chat.postMessage", &[("channel", GENERAL), ("text", "v1")])
        .await;
    let ts = posted["ts"].as_str().unwrap().to_owned();
    let history = s
        .ok(
            "conversations.history",
            &[("channel", GENERAL), ("limit", "50")],
        )
        .await;
    let theirs = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"] != "U0SBXBOT1")
        .unwrap()["ts"]
        .as_str()
        .unwrap()
        .to_owned();

    for (args, error) in [
        (
            vec![("channel", GENERAL), ("ts", "1.000001"), ("text", "x")],
            "message_not_found",
        ),
        (
            vec![("channel", GENERAL), ("ts", theirs.as_str()), ("text", "x")],
            "cant_update_message",
        ),
        (
            vec![("channel", "#general"), ("ts", ts.as_str()), ("text", "x")],
            "channel_not_found",
        ),
        (vec![("channel", GENERAL), ("ts", ts.as_str())], "no_text"),
        (
            vec![("channel", GENERAL), ("text", "x")],
            "invalid_arguments",
        ),
    ] {
        assert_eq!(s.refused("chat.update", &args).await, error, "{args:?}");
    }
    let updated = s
        .ok(
            "chat.update",
            &[("channel", GENERAL), ("ts", &ts), ("text", "v2")],
        )
        .await;
    assert_eq!(updated["text"], "v2");
    assert_eq!(updated["message"]["edited"]["user"], "U0SBXBOT1");

    assert_eq!(
        s.refused("chat.delete", &[("channel", GENERAL), ("ts", &theirs)])
            .await,
        "cant_delete_message"
    );
    let deleted = s
        .ok("chat.delete", &[("channel", GENERAL), ("ts", &ts)])
        .await;
    assert_eq!(deleted, json!({ "ok": true, "channel": GENERAL, "ts": ts }));
    assert_eq!(
        s.refused("chat.delete", &[("channel", GENERAL), ("ts", &ts)])
            .await,
        "message_not_found"
    );

    // A thread parent with replies leaves Slack's tombstone; the replies stay.
    let parent = s
        .ok(
            "chat.postMessage",
            &[("channel", GENERAL), ("text", "parent")],
        )
        .await;
    let parent_ts = parent["ts"].as_str().unwrap().to_owned();
    s.ok(
        "chat.postMessage",
        &[
            ("channel", GENERAL),
            ("text", "reply"),
            ("thread_ts", &parent_ts),
        ],
    )
    .await;
    s.ok("chat.delete", &[("channel", GENERAL), ("ts", &parent_ts)])
        .await;
    let thread = s
        .ok(
            "conversations.replies",
            &[("channel", GENERAL), ("ts", &parent_ts)],
        )
        .await;
    let messages = thread["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{thread}");
    assert_eq!(messages[0]["subtype"], "tombstone");
    assert_eq!(messages[0]["text"], "This message was deleted.");
    assert_eq!(messages[1]["text"], "reply");
    assert_eq!(
        s.refused(
            "chat.update",
            &[("channel", GENERAL), ("ts", &parent_ts), ("text", "x")]
        )
        .await,
        "message_not_found"
    );
}

#[tokio::test]
async fn reactions_add_refuses_what_slack_refuses() {
    let s = sandbox("slack").await;
    let posted = s
        .ok(
            "chat.postMessage",
            &[("channel", GENERAL), ("text", "react")],
        )
        .await;
    let ts = posted["ts"].as_str().unwrap().to_owned();
    let on = |name: &'static str| {
        vec![
            ("channel", GENERAL),
            ("timestamp", ts.as_str()),
            ("name", name),
        ]
    };
    assert_eq!(
        s.ok("reactions.add", &on("thumbsup")).await,
        json!({ "ok": true })
    );
    for (args, error) in [
        (on("thumbsup"), "already_reacted"),
        // Slack stores `thumbsup` as `+1`: the same reaction.
        (on("+1"), "already_reacted"),
        (on("not_an_emoji"), "invalid_name"),
        (on(":tada:"), "invalid_name"),
        (
            vec![("channel", GENERAL), ("name", "tada")],
            "no_item_specified",
        ),
        (
            vec![
                ("channel", GENERAL),
                ("timestamp", "yesterday"),
                ("name", "tada"),
            ],
            "bad_timestamp",
        ),
        (
            vec![
                ("channel", GENERAL),
                ("timestamp", "1.000001"),
                ("name", "tada"),
            ],
            "message_not_found",
        ),
        (
            vec![
                ("channel", "C0NOPE000"),
                ("timestamp", ts.as_str()),
                ("name", "tada"),
            ],
            "channel_not_found",
        ),
        // Public, not archived, and the bot is not in it.
        (
            vec![
                ("channel", "C0SBX0011"),
                ("timestamp", ts.as_str()),
                ("name", "tada"),
            ],
            "not_in_channel",
        ),
        // Archived.
        (
            vec![
                ("channel", "C0SBX0018"),
                ("timestamp", ts.as_str()),
                ("name", "tada"),
            ],
            "is_archived",
        ),
    ] {
        assert_eq!(s.refused("reactions.add", &args).await, error, "{args:?}");
    }
    // 23 reactions a member; the 24th is refused.
    for name in [
        "-1",
        "100",
        "clap",
        "crossed_fingers",
        "eyes",
        "fire",
        "grinning",
        "heart",
        "heavy_check_mark",
        "heavy_plus_sign",
        "hourglass",
        "joy",
        "laughing",
        "memo",
        "muscle",
        "ok_hand",
        "partying_face",
        "pray",
        "raised_hands",
        "rocket",
        "slightly_smiling_face",
        "smile",
    ] {
        s.ok("reactions.add", &on(name)).await;
    }
    assert_eq!(
        s.refused("reactions.add", &on("sparkles")).await,
        "too_many_reactions"
    );
    let seen = s
        .ok(
            "conversations.history",
            &[
                ("channel", GENERAL),
                ("latest", &ts),
                ("inclusive", "true"),
                ("limit", "1"),
            ],
        )
        .await;
    let reactions = seen["messages"][0]["reactions"].as_array().unwrap();
    assert_eq!(reactions.len(), 23, "{seen}");
    assert_eq!(
        reactions[0],
        json!({ "name": "+1", "users": ["U0SBXBOT1"], "count": 1 })
    );
}

#[tokio::test]
async fn conversations_members_pages_by_cursor_and_refuses_bad_arguments() {
    let s = sandbox("slack").await;
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = s
            .ok(
                "conversations.members",
                &[("channel", GENERAL), ("limit", "120"), ("cursor", &cursor)],
            )
            .await;
        seen.extend(page["members"].as_array().unwrap().iter().cloned());
        cursor = page["response_metadata"]["next_cursor"]
            .as_str()
            .unwrap()
            .to_owned();
        if cursor.is_empty() {
            break;
        }
    }
    assert_eq!(seen.len(), 301);
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(unique.len(), 301, "sorted, without repeats");
    for (args, error) in [
        (
            vec![("channel", GENERAL), ("limit", "many")],
            "invalid_limit",
        ),
        (
            vec![("channel", GENERAL), ("cursor", "bm9wZQ==")],
            "invalid_cursor",
        ),
        (vec![("channel", "#general")], "channel_not_found"),
        // Private, and the bot is not a member.
        (vec![("channel", "C0SBX0209")], "channel_not_found"),
    ] {
        assert_eq!(
            s.refused("conversations.members", &args).await,
            error,
            "{args:?}"
        );
    }
}

#[tokio::test]
async fn the_new_methods_count_against_their_tiers() {
    let s = sandbox("slack").await;
    // chat.update is Tier 3: 50 a minute per workspace, refused or not.
    for _ in 0..50 {
        s.refused(
            "chat.update",
            &[("channel", GENERAL), ("ts", "1.000001"), ("text", "x")],
        )
        .await;
    }
    let (status, headers, body) = s
        .slack(
            "chat.update",
            &[("channel", GENERAL), ("ts", "1.000001"), ("text", "x")],
        )
        .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body, json!({ "ok": false, "error": "ratelimited" }));
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Another method's tier is its own.
    s.ok(
        "conversations.members",
        &[("channel", GENERAL), ("limit", "1")],
    )
    .await;
}

#[tokio::test]
async fn graph_gets_a_channel_and_lists_team_members_with_graphs_errors() {
    let g = sandbox("teams").await;
    let (_, _, teams) = g.get("/microsoft/v1.0/me/joinedTeams").await;
    let team = teams["value"][0]["id"].as_str().unwrap().to_owned();
    let (_, _, channels) = g
        .get(&format!("/microsoft/v1.0/teams/{team}/channels"))
        .await;
    let listed = &channels["value"][1];
    let id = listed["id"].as_str().unwrap();
    let encoded: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    let (status, _, channel) = g
        .get(&format!("/microsoft/v1.0/teams/{team}/channels/{encoded}"))
        .await;
    assert_eq!(status, 200, "{channel}");
    assert_eq!(channel["displayName"], listed["displayName"]);
    assert!(
        channel["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with(&format!("$metadata#teams('{team}')/channels/$entity")),
        "{channel}"
    );
    let (status, _, body) = g
        .get(&format!(
            "/microsoft/v1.0/teams/{team}/channels/19%3Anope%40thread.tacv2"
        ))
        .await;
    assert_graph_error(status, &body, StatusCode::NOT_FOUND, "NotFound");

    // Members: 100 a page by default, at most 999; owners first; filters as Graph's examples.
    let (status, _, page) = g
        .get(&format!("/microsoft/v1.0/teams/{team}/members"))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["value"].as_array().unwrap().len(), 100);
    assert!(
        page["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("skiptoken="),
        "{page}"
    );
    let first = &page["value"][0];
    assert_eq!(
        first["@odata.type"],
        "#microsoft.graph.aadUserConversationMember"
    );
    assert_eq!(first["roles"], json!(["owner"]));
    assert_eq!(page["value"][2]["roles"], json!([]));
    let (_, _, all) = g
        .get(&format!(
            "/microsoft/v1.0/teams/{team}/members?$top=999&$select=displayName"
        ))
        .await;
    assert_eq!(all["value"].as_array().unwrap().len(), 480);
    assert!(all.get("@odata.nextLink").is_none(), "one page");
    let mut keys: Vec<&String> = all["value"][0].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["@odata.type", "displayName", "id"]);
    let email = first["email"].as_str().unwrap();
    let (_, _, by_email) = g
        .get(&format!(
            "/microsoft/v1.0/teams/{team}/members?$filter=email eq '{email}'"
        ))
        .await;
    assert_eq!(by_email["value"].as_array().unwrap().len(), 1, "{by_email}");
    let (_, _, owners) = g
        .get(&format!(
            "/microsoft/v1.0/teams/{team}/members?$filter=roles/any(r:r eq 'owner')"
        ))
        .await;
    assert_eq!(owners["value"].as_array().unwrap().len(), 2, "{owners}");

    for (query, code) in [
        ("$top=1000", "BadRequest"),
        ("$skip=100", "BadRequest"),
        ("$skiptoken=bm9wZQ", "BadRequest"),
        ("$filter=jobTitle eq 'CEO'", "BadRequest"),
    ] {
        let (status, _, body) = g
            .get(&format!("/microsoft/v1.0/teams/{team}/members?{query}"))
            .await;
        assert_graph_error(status, &body, StatusCode::BAD_REQUEST, code);
    }
    let (status, _, body) = g
        .get("/microsoft/v1.0/teams/00000000-0000-0000-0000-000000000000/members")
        .await;
    assert_graph_error(status, &body, StatusCode::NOT_FOUND, "NotFound");

    // An Outlook token lacks TeamMember.Read.All: Teams' 403.
    let outlook = sandbox("outlook").await;
    let (status, _, body) = outlook
        .get(&format!("/microsoft/v1.0/teams/{team}/members"))
        .await;
    assert_graph_error(status, &body, StatusCode::FORBIDDEN, "Forbidden");
}

#[tokio::test]
async fn every_slack_and_graph_404_carries_the_providers_body() {
    let s = sandbox("slack").await;
    for path in ["/slack/nothing", "/slack/api", "/slack/oauth/v3/authorize"] {
        let (status, headers, body) = s.get(path).await;
        assert_eq!(status, 404, "{path}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        assert_eq!(body["ok"], false, "{path}: {body}");
        assert_eq!(body["error"], "unknown_method", "{path}: {body}");
    }
    // A 404 injected on a method is answered in Slack's envelope too.
    s.admin(
        "/faults",
        json!({ "provider": "slack", "path": "/api/conversations.members", "status": 404 }),
    )
    .await;
    let (status, _, body) = s
        .slack("conversations.members", &[("channel", GENERAL)])
        .await;
    assert_eq!(status, 404);
    assert_eq!(body, json!({ "ok": false, "error": "unknown_method" }));

    let g = sandbox("teams").await;
    let (_, _, teams) = g.get("/microsoft/v1.0/me/joinedTeams").await;
    let team = teams["value"][0]["id"].as_str().unwrap().to_owned();
    // Outside `/v1.0` no Graph route answers: Graph's error JSON, without the ids that the
    // Graph routes' envelope stamps into `innerError`.
    let (status, _, body) = g.get("/microsoft/nothing").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "ResourceNotFound", "{body}");
    for (path, code) in [
        (
            "/microsoft/v1.0/teams/00000000-0000-0000-0000-000000000000/channels".to_owned(),
            "NotFound",
        ),
        (
            format!("/microsoft/v1.0/teams/{team}/channels/19%3Anope%40thread.tacv2/messages"),
            "NotFound",
        ),
        (
            "/microsoft/v1.0/chats/19%3Anope%40thread.v2/messages".to_owned(),
            "NotFound",
        ),
    ] {
        let (status, _, body) = g.get(&path).await;
        assert_graph_error(status, &body, StatusCode::NOT_FOUND, code);
    }
    g.admin(
        "/faults",
        json!({ "provider": "teams", "path": "/microsoft/v1.0/me/joinedTeams", "status": 404 }),
    )
    .await;
    let (status, _, body) = g.get("/microsoft/v1.0/me/joinedTeams").await;
    assert_graph_error(status, &body, StatusCode::NOT_FOUND, "ResourceNotFound");
}
