//! Salesforce's error arrays (`[{"message","errorCode","fields"}]`) read into the stack's verdicts:
//! 401 INVALID_SESSION_ID → the session expired; 403 REQUEST_LIMIT_EXCEEDED → the org's API
//! quota is spent; 503 SERVER_UNAVAILABLE and other 5xx → temporary.

use http::StatusCode;
use serde::Deserialize;

use crate::upstream::{ErrorKind, Reply, Verdict};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SfError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    error_code: String,
}

pub fn classify(reply: &Reply) -> Verdict {
    let status = reply.status;
    if status.is_success() {
        return Verdict::Success;
    }
    let first = serde_json::from_slice::<Vec<SfError>>(&reply.body)
        .ok()
        .and_then(|errors| errors.into_iter().next());
    let (code, message) = first.map_or_else(
        || (String::new(), format!("Salesforce answered {status}")),
        |e| (e.error_code, e.message),
    );
    let message = if code.is_empty() {
        message
    } else {
        format!("{code}: {message}")
    };
    match (status, code.as_str()) {
        (StatusCode::UNAUTHORIZED, _) => Verdict::TokenExpired,
        (_, "REQUEST_LIMIT_EXCEEDED") => Verdict::failure(ErrorKind::RateLimited, message),
        (StatusCode::NOT_FOUND, _) => Verdict::failure(ErrorKind::NotFound, message),
        (StatusCode::FORBIDDEN, _) => Verdict::failure(ErrorKind::Forbidden, message),
        (s, _) if s.is_server_error() => Verdict::failure(ErrorKind::Unavailable, message),
        (s, _) if s.is_client_error() => Verdict::failure(ErrorKind::Invalid, message),
        _ => Verdict::failure(ErrorKind::Upstream, message),
    }
}
