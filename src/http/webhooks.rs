//! `POST /webhooks/{provider}`: a provider's delivery, verified and stored by
//! `changes::webhooks`. Verified deliveries (also repeats) get 200; a bad or stale signature or a
//! body that is not the provider's event gets 400 and nothing is stored; a provider this gateway
//! takes no webhooks of, 404; a storage failure, 503 — so the provider delivers again.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
};
use serde_json::{Value, json};

use crate::{
    changes::webhooks::{Outcome, WebhookError},
    providers::Provider,
};

use super::AppState;

pub async fn receive(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    let Ok(provider) = provider.parse::<Provider>() else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such provider" })),
        );
    };
    match state.webhooks.receive(provider, &headers, &body).await {
        Ok(outcome) => (
            StatusCode::OK,
            Json(json!({ "received": true, "duplicate": outcome == Outcome::Duplicate })),
        ),
        Err(WebhookError::Refused(refusal)) => {
            tracing::warn!(provider = provider.slug(), %refusal, "webhook refused");
            (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": refusal.to_string() })),
            )
        }
        Err(WebhookError::NotServed(why)) => (StatusCode::NOT_FOUND, Json(json!({ "error": why }))),
        Err(WebhookError::Store(cause)) => {
            tracing::error!(provider = provider.slug(), %cause, "webhook not stored");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": "not stored; deliver again" })),
            )
        }
    }
}
