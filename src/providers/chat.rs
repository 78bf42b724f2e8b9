//! The chat capability: the unified message, channel and user that Slack and Teams map to, what a
//! list asks of an adapter, and the adapter enum that dispatches to the provider.
//!
//! - Messages run newest first by sent time (Slack's `ts`, Teams' `createdDateTime`), ties broken
//!   by the remote id, so a `Position` resumes exactly. A message's remote id names its channel
//!   (`C0123:1712345678.000100` in Slack, `team/channel/message` in Teams), since a Slack `ts` is
//!   only unique within its channel and both providers need the channel to read a message again.
//! - Channels run newest first by created time (the only immutable time key both providers give;
//!   ties by id). A Teams channel's id carries its team: `{teamId}/{channelId}`, because every
//!   Graph call on a channel names the team too.
//! - Chat users (authors) resolve through [`UserCache`]: one `users` cache per registry, so a
//!   user looked up once is not asked for again for five minutes (the catalog's `ttl_secs`),
//!   across requests.

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Utc};
use futures_util::future::try_join_all;

pub use super::record::{ListPage, Position, Record};
use super::{
    Provider,
    microsoft::MicrosoftProvider,
    record::{Feed, Order, Sorted},
    slack::SlackProvider,
};
use crate::{
    auth::Tenant,
    upstream::{Cache, ProviderError, Target},
};

/// A chat message.
#[derive(Debug, Clone)]
pub struct Message {
    pub text: String,
    pub channel: ChannelRef,
    /// The author's provider id (Slack `U…`, a Graph user id); `None` for system messages.
    pub author: Option<String>,
    pub sent_at: DateTime<Utc>,
    /// The thread's parent in the provider's terms (Slack parent `ts`, Teams parent message id):
    /// set on replies and on parents that have replies.
    pub thread_id: Option<String>,
    pub reply_count: u32,
}

/// The channel a message is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRef {
    pub id: String,
    pub name: Option<String>,
}

/// Messages run newest first by sent time.
impl Sorted for Message {
    const ORDER: Order = Order::NewestFirst;

    fn key(record: &Record<Self>) -> DateTime<Utc> {
        record.data.sent_at
    }
}

/// A channel (Slack conversation, Teams channel).
#[derive(Debug, Clone)]
pub struct Channel {
    pub name: String,
    pub topic: Option<String>,
    pub is_private: bool,
}

/// Channels run newest first by created time.
impl Sorted for Channel {
    const ORDER: Order = Order::NewestFirst;

    fn key(record: &Record<Self>) -> DateTime<Utc> {
        record.created_at
    }
}

/// A person who writes messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatUser {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// What a message list keeps. Every filter narrows; `channel`, `after` and `before` are pushed
/// down (Slack `channel`/`oldest`/`latest`; Teams reads only the named channel), `text_contains`
/// and `authors` are applied to what the provider returns (neither API filters on them).
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    /// The provider's channel id (Teams: `{teamId}/{channelId}`).
    pub channel: Option<String>,
    /// Only the replies in this message's thread (needs `channel`).
    pub thread: Option<String>,
    pub after: Option<DateTime<Utc>>,
    pub before: Option<DateTime<Utc>>,
    pub text_contains: Option<String>,
    /// Only messages by these provider user ids (the email join).
    pub authors: Vec<String>,
}

impl MessageFilter {
    /// Whether a fetched message passes the filters the provider could not apply.
    pub fn keeps(&self, message: &Message) -> bool {
        let text = self
            .text_contains
            .as_ref()
            .is_none_or(|needle| message.text.to_lowercase().contains(&needle.to_lowercase()));
        let author = self.authors.is_empty()
            || message
                .author
                .as_ref()
                .is_some_and(|a| self.authors.contains(a));
        let window = self.after.is_none_or(|a| message.sent_at > a)
            && self.before.is_none_or(|b| message.sent_at < b);
        text && author && window
    }
}

/// One page of messages, asked of one provider.
#[derive(Debug, Clone)]
pub struct MessageQuery {
    pub filter: MessageFilter,
    /// Messages strictly after this position (older, or as old with a smaller id).
    pub after: Option<Position>,
    pub limit: usize,
}

/// One page of channels, asked of one provider.
#[derive(Debug, Clone)]
pub struct ChannelQuery {
    pub name_contains: Option<String>,
    pub after: Option<Position>,
    pub limit: usize,
}

/// A message to post.
#[derive(Debug, Clone)]
pub struct PostMessage {
    pub channel: String,
    pub text: String,
    /// Reply in the thread of this message (its provider id).
    pub thread: Option<String>,
}

/// How a user is looked up.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UserKey {
    Id(String),
    Email(String),
}

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

