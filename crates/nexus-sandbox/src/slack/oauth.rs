//! OAuth v2 as Slack runs it: the consent page at `/oauth/v2/authorize` (bot scopes in `scope`,
//! user scopes in `user_scope`, both comma-separated), `oauth.v2.access` for both grants (client
//! credentials in the body or as HTTP Basic; `grant_type` defaults to `authorization_code`), and
//! `auth.test` / `auth.revoke`. Token rotation is on: every token expires after 12 hours and
//! every refresh replaces the refresh token, the used one being refused from then on
//! (`invalid_refresh_token`). Failures are `{"ok":false,"error":...}` with HTTP 200.

use std::collections::HashMap;

use axum::{
    Form,
    extract::State,
    http::{HeaderMap, header},
    response::Response,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

use super::{
    BOT_POLICY, Call, Ctx, SLUG, USER_POLICY, admit,
    error::{self, Failure},
    external_refresh, installer, internal_refresh,
    store::{APP_ID, BOT_ID, BOT_NAME, BOT_USER_ID, TEAM_DOMAIN, TEAM_NAME},
};
use crate::{
    oauth as consent,
    tokens::{App, CodeExchange, GrantError, Issued},
};

pub use consent::page;

/// The consent form's POST: the shared consent flow, plus the `user_scope` the code carries.
pub async fn decide(
    State(ctx): State<Ctx>,
    Form(params): Form<HashMap<String, String>>,
) -> Response {
    let user_scope: Vec<String> = params
        .get("user_scope")
        .map(|s| {
            s.split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let response = consent::decide(State(ctx.clone()), Form(params)).await;
    let code = response
        .headers()
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| url::Url::parse(l).ok())
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned())
        });
    if let (Some(code), false) = (code, user_scope.is_empty()) {
        ctx.state.slack.book().user_scopes.insert(code, user_scope);
    }
    response
}

/// The client credentials: HTTP Basic first (Slack's advice), else the arguments.
fn client(headers: &HeaderMap, call: &Call) -> (Option<String>, Option<String>) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(id, secret)| (id.to_owned(), secret.to_owned()))
        });
    match basic {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (call.given("client_id"), call.given("client_secret")),
    }
}

fn team_json(team: &str) -> Value {
    let name = if team == super::TEAM_ID {
        TEAM_NAME.to_owned()
    } else {
        format!("{TEAM_NAME} {team}")
    };
    json!({ "id": team, "name": name })
}

/// `oauth.v2.access`'s success: the bot token at the top, the installing user in `authed_user`.
fn access_answer(call: &Call, bot: &Issued, user: Option<&Issued>) -> Response {
    let mut authed_user = json!({ "id": installer() });
    if let Some(user) = user {
        authed_user["scope"] = json!(user.scopes.join(","));
        authed_user["access_token"] = json!(user.access_token);
        authed_user["token_type"] = json!("user");
        authed_user["refresh_token"] = json!(user.refresh_token.as_deref().map(external_refresh));
        authed_user["expires_in"] = json!(user.expires_in);
    }
    error::ok(
        call,
        json!({
            "app_id": APP_ID,
            "authed_user": authed_user,
            "scope": bot.scopes.join(","),
            "token_type": "bot",
            "access_token": bot.access_token,
            "bot_user_id": BOT_USER_ID,
            "refresh_token": bot.refresh_token.as_deref().map(external_refresh),
            "expires_in": bot.expires_in,
            "team": team_json(&bot.account),
            "enterprise": null,
            "is_enterprise_install": false,
        }),
    )
}

/// A refreshed user token: the same shape, `token_type` "user", the user's id.
fn user_refresh_answer(call: &Call, user: &Issued) -> Response {
    error::ok(
        call,
        json!({
            "app_id": APP_ID,
            "authed_user": { "id": installer() },
            "scope": user.scopes.join(","),
            "token_type": "user",
            "access_token": user.access_token,
            "refresh_token": user.refresh_token.as_deref().map(external_refresh),
            "expires_in": user.expires_in,
            "team": team_json(&user.account),
            "enterprise": null,
            "is_enterprise_install": false,
        }),
    )
}

