//! Graph's Teams wire types → the unified chat types. Ids carry what Graph's paths need: a
//! channel is `{teamId}/{channelId}`, a message `{teamId}/{channelId}/{messageId}`, a reply
//! `{teamId}/{channelId}/{parentId}/{replyId}` (Graph ids have no `/`).

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::providers::{
    Provider,
    chat::{Channel, ChannelRef, ChatUser, Message, Record},
};

use super::model::{ChatMessage, User, WireChannel};

fn time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A channel id as the unified model has it, and back.
pub fn channel_id(team: &str, channel: &str) -> String {
    format!("{team}/{channel}")
}

pub fn split_channel_id(id: &str) -> Option<(&str, &str)> {
    id.split_once('/')
        .filter(|(t, c)| !t.is_empty() && !c.is_empty() && !c.contains('/'))
}

/// A message id's parts: team, channel, the parent for a reply, the message.
pub struct MessageId<'a> {
    pub team: &'a str,
    pub channel: &'a str,
    pub parent: Option<&'a str>,
    pub message: &'a str,
}

pub fn split_message_id(id: &str) -> Option<MessageId<'_>> {
    let parts: Vec<&str> = id.split('/').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    match parts.as_slice() {
        [team, channel, message] => Some(MessageId {
            team,
            channel,
            parent: None,
            message,
        }),
        [team, channel, parent, message] => Some(MessageId {
            team,
            channel,
            parent: Some(parent),
            message,
        }),
        _ => None,
    }
}

pub fn channel(team: &str, team_name: Option<&str>, mut raw: Value) -> Option<Record<Channel>> {
    let wire: WireChannel = serde_json::from_value(raw.clone()).ok()?;
    let created = wire
        .created_date_time
        .as_deref()
        .and_then(time)
        .unwrap_or(DateTime::UNIX_EPOCH);
    raw["teamId"] = Value::from(team);
    raw["teamName"] = Value::from(team_name);
    Some(Record {
        provider: Provider::Teams,
        remote_id: channel_id(team, &wire.id),
        created_at: created,
        updated_at: created,
        raw: raw.into(),
        data: Channel {
            name: wire.display_name,
            topic: wire.description.filter(|d| !d.is_empty()),
            is_private: wire.membership_type.is_some_and(|m| m != "standard"),
        },
    })
}

/// Message text: HTML bodies with their tags dropped and the common entities read.
fn text(content_type: Option<&str>, content: &str) -> String {
    if !content_type.is_some_and(|t| t.eq_ignore_ascii_case("html")) {
        return content.to_owned();
    }
    let mut out = String::with_capacity(content.len());
    let mut in_tag = false;
    for c in content.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

pub fn message(channel: ChannelRef, raw: Value) -> Option<Record<Message>> {
    let wire: ChatMessage = serde_json::from_value(raw.clone()).ok()?;
    let sent_at = time(&wire.created_date_time)?;
    let updated = wire
        .last_modified_date_time
        .as_deref()
        .and_then(time)
        .unwrap_or(sent_at);
    let reply_count = wire.replies.as_ref().map_or(0, Vec::len) as u32;
    let remote_id = match &wire.reply_to_id {
        Some(parent) => format!("{}/{parent}/{}", channel.id, wire.id),
        None => format!("{}/{}", channel.id, wire.id),
    };
    let thread_id = wire
        .reply_to_id
        .clone()
        .or_else(|| (reply_count > 0).then(|| wire.id.clone()));
    let body = wire.body.as_ref();
    Some(Record {
        provider: Provider::Teams,
        remote_id,
        created_at: sent_at,
        updated_at: updated.max(sent_at),
        raw: raw.into(),
        data: Message {
            text: body.map_or_else(String::new, |b| text(b.content_type.as_deref(), &b.content)),
            channel,
            author: wire.from.and_then(|f| f.user).map(|u| u.id),
            sent_at,
            thread_id,
            reply_count,
        },
    })
}

pub fn user(wire: User) -> ChatUser {
    ChatUser {
        id: wire.id,
        name: wire.display_name,
        email: wire
            .mail
            .or(wire.user_principal_name)
            .map(|e| e.to_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_team_channel_and_parent() {
        let channel = "19:abc@thread.tacv2";
        let id = channel_id("t1", channel);
        assert_eq!(split_channel_id(&id), Some(("t1", channel)));
        let reply = split_message_id("t1/19:abc@thread.tacv2/100/101").unwrap();
        assert_eq!(
            (reply.team, reply.channel, reply.parent, reply.message),
            ("t1", channel, Some("100"), "101")
        );
        assert!(split_message_id("t1/c").is_none());
    }

    #[test]
    fn html_bodies_become_text() {
        assert_eq!(
            text(Some("html"), "Hello <b>team</b> &amp; co"),
            "Hello team & co"
        );
        assert_eq!(text(Some("text"), "a <b>"), "a <b>");
    }
}
