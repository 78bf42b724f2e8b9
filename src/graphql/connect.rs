//! `connectProvider` and `disconnectProvider`: starting and ending a provider connection, with
//! what its provider needs done then (`changes::hooks`); `connectStripe` and
//! `salesforceOutboundUrl` ask `changes::webhooks::endpoints` for a webhook endpoint.

use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use nexus_core::Target;

use crate::{
    changes::webhooks::endpoints::EndpointError,
    oauth::ConnectError,
    providers::{Cataloged, Provider},
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

/// An endpoint not made, as a GraphQL error.
fn endpoint_error(error: EndpointError) -> async_graphql::Error {
    match error {
        EndpointError::InvalidSecret(why) => bad_input("signingSecret", why),
        EndpointError::NotConnected(provider) => {
            provider_error(ErrorCode::NotConnected, provider, error.to_string())
        }
        EndpointError::Store(cause) => internal(cause),
    }
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
        let url = ctx
            .data_unchecked::<AppContext>()
            .endpoints
            .connect_stripe(tenant, &signing_secret)
            .await
            .map_err(endpoint_error)?;
        Ok(StripeEndpoint { url })
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
        let url = ctx
            .data_unchecked::<AppContext>()
            .endpoints
            .salesforce_outbound(tenant)
            .await
            .map_err(endpoint_error)?;
        Ok(SalesforceOutboundEndpoint { url })
    }

    /// Revokes the caller's tokens at the provider where it can, and forgets the connection.
    async fn disconnect_provider(&self, ctx: &Context<'_>, provider: ProviderEnum) -> Result<bool> {
        let tenant = tenant(ctx)?;
        let provider = Provider::from(provider);
        let app = ctx.data_unchecked::<AppContext>();
        // Before the tokens go: stopping what was registered at the provider needs them.
        app.hooks
            .before_disconnect(Target { tenant, provider })
            .await;
        let deleted = app
            .connect
            .disconnect(tenant, provider)
            .await
            .map_err(internal)?;
        if deleted {
            app.hooks
                .after_disconnect(Target { tenant, provider })
                .await;
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
