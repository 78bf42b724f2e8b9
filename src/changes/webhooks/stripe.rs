//! Stripe's webhook signature (`Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...][,v0=...]`): the
//! HMAC-SHA256 of `"{t}.{raw body}"` keyed with the endpoint's `whsec_…` secret, compared in
//! constant time with every `v1` (two arrive while a secret is rolled; `v0` is ignored), and
//! refused when `t` is older than the tolerance (300 s, the official libraries' default). An
//! event becomes a change: `customer.*` as a Contact change; the rest as `stripe:<event type>`.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::{
    auth::Tenant,
    changes::{Appended, Change, Op, Receipt},
    config::Settings,
    providers::Provider,
};

use super::{Delivery, Intake, Outcome, ProviderWebhook, Refusal, WebhookError, no_secret};

/// How old a signature may be.
pub const TOLERANCE_SECS: i64 = 300;

/// Checks `header` against `body` for `secret` at `now`.
pub fn verify(secret: &str, header: &str, body: &[u8], now: DateTime<Utc>) -> Result<(), Refusal> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => candidates.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(Refusal::Malformed("the signature has no timestamp"))?;
    if candidates.is_empty() {
        return Err(Refusal::Malformed("the signature has no v1 value"));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| Refusal::Malformed("unusable secret"))?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let matched = candidates
        .iter()
        .any(|candidate| mac.clone().verify_slice(candidate).is_ok());
    if !matched {
        return Err(Refusal::BadSignature);
    }
    if timestamp < now.timestamp() - TOLERANCE_SECS {
        return Err(Refusal::Stale);
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: Value,
}

