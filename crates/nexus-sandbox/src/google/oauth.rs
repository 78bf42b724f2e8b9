//! Google's OAuth 2.0 server, shared by both APIs: the consent page (`/o/oauth2/v2/auth`,
//! an email address as the account), the token endpoint (`/token`: authorization_code with PKCE
//! and refresh_token grants, answered as `{access_token, expires_in, refresh_token?, scope,
//! token_type}` — a refresh token only for `access_type=offline`), revocation (`/revoke`),
//! `/oauth2/v3/tokeninfo`, and the public key the sandbox signs Pub/Sub push tokens with
//! (`/oauth2/v3/certs` as JWKS, `/oauth2/v1/certs` as a PEM certificate).
//!
//! The signing key is a fixed RSA key embedded in the source (`signing-key.pem`): this is a
//! sandbox, and anyone may read it. Never trust it outside the sandbox.

use std::{collections::HashMap, sync::LazyLock};

use axum::{
    Form, Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use jsonwebtoken::{Algorithm, EncodingKey, jwk::Jwk};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{CALENDAR, DEFAULT_USER, GMAIL, POLICY, SLUG};
use crate::{
    Ctx, SandboxState,
    tokens::{App, CodeExchange, GrantError, Issued},
};

pub fn routes() -> Router<Ctx> {
    Router::new()
        .route("/google/o/oauth2/v2/auth", get(page).post(decide))
        .route("/google/token", post(token))
        .route("/google/revoke", post(revoke))
        .route("/google/oauth2/v3/certs", get(certs))
        .route("/google/oauth2/v1/certs", get(pem_certs))
        .route(
            "/google/oauth2/v3/tokeninfo",
            get(tokeninfo).post(tokeninfo),
        )
}

/// `GET|POST /oauth2/v3/tokeninfo?access_token=`: what an access token grants, or 400
/// `invalid_token` once it is expired, revoked or unknown. `email` only with an email scope.
async fn tokeninfo(
    State(ctx): State<Ctx>,
    Query(query): Query<HashMap<String, String>>,
    body: String,
) -> Response {
    let token = query.get("access_token").cloned().or_else(|| {
        url::form_urlencoded::parse(body.as_bytes())
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.into_owned())
    });
    let now = ctx.state.clock.now();
    let found = {
        let tokens = ctx.state.tokens.lock().expect("tokens lock");
        [GMAIL, CALENDAR].into_iter().find_map(|tag| {
            tokens
                .check(tag, token.as_deref(), now)
                .ok()
                .map(|grant| (tag, grant))
        })
    };
    let Some((tag, grant)) = found else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_token", "Invalid Value");
    };
    let client = App::for_provider(tag).client_id;
    let subject = format!(
        "1{:020}",
        super::mix(super::seed_of(&grant.account)) % 10u64.pow(19)
    );
    let mut body = json!({
        "azp": client,
        "aud": client,
        "sub": subject,
        "scope": grant.scopes.join(" "),
        "exp": grant.expires_at.timestamp().to_string(),
        "expires_in": (grant.expires_at - now).num_seconds().to_string(),
        "access_type": "offline",
    });
    if grant
        .scopes
        .iter()
        .any(|s| s == "email" || s.ends_with("/userinfo.email"))
    {
        body["email"] = json!(grant.account);
        body["email_verified"] = json!("true");
    }
    Json(body).into_response()
}

/// The sandbox's Pub/Sub signing key and its public half as a JWK (with `kid`, `alg`, `use`).
pub struct SigningKey {
    pub key: EncodingKey,
    pub jwk: Value,
    pub kid: String,
}

pub static SIGNING_KEY: LazyLock<SigningKey> = LazyLock::new(|| {
    let key = EncodingKey::from_rsa_pem(include_bytes!("signing-key.pem"))
        .expect("the embedded key is a valid RSA PEM");
    let jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).expect("an RSA key has a JWK");
    let mut jwk = serde_json::to_value(jwk).expect("a JWK serializes");
    let kid = hex::encode(&Sha256::digest(jwk["n"].as_str().unwrap_or_default().as_bytes())[..20]);
    jwk["kid"] = json!(kid);
    jwk["use"] = json!("sig");
    SigningKey { key, jwk, kid }
});

/// `GET /oauth2/v3/certs`: the JWKS that verifies the sandbox's push tokens.
async fn certs() -> Response {
    (
        [(
            "cache-control",
            "public, max-age=19204, must-revalidate, no-transform",
        )],
        Json(json!({ "keys": [SIGNING_KEY.jwk.clone()] })),
    )
        .into_response()
}

/// `GET /oauth2/v1/certs`: the same key as an X.509 certificate, `{kid: PEM}` (a self-signed
/// certificate of the embedded key, valid until 2046).
async fn pem_certs() -> Response {
    let mut keys = serde_json::Map::new();
    keys.insert(
        SIGNING_KEY.kid.clone(),
        json!(include_str!("signing-cert.pem")),
    );
    (
        [(
            "cache-control",
            "public, max-age=19204, must-revalidate, no-transform",
        )],
        Json(Value::Object(keys)),
    )
        .into_response()
}

