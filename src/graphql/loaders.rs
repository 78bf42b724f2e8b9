//! Dataloaders: the records and relations that many resolvers of one response ask for, fetched
//! together — one provider call per tenant, provider and type for the keys that arrive together.
//! Each HTTP request gets its own loaders, which remember what they fetched for that request
//! only, so a list that prefetches its records' relations (`prefetch`) answers every resolver
//! below it from memory. Keys carry the tenant, so the shared, uncached loaders that WebSocket
//! operations use never mix tenants either.
//!
//! Each batch runs in a `loader.batch` span (the loader, the number of keys), the parent of the
//! provider calls it makes, so a trace shows which calls one batch made.
//!
//! CRM records and relations are asked of the synced copy first (keys carry how old an answer
//! may be); the copy's answers cost no provider call, and a record the copy lacks is fetched
//! live.

use std::{collections::HashMap, convert::Infallible, sync::Arc};

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader, NoCache};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use tokio::sync::OnceCell;
use tracing::Instrument;

use super::{
    freshness::Origin,
    gate::Gate,
    items::{ItemKey, ItemLoader},
};

use nexus_core::{ProviderError, ReadModel, Synced, Target};

use crate::{
    auth::Tenant,
    providers::{
        Provider, Registry,
        calendar::Event,
        chat::{self, ChatUser, ListPage, Message, Position, UserKey},
        crm::{CrmData, CrmObject, Record},
        mail::{EmailData, MailFilter, MailRequest},
        record::Fetch,
        record::page_after,
    },
    vault::ConnectionState,
};

/// A CRM record by its provider id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordKey {
    pub tenant: Tenant,
    pub provider: Provider,
    pub object: CrmObject,
    pub remote_id: String,
    /// How old the copy's answer may be (zero: live).
    pub max_age: std::time::Duration,
}

/// The ids of one type's records associated with a record of another (HubSpot associations).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RelationKey {
    pub tenant: Tenant,
    pub provider: Provider,
    pub from: CrmObject,
    pub to: CrmObject,
    pub remote_id: String,
    /// How old the copy's answer may be (zero: live).
    pub max_age: std::time::Duration,
}

/// A chat user (Slack, Teams) by id or email.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChatUserKey {
    pub tenant: Tenant,
    pub provider: Provider,
    pub key: UserKey,
}

/// A contact's page of chat messages (the join by email): the keys of one request with the
/// same page position go to the provider together.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuthorMessagesKey {
    pub tenant: Tenant,
    pub provider: Provider,
    /// Lower case.
    pub email: String,
    /// The page's position (time, remote id).
    pub after: Option<(chrono::DateTime<chrono::Utc>, String)>,
    pub limit: usize,
}

/// The first `limit` events of one calendar that an address attends (Contact.events).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttendeeKey {
    pub tenant: Tenant,
    pub provider: Provider,
    /// Lower-cased.
    pub email: String,
    pub limit: usize,
    /// How old the copy's answer may be (zero: live).
    pub max_age: std::time::Duration,
}

/// The span of one loader's batch, for traces: the loader and how many keys it got.
fn batch(loader: &'static str, keys: usize) -> tracing::Span {
    tracing::debug_span!(
        "loader.batch",
        otel.name = %format_args!("load {loader}"),
        otel.kind = "internal",
        loader,
        keys,
    )
}

