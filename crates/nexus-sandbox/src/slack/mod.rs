//! Slack's Web API and Events API, simulated for one workspace (team `T0SBX0001`, "Nexus
//! Sandbox") under `/slack`: OAuth v2 with token rotation (12-hour `xoxe.xoxb-1-…` bot tokens,
//! `xoxe-1-…` refresh tokens replaced on every refresh), `auth.test` and `auth.revoke`,
//! `chat.postMessage|update|delete`, `reactions.add`,
//! `conversations.list|history|replies|info|members` and `users.info|list|lookupByEmail`, with
//! Slack's `ok:false` errors, per-method tiers answered
//! with 429 `ratelimited`, and Events API deliveries signed with v0 signatures.
//!
//! The app: client `sandbox-slack-client` / `sandbox-slack-secret`, app id `A0SBX0001`, bot user
//! `U0SBXBOT1`, signing secret [`SIGNING_SECRET`] (unless a webhook registration names its own),
//! verification token [`VERIFICATION_TOKEN`]. Token rotation is on for this app.

mod args;
mod edits;
pub mod error;
mod events;

pub use events::signature;
mod limits;
mod methods;
mod oauth;
pub mod store;

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::Duration;
use serde_json::{Value, json};

use super::{
    Ctx, SandboxState,
    accounts::Accounts,
    tokens::{BearerError, Issued, Policy},
};

pub use store::Workspace;

use args::Call;
use error::Failure;

pub const SLUG: &str = "slack";
/// The workspace every consent lands in unless the consent page names another team.
pub const TEAM_ID: &str = "T0SBX0001";
/// The app's signing secret: Events API deliveries are signed with it.
pub const SIGNING_SECRET: &str = "sandbox-slack-signing-secret";
/// The app's (deprecated) verification token, sent as `token` in every event.
pub const VERIFICATION_TOKEN: &str = "sandboxslackverificationtoken";

/// Bot tokens with token rotation: 12 hours, a new refresh token on every refresh.
pub const BOT_POLICY: Policy = Policy {
    prefix: "xoxe.xoxb-1-",
    access_lifetime: Duration::hours(12),
    rotates_refresh: true,
    issues_refresh: true,
};
/// User tokens (`authed_user`), rotated the same way.
pub const USER_POLICY: Policy = Policy {
    prefix: "xoxe.xoxp-1-",
    access_lifetime: Duration::hours(12),
    rotates_refresh: true,
    issues_refresh: true,
};
/// Slack's refresh tokens all start so, whatever token they refresh.
const REFRESH_PREFIX: &str = "xoxe-1-";

/// Every scope a bot token of the sandbox app may hold (what `POST /_sandbox/tokens` grants).
pub const BOT_SCOPES: &[&str] = &[
    "chat:write",
    "chat:write.public",
    "channels:read",
    "channels:history",
    "groups:read",
    "groups:history",
    "users:read",
    "users:read.email",
    "files:write",
    "reactions:write",
];

/// Slack's own state beside the workspaces: user scopes asked for at consent (by code),
/// tokens revoked (Slack tells `token_revoked` from `token_expired`), and every access token
/// issued, so that revoking the app revokes them all.
#[derive(Default)]
struct Book {
    user_scopes: HashMap<String, Vec<String>>,
    issued: HashSet<String>,
    revoked: HashSet<String>,
}

pub struct Slack {
    workspaces: Accounts<Workspace>,
    book: Mutex<Book>,
}

impl Default for Slack {
    fn default() -> Self {
        Self {
            workspaces: Accounts::new(Workspace::seeded),
            book: Mutex::default(),
        }
    }
}

impl Slack {
    pub fn clear(&self) {
        self.workspaces.clear();
        *self.book.lock().expect("slack lock") = Book::default();
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().expect("slack lock")
    }
}

pub fn routes() -> Router<Ctx> {
    let router = Router::new()
        .route("/oauth/v2/authorize", get(oauth::page).post(oauth::decide))
        .route(
            "/api/oauth.v2.access",
            get(oauth::access).post(oauth::access),
        )
        .route("/api/auth.test", get(oauth::test).post(oauth::test))
        .route("/api/auth.revoke", get(oauth::revoke).post(oauth::revoke));
    edits::routes(methods::routes(router)).route("/api/{method}", get(unknown).post(unknown))
}

/// A method the sandbox does not know: Slack's `unknown_method`.
async fn unknown(axum::extract::Path(method): axum::extract::Path<String>) -> Response {
    Json(json!({ "ok": false, "error": "unknown_method", "req_method": method })).into_response()
}

/// Who a call is made as.
pub struct Caller {
    pub team: String,
    pub scopes: Vec<String>,
    /// The user a user token acts for; `None` for the bot.
    pub user: Option<String>,
}

impl Caller {
    pub fn actor(&self) -> &str {
        self.user.as_deref().unwrap_or(store::BOT_USER_ID)
    }

    pub fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// The user a user token acts for: the installing member, the workspace's primary owner.
pub fn installer() -> &'static str {
    "U0SBX0000"
}

