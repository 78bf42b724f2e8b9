//! Error codes as `extensions.code`, and the helpers that attach them.
//!
//! Every error a resolver returns carries one of these codes; provider errors also carry
//! `extensions.provider` (the Provider enum value) and, when known, `retryAfter` in whole seconds.
//! Internal causes are logged here and never returned.

use async_graphql::{Error, ErrorExtensions};

use nexus_core::{ErrorKind, ProviderError};

use crate::providers::{Cataloged, Provider};

/// The codes of DESIGN.md, plus the three that mark requests refused before execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Unauthenticated,
    NotConnected,
    ReauthRequired,
    RateLimited,
    ProviderUnavailable,
    UpstreamError,
    NotFound,
    BadUserInput,
    Forbidden,
    Unsupported,
    Internal,
    /// A subscriber read more slowly than its project changed and was stopped; it resumes from
    /// the cursor in `extensions.cursor`.
    SubscriberBehind,
    /// The document does not parse (or is over the token limit).
    GraphqlParseFailed,
    /// The document is invalid for the schema, breaks an abuse limit, or its variables do not coerce.
    GraphqlValidationFailed,
    /// An introspection query while `graphql.introspection` is off.
    IntrospectionDisabled,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::NotConnected => "NOT_CONNECTED",
            ErrorCode::ReauthRequired => "REAUTH_REQUIRED",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::ProviderUnavailable => "PROVIDER_UNAVAILABLE",
            ErrorCode::UpstreamError => "UPSTREAM_ERROR",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::Unsupported => "UNSUPPORTED",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::SubscriberBehind => "SUBSCRIBER_BEHIND",
            ErrorCode::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            ErrorCode::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            ErrorCode::IntrospectionDisabled => "INTROSPECTION_DISABLED",
        }
    }

    /// An error with this code and message.
    pub fn error(self, message: impl Into<String>) -> Error {
        Error::new(message).extend_with(|_, e| e.set("code", self.as_str()))
    }
}

/// Invalid input: names the argument or input field at fault.
pub fn bad_input(field: &str, message: impl Into<String>) -> Error {
    let field = field.to_owned();
    ErrorCode::BadUserInput
        .error(message)
        .extend_with(|_, e| e.set("field", field))
}

/// An error about one provider: `extensions.provider` is its GraphQL enum value.
pub fn provider_error(code: ErrorCode, provider: Provider, message: impl Into<String>) -> Error {
    let value = provider.slug().to_ascii_uppercase();
    code.error(message)
        .extend_with(|_, e| e.set("provider", value))
}

/// Logs an internal failure and returns an opaque `INTERNAL` error.
pub fn internal(cause: impl std::fmt::Display) -> Error {
    tracing::error!(%cause, "internal error while resolving");
    ErrorCode::Internal.error("internal error")
}

/// A failed provider call as a GraphQL error: its code, the provider and, when the provider
/// said, `retryAfter` in whole seconds.
pub fn upstream_error(error: &ProviderError) -> Error {
    let code = match error.kind {
        ErrorKind::NotConnected => ErrorCode::NotConnected,
        ErrorKind::ReauthRequired => ErrorCode::ReauthRequired,
        ErrorKind::RateLimited => ErrorCode::RateLimited,
        ErrorKind::Unavailable => ErrorCode::ProviderUnavailable,
        ErrorKind::NotFound => ErrorCode::NotFound,
        ErrorKind::Invalid => ErrorCode::BadUserInput,
        ErrorKind::Forbidden => ErrorCode::Forbidden,
        ErrorKind::Upstream => ErrorCode::UpstreamError,
    };
    let message = format!("{}: {}", error.provider.entry().name, error.message);
    let retry_after = error.retry_after.map(|d| d.as_secs_f64().ceil() as u64);
    provider_error(code, error.provider, message).extend_with(move |_, e| {
        if let Some(seconds) = retry_after {
            e.set("retryAfter", seconds);
        }
    })
}
