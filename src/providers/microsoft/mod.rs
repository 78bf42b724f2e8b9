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

#[derive(Clone)]
pub struct MicrosoftProvider {
    upstream: Upstream,
}

impl MicrosoftProvider {
    pub fn new(upstream: Upstream) -> Self {
        Self { upstream }
    }
}
