//! The Microsoft Graph adapter: Outlook mail and calendar, and Teams channel messages — two
//! connections (their own scopes and tokens) that share Microsoft's OAuth and Graph's error format
//! (`error.rs`).

mod calendar;
mod delta;
mod error;
mod graph_batch;
mod mail;
pub mod subscriptions;
mod teams;

use crate::upstream::Upstream;

/// Every op Outlook's calls use (`Call::op`: mail, calendar, their deltas, JSON batches and
/// change notification subscriptions), for the catalog check: each is counted by a rate class or listed as uncounted.
pub const OUTLOOK_OPS: &[&str] = &[
    "messages.list",
    "messages.get",
    "messages.reply",
    "messages.update",
    "sendMail",
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
}

impl MicrosoftProvider {
    pub fn new(upstream: Upstream) -> Self {
        Self { upstream }
    }
}
