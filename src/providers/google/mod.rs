//! The Google adapter: Gmail v1 for mail and Calendar v3 for events — two connections (their own
//! scopes and tokens) that share Google's OAuth and error format (`error.rs`).

mod batch;
mod calendar;
mod error;
mod gmail;
mod gmail_history;
mod gmail_model;
pub mod push;

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
