//! The Slack simulator against Slack's documented wire format (shared/providers/wire-formats.md
//! §5): OAuth v2 with token rotation, the Web API's `ok` envelope and errors, tiers answered
//! with 429, cursor paging, threads, and the Events API's url_verification and v0 signatures.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{body::Bytes, http::HeaderMap, http::StatusCode as AxumStatus, routing::post};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{KeyInit, Mac};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::mpsc::UnboundedReceiver;

const CLIENT_ID: &str = "sandbox-slack-client";
const CLIENT_SECRET: &str = "sandbox-slack-secret";
const REDIRECT: &str = "http://127.0.0.1:9/slack/callback";

struct Slack {
    origin: String,
    token: String,
    client: Client,
}

async fn slack() -> Slack {
    let (origin, client, tokens) = crate::helpers::sandbox_with_tokens("slack").await;
    Slack {
        origin,
        token: tokens["access_token"].as_str().unwrap().to_owned(),
        client,
    }
}

impl Slack {
    fn url(&self, path: &str) -> String {
        format!("{}/slack{path}", self.origin)
    }

    /// A Web API call, form-encoded with the bearer token.
    async fn call(&self, method: &str, args: &[(&str, &str)]) -> (StatusCode, HeaderMap, Value) {
        self.call_as(&self.token, method, args).await
    }

    async fn call_as(
        &self,
        token: &str,
        method: &str,
        args: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Value) {
        let r = self
            .client
            .post(self.url(&format!("/api/{method}")))
            .bearer_auth(token)
            .form(args)
            .send()
            .await
            .unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        (status, headers, r.json().await.unwrap_or(Value::Null))
    }

    /// A call expected to succeed; its body.
    async fn ok(&self, method: &str, args: &[(&str, &str)]) -> Value {
        let (status, _, body) = self.call(method, args).await;
        assert_eq!(status, 200, "{method}: {body}");
        assert_eq!(body["ok"], true, "{method}: {body}");
        body
    }

    /// A call expected to fail Slack's way: HTTP 200 and `ok:false`; its error.
    async fn error(&self, method: &str, args: &[(&str, &str)]) -> String {
        let (status, _, body) = self.call(method, args).await;
        assert_eq!(status, 200, "{method}: {body}");
        assert_eq!(body["ok"], false, "{method}: {body}");
        body["error"].as_str().unwrap().to_owned()
    }

