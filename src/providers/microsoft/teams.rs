//! Teams channels and channel messages through Microsoft Graph (the `teams` connection).
//!
//! - Channels: `/me/joinedTeams`, then `/teams/{id}/channels` of each (cached a minute per
//!   connection), newest first by `createdDateTime`. A unified channel id is
//!   `{teamId}/{channelId}`.
//! - Messages: `/teams/{team}/channels/{channel}/messages?$top=50&$expand=replies` of the named
//!   channel, or of every joined channel, merged. Graph pages these newest first with an opaque
//!   `$skiptoken` and takes no `$filter` on them, so the position and the time window are
//!   applied here while reading pages from the newest, stopping at the first message older
//!   than `after`. `$expand=replies` gives each message's reply count in the same call. A
//!   thread reads `.../messages/{id}/replies`.
//! - Posting: `POST .../messages`, or `.../messages/{id}/replies` for a reply (201).
//! - Users: `/users/{id | userPrincipalName}`.

mod map;
mod model;

use chrono::{DateTime, Utc};
use futures_util::future::try_join_all;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::{
    providers::{
        Provider,
        chat::{
            Channel, ChannelCache, ChannelQuery, ChannelRef, ChatUser, ListPage, Message,
            MessageFilter, MessageQuery, PostMessage, Record, Sent, page_after,
        },
    },
    upstream::{Call, ErrorKind, ProviderError, Target},
};

use super::{MicrosoftProvider, error::classify};
use model::{Collection, Team};

/// Graph's largest page of channel messages.
const PAGE: usize = 50;
/// How deep a join scans each channel (pages of [`PAGE`]).
const SCAN_PAGES: usize = 10;
/// The most messages since a claim that looking for the claim's post reads.
const FIND_DEPTH: usize = 1_000;

fn invalid(op: &'static str, message: &str) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, Provider::Teams, op, message)
}

/// A path segment as Graph takes it (channel ids hold `:` and `@`, which a path may carry).
pub(super) fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace("%3A", ":")
        .replace("%40", "@")
}

/// An `@odata.nextLink` as a call below the base URL (from its `/v1.0/` on).
pub(super) fn next_call(op: &'static str, link: &str) -> Option<Call> {
    let url = url::Url::parse(link).ok()?;
    let at = url.path().find("/v1.0/")?;
    let mut call = Call::get(op, &url.path()[at..]);
    for (k, v) in url.query_pairs() {
        call = call.query(&k, v.into_owned());
    }
    Some(call)
}

impl MicrosoftProvider {
    async fn teams_call<T: DeserializeOwned>(
        &self,
        target: Target,
        call: &Call,
    ) -> Result<T, ProviderError> {
        let reply = self.upstream.send(target, call, classify).await?;
        reply.json(Provider::Teams, call.op)
    }

    /// Every channel of every team the user joined, newest first.
    async fn list_channels(&self, target: Target) -> Result<Vec<Record<Channel>>, ProviderError> {
        let joined: Collection = self
            .teams_call(target, &Call::get("teams.joined", "/v1.0/me/joinedTeams"))
            .await?;
        let teams: Vec<Team> = joined
            .value
            .into_iter()
            .filter_map(|t| serde_json::from_value(t).ok())
            .collect();
        let lists = try_join_all(teams.iter().map(|team| async move {
            let path = format!("/v1.0/teams/{}/channels", segment(&team.id));
            let page: Collection = self
                .teams_call(target, &Call::get("teams.channels", path))
                .await?;
            Ok::<_, ProviderError>(
                page.value
                    .into_iter()
                    .filter_map(|c| map::channel(&team.id, team.display_name.as_deref(), c))
                    .collect::<Vec<_>>(),
            )
        }))
        .await?;
        Ok(page_after(lists.concat(), None, usize::MAX, false).records)
    }

    pub(super) async fn joined_channels(
        &self,
        target: Target,
        cache: &ChannelCache,
    ) -> Result<std::sync::Arc<Vec<Record<Channel>>>, ProviderError> {
        cache
            .get_or_list(target.tenant, Provider::Teams, self.list_channels(target))
            .await
    }

