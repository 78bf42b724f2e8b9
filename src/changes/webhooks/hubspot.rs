//! HubSpot's v3 webhook signature: Base64 HMAC-SHA256, keyed with the app's client secret, of
//! `method + uri + body + timestamp`, where `uri` is the full URL HubSpot called (its `%XX`
//! escapes decoded) and `X-HubSpot-Request-Timestamp` is in epoch milliseconds, refused when more
//! than five minutes old. A delivery is a JSON array of events, each naming its `portalId`:
//! `contact|company|deal.creation`, `.propertyChange` and `.deletion` become changes of the
//! unified type; the rest (associations, merges) keep HubSpot's subscription type.

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use std::collections::HashMap;

use secrecy::{ExposeSecret, SecretString};

use crate::{
    changes::{Appended, Change, Op, Receipt},
    config::Settings,
    providers::Provider,
    upstream::Target,
};

use super::{
    Delivery, Intake, Outcome, ProviderWebhook, Refusal, WebhookError, no_secret, projects,
};

/// How old a signature may be, in milliseconds.
pub const TOLERANCE_MS: i64 = 300_000;

/// Checks the v3 `signature` of a POST to `url` at `timestamp_ms` for `secret` at `now`.
pub fn verify(
    secret: &str,
    url: &str,
    body: &[u8],
    signature: &str,
    timestamp_ms: &str,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    let timestamp: i64 = timestamp_ms
        .parse()
        .map_err(|_| Refusal::Malformed("X-HubSpot-Request-Timestamp is not a number"))?;
    let expected = STANDARD
        .decode(signature)
        .map_err(|_| Refusal::Malformed("X-HubSpot-Signature-v3 is not Base64"))?;
    let uri = percent_encoding::percent_decode_str(url).decode_utf8_lossy();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| Refusal::Malformed("unusable secret"))?;
    mac.update(b"POST");
    mac.update(uri.as_bytes());
    mac.update(body);
    mac.update(timestamp_ms.as_bytes());
    mac.verify_slice(&expected)
        .map_err(|_| Refusal::BadSignature)?;
    if now.timestamp_millis() - timestamp > TOLERANCE_MS {
        return Err(Refusal::Stale);
    }
    Ok(())
}

/// One event of a delivery: the portal it belongs to, its dedupe key, and its change.
pub struct PortalChange {
    pub portal_id: String,
    pub event_key: String,
    pub change: Change,
}

/// The events of a verified delivery.
pub fn changes(body: &[u8]) -> Result<Vec<PortalChange>, Refusal> {
    let events: Vec<Value> = serde_json::from_slice(body)
        .map_err(|_| Refusal::Malformed("the body is not an array of HubSpot events"))?;
    events
        .into_iter()
        .map(|event| {
            let text = |name: &str| match &event[name] {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            };
            let (Some(portal_id), Some(subscription), Some(event_id)) =
                (text("portalId"), text("subscriptionType"), text("eventId"))
            else {
                return Err(Refusal::Malformed(
                    "an event lacks portalId, subscriptionType or eventId",
                ));
            };
            let object_id = text("objectId").unwrap_or_default();
            // HubSpot's eventId alone is not unique; its docs name the four fields that are.
            let event_key = format!(
                "{portal_id}:{}:{event_id}:{}:{object_id}",
                text("subscriptionId").unwrap_or_default(),
                text("occurredAt").unwrap_or_default(),
            );
            let (object, action) = subscription
                .split_once('.')
                .unwrap_or((subscription.as_str(), ""));
            let unified = match object {
                "contact" => Some("Contact"),
                "company" => Some("Company"),
                "deal" => Some("Deal"),
                _ => None,
            };
            let op = match action {
                "creation" => Some(Op::Created),
                "propertyChange" => Some(Op::Updated),
                "deletion" => Some(Op::Deleted),
                _ => None,
            };
            let (kind, op) = match (unified, op) {
                (Some(kind), Some(op)) => (kind.to_owned(), op),
                _ => (format!("hubspot:{subscription}"), Op::Updated),
            };
            let occurred_at = event["occurredAt"]
                .as_i64()
                .and_then(DateTime::from_timestamp_millis)
                .unwrap_or_else(Utc::now);
            Ok(PortalChange {
                portal_id,
                event_key,
                change: Change {
                    user_id: None,
                    op,
                    provider: Provider::Hubspot,
                    kind,
                    remote_id: object_id,
                    data: event,
                    occurred_at,
                },
            })
        })
        .collect()
}

