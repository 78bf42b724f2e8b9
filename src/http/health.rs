//! `/healthz`: the process answers. `/readyz`: and its database does too, within
//! [`READY_WITHIN`]: a database that does not answer (a server gone quiet, a pool whose
//! connections all hang) makes `/readyz` answer 503 by then, not after the pool's own connect
//! timeout, so a load balancer takes the instance out at once.
//!
//! With the shared limits on Redis (`limits.backend = "redis"`), an unreachable Redis keeps
//! `/readyz` at 200 but says so, `{"status":"degraded","limits":"local"}`: every gateway loses
//! the same Redis at once, and a 503 would take them all out of the load balancer together,
//! while each still serves within its share of the providers' allowances.

use std::time::Duration;

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::AppState;

/// How long `/readyz` waits for the database's answer.
const READY_WITHIN: Duration = Duration::from_secs(1);

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(READY_WITHIN, crate::store::ping(&state.db)).await {
        Ok(true) => {}
        Ok(false) => {
            return (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response();
        }
        Err(_) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "database unreachable: no answer within 1 s",
            )
                .into_response();
        }
    }
    match &state.shared_limits {
        Some(shared) if !shared.on_redis().await => (
            StatusCode::OK,
            Json(json!({ "status": "degraded", "limits": "local" })),
        )
            .into_response(),
        _ => (StatusCode::OK, "ready").into_response(),
    }
}
