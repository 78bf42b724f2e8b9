//! The Microsoft identity platform's v2.0 endpoints: `GET|POST /{tenant}/oauth2/v2.0/authorize`
//! (the shared consent page, for whichever of the two apps asks) and `POST .../token`.
//!
//! `{tenant}` is `common`, `organizations`, `consumers`, the sandbox tenant's GUID
//! ([`TENANT_ID`]) or its domain; any other is `AADSTS90002`.
//!
//! Token answers follow the docs: `token_type: Bearer`, `scope` (the granted scopes, space
//! separated, as requested: short names or full `https://graph.microsoft.com/...` URIs; the
//! OpenID scopes `openid profile email` are listed, `offline_access` is not), `expires_in` and
//! `ext_expires_in` (a random 3,600–4,999 s, as real tokens live 60–90 minutes),
//! `access_token`, a `refresh_token` only when `offline_access` was granted (it rotates on every
//! refresh: the old one stops working), and an `id_token` when `openid` was granted.
//!
//! The id token is a JWT signed **HS256 with the sandbox key [`ID_TOKEN_KEY`]** (real ones are
//! RS256 with keys from the tenant's JWKS; the sandbox publishes none): `aud` (the client id),
//! `iss` (`https://login.microsoftonline.com/{tid}/v2.0`), `iat`, `nbf`, `exp`, `tid`, `oid`,
//! `sub`, `preferred_username` (the userPrincipalName), `name`, `ver: "2.0"`, and `email` when
//! the `email` scope was granted.
//!
//! Errors are the platform's 400 (401 for `invalid_client`):
//! `{"error","error_description":"AADSTS…: …","error_codes":[…],"timestamp","trace_id","correlation_id","error_uri"}`.

use std::collections::HashMap;

use axum::{
    Form, Json,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::Duration;
use rand::Rng;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    Ctx, OUTLOOK, SandboxState, TEAMS,
    directory::{self, TENANT_DOMAIN, TENANT_ID},
    short_scope,
};
use crate::{
    oauth,
    tokens::{App, CodeExchange, GrantError, Issued, Policy},
};

/// The HS256 key id tokens are signed with (documented, so tests and clients can verify them).
pub const ID_TOKEN_KEY: &str = "nexus-sandbox-microsoft-id-token-key";

fn policy() -> Policy {
    Policy {
        prefix: "EwA",
        access_lifetime: Duration::seconds(rand::rng().random_range(3600..5000)),
        rotates_refresh: true,
        issues_refresh: true,
    }
}

/// The platform's error answer.
fn aad_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    let trace_id = Uuid::new_v4().to_string();
    let correlation_id = Uuid::new_v4().to_string();
    let now = chrono::Utc::now();
    (
        status,
        Json(json!({
            "error": error,
            "error_description": format!(
                "AADSTS{code}: {description} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {}",
                now.format("%Y-%m-%d %H:%M:%SZ")
            ),
            "error_codes": [code],
            "timestamp": now.format("%Y-%m-%d %H:%M:%SZ").to_string(),
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        })),
    )
        .into_response()
}

fn known_tenant(tenant: &str) -> bool {
    matches!(
        tenant,
        "common" | "organizations" | "consumers" | TENANT_ID | TENANT_DOMAIN
    )
}

fn unknown_tenant(tenant: &str) -> Response {
    aad_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        90002,
        &format!(
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
        ),
    )
}

/// The connection whose app a client id is.
fn connection(client_id: Option<&str>) -> Option<&'static str> {
    [OUTLOOK, TEAMS]
        .into_iter()
        .find(|c| client_id == Some(App::for_provider(c).client_id.as_str()))
}

