//! Google's JSON error shape, shared by Gmail and Calendar:
//! `{"error":{"code","message","errors":[{"domain","reason","message",...}],"status"}}`, with the
//! `WWW-Authenticate` challenge on 401s and insufficient-scope 403s as Google sends them.

use axum::{
    Json,
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

/// An error answer in Google's shape.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Value,
    challenge: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(v) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert("www-authenticate", v);
        }
        response
    }
}

/// The canonical status name (`google.rpc.Code`) Google puts beside an HTTP status.
fn rpc_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        410 => "ABORTED",
        412 => "FAILED_PRECONDITION",
        429 => "RESOURCE_EXHAUSTED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    }
}

/// An error with one `errors[]` item; `extra` adds fields to the item (`location`, ...).
pub fn error(
    status: StatusCode,
    domain: &str,
    reason: &str,
    message: &str,
    extra: Value,
) -> ApiError {
    let mut item = json!({ "message": message, "domain": domain, "reason": reason });
    if let (Some(item), Value::Object(extra)) = (item.as_object_mut(), extra) {
        item.extend(extra);
    }
    ApiError {
        status,
        body: json!({
            "error": {
                "code": status.as_u16(),
                "message": message,
                "errors": [item],
                "status": rpc_status(status),
            }
        }),
        challenge: None,
    }
}

pub fn bad_request(message: &str) -> ApiError {
    error(
        StatusCode::BAD_REQUEST,
        "global",
        "badRequest",
        message,
        Value::Null,
    )
}

/// A bad query parameter, named as Google names it (`invalid` in `location` `parameter`).
pub fn invalid_parameter(name: &str, message: &str) -> ApiError {
    error(
        StatusCode::BAD_REQUEST,
        "global",
        "invalid",
        message,
        json!({ "locationType": "parameter", "location": name }),
    )
}

pub fn not_found() -> ApiError {
    error(
        StatusCode::NOT_FOUND,
        "global",
        "notFound",
        "Requested entity was not found.",
        Value::Null,
    )
}

pub fn forbidden(message: &str) -> ApiError {
    error(
        StatusCode::FORBIDDEN,
        "global",
        "forbidden",
        message,
        Value::Null,
    )
}

/// 401 for a missing, unknown, expired or revoked access token.
pub fn unauthenticated() -> ApiError {
    let mut e = error(
        StatusCode::UNAUTHORIZED,
        "global",
        "authError",
        "Invalid Credentials",
        json!({ "locationType": "header", "location": "Authorization" }),
    );
    e.body["error"]["message"] = json!(
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
    );
    e.challenge =
        Some(r#"Bearer realm="https://accounts.google.com/", error="invalid_token""#.to_owned());
    e
}

/// 403 for a token whose scopes do not reach the API or method.
pub fn insufficient_scope(service: &str, scopes: &[&str]) -> ApiError {
    let mut e = error(
        StatusCode::FORBIDDEN,
        "global",
        "insufficientPermissions",
        "Insufficient Permission",
        Value::Null,
    );
    e.body["error"]["message"] = json!("Request had insufficient authentication scopes.");
    e.body["error"]["details"] = json!([{
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
        "domain": "googleapis.com",
        "metadata": { "service": service },
    }]);
    e.challenge = Some(format!(
        r#"Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="{}""#,
        scopes.join(" ")
    ));
    e
}

/// 429 for the per-user quota: Google names the moment the user may retry in the message.
pub fn user_rate_limited(retry_at: &str) -> ApiError {
    error(
        StatusCode::TOO_MANY_REQUESTS,
        "usageLimits",
        "rateLimitExceeded",
        &format!("User-rate limit exceeded.  Retry after {retry_at}"),
        Value::Null,
    )
}

/// Calendar's 403 for its per-user requests a minute.
pub fn calendar_user_rate_limited() -> ApiError {
    error(
        StatusCode::FORBIDDEN,
        "usageLimits",
        "userRateLimitExceeded",
        "User Rate Limit Exceeded",
        Value::Null,
    )
}

/// Calendar's 410 for a sync token it no longer honours.
pub fn full_sync_required() -> ApiError {
    error(
        StatusCode::GONE,
        "calendar",
        "fullSyncRequired",
        "Sync token is no longer valid, a full sync is required.",
        json!({ "locationType": "parameter", "location": "syncToken" }),
    )
}

/// A fault's answer, shaped as Google's.
pub fn fault(status: u16, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (domain, reason, message) = match status.as_u16() {
        429 => (
            "usageLimits",
            "rateLimitExceeded",
            "Too many concurrent requests for user",
        ),
        401 => return unauthenticated().into_response(),
        503 => (
            "global",
            "backendError",
            "The service is currently unavailable.",
        ),
        _ => ("global", "backendError", "Backend Error"),
    };
    let mut response = error(status, domain, reason, message, Value::Null).into_response();
    if let Some(v) = retry_after.map(HeaderValue::from) {
        response.headers_mut().insert("retry-after", v);
    }
    response
}
