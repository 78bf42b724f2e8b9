//! How CRM writes run: to a connected, usable provider that keeps the type, once per
//! idempotency key (a repeat returns the first write's record and writes nothing), with the
//! provider's refusal reported as the field's or the provider's error.

use std::sync::Arc;

use async_graphql::{Context, Result};

use nexus_core::{ProviderError, Target};

use crate::{
    idempotency::{Once, OnceError},
    providers::{
        Cataloged, Provider,
        crm::{Crm, CrmData, CrmObject, Record},
    },
};

use super::{
    AppContext,
    errors::{bad_input, internal, upstream_error},
    freshness::MaxAge,
    lists::{connected, crm_record, no_adapter, not_connected, reauth_required, tenant},
};

/// The adapter and connection a write of `object` to `provider` goes through.
pub async fn crm_target(
    ctx: &Context<'_>,
    object: CrmObject,
    provider: Provider,
) -> Result<(Arc<dyn Crm>, Target)> {
    if !provider.feeds(object.capability()) {
        return Err(bad_input(
            "input.provider",
            format!("{} has no {:?}", provider.entry().name, object.capability()),
        ));
    }
    let connection = connected(ctx)
        .await?
        .into_iter()
        .find(|c| c.provider == provider)
        .ok_or_else(|| not_connected(provider))?;
    if connection.reauth_required {
        return Err(reauth_required(provider));
    }
    let adapter = ctx
        .data_unchecked::<AppContext>()
        .providers
        .crm(provider)
        .map_err(|e| no_adapter(e.provider))?;
    Ok((
        adapter,
        Target {
            tenant: tenant(ctx)?,
            provider,
        },
    ))
}

/// Checks that a related record's id belongs to the provider written to.
pub fn same_provider(
    field: &str,
    provider: Provider,
    (owner, _): &(Provider, String),
) -> Result<()> {
    if *owner != provider {
        return Err(bad_input(
            field,
            format!(
                "the record is in {}, not {}",
                owner.entry().name,
                provider.entry().name
            ),
        ));
    }
    Ok(())
}

/// Runs a CRM `write` once per `key` (see `once`), a repeat reading the record back.
pub async fn crm_once<F>(
    ctx: &Context<'_>,
    operation: &'static str,
    key: Option<&str>,
    object: CrmObject,
    write: F,
) -> Result<Record<CrmData>>
where
    F: Future<Output = Result<Record<CrmData>, ProviderError>>,
{
    once(ctx, operation, key, write, async |provider, remote_id| {
        let found = crm_record(ctx, object, provider, &remote_id, MaxAge::LIVE).await?;
        Ok(found.map(|(record, _)| record))
    })
    .await
}

/// Runs `write` once per `key` and project: the first call writes and remembers which record it
/// made; a repeat gets that record back through `reread` (from the provider) without writing. A
/// write that fails releases the key, so it may be tried again.
pub async fn once<T, F>(
    ctx: &Context<'_>,
    operation: &'static str,
    key: Option<&str>,
    write: F,
    reread: impl AsyncFnOnce(Provider, String) -> Result<Option<Record<T>>>,
) -> Result<Record<T>>
where
    F: Future<Output = Result<Record<T>, ProviderError>>,
{
    let Some(key) = key else {
        return write.await.map_err(|e| upstream_error(&e));
    };
    if key.is_empty() || key.len() > 255 {
        return Err(bad_input(
            "input.idempotencyKey",
            "an idempotency key has 1 to 255 characters",
        ));
    }
    let project = tenant(ctx)?.project_id;
    let keys = &ctx.data_unchecked::<AppContext>().idempotency;
    match keys.once(project, operation, key, write).await {
        Ok(Once::Written(record)) => Ok(record),
        Ok(Once::Repeat {
            provider,
            remote_id,
        }) => reread(provider, remote_id).await?.ok_or_else(|| {
            super::errors::ErrorCode::NotFound.error("the record this key created is gone")
        }),
        Err(OnceError::InFlight) => Err(bad_input(
            "input.idempotencyKey",
            OnceError::InFlight.to_string(),
        )),
        Err(OnceError::Write(error)) => Err(upstream_error(&error)),
        Err(OnceError::Store(cause)) => Err(internal(cause)),
    }
}
