//! The Google adapter: Gmail v1 for mail and Calendar v3 for events — two connections (their own
//! scopes and tokens) that share Google's OAuth and error format (`error.rs`).

mod adapter;
mod calendar;
mod error;
mod gmail;
mod gmail_batch;
mod gmail_history;
mod gmail_model;
pub mod push;

/// How this provider's error answers read (the registry hands it to the passthrough).
pub use error::classify;

use crate::upstream::Upstream;

#[derive(Clone)]
pub struct GoogleProvider {
    upstream: Upstream,
}

impl GoogleProvider {
    pub fn new(upstream: Upstream) -> Self {
        Self { upstream }
    }
}
