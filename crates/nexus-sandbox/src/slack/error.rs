//! Slack's answers: HTTP 200 with `{"ok":true,...}` or `{"ok":false,"error":"..."}` for every
//! outcome but two, rate limiting (HTTP 429, `Retry-After` in seconds, `"error":"ratelimited"`)
//! and server trouble (5xx). Warnings ride along in `warning` and `response_metadata.warnings`.

use axum::{
    Json,
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::args::Call;

/// Adds the call's warnings to an answer, as Slack does: a comma-joined `warning` and the list
/// in `response_metadata.warnings` (with `[WARN]` messages).
fn warn(call: &Call, mut body: Value) -> Value {
    if call.warnings.is_empty() {
        return body;
    }
    body["warning"] = json!(call.warnings.join(","));
    let messages: Vec<String> = call
        .warnings
        .iter()
        .map(|w| match *w {
            "missing_charset" => {
                "[WARN] A Content-Type HTTP header was presented but did not declare a charset, such as a 'utf-8'".to_owned()
            }
            other => format!("[WARN] {other}"),
        })
        .collect();
    let metadata = &mut body["response_metadata"];
    if !metadata.is_object() {
        *metadata = json!({});
    }
    metadata["warnings"] = json!(call.warnings);
    metadata["messages"] = json!(messages);
    body
}

/// `{"ok":true, ...fields}`.
pub fn ok(call: &Call, fields: Value) -> Response {
    let mut body = json!({ "ok": true });
    if let (Some(out), Value::Object(fields)) = (body.as_object_mut(), fields) {
        out.extend(fields);
    }
    Json(warn(call, body)).into_response()
}

/// A call's failure, answered with the call's warnings by [`respond`] or [`Failure::answer`].
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    body: Value,
    retry_after: Option<u64>,
}

impl Failure {
    /// `{"ok":false,"error":...}` with HTTP 200.
    pub fn plain(error: &str) -> Self {
        Self {
            status: StatusCode::OK,
            body: json!({ "ok": false, "error": error }),
            retry_after: None,
        }
    }

    /// `invalid_arguments`, naming the argument in `response_metadata.messages`.
    pub fn invalid_arguments(argument: &str) -> Self {
        Self {
            status: StatusCode::OK,
            body: json!({
                "ok": false,
                "error": "invalid_arguments",
                "response_metadata": {
                    "messages": [format!("[ERROR] invalid value for argument `{argument}`")],
                },
            }),
            retry_after: None,
        }
    }

    /// `missing_scope` with what the method needs and what the token has.
    pub fn missing_scope(needed: &str, provided: &[String]) -> Self {
        Self {
            status: StatusCode::OK,
            body: json!({
                "ok": false,
                "error": "missing_scope",
                "needed": needed,
                "provided": provided.join(","),
            }),
            retry_after: None,
        }
    }

    /// HTTP 429 with `Retry-After` (whole seconds, at least 1) and `"error":"ratelimited"`.
    pub fn ratelimited(retry_after_s: u64) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            body: json!({ "ok": false, "error": "ratelimited" }),
            retry_after: Some(retry_after_s.max(1)),
        }
    }

    pub fn answer(self, call: &Call) -> Response {
        let body = if self.status == StatusCode::OK {
            warn(call, self.body)
        } else {
            self.body
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(s));
        }
        response
    }
}

/// A method's outcome as Slack answers it: `{"ok":true,...}` or the failure.
pub fn respond(call: &Call, outcome: Result<Value, Failure>) -> Response {
    match outcome {
        Ok(fields) => ok(call, fields),
        Err(failure) => failure.answer(call),
    }
}

/// A fault's answer: a 429 as Slack limits; any other status with Slack's error envelope (a
/// 404 as `unknown_method`, the one error Slack answers with that status).
pub fn fault(status: u16, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Failure::ratelimited(retry_after.unwrap_or(30)).answer(&Call::default());
    }
    // Slack's only 404 is for a method it does not know.
    let error = if status.is_server_error() {
        "internal_error"
    } else if status == StatusCode::NOT_FOUND {
        "unknown_method"
    } else {
        "request_error"
    };
    let mut response = (status, Json(json!({ "ok": false, "error": error }))).into_response();
    if let Some(v) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from(v));
    }
    response
}
