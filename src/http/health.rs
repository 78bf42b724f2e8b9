//! `/healthz`: the process answers. `/readyz`: and its database does too, within
//! [`READY_WITHIN`]: a database that does not answer (a server gone quiet, a pool whose
//! connections all hang) makes `/readyz` answer 503 by then, not after the pool's own connect
//! timeout, so a load balancer takes the instance out at once.

use std::time::Duration;

use axum::{extract::State, http::StatusCode};

use super::AppState;

/// How long `/readyz` waits for the database's answer.
const READY_WITHIN: Duration = Duration::from_secs(1);

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match tokio::time::timeout(READY_WITHIN, crate::store::ping(&state.db)).await {
        Ok(true) => (StatusCode::OK, "ready"),
        Ok(false) => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable"),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unreachable: no answer within 1 s",
        ),
    }
}
