//! `connectProvider` and `disconnectProvider`: starting and ending a provider connection.

use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use nexus_core::Target;

use crate::providers::Cataloged;
use crate::{
    changes::{keeper::Keeper, webhooks::salesforce},
    oauth::ConnectError,
    providers::Provider,
    vault::TokenSet,
};

use super::{
    AppContext,
    errors::{ErrorCode, bad_input, internal, provider_error},
    lists::tenant,
    types::ProviderEnum,
};

/// Where to send the user to grant access, and until when the link works.
#[derive(SimpleObject)]
pub struct ConnectLink {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// A project's own Stripe webhook endpoint.
#[derive(SimpleObject)]
pub struct StripeEndpoint {
    /// The URL to give Stripe for this endpoint.
    pub url: String,
}

/// Where a Salesforce connection's outbound messages go.
#[derive(SimpleObject)]
pub struct SalesforceOutboundEndpoint {
    /// The Endpoint URL to give the outbound message. It carries the endpoint's only secret and
    /// is shown this once.
    pub url: String,
}

#[derive(Default)]
pub struct ConnectMutation;

#[Object]
impl ConnectMutation {
    /// The provider's authorize URL for this caller; after consent, the browser returns to
    /// `redirectAfter` (an allowed origin).
    async fn connect_provider(
        &self,
        ctx: &Context<'_>,
        provider: ProviderEnum,
        redirect_after: Option<String>,
    ) -> Result<ConnectLink> {
        let tenant = tenant(ctx)?;
        let provider = Provider::from(provider);
        let link = ctx
            .data_unchecked::<AppContext>()
            .connect
            .start(tenant, provider, redirect_after.as_deref())
            .await
            .map_err(|error| match error {
                ConnectError::NoOauth(_) => bad_input("provider", error.to_string()),
                ConnectError::RedirectNotAllowed => bad_input("redirectAfter", error.to_string()),
                ConnectError::NotConfigured(..) => {
                    provider_error(ErrorCode::Unsupported, provider, error.to_string())
                }
                ConnectError::BadUrl | ConnectError::Store(_) => internal(error),
            })?;
        Ok(ConnectLink {
            url: link.url,
            expires_at: link.expires_at,
        })
    }

    /// Connects Stripe for the caller's project: stores the signing secret (`whsec_…`) Stripe
    /// shows for the endpoint, sealed like a token, and returns the endpoint's URL to register
    /// at Stripe (the same URL when the secret is replaced, e.g. after rolling it).
    async fn connect_stripe(
        &self,
        ctx: &Context<'_>,
        signing_secret: String,
    ) -> Result<StripeEndpoint> {
        let tenant = tenant(ctx)?;
        let secret = signing_secret.trim();
        if !secret.starts_with("whsec_") || secret.len() < 16 || secret.len() > 256 {
            return Err(bad_input(
                "signingSecret",
                "a Stripe signing secret starts with whsec_",
            ));
        }
        let app = ctx.data_unchecked::<AppContext>();
        let existing = app
            .credentials
            .read(tenant.user_id, tenant.project_id, Provider::Stripe)
            .await
            .ok()
            .flatten()
            .and_then(|c| c.tokens.metadata["endpoint_id"].as_str().map(str::to_owned));
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
        app.credentials
            .upsert(tenant.user_id, tenant.project_id, Provider::Stripe, &tokens)
            .await
            .map_err(internal)?;
        Ok(StripeEndpoint {
            url: format!("{}/webhooks/stripe/{endpoint}", app.connect.public_origin()),
        })
    }

    /// A new endpoint for the caller's Salesforce connection's outbound messages (workflow rules
    /// and flows): set its URL as the outbound message's Endpoint URL. Salesforce signs nothing,
    /// so the URL carries a random token; only its hash is kept, so the URL is shown once, and
    /// asking again makes a new one and retires the old. It outlives connecting again;
    /// disconnecting retires it. Messages from another org than the connection's are refused.
    async fn salesforce_outbound_url(
        &self,
        ctx: &Context<'_>,
    ) -> Result<SalesforceOutboundEndpoint> {
        let tenant = tenant(ctx)?;
        let app = ctx.data_unchecked::<AppContext>();
        let token = salesforce::new_token();
        let set = app
            .credentials
            .set_metadata(
                tenant.user_id,
                tenant.project_id,
                Provider::Salesforce,
                salesforce::TOKEN_HASH,
                serde_json::json!(salesforce::token_hash(&token)),
            )
            .await
            .map_err(internal)?;
        if !set {
            return Err(provider_error(
                ErrorCode::NotConnected,
                Provider::Salesforce,
                "Salesforce is not connected for this project",
            ));
        }
        Ok(SalesforceOutboundEndpoint {
            url: format!(
                "{}/webhooks/salesforce/{token}",
                app.connect.public_origin()
            ),
        })
    }

    /// Revokes the caller's tokens at the provider where it can, and forgets the connection.
    async fn disconnect_provider(&self, ctx: &Context<'_>, provider: ProviderEnum) -> Result<bool> {
        let tenant = tenant(ctx)?;
        let provider = Provider::from(provider);
        let app = ctx.data_unchecked::<AppContext>();
        if matches!(provider, Provider::Outlook | Provider::Teams) {
            // Before the tokens go: deleting at Graph needs them. One that fails is logged; Graph
            // lets an orphaned subscription expire on its own.
            if let Err(cause) = app
                .graph_subscriptions
                .stop(Target { tenant, provider })
                .await
            {
                tracing::warn!(provider = provider.slug(), %cause, "Graph subscriptions not deleted");
            }
        }
        if matches!(provider, Provider::Gmail | Provider::GoogleCalendar) {
            // Before the tokens go, likewise; an orphaned watch or channel expires in a week.
            if let Err(cause) = app.google_watches.stop(Target { tenant, provider }).await {
                tracing::warn!(provider = provider.slug(), %cause, "Google watches not stopped");
            }
        }
        let deleted = app
            .connect
            .disconnect(tenant, provider)
            .await
            .map_err(internal)?;
        if deleted {
            Ok(true)
        } else {
            Err(provider_error(
                ErrorCode::NotConnected,
                provider,
                format!(
                    "{} is not connected for this project",
                    provider.entry().name
                ),
            ))
        }
    }
}
