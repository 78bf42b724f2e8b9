//! `/metrics`: Prometheus text — GraphQL requests by operation and outcome, and their latency.

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

pub async fn render() -> impl IntoResponse {
    let handle = crate::telemetry::prometheus();
    handle.run_upkeep();
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        handle.render(),
    )
}
