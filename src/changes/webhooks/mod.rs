//! Webhook deliveries, verified before anything is stored: each provider's module checks its
//! signature scheme and turns a verified body into changes with the provider's event id as the
//! receipt, so a redelivery is acknowledged and stored once.

pub mod stripe;

use chrono::Utc;
use http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};

use crate::{config::Settings, providers::Provider, store::Tenants};

use super::{Appended, ChangeLog};

/// Why a delivery was refused; nothing of it is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the signature does not match")]
    BadSignature,
    #[error("the signature is too old")]
    Stale,
    #[error("{0}")]
    Malformed(&'static str),
}

/// Why a delivery was not taken in.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// This gateway takes no webhooks of that provider (or has no secret configured for it).
    #[error("{0}")]
    NotServed(String),
    #[error("could not store the delivery: {0}")]
    Store(#[from] sea_orm::DbErr),
}

/// What happened to a verified delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Stored,
    /// Seen before (the provider's event id): acknowledged, not stored again.
    Duplicate,
}

/// Takes webhook deliveries into the change log.
#[derive(Clone)]
pub struct Webhooks {
    log: ChangeLog,
    tenants: Tenants,
    stripe_secret: Option<SecretString>,
    default_project: Option<String>,
}

impl Webhooks {
    pub fn new(log: ChangeLog, tenants: Tenants, settings: &Settings) -> Self {
        let secret = |slug: &str| {
            settings
                .providers
                .get(slug)
                .and_then(|p| p.webhook_secret.clone())
        };
        Self {
            log,
            tenants,
            stripe_secret: secret(Provider::Stripe.slug()),
            default_project: settings.changes.default_project.clone(),
        }
    }

    /// Verifies a delivery to `/webhooks/{provider}` and stores its changes once.
    pub async fn receive(
        &self,
        provider: Provider,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Outcome, WebhookError> {
        match provider {
            Provider::Stripe => self.stripe(headers, body).await,
            other => Err(WebhookError::NotServed(format!(
                "this gateway takes no {} webhooks",
                other.entry().name
            ))),
        }
    }

    async fn stripe(&self, headers: &HeaderMap, body: &[u8]) -> Result<Outcome, WebhookError> {
        let (Some(secret), Some(project)) = (&self.stripe_secret, &self.default_project) else {
            return Err(WebhookError::NotServed(
                "Stripe webhooks need providers.stripe.webhook_secret and changes.default_project"
                    .into(),
            ));
        };
        let signature = headers
            .get("stripe-signature")
            .and_then(|v| v.to_str().ok())
            .ok_or(Refusal::Malformed("no Stripe-Signature header"))?;
        stripe::verify(secret.expose_secret(), signature, body, Utc::now())?;
        let (receipt, change) = stripe::change(body)?;
        let project = self.tenants.ensure_project(project).await?;
        Ok(
            match self
                .log
                .append(project.id, Some(&receipt), vec![change])
                .await?
            {
                Appended::Stored { .. } => Outcome::Stored,
                Appended::Duplicate => Outcome::Duplicate,
            },
        )
    }
}
