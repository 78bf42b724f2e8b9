//! How the stack reads an answer: adapters turn a provider's own error answer into a `Verdict`;
//! the stack acts on it (refresh, retry) and hands the rest up as a `ProviderError` (the core
//! vocabulary's, re-exported here for the adapters).

use std::time::Duration;

use nexus_core::Provider;
pub use nexus_core::{ErrorKind, ProviderError};

use crate::oauth::TokenError;

/// The error a call gets when its connection's token cannot be had.
pub(super) fn from_token(provider: Provider, op: &'static str, error: TokenError) -> ProviderError {
    let kind = match error {
        TokenError::NotConnected(_) => ErrorKind::NotConnected,
        TokenError::ReauthRequired(_) => ErrorKind::ReauthRequired,
        TokenError::Unavailable(_) | TokenError::Store(_) => ErrorKind::Unavailable,
    };
    if let TokenError::Store(cause) = &error {
        tracing::error!(%cause, "credential store failed during a provider call");
        return ProviderError::new(kind, provider, op, "the credential store is unavailable");
    }
    ProviderError::new(kind, provider, op, error.to_string())
}

/// An adapter's reading of a provider's answer.
#[derive(Debug, Clone)]
pub enum Verdict {
    Success,
    /// The provider refused the access token as expired or invalid: refresh once and retry once.
    TokenExpired,
    /// Any other failure.
    Failure {
        kind: ErrorKind,
        retry_after: Option<Duration>,
        message: String,
    },
}

impl Verdict {
    pub fn failure(kind: ErrorKind, message: impl Into<String>) -> Self {
        Verdict::Failure {
            kind,
            retry_after: None,
            message: message.into(),
        }
    }
}