/// The change a verified event body records, and its receipt.
pub fn change(body: &[u8]) -> Result<(Receipt, Change), Refusal> {
    let raw: Value =
        serde_json::from_slice(body).map_err(|_| Refusal::Malformed("the body is not JSON"))?;
    let event: Event = serde_json::from_value(raw.clone())
        .map_err(|_| Refusal::Malformed("the body is not a Stripe event"))?;
    let object_id = event.data.object["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let action = event.kind.rsplit('.').next().unwrap_or_default();
    let op = match action {
        "created" => Op::Created,
        "deleted" => Op::Deleted,
        _ => Op::Updated,
    };
    let kind = if event.kind.starts_with("customer.")
        && !event.kind.starts_with("customer.subscription.")
    {
        "Contact".to_owned()
    } else {
        format!("stripe:{}", event.kind)
    };
    let occurred_at = DateTime::from_timestamp(event.created, 0).unwrap_or_else(Utc::now);
    Ok((
        Receipt {
            provider: Provider::Stripe,
            event_id: event.id,
        },
        Change {
            user_id: None,
            op,
            provider: Provider::Stripe,
            kind,
            remote_id: object_id,
            data: raw,
            occurred_at,
        },
    ))
}

/// Stripe's webhooks: `/webhooks/stripe` serves the default project, verified with the
/// configured secret; `/webhooks/stripe/{endpoint}` a project's own endpoint (`connectStripe`),
/// found by its id (the connection's account) and verified with that project's secret.
pub struct Webhook {
    secret: Option<SecretString>,
}

impl Webhook {
    pub fn new(settings: &Settings) -> Self {
        Self {
            secret: settings
                .providers
                .get(Provider::Stripe.slug())
                .and_then(|p| p.webhook_secret.clone()),
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
            return Err(no_secret(Provider::Stripe));
        };
        let Some(project) = &intake.default_project else {
            return Err(WebhookError::NotServed(
                "Stripe webhooks need changes.default_project".into(),
            ));
        };
        let project = intake.tenants.ensure_project(project).await?;
        take(intake, project.id, None, secret.expose_secret(), delivery).await
    }

    async fn receive_at(
        &self,
        intake: &Intake,
        endpoint: &str,
        delivery: Delivery<'_>,
    ) -> Result<Outcome, WebhookError> {
        let unknown = || WebhookError::NotServed("no such Stripe endpoint".into());
        let target = intake
            .connections_of(Provider::Stripe, endpoint)
            .await?
            .into_iter()
            .next()
            .ok_or_else(unknown)?;
        let Tenant {
            user_id,
            project_id,
        } = target.tenant;
        let credential = intake
            .credentials
            .read(user_id, project_id, Provider::Stripe)
            .await
            .map_err(|e| WebhookError::Unreadable(e.to_string()))?
            .ok_or_else(unknown)?;
        let secret = credential.tokens.access_token;
        take(
            intake,
            project_id,
            Some(user_id),
            secret.expose_secret(),
            delivery,
        )
        .await
    }
}

/// Verifies a delivery with `secret` and stores its change for `project_id` once, as `user`'s
/// (the connection's behind a project's own endpoint; none for the default project's).
async fn take(
    intake: &Intake,
    project_id: Uuid,
    user: Option<Uuid>,
    secret: &str,
    delivery: Delivery<'_>,
) -> Result<Outcome, WebhookError> {
    let signature = delivery.header("stripe-signature")?;
    verify(secret, signature, delivery.body, Utc::now())?;
    let (mut receipt, change) = change(delivery.body)?;
    let change = change.of(user);
    receipt.event_id = format!("{project_id}:{}", receipt.event_id);
    Ok(
        match intake
            .log
            .append(project_id, Some(&receipt), vec![change])
            .await?
        {
            Appended::Stored { .. } => Outcome::Stored(1),
            Appended::Duplicate => Outcome::Duplicate,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const BODY: &str = r#"{"id":"evt_test","object":"event"}"#;
    const V1: &str = "8042376f6ca064adbe037642a718227dfd59047137eb49497a54c49eb0cfb724";

    fn at(unix: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(unix, 0).unwrap()
    }

    #[test]
    fn the_documented_vector_verifies() {
        let header = format!("t=1700000000,v1={V1}");
        assert_eq!(
            verify(SECRET, &header, BODY.as_bytes(), at(1_700_000_100)),
            Ok(())
        );
    }

    #[test]
    fn any_of_several_v1_values_passes_and_v0_is_ignored() {
        let header = format!("t=1700000000,v0=00ff,v1={},v1={V1}", "ab".repeat(32));
        assert_eq!(
            verify(SECRET, &header, BODY.as_bytes(), at(1_700_000_000)),
            Ok(())
        );
    }

    #[test]
    fn tampered_stale_and_malformed_signatures_are_refused() {
        let header = format!("t=1700000000,v1={V1}");
        let tampered = BODY.replace("evt_test", "evt_tEst");
        assert_eq!(
            verify(SECRET, &header, tampered.as_bytes(), at(1_700_000_000)),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            verify(SECRET, &header, BODY.as_bytes(), at(1_700_000_301)),
            Err(Refusal::Stale)
        );
        assert!(matches!(
            verify(SECRET, "v1=abc", BODY.as_bytes(), at(1_700_000_000)),
            Err(Refusal::Malformed(_))
        ));
        assert_eq!(
            verify("whsec_other", &header, BODY.as_bytes(), at(1_700_000_000)),
            Err(Refusal::BadSignature)
        );
    }

    #[test]
    fn customers_are_contacts_and_the_rest_keep_their_type() {
        let body = br#"{"id":"evt_1","type":"customer.deleted","created":1700000000,"data":{"object":{"id":"cus_1"}}}"#;
        let (receipt, change) = change(body).unwrap();
        assert_eq!(receipt.event_id, "evt_1");
        assert_eq!(
            (change.op, change.kind.as_str(), change.remote_id.as_str()),
            (Op::Deleted, "Contact", "cus_1")
        );
        let body = br#"{"id":"evt_2","type":"invoice.paid","created":1700000000,"data":{"object":{"id":"in_1"}}}"#;
        let (_, change) = super::change(body).unwrap();
        assert_eq!(
            (change.op, change.kind.as_str()),
            (Op::Updated, "stripe:invoice.paid")
        );
    }
}