/// Starts a batch as a task of its own, in the trace of the resolver that asked for it (the
/// task would otherwise begin a trace of its own).
fn spawn(batch: BoxFuture<'static, ()>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(crate::telemetry::traces::in_current_trace(batch))
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

/// CRM records by id: from the copy when it answers, the ids it lacks from the provider.
pub struct RecordLoader(Registry, Arc<dyn ReadModel>);

impl RecordLoader {
    /// The records of `ids` with where each came from.
    async fn fetch(
        &self,
        target: Target,
        object: CrmObject,
        ids: Vec<String>,
        max_age: std::time::Duration,
    ) -> Result<Vec<(Record<CrmData>, Origin)>, ProviderError> {
        let mut found = Vec::with_capacity(ids.len());
        let mut missing = ids;
        if !max_age.is_zero()
            && let Synced::Synced { value, as_of } =
                self.1.get_many(target, object, &missing, max_age).await
        {
            let origin = Origin::Synced(Arc::new(as_of));
            super::freshness::count(target.provider, object.name(), &origin);
            missing.retain(|id| !value.iter().any(|r| &r.remote_id == id));
            found.extend(value.into_iter().map(|r| (r, origin.clone())));
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let Ok(adapter) = self.0.crm(target.provider) else {
            return Ok(found);
        };
        let records = adapter.get_many(target, object, &missing).await?;
        let origin = Origin::live();
        super::freshness::count(target.provider, object.name(), &origin);
        found.extend(records.into_iter().map(|r| (r, origin.clone())));
        Ok(found)
    }
}

impl Loader<RecordKey> for RecordLoader {
    type Value = Loaded<(Record<CrmData>, Origin)>;
    type Error = Infallible;

    async fn load(
        &self,
        keys: &[RecordKey],
    ) -> Result<HashMap<RecordKey, Self::Value>, Infallible> {
        async move {
            let groups = grouped(keys, |k| (k.tenant, k.provider, k.object, k.max_age));
            let calls =
                groups
                    .into_iter()
                    .map(|((tenant, provider, object, max_age), keys)| async move {
                        let ids: Vec<String> = keys.iter().map(|k| k.remote_id.clone()).collect();
                        let answer = self
                            .fetch(Target { tenant, provider }, object, ids, max_age)
                            .await;
                        (keys, answer)
                    });
            let mut out = HashMap::new();
            for (keys, answer) in futures_util::future::join_all(calls).await {
                match answer {
                    Ok(records) => {
                        let mut by_id: HashMap<String, (Record<CrmData>, Origin)> = records
                            .into_iter()
                            .map(|r| (r.0.remote_id.clone(), r))
                            .collect();
                        for key in keys {
                            if let Some(record) = by_id.remove(&key.remote_id) {
                                out.insert(key.clone(), Ok(record));
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
        .instrument(batch("records", keys.len()))
        .await
    }
}

/// Related ids: from the copy when it answers, else from the provider.
pub struct RelationLoader(Registry, Arc<dyn ReadModel>);

impl RelationLoader {
    async fn fetch(
        &self,
        target: Target,
        (from, to): (CrmObject, CrmObject),
        ids: Vec<String>,
        max_age: std::time::Duration,
    ) -> Result<HashMap<String, Vec<String>>, ProviderError> {
        if !max_age.is_zero()
            && let Synced::Synced { value, .. } =
                self.1.related(target, from, to, &ids, max_age).await
        {
            return Ok(value);
        }
        match self.0.crm(target.provider) {
            Ok(adapter) => adapter.associated(target, from, to, &ids).await,
            Err(_) => Ok(HashMap::new()),
        }
    }
}

impl Loader<RelationKey> for RelationLoader {
    type Value = Loaded<Vec<String>>;
    type Error = Infallible;

    async fn load(
        &self,
        keys: &[RelationKey],
    ) -> Result<HashMap<RelationKey, Self::Value>, Infallible> {
        async move {
            let groups = grouped(keys, |k| (k.tenant, k.provider, k.from, k.to, k.max_age));
            let calls = groups.into_iter().map(
                |((tenant, provider, from, to, max_age), keys)| async move {
                    let ids: Vec<String> = keys.iter().map(|k| k.remote_id.clone()).collect();
                    let answer = self
                        .fetch(Target { tenant, provider }, (from, to), ids, max_age)
                        .await;
                    (keys, answer)
                },
            );
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
        .instrument(batch("relations", keys.len()))
        .await
    }
}

/// Chat users: the keys of one request that arrive together go to the adapter at once, which
/// answers from its five-minute cache and asks the provider only for the rest.
pub struct ChatUserLoader(Registry);

impl Loader<ChatUserKey> for ChatUserLoader {
    type Value = Loaded<Option<ChatUser>>;
    type Error = Infallible;

    async fn load(
        &self,
        keys: &[ChatUserKey],
    ) -> Result<HashMap<ChatUserKey, Self::Value>, Infallible> {
        async move {
            let groups = grouped(keys, |k| (k.tenant, k.provider));
            let calls = groups
                .into_iter()
                .map(|((tenant, provider), keys)| async move {
                    let wanted: Vec<UserKey> = keys.iter().map(|k| k.key.clone()).collect();
                    let answer = match self.0.chat(provider) {
                        Ok(adapter) => adapter.users(Target { tenant, provider }, &wanted).await,
                        Err(_) => Ok(HashMap::new()),
                    };
                    (keys, answer)
                });
            let mut out = HashMap::new();
            for (keys, answer) in futures_util::future::join_all(calls).await {
                for key in keys {
                    let value = match &answer {
                        Ok(found) => Ok(found.get(&key.key).cloned()),
                        Err(error) => Err(error.clone()),
                    };
                    out.insert(key.clone(), value);
                }
            }
            Ok(out)
        }
        .instrument(batch("chat_users", keys.len()))
        .await
    }
}

/// Messages by the people with these emails: each email resolved to the provider's user
/// through the cached users (one lookup per email not yet known); the channels read once per
/// loader for every batch (`scans`, one pass shared by whichever contacts arrive later), and the
/// messages split per person.
pub struct AuthorMessagesLoader {
    registry: Registry,
    scans: moka::future::Cache<ScanKey, Arc<Vec<Record<Message>>>>,
}

/// A pass over a connection's channels, from a time back.
type ScanKey = (Tenant, Provider, Option<chrono::DateTime<chrono::Utc>>);

impl AuthorMessagesLoader {
    fn new(registry: Registry) -> Self {
        Self {
            registry,
            // A request's loader lives as long as the request; the shared one keeps a pass a
            // few seconds only.
            scans: moka::future::Cache::builder()
                .max_capacity(64)
                .time_to_live(std::time::Duration::from_secs(10))
                .build(),
        }
    }

    async fn pages(
        &self,
        target: Target,
        emails: Vec<UserKey>,
        after: Option<Position>,
        limit: usize,
    ) -> Result<HashMap<UserKey, ListPage<Message>>, ProviderError> {
        let Ok(adapter) = self.registry.chat(target.provider) else {
            return Ok(HashMap::new());
        };
        let users = adapter.users(target, &emails).await?;
        if users.is_empty() {
            return Ok(HashMap::new());
        }
        // Up to and including the position's time: the exact cut is by position.
        let before = after
            .as_ref()
            .map(|p| p.at + chrono::Duration::microseconds(1));
        let scanned = self
            .scans
            .try_get_with((target.tenant, target.provider, before), async {
                adapter.scan(target, before).await.map(Arc::new)
            })
            .await
            .map_err(|e| (*e).clone())?;
        Ok(users
            .into_iter()
            .map(|(email, user)| {
                let page = chat::by_author(&scanned, &user.id, after.as_ref(), limit);
                (email, page)
            })
            .collect())
    }
}

impl Loader<AuthorMessagesKey> for AuthorMessagesLoader {
    type Value = Loaded<ListPage<Message>>;
    type Error = Infallible;

    async fn load(
        &self,
        keys: &[AuthorMessagesKey],
    ) -> Result<HashMap<AuthorMessagesKey, Self::Value>, Infallible> {
        async move {
            let groups = grouped(keys, |k| (k.tenant, k.provider, k.after.clone(), k.limit));
            let calls =
                groups
                    .into_iter()
                    .map(|((tenant, provider, after, limit), keys)| async move {
                        let emails = keys
                            .iter()
                            .map(|k| UserKey::Email(k.email.clone()))
                            .collect();
                        let after = after.map(|(at, remote_id)| Position { at, remote_id });
                        let answer = self
                            .pages(Target { tenant, provider }, emails, after, limit)
                            .await;
                        (keys, answer)
                    });
            let mut out = HashMap::new();
            for (keys, answer) in futures_util::future::join_all(calls).await {
                for key in keys {
                    let value = match &answer {
                        Ok(pages) => Ok(pages
                            .get(&UserKey::Email(key.email.clone()))
                            .cloned()
                            .unwrap_or_else(ListPage::empty)),
                        Err(error) => Err(error.clone()),
                    };
                    out.insert(key.clone(), value);
                }
            }
            Ok(out)
        }
        .instrument(batch("author_messages", keys.len()))
        .await
    }
}

/// Events by attendee: the addresses that arrive together are asked of each calendar's synced
/// copy at once (one join for all of them), else go to the calendar in one call of its adapter
/// (Google: one batch of searches; Outlook: one calendar view split by attendee).
pub struct AttendedLoader(Registry, Arc<dyn ReadModel>);

impl Loader<AttendeeKey> for AttendedLoader {
    type Value = Loaded<(ListPage<Event>, Origin)>;
    type Error = Infallible;

    async fn load(
        &self,
        keys: &[AttendeeKey],
    ) -> Result<HashMap<AttendeeKey, Self::Value>, Infallible> {
        async move {
            let groups = grouped(keys, |k| (k.tenant, k.provider, k.limit, k.max_age));
            let calls =
                groups
                    .into_iter()
                    .map(|((tenant, provider, limit, max_age), keys)| async move {
                        let emails: Vec<String> = keys.iter().map(|k| k.email.clone()).collect();
                        let target = Target { tenant, provider };
                        if !max_age.is_zero()
                            && let Synced::Synced { value, as_of } =
                                self.1.events_of(target, &emails, max_age).await
                        {
                            let origin = Origin::Synced(Arc::new(as_of));
                            let pages: Vec<_> = emails
                                .iter()
                                .map(|e| {
                                    let found = value.get(e).cloned().unwrap_or_default();
                                    (page_after(found, None, limit, false), origin.clone())
                                })
                                .collect();
                            return (keys, Ok(pages));
                        }
                        let answer = match self.0.calendar(provider) {
                            Ok(adapter) => adapter.attended(target, &emails, limit).await,
                            Err(_) => Ok(emails.iter().map(|_| ListPage::empty()).collect()),
                        }
                        .map(|pages| {
                            let origin = Origin::live();
                            pages.into_iter().map(|p| (p, origin.clone())).collect()
                        });
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
                    Err(error) => {
                        out.extend(keys.into_iter().map(|k| (k.clone(), Err(error.clone()))))
                    }
                }
            }
            Ok(out)
        }
        .instrument(batch("attended", keys.len()))
        .await
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
    /// How old a cached page may be (zero: live).
    pub max_age: std::time::Duration,
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

/// Pages of many addresses' mail: from each mailbox's synced copy at once when it answers (one
/// join for every address of the batch), else searched together per mailbox (one Gmail batch of
/// searches, then one of messages).
pub struct EmailsLoader(Registry, Arc<dyn ReadModel>);

/// A page of mail, with where it came from.
pub type MailPage = (ListPage<EmailData>, Origin);

impl Loader<EmailsKey> for EmailsLoader {
    type Value = Loaded<MailPage>;
    type Error = Infallible;

    async fn load(
        &self,
        keys: &[EmailsKey],
    ) -> Result<HashMap<EmailsKey, Self::Value>, Infallible> {
        async move {
            let groups = grouped(keys, |k| (k.tenant, k.provider, k.max_age));
            let calls = groups
                .into_iter()
                .map(|((tenant, provider, max_age), keys)| async move {
                    let requests: Vec<MailRequest> = keys.iter().map(|k| k.request()).collect();
                    let target = Target { tenant, provider };
                    let participants: Vec<String> =
                        keys.iter().map(|k| k.participant.clone()).collect();
                    // The copy keeps no bodies: a page that selects them reads live.
                    if !max_age.is_zero()
                        && keys.iter().all(|k| !k.bodies)
                        && let Synced::Synced { value, as_of } =
                            self.1.emails_of(target, &participants, max_age).await
                    {
                        let origin = Origin::Synced(Arc::new(as_of));
                        let pages: Vec<_> = requests
                            .iter()
                            .zip(&participants)
                            .map(|(request, who)| {
                                let found = value.get(who).cloned().unwrap_or_default();
                                let page =
                                    page_after(found, request.after.as_ref(), request.limit, false);
                                (page, origin.clone())
                            })
                            .collect();
                        return (keys, Ok(pages));
                    }
                    let answer = match self.0.mail(provider) {
                        Ok(mail) => mail.list_many_within(target, &requests, max_age).await,
                        Err(_) => Ok(requests
                            .iter()
                            .map(|_| (ListPage::empty(), Fetch::now()))
                            .collect()),
                    }
                    .map(|pages| {
                        pages
                            .into_iter()
                            .map(|(page, fetch)| (page, Origin::of_fetch(fetch)))
                            .collect()
                    });
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
                    Err(error) => {
                        out.extend(keys.into_iter().map(|k| (k.clone(), Err(error.clone()))))
                    }
                }
            }
            Ok(out)
        }
        .instrument(batch("emails", keys.len()))
        .await
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
        attended: Arc<DataLoader<AttendedLoader, HashMapCache>>,
        gate: Arc<Gate>,
        chat_users: Arc<DataLoader<ChatUserLoader, HashMapCache>>,
        author_messages: Arc<DataLoader<AuthorMessagesLoader, HashMapCache>>,
        items: Arc<Items<HashMapCache>>,
    },
    Shared {
        records: Arc<DataLoader<RecordLoader, NoCache>>,
        relations: Arc<DataLoader<RelationLoader, NoCache>>,
        emails: Arc<DataLoader<EmailsLoader, NoCache>>,
        attended: Arc<DataLoader<AttendedLoader, NoCache>>,
        gate: Arc<Gate>,
        chat_users: Arc<DataLoader<ChatUserLoader, NoCache>>,
        author_messages: Arc<DataLoader<AuthorMessagesLoader, NoCache>>,
        items: Arc<Items<NoCache>>,
    },
}

/// The loaders of emails, events and chat messages by id (federation's `_entities`).
pub struct Items<C: async_graphql::dataloader::CacheFactory> {
    emails: DataLoader<ItemLoader<EmailData>, C>,
    events: DataLoader<ItemLoader<Event>, C>,
    messages: DataLoader<ItemLoader<Message>, C>,
}

impl<C: async_graphql::dataloader::CacheFactory> Items<C> {
    fn new(registry: &Registry, cache: impl Fn() -> C) -> Self {
        Self {
            emails: DataLoader::with_cache(ItemLoader::new(registry.clone()), spawn, cache()),
            events: DataLoader::with_cache(ItemLoader::new(registry.clone()), spawn, cache()),
            messages: DataLoader::with_cache(ItemLoader::new(registry.clone()), spawn, cache()),
        }
    }
}

/// One record by id through an items loader: `None` when the provider has no such record.
async fn item<T, C>(
    loader: &DataLoader<ItemLoader<T>, C>,
    key: ItemKey,
) -> Option<Loaded<(Record<T>, Origin)>>
where
    T: super::items::Item,
    C: async_graphql::dataloader::CacheFactory,
{
    loader
        .load_one(key)
        .await
        .unwrap_or_else(|never| match never {})
}

impl Loaders {
    /// Loaders shared by operations that outlive one request (WebSocket); they never cache.
    pub fn shared(registry: Registry, copy: Arc<dyn ReadModel>) -> Self {
        Loaders::Shared {
            records: Arc::new(DataLoader::new(
                RecordLoader(registry.clone(), copy.clone()),
                spawn,
            )),
            relations: Arc::new(DataLoader::new(
                RelationLoader(registry.clone(), copy.clone()),
                spawn,
            )),
            emails: Arc::new(
                DataLoader::new(EmailsLoader(registry.clone(), copy.clone()), spawn)
                    .delay(EMAILS_GATHER),
            ),
            attended: Arc::new(DataLoader::new(
                AttendedLoader(registry.clone(), copy),
                spawn,
            )),
            gate: Arc::default(),
            chat_users: Arc::new(DataLoader::new(ChatUserLoader(registry.clone()), spawn)),
            items: Arc::new(Items::new(&registry, || NoCache)),
            author_messages: Arc::new(DataLoader::new(AuthorMessagesLoader::new(registry), spawn)),
        }
    }

    /// Loaders for one request, remembering what they fetched until it ends.
    pub fn for_request(registry: Registry, copy: Arc<dyn ReadModel>) -> Self {
        Loaders::Request {
            records: Arc::new(DataLoader::with_cache(
                RecordLoader(registry.clone(), copy.clone()),
                spawn,
                HashMapCache::default(),
            )),
            relations: Arc::new(DataLoader::with_cache(
                RelationLoader(registry.clone(), copy.clone()),
                spawn,
                HashMapCache::default(),
            )),
            emails: Arc::new(
                DataLoader::with_cache(
                    EmailsLoader(registry.clone(), copy.clone()),
                    spawn,
                    HashMapCache::default(),
                )
                .delay(EMAILS_GATHER),
            ),
            connections: Arc::default(),
            attended: Arc::new(DataLoader::with_cache(
                AttendedLoader(registry.clone(), copy.clone()),
                spawn,
                HashMapCache::default(),
            )),
            gate: Arc::default(),
            chat_users: Arc::new(DataLoader::with_cache(
                ChatUserLoader(registry.clone()),
                spawn,
                HashMapCache::default(),
            )),
            items: Arc::new(Items::new(&registry, HashMapCache::default)),
            author_messages: Arc::new(DataLoader::with_cache(
                AuthorMessagesLoader::new(registry),
                spawn,
                HashMapCache::default(),
            )),
        }
    }

    pub async fn records(
        &self,
        keys: impl IntoIterator<Item = RecordKey>,
    ) -> HashMap<RecordKey, Loaded<(Record<CrmData>, Origin)>> {
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

    pub async fn chat_users(
        &self,
        keys: impl IntoIterator<Item = ChatUserKey>,
    ) -> HashMap<ChatUserKey, Loaded<Option<ChatUser>>> {
        let answer = match self {
            Loaders::Request { chat_users, .. } => chat_users.load_many(keys).await,
            Loaders::Shared { chat_users, .. } => chat_users.load_many(keys).await,
        };
        answer.unwrap_or_else(|never| match never {})
    }

    pub async fn author_messages(&self, key: AuthorMessagesKey) -> Loaded<ListPage<Message>> {
        let answer = match self {
            Loaders::Request {
                author_messages, ..
            } => author_messages.load_one(key).await,
            Loaders::Shared {
                author_messages, ..
            } => author_messages.load_one(key).await,
        };
        answer
            .unwrap_or_else(|never| match never {})
            .unwrap_or_else(|| Ok(ListPage::empty()))
    }

    /// One address's first events in one calendar, batched with the other addresses asked for
    /// in the same wave of resolvers (see `gate`).
    pub async fn attended(&self, key: AttendeeKey) -> Loaded<(ListPage<Event>, Origin)> {
        let answer = match self {
            Loaders::Request { attended, gate, .. } => {
                gate.pass().await;
                attended.load_one(key).await
            }
            Loaders::Shared { attended, gate, .. } => {
                gate.pass().await;
                attended.load_one(key).await
            }
        };
        answer
            .unwrap_or_else(|never| match never {})
            .unwrap_or_else(|| Ok((ListPage::empty(), Origin::live())))
    }

    /// An email by id, batched with the others asked for together; `None` when there is none.
    pub async fn email(&self, key: ItemKey) -> Option<Loaded<(Record<EmailData>, Origin)>> {
        match self {
            Loaders::Request { items, .. } => item(&items.emails, key).await,
            Loaders::Shared { items, .. } => item(&items.emails, key).await,
        }
    }

    /// An event by id, batched with the others asked for together; `None` when there is none.
    pub async fn event(&self, key: ItemKey) -> Option<Loaded<(Record<Event>, Origin)>> {
        match self {
            Loaders::Request { items, .. } => item(&items.events, key).await,
            Loaders::Shared { items, .. } => item(&items.events, key).await,
        }
    }

    /// A chat message by id, batched with the others asked for together; `None` when there is
    /// none.
    pub async fn message(&self, key: ItemKey) -> Option<Loaded<(Record<Message>, Origin)>> {
        match self {
            Loaders::Request { items, .. } => item(&items.messages, key).await,
            Loaders::Shared { items, .. } => item(&items.messages, key).await,
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

    /// One page of an address's mail in one mailbox.
    pub async fn emails(&self, key: EmailsKey) -> Loaded<MailPage> {
        let answer = match self {
            Loaders::Request { emails, .. } => emails.load_one(key).await,
            Loaders::Shared { emails, .. } => emails.load_one(key).await,
        };
        answer
            .unwrap_or_else(|never| match never {})
            .unwrap_or_else(|| Ok((ListPage::empty(), Origin::live())))
    }
}
