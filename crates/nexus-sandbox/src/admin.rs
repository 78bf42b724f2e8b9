//! The admin API under `/_sandbox/` (JSON): tokens without the consent dance, expiry and
//! revocation, faults, counters, arrival times, data changes as a provider's user would make them, webhook
//! targets, the clock, limit switches, other apps' usage of a shared quota, and reset.
//! Providers are named by their slugs.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Ctx, SandboxState, faults::FaultSpec, google, hubspot, microsoft, salesforce, slack, stripe,
    webhooks::WebhookTarget,
};

/// The providers this sandbox simulates (`google` names Gmail's and Calendar's shared OAuth,
/// `microsoft` Outlook's and Teams').
const SIMULATED: &[&str] = &[
    hubspot::SLUG,
    salesforce::SLUG,
    slack::SLUG,
    microsoft::SLUG,
    microsoft::OUTLOOK,
    microsoft::TEAMS,
    google::SLUG,
    google::GMAIL,
    google::CALENDAR,
];

pub fn routes() -> Router<Arc<SandboxState>> {
    Router::new()
        .route("/tokens", post(tokens))
        .route("/expire-tokens", post(expire))
        .route("/revoke", post(revoke))
        .route("/faults", post(add_fault).delete(clear_faults))
        .route("/counters", get(counters))
        .route("/arrivals", get(arrivals))
        .route("/records", post(records))
        .route("/webhooks", post(register_webhook))
        .route("/stripe/events", post(stripe_event))
        .route("/clock", post(clock))
        .route("/limits", post(limits))
        .route("/usage", post(usage))
        .route("/reset", post(reset))
}

/// The admin API's own error answer: `{"error": "..."}`.
type Refusal = (StatusCode, Json<Value>);

fn refuse(status: StatusCode, message: impl Into<String>) -> Refusal {
    (status, Json(json!({ "error": message.into() })))
}

fn simulated(provider: &str) -> Result<&'static str, Refusal> {
    SIMULATED
        .iter()
        .find(|p| **p == provider)
        .copied()
        .ok_or_else(|| {
            refuse(
                StatusCode::NOT_FOUND,
                format!("the sandbox does not simulate `{provider}`"),
            )
        })
}

#[derive(Deserialize)]
struct ProviderBody {
    provider: String,
    /// The provider account (HubSpot portal id); its default account when absent.
    account: Option<String>,
}

async fn tokens(
    State(state): State<Arc<SandboxState>>,
    Json(body): Json<ProviderBody>,
) -> Response {
    match simulated(&body.provider) {
        Ok(salesforce::SLUG) => {
            let org = body.account.as_deref().unwrap_or(salesforce::store::ORG_ID);
            let mut tokens = salesforce::mint(&state, org);
            // Salesforce's own answer has no expiry; the admin API tells the session's length.
            tokens["expires_in"] = json!(salesforce::POLICY.access_lifetime.num_seconds());
            Json(tokens).into_response()
        }
        Ok(slack::SLUG) => Json(slack::mint(
            &state,
            body.account.as_deref().unwrap_or(slack::TEAM_ID),
        ))
        .into_response(),
        Ok(p) if microsoft::SLUGS.contains(&p) => {
            Json(microsoft::mint(&state, p, body.account.as_deref())).into_response()
        }
        Ok(part @ (google::SLUG | google::GMAIL | google::CALENDAR)) => {
            Json(google::mint(&state, part, body.account.as_deref())).into_response()
        }
        Ok(_) => {
            let portal = body.account.as_deref().unwrap_or(hubspot::PORTAL_ID);
            let issued = hubspot::mint(&state, portal);
            Json(json!({
                "access_token": issued.access_token,
                "refresh_token": issued.refresh_token,
                "expires_in": issued.expires_in,
            }))
            .into_response()
        }
        Err(r) => r.into_response(),
    }
}

/// What `expire-tokens` and `revoke` do to a provider's tokens.
#[derive(Clone, Copy)]
enum TokenAction {
    Expire,
    Revoke,
}

async fn expire(state: State<Arc<SandboxState>>, body: Json<ProviderBody>) -> Response {
    act_on_tokens(state, body, TokenAction::Expire)
}

async fn revoke(state: State<Arc<SandboxState>>, body: Json<ProviderBody>) -> Response {
    act_on_tokens(state, body, TokenAction::Revoke)
}

