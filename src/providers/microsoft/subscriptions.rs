//! Graph change-notification subscriptions for a connection (Outlook or Teams): create
//! (`POST /v1.0/subscriptions`, 201 — Graph first calls the notification URL with its
//! `validationToken` handshake), renew (`PATCH /v1.0/subscriptions/{id}` with a new
//! `expirationDateTime`, 200) and delete (`DELETE /v1.0/subscriptions/{id}`, 204). Creating and
//! deleting are writes (never retried once sent); a renewal sets an absolute time, so it is
//! harmless to repeat.

use chrono::{DateTime, SecondsFormat, Utc};
use http::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use crate::upstream::{Call, ProviderError, Target};

use super::{MicrosoftProvider, error::classify};

/// A subscription as Graph answers it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphSubscription {
    pub id: String,
    pub resource: String,
    pub expiration_date_time: DateTime<Utc>,
}

/// What to subscribe to.
pub struct NewSubscription<'a> {
    /// `me/messages`, `me/events`, `teams/{id}/channels/{id}/messages`.
    pub resource: &'a str,
    pub notification_url: &'a str,
    pub client_state: &'a SecretString,
    pub expires_at: DateTime<Utc>,
}

fn at(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl MicrosoftProvider {
    pub async fn create_subscription(
        &self,
        target: Target,
        new: &NewSubscription<'_>,
    ) -> Result<GraphSubscription, ProviderError> {
        let call = Call::write(
            "graph.subscribe",
            Method::POST,
            "/v1.0/subscriptions",
            json!({
                "changeType": "created,updated,deleted",
                "notificationUrl": new.notification_url,
                "resource": new.resource,
                "expirationDateTime": at(new.expires_at),
                "clientState": new.client_state.expose_secret(),
                "latestSupportedTlsVersion": "v1_2",
            }),
        );
        let provider = target.provider;
        self.upstream
            .send(target, &call, classify)
            .await?
            .json(provider, call.op)
    }

    pub async fn renew_subscription(
        &self,
        target: Target,
        id: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<GraphSubscription, ProviderError> {
        let mut call = Call::write(
            "graph.renew",
            Method::PATCH,
            format!("/v1.0/subscriptions/{id}"),
            json!({ "expirationDateTime": at(expires_at) }),
        );
        call.idempotent = true;
        let provider = target.provider;
        self.upstream
            .send(target, &call, classify)
            .await?
            .json(provider, call.op)
    }

    pub async fn delete_subscription(&self, target: Target, id: &str) -> Result<(), ProviderError> {
        let call = Call {
            body: None,
            ..Call::write(
                "graph.unsubscribe",
                Method::DELETE,
                format!("/v1.0/subscriptions/{id}"),
                json!({}),
            )
        };
        self.upstream.send(target, &call, classify).await?;
        Ok(())
    }
}
