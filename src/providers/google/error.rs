//! Google's error bodies (`{"error":{"code","message","errors":[{"domain","reason"}],"status"}}`,
//! the same for Gmail and Calendar) read into the stack's verdicts: 401 → the token is expired or
//! revoked; 429 and the rate-limit 403s (`rateLimitExceeded`, `userRateLimitExceeded`,
//! `quotaExceeded`) → rate limited (`dailyLimitExceeded` waits an hour); 5xx → temporary.

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
    message: Option<String>,
    #[serde(default)]
    errors: Vec<Detail>,
}

#[derive(Debug, Default, Deserialize)]
struct Detail {
    reason: Option<String>,
}

pub fn classify(reply: &Reply) -> Verdict {
    let status = reply.status;
    if status.is_success() {
        return Verdict::Success;
    }
    let body: Envelope = serde_json::from_slice(&reply.body).unwrap_or_default();
    let reason = body
        .error
        .errors
        .first()
        .and_then(|d| d.reason.clone())
        .unwrap_or_default();
    let message = body
        .error
        .message
        .unwrap_or_else(|| format!("Google answered {status}"));
    let rate_limited = |retry_after| Verdict::Failure {
        kind: ErrorKind::RateLimited,
        retry_after: reply.retry_after().or(retry_after),
        message: message.clone(),
    };
    match (status, reason.as_str()) {
        (StatusCode::UNAUTHORIZED, _) => Verdict::TokenExpired,
        (StatusCode::TOO_MANY_REQUESTS, _)
        | (
            StatusCode::FORBIDDEN,
            "rateLimitExceeded" | "userRateLimitExceeded" | "quotaExceeded",
        ) => rate_limited(None),
        (StatusCode::FORBIDDEN, "dailyLimitExceeded") => {
            rate_limited(Some(Duration::from_secs(3600)))
        }
        (StatusCode::FORBIDDEN, _) => Verdict::failure(ErrorKind::Forbidden, message),
        (StatusCode::NOT_FOUND | StatusCode::GONE, _) => {
            Verdict::failure(ErrorKind::NotFound, message)
        }
        (s, _) if s.is_server_error() => Verdict::failure(ErrorKind::Unavailable, message),
        (s, _) if s.is_client_error() => Verdict::failure(ErrorKind::Invalid, message),
        _ => Verdict::failure(ErrorKind::Upstream, message),
    }
}