    pub async fn team_channels(
        &self,
        target: Target,
        cache: &ChannelCache,
        query: &ChannelQuery,
    ) -> Result<ListPage<Channel>, ProviderError> {
        let all = self.joined_channels(target, cache).await?;
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

    async fn channel_ref(
        &self,
        target: Target,
        cache: &ChannelCache,
        id: &str,
    ) -> Result<ChannelRef, ProviderError> {
        let all = self.joined_channels(target, cache).await?;
        Ok(ChannelRef {
            id: id.to_owned(),
            name: all
                .iter()
                .find(|c| c.remote_id == id)
                .map(|c| c.data.name.clone()),
        })
    }

    pub async fn team_messages(
        &self,
        target: Target,
        cache: &ChannelCache,
        query: &MessageQuery,
    ) -> Result<ListPage<Message>, ProviderError> {
        let refs: Vec<ChannelRef> = match &query.filter.channel {
            Some(id) => {
                if map::split_channel_id(id).is_none() {
                    return Err(invalid(
                        "teams.messages",
                        "a Teams channel id is `{teamId}/{channelId}`",
                    ));
                }
                vec![self.channel_ref(target, cache, id).await?]
            }
            None => self
                .joined_channels(target, cache)
                .await?
                .iter()
                .map(|c| ChannelRef {
                    id: c.remote_id.clone(),
                    name: Some(c.data.name.clone()),
                })
                .collect(),
        };
        if let (Some(parent), [channel]) = (&query.filter.thread, refs.as_slice()) {
            return self.thread(target, channel.clone(), parent, query).await;
        }
        let pages = try_join_all(
            refs.into_iter()
                .map(|channel| self.channel_page(target, channel, query)),
        )
        .await?;
        let more = pages.iter().any(|p| p.more);
        let records = pages.into_iter().flat_map(|p| p.records).collect();
        Ok(page_after(records, None, query.limit, more))
    }

    /// Every message that passes `filter` (the authors of a join) in every joined channel, each
    /// channel read once from the newest, at most [`SCAN_PAGES`] pages deep.
    pub async fn team_scan(
        &self,
        target: Target,
        cache: &ChannelCache,
        filter: &MessageFilter,
    ) -> Result<Vec<Record<Message>>, ProviderError> {
        let channels = self.joined_channels(target, cache).await?;
        let reads = channels.iter().map(|c| async move {
            let channel = ChannelRef {
                id: c.remote_id.clone(),
                name: Some(c.data.name.clone()),
            };
            let Some((team, id)) = map::split_channel_id(&channel.id) else {
                return Ok(Vec::new());
            };
            let mut call = Call::get(
                "teams.messages",
                format!(
                    "/v1.0/teams/{}/channels/{}/messages",
                    segment(team),
                    segment(id)
                ),
            )
            .query("$top", PAGE.to_string())
            .query("$expand", "replies");
            let mut kept = Vec::new();
            for _ in 0..SCAN_PAGES {
                let page: Collection = self.teams_call(target, &call).await?;
                let mut older = false;
                for raw in page.value {
                    let Some(record) = map::message(channel.clone(), raw) else {
                        continue;
                    };
                    older |= filter.after.is_some_and(|a| record.data.sent_at <= a);
                    if filter.keeps(&record.data) {
                        kept.push(record);
                    }
                }
                match page
                    .next_link
                    .as_deref()
                    .and_then(|l| next_call(call.op, l))
                {
                    Some(next) if !older => call = next,
                    _ => break,
                }
            }
            Ok::<_, ProviderError>(kept)
        });
        Ok(try_join_all(reads).await?.concat())
    }

    /// Reads a newest-first list from its first page until `limit` records after the position
    /// pass the filter, or one is older than `after`, or the list ends.
    async fn read_newest_first(
        &self,
        target: Target,
        channel: ChannelRef,
        first: Call,
        query: &MessageQuery,
    ) -> Result<ListPage<Message>, ProviderError> {
        let filter = &query.filter;
        let mut kept = Vec::new();
        let mut call = first;
        loop {
            let page: Collection = self.teams_call(target, &call).await?;
            let mut passed_window = false;
            for raw in page.value {
                let Some(record) = map::message(channel.clone(), raw) else {
                    continue;
                };
                if filter.after.is_some_and(|a| record.data.sent_at <= a) {
                    passed_window = true;
                    continue;
                }
                if filter.keeps(&record.data)
                    && query.after.as_ref().is_none_or(|p| p.precedes(&record))
                {
                    kept.push(record);
                }
            }
            let next = page
                .next_link
                .as_deref()
                .and_then(|link| next_call(call.op, link));
            match next {
                Some(next) if kept.len() <= query.limit && !passed_window => call = next,
                _ => return Ok(page_after(kept, None, query.limit, false)),
            }
        }
    }

    async fn channel_page(
        &self,
        target: Target,
        channel: ChannelRef,
        query: &MessageQuery,
    ) -> Result<ListPage<Message>, ProviderError> {
        let Some((team, id)) = map::split_channel_id(&channel.id) else {
            return Ok(ListPage::empty());
        };
        let call = Call::get(
            "teams.messages",
            format!(
                "/v1.0/teams/{}/channels/{}/messages",
                segment(team),
                segment(id)
            ),
        )
        .query("$top", PAGE.to_string())
        .query("$expand", "replies");
        self.read_newest_first(target, channel, call, query).await
    }

    async fn thread(
        &self,
        target: Target,
        channel: ChannelRef,
        parent: &str,
        query: &MessageQuery,
    ) -> Result<ListPage<Message>, ProviderError> {
        let Some((team, id)) = map::split_channel_id(&channel.id) else {
            return Ok(ListPage::empty());
        };
        let call = Call::get(
            "teams.replies",
            format!(
                "/v1.0/teams/{}/channels/{}/messages/{}/replies",
                segment(team),
                segment(id),
                segment(parent)
            ),
        )
        .query("$top", PAGE.to_string());
        self.read_newest_first(target, channel, call, query).await
    }

    /// One message by its remote id; `None` when Graph has no such message.
    pub async fn team_message(
        &self,
        target: Target,
        cache: &ChannelCache,
        remote_id: &str,
    ) -> Result<Option<Record<Message>>, ProviderError> {
        let Some(id) = map::split_message_id(remote_id) else {
            return Ok(None);
        };
        let channel = self
            .channel_ref(target, cache, &map::channel_id(id.team, id.channel))
            .await?;
        let base = format!(
            "/v1.0/teams/{}/channels/{}/messages",
            segment(id.team),
            segment(id.channel)
        );
        let found = match id.parent {
            None => {
                let call = Call::get("teams.message", format!("{base}/{}", segment(id.message)));
                self.teams_call::<Value>(target, &call)
                    .await
                    .map(|raw| map::message(channel, raw))
            }
            Some(parent) => {
                let query = MessageQuery {
                    filter: Default::default(),
                    after: None,
                    limit: usize::MAX - 1,
                };
                self.thread(target, channel, parent, &query)
                    .await
                    .map(|p| p.records.into_iter().find(|r| r.remote_id == remote_id))
            }
        };
        match found {
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            other => other,
        }
    }

    pub async fn team_post(
        &self,
        target: Target,
        cache: &ChannelCache,
        post: &PostMessage,
    ) -> Result<Sent<Message>, ProviderError> {
        let op = "teams.post";
        let Some((team, channel)) = map::split_channel_id(&post.channel) else {
            return Err(invalid(op, "a Teams channel id is `{teamId}/{channelId}`"));
        };
        let mut path = format!(
            "/v1.0/teams/{}/channels/{}/messages",
            segment(team),
            segment(channel)
        );
        if let Some(thread) = &post.thread {
            // A message's remote id (`{team}/{channel}/{id}`) names its Graph id; a reply's, its
            // parent's (Graph threads are one level deep).
            let parent = map::split_message_id(thread)
                .map_or(thread.as_str(), |id| id.parent.unwrap_or(id.message));
            path = format!("{path}/{}/replies", segment(parent));
        }
        let body = json!({ "body": { "contentType": "text", "content": post.text } });
        let call = Call::write(op, http::Method::POST, path, body);
        let raw: Value = self.teams_call(target, &call).await?;
        let channel = match self.channel_ref(target, cache, &post.channel).await {
            Ok(channel) => channel,
            Err(error) => {
                return Ok(Sent::Unread {
                    remote_id: None,
                    error,
                });
            }
        };
        Ok(match map::message(channel, raw) {
            Some(record) => Sent::Read(record),
            None => Sent::Unread {
                remote_id: None,
                error: ProviderError::new(
                    ErrorKind::Upstream,
                    Provider::Teams,
                    op,
                    "the posted message came back without an id or time",
                ),
            },
        })
    }

    /// The message `post` made, if one is in its channel (or thread) since `since`. Graph keeps
    /// nothing an app can set on a channel message and read back apart from what users see, so
    /// the match is the message's text, in that place, from then on: two posts of the same text
    /// to one place within one claim's time are not told apart.
    pub async fn team_find_posted(
        &self,
        target: Target,
        cache: &ChannelCache,
        post: &PostMessage,
        since: DateTime<Utc>,
    ) -> Result<Option<Record<Message>>, ProviderError> {
        let thread = post.thread.as_ref().map(|thread| {
            map::split_message_id(thread)
                .map_or(thread.as_str(), |id| id.parent.unwrap_or(id.message))
                .to_owned()
        });
        let query = MessageQuery {
            filter: MessageFilter {
                channel: Some(post.channel.clone()),
                thread,
                after: Some(since),
                ..MessageFilter::default()
            },
            after: None,
            limit: FIND_DEPTH,
        };
        let page = self.team_messages(target, cache, &query).await?;
        Ok(page
            .records
            .into_iter()
            .find(|m| m.data.text.trim() == post.text.trim()))
    }

    /// A Graph user by id or email; `None` when the directory has no such user.
    pub async fn graph_user(
        &self,
        target: Target,
        key: &str,
    ) -> Result<Option<ChatUser>, ProviderError> {
        let call = Call::get("users.get", format!("/v1.0/users/{}", segment(key)));
        match self.teams_call::<model::User>(target, &call).await {
            Ok(user) => Ok(Some(map::user(user))),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_next_link_becomes_a_call_below_the_base_url() {
        let call = next_call(
            "teams.messages",
            "http://127.0.0.1:4001/microsoft/v1.0/teams/t1/channels/19:a@thread.tacv2/messages?%24top=50&%24skiptoken=abc",
        )
        .unwrap();
        assert_eq!(
            call.path,
            "/v1.0/teams/t1/channels/19:a@thread.tacv2/messages"
        );
        assert_eq!(
            call.query,
            [
                ("$top".to_owned(), "50".to_owned()),
                ("$skiptoken".to_owned(), "abc".to_owned())
            ]
        );
        assert!(next_call("teams.messages", "not a url").is_none());
        assert_eq!(segment("19:a b@thread.tacv2"), "19:a+b@thread.tacv2");
    }
}
