//! The Events API. Registering a request URL (`POST /_sandbox/webhooks`, provider `slack`)
//! does what saving it in Slack's app settings does: Slack POSTs a signed `url_verification`
//! challenge and accepts the URL only if the answer (within 3 s, HTTP 200) carries the challenge
//! as plain text, as JSON `{"challenge":...}` or as a form `challenge=...`; otherwise the
//! registration is refused with the message Slack's settings page shows, and nothing is sent.
//!
//! Then every message (from `chat.postMessage` or a member's post through the admin API) is
//! delivered as an `event_callback` envelope signed with v0 signatures: `X-Slack-Signature:
//! v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}">` keyed with the signing secret, and
//! `X-Slack-Request-Timestamp` (real time, whatever the sandbox clock says). A delivery that
//! fails (no 2xx within 3 s) is retried three times with `X-Slack-Retry-Num` and
//! `X-Slack-Retry-Reason`: at once, a minute later, then five minutes later, on the sandbox
//! clock (advance it to see them); `X-Slack-No-Retry: 1` in an answer stops the retries.

use std::{sync::Arc, time::Duration as StdDuration};

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Duration;
use hmac::{KeyInit, Mac};
use rand::RngCore;
use serde_json::{Value, json};
use sha2::Sha256;

use super::{
    SIGNING_SECRET, SLUG, SandboxState, VERIFICATION_TOKEN,
    store::{APP_ID, BOT_ID, BOT_USER_ID, Channel, Message, Workspace, ts_string},
};
use crate::webhooks::WebhookTarget;

/// Slack waits this long for an answer.
const ANSWER_WITHIN: StdDuration = StdDuration::from_secs(3);
/// Delays before retries 1, 2 and 3, each after the previous attempt failed.
const RETRY_DELAYS_S: [i64; 3] = [0, 60, 300];

/// `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac =
        hmac::Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

fn signed_headers(secret: &str, body: &str) -> Vec<(&'static str, String)> {
    let timestamp = chrono::Utc::now().timestamp();
    vec![
        ("content-type", "application/json".to_owned()),
        (
            "user-agent",
            "Slackbot 1.0 (+https://api.slack.com/robots)".to_owned(),
        ),
        ("x-slack-request-timestamp", timestamp.to_string()),
        ("x-slack-signature", signature(secret, timestamp, body)),
    ]
}

