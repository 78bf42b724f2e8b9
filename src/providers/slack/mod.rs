//! The Slack adapter: channels, messages and users through the Web API (`chat.rs`, wire types in
//! `model.rs`, mapped in `map.rs`), whose failures come as `ok:false` bodies (`error.rs`).

mod chat;
mod error;
mod map;
mod model;

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