fn act_on_tokens(
    State(state): State<Arc<SandboxState>>,
    Json(body): Json<ProviderBody>,
    action: TokenAction,
) -> Response {
    let provider = match simulated(&body.provider) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let now = state.clock.now();
    let mut tokens = state.tokens.lock().expect("tokens lock");
    // Google's and Microsoft's parts share one OAuth server each: their shared name covers both
    // connections' tokens.
    let targets = match provider {
        google::SLUG | google::GMAIL | google::CALENDAR => google::clients(provider),
        p if microsoft::SLUGS.contains(&p) => microsoft::connections(provider),
        _ => std::slice::from_ref(&provider),
    };
    let answer = match action {
        TokenAction::Expire => {
            json!({ "expired": targets.iter().map(|p| tokens.expire(p, now)).sum::<usize>() })
        }
        TokenAction::Revoke => {
            if provider == slack::SLUG {
                slack::revoke_all(&state);
            }
            json!({ "revoked": targets.iter().map(|p| tokens.revoke(p, now)).sum::<usize>() })
        }
    };
    Json(answer).into_response()
}

async fn add_fault(
    State(state): State<Arc<SandboxState>>,
    Json(spec): Json<FaultSpec>,
) -> Response {
    if let Err(r) = simulated(&spec.provider) {
        return r.into_response();
    }
    if let Err(message) = spec.validate() {
        return refuse(StatusCode::BAD_REQUEST, message).into_response();
    }
    state.faults.add(spec);
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_faults(State(state): State<Arc<SandboxState>>) -> StatusCode {
    state.faults.clear();
    StatusCode::NO_CONTENT
}

async fn counters(State(state): State<Arc<SandboxState>>) -> Json<Value> {
    Json(state.counters.snapshot())
}

#[derive(Deserialize)]
struct ArrivalsQuery {
    provider: String,
    route: Option<String>,
}

/// `GET /_sandbox/arrivals?provider=&route=`: when a provider's calls arrived and were answered.
async fn arrivals(
    State(state): State<Arc<SandboxState>>,
    Query(query): Query<ArrivalsQuery>,
) -> Json<Value> {
    Json(state.arrivals.of(&query.provider, query.route.as_deref()))
}

#[derive(Deserialize)]
struct RecordChange {
    provider: String,
    account: Option<String>,
    object: String,
    op: String,
    id: Option<String>,
    #[serde(default)]
    fields: Value,
}

/// Changes data as the provider's own user would (in its UI), firing its webhook.
async fn records(
    State(state): State<Arc<SandboxState>>,
    Json(change): Json<RecordChange>,
) -> Response {
    match simulated(&change.provider) {
        Ok(salesforce::SLUG) => {
            return salesforce::change_record(
                &state,
                change
                    .account
                    .as_deref()
                    .unwrap_or(salesforce::store::ORG_ID),
                &change.object,
                &change.op,
                change.id.as_deref(),
                &change.fields,
            );
        }
        Ok(slack::SLUG) => {
            return slack::change_record(
                &state,
                change.account.as_deref().unwrap_or(slack::TEAM_ID),
                &change.object,
                &change.op,
                &change.fields,
            );
        }
        Ok(p) if microsoft::SLUGS.contains(&p) => {
            return microsoft::change_record(
                &state,
                p,
                change.account.as_deref(),
                &change.object,
                &change.op,
                change.id.as_deref(),
                &change.fields,
            );
        }
        Ok(part @ (google::SLUG | google::GMAIL | google::CALENDAR)) => {
            return google::records(
                &state,
                part,
                change.account.as_deref(),
                &change.object,
                &change.op,
                change.id.as_deref(),
                &change.fields,
            );
        }
        Ok(_) => {}
        Err(r) => return r.into_response(),
    }
    let ctx = Ctx {
        state: state.clone(),
        provider: hubspot::SLUG,
        account: hubspot::PORTAL_ID,
        error: hubspot::error::fault,
    };
    hubspot::change_record(
        &ctx,
        change.account.as_deref().unwrap_or(hubspot::PORTAL_ID),
        &change.object,
        &change.op,
        change.id.as_deref(),
        &change.fields,
    )
}

#[derive(Deserialize)]
struct WebhookRegistration {
    provider: String,
    url: String,
    secret: Option<String>,
}

async fn register_webhook(
    State(state): State<Arc<SandboxState>>,
    Json(body): Json<WebhookRegistration>,
) -> Response {
    let provider = match body.provider.as_str() {
        stripe::SLUG => stripe::SLUG,
        other => match simulated(other) {
            Ok(p) => p,
            Err(r) => return r.into_response(),
        },
    };
    if provider == slack::SLUG {
        return slack::register_events(&state, body.url, body.secret).await;
    }
    if provider == stripe::SLUG
        && !body
            .secret
            .as_deref()
            .is_some_and(|s| s.starts_with("whsec_"))
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            "a Stripe endpoint needs its whsec_ signing secret",
        )
        .into_response();
    }
    if url::Url::parse(&body.url).is_err() {
        return refuse(StatusCode::BAD_REQUEST, "url must be an absolute URL").into_response();
    }
    state.webhooks.lock().expect("webhooks lock").insert(
        provider.to_owned(),
        WebhookTarget {
            url: body.url,
            secret: body.secret,
        },
    );
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct ClockAdvance {
    advance_s: f64,
}

