//! The Slack adapter: channels, messages and users through the Web API, whose failures come as
//! `ok:false` bodies (`error.rs`).

mod error;

use crate::upstream::Upstream;

#[derive(Clone)]
pub struct SlackProvider {
    upstream: Upstream,
}

impl SlackProvider {
    pub fn new(upstream: Upstream) -> Self {
        Self { upstream }
    }
}
