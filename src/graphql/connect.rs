//! `connectProvider` and `disconnectProvider`: starting and ending a provider connection.

use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::{oauth::ConnectError, providers::Provider};

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

    /// Revokes the caller's tokens at the provider where it can, and forgets the connection.
    async fn disconnect_provider(&self, ctx: &Context<'_>, provider: ProviderEnum) -> Result<bool> {
        let tenant = tenant(ctx)?;
        let provider = Provider::from(provider);
        let deleted = ctx
            .data_unchecked::<AppContext>()
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
