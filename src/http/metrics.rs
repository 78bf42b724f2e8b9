//! `/metrics`: Prometheus text — GraphQL requests by operation and outcome, and their latency.
//!
//! It is served on the main listener, or, with `server.metrics_addr`, on a listener of its own
//! (an address only the scraper reaches) while the main one answers 404 there. With
//! `server.metrics_token` it answers only `Authorization: Bearer <token>`, 401 otherwise; the
//! token is kept as its SHA-256 and compared in constant time, so neither its value nor how
//! much of it a guess got right shows.

use axum::{
    Router,
    response::{IntoResponse, Response},
    routing::get,
};
use http::{
    HeaderMap, HeaderValue, StatusCode,
    header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE},
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Who may read `/metrics`: anyone, or whoever shows the token.
#[derive(Clone, Default)]
pub struct MetricsAccess {
    /// The SHA-256 of the token, when one is required.
    token: Option<[u8; 32]>,
}

impl MetricsAccess {
    /// Requires `token` (`server.metrics_token`) when there is one; an empty token cannot work.
    pub fn new(token: Option<&SecretString>) -> Result<Self, String> {
        let token = match token {
            Some(token) if token.expose_secret().trim().is_empty() => {
                return Err("server.metrics_token must not be empty".into());
            }
            Some(token) => Some(digest(token.expose_secret())),
            None => None,
        };
        Ok(Self { token })
    }

    fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(expected) = &self.token else {
            return true;
        };
        let presented = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        presented.is_some_and(|token| bool::from(digest(token).ct_eq(expected)))
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The `/metrics` route under `access`, for whichever listener serves it.
pub fn routes<S: Clone + Send + Sync + 'static>(access: MetricsAccess) -> Router<S> {
    Router::new().route(
        "/metrics",
        get(move |headers: HeaderMap| async move { render(&access, &headers) }),
    )
}

fn render(access: &MetricsAccess, headers: &HeaderMap) -> Response {
    if !access.allows(headers) {
        let mut response = (
            StatusCode::UNAUTHORIZED,
            "send `Authorization: Bearer <server.metrics_token>`",
        )
            .into_response();
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    let handle = crate::telemetry::prometheus();
    handle.run_upkeep();
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        handle.render(),
    )
        .into_response()
}