/// What the chat adapters keep across requests.
#[derive(Clone)]
pub struct ChatCaches {
    pub users: UserCache,
    pub channels: ChannelCache,
    /// A Slack workspace's whole directory, when a join needed many emails at once (the
    /// `directory` cache, five minutes; concurrent misses share one listing).
    directory: Cache<Tenant, Arc<Vec<ChatUser>>>,
}

impl Default for ChatCaches {
    fn default() -> Self {
        Self {
            users: UserCache::default(),
            channels: ChannelCache::default(),
            directory: Cache::new("directory"),
        }
    }
}

/// Keeps the page of `records` (already in list order) that comes after `after`, at most
/// `limit`; `more` when some were left over or the source has more.
pub fn page_after<T: Sorted>(
    mut records: Vec<Record<T>>,
    after: Option<&Position>,
    limit: usize,
    source_more: bool,
) -> ListPage<T> {
    records.sort_by(|a, b| Position::compare(T::ORDER, &a.position(), &b.position()));
    records.retain(|r| after.is_none_or(|p| p.precedes(r)));
    let more = source_more || records.len() > limit;
    records.truncate(limit);
    ListPage { records, more }
}

/// A chat adapter, with the caches it keeps across requests.
#[derive(Clone, Copy)]
pub enum ChatAdapter<'a> {
    Slack(&'a SlackProvider, &'a ChatCaches),
    Teams(&'a MicrosoftProvider, &'a ChatCaches),
}

