//! How writes run once per `idempotencyKey` (the claims are `crate::idempotency`'s), and CRM
//! writes' target: a connected, usable provider that keeps the type.
//!
//! - Sends (`sendEmail`, `postMessage`: [`send_once`]) keep their claim whenever the provider
//!   may have acted, answer an outcome not known yet with `PROVIDER_UNAVAILABLE` and
//!   `extensions.retryAfter`, and on the repeat look the message up at the provider (by the
//!   marker it carries, [`OnceKey::marker`]) before sending again: found, it is the result;
//!   not found, it is sent, once.
//! - CRM creates ([`crm_once`]) have no such lookup: a failed one gives its key back, so a
//!   create that failed after the provider acted may be made again by the repeat.
//! - Either way, the same key with other input is `BAD_USER_INPUT` (`idempotency key reused
//!   with different input`), and a repeat of a finished write returns its record, read back.

use std::sync::Arc;

use async_graphql::{Context, Result};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use nexus_core::{ErrorKind, ProviderError, Target};

use crate::{
    idempotency::{self, Claim, KeyRef, OnceError, Pending},
    providers::{
        Cataloged, Provider,
        crm::{Crm, CrmData, CrmObject, Record},
        record::Sent,
    },
};

use super::{
    AppContext,
    errors::{ErrorCode, bad_input, internal, upstream_error},
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

/// A write's idempotency key, checked, with the hash of the write's normalized input.
pub struct OnceKey {
    project: Uuid,
    operation: &'static str,
    key: String,
    hash: String,
}

impl OnceKey {
    /// The key of `operation` given in `input.idempotencyKey`, if any, for the write whose
    /// normalized input is `input`.
    pub fn new(
        ctx: &Context<'_>,
        operation: &'static str,
        key: Option<&str>,
        input: &serde_json::Value,
    ) -> Result<Option<Self>> {
        let Some(key) = key else {
            return Ok(None);
        };
        if key.is_empty() || key.len() > 255 {
            return Err(bad_input(
                "input.idempotencyKey",
                "an idempotency key has 1 to 255 characters",
            ));
        }
        Ok(Some(Self {
            project: tenant(ctx)?.project_id,
            operation,
            key: key.to_owned(),
            hash: idempotency::input_hash(input),
        }))
    }

    fn key_ref(&self) -> KeyRef<'_> {
        KeyRef {
            project: self.project,
            operation: self.operation,
            key: &self.key,
        }
    }

    /// The token the provider keeps with the write (see [`idempotency::marker`]).
    pub fn marker(&self) -> String {
        idempotency::marker(self.key_ref())
    }

    /// The key as an RFC 5322 msg-id: `<marker@nexus.idempotency>`.
    pub fn message_id(&self) -> String {
        format!("<{}@nexus.idempotency>", self.marker())
    }
}

/// Why a claim was refused, as the schema says it.
fn refused(error: OnceError) -> async_graphql::Error {
    match error {
        OnceError::InFlight | OnceError::Reused => {
            bad_input("input.idempotencyKey", error.to_string())
        }
        OnceError::Store(cause) => internal(cause),
    }
}

/// A write whose outcome is not known yet (the provider may have acted, or acted and could not
/// be read back): `PROVIDER_UNAVAILABLE` with `retryAfter`, the key kept for the repeat.
fn not_known_yet(
    ctx: &Context<'_>,
    provider: Provider,
    cause: &ProviderError,
) -> async_graphql::Error {
    let app = ctx.data_unchecked::<AppContext>();
    let mut error = ProviderError::new(
        ErrorKind::Unavailable,
        provider,
        cause.op,
        format!(
            "the write's outcome is not known yet ({}); repeat it with the same idempotencyKey \
             to get its result",
            cause.message
        ),
    );
    error.retry_after = Some(
        cause
            .retry_after
            .unwrap_or_else(|| app.idempotency.retry_after()),
    );
    upstream_error(&error)
}

/// Runs a CRM `write` once per `key` (see [`once`]), a repeat reading the record back.
pub async fn crm_once<F>(
    ctx: &Context<'_>,
    key: Option<OnceKey>,
    object: CrmObject,
    write: F,
) -> Result<Record<CrmData>>
where
    F: Future<Output = Result<Record<CrmData>, ProviderError>>,
{
    once(ctx, key, write, async |provider, remote_id| {
        let found = crm_record(ctx, object, provider, &remote_id, MaxAge::LIVE).await?;
        Ok(found.map(|(record, _)| record))
    })
    .await
}

