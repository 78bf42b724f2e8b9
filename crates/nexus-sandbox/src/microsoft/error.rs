//! Graph's error answers and the envelope every Graph response passes through.
//!
//! Handlers answer `{"error":{"code","message"}}` with the right status; the `envelope`
//! middleware then stamps what Graph puts on every response: a `request-id` and the
//! `client-request-id` (the caller's, echoed, or a new one) as headers, and for errors the
//! `innerError {date, request-id, client-request-id}` block of the body. A 401 also carries
//! `WWW-Authenticate: Bearer ...` as Graph sends it.

use axum::{
    Json,
    body::{Body, to_bytes},
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use uuid::Uuid;

/// A Graph error: status, `error.code`, `error.message`, optional `Retry-After` (seconds).
#[derive(Debug)]
pub struct GraphError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
    /// Extra `innerError` fields (the 429 sample carries `code`, `message` and `status`).
    inner: Option<Value>,
}

impl GraphError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            inner: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": { "code": self.code, "message": self.message } });
        if let Some(inner) = self.inner {
            body["error"]["innerError"] = inner;
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(v) = self
            .retry_after
            .and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
                ),
            );
        }
        response
    }
}

pub type GraphResult<T = Response> = Result<T, GraphError>;

/// 401 `InvalidAuthenticationToken`, worded for a missing, unknown or expired token.
pub fn unauthenticated(why: super::BearerError) -> GraphError {
    let message = match why {
        super::BearerError::Missing => "Access token is empty.",
        super::BearerError::Unknown => "IDX14100: JWT is not well formed, there are no dots (.).",
        super::BearerError::Expired => "Lifetime validation failed, the token is expired.",
    };
    GraphError::new(
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        message,
    )
}

/// 403 for a token whose scopes do not reach the resource; Outlook and Teams word it differently.
pub fn forbidden(teams: bool, required: &[&str], granted: &[String]) -> GraphError {
    if teams {
        GraphError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "Missing scope permissions on the request. API requires one of '{}'. Scopes on the request '{}'",
                required.join(", "),
                granted.join(", ")
            ),
        )
    } else {
        GraphError::new(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        )
    }
}

/// 404 for an Outlook item (`ErrorItemNotFound`).
pub fn item_not_found() -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "ErrorItemNotFound",
        "The specified object was not found in the store.",
    )
}

/// 404 for a directory or Teams resource, or a path Graph does not know.
pub fn resource_not_found(message: impl Into<String>) -> GraphError {
    GraphError::new(StatusCode::NOT_FOUND, "ResourceNotFound", message)
}

/// 400 for an id that is not an Outlook id at all.
pub fn malformed_id() -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "ErrorInvalidIdMalformed",
        "Id is malformed.",
    )
}

/// 400 `BadRequest` (bad OData, bad JSON, missing parameters).
pub fn bad_request(message: impl Into<String>) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
}

/// 400 `InefficientFilter`: `$filter` with `$orderby` where the sorted property is not also
/// filtered on, first (Graph docs, user-list-messages, "Using filter and orderby in the same
/// query").
pub fn inefficient_filter() -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "InefficientFilter",
        "The restriction or sort order is too complex for this operation.",
    )
}

/// 429, after Graph's throttling sample; `code` is `ApplicationThrottled` for Outlook's
/// mailbox limit and `TooManyRequests` for Teams.
pub fn throttled(code: &'static str, message: &str, retry_after_s: u64) -> GraphError {
    GraphError {
        status: StatusCode::TOO_MANY_REQUESTS,
        code,
        message: message.to_owned(),
        retry_after: Some(retry_after_s.max(1)),
        inner: Some(json!({
            "code": "429",
            "message": "Please retry after",
            "status": "429",
        })),
    }
}

/// A fault's answer (`POST /_sandbox/faults`), shaped as Graph's.
pub fn fault(status: u16, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut error = match status.as_u16() {
        429 => throttled(
            "TooManyRequests",
            "Please retry again later.",
            retry_after.unwrap_or(10),
        ),
        401 => unauthenticated(super::BearerError::Expired),
        404 => resource_not_found("The requested resource does not exist."),
        503 => GraphError::new(
            status,
            "ServiceNotAvailable",
            "The service is temporarily unavailable.",
        ),
        504 => GraphError::new(status, "GatewayTimeout", "The gateway timed out."),
        _ => GraphError::new(
            status,
            "generalException",
            "An unspecified error has occurred.",
        ),
    };
    if status != StatusCode::TOO_MANY_REQUESTS {
        error.retry_after = retry_after;
    }
    error.into_response()
}

/// The middleware on every Graph route: request ids as headers, and `innerError` on errors.
pub async fn envelope(request: Request, next: Next) -> Response {
    let client_request_id = request
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| Uuid::new_v4().to_string());
    let request_id = Uuid::new_v4().to_string();
    let mut response = next.run(request).await;
    if response.status().is_client_error() || response.status().is_server_error() {
        response = with_inner_error(response, &request_id, &client_request_id).await;
    }
    let headers = response.headers_mut();
    for (name, value) in [
        ("request-id", request_id.as_str()),
        ("client-request-id", client_request_id.as_str()),
        (
            "x-ms-ags-diagnostic",
            r#"{"ServerInfo":{"DataCenter":"Sandbox","Slice":"E","Ring":"1","ScaleUnit":"000","RoleInstance":"NEXUS-SANDBOX"}}"#,
        ),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    }
    response
}

async fn with_inner_error(
    response: Response,
    request_id: &str,
    client_request_id: &str,
) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, 1 << 20).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    if let Some(error) = value.get_mut("error").and_then(Value::as_object_mut) {
        let inner = error.entry("innerError").or_insert_with(|| json!({}));
        if let Some(inner) = inner.as_object_mut() {
            inner.insert(
                "date".into(),
                json!(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string()),
            );
            inner.insert("request-id".into(), json!(request_id));
            inner.insert("client-request-id".into(), json!(client_request_id));
        }
    }
    let body = value.to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}