impl ChatAdapter<'_> {
    pub fn provider(&self) -> Provider {
        match self {
            ChatAdapter::Slack(..) => Provider::Slack,
            ChatAdapter::Teams(..) => Provider::Teams,
        }
    }

    fn caches(&self) -> &ChatCaches {
        match self {
            ChatAdapter::Slack(_, c) | ChatAdapter::Teams(_, c) => c,
        }
    }

    /// Whether a channel id is this provider's: Teams ids carry their team (`team/channel`),
    /// Slack's never hold a `/`.
    pub fn owns_channel(&self, id: &str) -> bool {
        match self {
            ChatAdapter::Slack(..) => !id.contains('/'),
            ChatAdapter::Teams(..) => id.contains('/'),
        }
    }

    // Each provider's future is boxed: they are large, and a resolver holds several.
    pub async fn messages(
        &self,
        target: Target,
        query: &MessageQuery,
    ) -> Result<ListPage<Message>, ProviderError> {
        match self {
            ChatAdapter::Slack(a, c) => Box::pin(a.messages(target, &c.channels, query)).await,
            ChatAdapter::Teams(a, c) => Box::pin(a.team_messages(target, &c.channels, query)).await,
        }
    }

    pub async fn channels(
        &self,
        target: Target,
        query: &ChannelQuery,
    ) -> Result<ListPage<Channel>, ProviderError> {
        match self {
            ChatAdapter::Slack(a, c) => Box::pin(a.channels(target, &c.channels, query)).await,
            ChatAdapter::Teams(a, c) => Box::pin(a.team_channels(target, &c.channels, query)).await,
        }
    }

    /// One message by its remote id; `None` when the provider has no such message.
    pub async fn message(
        &self,
        target: Target,
        remote_id: &str,
    ) -> Result<Option<Record<Message>>, ProviderError> {
        match self {
            ChatAdapter::Slack(a, c) => Box::pin(a.message(target, &c.channels, remote_id)).await,
            ChatAdapter::Teams(a, c) => {
                Box::pin(a.team_message(target, &c.channels, remote_id)).await
            }
        }
    }

    pub async fn post(
        &self,
        target: Target,
        post: &PostMessage,
    ) -> Result<Record<Message>, ProviderError> {
        match self {
            ChatAdapter::Slack(a, c) => Box::pin(a.post(target, &c.channels, post)).await,
            ChatAdapter::Teams(a, c) => Box::pin(a.team_post(target, &c.channels, post)).await,
        }
    }

    /// Whether the provider keeps a change feed to poll (Teams' delta; Slack only pushes).
    pub fn feeds(&self) -> bool {
        matches!(self, ChatAdapter::Teams(..))
    }

    /// The messages changed after `cursor` (from now when `None`) where the provider keeps a
    /// change feed: Teams' channel-message delta; Slack has none to poll (its Events API pushes).
    pub async fn changes(
        &self,
        target: Target,
        cursor: Option<&str>,
    ) -> Result<Option<Feed>, ProviderError> {
        match self {
            ChatAdapter::Slack(..) => Ok(None),
            ChatAdapter::Teams(a, c) => Box::pin(a.teams_changes(target, &c.channels, cursor))
                .await
                .map(Some),
        }
    }

    /// Every message of every channel the connection reads (the bot's member channels in
    /// Slack, the joined channels in Teams) sent before `before`, each channel read once and to a
    /// bounded depth: what the join by email splits per author.
    pub async fn scan(
        &self,
        target: Target,
        before: Option<DateTime<Utc>>,
    ) -> Result<Vec<Record<Message>>, ProviderError> {
        let filter = MessageFilter {
            before,
            ..MessageFilter::default()
        };
        match self {
            ChatAdapter::Slack(a, c) => Box::pin(a.scan(target, &c.channels, &filter)).await,
            ChatAdapter::Teams(a, c) => Box::pin(a.team_scan(target, &c.channels, &filter)).await,
        }
    }

    /// Users by id or email, from the cache where looked up in the last five minutes, else from
    /// the provider (all misses at once; many Slack emails through the directory); keys nobody
    /// has are absent from the answer.
    pub async fn users(
        &self,
        target: Target,
        keys: &[UserKey],
    ) -> Result<HashMap<UserKey, ChatUser>, ProviderError> {
        let cache = &self.caches().users;
        let provider = self.provider();
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
        let caches = self.caches();
        let listed = caches.directory.contains_key(provider, &target.tenant);
        if let ChatAdapter::Slack(a, _) = self
            && emails > 0
            && (emails > DIRECTORY_AFTER || listed)
        {
            let everyone = caches
                .directory
                .try_get_with(provider, target.tenant, async {
                    a.directory(target).await.map(Arc::new)
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
        let found = try_join_all(missing.into_iter().map(|key| async move {
            let user = match (self, &key) {
                (ChatAdapter::Slack(a, _), UserKey::Id(id)) => a.user(target, id).await?,
                (ChatAdapter::Slack(a, _), UserKey::Email(e)) => a.user_by_email(target, e).await?,
                (ChatAdapter::Teams(a, _), UserKey::Id(k) | UserKey::Email(k)) => {
                    a.graph_user(target, k).await?
                }
            };
            Ok::<_, ProviderError>((key, user))
        }))
        .await?;
        for (key, user) in found {
            cache
                .put(target.tenant, provider, key.clone(), user.clone())
                .await;
            if let Some(user) = user {
                out.insert(key, user);
            }
        }
        Ok(out)
    }
}

/// One author's page of a scan: their messages, newest first, at most `limit` after `after`.
pub fn by_author(
    scanned: &[Record<Message>],
    author: &str,
    after: Option<&Position>,
    limit: usize,
) -> ListPage<Message> {
    let mine = scanned
        .iter()
        .filter(|r| r.data.author.as_deref() == Some(author))
        .cloned()
        .collect();
    page_after(mine, after, limit, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str, at: i64, author: &str, text: &str) -> Record<Message> {
        let sent_at = DateTime::from_timestamp(at, 0).unwrap();
        Record {
            provider: Provider::Slack,
            remote_id: id.to_owned(),
            created_at: sent_at,
            updated_at: sent_at,
            raw: serde_json::Value::Null,
            data: Message {
                text: text.to_owned(),
                channel: ChannelRef {
                    id: "C1".into(),
                    name: None,
                },
                author: Some(author.to_owned()),
                sent_at,
                thread_id: None,
                reply_count: 0,
            },
        }
    }

    #[test]
    fn a_page_runs_newest_first_strictly_after_the_position() {
        let records = vec![
            message("C1:1", 100, "U1", "a"),
            message("C1:3", 300, "U1", "c"),
            message("C2:3", 300, "U2", "c2"),
            message("C1:2", 200, "U2", "b"),
        ];
        let page = page_after(records.clone(), None, 2, false);
        let ids: Vec<&str> = page.records.iter().map(|r| r.remote_id.as_str()).collect();
        assert_eq!(ids, ["C2:3", "C1:3"], "ties by id, in the list's direction");
        assert!(page.more);
        let after = page.records[1].position();
        let rest = page_after(records, Some(&after), 5, false);
        let ids: Vec<&str> = rest.records.iter().map(|r| r.remote_id.as_str()).collect();
        assert_eq!(ids, ["C1:2", "C1:1"]);
        assert!(!rest.more);
    }

    #[test]
    fn filters_keep_text_authors_and_the_open_window() {
        let m = message("C1:2", 200, "U2", "Quarterly Review");
        let mut filter = MessageFilter {
            text_contains: Some("review".into()),
            ..MessageFilter::default()
        };
        assert!(filter.keeps(&m.data));
        filter.authors = vec!["U1".into()];
        assert!(!filter.keeps(&m.data));
        filter.authors = vec!["U2".into()];
        filter.after = DateTime::from_timestamp(200, 0);
        assert!(!filter.keeps(&m.data), "after is exclusive");
        filter.after = DateTime::from_timestamp(199, 0);
        filter.before = DateTime::from_timestamp(201, 0);
        assert!(filter.keeps(&m.data));
    }
}
