//! HubSpot CRM v3 (and v4 associations), simulated for one portal: OAuth (30-minute access
//! tokens, refresh tokens that do not rotate), contacts, companies and deals with list, get,
//! create, update, archive, batch and search, associations, HubSpot's limits (100 requests per
//! rolling 10 s per portal; 4 per second on batch and search) and v3-signed webhooks.

mod api;
pub mod error;
pub mod owners;
mod properties;
mod search;
pub mod store;

use std::sync::Arc;

use axum::{
    Form, Json, Router,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{delete, get, post, put},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::Duration;
use hmac::{KeyInit, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    Ctx, SandboxState, oauth,
    tokens::{App, BearerError, CodeExchange, GrantError, Issued, Policy},
};

pub use store::Store;

use error::ApiError;

pub const SLUG: &str = "hubspot";
/// The sandbox portal (HubSpot account) every token belongs to.
pub const PORTAL_ID: &str = "62515001";
/// HubSpot's access tokens last 30 minutes; refresh tokens do not rotate.
pub const POLICY: Policy = Policy {
    prefix: "CNb",
    access_lifetime: Duration::minutes(30),
    rotates_refresh: false,
    issues_refresh: true,
};

/// The burst limit of a Free/Starter portal: requests per rolling 10 seconds.
const ROLLING_LIMIT: u32 = 100;
/// Batch and search endpoints: requests per second.
const SECONDLY_LIMIT: u32 = 4;

pub fn routes() -> Router<Ctx> {
    Router::new()
        .route("/oauth/authorize", get(oauth::page).post(oauth::decide))
        .route("/oauth/v1/token", post(token))
        .route("/oauth/v1/access-tokens/{token}", get(token_info))
        .route("/oauth/v1/refresh-tokens/{token}", delete(revoke_refresh))
        .route("/crm/v3/owners", get(owners::list))
        .route("/crm/v3/objects/{object}", get(api::list).post(api::create))
        .route("/crm/v3/objects/{object}/search", post(search::search))
        .route("/crm/v3/properties/{object}", get(properties::list))
        .route("/crm/v3/properties/{object}/{name}", get(properties::get))
        .route("/crm/v3/objects/{object}/batch/{action}", post(api::batch))
        .route(
            "/crm/v3/objects/{object}/{id}",
            get(api::get).patch(api::update).delete(api::archive),
        )
        .route(
            "/crm/v4/objects/{from}/{id}/associations/{to}",
            get(api::associations),
        )
        .route(
            "/crm/v4/objects/{from}/{id}/associations/default/{to}/{to_id}",
            put(api::associate_default),
        )
        .route(
            "/crm/v4/objects/{from}/{id}/associations/{to}/{to_id}",
            delete(api::dissociate),
        )
        .route(
            "/crm/v4/associations/{from}/{to}/batch/read",
            post(api::associations_batch),
        )
}

/// Which of HubSpot's limits an endpoint counts against, besides the rolling one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Standard,
    Batch,
    Search,
}

/// A request that passed authentication and the limits; its rate headers go on the answer.
pub struct Admitted {
    remaining: Option<u32>,
    /// The portal the token belongs to; the call sees that portal's data.
    pub account: String,
}

impl Admitted {
    pub fn respond(&self, status: StatusCode, body: Value) -> Response {
        self.finish((status, Json(body)).into_response())
    }

    pub fn finish(&self, response: impl IntoResponse) -> Response {
        let mut response = response.into_response();
        if let Some(remaining) = self.remaining {
            let headers = response.headers_mut();
            headers.insert(
                "x-hubspot-ratelimit-interval-milliseconds",
                HeaderValue::from_static("10000"),
            );
            headers.insert("x-hubspot-ratelimit-max", HeaderValue::from(ROLLING_LIMIT));
            headers.insert(
                "x-hubspot-ratelimit-remaining",
                HeaderValue::from(remaining),
            );
        }
        response
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
}

/// Authenticates the call and counts it against the portal's limits.
pub fn admit(ctx: &Ctx, headers: &HeaderMap, class: Class) -> Result<Admitted, ApiError> {
    let now = ctx.state.clock.now();
    let portal = ctx
        .state
        .tokens
        .lock()
        .expect("tokens lock")
        .check(SLUG, bearer(headers), now)
        .map_err(|e| error::unauthenticated(e == BearerError::Expired))?
        .account;
    if !ctx.state.limits_enforced(SLUG) {
        return Ok(Admitted {
            remaining: None,
            account: portal,
        });
    }
    let mut store = ctx.state.hubspot.lock(&portal);
    if class != Class::Standard {
        let second = store.windows.hit(
            &portal,
            "secondly",
            SECONDLY_LIMIT,
            Duration::seconds(1),
            now,
        );
        if !second.allowed {
            return Err(error::rate_limited(error::Policy::Secondly, &portal, 1));
        }
    }
    let rolling = store.windows.hit(
        &portal,
        "ten_secondly",
        ROLLING_LIMIT,
        Duration::seconds(10),
        now,
    );
    if !rolling.allowed {
        let wait = rolling.retry_after.num_milliseconds().max(0) as u64;
        return Err(error::rate_limited(
            error::Policy::TenSecondlyRolling,
            &portal,
            wait.div_ceil(1000),
        ));
    }
    drop(store);
    Ok(Admitted {
        remaining: (class != Class::Search).then_some(rolling.remaining),
        account: portal,
    })
}

/// HubSpot's OAuth error body (`{"status":"BAD_AUTH_CODE","message":...}`), status 400.
fn oauth_error(status: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({
            "status": status,
            "message": message,
            "correlationId": uuid::Uuid::new_v4().to_string(),
        })),
    )
        .into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    redirect_uri: Option<String>,
    code: Option<String>,
    refresh_token: Option<String>,
    code_verifier: Option<String>,
}

