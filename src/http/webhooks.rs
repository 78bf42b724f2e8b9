//! `POST /webhooks/{provider}`: a provider's delivery, verified and stored by
//! `changes::webhooks`. Verified deliveries (also repeats) get 200 (Graph's notifications 202,
//! the ones dropped for a wrong `clientState` too, as Graph asks), a handshake its challenge; a bad or stale signature or a
//! body that is not the provider's event gets 400 and nothing is stored (a push that does not
//! prove its sender — Google's token, a channel token — 401); a provider this gateway
//! takes no webhooks of, 404; a storage failure, 503 — so the provider delivers again.
//! `POST /webhooks/{provider}/{endpoint}`: a connection's or project's own endpoint (a Stripe
//! endpoint, a Salesforce connection's outbound messages), answered alike; an unknown endpoint
//! 404. A provider that expects its own answer format gets it from its `ProviderWebhook`
//! (Salesforce's SOAP `Ack` and faults).
//!
//! Deliveries are counted by provider and outcome (`nexus_webhook_deliveries_total`), and those
//! being handled are gauged (`nexus_webhook_deliveries_in_flight`).

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
    telemetry::described::{InFlight, WEBHOOK_DELIVERIES, WEBHOOK_DELIVERIES_IN_FLIGHT},
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

/// `POST /webhooks/{provider}/{endpoint}`: one connection's or project's own endpoint.
pub async fn receive_at(
    State(state): State<AppState>,
    Path((provider, endpoint)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    take(state, provider, Some(endpoint), uri, headers, body).await
}

/// A request's path as logs may show it: a webhook endpoint (which may be its only secret)
/// replaced.
pub fn loggable(path: &str) -> std::borrow::Cow<'_, str> {
    let endpoint = path
        .strip_prefix(WEBHOOKS)
        .and_then(|rest| rest.split_once('/'));
    match endpoint {
        Some((provider, _)) => format!("{WEBHOOKS}{provider}/…").into(),
        None => path.into(),
    }
}

const WEBHOOKS: &str = "/webhooks/";

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
    let _in_flight = InFlight::new(metrics::gauge!(
        WEBHOOK_DELIVERIES_IN_FLIGHT,
        "provider" => provider.slug()
    ));
    let delivery = Delivery {
        url: format!("{}{}", state.public_origin, uri),
        headers: &headers,
        body: &body,
    };
    let received = match &endpoint {
        Some(endpoint) => {
            state
                .webhooks
                .receive_at(provider, endpoint, delivery)
                .await
        }
        None => state.webhooks.receive(provider, delivery).await,
    };
    log(provider, &received);
    metrics::counter!(
        WEBHOOK_DELIVERIES,
        "provider" => provider.slug(),
        "outcome" => outcome(&received)
    )
    .increment(1);
    if let Some(reply) = state.webhooks.reply(provider, &received) {
        return (
            reply.status,
            [(CONTENT_TYPE, reply.content_type)],
            reply.body,
        )
            .into_response();
    }
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
        Err(WebhookError::Refused(refusal @ Refusal::Unauthenticated(_))) => (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": refusal.to_string() })),
        ),
        Err(WebhookError::Refused(refusal)) => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": refusal.to_string() })),
        ),
        Err(WebhookError::NotServed(why)) => (StatusCode::NOT_FOUND, Json(json!({ "error": why }))),
        Err(WebhookError::Unreadable(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": "the endpoint cannot verify deliveries now" })),
        ),
        Err(WebhookError::Store(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": "not stored; deliver again" })),
        ),
    };
    answer.into_response()
}

/// The metrics' name for what became of a delivery.
fn outcome(received: &Result<Outcome, WebhookError>) -> &'static str {
    match received {
        Ok(Outcome::Stored(_)) => "stored",
        Ok(Outcome::Duplicate) => "duplicate",
        Ok(Outcome::Challenge(_)) => "challenge",
        Ok(Outcome::Accepted(_)) => "accepted",
        Err(WebhookError::Refused(Refusal::Unauthenticated(_))) => "unauthenticated",
        Err(WebhookError::Refused(_)) => "refused",
        Err(WebhookError::NotServed(_)) => "not_served",
        Err(WebhookError::Unreadable(_) | WebhookError::Store(_)) => "unavailable",
    }
}

/// Logs a delivery refused or not stored.
fn log(provider: Provider, received: &Result<Outcome, WebhookError>) {
    match received {
        Err(WebhookError::Refused(refusal)) => {
            tracing::warn!(provider = provider.slug(), %refusal, "webhook refused");
        }
        Err(WebhookError::Unreadable(cause)) => {
            tracing::error!(provider = provider.slug(), %cause, "webhook secret unreadable");
        }
        Err(WebhookError::Store(cause)) => {
            tracing::error!(provider = provider.slug(), %cause, "webhook not stored");
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_salesforce_endpoints_token_is_not_logged() {
        assert_eq!(
            super::loggable("/webhooks/salesforce/0123abcd"),
            "/webhooks/salesforce/…"
        );
        assert_eq!(super::loggable("/webhooks/hubspot"), "/webhooks/hubspot");
    }
}
