//! Slack answers failures with HTTP 200 and `{"ok":false,"error":"<code>"}`, so the status alone
//! says little: `token_expired` and `invalid_auth` → the token is expired or revoked (refresh once);
//! HTTP 429 `ratelimited` → rate limited for its `Retry-After`; `channel_not_found`,
//! `user_not_found`, `users_not_found`, `thread_not_found`, `message_not_found` → not found;
//! `not_in_channel`, `missing_scope`, `restricted_action`, `is_archived` → forbidden; other codes →
//! the input was refused; 5xx → temporary.

use serde::Deserialize;

use crate::upstream::{ErrorKind, Reply, Verdict};

#[derive(Debug, Default, Deserialize)]
struct Envelope {
    ok: Option<bool>,
    error: Option<String>,
    needed: Option<String>,
}

pub fn classify(reply: &Reply) -> Verdict {
    let status = reply.status;
    if status.is_server_error() {
        return Verdict::failure(ErrorKind::Unavailable, format!("Slack answered {status}"));
    }
    let body: Envelope = serde_json::from_slice(&reply.body).unwrap_or_default();
    if status.is_success() && body.ok == Some(true) {
        return Verdict::Success;
    }
    let code = body.error.unwrap_or_else(|| format!("HTTP {status}"));
    let message = match &body.needed {
        Some(needed) => format!("{code} (needs {needed})"),
        None => code.clone(),
    };
    if status == http::StatusCode::TOO_MANY_REQUESTS || code == "ratelimited" {
        return Verdict::Failure {
            kind: ErrorKind::RateLimited,
            retry_after: reply.retry_after(),
            message,
        };
    }
    let kind = match code.as_str() {
        "token_expired" | "invalid_auth" => return Verdict::TokenExpired,
        "token_revoked" | "account_inactive" | "not_authed" => ErrorKind::ReauthRequired,
        "channel_not_found" | "user_not_found" | "users_not_found" | "thread_not_found"
        | "message_not_found" => ErrorKind::NotFound,
        "not_in_channel" | "missing_scope" | "restricted_action" | "is_archived" => {
            ErrorKind::Forbidden
        }
        "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
            ErrorKind::Unavailable
        }
        _ => ErrorKind::Invalid,
    };
    Verdict::failure(kind, message)
}
