//! `ProviderError`: what went wrong with a provider call, in the gateway's words. The upstream
//! stack acts on an adapter's reading of an answer (refresh, retry) and hands the rest up as a
//! `ProviderError`, which the schema maps to `extensions.code`. `Clone`, so a dataloader can
//! give one failure to every key of a batch. Messages never hold a token.

use std::time::Duration;

use crate::Provider;

/// The kinds the stack and the schema tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The project has not connected the provider.
    NotConnected,
    /// The connection's grant is gone: the user must connect again.
    ReauthRequired,
    /// The provider (or our own limiter) refused for now; `retry_after` says how long.
    RateLimited,
    /// The provider did not answer, or answered with a temporary failure.
    Unavailable,
    /// The record does not exist (or is not visible to this connection).
    NotFound,
    /// The provider refused the input.
    Invalid,
    /// The connection lacks a permission (scope, profile) for this call.
    Forbidden,
    /// Anything else the provider answered that we cannot act on.
    Upstream,
}

/// One failed provider call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{provider} {op}: {message}")]
pub struct ProviderError {
    pub kind: ErrorKind,
    pub provider: Provider,
    /// The adapter's name for the call (`contacts.search`).
    pub op: &'static str,
    /// How long the provider asked us to wait, when it said.
    pub retry_after: Option<Duration>,
    pub message: String,
    /// The request certainly never reached the provider (no connection was made, the breaker
    /// or our own limiter held it back), though the kind alone would not say so.
    pub never_sent: bool,
}

impl ProviderError {
    pub fn new(
        kind: ErrorKind,
        provider: Provider,
        op: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            provider,
            op,
            retry_after: None,
            message: message.into(),
            never_sent: false,
        }
    }

    /// Whether trying again later may succeed.
    pub fn temporary(&self) -> bool {
        matches!(self.kind, ErrorKind::RateLimited | ErrorKind::Unavailable)
    }

    /// Whether the provider may have acted on the request in spite of the failure: a timeout,
    /// a broken-off answer, a 5xx (a provider may fail after it has acted) or an answer we could
    /// not read. A refusal (4xx, 429, a grant to renew) or a request that never left proves it
    /// did not.
    pub fn may_have_acted(&self) -> bool {
        !self.never_sent && matches!(self.kind, ErrorKind::Unavailable | ErrorKind::Upstream)
    }
}
