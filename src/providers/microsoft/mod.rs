//! The Microsoft Graph adapter: Outlook mail and calendar, and Teams channel messages — two
//! connections (their own scopes and tokens) that share Microsoft's OAuth and Graph's error format
//! (`error.rs`).

mod adapter;
mod calendar;
mod delta;
mod error;
mod graph_batch;
mod mail;
pub mod subscriptions;
mod teams;

/// How this provider's error answers read (the registry hands it to the passthrough).
pub use error::classify;

use crate::{providers::chat::ChannelCache, upstream::Upstream};

#[derive(Clone)]
pub struct MicrosoftProvider {
    upstream: Upstream,
    /// The connection's channels, a minute (shared with the registry's other chat adapters).
    channels: ChannelCache,
}

impl MicrosoftProvider {
    pub fn new(upstream: Upstream, channels: ChannelCache) -> Self {
        Self { upstream, channels }
    }
}