/// `GET /{tenant}/oauth2/v2.0/authorize`: the consent page of the app that asks.
pub async fn authorize_page(
    State(ctx): State<Ctx>,
    Path(tenant): Path<String>,
    query: Query<HashMap<String, String>>,
) -> Response {
    if !known_tenant(&tenant) {
        return unknown_tenant(&tenant);
    }
    let app = connection(query.get("client_id").map(String::as_str)).unwrap_or(OUTLOOK);
    oauth::page(State(super::ctx(&ctx.state, app)), query).await
}

/// The consent form's POST: a code back to the redirect URI.
pub async fn authorize_decide(
    State(ctx): State<Ctx>,
    Path(tenant): Path<String>,
    form: Form<HashMap<String, String>>,
) -> Response {
    if !known_tenant(&tenant) {
        return unknown_tenant(&tenant);
    }
    let app = connection(form.get("client_id").map(String::as_str)).unwrap_or(OUTLOOK);
    oauth::decide(State(super::ctx(&ctx.state, app)), form).await
}

/// The client's credentials: form fields, or HTTP Basic as RFC 6749 allows.
fn client_credentials(
    form: &HashMap<String, String>,
    headers: &HeaderMap,
) -> (Option<String>, Option<String>) {
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(id, secret)| (id.to_owned(), secret.to_owned()))
        });
    match basic {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (
            form.get("client_id").cloned(),
            form.get("client_secret").cloned(),
        ),
    }
}

/// `POST /{tenant}/oauth2/v2.0/token` (form-encoded): `authorization_code` and `refresh_token`.
pub async fn token(
    State(ctx): State<Ctx>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !known_tenant(&tenant) {
        return unknown_tenant(&tenant);
    }
    let (client_id, secret) = client_credentials(&form, &headers);
    let Some(app) = connection(client_id.as_deref()) else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{}' was not found in the directory '{TENANT_DOMAIN}'.",
                client_id.unwrap_or_default()
            ),
        );
    };
    let registered = App::for_provider(app);
    if secret.as_deref() != Some(registered.client_secret.as_str()) {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.",
        );
    }
    let now = ctx.state.clock.now();
    let result = {
        let mut tokens = ctx.state.tokens.lock().expect("tokens lock");
        match form.get("grant_type").map(String::as_str) {
            Some("authorization_code") => {
                let Some(code) = form.get("code") else {
                    return aad_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        900144,
                        "The request body must contain the following parameter: 'code'.",
                    );
                };
                // Whether a refresh token comes depends on the consented scopes, known only
                // once the code is spent: `token_body` withholds it without offline_access.
                tokens.exchange(
                    app,
                    &CodeExchange {
                        code,
                        client_id: &registered.client_id,
                        redirect_uri: form.get("redirect_uri").map(String::as_str),
                        verifier: form.get("code_verifier").map(String::as_str),
                    },
                    policy(),
                    now,
                )
            }
            Some("refresh_token") => tokens.refresh(
                app,
                form.get("refresh_token")
                    .map(String::as_str)
                    .unwrap_or_default(),
                policy(),
                now,
            ),
            Some(other) => {
                return aad_error(
                    StatusCode::BAD_REQUEST,
                    "unsupported_grant_type",
                    70003,
                    &format!("The app requested an unsupported grant type '{other}'."),
                );
            }
            None => {
                return aad_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    900144,
                    "The request body must contain the following parameter: 'grant_type'.",
                );
            }
        }
    };
    match result {
        Ok(issued) => Json(token_body(&ctx.state, app, issued)).into_response(),
        Err(e) => {
            let (code, description) = match e {
                GrantError::UnknownCode => (
                    70008,
                    "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
                ),
                GrantError::RedirectMismatch => (
                    50148,
                    "The code_verifier or redirect_uri does not match the authorization request.",
                ),
                GrantError::PkceMismatch => (
                    501481,
                    "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
                ),
                GrantError::UnknownRefresh => {
                    (9002313, "Invalid request. Request is malformed or invalid.")
                }
                GrantError::Revoked => (
                    50173,
                    "The provided grant has expired due to it being revoked, a fresh auth token is needed.",
                ),
            };
            aad_error(StatusCode::BAD_REQUEST, "invalid_grant", code, description)
        }
    }
}

