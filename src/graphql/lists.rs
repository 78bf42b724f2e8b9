//! The one path every unified list takes: validate paging, pick the tenant's connected providers
//! that feed the list, ask each for its page, merge. Provider adapters plug in here as they land;
//! a connected provider without an adapter in this build is reported per provider (UNSUPPORTED),
//! so a list is never silently short.

use async_graphql::{
    Context, OutputType, Result,
    connection::{Connection, CursorType},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::{
    auth::Tenant,
    providers::{Capability, Provider},
    vault::ConnectionState,
};

use super::{
    AppContext,
    errors::{ErrorCode, bad_input, internal, provider_error},
    types::{ProviderEnum, to_providers},
};

/// `first` when a client gives none, and the most it may ask for.
pub const DEFAULT_PAGE_SIZE: i32 = 20;
pub const MAX_PAGE_SIZE: i32 = 100;

/// Validated paging arguments.
#[derive(Debug, Clone)]
pub struct PageArgs {
    pub first: usize,
    pub after: Option<MergedCursor>,
}

impl PageArgs {
    pub fn parse(first: Option<i32>, after: Option<String>) -> Result<Self> {
        let first = first.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(0..=MAX_PAGE_SIZE).contains(&first) {
            return Err(bad_input(
                "first",
                format!("`first` must be between 0 and {MAX_PAGE_SIZE}"),
            ));
        }
        let after = after
            .map(|c| {
                MergedCursor::decode_cursor(&c)
                    .map_err(|_| bad_input("after", "`after` is not a cursor of this list"))
            })
            .transpose()?;
        Ok(Self {
            first: first as usize,
            after,
        })
    }
}

/// A cursor across providers: each provider's own page position, opaque to clients.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MergedCursor {
    pub positions: std::collections::BTreeMap<String, String>,
}

impl CursorType for MergedCursor {
    type Error = base64::DecodeError;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        let bytes = URL_SAFE_NO_PAD.decode(s)?;
        serde_json::from_slice(&bytes).map_err(|_| base64::DecodeError::InvalidLength(bytes.len()))
    }

    fn encode_cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }
}

/// The request's tenant; resolvers run only for authenticated callers.
pub fn tenant(ctx: &Context<'_>) -> Result<Tenant> {
    ctx.data_opt::<Tenant>()
        .copied()
        .ok_or_else(|| ErrorCode::Unauthenticated.error("not authenticated"))
}

/// The providers this tenant has connected, whether or not their tokens still open.
pub async fn connected(ctx: &Context<'_>) -> Result<Vec<ConnectionState>> {
    let tenant = tenant(ctx)?;
    ctx.data_unchecked::<AppContext>()
        .credentials
        .connections(tenant.user_id, tenant.project_id)
        .await
        .map_err(internal)
}

/// Whether the tenant has this provider connected (usable or not).
pub async fn has_connection(ctx: &Context<'_>, provider: Provider) -> Result<bool> {
    Ok(connected(ctx).await?.iter().any(|c| c.provider == provider))
}

/// The error for a connection whose stored tokens no longer open.
pub fn reauth_required(provider: Provider) -> async_graphql::Error {
    provider_error(
        ErrorCode::ReauthRequired,
        provider,
        format!("{} must be connected again", provider.entry().name),
    )
}

/// One page of a unified list across the tenant's providers that feed it. `page` is what each
/// provider's adapter is asked for; with no adapter in this build, no source is asked.
pub async fn merged<T: OutputType>(
    ctx: &Context<'_>,
    capability: Capability,
    providers: Option<&[ProviderEnum]>,
    page: PageArgs,
) -> Result<Connection<MergedCursor, T>> {
    let requested = providers.map(to_providers);
    if let Some(list) = &requested
        && let Some(p) = list.iter().find(|p| !p.feeds(capability))
    {
        return Err(bad_input(
            "providers",
            format!("{} has no {capability:?} list", p.entry().name),
        ));
    }
    let sources = connected(ctx)
        .await?
        .into_iter()
        .filter(|c| c.provider.feeds(capability))
        .filter(|c| requested.as_ref().is_none_or(|r| r.contains(&c.provider)));
    for source in sources {
        let error = if source.reauth_required {
            reauth_required(source.provider)
        } else {
            no_adapter(source.provider)
        };
        ctx.add_error(ctx.set_error_path(error.into_server_error(ctx.item.pos)));
    }
    tracing::debug!(?capability, first = page.first, after = ?page.after, "no provider adapter to ask");
    Ok(Connection::new(page.after.is_some(), false))
}

/// The cost of a page for the complexity limit: each of `first` items costs its selection.
pub fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let first = first.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE) as usize;
    first.saturating_mul(child_complexity.max(1))
}

/// The error for a read that needs a provider adapter this build does not have.
pub fn no_adapter(provider: Provider) -> async_graphql::Error {
    provider_error(
        ErrorCode::Unsupported,
        provider,
        format!("this build has no {} adapter", provider.entry().name),
    )
}

/// Checks that a write can go to `provider`: it must feed `capability` and be connected.
/// Adapters handle the write itself once they land; until then, UNSUPPORTED.
pub async fn write_target(
    ctx: &Context<'_>,
    capability: Capability,
    provider: Provider,
) -> Result<std::convert::Infallible> {
    if !provider.feeds(capability) {
        return Err(bad_input(
            "provider",
            format!("{} has no {capability:?}", provider.entry().name),
        ));
    }
    let Some(connection) = connected(ctx)
        .await?
        .into_iter()
        .find(|c| c.provider == provider)
    else {
        return Err(provider_error(
            ErrorCode::NotConnected,
            provider,
            format!(
                "{} is not connected for this project",
                provider.entry().name
            ),
        ));
    };
    if connection.reauth_required {
        return Err(reauth_required(provider));
    }
    Err(no_adapter(provider))
}