/// The `event_callback` envelope of a `message` event.
pub fn message_event(workspace: &mut Workspace, channel: &Channel, message: &Message) -> Value {
    let ts = ts_string(message.ts);
    let mut event = json!({
        "type": "message",
        "channel": channel.id,
        "user": message.user,
        "text": message.text,
        "ts": ts,
        "event_ts": ts,
        "team": workspace.team_id,
        "channel_type": if channel.private { "group" } else { "channel" },
    });
    if message.user == BOT_USER_ID {
        event["bot_id"] = json!(BOT_ID);
        event["app_id"] = json!(APP_ID);
    }
    if let Some(parent) = message.thread_ts.filter(|p| *p != message.ts) {
        event["thread_ts"] = json!(ts_string(parent));
        if let Some(p) = workspace.find(&channel.id, parent) {
            event["parent_user_id"] = json!(p.user);
        }
        if message.broadcast {
            event["subtype"] = json!("thread_broadcast");
        }
    }
    if let Some(blocks) = &message.blocks {
        event["blocks"] = blocks.clone();
    }
    let team = workspace.team_id.clone();
    json!({
        "token": VERIFICATION_TOKEN,
        "team_id": team,
        "context_team_id": team,
        "context_enterprise_id": null,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": workspace.event_id(),
        "event_time": message.ts / 1_000_000,
        "authorizations": [{
            "enterprise_id": null,
            "team_id": team,
            "user_id": BOT_USER_ID,
            "is_bot": true,
            "is_enterprise_install": false,
        }],
        "is_ext_shared_channel": false,
        "event_context": format!("4-{}", URL_SAFE_NO_PAD.encode(format!(r#"{{"et":"message","tid":"{team}","aid":"{APP_ID}","cid":"{}"}}"#, channel.id))),
    })
}

/// How one attempt went.
enum Outcome {
    Delivered,
    /// Failed, with Slack's retry reason; `false` when the target asked for no retries.
    Failed(&'static str, bool),
}

async fn attempt(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    body: &str,
    retry: Option<(usize, &'static str)>,
) -> Outcome {
    let mut request = http.post(url).timeout(ANSWER_WITHIN).body(body.to_owned());
    for (name, value) in signed_headers(secret, body) {
        request = request.header(name, value);
    }
    if let Some((n, reason)) = retry {
        request = request
            .header("x-slack-retry-num", n.to_string())
            .header("x-slack-retry-reason", reason);
    }
    match request.send().await {
        Ok(r) if r.status().is_success() => Outcome::Delivered,
        Ok(r) => {
            let no_retry = r
                .headers()
                .get("x-slack-no-retry")
                .is_some_and(|v| v.as_bytes() == b"1");
            Outcome::Failed("http_error", !no_retry)
        }
        Err(e) if e.is_timeout() => Outcome::Failed("http_timeout", true),
        Err(e) if e.is_connect() => Outcome::Failed("connection_failed", true),
        Err(_) => Outcome::Failed("unknown_error", true),
    }
}

/// Sends an event to the registered request URL in the background, retrying as Slack does.
pub fn deliver(state: &Arc<SandboxState>, envelope: Value) {
    let Some(target) = state.webhook(SLUG) else {
        return;
    };
    let secret = target.secret.unwrap_or_else(|| SIGNING_SECRET.to_owned());
    let body = envelope.to_string();
    let state = state.clone();
    tokio::spawn(async move {
        let mut retry = None;
        for n in 0..=RETRY_DELAYS_S.len() {
            if let Some((_, _)) = retry {
                let due = state.clock.now() + Duration::seconds(RETRY_DELAYS_S[n - 1]);
                // The sandbox clock runs at least as fast as real time, so this ends by itself.
                while state.clock.now() < due {
                    tokio::time::sleep(StdDuration::from_millis(20)).await;
                }
            }
            match attempt(&state.http, &target.url, &secret, &body, retry).await {
                Outcome::Delivered => return,
                Outcome::Failed(reason, retry_allowed) => {
                    if !retry_allowed {
                        return;
                    }
                    retry = Some((n + 1, reason));
                }
            }
        }
        tracing::warn!(url = %target.url, "slack event not delivered after three retries");
    });
}

fn refused(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

/// Whether an answer to the challenge carries it, in any of the three forms Slack takes.
fn echoes(body: &str, challenge: &str) -> bool {
    body.trim() == challenge
        || serde_json::from_str::<Value>(body)
            .ok()
            .is_some_and(|v| v["challenge"] == challenge)
        || url::form_urlencoded::parse(body.as_bytes())
            .any(|(k, v)| k == "challenge" && v == challenge)
}

/// Verifies a request URL with a `url_verification` challenge, then keeps it.
pub async fn register(state: &Arc<SandboxState>, url: String, secret: Option<String>) -> Response {
    if url::Url::parse(&url).is_err() {
        return refused("url must be an absolute URL");
    }
    let mut bytes = [0u8; 36];
    rand::rng().fill_bytes(&mut bytes);
    let challenge = URL_SAFE_NO_PAD.encode(bytes);
    let body = json!({
        "token": VERIFICATION_TOKEN,
        "challenge": challenge,
        "type": "url_verification",
    })
    .to_string();
    let signing = secret.clone().unwrap_or_else(|| SIGNING_SECRET.to_owned());
    let mut request = state
        .http
        .post(&url)
        .timeout(ANSWER_WITHIN)
        .body(body.clone());
    for (name, value) in signed_headers(&signing, &body) {
        request = request.header(name, value);
    }
    let answer = match request.send().await {
        Ok(r) if r.status() == StatusCode::OK => r.text().await.unwrap_or_default(),
        Ok(r) => {
            return refused(&format!(
                "Your request URL responded with an HTTP error ({}).",
                r.status().as_u16()
            ));
        }
        Err(_) => return refused("Your request URL didn't respond in time (3 seconds)."),
    };
    if !echoes(&answer, &challenge) {
        return refused("Your URL didn't respond with the value of the challenge parameter.");
    }
    state
        .webhooks
        .lock()
        .expect("webhooks lock")
        .insert(SLUG.to_owned(), WebhookTarget { url, secret });
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v0_signature_matches_slacks_documented_example() {
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        assert_eq!(
            signature("8f742231b10e8888abcd99yyyzzz85a5", 1_531_420_618, body),
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
    }

    #[test]
    fn a_challenge_may_come_back_in_three_forms() {
        assert!(echoes("abc", "abc"));
        assert!(echoes(r#"{"challenge":"abc"}"#, "abc"));
        assert!(echoes("challenge=abc", "abc"));
        assert!(!echoes("", "abc"));
        assert!(!echoes(r#"{"challenge":"abd"}"#, "abc"));
    }
}
