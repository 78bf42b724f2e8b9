//! Microsoft Graph's error bodies (`{"error":{"code","message","innerError"}}`, the same for
//! Outlook and Teams) read into the stack's verdicts: 401 `InvalidAuthenticationToken` → the token
//! is expired or revoked; 429 (`TooManyRequests`, `ApplicationThrottled`, the mailbox concurrency
//! limit) → rate limited, waiting its `Retry-After` (Graph sends fractions of seconds too);
//! 503 and 504 → temporary, with their `Retry-After` where given.

use std::time::Duration;

use http::StatusCode;
use serde::Deserialize;

use crate::upstream::{ErrorKind, Reply, Verdict};

#[derive(Debug, Default, Deserialize)]
struct Envelope {
    #[serde(default)]
    error: ErrorBody,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    code: Option<String>,
    message: Option<String>,
}

/// `Retry-After` in seconds, whole or fractional (`2.128`).
fn retry_after(reply: &Reply) -> Option<Duration> {
    let value = reply
        .headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    match value.trim().parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => {
            Some(Duration::from_secs_f64(seconds))
        }
        _ => reply.retry_after(),
    }
}

pub fn classify(reply: &Reply) -> Verdict {
    let status = reply.status;
    if status.is_success() {
        return Verdict::Success;
    }
    let body: Envelope = serde_json::from_slice(&reply.body).unwrap_or_default();
    let code = body.error.code.unwrap_or_default();
    let message = match body.error.message {
        Some(message) if !code.is_empty() => format!("{code}: {message}"),
        Some(message) => message,
        None => format!("Microsoft Graph answered {status}"),
    };
    let with_wait = |kind| Verdict::Failure {
        kind,
        retry_after: retry_after(reply),
        message: message.clone(),
    };
    match status {
        StatusCode::UNAUTHORIZED => Verdict::TokenExpired,
        StatusCode::TOO_MANY_REQUESTS => with_wait(ErrorKind::RateLimited),
        StatusCode::FORBIDDEN => Verdict::failure(ErrorKind::Forbidden, message),
        StatusCode::NOT_FOUND => Verdict::failure(ErrorKind::NotFound, message),
        s if s.is_server_error() => with_wait(ErrorKind::Unavailable),
        s if s.is_client_error() => Verdict::failure(ErrorKind::Invalid, message),
        _ => Verdict::failure(ErrorKind::Upstream, message),
    }
}
