//! Emails, events and chat messages by their provider ids, fetched together: the loader that
//! federation's `_entities` reads them through. The keys of one wave of resolvers are grouped
//! per tenant and provider, and each group is one [`get_many`] of the provider's adapter —
//! Gmail and Google Calendar through Google's batch endpoint, Outlook through Graph's `$batch`,
//! each in batches as large as the provider takes; Slack reads message by message (it has no
//! read by many ids), a few at a time.
//!
//! The synced copy holds CRM records only, so these are read live (`source: LIVE`); the
//! adapters' own caches do not keep single records either.
//!
//! [`get_many`]: nexus_core::Mail::get_many

use std::{collections::HashMap, convert::Infallible, marker::PhantomData};

use async_graphql::dataloader::Loader;
use futures_util::future::BoxFuture;
use tracing::Instrument;

use nexus_core::{ProviderError, Target};

use crate::{
    auth::Tenant,
    providers::{
        Provider, Registry, calendar::Event, chat::Message, mail::EmailData, record::Record,
    },
};

use super::{
    freshness::{self, Origin},
    loaders::Loaded,
};

/// An email, event or chat message by its provider id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ItemKey {
    pub tenant: Tenant,
    pub provider: Provider,
    pub remote_id: String,
}

/// A record type read by many ids per adapter call.
pub trait Item: Clone + Send + Sync + 'static {
    /// The unified type (`Email`), for the freshness counters and traces.
    const NAME: &'static str;

    /// The records of `ids` that the provider has; none where the provider has no such adapter.
    fn get_many<'a>(
        registry: &'a Registry,
        target: Target,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Record<Self>>, ProviderError>>;
}

impl Item for EmailData {
    const NAME: &'static str = "Email";

    fn get_many<'a>(
        registry: &'a Registry,
        target: Target,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Record<Self>>, ProviderError>> {
        Box::pin(async move {
            match registry.mail(target.provider) {
                Ok(adapter) => adapter.get_many(target, ids).await,
                Err(_) => Ok(Vec::new()),
            }
        })
    }
}

impl Item for Event {
    const NAME: &'static str = "Event";

    fn get_many<'a>(
        registry: &'a Registry,
        target: Target,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Record<Self>>, ProviderError>> {
        Box::pin(async move {
            match registry.calendar(target.provider) {
                Ok(adapter) => adapter.get_many(target, ids).await,
                Err(_) => Ok(Vec::new()),
            }
        })
    }
}

impl Item for Message {
    const NAME: &'static str = "Message";

    fn get_many<'a>(
        registry: &'a Registry,
        target: Target,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Record<Self>>, ProviderError>> {
        Box::pin(async move {
            match registry.chat(target.provider) {
                Ok(adapter) => adapter.get_many(target, ids).await,
                Err(_) => Ok(Vec::new()),
            }
        })
    }
}

/// Records of one type by id: one adapter call per tenant and provider for the keys that
/// arrive together; a key the provider has no record for is absent from the answer.
pub struct ItemLoader<T>(Registry, PhantomData<fn() -> T>);

impl<T> ItemLoader<T> {
    pub fn new(registry: Registry) -> Self {
        Self(registry, PhantomData)
    }
}

impl<T: Item> Loader<ItemKey> for ItemLoader<T> {
    type Value = Loaded<(Record<T>, Origin)>;
    type Error = Infallible;

    async fn load(&self, keys: &[ItemKey]) -> Result<HashMap<ItemKey, Self::Value>, Infallible> {
        let span = tracing::debug_span!(
            "loader.batch",
            otel.name = %format_args!("load {}", T::NAME),
            otel.kind = "internal",
            loader = T::NAME,
            keys = keys.len(),
        );
        async move {
            let mut groups: HashMap<(Tenant, Provider), Vec<&ItemKey>> = HashMap::new();
            for key in keys {
                groups
                    .entry((key.tenant, key.provider))
                    .or_default()
                    .push(key);
            }
            let calls = groups
                .into_iter()
                .map(|((tenant, provider), keys)| async move {
                    let ids: Vec<String> = keys.iter().map(|k| k.remote_id.clone()).collect();
                    let answer = T::get_many(&self.0, Target { tenant, provider }, &ids).await;
                    (keys, answer)
                });
            let mut out = HashMap::new();
            for (keys, answer) in futures_util::future::join_all(calls).await {
                match answer {
                    Ok(records) => {
                        let origin = Origin::live();
                        if let Some(key) = keys.first() {
                            freshness::count(key.provider, T::NAME, &origin);
                        }
                        let mut by_id: HashMap<String, Record<T>> = records
                            .into_iter()
                            .map(|r| (r.remote_id.clone(), r))
                            .collect();
                        for key in keys {
                            if let Some(record) = by_id.remove(&key.remote_id) {
                                out.insert(key.clone(), Ok((record, origin.clone())));
                            }
                        }
                    }
                    Err(error) => {
                        out.extend(keys.into_iter().map(|k| (k.clone(), Err(error.clone()))))
                    }
                }
            }
            Ok(out)
        }
        .instrument(span)
        .await
    }
}
