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

/// Every op Outlook's calls use (`Call::op`: mail, calendar, their deltas, JSON batches and
/// change notification subscriptions), for the catalog check: each is counted by a rate class or listed as uncounted.
pub const OUTLOOK_OPS: &[&str] = &[
    "messages.list",
    "messages.get",
    "messages.createReply",
    "messages.update",
    "sendMail",
    "messages.create",
    "messages.sendDraft",
    "batch",
    "calendarView",
    "event.get",
    "event.create",
    "event.update",
    "messages.delta",
    "calendarView.delta",
    "graph.subscribe",
    "graph.renew",
    "graph.unsubscribe",
];

/// Every op Teams' calls use, as [`OUTLOOK_OPS`] for Outlook.
pub const TEAMS_OPS: &[&str] = &[
    "teams.joined",
    "teams.channels",
    "teams.messages",
    "teams.messages.delta",
    "teams.replies",
    "teams.message",
    "teams.post",
    "users.get",
    "graph.subscribe",
    "graph.renew",
    "graph.unsubscribe",
];

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
