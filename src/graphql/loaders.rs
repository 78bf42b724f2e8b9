//! Dataloaders: the records and relations that many resolvers of one response ask for, fetched
//! together — one provider call per tenant, provider and type for the keys that arrive together.
//! Each HTTP request gets its own loaders, which remember what they fetched for that request
//! only, so a list that prefetches its records' relations (`prefetch`) answers every resolver
//! below it from memory. Keys carry the tenant, so the shared, uncached loaders that WebSocket
//! operations use never mix tenants either.

use std::{collections::HashMap, convert::Infallible, sync::Arc};

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader, NoCache};

use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;

use crate::{
    auth::Tenant,
    providers::{
        Provider, Registry,
        crm::{CrmData, CrmObject, Record},
        mail::{EmailData, MailFilter, MailRequest},
        record::{ListPage, Position},
    },
    upstream::{ProviderError, Target},
    vault::ConnectionState,
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

/// One page of the mail from or to an address (Contact.emails) in one mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailsKey {
    pub tenant: Tenant,
    pub provider: Provider,
    pub participant: String,
    /// The position's time and id.
    pub after: Option<(DateTime<Utc>, String)>,
    pub limit: usize,
    pub bodies: bool,
}

impl EmailsKey {
    fn request(&self) -> MailRequest {
        MailRequest {
            filter: MailFilter {
                participant: Some(self.participant.clone()),
                ..MailFilter::default()
            },
            after: self
                .after
                .clone()
                .map(|(at, remote_id)| Position { at, remote_id }),
            limit: self.limit,
            bodies: self.bodies,
        }
    }
}

/// How long the emails loader gathers keys before searching: each contact's resolver first
/// reads the tenant's connections from the store, so a page's contacts arrive over a few
/// milliseconds, and one search batch for all of them saves far more than the wait.
const EMAILS_GATHER: std::time::Duration = std::time::Duration::from_millis(15);

/// Pages of many addresses' mail, searched together per mailbox (one Gmail batch of searches,
/// then one of messages).
pub struct EmailsLoader(Registry);

impl Loader<EmailsKey> for EmailsLoader {
    type Value = Loaded<ListPage<EmailData>>;
    type Error = Infallible;

    async fn load(
        &self,
        keys: &[EmailsKey],
    ) -> Result<HashMap<EmailsKey, Self::Value>, Infallible> {
        let groups = grouped(keys, |k| (k.tenant, k.provider));
        let calls = groups
            .into_iter()
            .map(|((tenant, provider), keys)| async move {
                let requests: Vec<MailRequest> = keys.iter().map(|k| k.request()).collect();
                let answer = match self.0.mail(provider) {
                    Some(mail) => mail.list_many(Target { tenant, provider }, &requests).await,
                    None => Ok(requests.iter().map(|_| ListPage::empty()).collect()),
                };
                (keys, answer)
            });
        let mut out = HashMap::new();
        for (keys, answer) in futures_util::future::join_all(calls).await {
            match answer {
                Ok(pages) => out.extend(
                    keys.into_iter()
                        .zip(pages)
                        .map(|(k, page)| (k.clone(), Ok(page))),
                ),
                Err(error) => out.extend(keys.into_iter().map(|k| (k.clone(), Err(error.clone())))),
            }
        }
        Ok(out)
    }
}

/// The loaders of one request (cached) or the shared ones (not cached).
#[derive(Clone)]
pub enum Loaders {
    Request {
        records: Arc<DataLoader<RecordLoader, HashMapCache>>,
        relations: Arc<DataLoader<RelationLoader, HashMapCache>>,
        emails: Arc<DataLoader<EmailsLoader, HashMapCache>>,
        /// The tenant's connections, read once for the whole request.
        connections: Arc<OnceCell<Vec<ConnectionState>>>,
    },
    Shared {
        records: Arc<DataLoader<RecordLoader, NoCache>>,
        relations: Arc<DataLoader<RelationLoader, NoCache>>,
        emails: Arc<DataLoader<EmailsLoader, NoCache>>,
    },
}

impl Loaders {
    /// Loaders shared by operations that outlive one request (WebSocket); they never cache.
    pub fn shared(registry: Registry) -> Self {
        Loaders::Shared {
            records: Arc::new(DataLoader::new(
                RecordLoader(registry.clone()),
                tokio::spawn,
            )),
            relations: Arc::new(DataLoader::new(
                RelationLoader(registry.clone()),
                tokio::spawn,
            )),
            emails: Arc::new(
                DataLoader::new(EmailsLoader(registry), tokio::spawn).delay(EMAILS_GATHER),
            ),
        }
    }

    /// Loaders for one request, remembering what they fetched until it ends.
    pub fn for_request(registry: Registry) -> Self {
        Loaders::Request {
            records: Arc::new(DataLoader::with_cache(
                RecordLoader(registry.clone()),
                tokio::spawn,
                HashMapCache::default(),
            )),
            relations: Arc::new(DataLoader::with_cache(
                RelationLoader(registry.clone()),
                tokio::spawn,
                HashMapCache::default(),
            )),
            emails: Arc::new(
                DataLoader::with_cache(
                    EmailsLoader(registry),
                    tokio::spawn,
                    HashMapCache::default(),
                )
                .delay(EMAILS_GATHER),
            ),
            connections: Arc::default(),
        }
    }

    /// The tenant's connections as `read` finds them: once per request (so the resolvers of a
    /// page, each asking, reach their loaders together), every time for shared loaders.
    pub async fn connections<E>(
        &self,
        read: impl Future<Output = Result<Vec<ConnectionState>, E>>,
    ) -> Result<Vec<ConnectionState>, E> {
        match self {
            Loaders::Request { connections, .. } => {
                connections.get_or_try_init(|| read).await.cloned()
            }
            Loaders::Shared { .. } => read.await,
        }
    }

    pub async fn records(
        &self,
        keys: impl IntoIterator<Item = RecordKey>,
    ) -> HashMap<RecordKey, Loaded<Record<CrmData>>> {
        let answer = match self {
            Loaders::Request { records, .. } => records.load_many(keys).await,
            Loaders::Shared { records, .. } => records.load_many(keys).await,
        };
        answer.unwrap_or_else(|never| match never {})
    }

    pub async fn relations(
        &self,
        keys: impl IntoIterator<Item = RelationKey>,
    ) -> HashMap<RelationKey, Loaded<Vec<String>>> {
        let answer = match self {
            Loaders::Request { relations, .. } => relations.load_many(keys).await,
            Loaders::Shared { relations, .. } => relations.load_many(keys).await,
        };
        answer.unwrap_or_else(|never| match never {})
    }

    /// One page of an address's mail in one mailbox.
    pub async fn emails(&self, key: EmailsKey) -> Loaded<ListPage<EmailData>> {
        let answer = match self {
            Loaders::Request { emails, .. } => emails.load_one(key).await,
            Loaders::Shared { emails, .. } => emails.load_one(key).await,
        };
        answer
            .unwrap_or_else(|never| match never {})
            .unwrap_or_else(|| Ok(ListPage::empty()))
    }
}