/// `oauth.v2.access`: `authorization_code` (the default) and `refresh_token` grants.
pub async fn access(State(ctx): State<Ctx>, headers: HeaderMap, call: Call) -> Response {
    let app = App::for_provider(SLUG);
    let (client_id, client_secret) = client(&headers, &call);
    if client_id.as_deref() != Some(&app.client_id) {
        return Failure::plain("invalid_client_id").answer(&call);
    }
    if client_secret.as_deref() != Some(&app.client_secret) {
        return Failure::plain("bad_client_secret").answer(&call);
    }
    let now = ctx.state.clock.now();
    match call.given("grant_type").as_deref() {
        None | Some("authorization_code") => {
            let Some(code) = call.given("code") else {
                return Failure::plain("invalid_code").answer(&call);
            };
            let redirect_uri = call.given("redirect_uri");
            let verifier = call.given("code_verifier");
            let user_scopes = ctx.state.slack.book().user_scopes.remove(&code);
            let mut tokens = ctx.state.tokens.lock().expect("tokens lock");
            let bot = match tokens.exchange(
                SLUG,
                &CodeExchange {
                    code: &code,
                    client_id: &app.client_id,
                    redirect_uri: redirect_uri.as_deref(),
                    verifier: verifier.as_deref(),
                },
                BOT_POLICY,
                now,
            ) {
                Ok(issued) => issued,
                Err(GrantError::RedirectMismatch) => {
                    return Failure::plain("bad_redirect_uri").answer(&call);
                }
                Err(_) => return Failure::plain("invalid_code").answer(&call),
            };
            let user =
                user_scopes.map(|scopes| tokens.mint(SLUG, &bot.account, scopes, USER_POLICY, now));
            drop(tokens);
            ctx.state.slack_issued(&bot);
            if let Some(user) = &user {
                ctx.state.slack_issued(user);
            }
            access_answer(&call, &bot, user.as_ref())
        }
        Some("refresh_token") => {
            let Some(candidates) = call
                .given("refresh_token")
                .as_deref()
                .and_then(internal_refresh)
            else {
                return Failure::plain("invalid_refresh_token").answer(&call);
            };
            let mut tokens = ctx.state.tokens.lock().expect("tokens lock");
            let refreshed = candidates.iter().find_map(|(internal, policy)| {
                tokens
                    .refresh(SLUG, internal, *policy, now)
                    .ok()
                    .map(|issued| (issued, policy.prefix == USER_POLICY.prefix))
            });
            drop(tokens);
            match refreshed {
                Some((issued, is_user)) => {
                    ctx.state.slack_issued(&issued);
                    if is_user {
                        user_refresh_answer(&call, &issued)
                    } else {
                        access_answer(&call, &issued, None)
                    }
                }
                None => Failure::plain("invalid_refresh_token").answer(&call),
            }
        }
        Some(_) => Failure::plain("invalid_grant_type").answer(&call),
    }
}

/// `auth.test`: who the token is, in which workspace.
pub async fn test(State(ctx): State<Ctx>, call: Call) -> Response {
    error::respond(&call, test_outcome(&ctx, &call))
}

fn test_outcome(ctx: &Ctx, call: &Call) -> Result<Value, Failure> {
    let caller = admit(ctx, call, "auth.test", &[], None)?;
    let workspace = ctx.state.slack.workspaces.lock(&caller.team);
    let team = team_json(&caller.team);
    let mut answer = json!({
        "url": format!("https://{TEAM_DOMAIN}.slack.com/"),
        "team": team["name"],
        "team_id": caller.team,
        "is_enterprise_install": false,
    });
    match &caller.user {
        Some(user) => {
            answer["user"] = json!(workspace.user(user).map(|u| u.name.clone()));
            answer["user_id"] = json!(user);
        }
        None => {
            answer["user"] = json!(BOT_NAME);
            answer["user_id"] = json!(BOT_USER_ID);
            answer["bot_id"] = json!(BOT_ID);
        }
    }
    Ok(answer)
}

/// `auth.revoke`: revokes the calling token (`test=true` only checks); later calls with it get
/// `token_revoked`.
pub async fn revoke(State(ctx): State<Ctx>, call: Call) -> Response {
    error::respond(&call, revoke_outcome(&ctx, &call))
}

fn revoke_outcome(ctx: &Ctx, call: &Call) -> Result<Value, Failure> {
    admit(ctx, call, "auth.revoke", &[], None)?;
    let testing = call.flag("test", false)?;
    if !testing && let Some(token) = &call.token {
        let now = ctx.state.clock.now();
        ctx.state
            .tokens
            .lock()
            .expect("tokens lock")
            .revoke_token(SLUG, token, now);
        ctx.state.slack.book().revoked.insert(token.clone());
    }
    Ok(json!({ "revoked": !testing }))
}
