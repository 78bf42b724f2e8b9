//! The chat capability: the unified message, channel and user that Slack and Teams map to and
//! what a list asks of an adapter (the core vocabulary's `nexus_core::records::chat`), the
//! [`Chat`] trait both implement, and what they keep across requests:
//!
//! - [`ChannelCache`]: a connection's channels, a minute (the catalog's `channels` cache); each
//!   adapter holds a clone (clones share entries) and reads through it.
//! - [`CachedChat`]: the layer the registry puts around each chat adapter, so chat users (authors)
//!   looked up once are not asked for again for five minutes (the catalog's `users` cache),
//!   across requests, and many Slack emails at once are found in its directory.

use std::{collections::HashMap, sync::Arc};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use nexus_core::Chat;
pub use nexus_core::records::chat::*;
pub use nexus_core::records::{ListPage, Position, Record, Sent, page_after};

use super::{Provider, record::Feed};
use crate::{
    auth::Tenant,
    upstream::{Cache, ProviderError, Target},
};

/// Above this many emails to look up at once, Slack's whole directory (`users.list`, one call
/// per 1,000 members) costs less than a `users.lookupByEmail` each.
const DIRECTORY_AFTER: usize = 3;

/// Users already looked up, per connection, for five minutes (the `users` cache; `None`: the
/// provider has no such user, remembered too, so a miss is not asked for again either).
#[derive(Clone)]
pub struct UserCache {
    inner: Cache<(Tenant, UserKey), Arc<Option<ChatUser>>>,
}

impl Default for UserCache {
    fn default() -> Self {
        Self {
            inner: Cache::new("users"),
        }
    }
}

impl UserCache {
    pub async fn get(
        &self,
        tenant: Tenant,
        provider: Provider,
        key: &UserKey,
    ) -> Option<Option<ChatUser>> {
        self.inner
            .get(provider, &(tenant, key.clone()))
            .await
            .map(|u| (*u).clone())
    }

    /// Remembers a lookup; a found user is remembered under its id and its email too.
    pub async fn put(
        &self,
        tenant: Tenant,
        provider: Provider,
        key: UserKey,
        user: Option<ChatUser>,
    ) {
        if let Some(found) = &user {
            let shared = Arc::new(Some(found.clone()));
            self.inner
                .insert(
                    provider,
                    (tenant, UserKey::Id(found.id.clone())),
                    shared.clone(),
                )
                .await;
            if let Some(email) = &found.email {
                self.inner
                    .insert(
                        provider,
                        (tenant, UserKey::Email(email.to_lowercase())),
                        shared,
                    )
                    .await;
            }
        }
        self.inner
            .insert(provider, (tenant, key), Arc::new(user))
            .await;
    }
}

/// A connection's channels, kept a minute (the `channels` cache): every message list needs them
/// (channel names, the channels to read when no channel is named), and they rarely change.
#[derive(Clone)]
pub struct ChannelCache {
    inner: Cache<Tenant, Arc<Vec<Record<Channel>>>>,
}

impl Default for ChannelCache {
    fn default() -> Self {
        Self {
            inner: Cache::new("channels"),
        }
    }
}

impl ChannelCache {
    /// The connection's channels, listed by `list` when not cached; concurrent misses share one
    /// listing, and a failed listing is not kept.
    pub async fn get_or_list(
        &self,
        tenant: Tenant,
        provider: Provider,
        list: impl Future<Output = Result<Vec<Record<Channel>>, ProviderError>>,
    ) -> Result<Arc<Vec<Record<Channel>>>, ProviderError> {
        self.inner
            .try_get_with(provider, tenant, async { list.await.map(Arc::new) })
            .await
            .map_err(|e| (*e).clone())
    }
}

/// A chat adapter behind the user caches, shared by every chat adapter of the registry.
pub struct CachedChat {
    inner: Arc<dyn Chat>,
    users: UserCache,
    /// A workspace's whole directory, when a join needed many emails at once (the `directory`
    /// cache; concurrent misses share one listing).
    directory: Cache<Tenant, Arc<Vec<ChatUser>>>,
}

/// The caches every [`CachedChat`] shares (clones share entries).
#[derive(Clone)]
pub struct ChatCaches {
    users: UserCache,
    /// A Slack workspace's whole directory, when a join needed many emails at once (the
    /// `directory` cache, five minutes; concurrent misses share one listing).
    directory: Cache<Tenant, Arc<Vec<ChatUser>>>,
}

impl Default for ChatCaches {
    fn default() -> Self {
        Self {
            users: UserCache::default(),
            directory: Cache::new("directory"),
        }
    }
}

