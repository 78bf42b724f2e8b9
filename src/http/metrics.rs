//! `/metrics`: Prometheus text — every family the gateway records, each with its `# HELP` line
//! (`telemetry::described`), the process's own figures, read as the metrics are rendered, and the
//! sync lag, read from the database then (`changes::sync::lag`).
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
use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Who may read `/metrics`: anyone, or whoever shows the token; and the database the sync lag
/// is read from.
#[derive(Clone, Default)]
pub struct MetricsAccess {
    /// The SHA-256 of the token, when one is required.
    token: Option<[u8; 32]>,
    /// Where the sync lag is read, when the gateway has a database.
    db: Option<DatabaseConnection>,
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
        Ok(Self { token, db: None })
    }

    /// Reads the sync lag from `db` for each render.
    pub fn with_sync_lag(mut self, db: DatabaseConnection) -> Self {
        self.db = Some(db);
        self
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
        get(move |headers: HeaderMap| async move { render(&access, &headers).await }),
    )
}

async fn render(access: &MetricsAccess, headers: &HeaderMap) -> Response {
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
    crate::telemetry::process::collect();
    if let Some(db) = &access.db
        && let Err(cause) = crate::changes::sync::lag::refresh(db).await
    {
        // The other families are still worth a scrape; the lag keeps its last values.
        tracing::warn!(%cause, "reading the sync lag");
    }
    handle.run_upkeep();
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        handle.render(),
    )
        .into_response()
}