/// Runs `write` once per `key`: the first call writes and remembers which record it made; a
/// repeat gets that record back through `reread` (from the provider) without writing. A write
/// that fails releases the key, so it may be tried again; one whose owner died is run again
/// once its lease has run out.
pub async fn once<T, F>(
    ctx: &Context<'_>,
    key: Option<OnceKey>,
    write: F,
    reread: impl AsyncFnOnce(Provider, String) -> Result<Option<Record<T>>>,
) -> Result<Record<T>>
where
    F: Future<Output = Result<Record<T>, ProviderError>>,
{
    let Some(key) = key else {
        return write.await.map_err(|e| upstream_error(&e));
    };
    let keys = &ctx.data_unchecked::<AppContext>().idempotency;
    match keys
        .claim(key.key_ref(), &key.hash)
        .await
        .map_err(refused)?
    {
        Claim::Done {
            provider,
            remote_id,
        } => return reread_record(reread, provider, remote_id).await,
        Claim::New | Claim::TakenOver { .. } => {}
        Claim::InFlight => return Err(refused(OnceError::InFlight)),
    }
    match write.await {
        Ok(record) => {
            keys.complete(key.key_ref(), record.provider, &record.remote_id)
                .await
                .map_err(internal)?;
            Ok(record)
        }
        Err(error) => {
            keys.release(key.key_ref()).await.map_err(internal)?;
            Err(upstream_error(&error))
        }
    }
}

async fn reread_record<T>(
    reread: impl AsyncFnOnce(Provider, String) -> Result<Option<Record<T>>>,
    provider: Provider,
    remote_id: String,
) -> Result<Record<T>> {
    reread(provider, remote_id)
        .await?
        .ok_or_else(|| ErrorCode::NotFound.error("the record this key created is gone"))
}

/// Sends once per `key` through `provider`: `send` when nothing with the key went out, else
/// the message an earlier try left, found with `find` (from the key's first claim on) or read
/// back by its id with `reread`. See the module's introduction.
pub async fn send_once<T, F>(
    ctx: &Context<'_>,
    provider: Provider,
    key: Option<OnceKey>,
    send: F,
    find: impl AsyncFnOnce(DateTime<Utc>) -> Result<Option<Record<T>>, ProviderError>,
    reread: impl AsyncFnOnce(Provider, String) -> Result<Option<Record<T>>>,
) -> Result<Record<T>>
where
    F: Future<Output = Result<Sent<T>, ProviderError>>,
{
    let Some(once_key) = key else {
        return match send.await {
            Ok(Sent::Read(record)) => Ok(record),
            Ok(Sent::Unread { error, .. }) => Err(upstream_error(&ProviderError {
                message: format!("sent, but reading it back failed: {}", error.message),
                ..error
            })),
            Err(error) => Err(upstream_error(&error)),
        };
    };
    let keys = &ctx.data_unchecked::<AppContext>().idempotency;
    let key = once_key.key_ref();
    let earlier = match keys.claim(key, &once_key.hash).await {
        Err(error) => return Err(refused(error)),
        Ok(Claim::InFlight) => return Err(refused(OnceError::InFlight)),
        Ok(Claim::Done {
            provider,
            remote_id,
        }) => return reread_record(reread, provider, remote_id).await,
        Ok(Claim::New) => None,
        Ok(Claim::TakenOver { pending, since }) => Some((pending, since)),
    };
    if let Some((pending, since)) = earlier {
        // Settle what the earlier try left before sending anything.
        let pending = match pending {
            Pending::Sent => Pending::Sent,
            Pending::Running | Pending::Unknown => Pending::Unknown,
        };
        match find(since).await {
            Ok(Some(record)) => {
                keys.complete(key, record.provider, &record.remote_id)
                    .await
                    .map_err(internal)?;
                return Ok(record);
            }
            Ok(None) if pending == Pending::Sent => {
                keys.leave(key, pending).await.map_err(internal)?;
                let cause = ProviderError::new(
                    ErrorKind::Unavailable,
                    provider,
                    "lookup",
                    "the provider took the message but does not show it yet",
                );
                return Err(not_known_yet(ctx, provider, &cause));
            }
            Ok(None) => {}
            Err(error) => {
                keys.leave(key, pending).await.map_err(internal)?;
                return Err(not_known_yet(ctx, provider, &error));
            }
        }
    }
    match send.await {
        Ok(Sent::Read(record)) => {
            keys.complete(key, record.provider, &record.remote_id)
                .await
                .map_err(internal)?;
            Ok(record)
        }
        Ok(Sent::Unread {
            remote_id: Some(remote_id),
            error,
        }) => {
            keys.complete(key, provider, &remote_id)
                .await
                .map_err(internal)?;
            Err(not_known_yet(ctx, provider, &error))
        }
        Ok(Sent::Unread {
            remote_id: None,
            error,
        }) => {
            keys.leave(key, Pending::Sent).await.map_err(internal)?;
            Err(not_known_yet(ctx, provider, &error))
        }
        Err(error) if error.may_have_acted() => {
            keys.leave(key, Pending::Unknown).await.map_err(internal)?;
            Err(not_known_yet(ctx, provider, &error))
        }
        Err(error) => {
            keys.release(key).await.map_err(internal)?;
            Err(upstream_error(&error))
        }
    }
}
