//! `POST /webhooks/{provider}`: a provider's delivery, verified and stored by
//! `changes::webhooks`. Verified deliveries (also repeats) get 200 (Graph's notifications 202,
//! the ones dropped for a wrong `clientState` too, as Graph asks), a handshake its challenge; a bad or stale signature or a
//! body that is not the provider's event gets 400 and nothing is stored (a push that does not
//! prove its sender — Google's token, a channel token — 401); a provider this gateway
//! takes no webhooks of, 404; a storage failure, 503 — so the provider delivers again.
//! Salesforce's outbound messages (`/webhooks/salesforce/{token}`) are answered in SOAP: the
//! `Ack` (also for repeats), a `soapenv:Client` fault for a body that is no outbound message (400)
//! or another org's (403), a `soapenv:Server` fault when not stored (503); an unknown token 404.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, Uri, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{
    changes::webhooks::{Delivery, Outcome, Refusal, WebhookError, salesforce},
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

/// A request's path as logs may show it: a Salesforce endpoint's token replaced.
pub fn loggable(path: &str) -> std::borrow::Cow<'_, str> {
    match path.strip_prefix(SALESFORCE_ENDPOINT) {
        Some(_) => format!("{SALESFORCE_ENDPOINT}…").into(),
        None => path.into(),
    }
}

const SALESFORCE_ENDPOINT: &str = "/webhooks/salesforce/";

/// `POST /webhooks/salesforce/{token}`: a Salesforce connection's outbound messages.
pub async fn receive_salesforce(
    State(state): State<AppState>,
    Path(token): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let delivery = Delivery {
        url: format!("{}{}", state.public_origin, uri.path()),
        headers: &headers,
        body: &body,
    };
    let soap = |status: StatusCode, text: String| {
        (status, [(CONTENT_TYPE, "text/xml; charset=utf-8")], text).into_response()
    };
    match state.webhooks.receive_salesforce(&token, delivery).await {
        Ok(_) => soap(StatusCode::OK, salesforce::ack().to_owned()),
        Err(WebhookError::Refused(refusal)) => {
            tracing::warn!(provider = "salesforce", %refusal, "outbound message refused");
            let status = match refusal {
                Refusal::OtherAccount => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            };
            soap(status, salesforce::fault("Client", &refusal.to_string()))
        }
        Err(WebhookError::NotServed(why)) => {
            (StatusCode::NOT_FOUND, Json(json!({ "error": why }))).into_response()
        }
        Err(cause) => {
            tracing::error!(provider = "salesforce", %cause, "outbound message not stored");
            soap(
                StatusCode::SERVICE_UNAVAILABLE,
                salesforce::fault("Server", "not stored; deliver again"),
            )
        }
    }
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
