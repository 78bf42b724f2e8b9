//! Slack's Events API: v0 signatures (`X-Slack-Signature: v0=<hex HMAC-SHA256 of
//! "v0:{timestamp}:{body}">`, keyed with the app's signing secret, `X-Slack-Request-Timestamp` in
//! seconds and refused when more than five minutes off), the `url_verification` handshake (the
//! challenge answered as plain text), and `event_callback` envelopes routed by `team_id`:
//! messages become Message changes (edits and deletions by their subtypes), other events keep
//! Slack's type as `slack:<type>`. `event_id` dedupes Slack's retries. The envelope is the
//! change's data without its `token` (Slack's deprecated verification token, a shared secret
//! that would let a reader forge deliveries to apps still checking it).

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use secrecy::{ExposeSecret, SecretString};

use crate::{
    changes::{Appended, Change, Op, Receipt},
    config::Settings,
    providers::{
        Provider,
        chat::{Message, Record},
    },
};

use super::{
    Intake, Outcome, ProviderWebhook, Refusal, WebhookError, for_each_user, no_secret, projects,
};

/// How far a timestamp may be from now, in seconds.
pub const TOLERANCE_SECS: i64 = 300;

pub fn verify(
    secret: &str,
    body: &[u8],
    signature: &str,
    timestamp: &str,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    let seconds: i64 = timestamp
        .parse()
        .map_err(|_| Refusal::Malformed("X-Slack-Request-Timestamp is not a number"))?;
    let expected = signature
        .strip_prefix("v0=")
        .and_then(|hex_digest| hex::decode(hex_digest).ok())
        .ok_or(Refusal::Malformed(
            "X-Slack-Signature is not a v0 signature",
        ))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| Refusal::Malformed("unusable secret"))?;
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| Refusal::BadSignature)?;
    if (now.timestamp() - seconds).abs() > TOLERANCE_SECS {
        return Err(Refusal::Stale);
    }
    Ok(())
}

/// What a verified delivery asks of us.
pub enum Delivery {
    /// Answer with this challenge.
    Verification(String),
    /// A workspace's event.
    Event {
        team_id: String,
        event_id: String,
        change: Change,
    },
}

/// The envelope as stored: everything but its verification token.
fn without_token(envelope: &Value) -> Value {
    let mut data = envelope.clone();
    if let Some(fields) = data.as_object_mut() {
        fields.remove("token");
    }
    data
}

pub fn read(body: &[u8]) -> Result<Delivery, Refusal> {
    let envelope: Value = serde_json::from_slice(body)
        .map_err(|_| Refusal::Malformed("the body is not a Slack envelope"))?;
    match envelope["type"].as_str() {
        Some("url_verification") => envelope["challenge"]
            .as_str()
            .map(|c| Delivery::Verification(c.to_owned()))
            .ok_or(Refusal::Malformed("url_verification without a challenge")),
        Some("event_callback") => {
            let (Some(team_id), Some(event_id)) =
                (envelope["team_id"].as_str(), envelope["event_id"].as_str())
            else {
                return Err(Refusal::Malformed("an event without team_id or event_id"));
            };
            let event = &envelope["event"];
            let kind = event["type"].as_str().unwrap_or_default();
            let subtype = event["subtype"].as_str();
            let channel = event["channel"].as_str().unwrap_or_default();
            let (op, unified, ts) = match (kind, subtype) {
                ("message", Some("message_changed")) => {
                    (Op::Updated, true, event["message"]["ts"].as_str())
                }
                ("message", Some("message_deleted")) => {
                    (Op::Deleted, true, event["deleted_ts"].as_str())
                }
                ("message", _) => (Op::Created, true, event["ts"].as_str()),
                _ => (Op::Updated, false, event["event_ts"].as_str()),
            };
            let ts = ts.unwrap_or_default();
            let occurred_at = envelope["event_time"]
                .as_i64()
                .and_then(|s| DateTime::from_timestamp(s, 0))
                .unwrap_or_else(Utc::now);
            Ok(Delivery::Event {
                team_id: team_id.to_owned(),
                event_id: event_id.to_owned(),
                change: Change {
                    user_id: None,
                    op,
                    provider: Provider::Slack,
                    kind: if unified {
                        "Message".to_owned()
                    } else {
                        format!("slack:{kind}")
                    },
                    // A message is known by its channel and ts, as the chat adapter names it.
                    remote_id: if unified {
                        format!("{channel}:{ts}")
                    } else {
                        ts.to_owned()
                    },
                    data: without_token(&envelope),
                    occurred_at,
                },
            })
        }
        _ => Err(Refusal::Malformed("not an Events API envelope")),
    }
}