impl CachedChat {
    /// `inner` behind the shared `caches`.
    pub fn new(inner: Arc<dyn Chat>, caches: &ChatCaches) -> Self {
        Self {
            inner,
            users: caches.users.clone(),
            directory: caches.directory.clone(),
        }
    }
}

#[async_trait]
impl Chat for CachedChat {
    fn owns_channel(&self, id: &str) -> bool {
        self.inner.owns_channel(id)
    }

    async fn messages(
        &self,
        target: Target,
        query: &MessageQuery,
    ) -> Result<ListPage<Message>, ProviderError> {
        self.inner.messages(target, query).await
    }

    async fn channels(
        &self,
        target: Target,
        query: &ChannelQuery,
    ) -> Result<ListPage<Channel>, ProviderError> {
        self.inner.channels(target, query).await
    }

    async fn message(
        &self,
        target: Target,
        remote_id: &str,
    ) -> Result<Option<Record<Message>>, ProviderError> {
        self.inner.message(target, remote_id).await
    }

    async fn get_many(
        &self,
        target: Target,
        ids: &[String],
    ) -> Result<Vec<Record<Message>>, ProviderError> {
        self.inner.get_many(target, ids).await
    }

    async fn post(
        &self,
        target: Target,
        post: &PostMessage,
    ) -> Result<Sent<Message>, ProviderError> {
        self.inner.post(target, post).await
    }

    async fn find_posted(
        &self,
        target: Target,
        post: &PostMessage,
        since: DateTime<Utc>,
    ) -> Result<Option<Record<Message>>, ProviderError> {
        self.inner.find_posted(target, post, since).await
    }

    async fn scan(
        &self,
        target: Target,
        before: Option<DateTime<Utc>>,
    ) -> Result<Vec<Record<Message>>, ProviderError> {
        self.inner.scan(target, before).await
    }

    async fn user(&self, target: Target, key: &UserKey) -> Result<Option<ChatUser>, ProviderError> {
        self.inner.user(target, key).await
    }

    fn lists_directory(&self) -> bool {
        self.inner.lists_directory()
    }

    async fn directory(&self, target: Target) -> Result<Vec<ChatUser>, ProviderError> {
        self.inner.directory(target).await
    }

    /// Users by id or email, from the cache where looked up in the last five minutes, else from
    /// the provider (all misses at once; many Slack emails through the directory); keys nobody
    /// has are absent from the answer.
    async fn users(
        &self,
        target: Target,
        keys: &[UserKey],
    ) -> Result<HashMap<UserKey, ChatUser>, ProviderError> {
        let cache = &self.users;
        let provider = target.provider;
        let mut out = HashMap::new();
        let mut missing = Vec::new();
        for key in keys {
            match cache.get(target.tenant, provider, key).await {
                Some(Some(user)) => {
                    out.insert(key.clone(), user);
                }
                Some(None) => {}
                None => missing.push(key.clone()),
            }
        }
        let emails = missing
            .iter()
            .filter(|k| matches!(k, UserKey::Email(_)))
            .count();
        let listed = self.directory.contains_key(provider, &target.tenant);
        if self.inner.lists_directory() && emails > 0 && (emails > DIRECTORY_AFTER || listed) {
            let everyone = self
                .directory
                .try_get_with(provider, target.tenant, async {
                    self.inner.directory(target).await.map(Arc::new)
                })
                .await
                .map_err(|e| (*e).clone())?;
            for user in everyone.iter() {
                cache
                    .put(
                        target.tenant,
                        provider,
                        UserKey::Id(user.id.clone()),
                        Some(user.clone()),
                    )
                    .await;
            }
            let mut others = Vec::new();
            for key in missing {
                let UserKey::Email(email) = &key else {
                    others.push(key);
                    continue;
                };
                let user = everyone
                    .iter()
                    .find(|u| u.email.as_deref() == Some(email.as_str()))
                    .cloned();
                cache
                    .put(target.tenant, provider, key.clone(), user.clone())
                    .await;
                if let Some(user) = user {
                    out.insert(key, user);
                }
            }
            missing = others;
        }
        let found = self.inner.users(target, &missing).await?;
        for key in missing {
            let user = found.get(&key).cloned();
            cache
                .put(target.tenant, provider, key.clone(), user.clone())
                .await;
            if let Some(user) = user {
                out.insert(key, user);
            }
        }
        Ok(out)
    }

    fn feeds(&self) -> bool {
        self.inner.feeds()
    }

    async fn changes(
        &self,
        target: Target,
        cursor: Option<&str>,
    ) -> Result<Option<Feed>, ProviderError> {
        self.inner.changes(target, cursor).await
    }
}
