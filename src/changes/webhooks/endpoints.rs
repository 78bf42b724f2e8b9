//! A connection's or project's own webhook endpoint, made on request (`connectStripe`,
//! `salesforceOutboundUrl`): what is stored for it, and the URL to give the provider.
//!
//! - Stripe: the signing secret (`whsec_…`) Stripe shows for an endpoint, stored sealed like a
//!   token as the project's Stripe connection, whose metadata keeps the endpoint's random id
//!   (its account, by which `/webhooks/stripe/{endpoint}` finds it); replacing the secret keeps
//!   the id, so the URL stays. Storing it is connecting, told as `connection.created`
//!   (`lifecycle`), as the OAuth callback tells it — again when the secret is replaced.
//! - Salesforce: a new random token for the connection's outbound messages; only its hash is
//!   kept, so the URL is shown once, and a new one retires the old.

use crate::{
    auth::Tenant,
    changes::{
        ChangeLog,
        lifecycle::{self, Lifecycle, LifecycleEvent},
    },
    providers::{Cataloged, Provider},
    vault::{CredentialVault, TokenSet, VaultError},
};

use super::salesforce;

/// Why no endpoint was made.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The secret given is not one the provider issues (the message says what it should be).
    #[error("{0}")]
    InvalidSecret(&'static str),
    #[error("{} is not connected for this project", .0.entry().name)]
    NotConnected(Provider),
    #[error(transparent)]
    Store(#[from] VaultError),
}

/// Makes webhook endpoints and tells their URLs.
#[derive(Clone)]
pub struct WebhookEndpoints {
    credentials: CredentialVault,
    public_origin: String,
    lifecycle: Option<ChangeLog>,
}

impl WebhookEndpoints {
    pub fn new(credentials: CredentialVault, public_origin: String) -> Self {
        Self {
            credentials,
            public_origin,
            lifecycle: None,
        }
    }

    /// Tells `log` of the connections made here (`changes::lifecycle`).
    pub fn with_lifecycle(mut self, log: ChangeLog) -> Self {
        self.lifecycle = Some(log);
        self
    }

    fn url(&self, provider: Provider, endpoint: &str) -> String {
        format!(
            "{}/webhooks/{}/{endpoint}",
            self.public_origin,
            provider.slug()
        )
    }

    /// Stores `signing_secret` as the tenant's Stripe connection; the URL to register at Stripe.
    pub async fn connect_stripe(
        &self,
        tenant: Tenant,
        signing_secret: &str,
    ) -> Result<String, EndpointError> {
        let secret = signing_secret.trim();
        if !secret.starts_with("whsec_") || secret.len() < 16 || secret.len() > 256 {
            return Err(EndpointError::InvalidSecret(
                "a Stripe signing secret starts with whsec_",
            ));
        }
        let existing = self
            .credentials
            .read(tenant.user_id, tenant.project_id, Provider::Stripe)
            .await
            .ok()
            .flatten()
            .and_then(|c| c.tokens.metadata["endpoint_id"].as_str().map(str::to_owned));
        let replaced = existing.is_some();
        let endpoint = existing.unwrap_or_else(|| {
            let mut bytes = [0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
            hex::encode(bytes)
        });
        let tokens = TokenSet {
            access_token: secret.to_owned().into(),
            refresh_token: None,
            expires_at: None,
            scopes: Vec::new(),
            metadata: serde_json::json!({ "endpoint_id": endpoint }),
        };
        self.credentials
            .upsert(tenant.user_id, tenant.project_id, Provider::Stripe, &tokens)
            .await?;
        if let Some(log) = &self.lifecycle {
            let event = LifecycleEvent::connection(
                Lifecycle::ConnectionCreated,
                tenant,
                Provider::Stripe,
                serde_json::json!({ "replaced": replaced }),
            );
            lifecycle::tell(log, tenant.project_id, event).await;
        }
        Ok(self.url(Provider::Stripe, &endpoint))
    }

    /// A new endpoint for the tenant's Salesforce connection's outbound messages, retiring the
    /// one before; its URL, which carries its only secret.
    pub async fn salesforce_outbound(&self, tenant: Tenant) -> Result<String, EndpointError> {
        let token = salesforce::new_token();
        let set = self
            .credentials
            .set_metadata(
                tenant.user_id,
                tenant.project_id,
                Provider::Salesforce,
                salesforce::TOKEN_HASH,
                serde_json::json!(salesforce::token_hash(&token)),
            )
            .await?;
        if !set {
            return Err(EndpointError::NotConnected(Provider::Salesforce));
        }
        Ok(self.url(Provider::Salesforce, &token))
    }
}
