//! Slack channels, messages and users through the Web API.
//!
//! - Channels: `conversations.list` (public channels, 1,000 a page, every page), cached a minute
//!   per connection; sorted here newest first by `created`.
//! - Messages: `conversations.history` of the named channel, or of every channel the bot is a
//!   member of (one call each, merged: a channel's newest `limit` are enough to know the
//!   overall newest `limit`). The position and `before` go down as `latest`, `after` as
//!   `oldest` (`inclusive`, the exact cut is made here: a `ts` is unique only per channel).
//!   A thread (`filter.thread`) reads `conversations.replies`, the parent left out.
//! - Posting: `chat.postMessage`, `thread_ts` for a reply.
//! - Users: `users.info` by id, `users.lookupByEmail` by email, `users.list` for many emails.

use chrono::{DateTime, Utc};
use futures_util::future::try_join_all;
use serde_json::{Value, json};

use crate::{
    providers::{
        Provider,
        chat::{Channel, ChannelQuery},
        chat::{
            ChannelCache, ChannelRef, ChatUser, ListPage, Message, MessageFilter, MessageQuery,
            Position, PostMessage, Record, Sent, page_after,
        },
    },
    upstream::{Call, ErrorKind, ProviderError, Target},
};

use super::{
    SlackProvider,
    error::classify,
    map::{self, ts_of},
    model::{Conversations, History, Members, Posted, UserAnswer},
};

/// The `event_type` of the metadata a keyed post carries (Slack asks for a short snake_case
/// name).
const METADATA_EVENT: &str = "nexus_send";

/// A thread named by a message's remote id (`{channel}:{ts}`) or by its `ts`: the `ts`.
fn thread_ts(thread: &str) -> &str {
    map::split_message_id(thread).map_or(thread, |(_, ts)| ts)
}

/// Slack's largest `conversations.list` and `conversations.history` pages.
const LIST_LIMIT: usize = 1000;
const HISTORY_LIMIT: usize = 999;
/// How deep a join scans each channel's history (pages of [`HISTORY_LIMIT`]).
const SCAN_PAGES: usize = 3;

