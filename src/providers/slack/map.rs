//! Slack's wire types → the unified chat types. A message's remote id is `{channel}:{ts}`: a
//! `ts` is unique only within its channel, and reading a message again needs both.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::providers::{
    Provider,
    chat::{Channel, ChannelRef, ChatUser, Message, Record},
};

use super::model::{Conversation, WireMessage, WireUser};

/// A Slack `ts` (`"1712345678.000100"`) as a time, to the microsecond.
pub fn ts_time(ts: &str) -> Option<DateTime<Utc>> {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, ""));
    if frac.len() > 6 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let micros: i64 = format!("{frac:0<6}").parse().ok()?;
    DateTime::from_timestamp_micros(secs.checked_mul(1_000_000)?.checked_add(micros)?)
}

/// A time as a Slack `ts`.
pub fn ts_of(at: DateTime<Utc>) -> String {
    let micros = at.timestamp_micros();
    format!(
        "{}.{:06}",
        micros.div_euclid(1_000_000),
        micros.rem_euclid(1_000_000)
    )
}

/// A message's remote id, and back.
pub fn message_id(channel: &str, ts: &str) -> String {
    format!("{channel}:{ts}")
}

pub fn split_message_id(id: &str) -> Option<(&str, &str)> {
    id.split_once(':')
        .filter(|(c, t)| !c.is_empty() && ts_time(t).is_some())
}

pub fn channel(raw: Value) -> Option<Record<Channel>> {
    let wire: Conversation = serde_json::from_value(raw.clone()).ok()?;
    let created = DateTime::from_timestamp(wire.created, 0)?;
    let updated = wire
        .updated
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or(created);
    Some(Record {
        provider: Provider::Slack,
        remote_id: wire.id,
        created_at: created,
        updated_at: updated.max(created),
        raw: raw.into(),
        data: Channel {
            name: wire.name,
            topic: wire.topic.map(|t| t.value).filter(|t| !t.is_empty()),
            is_private: wire.is_private,
        },
    })
}

/// Whether the app's bot is a member of a listed channel (it can read only those).
pub fn is_member(record: &Record<Channel>) -> bool {
    record.raw["is_member"].as_bool().unwrap_or(false)
}

pub fn message(channel: ChannelRef, raw: Value) -> Option<Record<Message>> {
    let wire: WireMessage = serde_json::from_value(raw.clone()).ok()?;
    let sent_at = ts_time(&wire.ts)?;
    let updated = wire
        .edited
        .as_ref()
        .and_then(|e| ts_time(&e.ts))
        .unwrap_or(sent_at);
    Some(Record {
        provider: Provider::Slack,
        remote_id: message_id(&channel.id, &wire.ts),
        created_at: sent_at,
        updated_at: updated,
        raw: raw.into(),
        data: Message {
            text: wire.text,
            channel,
            author: wire.user.or(wire.bot_id),
            sent_at,
            thread_id: wire.thread_ts,
            reply_count: wire.reply_count,
        },
    })
}

pub fn user(wire: WireUser) -> ChatUser {
    let name = wire
        .profile
        .real_name
        .or(wire.real_name)
        .filter(|n| !n.is_empty())
        .or(wire.name);
    ChatUser {
        id: wire.id,
        name,
        email: wire.profile.email.map(|e| e.to_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_round_trips_to_the_microsecond() {
        let at = ts_time("1503435956.000247").unwrap();
        assert_eq!(ts_of(at), "1503435956.000247");
        assert_eq!(ts_of(ts_time("1503435956").unwrap()), "1503435956.000000");
        assert!(ts_time("12.1234567").is_none());
        assert_eq!(
            split_message_id("C0SBX0001:1503435956.000247"),
            Some(("C0SBX0001", "1503435956.000247"))
        );
        assert!(split_message_id("C0SBX0001").is_none());
    }
}