fn has_scope(scopes: &[String], wanted: &str) -> bool {
    scopes
        .iter()
        .any(|s| short_scope(s).eq_ignore_ascii_case(wanted))
}

/// The token answer; drops the refresh token when `offline_access` was not granted.
fn token_body(state: &SandboxState, app: &str, mut issued: Issued) -> Value {
    if !has_scope(&issued.scopes, "offline_access") {
        // Issued along, but never handed out: nobody can present it.
        issued.refresh_token = None;
    }
    let mut body = json!({
        "token_type": "Bearer",
        "scope": issued
            .scopes
            .iter()
            .filter(|s| !s.eq_ignore_ascii_case("offline_access"))
            .cloned()
            .collect::<Vec<_>>()
            .join(" "),
        "expires_in": issued.expires_in,
        "ext_expires_in": issued.expires_in,
        "access_token": issued.access_token,
    });
    if let Some(refresh) = &issued.refresh_token {
        body["refresh_token"] = json!(refresh);
    }
    if has_scope(&issued.scopes, "openid") {
        body["id_token"] = json!(id_token(state, app, &issued));
    }
    body
}

/// The OpenID Connect id token of the signed-in user.
fn id_token(state: &SandboxState, app: &str, issued: &Issued) -> String {
    let user = directory::by_alias(&issued.account);
    let now = state.clock.now().timestamp();
    let mut claims = json!({
        "aud": App::for_provider(app).client_id,
        "iss": format!("https://login.microsoftonline.com/{TENANT_ID}/v2.0"),
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "name": user.display_name,
        "oid": user.id,
        "preferred_username": user.mail,
        "sub": directory::object_id(&format!("{app}:{}", user.id)),
        "tid": TENANT_ID,
        "ver": "2.0",
    });
    if has_scope(&issued.scopes, "email") {
        claims["email"] = json!(user.mail);
    }
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("nexus-sandbox".into());
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(ID_TOKEN_KEY.as_bytes()),
    )
    .unwrap_or_default()
}

/// The scopes each connection's sandbox app is consented to (`POST /_sandbox/tokens`).
fn default_scopes(connection: &str) -> &'static [&'static str] {
    match connection {
        TEAMS => &[
            "openid",
            "profile",
            "email",
            "offline_access",
            "User.Read",
            "User.ReadBasic.All",
            "Team.ReadBasic.All",
            "Channel.ReadBasic.All",
            "TeamMember.Read.All",
            "ChannelMessage.Read.All",
            "ChannelMessage.Send",
            "Chat.ReadWrite",
        ],
        _ => &[
            "openid",
            "profile",
            "email",
            "offline_access",
            "User.Read",
            "User.ReadBasic.All",
            "Mail.ReadWrite",
            "Mail.Send",
            "Calendars.ReadWrite",
        ],
    }
}

/// Tokens without consent (`POST /_sandbox/tokens`): `outlook` and `teams` get their app's
/// scopes; `microsoft` gets both sets, issued to the Outlook app. Answered as the token
/// endpoint answers (id token included), for the user `alias` (default: [`directory::DEFAULT_USER`]).
pub fn mint(state: &SandboxState, slug: &str, alias: Option<&str>) -> Value {
    let alias = alias.unwrap_or(directory::DEFAULT_USER);
    let app = if slug == TEAMS { TEAMS } else { OUTLOOK };
    let mut scopes: Vec<String> = Vec::new();
    for connection in super::connections(slug) {
        for s in default_scopes(connection) {
            if !scopes.iter().any(|x| x == s) {
                scopes.push((*s).to_owned());
            }
        }
    }
    let issued = state.tokens.lock().expect("tokens lock").mint(
        app,
        alias,
        scopes,
        policy(),
        state.clock.now(),
    );
    token_body(state, app, issued)
}