/// Which client (and so which connection's tokens) a client id names.
fn client_tag(client_id: &str) -> Option<&'static str> {
    [GMAIL, CALENDAR]
        .into_iter()
        .find(|slug| App::for_provider(slug).client_id == client_id)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Google's error page for a bad authorization request ("Error 400: invalid_request").
fn error_page(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Html(format!(
            "<!doctype html><title>Error {} ({code})</title><h1>Access blocked: authorization error</h1><p>Error {}: {code}</p><p>{}</p>",
            status.as_u16(),
            status.as_u16(),
            escape(message)
        )),
    )
        .into_response()
}

/// Why an authorization request is refused: the status, error code and message of Google's page.
type Refusal = (StatusCode, &'static str, &'static str);

/// Checks the client and redirect URI of an authorization request.
fn check(params: &HashMap<String, String>) -> Result<(&'static str, url::Url), Refusal> {
    let tag = params.get("client_id").and_then(|c| client_tag(c)).ok_or((
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "The OAuth client was not found.",
    ))?;
    if params.get("response_type").is_some_and(|t| t != "code") {
        return Err((
            StatusCode::BAD_REQUEST,
            "unsupported_response_type",
            "Only response_type=code is supported.",
        ));
    }
    let redirect = params
        .get("redirect_uri")
        .and_then(|u| url::Url::parse(u).ok())
        .ok_or((
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: redirect_uri",
        ))?;
    Ok((tag, redirect))
}

