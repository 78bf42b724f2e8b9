//! The Slack adapter: channels, messages and users through the Web API (`chat.rs`, wire types in
//! `model.rs`, mapped in `map.rs`), whose failures come as `ok:false` bodies (`error.rs`).

mod adapter;
mod chat;
mod error;
mod map;
mod model;

/// How this provider's error answers read (the registry hands it to the passthrough).
pub use error::classify;

use crate::{
    providers::chat::{ChannelCache, ChannelRef, Message, Record},
    upstream::Upstream,
};

/// A channel's message as this adapter maps one from Slack's message object (a history entry,
/// an Events API `message` event); the channel's name is not in the object.
pub fn channel_message(channel: &str, raw: serde_json::Value) -> Option<Record<Message>> {
    let channel = ChannelRef {
        id: channel.to_owned(),
        name: None,
    };
    map::message(channel, raw)
}

/// Every op the adapter's calls use (`Call::op`: Slack's method names), for the catalog check:
/// each is counted by a rate class or listed as uncounted.
pub const OPS: &[&str] = &[
    "conversations.list",
    "conversations.history",
    "conversations.replies",
    "chat.postMessage",
    "users.list",
    "users.info",
    "users.lookupByEmail",
];

#[derive(Clone)]
pub struct SlackProvider {
    upstream: Upstream,
    /// The connection's channels, a minute (shared with the registry's other chat adapters).
    channels: ChannelCache,
}

impl SlackProvider {
    pub fn new(upstream: Upstream, channels: ChannelCache) -> Self {
        Self { upstream, channels }
    }
}
