//! The Slack adapter: channels, messages and users through the Web API (`chat.rs`, wire types in
//! `model.rs`, mapped in `map.rs`), whose failures come as `ok:false` bodies (`error.rs`).

mod adapter;
mod chat;
mod error;
mod map;
mod model;

/// How this provider's error answers read (the registry hands it to the passthrough).
pub use error::classify;

use crate::{providers::chat::ChannelCache, upstream::Upstream};

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
