//! The Google adapter: Gmail v1 for mail and Calendar v3 for events — two connections (their own
//! scopes and tokens) that share Google's OAuth and error format (`error.rs`).

mod adapter;
mod batch;
mod calendar;
#[cfg(test)]
mod compose_proptests;
mod error;
mod gmail;
mod gmail_history;
mod gmail_model;
pub mod push;

/// How this provider's error answers read (the registry hands it to the passthrough).
pub use error::classify;

use crate::upstream::Upstream;

/// Every op Gmail's calls use (`Call::op`, and the parts of its batches), for the catalog check:
/// each is counted by a rate class or listed as uncounted.
pub const GMAIL_OPS: &[&str] = &[
    "messages.list",
    "messages.get",
    "messages.batch",
    "messages.send",
    "messages.modify",
    "labels.list",
    "history.list",
    "profile",
    "watch",
    "stop",
];

/// Every op Calendar's calls use, as [`GMAIL_OPS`] for Gmail.
pub const CALENDAR_OPS: &[&str] = &[
    "events.list",
    "events.get",
    "events.insert",
    "events.patch",
    "events.batch.5",
    "events.batch.10",
    "events.batch.25",
    "events.batch.50",
    "events.watch",
    "channels.stop",
];

#[derive(Clone)]
pub struct GoogleProvider {
    upstream: Upstream,
}

impl GoogleProvider {
    pub fn new(upstream: Upstream) -> Self {
        Self { upstream }
    }
}