impl SlackProvider {
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        target: Target,
        call: Call,
    ) -> Result<T, ProviderError> {
        let reply = self.upstream.send(target, &call, classify).await?;
        reply.json(Provider::Slack, call.op)
    }

    /// Every public channel the app sees, newest first.
    async fn list_channels(&self, target: Target) -> Result<Vec<Record<Channel>>, ProviderError> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let mut call = Call::get("conversations.list", "/api/conversations.list")
                .query("types", "public_channel")
                .query("limit", LIST_LIMIT.to_string());
            if !cursor.is_empty() {
                call = call.query("cursor", cursor.as_str());
            }
            let page: Conversations = self.call(target, call).await?;
            out.extend(page.channels.into_iter().filter_map(map::channel));
            cursor = page.response_metadata.next_cursor;
            if cursor.is_empty() {
                break;
            }
        }
        Ok(page_after(out, None, usize::MAX, false).records)
    }

    pub async fn channels(
        &self,
        target: Target,
        cache: &ChannelCache,
        query: &ChannelQuery,
    ) -> Result<ListPage<Channel>, ProviderError> {
        let all = cache
            .get_or_list(target.tenant, Provider::Slack, self.list_channels(target))
            .await?;
        let needle = query.name_contains.as_deref().map(str::to_lowercase);
        let kept: Vec<Record<Channel>> = all
            .iter()
            .filter(|c| {
                needle
                    .as_ref()
                    .is_none_or(|n| c.data.name.to_lowercase().contains(n))
            })
            .cloned()
            .collect();
        Ok(page_after(kept, query.after.as_ref(), query.limit, false))
    }

    pub async fn messages(
        &self,
        target: Target,
        cache: &ChannelCache,
        query: &MessageQuery,
    ) -> Result<ListPage<Message>, ProviderError> {
        let channels = cache
            .get_or_list(target.tenant, Provider::Slack, self.list_channels(target))
            .await?;
        let refs: Vec<ChannelRef> = match &query.filter.channel {
            Some(id) => vec![ChannelRef {
                name: channels
                    .iter()
                    .find(|c| &c.remote_id == id)
                    .map(|c| c.data.name.clone()),
                id: id.clone(),
            }],
            None => channels
                .iter()
                .filter(|c| map::is_member(c))
                .map(|c| ChannelRef {
                    id: c.remote_id.clone(),
                    name: Some(c.data.name.clone()),
                })
                .collect(),
        };
        if let (Some(thread), [channel]) = (&query.filter.thread, refs.as_slice()) {
            return self.thread(target, channel.clone(), thread, query).await;
        }
        let pages = try_join_all(
            refs.into_iter()
                .map(|channel| self.history(target, channel, query)),
        )
        .await?;
        let more = pages.iter().any(|p| p.more);
        let records = pages.into_iter().flat_map(|p| p.records).collect();
        Ok(page_after(records, None, query.limit, more))
    }

    /// Every message that passes `filter` (the authors of a join) in every member channel, each
    /// channel read once from `before` back, at most [`SCAN_PAGES`] pages deep.
    pub async fn scan(
        &self,
        target: Target,
        cache: &ChannelCache,
        filter: &MessageFilter,
    ) -> Result<Vec<Record<Message>>, ProviderError> {
        let channels = cache
            .get_or_list(target.tenant, Provider::Slack, self.list_channels(target))
            .await?;
        let reads = channels.iter().filter(|c| map::is_member(c)).map(|c| {
            let channel = ChannelRef {
                id: c.remote_id.clone(),
                name: Some(c.data.name.clone()),
            };
            self.scan_channel(target, channel, filter)
        });
        Ok(try_join_all(reads).await?.concat())
    }

    async fn scan_channel(
        &self,
        target: Target,
        channel: ChannelRef,
        filter: &MessageFilter,
    ) -> Result<Vec<Record<Message>>, ProviderError> {
        let mut kept = Vec::new();
        let mut cursor = String::new();
        for _ in 0..SCAN_PAGES {
            let mut call = Call::get("conversations.history", "/api/conversations.history")
                .query("channel", channel.id.as_str())
                .query("limit", HISTORY_LIMIT.to_string());
            if let Some(latest) = filter.before {
                call = call.query("latest", ts_of(latest));
            }
            if let Some(oldest) = filter.after {
                call = call.query("oldest", ts_of(oldest));
            }
            if !cursor.is_empty() {
                call = call.query("cursor", cursor.as_str());
            }
            let page: History = self.call(target, call).await?;
            kept.extend(
                page.messages
                    .into_iter()
                    .filter_map(|m| map::message(channel.clone(), m))
                    .filter(|r| filter.keeps(&r.data)),
            );
            cursor = page.response_metadata.next_cursor;
            if !page.has_more || cursor.is_empty() {
                break;
            }
        }
        Ok(kept)
    }

    /// One channel's newest `limit` messages after the position that pass the filter; `more`
    /// only when the channel has more of them (then exactly `limit` came back).
    async fn history(
        &self,
        target: Target,
        channel: ChannelRef,
        query: &MessageQuery,
    ) -> Result<ListPage<Message>, ProviderError> {
        let filter = &query.filter;
        let latest = match (&query.after, filter.before) {
            (Some(p), Some(b)) => Some(p.at.min(b)),
            (Some(p), None) => Some(p.at),
            (None, b) => b,
        };
        let mut kept = Vec::new();
        let mut cursor = String::new();
        loop {
            let want = (query.limit + 1).min(HISTORY_LIMIT);
            let mut call = Call::get("conversations.history", "/api/conversations.history")
                .query("channel", channel.id.as_str())
                .query("limit", want.to_string())
                .query("inclusive", "true");
            if let Some(latest) = latest {
                call = call.query("latest", ts_of(latest));
            }
            if let Some(oldest) = filter.after {
                call = call.query("oldest", ts_of(oldest));
            }
            if !cursor.is_empty() {
                call = call.query("cursor", cursor.as_str());
            }
            let page: History = self.call(target, call).await?;
            kept.extend(
                page.messages
                    .into_iter()
                    .filter_map(|m| map::message(channel.clone(), m))
                    .filter(|r| passes(filter, query.after.as_ref(), r)),
            );
            cursor = page.response_metadata.next_cursor;
            if kept.len() > query.limit || !page.has_more || cursor.is_empty() {
                return Ok(page_after(kept, None, query.limit, false));
            }
        }
    }

    /// The replies of one thread (the parent left out), newest first.
    async fn thread(
        &self,
        target: Target,
        channel: ChannelRef,
        parent: &str,
        query: &MessageQuery,
    ) -> Result<ListPage<Message>, ProviderError> {
        let mut kept = Vec::new();
        for raw in self.replies(target, &channel.id, parent).await? {
            if let Some(record) = map::message(channel.clone(), raw)
                && record.remote_id != map::message_id(&channel.id, parent)
                && passes(&query.filter, query.after.as_ref(), &record)
            {
                kept.push(record);
            }
        }
        Ok(page_after(kept, None, query.limit, false))
    }

    /// Every message of the thread `ts` belongs to, parent first.
    async fn replies(
        &self,
        target: Target,
        channel: &str,
        ts: &str,
    ) -> Result<Vec<Value>, ProviderError> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let mut call = Call::get("conversations.replies", "/api/conversations.replies")
                .query("channel", channel)
                .query("ts", ts)
                .query("limit", "1000");
            if !cursor.is_empty() {
                call = call.query("cursor", cursor.as_str());
            }
            let page: History = self.call(target, call).await?;
            out.extend(page.messages);
            cursor = page.response_metadata.next_cursor;
            if cursor.is_empty() {
                return Ok(out);
            }
        }
    }

    /// One message by its remote id (`{channel}:{ts}`), a reply as well as a channel message.
    pub async fn message(
        &self,
        target: Target,
        cache: &ChannelCache,
        remote_id: &str,
    ) -> Result<Option<Record<Message>>, ProviderError> {
        let Some((channel, ts)) = map::split_message_id(remote_id) else {
            return Ok(None);
        };
        let channel = self.channel_ref(target, cache, channel).await?;
        let thread = match self.replies(target, &channel.id, ts).await {
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(None),
            other => other?,
        };
        Ok(thread
            .into_iter()
            .filter_map(|m| map::message(channel.clone(), m))
            .find(|r| r.remote_id == remote_id))
    }

    async fn channel_ref(
        &self,
        target: Target,
        cache: &ChannelCache,
        id: &str,
    ) -> Result<ChannelRef, ProviderError> {
        let channels = cache
            .get_or_list(target.tenant, Provider::Slack, self.list_channels(target))
            .await?;
        Ok(ChannelRef {
            id: id.to_owned(),
            name: channels
                .iter()
                .find(|c| c.remote_id == id)
                .map(|c| c.data.name.clone()),
        })
    }

    pub async fn post(
        &self,
        target: Target,
        cache: &ChannelCache,
        post: &PostMessage,
    ) -> Result<Sent<Message>, ProviderError> {
        let mut body = json!({ "channel": post.channel, "text": post.text });
        if let Some(thread) = &post.thread {
            body["thread_ts"] = json!(thread_ts(thread));
        }
        if let Some(marker) = &post.marker {
            body["metadata"] = json!({
                "event_type": METADATA_EVENT,
                "event_payload": { "key": marker },
            });
        }
        let call = Call::write(
            "chat.postMessage",
            http::Method::POST,
            "/api/chat.postMessage",
            body,
        );
        let posted: Posted = self.call(target, call).await?;
        let channel = match self.channel_ref(target, cache, &posted.channel).await {
            Ok(channel) => channel,
            Err(error) => {
                return Ok(Sent::Unread {
                    remote_id: None,
                    error,
                });
            }
        };
        Ok(match map::message(channel, posted.message) {
            Some(record) => Sent::Read(record),
            None => Sent::Unread {
                remote_id: None,
                error: ProviderError::new(
                    ErrorKind::Upstream,
                    Provider::Slack,
                    "chat.postMessage",
                    "the posted message came back without a ts",
                ),
            },
        })
    }

    /// The message `post` made, found by its metadata (`event_type` [`METADATA_EVENT`], the
    /// marker as `event_payload.key`) among the channel's (or thread's) messages since `since`:
    /// `conversations.history` (or `.replies`) with `include_all_metadata`, `oldest` a minute
    /// before `since` (clocks differ) and `latest` a minute from now.
    pub async fn find_posted(
        &self,
        target: Target,
        cache: &ChannelCache,
        post: &PostMessage,
        since: DateTime<Utc>,
    ) -> Result<Option<Record<Message>>, ProviderError> {
        let Some(marker) = &post.marker else {
            return Ok(None);
        };
        let slack = chrono::Duration::minutes(1);
        let (op, path) = match &post.thread {
            Some(_) => ("conversations.replies", "/api/conversations.replies"),
            None => ("conversations.history", "/api/conversations.history"),
        };
        let mut cursor = String::new();
        loop {
            let mut call = Call::get(op, path)
                .query("channel", post.channel.as_str())
                .query("include_all_metadata", "true")
                .query("oldest", ts_of(since - slack))
                .query("latest", ts_of(Utc::now() + slack))
                .query("limit", HISTORY_LIMIT.to_string());
            if let Some(thread) = &post.thread {
                call = call.query("ts", thread_ts(thread));
            }
            if !cursor.is_empty() {
                call = call.query("cursor", cursor.as_str());
            }
            let page: History = self.call(target, call).await?;
            let found = page.messages.into_iter().find(|m| {
                m["metadata"]["event_type"] == METADATA_EVENT
                    && m["metadata"]["event_payload"]["key"] == marker.as_str()
            });
            if let Some(raw) = found {
                let channel = self.channel_ref(target, cache, &post.channel).await?;
                return Ok(map::message(channel, raw));
            }
            cursor = page.response_metadata.next_cursor;
            if cursor.is_empty() {
                return Ok(None);
            }
        }
    }

    /// Every member of the workspace (`users.list`, 1,000 a page): cheaper than a lookup per
    /// email once a join asks for more than a few.
    pub async fn directory(&self, target: Target) -> Result<Vec<ChatUser>, ProviderError> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let mut call = Call::get("users.list", "/api/users.list").query("limit", "1000");
            if !cursor.is_empty() {
                call = call.query("cursor", cursor.as_str());
            }
            let page: Members = self.call(target, call).await?;
            out.extend(page.members.into_iter().map(map::user));
            cursor = page.response_metadata.next_cursor;
            if cursor.is_empty() {
                return Ok(out);
            }
        }
    }

    /// A user by id (`users.info`); `None` when Slack has no such user.
    pub async fn user(&self, target: Target, id: &str) -> Result<Option<ChatUser>, ProviderError> {
        let call = Call::get("users.info", "/api/users.info").query("user", id);
        found(self.call::<UserAnswer>(target, call).await)
    }

    /// A user by email (`users.lookupByEmail`); `None` when nobody has it.
    pub async fn user_by_email(
        &self,
        target: Target,
        email: &str,
    ) -> Result<Option<ChatUser>, ProviderError> {
        let call =
            Call::get("users.lookupByEmail", "/api/users.lookupByEmail").query("email", email);
        found(self.call::<UserAnswer>(target, call).await)
    }
}

fn found(answer: Result<UserAnswer, ProviderError>) -> Result<Option<ChatUser>, ProviderError> {
    match answer {
        Ok(answer) => Ok(Some(map::user(answer.user))),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether a fetched record belongs in the list: the filters Slack cannot apply, and strictly
/// after the position.
fn passes(filter: &MessageFilter, after: Option<&Position>, record: &Record<Message>) -> bool {
    filter.keeps(&record.data) && after.is_none_or(|p| p.precedes(record))
}