fn token_response(issued: &Issued) -> Response {
    Json(json!({
        "token_type": "bearer",
        "access_token": issued.access_token,
        "refresh_token": issued.refresh_token,
        "expires_in": issued.expires_in,
        "token_use": "access_token",
        "hub_id": issued.account.parse::<u64>().unwrap_or_default(),
        "scopes": issued.scopes,
    }))
    .into_response()
}

/// `POST /oauth/v1/token` (form-encoded): authorization_code and refresh_token grants.
async fn token(State(ctx): State<Ctx>, Form(form): Form<TokenForm>) -> Response {
    let app = App::for_provider(SLUG);
    if form.client_id.as_deref() != Some(&app.client_id) {
        return oauth_error("BAD_CLIENT_ID", "missing or invalid client id");
    }
    if form.client_secret.as_deref() != Some(&app.client_secret) {
        return oauth_error("BAD_CLIENT_SECRET", "missing or invalid client secret");
    }
    let now = ctx.state.clock.now();
    let mut tokens = ctx.state.tokens.lock().expect("tokens lock");
    let result = match form.grant_type.as_deref() {
        Some("authorization_code") => tokens.exchange(
            SLUG,
            &CodeExchange {
                code: form.code.as_deref().unwrap_or_default(),
                client_id: &app.client_id,
                redirect_uri: form.redirect_uri.as_deref(),
                verifier: form.code_verifier.as_deref(),
            },
            POLICY,
            now,
        ),
        Some("refresh_token") => tokens.refresh(
            SLUG,
            form.refresh_token.as_deref().unwrap_or_default(),
            POLICY,
            now,
        ),
        _ => return oauth_error("BAD_GRANT_TYPE", "missing or unknown grant type"),
    };
    match result {
        Ok(issued) => token_response(&issued),
        Err(GrantError::RedirectMismatch) => {
            oauth_error("BAD_REDIRECT_URI", "redirect_uri does not match")
        }
        Err(GrantError::UnknownRefresh | GrantError::Revoked) => {
            oauth_error("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
        }
        Err(GrantError::UnknownCode | GrantError::PkceMismatch) => {
            oauth_error("BAD_AUTH_CODE", "missing or unknown auth code")
        }
    }
}

/// `DELETE /oauth/v1/refresh-tokens/{token}`: revokes the refresh token; 204.
async fn revoke_refresh(State(ctx): State<Ctx>, Path(token): Path<String>) -> Response {
    let now = ctx.state.clock.now();
    if ctx
        .state
        .tokens
        .lock()
        .expect("tokens lock")
        .revoke_token(SLUG, &token, now)
    {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error::not_found().into_response()
    }
}

/// `GET /oauth/v1/access-tokens/{token}`: the token's metadata.
async fn token_info(State(ctx): State<Ctx>, Path(token): Path<String>) -> Response {
    let now = ctx.state.clock.now();
    match ctx
        .state
        .tokens
        .lock()
        .expect("tokens lock")
        .check(SLUG, Some(&token), now)
    {
        Ok(grant) => Json(json!({
            "token": token,
            "user": "sandbox-user@nexus.local",
            "hub_id": grant.account.parse::<u64>().unwrap_or_default(),
            "app_id": 1,
            "expires_in": (grant.expires_at - now).num_seconds(),
            "user_id": 1,
            "token_type": "access",
            "scopes": grant.scopes,
            "hub_domain": "sandbox.nexus.local",
        }))
        .into_response(),
        Err(_) => oauth_error("BAD_ACCESS_TOKEN", "missing or unknown access token"),
    }
}

/// Tokens for a portal without consent (`POST /_sandbox/tokens`).
pub fn mint(state: &SandboxState, portal: &str) -> Issued {
    let now = state.clock.now();
    let scopes = [
        "crm.objects.contacts.read",
        "crm.objects.contacts.write",
        "crm.objects.companies.read",
        "crm.objects.companies.write",
        "crm.objects.deals.read",
        "crm.objects.deals.write",
    ]
    .map(str::to_owned)
    .to_vec();
    state
        .tokens
        .lock()
        .expect("tokens lock")
        .mint(SLUG, portal, scopes, POLICY, now)
}

/// Signs a webhook delivery as HubSpot does: v3 (Base64 HMAC-SHA256 of method + URI + body +
/// timestamp, keyed with the app's client secret) and v2 (hex SHA-256 of secret + method + URI + body).
pub fn signature_headers(
    secret: &str,
    url: &str,
    body: &str,
    timestamp_ms: i64,
) -> Vec<(&'static str, String)> {
    let mut mac =
        hmac::Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("POST{url}{body}{timestamp_ms}").as_bytes());
    let v3 = STANDARD.encode(mac.finalize().into_bytes());
    let v2 = hex::encode(Sha256::digest(
        format!("{secret}POST{url}{body}").as_bytes(),
    ));
    vec![
        ("x-hubspot-signature-v3", v3),
        ("x-hubspot-request-timestamp", timestamp_ms.to_string()),
        ("x-hubspot-signature", v2),
        ("x-hubspot-signature-version", "v2".to_owned()),
    ]
}