    async fn admin(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}/_sandbox{path}", self.origin))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// The consent dance: a code for these bot and user scopes.
    async fn consent(&self, scope: &str, user_scope: &str) -> String {
        let query = [
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
            ("user_scope", user_scope),
            ("state", "st-42"),
        ];
        let page = self
            .client
            .get(self.url("/oauth/v2/authorize"))
            .query(&query)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("Approve"));
        let mut form = query.to_vec();
        form.push(("decision", "approve"));
        let approve = self
            .client
            .post(self.url("/oauth/v2/authorize"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(approve.status(), 303);
        let location = url::Url::parse(approve.headers()["location"].to_str().unwrap()).unwrap();
        let params: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
        assert_eq!(params["state"], "st-42");
        params["code"].clone()
    }

    /// `oauth.v2.access` with HTTP Basic client credentials.
    async fn access(&self, form: &[(&str, &str)]) -> Value {
        self.client
            .post(self.url("/api/oauth.v2.access"))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn oauth_v2_exchange_has_slacks_shape_and_rotates_refresh_tokens() {
    let slack = slack().await;
    let code = slack
        .consent("chat:write,channels:read", "users:read,channels:history")
        .await;

    let bad_secret: Value = slack
        .client
        .post(slack.url("/api/oauth.v2.access"))
        .form(&[
            ("client_id", CLIENT_ID),
            ("client_secret", "nope"),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        bad_secret,
        json!({ "ok": false, "error": "bad_client_secret" })
    );

    let tokens = slack
        .access(&[("code", &code), ("redirect_uri", REDIRECT)])
        .await;
    assert_eq!(tokens["ok"], true, "{tokens}");
    assert_eq!(tokens["token_type"], "bot");
    assert_eq!(tokens["scope"], "chat:write,channels:read");
    assert_eq!(tokens["bot_user_id"], "U0SBXBOT1");
    assert_eq!(tokens["app_id"], "A0SBX0001");
    assert_eq!(
        tokens["team"],
        json!({ "id": "T0SBX0001", "name": "Nexus Sandbox" })
    );
    assert_eq!(tokens["enterprise"], Value::Null);
    assert_eq!(tokens["is_enterprise_install"], false);
    assert_eq!(tokens["expires_in"], 43200);
    let bot = tokens["access_token"].as_str().unwrap();
    assert!(bot.starts_with("xoxe.xoxb-1-"), "{bot}");
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert!(refresh.starts_with("xoxe-1-"), "{refresh}");
    let user = &tokens["authed_user"];
    assert_eq!(user["id"], "U0SBX0000");
    assert_eq!(user["scope"], "users:read,channels:history");
    assert_eq!(user["token_type"], "user");
    assert_eq!(user["expires_in"], 43200);
    assert!(
        user["access_token"]
            .as_str()
            .unwrap()
            .starts_with("xoxe.xoxp-1-")
    );
    assert!(
        user["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("xoxe-1-")
    );

    let reused = slack.access(&[("code", &code)]).await;
    assert_eq!(reused, json!({ "ok": false, "error": "invalid_code" }));

    // Who the tokens are.
    let (_, _, me) = slack.call_as(bot, "auth.test", &[]).await;
    assert_eq!(me["ok"], true);
    assert_eq!(me["user_id"], "U0SBXBOT1");
    assert_eq!(me["bot_id"], "B0SBX0001");
    assert_eq!(me["team_id"], "T0SBX0001");
    let (_, _, me) = slack
        .call_as(user["access_token"].as_str().unwrap(), "auth.test", &[])
        .await;
    assert_eq!(me["user_id"], "U0SBX0000");
    assert!(me.get("bot_id").is_none());

    // A bot token holds only its scopes.
    let (_, _, denied) = slack
        .call_as(bot, "users.info", &[("user", "U0SBX0001")])
        .await;
    assert_eq!(
        denied,
        json!({ "ok": false, "error": "missing_scope", "needed": "users:read", "provided": "chat:write,channels:read" })
    );

    // Refresh (client credentials in the body this time): new tokens, the old refresh token dies.
    let refreshed: Value = slack
        .client
        .post(slack.url("/api/oauth.v2.access"))
        .form(&[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(refreshed["ok"], true, "{refreshed}");
    assert_eq!(refreshed["token_type"], "bot");
    assert_eq!(refreshed["expires_in"], 43200);
    assert_eq!(refreshed["scope"], "chat:write,channels:read");
    assert_ne!(refreshed["access_token"], tokens["access_token"]);
    assert_ne!(refreshed["refresh_token"], tokens["refresh_token"]);
    assert!(
        refreshed["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("xoxe-1-")
    );
    let again = slack
        .access(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .await;
    assert_eq!(
        again,
        json!({ "ok": false, "error": "invalid_refresh_token" })
    );
    let (_, _, me) = slack
        .call_as(
            refreshed["access_token"].as_str().unwrap(),
            "auth.test",
            &[],
        )
        .await;
    assert_eq!(me["ok"], true);

    // The user's refresh token refreshes a user token.
    let user_refreshed = slack
        .access(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", user["refresh_token"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(user_refreshed["token_type"], "user", "{user_refreshed}");
    assert!(
        user_refreshed["access_token"]
            .as_str()
            .unwrap()
            .starts_with("xoxe.xoxp-1-")
    );

    let bad_grant = slack.access(&[("grant_type", "password")]).await;
    assert_eq!(bad_grant["error"], "invalid_grant_type");
}

#[tokio::test]
async fn tokens_expire_on_the_clock_and_bad_or_revoked_tokens_are_refused() {
    let slack = slack().await;
    assert_eq!(slack.ok("auth.test", &[]).await["user_id"], "U0SBXBOT1");
    assert_eq!(
        slack.call_as("xoxb-not-a-token", "auth.test", &[]).await.2,
        json!({ "ok": false, "error": "invalid_auth" })
    );
    let anonymous: Value = slack
        .client
        .post(slack.url("/api/auth.test"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(anonymous, json!({ "ok": false, "error": "not_authed" }));

    // The `token` argument of a form body is read; one in the query string is not.
    let in_form: Value = slack
        .client
        .post(slack.url("/api/auth.test"))
        .form(&[("token", slack.token.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(in_form["ok"], true);
    let in_query: Value = slack
        .client
        .get(slack.url("/api/auth.test"))
        .query(&[("token", slack.token.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(in_query["error"], "not_authed");

    let advanced = slack.admin("/clock", json!({ "advance_s": 43_201 })).await;
    assert_eq!(advanced.status(), 200);
    let (status, _, body) = slack.call("conversations.list", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({ "ok": false, "error": "token_expired" }));

    // The admin API expires tokens too.
    let minted: Value = slack
        .admin("/tokens", json!({ "provider": "slack" }))
        .await
        .json()
        .await
        .unwrap();
    let minted = minted["access_token"].as_str().unwrap();
    assert_eq!(slack.call_as(minted, "auth.test", &[]).await.2["ok"], true);
    let expired: Value = slack
        .admin("/expire-tokens", json!({ "provider": "slack" }))
        .await
        .json()
        .await
        .unwrap();
    assert!(expired["expired"].as_u64().unwrap() >= 2, "{expired}");
    assert_eq!(
        slack.call_as(minted, "auth.test", &[]).await.2["error"],
        "token_expired"
    );

    // A fresh token, revoked by auth.revoke.
    let fresh: Value = slack
        .admin("/tokens", json!({ "provider": "slack" }))
        .await
        .json()
        .await
        .unwrap();
    let token = fresh["access_token"].as_str().unwrap();
    let (_, _, tested) = slack
        .call_as(token, "auth.revoke", &[("test", "true")])
        .await;
    assert_eq!(tested, json!({ "ok": true, "revoked": false }));
    let (_, _, revoked) = slack.call_as(token, "auth.revoke", &[]).await;
    assert_eq!(revoked, json!({ "ok": true, "revoked": true }));
    let (_, _, after) = slack.call_as(token, "auth.test", &[]).await;
    assert_eq!(after, json!({ "ok": false, "error": "token_revoked" }));

    // Uninstalling the app (the admin API's revoke) revokes every token it had.
    let other: Value = slack
        .admin("/tokens", json!({ "provider": "slack" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        slack
            .admin("/revoke", json!({ "provider": "slack" }))
            .await
            .status(),
        200
    );
    let (_, _, after) = slack
        .call_as(other["access_token"].as_str().unwrap(), "auth.test", &[])
        .await;
    assert_eq!(after["error"], "token_revoked");
}

#[tokio::test]
async fn success_shapes_of_channels_users_and_posting() {
    let slack = slack().await;
    let list = slack.ok("conversations.list", &[("limit", "3")]).await;
    let general = &list["channels"][0];
    assert_eq!(general["name"], "general");
    for field in [
        "id",
        "name",
        "is_channel",
        "is_private",
        "is_archived",
        "is_member",
        "created",
        "creator",
        "topic",
        "purpose",
        "num_members",
        "name_normalized",
    ] {
        assert!(!general[field].is_null(), "{field}: {general}");
    }
    assert_eq!(general["is_general"], true);
    let creator = general["creator"].as_str().unwrap();
    let user = slack.ok("users.info", &[("user", creator)]).await["user"].clone();
    assert_eq!(user["id"], creator);
    assert_eq!(user["team_id"], "T0SBX0001");
    assert!(user["tz"].as_str().unwrap().contains('/'));
    assert!(user["tz_offset"].is_i64());
    assert_eq!(user["profile"]["real_name"], user["real_name"]);
    assert!(user["profile"]["email"].as_str().unwrap().contains('@'));
    assert_eq!(user["is_bot"], false);

    let info = slack
        .ok(
            "conversations.info",
            &[("channel", general["id"].as_str().unwrap())],
        )
        .await;
    assert_eq!(info["channel"]["name"], "general");

    // Posting by channel name; the answer carries ts, channel and the message.
    let posted = slack
        .ok(
            "chat.postMessage",
            &[("channel", "#sales"), ("text", "Q3 numbers are in")],
        )
        .await;
    let channel = posted["channel"].as_str().unwrap();
    assert!(channel.starts_with('C'));
    let ts = posted["ts"].as_str().unwrap();
    assert_eq!(posted["message"]["ts"], ts);
    assert_eq!(posted["message"]["text"], "Q3 numbers are in");
    assert_eq!(posted["message"]["bot_id"], "B0SBX0001");
    assert_eq!(posted["message"]["user"], "U0SBXBOT1");
    assert_eq!(posted["message"]["type"], "message");
    let history = slack
        .ok(
            "conversations.history",
            &[("channel", channel), ("limit", "1")],
        )
        .await;
    assert_eq!(history["messages"][0]["ts"], ts);

    // A reply in the thread, broadcast to the channel too.
    let reply = slack
        .ok(
            "chat.postMessage",
            &[
                ("channel", channel),
                ("text", "details inside"),
                ("thread_ts", ts),
                ("reply_broadcast", "true"),
            ],
        )
        .await;
    assert_eq!(reply["message"]["thread_ts"], ts);
    assert_eq!(reply["message"]["subtype"], "thread_broadcast");
    let thread = slack
        .ok("conversations.replies", &[("channel", channel), ("ts", ts)])
        .await;
    assert_eq!(thread["messages"][0]["reply_count"], 1);
    assert_eq!(thread["messages"][1]["text"], "details inside");

    // JSON bodies: the bearer token is required; without a charset Slack warns.
    let json_call: Value = slack
        .client
        .post(slack.url("/api/chat.postMessage"))
        .bearer_auth(&slack.token)
        .header("content-type", "application/json")
        .body(json!({ "channel": channel, "blocks": [{ "type": "section", "text": { "type": "mrkdwn", "text": "*hi*" } }] }).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json_call["ok"], true, "{json_call}");
    assert_eq!(json_call["warning"], "missing_charset");
    assert_eq!(
        json_call["response_metadata"]["warnings"],
        json!(["missing_charset"])
    );
    assert_eq!(json_call["message"]["blocks"][0]["type"], "section");
    let token_in_json: Value = slack
        .client
        .post(slack.url("/api/auth.test"))
        .header("content-type", "application/json; charset=utf-8")
        .body(json!({ "token": slack.token }).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(token_in_json["error"], "not_authed");

    // Read methods answer GET with query arguments.
    let by_get: Value = slack
        .client
        .get(slack.url("/api/users.info"))
        .bearer_auth(&slack.token)
        .query(&[("user", creator)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_get["user"]["id"], creator);
}

#[tokio::test]
async fn bad_requests_get_slacks_errors() {
    let slack = slack().await;
    assert_eq!(
        slack
            .error("conversations.info", &[("channel", "C999NOPE")])
            .await,
        "channel_not_found"
    );
    assert_eq!(
        slack
            .error(
                "chat.postMessage",
                &[("channel", "no-such-channel"), ("text", "x")]
            )
            .await,
        "channel_not_found"
    );
    assert_eq!(
        slack.error("conversations.history", &[]).await,
        "channel_not_found"
    );
    assert_eq!(
        slack.error("users.info", &[("user", "U404")]).await,
        "user_not_found"
    );
    assert_eq!(
        slack
            .error(
                "users.lookupByEmail",
                &[("email", "nobody@nowhere.example")]
            )
            .await,
        "users_not_found"
    );
    let (_, _, bad_limit) = slack.call("conversations.list", &[("limit", "lots")]).await;
    assert_eq!(bad_limit["error"], "invalid_arguments");
    assert!(
        bad_limit["response_metadata"]["messages"][0]
            .as_str()
            .unwrap()
            .contains("limit")
    );
    assert_eq!(
        slack
            .error("conversations.list", &[("cursor", "not-a-cursor")])
            .await,
        "invalid_cursor"
    );
    assert_eq!(
        slack
            .error(
                "conversations.list",
                &[("cursor", &STANDARD.encode("user:U0SBX0001"))]
            )
            .await,
        "invalid_cursor",
        "a users.list cursor is not a channel cursor"
    );
    assert_eq!(
        slack.error("conversations.list", &[("types", "dm")]).await,
        "invalid_types"
    );
    assert_eq!(
        slack
            .error(
                "conversations.history",
                &[("channel", "general"), ("latest", "yesterday")]
            )
            .await,
        "invalid_ts_latest"
    );
    assert_eq!(
        slack
            .error(
                "conversations.replies",
                &[("channel", "general"), ("ts", "1.000001")]
            )
            .await,
        "thread_not_found"
    );
    assert_eq!(
        slack
            .error("chat.postMessage", &[("channel", "general")])
            .await,
        "no_text"
    );
    let long = "x".repeat(40_001);
    assert_eq!(
        slack
            .error(
                "chat.postMessage",
                &[("channel", "general"), ("text", &long)]
            )
            .await,
        "msg_too_long"
    );
    let attachments = serde_json::to_string(&vec![json!({ "text": "a" }); 101]).unwrap();
    assert_eq!(
        slack
            .error(
                "chat.postMessage",
                &[
                    ("channel", "general"),
                    ("text", "x"),
                    ("attachments", &attachments)
                ]
            )
            .await,
        "too_many_attachments"
    );
    assert_eq!(
        slack
            .error(
                "chat.postMessage",
                &[("channel", "general"), ("blocks", "{not json")]
            )
            .await,
        "invalid_blocks"
    );
    let archived = slack.ok("conversations.list", &[("limit", "1000")]).await["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["is_archived"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        slack
            .error("chat.postMessage", &[("channel", &archived), ("text", "x")])
            .await,
        "is_archived"
    );
    let (_, _, unknown) = slack.call("chat.fly", &[]).await;
    assert_eq!(
        unknown,
        json!({ "ok": false, "error": "unknown_method", "req_method": "chat.fly" })
    );
    let not_json: Value = slack
        .client
        .post(slack.url("/api/chat.postMessage"))
        .bearer_auth(&slack.token)
        .header("content-type", "application/json; charset=utf-8")
        .body("{")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(not_json["error"], "invalid_json");
}

#[tokio::test]
async fn a_tier_2_method_is_ratelimited_with_retry_after_until_the_minute_passes() {
    let slack = slack().await;
    for i in 0..20 {
        let (status, _, body) = slack.call("conversations.list", &[("limit", "1")]).await;
        assert_eq!(status, 200, "call {i}: {body}");
    }
    let (status, headers, body) = slack.call("conversations.list", &[("limit", "1")]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body, json!({ "ok": false, "error": "ratelimited" }));
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // Limits are per method: users.info (Tier 4) still answers.
    slack.ok("users.info", &[("user", "U0SBX0001")]).await;

    slack
        .admin("/clock", json!({ "advance_s": retry_after }))
        .await;
    slack.ok("conversations.list", &[("limit", "1")]).await;

    let off = slack
        .admin("/limits", json!({ "provider": "slack", "enforce": false }))
        .await;
    assert_eq!(off.status(), 204);
    for _ in 0..25 {
        slack.ok("conversations.list", &[("limit", "1")]).await;
    }
}

#[tokio::test]
async fn chat_post_message_allows_a_burst_per_channel_then_429() {
    let slack = slack().await;
    let sales = slack
        .ok("conversations.info", &[("channel", "sales")])
        .await["channel"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (i, channel) in ["sales", sales.as_str(), "#sales", "sales", sales.as_str()]
        .iter()
        .enumerate()
    {
        let text = format!("burst {i}");
        slack
            .ok("chat.postMessage", &[("channel", channel), ("text", &text)])
            .await;
    }
    let (status, headers, body) = slack
        .call(
            "chat.postMessage",
            &[("channel", &sales), ("text", "one too many")],
        )
        .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "ratelimited");
    assert!(headers.contains_key("retry-after"));
    // Another channel is not affected; the channel frees up as the window passes.
    slack
        .ok(
            "chat.postMessage",
            &[("channel", "general"), ("text", "elsewhere")],
        )
        .await;
    slack.admin("/clock", json!({ "advance_s": 5 })).await;
    slack
        .ok(
            "chat.postMessage",
            &[("channel", "sales"), ("text", "again")],
        )
        .await;
}

#[tokio::test]
async fn cursor_paging_visits_every_channel_exactly_once() {
    let slack = slack().await;
    // conversations.list is Tier 2 (20 a minute): paging is what the limit is about, not this test.
    slack
        .admin("/limits", json!({ "provider": "slack", "enforce": false }))
        .await;
    let types = "public_channel,private_channel";
    let all = slack
        .ok("conversations.list", &[("types", types), ("limit", "1000")])
        .await;
    assert_eq!(all["response_metadata"]["next_cursor"], "");
    let expected: Vec<Value> = all["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    assert!(expected.len() > 200, "{}", expected.len());
    assert!(
        all["channels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["is_private"] == true),
        "the bot's private channel is listed"
    );

    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let page = slack
            .ok(
                "conversations.list",
                &[("types", types), ("limit", "7"), ("cursor", &cursor)],
            )
            .await;
        pages += 1;
        let channels = page["channels"].as_array().unwrap();
        assert!(channels.len() <= 37);
        seen.extend(channels.iter().map(|c| c["id"].clone()));
        cursor = page["response_metadata"]["next_cursor"]
            .as_str()
            .unwrap()
            .to_owned();
        if cursor.is_empty() {
            break;
        }
        assert!(pages < 50);
    }
    assert_eq!(seen, expected);
    assert!(pages > 5);
    let unique: HashSet<String> = seen.iter().map(|v| v.to_string()).collect();
    assert_eq!(unique.len(), seen.len());

    let open = slack
        .ok(
            "conversations.list",
            &[("exclude_archived", "true"), ("limit", "1000")],
        )
        .await;
    let open = open["channels"].as_array().unwrap();
    assert!(
        open.iter()
            .all(|c| c["is_archived"] == false && c["is_private"] == false)
    );

    // users.list pages the same way.
    let mut members = 0;
    let mut cursor = String::new();
    loop {
        let page = slack
            .ok("users.list", &[("limit", "40"), ("cursor", &cursor)])
            .await;
        members += page["members"].as_array().unwrap().len();
        cursor = page["response_metadata"]["next_cursor"]
            .as_str()
            .unwrap()
            .to_owned();
        if cursor.is_empty() {
            break;
        }
    }
    assert_eq!(members, 301, "300 members and the bot");
    let everyone = slack.ok("users.list", &[]).await;
    assert_eq!(
        everyone["members"].as_array().unwrap().len(),
        301,
        "no limit: everyone"
    );
}

#[tokio::test]
async fn history_pages_newest_first_and_threads_list_their_replies() {
    let slack = slack().await;
    let mut seen: Vec<String> = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let page = slack
            .ok(
                "conversations.history",
                &[("channel", "C0SBX0000"), ("cursor", &cursor)],
            )
            .await;
        pages += 1;
        let messages = page["messages"].as_array().unwrap();
        assert!(messages.len() <= 100);
        seen.extend(
            messages
                .iter()
                .map(|m| m["ts"].as_str().unwrap().to_owned()),
        );
        cursor = page["response_metadata"]["next_cursor"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(page["has_more"], !cursor.is_empty());
        if cursor.is_empty() {
            break;
        }
    }
    assert!(pages >= 3, "{pages}");
    let as_f64: Vec<f64> = seen.iter().map(|t| t.parse().unwrap()).collect();
    assert!(
        as_f64.windows(2).all(|w| w[0] > w[1]),
        "newest first, no repeats"
    );

    // oldest/latest/inclusive bound the window.
    let (newer, older) = (&seen[10], &seen[20]);
    let window = slack
        .ok(
            "conversations.history",
            &[
                ("channel", "C0SBX0000"),
                ("latest", newer),
                ("oldest", older),
                ("inclusive", "true"),
            ],
        )
        .await;
    assert_eq!(window["messages"].as_array().unwrap().len(), 11);
    let exclusive = slack
        .ok(
            "conversations.history",
            &[
                ("channel", "C0SBX0000"),
                ("latest", newer),
                ("oldest", older),
            ],
        )
        .await;
    assert_eq!(exclusive["messages"].as_array().unwrap().len(), 9);

    // A thread: its parent first, then every reply, oldest first, by known members.
    let first = slack
        .ok(
            "conversations.history",
            &[("channel", "C0SBX0000"), ("limit", "100")],
        )
        .await;
    let parent = first["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["reply_count"].as_u64().unwrap_or(0) >= 3)
        .unwrap()
        .clone();
    let ts = parent["ts"].as_str().unwrap();
    let thread = slack
        .ok(
            "conversations.replies",
            &[("channel", "C0SBX0000"), ("ts", ts)],
        )
        .await;
    let messages = thread["messages"].as_array().unwrap();
    assert_eq!(messages[0]["ts"], ts);
    assert_eq!(
        messages.len() as u64,
        parent["reply_count"].as_u64().unwrap() + 1
    );
    assert_eq!(messages.last().unwrap()["ts"], parent["latest_reply"]);
    for reply in &messages[1..] {
        assert_eq!(reply["thread_ts"], ts);
        assert_eq!(reply["parent_user_id"], parent["user"]);
        let author = reply["user"].as_str().unwrap();
        slack.ok("users.info", &[("user", author)]).await;
    }
    // Paged a reply at a time, from a reply's ts.
    let paged = slack
        .ok(
            "conversations.replies",
            &[
                ("channel", "C0SBX0000"),
                ("ts", messages[1]["ts"].as_str().unwrap()),
                ("limit", "2"),
            ],
        )
        .await;
    assert_eq!(paged["messages"][0]["ts"], ts);
    assert_eq!(paged["has_more"], true);
    let rest = slack
        .ok(
            "conversations.replies",
            &[
                ("channel", "C0SBX0000"),
                ("ts", ts),
                ("limit", "1000"),
                (
                    "cursor",
                    paged["response_metadata"]["next_cursor"].as_str().unwrap(),
                ),
            ],
        )
        .await;
    assert_eq!(rest["messages"][0]["ts"], messages[2]["ts"]);
}

#[tokio::test]
async fn users_lookup_by_email_finds_the_person_hubspot_and_salesforce_seed() {
    let slack = slack().await;
    let person = &nexus_sandbox::population::population().people[7];
    let found = slack
        .ok(
            "users.lookupByEmail",
            &[("email", &person.email.to_uppercase())],
        )
        .await;
    assert_eq!(found["user"]["profile"]["email"], person.email);
    assert_eq!(
        found["user"]["real_name"],
        format!("{} {}", person.first_name, person.last_name)
    );

    // The same address is a HubSpot contact in the same sandbox.
    let hub: Value = slack
        .admin("/tokens", json!({ "provider": "hubspot" }))
        .await
        .json()
        .await
        .unwrap();
    let search: Value = slack
        .client
        .post(format!("{}/hubspot/crm/v3/objects/contacts/search", slack.origin))
        .bearer_auth(hub["access_token"].as_str().unwrap())
        .json(&json!({ "filterGroups": [{ "filters": [{ "propertyName": "email", "operator": "EQ", "value": person.email }] }] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(search["total"], 1, "{search}");
    assert_eq!(
        search["results"][0]["properties"]["firstname"],
        person.first_name
    );
}

/// An Events API request URL: echoes challenges, hands every request to the test, and answers
/// events with the statuses queued in `fail` (then 200).
async fn events_endpoint(
    echo: bool,
    fail: Vec<u16>,
) -> (String, UnboundedReceiver<(HeaderMap, Bytes)>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let fail = Arc::new(Mutex::new(fail));
    let app = axum::Router::new().route(
        "/events",
        post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            let fail = fail.clone();
            async move {
                let parsed: Value = serde_json::from_slice(&body).unwrap_or_default();
                let _ = tx.send((headers, body));
                if parsed["type"] == "url_verification" {
                    let answer = if echo {
                        parsed["challenge"].as_str().unwrap_or("").to_owned()
                    } else {
                        String::new()
                    };
                    return (AxumStatus::OK, answer);
                }
                let mut fail = fail.lock().unwrap();
                let status = if fail.is_empty() { 200 } else { fail.remove(0) };
                (AxumStatus::from_u16(status).unwrap(), String::new())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, rx)
}

async fn next(rx: &mut UnboundedReceiver<(HeaderMap, Bytes)>) -> (HeaderMap, Bytes) {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a delivery within 10 s")
        .unwrap()
}

/// Verifies a delivery as a Slack app does: v0 HMAC-SHA256 of `v0:{timestamp}:{body}`.
fn verifies(headers: &HeaderMap, body: &[u8]) -> bool {
    let timestamp = headers["x-slack-request-timestamp"].to_str().unwrap();
    let age = chrono::Utc::now().timestamp() - timestamp.parse::<i64>().unwrap();
    let mut mac =
        hmac::Hmac::<Sha256>::new_from_slice(nexus_sandbox::slack::SIGNING_SECRET.as_bytes())
            .unwrap();
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    let expected = format!("v0={}", hex::encode(mac.finalize().into_bytes()));
    age.abs() <= 300 && headers["x-slack-signature"].to_str().unwrap() == expected
}

#[tokio::test]
async fn events_are_verified_then_delivered_signed_with_v0() {
    let slack = slack().await;
    let (url, mut rx) = events_endpoint(true, vec![]).await;
    let registered = slack
        .admin("/webhooks", json!({ "provider": "slack", "url": url }))
        .await;
    assert_eq!(registered.status(), 204);
    let (headers, body) = next(&mut rx).await;
    let challenge: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(challenge["type"], "url_verification");
    assert!(challenge["challenge"].as_str().unwrap().len() > 20);
    assert_eq!(challenge["token"], nexus_sandbox::slack::VERIFICATION_TOKEN);
    assert!(verifies(&headers, &body));

    let posted = slack
        .ok(
            "chat.postMessage",
            &[("channel", "general"), ("text", "event me")],
        )
        .await;
    let (headers, body) = next(&mut rx).await;
    assert!(verifies(&headers, &body), "the signature verifies");
    assert!(
        headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("Slackbot 1.0")
    );
    let mut tampered = body.to_vec();
    let at = tampered.iter().position(|b| *b == b'e').unwrap();
    tampered[at] = b'E';
    assert!(!verifies(&headers, &tampered), "a tampered body does not");
    assert!(headers.get("x-slack-retry-num").is_none());

    let envelope: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(envelope["type"], "event_callback");
    assert_eq!(envelope["team_id"], "T0SBX0001");
    assert_eq!(envelope["api_app_id"], "A0SBX0001");
    assert!(envelope["event_id"].as_str().unwrap().starts_with("Ev"));
    assert!(envelope["event_time"].is_i64());
    assert_eq!(envelope["authorizations"][0]["user_id"], "U0SBXBOT1");
    assert_eq!(envelope["authorizations"][0]["is_bot"], true);
    let event = &envelope["event"];
    assert_eq!(event["type"], "message");
    assert_eq!(event["channel"], posted["channel"]);
    assert_eq!(event["channel_type"], "channel");
    assert_eq!(event["text"], "event me");
    assert_eq!(event["ts"], posted["ts"]);
    assert_eq!(event["event_ts"], posted["ts"]);
    assert_eq!(event["user"], "U0SBXBOT1");

    // A member posting (as in Slack's own client) fires the same event.
    let person = &nexus_sandbox::population::population().people[3];
    let record = slack
        .admin(
            "/records",
            json!({ "provider": "slack", "object": "message", "op": "create", "fields": { "channel": "general", "user": person.email, "text": "from a human", "thread_ts": posted["ts"] } }),
        )
        .await;
    assert_eq!(record.status(), 201);
    let (headers, body) = next(&mut rx).await;
    assert!(verifies(&headers, &body));
    let envelope: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(envelope["event"]["user"], "U0SBX0003");
    assert_eq!(envelope["event"]["thread_ts"], posted["ts"]);
    assert_eq!(envelope["event"]["parent_user_id"], "U0SBXBOT1");
    assert_ne!(envelope["event_id"], json!(null));
}

#[tokio::test]
async fn a_url_that_does_not_echo_the_challenge_is_refused() {
    let slack = slack().await;
    let (url, mut rx) = events_endpoint(false, vec![]).await;
    let refused = slack
        .admin("/webhooks", json!({ "provider": "slack", "url": url }))
        .await;
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("challenge"),
        "{body}"
    );
    let (_, challenge) = next(&mut rx).await;
    assert!(String::from_utf8_lossy(&challenge).contains("url_verification"));

    // Nothing is delivered to an unverified URL: a message posted now reaches nobody, while
    // one posted after a verified registration reaches only that URL.
    slack
        .ok(
            "chat.postMessage",
            &[("channel", "general"), ("text", "nobody hears")],
        )
        .await;
    let (good, mut good_rx) = events_endpoint(true, vec![]).await;
    let registered = slack
        .admin("/webhooks", json!({ "provider": "slack", "url": good }))
        .await;
    assert_eq!(registered.status(), 204);
    next(&mut good_rx).await;
    slack
        .ok(
            "chat.postMessage",
            &[("channel", "general"), ("text", "heard")],
        )
        .await;
    let (_, body) = next(&mut good_rx).await;
    let envelope: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(envelope["event"]["text"], "heard");
    assert!(
        rx.try_recv().is_err(),
        "the refused URL got nothing after its challenge"
    );
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_slacks_retry_headers() {
    let slack = slack().await;
    let (url, mut rx) = events_endpoint(true, vec![500, 503]).await;
    assert_eq!(
        slack
            .admin("/webhooks", json!({ "provider": "slack", "url": url }))
            .await
            .status(),
        204
    );
    next(&mut rx).await;
    slack
        .ok(
            "chat.postMessage",
            &[("channel", "general"), ("text", "retry me")],
        )
        .await;
    let (first, body) = next(&mut rx).await;
    assert!(first.get("x-slack-retry-num").is_none());
    let (retry, again) = next(&mut rx).await;
    assert_eq!(retry["x-slack-retry-num"], "1");
    assert_eq!(retry["x-slack-retry-reason"], "http_error");
    assert_eq!(body, again, "the same event");
    assert!(verifies(&retry, &again));
    // The second retry waits a minute on the sandbox clock.
    slack.admin("/clock", json!({ "advance_s": 61 })).await;
    let (retry, _) = next(&mut rx).await;
    assert_eq!(retry["x-slack-retry-num"], "2");
    assert_eq!(retry["x-slack-retry-reason"], "http_error");
}

#[tokio::test]
async fn faults_and_counters_cover_the_web_api() {
    let slack = slack().await;
    let fault = slack
        .admin("/faults", json!({ "provider": "slack", "path": "/api/users.list", "status": 503, "retry_after": 4, "count": 1 }))
        .await;
    assert_eq!(fault.status(), 204);
    let (status, headers, body) = slack.call("users.list", &[]).await;
    assert_eq!(status, 503);
    assert_eq!(headers["retry-after"], "4");
    assert_eq!(body["ok"], false);
    slack.ok("users.list", &[]).await;

    let counters: Value = slack
        .client
        .get(format!("{}/_sandbox/counters", slack.origin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let users = &counters["slack"]["POST /api/users.list"];
    assert_eq!(users["503"], 1, "{counters}");
    assert_eq!(users["200"], 1, "{counters}");
}