async fn clock(State(state): State<Arc<SandboxState>>, Json(body): Json<ClockAdvance>) -> Response {
    if !body.advance_s.is_finite() || body.advance_s < 0.0 {
        return refuse(
            StatusCode::BAD_REQUEST,
            "advance_s must be a non-negative number of seconds",
        )
        .into_response();
    }
    state.clock.advance(body.advance_s);
    Json(json!({ "now": state.clock.now().to_rfc3339() })).into_response()
}

#[derive(Deserialize)]
struct LimitSwitch {
    provider: String,
    enforce: bool,
    /// Capacities per rate class, for providers whose limits are too large to reach in a test
    /// (Microsoft's: `microsoft::set_capacity`).
    #[serde(default)]
    capacity: std::collections::HashMap<String, u32>,
}

async fn limits(State(state): State<Arc<SandboxState>>, Json(body): Json<LimitSwitch>) -> Response {
    let provider = match simulated(&body.provider) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    if !body.capacity.is_empty() {
        let set = if microsoft::SLUGS.contains(&provider) {
            microsoft::set_capacity(&state, provider, &body.capacity)
        } else if provider == hubspot::SLUG {
            hubspot::set_capacity(&state, &body.capacity)
        } else {
            Err(format!("`{provider}` takes no capacity"))
        };
        if let Err(message) = set {
            return refuse(StatusCode::BAD_REQUEST, message).into_response();
        }
    }
    let mut unlimited = state.unlimited.lock().expect("limits lock");
    if body.enforce {
        unlimited.remove(provider);
    } else {
        unlimited.insert(provider.to_owned());
    }
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct UsageBody {
    provider: String,
    /// The provider account (Salesforce org id); its default account when absent.
    account: Option<String>,
    /// API calls the account's other apps made just now.
    calls: u32,
}

/// Counts calls made by the account's other apps, for quotas the provider shares between them
/// (Salesforce's org-wide API requests).
async fn usage(State(state): State<Arc<SandboxState>>, Json(body): Json<UsageBody>) -> Response {
    match simulated(&body.provider) {
        Ok(salesforce::SLUG) => {
            let org = body.account.as_deref().unwrap_or(salesforce::store::ORG_ID);
            salesforce::spend_elsewhere(&state, org, body.calls);
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(p) => refuse(
            StatusCode::BAD_REQUEST,
            format!("`{p}` has no quota shared with other apps"),
        )
        .into_response(),
        Err(r) => r.into_response(),
    }
}

async fn reset(State(state): State<Arc<SandboxState>>) -> StatusCode {
    state.reset();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct StripeEvent {
    r#type: String,
    data: Option<Value>,
}

/// Has the Stripe sender post a signed event of a type to the registered endpoint.
async fn stripe_event(
    State(state): State<Arc<SandboxState>>,
    Json(body): Json<StripeEvent>,
) -> Response {
    match stripe::send(&state, &body.r#type, body.data.as_ref()) {
        Ok(event) => Json(event).into_response(),
        Err(message) => refuse(StatusCode::BAD_REQUEST, message).into_response(),
    }
}