/// Checks the token only (auth.test and auth.revoke need no scope).
fn authenticate(ctx: &Ctx, call: &Call) -> Result<Caller, Failure> {
    let now = ctx.state.clock.now();
    let token = call.token.as_deref();
    if token.is_some_and(|t| ctx.state.slack.book().revoked.contains(t)) {
        return Err(Failure::plain("token_revoked"));
    }
    let grant = ctx
        .state
        .tokens
        .lock()
        .expect("tokens lock")
        .check(SLUG, token, now)
        .map_err(|e| {
            Failure::plain(match e {
                BearerError::Missing => "not_authed",
                BearerError::Unknown => "invalid_auth",
                BearerError::Expired => "token_expired",
            })
        })?;
    let user = token
        .filter(|t| t.starts_with(USER_POLICY.prefix))
        .map(|_| installer().to_owned());
    Ok(Caller {
        team: grant.account,
        scopes: grant.scopes,
        user,
    })
}

/// Authenticates a Web API call, checks that the token has one of `scopes` (the first is the
/// one `missing_scope` names), and counts it against the method's tier.
pub fn admit(
    ctx: &Ctx,
    call: &Call,
    method: &'static str,
    scopes: &[&str],
    channel: Option<&str>,
) -> Result<Caller, Failure> {
    let caller = authenticate(ctx, call)?;
    if !scopes.is_empty() && !scopes.iter().any(|s| caller.has(s)) {
        return Err(Failure::missing_scope(scopes[0], &caller.scopes));
    }
    if ctx.state.limits_enforced(SLUG) {
        let now = ctx.state.clock.now();
        let mut workspace = ctx.state.slack.workspaces.lock(&caller.team);
        // A channel named by name and by id is one channel to the per-channel limit.
        let channel = channel.map(|c| {
            workspace
                .channel(c)
                .map_or_else(|| c.to_owned(), |found| found.id.clone())
        });
        limits::hit(&mut workspace, method, channel.as_deref(), now)
            .map_err(Failure::ratelimited)?;
    }
    Ok(caller)
}

/// A refresh token as Slack shows it (`xoxe-1-…`), from the sandbox's grant store's own.
fn external_refresh(internal: &str) -> String {
    let suffix = [BOT_POLICY.prefix, USER_POLICY.prefix]
        .iter()
        .find_map(|p| internal.strip_prefix(&format!("{p}r-")))
        .unwrap_or(internal);
    format!("{REFRESH_PREFIX}{suffix}")
}

/// The grant store's candidates for a Slack refresh token (a bot's, then a user's).
fn internal_refresh(external: &str) -> Option<[(String, Policy); 2]> {
    let suffix = external.strip_prefix(REFRESH_PREFIX)?;
    Some([BOT_POLICY, USER_POLICY].map(|p| (format!("{}r-{suffix}", p.prefix), p)))
}

impl SandboxState {
    /// Notes an access token the Slack app handed out (app-wide revocation reaches it).
    fn slack_issued(&self, issued: &Issued) {
        self.slack.book().issued.insert(issued.access_token.clone());
    }
}

/// Tokens for a workspace without consent (`POST /_sandbox/tokens`): a bot token with every
/// scope of [`BOT_SCOPES`], in the admin API's shape plus the team and the signing secret.
pub fn mint(state: &SandboxState, team: &str) -> Value {
    let now = state.clock.now();
    let scopes = BOT_SCOPES.iter().map(|s| s.to_string()).collect();
    let issued = state
        .tokens
        .lock()
        .expect("tokens lock")
        .mint(SLUG, team, scopes, BOT_POLICY, now);
    state.slack_issued(&issued);
    json!({
        "access_token": issued.access_token,
        "refresh_token": issued.refresh_token.as_deref().map(external_refresh),
        "expires_in": issued.expires_in,
        "team_id": team,
        "bot_user_id": store::BOT_USER_ID,
        "signing_secret": SIGNING_SECRET,
    })
}

/// `POST /_sandbox/revoke` for Slack: the app is uninstalled; its tokens answer `token_revoked`.
pub fn revoke_all(state: &SandboxState) {
    let mut book = state.slack.book();
    let issued: Vec<String> = book.issued.drain().collect();
    book.revoked.extend(issued);
}

/// `POST /_sandbox/records` for Slack: a member posts a message (`object` "message", `op`
/// "create", `fields` {channel, user (id or email), text, thread_ts?}); it fires a `message` event.
pub fn change_record(
    state: &Arc<SandboxState>,
    team: &str,
    object: &str,
    op: &str,
    fields: &Value,
) -> Response {
    if object != "message" || op != "create" {
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({ "error": "Slack records are messages: object \"message\", op \"create\"" }),
            ),
        )
            .into_response();
    }
    match methods::post_as_member(state, team, fields) {
        Ok(message) => (StatusCode::CREATED, Json(message)).into_response(),
        Err(message) => {
            (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
        }
    }
}

/// `POST /_sandbox/webhooks` for Slack: the Events API request URL, verified as Slack verifies it.
pub async fn register_events(
    state: &Arc<SandboxState>,
    url: String,
    secret: Option<String>,
) -> Response {
    events::register(state, url, secret).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_look_like_slacks_and_map_back() {
        let internal = "xoxe.xoxb-1-r-abc-DEF_1";
        let external = external_refresh(internal);
        assert_eq!(external, "xoxe-1-abc-DEF_1");
        let candidates = internal_refresh(&external).unwrap();
        assert_eq!(candidates[0].0, internal);
        assert_eq!(candidates[1].0, "xoxe.xoxp-1-r-abc-DEF_1");
        assert!(internal_refresh("xoxb-123").is_none());
    }
}
