//! The access log: one line per request, written when its answer's head is ready, under the
//! target `nexus::access` with `method`, `path` (never the query string, which carries OAuth
//! codes and states; a webhook endpoint's token is cut from it too), `status`, `duration_ms`,
//! and what the handler learned on the way: the GraphQL `operation` name, the caller's
//! `project_id` and `user_id` (never their credential). The line is written inside the request's
//! span, so it carries the span's `request_id` as every other line of the request does; the
//! status goes on the span too (`http.response.status_code`, for traces).

use std::time::Instant;

use axum::{extract::Request, middleware::Next, response::Response};
use http::HeaderMap;

use crate::auth::Tenant;

/// The request id header (`x-request-id`), set on every request before it reaches a handler.
pub const REQUEST_ID: &str = "x-request-id";

/// What a handler puts in its response's extensions for the access line.
#[derive(Debug, Clone, Default)]
pub struct Accessed {
    /// The GraphQL operation's name (a valid name, or `invalid`), where the request had one.
    pub operation: Option<String>,
    /// The caller, once authenticated.
    pub tenant: Option<Tenant>,
}

/// The longest request id a caller may send. A longer one, or one with anything but visible
/// ASCII, is dropped before the id is set, so the request gets a fresh id instead: a caller's id
/// goes into every log line, span and error of the request, and must not grow them at will.
pub const REQUEST_ID_MAX_LEN: usize = 128;

/// Drops a caller's request id that is too long or not visible ASCII (see [`REQUEST_ID_MAX_LEN`]).
pub async fn fit_request_id(mut request: Request) -> Request {
    let fits = |value: &http::HeaderValue| {
        value.len() <= REQUEST_ID_MAX_LEN && value.as_bytes().iter().all(u8::is_ascii_graphic)
    };
    if !request.headers().get_all(REQUEST_ID).iter().all(fits) {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

/// The id of the request these headers came with.
pub fn request_id(headers: &HeaderMap) -> Option<&str> {
    headers.get(REQUEST_ID).and_then(|v| v.to_str().ok())
}

/// The middleware writing the access line.
pub async fn log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = super::webhooks::loggable(request.uri().path()).into_owned();
    let response = next.run(request).await;
    let span = tracing::Span::current();
    span.record("http.response.status_code", response.status().as_u16());
    if response.status().is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    let accessed = response.extensions().get::<Accessed>();
    let tenant = accessed.and_then(|a| a.tenant);
    tracing::info!(
        target: "nexus::access",
        method = %method,
        path,
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        operation = accessed.and_then(|a| a.operation.as_deref()),
        project_id = tenant.map(|t| tracing::field::display(t.project_id)),
        user_id = tenant.map(|t| tracing::field::display(t.user_id)),
        "request"
    );
    response
}
