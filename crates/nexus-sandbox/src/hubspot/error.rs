//! HubSpot's error bodies: `{"status":"error","message","correlationId","category",...}`, and the
//! 429 bodies of its rolling and secondly limits.

use axum::{
    Json,
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use uuid::Uuid;

pub fn body(category: &str, message: &str) -> Value {
    json!({
        "status": "error",
        "message": message,
        "correlationId": Uuid::new_v4().to_string(),
        "category": category,
    })
}

/// An error answer: status, HubSpot's body, and a `Retry-After` when there is one.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Value,
    retry_after: Option<u64>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(v) = self
            .retry_after
            .and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
        {
            response.headers_mut().insert("retry-after", v);
        }
        response
    }
}

pub fn respond(status: StatusCode, body: Value) -> ApiError {
    ApiError {
        status,
        body,
        retry_after: None,
    }
}

pub fn validation(message: &str) -> ApiError {
    respond(StatusCode::BAD_REQUEST, body("VALIDATION_ERROR", message))
}

pub fn not_found() -> ApiError {
    respond(
        StatusCode::NOT_FOUND,
        body("OBJECT_NOT_FOUND", "resource not found"),
    )
}

pub fn unauthenticated(expired: bool) -> ApiError {
    if expired {
        respond(
            StatusCode::UNAUTHORIZED,
            body(
                "EXPIRED_AUTHENTICATION",
                "The OAuth token used to make this call expired.",
            ),
        )
    } else {
        respond(
            StatusCode::UNAUTHORIZED,
            body(
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
            ),
        )
    }
}

/// Which limit a 429 reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    TenSecondlyRolling,
    Secondly,
}

pub fn rate_limited(policy: Policy, portal: &str, retry_after_s: u64) -> ApiError {
    let (message, name, group) = match policy {
        Policy::TenSecondlyRolling => (
            "You have reached your ten_secondly_rolling limit.",
            "TEN_SECONDLY_ROLLING",
            format!("publicapi:oauth-api-calls-ten-secondly:{portal}"),
        ),
        Policy::Secondly => (
            "You have reached your secondly limit.",
            "SECONDLY",
            format!("publicapi:oauth-api-calls-secondly:{portal}"),
        ),
    };
    ApiError {
        status: StatusCode::TOO_MANY_REQUESTS,
        body: json!({
            "status": "error",
            "message": message,
            "errorType": "RATE_LIMIT",
            "correlationId": Uuid::new_v4().to_string(),
            "policyName": name,
            "groupName": group,
        }),
        retry_after: Some(retry_after_s.max(1)),
    }
}

/// A fault's answer, shaped as HubSpot's.
pub fn fault(status: u16, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status == StatusCode::NOT_FOUND {
        return ApiError {
            retry_after,
            ..not_found()
        }
        .into_response();
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return rate_limited(
            Policy::TenSecondlyRolling,
            super::PORTAL_ID,
            retry_after.unwrap_or(10),
        )
        .into_response();
    }
    ApiError {
        status,
        body: body("INTERNAL_ERROR", "An internal error occurred."),
        retry_after,
    }
    .into_response()
}
