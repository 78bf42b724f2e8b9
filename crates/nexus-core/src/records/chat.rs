//! The chat records: the unified message, channel and user that Slack and Teams map to, and
//! what a list asks of an adapter.
//!
//! - Messages run newest first by sent time (Slack's `ts`, Teams' `createdDateTime`), ties broken
//!   by the remote id, so a `Position` resumes exactly. A message's remote id names its channel
//!   (`C0123:1712345678.000100` in Slack, `team/channel/message` in Teams), since a Slack `ts` is
//!   only unique within its channel and both providers need the channel to read a message again.
//! - Channels run newest first by created time (the only immutable time key both providers give;
//!   ties by id). A Teams channel's id carries its team: `{teamId}/{channelId}`, because every
//!   Graph call on a channel names the team too.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ListPage, Order, Position, Record, Sorted, page_after};

/// A chat message.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// A token the message carries where the provider keeps one for apps (Slack's message
    /// metadata), so that it can be found again (`Chat::find_posted`).
    pub marker: Option<String>,
}

/// How a user is looked up.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UserKey {
    Id(String),
    Email(String),
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
    use crate::Provider;

    fn message(id: &str, at: i64, author: &str, text: &str) -> Record<Message> {
        let sent_at = DateTime::from_timestamp(at, 0).unwrap();
        Record {
            provider: Provider::Slack,
            remote_id: id.to_owned(),
            created_at: sent_at,
            updated_at: sent_at,
            raw: Default::default(),
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
