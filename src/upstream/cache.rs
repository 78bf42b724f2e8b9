//! The one cache facility: what adapters keep across requests (mail list pages, chat users and
//! channels, Google's push signing keys). A cache has a name; each provider that keeps it says
//! how in its catalog entry (`[<provider>.caches.<name>]`: `ttl_secs`, how long an entry lives
//! from when it was stored, and `max_entries`, how many it keeps across tenants), and gets its
//! own moka store from that. A provider without the table keeps nothing under that name: its
//! lookups miss and its loads always run.
//!
//! Keys that start with the [`Tenant`] (`(Tenant, K)`) make a tenant-scoped cache, whose entries
//! can be dropped per tenant ([`Cache::forget`]) when a write makes them stale.

use std::{borrow::Borrow, collections::BTreeMap, hash::Hash, sync::Arc, time::Duration};

use nexus_core::{Provider, Tenant};

use crate::providers::Cataloged;

type Store<K, V> = moka::future::Cache<K, V>;

/// A named cache, one store per provider that configures it. Clones share the entries.
pub struct Cache<K, V> {
    stores: Arc<BTreeMap<Provider, Store<K, V>>>,
}

impl<K, V> Clone for Cache<K, V> {
    fn clone(&self) -> Self {
        Self {
            stores: self.stores.clone(),
        }
    }
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The cache `name`, as the catalog configures it for each provider.
    ///
    /// # Panics
    /// When no provider's catalog entry names it: a cache nobody configures is a misspelling.
    pub fn new(name: &str) -> Self {
        let stores: BTreeMap<Provider, Store<K, V>> = Provider::ALL
            .into_iter()
            .filter_map(|provider| {
                let policy = provider.entry().caches.get(name)?;
                let store = Store::builder()
                    .name(&format!("{provider}.{name}"))
                    .max_capacity(policy.max_entries)
                    .time_to_live(Duration::from_secs(policy.ttl_secs))
                    .support_invalidation_closures()
                    .build();
                Some((provider, store))
            })
            .collect();
        assert!(
            !stores.is_empty(),
            "no provider configures the cache `{name}` in catalog.toml"
        );
        Self {
            stores: Arc::new(stores),
        }
    }

    pub async fn get<Q>(&self, provider: Provider, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.stores.get(&provider)?.get(key).await
    }

    pub async fn insert(&self, provider: Provider, key: K, value: V) {
        if let Some(store) = self.stores.get(&provider) {
            store.insert(key, value).await;
        }
    }

    pub fn contains_key(&self, provider: Provider, key: &K) -> bool {
        self.stores
            .get(&provider)
            .is_some_and(|store| store.contains_key(key))
    }

    /// The entry, loaded by `load` when missing; concurrent misses share one load, and a failed
    /// load is not kept.
    pub async fn try_get_with<E>(
        &self,
        provider: Provider,
        key: K,
        load: impl Future<Output = Result<V, E>>,
    ) -> Result<V, Arc<E>>
    where
        E: Send + Sync + 'static,
    {
        match self.stores.get(&provider) {
            Some(store) => store.try_get_with(key, load).await,
            None => load.await.map_err(Arc::new),
        }
    }
}

impl<K, V> Cache<(Tenant, K), V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Drops every entry, of every provider.
    pub fn forget_all(&self) {
        for store in self.stores.values() {
            store.invalidate_all();
        }
    }

    /// Drops every entry of `tenant`, of every provider.
    pub fn forget(&self, tenant: Tenant) {
        for store in self.stores.values() {
            if let Err(error) = store.invalidate_entries_if(move |(owner, _), _| *owner == tenant) {
                // Only when a store was built without invalidation closures; clear it all then.
                tracing::warn!(%error, "cache cleared whole");
                store.invalidate_all();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn tenant() -> Tenant {
        Tenant {
            user_id: Uuid::new_v4(),
            project_id: Uuid::new_v4(),
        }
    }

    #[tokio::test]
    async fn entries_are_kept_per_provider_and_forgotten_per_tenant() {
        let cache: Cache<(Tenant, String), u32> = Cache::new("lists");
        let (a, b) = (tenant(), tenant());
        cache.insert(Provider::Gmail, (a, "q".into()), 1).await;
        cache.insert(Provider::Gmail, (b, "q".into()), 2).await;
        assert_eq!(cache.get(Provider::Gmail, &(a, "q".into())).await, Some(1));
        assert_eq!(cache.get(Provider::Outlook, &(a, "q".into())).await, None);
        cache.forget(a);
        assert_eq!(cache.get(Provider::Gmail, &(a, "q".into())).await, None);
        assert_eq!(cache.get(Provider::Gmail, &(b, "q".into())).await, Some(2));
    }

    #[tokio::test]
    async fn a_provider_without_the_cache_keeps_nothing() {
        let cache: Cache<(Tenant, String), u32> = Cache::new("directory");
        let t = tenant();
        assert!(!Provider::Teams.entry().caches.contains_key("directory"));
        cache.insert(Provider::Teams, (t, "x".into()), 1).await;
        assert!(!cache.contains_key(Provider::Teams, &(t, "x".into())));
        let loaded = cache
            .try_get_with(Provider::Teams, (t, "x".into()), async { Ok::<_, ()>(3) })
            .await;
        assert_eq!(loaded, Ok(3));
        assert!(!cache.contains_key(Provider::Teams, &(t, "x".into())));
    }

    #[test]
    #[should_panic(expected = "no provider configures the cache `nothing`")]
    fn a_cache_nobody_configures_is_refused() {
        let _: Cache<String, u32> = Cache::new("nothing");
    }
}