fn scopes_of(params: &HashMap<String, String>) -> Vec<String> {
    params
        .get("scope")
        .map(|s| {
            s.split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /o/oauth2/v2/auth`: the consent page, signed in as `login_hint` or the default user.
async fn page(Query(params): Query<HashMap<String, String>>) -> Response {
    if let Err((status, code, message)) = check(&params) {
        return error_page(status, code, message);
    }
    let hidden: String = params
        .iter()
        .filter(|(k, _)| k.as_str() != "account")
        .map(|(k, v)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                escape(k),
                escape(v)
            )
        })
        .collect();
    let scopes: String = scopes_of(&params)
        .iter()
        .map(|s| format!("<li>{}</li>", escape(s)))
        .collect();
    let account = params
        .get("login_hint")
        .map_or(DEFAULT_USER, String::as_str);
    Html(format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Sign in - Google Accounts (sandbox)</title></head>
<body><h1>Google (sandbox)</h1><p>An app wants access to your Google Account {account}:</p><ul>{scopes}</ul>
<form method="post">{hidden}<label>Choose an account <input name="account" value="{account}"></label>
<button name="decision" value="approve">Allow</button>
<button name="decision" value="deny">Cancel</button></form></body></html>"#,
        account = escape(account),
    ))
    .into_response()
}

/// A plausible email address: the account a consent names.
fn valid_account(account: &str) -> bool {
    account.len() <= 254
        && account
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !account
            .chars()
            .any(|c| c.is_whitespace() || c == '<' || c == '>')
}

/// The consent form's POST: back to the redirect URI with a code (or `error=access_denied`).
async fn decide(State(ctx): State<Ctx>, Form(params): Form<HashMap<String, String>>) -> Response {
    let (tag, mut target) = match check(&params) {
        Ok(checked) => checked,
        Err((status, code, message)) => return error_page(status, code, message),
    };
    let approved = params.get("decision").map(String::as_str) == Some("approve");
    {
        let mut query = target.query_pairs_mut();
        if approved {
            let challenge = match params.get("code_challenge_method").map(String::as_str) {
                None | Some("S256") => params.get("code_challenge").cloned(),
                Some(_) => {
                    return error_page(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "Invalid code_challenge_method: only S256 is supported.",
                    );
                }
            };
            let account = params
                .get("account")
                .map(|a| a.trim().to_ascii_lowercase())
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| DEFAULT_USER.to_owned());
            if !valid_account(&account) {
                return error_page(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The account must be an email address.",
                );
            }
            let now = ctx.state.clock.now();
            let code = ctx.state.tokens.lock().expect("tokens lock").create_code(
                tag,
                &account,
                scopes_of(&params),
                &params["client_id"],
                &params["redirect_uri"],
                challenge,
                now,
            );
            if params.get("access_type").map(String::as_str) == Some("offline") {
                ctx.state
                    .google
                    .offline_codes
                    .lock()
                    .expect("codes lock")
                    .insert(code.clone());
            }
            query.append_pair("code", &code);
            query.append_pair("scope", &scopes_of(&params).join(" "));
        } else {
            query.append_pair("error", "access_denied");
        }
        if let Some(state) = params.get("state") {
            query.append_pair("state", state);
        }
    }
    Redirect::to(target.as_str()).into_response()
}

/// The token endpoint's error body: `{"error","error_description"}`.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// Client credentials from the form or from HTTP Basic.
fn client_credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> (Option<String>, Option<String>) {
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':').map(|(id, secret)| {
                let decode = |s: &str| {
                    url::form_urlencoded::parse(format!("x={s}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                (decode(id), decode(secret))
            })
        });
    match basic {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (
            form.get("client_id").cloned(),
            form.get("client_secret").cloned(),
        ),
    }
}

fn token_response(issued: &Issued) -> Response {
    let mut body = json!({
        "access_token": issued.access_token,
        "expires_in": issued.expires_in,
        "scope": issued.scopes.join(" "),
        "token_type": "Bearer",
    });
    if let Some(refresh) = &issued.refresh_token {
        body["refresh_token"] = json!(refresh);
    }
    (
        [(
            "cache-control",
            "no-cache, no-store, max-age=0, must-revalidate",
        )],
        Json(body),
    )
        .into_response()
}

/// `POST /token` (form-encoded).
async fn token(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (client_id, secret) = client_credentials(&headers, &form);
    let Some(tag) = client_id.as_deref().and_then(client_tag) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.",
        );
    };
    let app = App::for_provider(tag);
    if secret.as_deref() != Some(app.client_secret.as_str()) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Unauthorized");
    }
    let now = ctx.state.clock.now();
    let field = |name: &str| form.get(name).map(String::as_str);
    let result = match field("grant_type") {
        Some("authorization_code") => {
            let code = field("code").unwrap_or_default();
            let offline = ctx
                .state
                .google
                .offline_codes
                .lock()
                .expect("codes lock")
                .remove(code);
            let policy = crate::tokens::Policy {
                issues_refresh: offline,
                ..POLICY
            };
            ctx.state.tokens.lock().expect("tokens lock").exchange(
                tag,
                &CodeExchange {
                    code,
                    client_id: &app.client_id,
                    redirect_uri: field("redirect_uri"),
                    verifier: field("code_verifier"),
                },
                policy,
                now,
            )
        }
        // A refresh answer carries no refresh token: the old one stays good.
        Some("refresh_token") => ctx
            .state
            .tokens
            .lock()
            .expect("tokens lock")
            .refresh(tag, field("refresh_token").unwrap_or_default(), POLICY, now)
            .map(|issued| Issued {
                refresh_token: None,
                ..issued
            }),
        Some(other) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("Invalid grant_type: {other}"),
            );
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing required parameter: grant_type",
            );
        }
    };
    match result {
        Ok(issued) => token_response(&issued),
        Err(GrantError::RedirectMismatch) => oauth_error(
            StatusCode::BAD_REQUEST,
            "redirect_uri_mismatch",
            "Bad Request",
        ),
        Err(GrantError::PkceMismatch) => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Invalid code verifier.",
        ),
        Err(GrantError::UnknownRefresh | GrantError::Revoked) => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Token has been expired or revoked.",
        ),
        Err(GrantError::UnknownCode) => {
            oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Bad Request")
        }
    }
}

/// `POST /revoke?token=` (or a `token=` form): revokes a refresh token with its access tokens, or
/// an access token; 200 with an empty body.
async fn revoke(
    State(ctx): State<Ctx>,
    Query(query): Query<HashMap<String, String>>,
    body: String,
) -> Response {
    let token = query.get("token").cloned().or_else(|| {
        url::form_urlencoded::parse(body.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    });
    let now = ctx.state.clock.now();
    let revoked = token.is_some_and(|token| {
        let mut tokens = ctx.state.tokens.lock().expect("tokens lock");
        [GMAIL, CALENDAR]
            .iter()
            .any(|tag| tokens.revoke_token(tag, &token, now))
    });
    if revoked {
        StatusCode::OK.into_response()
    } else {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_token",
            "Token expired or revoked",
        )
    }
}

/// The scopes the admin API's tokens carry, per part.
fn admin_scopes(part: &str) -> Vec<String> {
    let gmail = [
        "https://www.googleapis.com/auth/gmail.send",
        "https://www.googleapis.com/auth/gmail.readonly",
        "https://www.googleapis.com/auth/gmail.modify",
    ];
    let calendar = [
        "https://www.googleapis.com/auth/calendar",
        "https://www.googleapis.com/auth/calendar.events",
    ];
    let scopes: Vec<&str> = match part {
        GMAIL => gmail.to_vec(),
        CALENDAR => calendar.to_vec(),
        _ => gmail.into_iter().chain(calendar).collect(),
    };
    scopes.into_iter().map(str::to_owned).collect()
}

/// Tokens without consent (`POST /_sandbox/tokens`): `gmail` and `google_calendar` get their
/// connection's scopes from its client; `google` gets both APIs' scopes (Gmail's client).
pub fn mint(state: &SandboxState, part: &str, account: Option<&str>) -> Value {
    let account = account.map_or_else(|| DEFAULT_USER.to_owned(), str::to_ascii_lowercase);
    let tag = if part == CALENDAR { CALENDAR } else { GMAIL };
    let now = state.clock.now();
    let issued = state.tokens.lock().expect("tokens lock").mint(
        tag,
        &account,
        admin_scopes(part),
        POLICY,
        now,
    );
    json!({
        "access_token": issued.access_token,
        "refresh_token": issued.refresh_token,
        "expires_in": issued.expires_in,
        "scope": issued.scopes.join(" "),
        "token_type": "Bearer",
        "account": account,
        "provider": if part == SLUG { SLUG } else { tag },
    })
}