/// Sends change events to the registered webhook target, signed with the app's client secret.
pub fn emit(state: &Arc<SandboxState>, events: Vec<Value>) {
    let Some(target) = state.webhook(SLUG) else {
        return;
    };
    if events.is_empty() {
        return;
    }
    let body = Value::Array(events).to_string();
    // Signatures keep real time, whatever the sandbox clock says.
    let timestamp = chrono::Utc::now().timestamp_millis();
    let headers = signature_headers(
        &App::for_provider(SLUG).client_secret,
        &target.url,
        &body,
        timestamp,
    );
    state.deliver(target.url, headers, body);
}

/// `POST /_sandbox/limits` capacities for HubSpot: `search.results`, the results one search
/// reaches in the default portal (HubSpot's 10,000), lowered so a test can page past it.
pub fn set_capacity(
    state: &SandboxState,
    capacity: &std::collections::HashMap<String, u32>,
) -> Result<(), String> {
    for (name, value) in capacity {
        match name.as_str() {
            "search.results" if *value > 0 => {
                state.hubspot.lock(PORTAL_ID).search_cap = *value as usize;
            }
            _ => return Err(format!("`{SLUG}` has no capacity `{name}` (or it is 0)")),
        }
    }
    Ok(())
}

/// `POST /_sandbox/records` for HubSpot: a change made in HubSpot's UI, webhook and all.
pub fn change_record(
    ctx: &Ctx,
    portal: &str,
    object: &str,
    op: &str,
    id: Option<&str>,
    fields: &Value,
) -> Response {
    let object = match api::object_type(object) {
        Ok(o) => o,
        Err(r) => return r.into_response(),
    };
    let input = json!({ "properties": fields });
    let mut store = ctx.state.hubspot.lock(portal);
    let id = id.and_then(|i| i.parse::<u64>().ok());
    let now = ctx.state.clock.now();
    let (status, id, events) = match (op, id) {
        ("create", _) => match api::create_record(ctx, &mut store, object, &input, "CRM_UI") {
            Ok((id, events)) => (StatusCode::CREATED, id, events),
            Err(r) => return r.into_response(),
        },
        ("update", Some(id)) => {
            match api::update_record(ctx, &mut store, object, id, &input, "CRM_UI") {
                Ok(events) => (StatusCode::OK, id, events),
                Err(r) => return r.into_response(),
            }
        }
        ("delete", Some(id)) if store.archive(object, id, now) => {
            let events = api::events(&mut store, object, id, api::Change::Deleted, "CRM_UI", now);
            drop(store);
            emit(&ctx.state, events);
            return StatusCode::NO_CONTENT.into_response();
        }
        ("delete", Some(_)) => return error::not_found().into_response(),
        ("delete" | "update", None) => {
            return error::validation("update and delete need an id").into_response();
        }
        _ => return error::validation("op must be create, update or delete").into_response(),
    };
    let record = store.get(object, id).map(|r| r.to_json(object, None));
    drop(store);
    emit(&ctx.state, events);
    (status, Json(record.unwrap_or(Value::Null))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_and_v2_signatures_match_hubspots_sdk_vectors() {
        let secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
        let body = r#"{"example_field":"example_value"}"#;
        let headers = signature_headers(
            secret,
            "https://www.example.com/webhook_uri",
            body,
            1_700_000_000_000,
        );
        assert_eq!(headers[0].1, "rQEKkaNUiu+1qGF//O/pw4BCzstSqO1PyUnGICmf+7o=");
        assert_eq!(
            headers[2].1,
            "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900"
        );
    }
}
