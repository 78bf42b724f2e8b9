//! `POST /webhooks/{provider}`: a provider's delivery, verified and stored by
//! `changes::webhooks`. Verified deliveries (also repeats) get 200 (Graph's notifications 202,
//! the ones dropped for a wrong `clientState` too, as Graph asks), a handshake its challenge; a bad or stale signature or a
//! body that is not the provider's event gets 400 and nothing is stored (a push that does not
//! prove its sender — Google's token, a channel token — 401); a provider this gateway
//! takes no webhooks of, 404; a storage failure, 503 — so the provider delivers again.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, Uri, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{
    changes::webhooks::{Delivery, Outcome, Refusal, WebhookError},
    providers::Provider,
};

use super::AppState;

pub async fn receive(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    take(state, provider, None, uri, headers, body).await
}

/// `POST /webhooks/stripe/{endpoint}`: a project's own Stripe endpoint.
pub async fn receive_stripe_endpoint(
    State(state): State<AppState>,
    Path(endpoint): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    take(state, "stripe".into(), Some(endpoint), uri, headers, body).await
}

async fn take(
    state: AppState,
    provider: String,
    endpoint: Option<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(provider) = provider.parse::<Provider>() else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such provider" })),
        )
            .into_response();
    };
    let delivery = Delivery {
        url: format!("{}{}", state.public_origin, uri),
        headers: &headers,
        body: &body,
    };
    let received = match &endpoint {
        Some(endpoint) => {
            state
                .webhooks
                .receive_stripe_endpoint(endpoint, delivery)
                .await
        }
        None => state.webhooks.receive(provider, delivery).await,
    };
    let answer = match received {
        Ok(Outcome::Challenge(challenge)) => {
            return (StatusCode::OK, [(CONTENT_TYPE, "text/plain")], challenge).into_response();
        }
        Ok(Outcome::Accepted(stored)) => (
            StatusCode::ACCEPTED,
            Json(json!({ "received": true, "stored": stored })),
        ),
        Ok(outcome) => (
            StatusCode::OK,
            Json(json!({ "received": true, "duplicate": outcome == Outcome::Duplicate })),
        ),
        Err(WebhookError::Refused(refusal @ Refusal::Unauthenticated(_))) => {
            tracing::warn!(provider = provider.slug(), %refusal, "webhook refused");
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({ "error": refusal.to_string() })),
            )
        }
        Err(WebhookError::Refused(refusal)) => {
            tracing::warn!(provider = provider.slug(), %refusal, "webhook refused");
            (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": refusal.to_string() })),
            )
        }
        Err(WebhookError::NotServed(why)) => (StatusCode::NOT_FOUND, Json(json!({ "error": why }))),
        Err(WebhookError::Unreadable(cause)) => {
            tracing::error!(provider = provider.slug(), %cause, "webhook secret unreadable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": "the endpoint cannot verify deliveries now" })),
            )
        }
        Err(WebhookError::Store(cause)) => {
            tracing::error!(provider = provider.slug(), %cause, "webhook not stored");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": "not stored; deliver again" })),
            )
        }
    };
    answer.into_response()
}
