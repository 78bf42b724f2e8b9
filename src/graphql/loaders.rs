//! Dataloaders: the records and relations that many resolvers of one response ask for, fetched
//! together. Keys carry the tenant, so loaders are shared by concurrent requests without mixing
//! tenants; they batch (keys that arrive within a millisecond travel together, one provider call
//! per tenant, provider and type) and do not cache across requests.

use std::{collections::HashMap, convert::Infallible};

use async_graphql::dataloader::{DataLoader, Loader};

use crate::{
    auth::Tenant,
    providers::{
        Provider, Registry,
        crm::{CrmData, CrmObject, Record},
    },
    upstream::{ProviderError, Target},
};

/// A CRM record by its provider id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordKey {
    pub tenant: Tenant,
    pub provider: Provider,
    pub object: CrmObject,
    pub remote_id: String,
}

/// The ids of one type's records associated with a record of another (HubSpot associations).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RelationKey {
    pub tenant: Tenant,
    pub provider: Provider,
    pub from: CrmObject,
    pub to: CrmObject,
    pub remote_id: String,
}

/// What a key gets: its answer, or its batch's provider error.
pub type Loaded<T> = Result<T, ProviderError>;

/// Groups keys by what one provider call can answer together.
fn grouped<K, G: Eq + std::hash::Hash>(keys: &[K], group: impl Fn(&K) -> G) -> HashMap<G, Vec<&K>> {
    let mut groups: HashMap<G, Vec<&K>> = HashMap::new();
    for key in keys {
        groups.entry(group(key)).or_default().push(key);
    }
    groups
}

pub struct RecordLoader(Registry);

impl Loader<RecordKey> for RecordLoader {
    type Value = Loaded<Record<CrmData>>;
    type Error = Infallible;

    async fn load(
        &self,
        keys: &[RecordKey],
    ) -> Result<HashMap<RecordKey, Self::Value>, Infallible> {
        let groups = grouped(keys, |k| (k.tenant, k.provider, k.object));
        let calls = groups
            .into_iter()
            .map(|((tenant, provider, object), keys)| async move {
                let ids: Vec<String> = keys.iter().map(|k| k.remote_id.clone()).collect();
                let answer = match self.0.crm(provider) {
                    Some(adapter) => {
                        adapter
                            .get_many(Target { tenant, provider }, object, &ids)
                            .await
                    }
                    None => Ok(Vec::new()),
                };
                (keys, answer)
            });
        let mut out = HashMap::new();
        for (keys, answer) in futures_util::future::join_all(calls).await {
            match answer {
                Ok(records) => {
                    let mut by_id: HashMap<String, Record<CrmData>> = records
                        .into_iter()
                        .map(|r| (r.remote_id.clone(), r))
                        .collect();
                    for key in keys {
                        if let Some(record) = by_id.remove(&key.remote_id) {
                            out.insert(key.clone(), Ok(record));
                        }
                    }
                }
                Err(error) => out.extend(keys.into_iter().map(|k| (k.clone(), Err(error.clone())))),
            }
        }
        Ok(out)
    }
}

pub struct RelationLoader(Registry);

impl Loader<RelationKey> for RelationLoader {
    type Value = Loaded<Vec<String>>;
    type Error = Infallible;

    async fn load(
        &self,
        keys: &[RelationKey],
    ) -> Result<HashMap<RelationKey, Self::Value>, Infallible> {
        let groups = grouped(keys, |k| (k.tenant, k.provider, k.from, k.to));
        let calls = groups
            .into_iter()
            .map(|((tenant, provider, from, to), keys)| async move {
                let ids: Vec<String> = keys.iter().map(|k| k.remote_id.clone()).collect();
                let answer = match self.0.crm(provider) {
                    Some(adapter) => {
                        adapter
                            .associated(Target { tenant, provider }, from, to, &ids)
                            .await
                    }
                    None => Ok(HashMap::new()),
                };
                (keys, answer)
            });
        let mut out = HashMap::new();
        for (keys, answer) in futures_util::future::join_all(calls).await {
            for key in keys {
                let value = match &answer {
                    Ok(found) => Ok(found.get(&key.remote_id).cloned().unwrap_or_default()),
                    Err(error) => Err(error.clone()),
                };
                out.insert(key.clone(), value);
            }
        }
        Ok(out)
    }
}

/// The loaders of the schema.
#[derive(Clone)]
pub struct Loaders {
    pub records: std::sync::Arc<DataLoader<RecordLoader>>,
    pub relations: std::sync::Arc<DataLoader<RelationLoader>>,
}

impl Loaders {
    pub fn new(registry: Registry) -> Self {
        Self {
            records: std::sync::Arc::new(
                DataLoader::new(RecordLoader(registry.clone()), tokio::spawn).max_batch_size(200),
            ),
            relations: std::sync::Arc::new(
                DataLoader::new(RelationLoader(registry), tokio::spawn).max_batch_size(100),
            ),
        }
    }
}
