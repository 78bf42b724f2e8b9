//! The chat capability (Slack, Teams).

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt, future::try_join_all, stream};

use crate::{
    ProviderError, Target,
    records::{
        Feed, ListPage, Record, Sent,
        chat::{Channel, ChannelQuery, ChatUser, Message, MessageQuery, PostMessage, UserKey},
    },
};

/// The most single-message reads [`Chat::get_many`] has in flight at once by default.
pub const LOOKUPS_AT_ONCE: usize = 4;

/// A chat workspace: messages newest first, channels, posting, the people who write, and
/// (where the provider keeps one) a change feed.
#[async_trait]
pub trait Chat: Send + Sync {
    /// Whether a channel id is this provider's (Teams ids carry their team: `team/channel`;
    /// Slack's never hold a `/`).
    fn owns_channel(&self, id: &str) -> bool;

    async fn messages(
        &self,
        target: Target,
        query: &MessageQuery,
    ) -> Result<ListPage<Message>, ProviderError>;

    async fn channels(
        &self,
        target: Target,
        query: &ChannelQuery,
    ) -> Result<ListPage<Channel>, ProviderError>;

    /// One message by its remote id; `None` when the provider has no such message.
    async fn message(
        &self,
        target: Target,
        remote_id: &str,
    ) -> Result<Option<Record<Message>>, ProviderError>;

    /// Messages by their remote ids; ids of no message are absent from the answer, which is in
    /// no particular order. By default each is read with [`message`](Self::message), at most
    /// [`LOOKUPS_AT_ONCE`] at a time: Slack has no read by many ids (each is a
    /// `conversations.history` or `conversations.replies` call bounded to the message's own
    /// time), and a Teams message's channel and thread decide its call.
    async fn get_many(
        &self,
        target: Target,
        ids: &[String],
    ) -> Result<Vec<Record<Message>>, ProviderError> {
        let found: Vec<Option<Record<Message>>> = stream::iter(ids.to_vec())
            .map(|id| async move { self.message(target, &id).await })
            .buffered(LOOKUPS_AT_ONCE)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// Posts; an error is a post that did not go out or may not have (see
    /// [`ProviderError::may_have_acted`]), a [`Sent::Unread`] one that went out.
    async fn post(
        &self,
        target: Target,
        post: &PostMessage,
    ) -> Result<Sent<Message>, ProviderError>;

    /// The message posted with `post.marker` in `post.channel` (and thread) at or after
    /// `since`, if any.
    async fn find_posted(
        &self,
        target: Target,
        post: &PostMessage,
        since: DateTime<Utc>,
    ) -> Result<Option<Record<Message>>, ProviderError>;

    /// Every message of every channel the connection reads (the bot's member channels in
    /// Slack, the joined channels in Teams) sent before `before`, each channel read once and to
    /// a bounded depth: what the join by email splits per author.
    async fn scan(
        &self,
        target: Target,
        before: Option<DateTime<Utc>>,
    ) -> Result<Vec<Record<Message>>, ProviderError>;

    /// One user by id or email; `None` when the provider has no such user.
    async fn user(&self, target: Target, key: &UserKey) -> Result<Option<ChatUser>, ProviderError>;

    /// Whether [`directory`](Self::directory) lists the workspace's users in fewer calls than
    /// looking several up one by one (Slack's `users.list`).
    fn lists_directory(&self) -> bool {
        false
    }

    /// Every user of the workspace, where [`lists_directory`](Self::lists_directory) says the
    /// provider can list them; empty otherwise.
    async fn directory(&self, _target: Target) -> Result<Vec<ChatUser>, ProviderError> {
        Ok(Vec::new())
    }

    /// Users by id or email, keys nobody has absent from the answer: by default each looked up
    /// at once with [`user`](Self::user); a caching layer answers from its cache first.
    async fn users(
        &self,
        target: Target,
        keys: &[UserKey],
    ) -> Result<HashMap<UserKey, ChatUser>, ProviderError> {
        let found = try_join_all(keys.iter().map(|key| async move {
            Ok::<_, ProviderError>((key.clone(), self.user(target, key).await?))
        }))
        .await?;
        Ok(found
            .into_iter()
            .filter_map(|(key, user)| Some((key, user?)))
            .collect())
    }

    /// Sync hook: whether the provider keeps a change feed to poll (Teams' delta); Slack only
    /// pushes (its Events API), so by default there is none.
    fn feeds(&self) -> bool {
        false
    }

    /// Sync hook: the messages changed after `cursor` (from now when `None`), where
    /// [`feeds`](Self::feeds) says the provider keeps a feed; `None` otherwise.
    async fn changes(
        &self,
        _target: Target,
        _cursor: Option<&str>,
    ) -> Result<Option<Feed>, ProviderError> {
        Ok(None)
    }
}