/// The channel message a delivered change carries, as the chat adapter maps one: a post, or
/// an edit's new version. A thread reply (not in a channel's history, so not in its list) and
/// any other event give none.
pub fn message_record(change: &Change) -> Option<Record<Message>> {
    if change.provider != Provider::Slack || change.kind != "Message" || change.op == Op::Deleted {
        return None;
    }
    let event = &change.data["event"];
    let channel = event["channel"].as_str()?;
    let message = match event["subtype"].as_str() {
        Some("message_changed") => event["message"].clone(),
        _ => event.clone(),
    };
    let ts = message["ts"].as_str()?;
    let reply = message["thread_ts"].as_str().is_some_and(|t| t != ts)
        && message["subtype"].as_str() != Some("thread_broadcast");
    if reply {
        return None;
    }
    crate::providers::slack::channel_message(channel, message)
}

/// Slack's Events API, signed with the app's signing secret and routed by team.
pub struct Webhook {
    secret: Option<SecretString>,
}

impl Webhook {
    pub fn new(settings: &Settings) -> Self {
        Self {
            secret: settings
                .providers
                .get(Provider::Slack.slug())
                .and_then(|p| p.webhook_secret.clone()),
        }
    }
}

#[async_trait::async_trait]
impl ProviderWebhook for Webhook {
    async fn receive(
        &self,
        intake: &Intake,
        delivery: super::Delivery<'_>,
    ) -> Result<Outcome, WebhookError> {
        let Some(secret) = &self.secret else {
            return Err(no_secret(Provider::Slack));
        };
        verify(
            secret.expose_secret(),
            delivery.body,
            delivery.header("x-slack-signature")?,
            delivery.header("x-slack-request-timestamp")?,
            Utc::now(),
        )?;
        let (team_id, event_id, change) = match read(delivery.body)? {
            Delivery::Verification(challenge) => return Ok(Outcome::Challenge(challenge)),
            Delivery::Event {
                team_id,
                event_id,
                change,
            } => (team_id, event_id, change),
        };
        let mut stored = 0;
        let mut duplicate = false;
        let connections = intake.connections_of(Provider::Slack, &team_id).await?;
        for project in projects(&connections) {
            let receipt = Receipt {
                provider: Provider::Slack,
                event_id: format!("{project}:{event_id}"),
            };
            let changes = for_each_user(&connections, project, &change);
            match intake.log.append(project, Some(&receipt), changes).await? {
                Appended::Stored { .. } => {
                    stored += 1;
                    intake.nudge_project(project, Provider::Slack);
                }
                Appended::Duplicate => duplicate = true,
            }
        }
        Ok(if duplicate && stored == 0 {
            Outcome::Duplicate
        } else {
            Outcome::Stored(stored)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's documented example: signing secret, timestamp and body of a slash command.
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn slacks_documented_example_verifies() {
        let now = DateTime::from_timestamp(1_531_420_618, 0).unwrap();
        assert_eq!(
            verify(SECRET, BODY.as_bytes(), SIGNATURE, TIMESTAMP, now),
            Ok(())
        );
        let later = DateTime::from_timestamp(1_531_420_919, 0).unwrap();
        assert_eq!(
            verify(SECRET, BODY.as_bytes(), SIGNATURE, TIMESTAMP, later),
            Err(Refusal::Stale)
        );
        assert_eq!(
            verify("other", BODY.as_bytes(), SIGNATURE, TIMESTAMP, now),
            Err(Refusal::BadSignature)
        );
    }

    #[test]
    fn messages_become_message_changes() {
        let body = br#"{"token":"verification-token","type":"event_callback","team_id":"T1","event_id":"Ev1","event_time":1700000000,
            "event":{"type":"message","subtype":"message_deleted","channel":"C1","deleted_ts":"1700000000.000100"}}"#;
        let Delivery::Event {
            team_id,
            event_id,
            change,
        } = read(body).unwrap()
        else {
            panic!("an event");
        };
        assert_eq!((team_id.as_str(), event_id.as_str()), ("T1", "Ev1"));
        assert_eq!(
            (change.op, change.kind.as_str(), change.remote_id.as_str()),
            (Op::Deleted, "Message", "C1:1700000000.000100")
        );
        assert_eq!(change.data["team_id"], "T1");
        assert!(change.data.get("token").is_none(), "{}", change.data);
        let Delivery::Verification(challenge) =
            read(br#"{"type":"url_verification","challenge":"abc"}"#).unwrap()
        else {
            panic!("a verification");
        };
        assert_eq!(challenge, "abc");
    }
}