/// HubSpot's webhooks, signed with the app's client secret and routed by portal.
pub struct Webhook {
    secret: Option<SecretString>,
}

impl Webhook {
    pub fn new(settings: &Settings) -> Self {
        Self {
            secret: settings
                .providers
                .get(Provider::Hubspot.slug())
                .and_then(|p| p.client_secret.clone()),
        }
    }
}

#[async_trait::async_trait]
impl ProviderWebhook for Webhook {
    async fn receive(
        &self,
        intake: &Intake,
        delivery: Delivery<'_>,
    ) -> Result<Outcome, WebhookError> {
        let Some(secret) = &self.secret else {
            return Err(no_secret(Provider::Hubspot));
        };
        verify(
            secret.expose_secret(),
            &delivery.url,
            delivery.body,
            delivery.header("x-hubspot-signature-v3")?,
            delivery.header("x-hubspot-request-timestamp")?,
            Utc::now(),
        )?;
        let mut stored = 0;
        // A delivery batches events, mostly of one portal: its connections are read once.
        let mut portals: HashMap<String, Vec<Target>> = HashMap::new();
        for event in changes(delivery.body)? {
            if !portals.contains_key(&event.portal_id) {
                let connections = intake
                    .connections_of(Provider::Hubspot, &event.portal_id)
                    .await?;
                portals.insert(event.portal_id.clone(), connections);
            }
            let connections = &portals[&event.portal_id];
            for project in projects(connections) {
                let receipt = Receipt {
                    provider: Provider::Hubspot,
                    event_id: format!("{project}:{}", event.event_key),
                };
                let in_project: Vec<Target> = connections
                    .iter()
                    .filter(|t| t.tenant.project_id == project)
                    .copied()
                    .collect();
                let appended = intake
                    .take_in(project, &in_project, &receipt, event.change.clone())
                    .await?;
                if appended != Appended::Duplicate {
                    stored += 1;
                    intake.nudge_project(project, Provider::Hubspot);
                }
            }
        }
        Ok(Outcome::Stored(stored))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
    const URL: &str = "https://www.example.com/webhook_uri";
    const BODY: &str = r#"{"example_field":"example_value"}"#;
    const V3: &str = "rQEKkaNUiu+1qGF//O/pw4BCzstSqO1PyUnGICmf+7o=";

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    #[test]
    fn the_documented_vector_verifies_within_five_minutes() {
        let ok = verify(
            SECRET,
            URL,
            BODY.as_bytes(),
            V3,
            "1700000000000",
            at(1_700_000_300_000),
        );
        assert_eq!(ok, Ok(()));
        let stale = verify(
            SECRET,
            URL,
            BODY.as_bytes(),
            V3,
            "1700000000000",
            at(1_700_000_300_001),
        );
        assert_eq!(stale, Err(Refusal::Stale));
    }

    #[test]
    fn another_url_body_or_secret_does_not() {
        let now = at(1_700_000_000_000);
        for (secret, url, body) in [
            ("x", URL, BODY),
            (SECRET, "https://www.example.com/other", BODY),
            (SECRET, URL, r#"{"example_field":"other"}"#),
        ] {
            assert_eq!(
                verify(secret, url, body.as_bytes(), V3, "1700000000000", now),
                Err(Refusal::BadSignature)
            );
        }
    }

    #[test]
    fn events_become_changes_of_their_type() {
        let body = br#"[{"eventId":7,"subscriptionId":1,"portalId":62515,"occurredAt":1700000000000,"subscriptionType":"deal.deletion","objectId":42},
                        {"eventId":8,"subscriptionId":1,"portalId":62515,"occurredAt":1700000000000,"subscriptionType":"contact.associationChange","objectId":43}]"#;
        let changes = changes(body).unwrap();
        assert_eq!(changes[0].portal_id, "62515");
        assert_eq!(
            (
                changes[0].change.op,
                changes[0].change.kind.as_str(),
                changes[0].change.remote_id.as_str()
            ),
            (Op::Deleted, "Deal", "42")
        );
        assert_eq!(changes[1].change.kind, "hubspot:contact.associationChange");
        assert_ne!(changes[0].event_key, changes[1].event_key);
    }
}
