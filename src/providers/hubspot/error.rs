//! HubSpot's error bodies (`{"status":"error","message","category","policyName",...}`, every field
//! optional) read into the stack's verdicts: 401 → the token is expired or revoked; 429 → rate
//! limited (TEN_SECONDLY_ROLLING waits out its window, SECONDLY a second, DAILY until tomorrow);
//! 5xx → temporary.

use std::time::Duration;

use http::StatusCode;
use serde::Deserialize;

use crate::upstream::{ErrorKind, Reply, Verdict};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    message: Option<String>,
    category: Option<String>,
    policy_name: Option<String>,
}

pub fn classify(reply: &Reply) -> Verdict {
    let status = reply.status;
    if status.is_success() {
        return Verdict::Success;
    }
    let body: ErrorBody = serde_json::from_slice(&reply.body).unwrap_or_default();
    let message = body
        .message
        .unwrap_or_else(|| format!("HubSpot answered {status}"));
    match status {
        StatusCode::UNAUTHORIZED => Verdict::TokenExpired,
        StatusCode::TOO_MANY_REQUESTS => Verdict::Failure {
            kind: ErrorKind::RateLimited,
            retry_after: match body.policy_name.as_deref() {
                Some("SECONDLY") => Some(Duration::from_secs(1)),
                Some("TEN_SECONDLY_ROLLING") => Some(Duration::from_secs(10)),
                Some("DAILY") => Some(Duration::from_secs(3600)),
                _ => None,
            },
            message,
        },
        StatusCode::NOT_FOUND => Verdict::failure(ErrorKind::NotFound, message),
        StatusCode::FORBIDDEN => Verdict::failure(ErrorKind::Forbidden, message),
        s if s.is_server_error() => Verdict::failure(ErrorKind::Unavailable, message),
        _ if body.category.as_deref() == Some("VALIDATION_ERROR") || status.is_client_error() => {
            Verdict::failure(ErrorKind::Invalid, message)
        }
        _ => Verdict::failure(ErrorKind::Upstream, message),
    }
}
