//! The Web API methods over the workspace: `chat.postMessage`, `conversations.list`,
//! `conversations.history`, `conversations.replies`, `conversations.info`, `users.info`,
//! `conversations.members`, `users.list` and `users.lookupByEmail`. Lists page with opaque cursors (Base64 of
//! `channel:<id>`, `user:<id>`, `member:<id>`, `next_ts:<ts>`, as Slack's look) in
//! `response_metadata.next_cursor`, an empty string on the last page.

use std::sync::Arc;

use axum::{Router, extract::State, response::Response, routing::get};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

use super::{
    Call, Caller, Ctx, SandboxState, admit,
    error::{Failure, respond},
    events,
    store::{BOT_USER_ID, Channel, Message, Workspace, parse_ts, ts_string},
};

/// Slack's longest message text.
pub(super) const MAX_TEXT: usize = 40_000;
const MAX_ATTACHMENTS: usize = 100;
const MAX_BLOCKS: usize = 50;

pub fn routes(router: Router<Ctx>) -> Router<Ctx> {
    router
        .route(
            "/api/chat.postMessage",
            get(post_message).post(post_message),
        )
        .route(
            "/api/conversations.list",
            get(conversations_list).post(conversations_list),
        )
        .route(
            "/api/conversations.history",
            get(conversations_history).post(conversations_history),
        )
        .route(
            "/api/conversations.replies",
            get(conversations_replies).post(conversations_replies),
        )
        .route(
            "/api/conversations.members",
            get(conversations_members).post(conversations_members),
        )
        .route(
            "/api/conversations.info",
            get(conversations_info).post(conversations_info),
        )
        .route("/api/users.info", get(users_info).post(users_info))
        .route("/api/users.list", get(users_list).post(users_list))
        .route(
            "/api/users.lookupByEmail",
            get(users_lookup_by_email).post(users_lookup_by_email),
        )
}

fn cursor(kind: &str, value: &str) -> String {
    STANDARD.encode(format!("{kind}:{value}"))
}

/// The position a cursor names; `Err` (`invalid_cursor`) when it is not one of ours.
fn read_cursor(call: &Call, kind: &str) -> Result<Option<String>, Failure> {
    let Some(raw) = call.given("cursor") else {
        return Ok(None);
    };
    STANDARD
        .decode(raw.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix(&format!("{kind}:")).map(str::to_owned))
        .filter(|v| !v.is_empty())
        .map(Some)
        .ok_or_else(|| Failure::plain("invalid_cursor"))
}

fn next_cursor(next: Option<String>) -> Value {
    json!({ "next_cursor": next.unwrap_or_default() })
}

/// Whether the caller sees a channel at all: public ones always; private ones when a member.
pub(super) fn visible(channel: &Channel, caller: &Caller) -> bool {
    !channel.private || channel.members.iter().any(|m| m == caller.actor())
}

fn find_channel<'a>(
    workspace: &'a Workspace,
    call: &Call,
    caller: &Caller,
) -> Result<&'a Channel, Failure> {
    call.given("channel")
        .and_then(|c| workspace.channel(&c))
        .filter(|c| visible(c, caller))
        .ok_or_else(|| Failure::plain("channel_not_found"))
}

/// A JSON-or-string argument that must be an array (`blocks`, `attachments`).
pub(super) fn array_arg(call: &Call, name: &str) -> Result<Option<Vec<Value>>, ()> {
    let value = match call.value(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.is_empty() => return Ok(None),
        Some(Value::String(s)) => serde_json::from_str::<Value>(s).map_err(|_| ())?,
        Some(v) => v.clone(),
    };
    match value {
        Value::Array(items) => Ok(Some(items)),
        _ => Err(()),
    }
}

/// `chat.postMessage`'s `metadata`: a JSON object (or its JSON text, in a form body) with a
/// string `event_type` — an alphanumeric name, underscores allowed, as Slack's examples write
/// them (`task_created`) — and an object `event_payload`. Not JSON, or not an object:
/// `invalid_metadata_format`; the fields missing or of the wrong type or name:
/// `invalid_metadata_schema`.
fn metadata_arg(call: &Call) -> Result<Option<Value>, Failure> {
    let value = match call.value("metadata") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) if text.is_empty() => return Ok(None),
        Some(Value::String(text)) => serde_json::from_str::<Value>(text)
            .map_err(|_| Failure::plain("invalid_metadata_format"))?,
        Some(other) => other.clone(),
    };
    let Some(fields) = value.as_object() else {
        return Err(Failure::plain("invalid_metadata_format"));
    };
    let named = fields
        .get("event_type")
        .and_then(Value::as_str)
        .is_some_and(|t| {
            !t.is_empty()
                && t.len() <= 255
                && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    let payload = fields.get("event_payload").is_some_and(Value::is_object);
    if !named || !payload || fields.len() != 2 {
        return Err(Failure::plain("invalid_metadata_schema"));
    }
    Ok(Some(value))
}

/// A listed message, with its metadata when the call asked for `include_all_metadata`.
fn listed(workspace: &Workspace, channel: &str, m: &Message, metadata: bool) -> Value {
    let mut out = workspace.message_json(channel, m);
    if let (true, Some(data)) = (metadata, &m.metadata) {
        out["metadata"] = data.clone();
    }
    out
}

/// `chat.postMessage`: posts as the bot (or a user token's user), to a channel id or name,
/// optionally in a thread; the message fires a `message` event.
async fn post_message(State(ctx): State<Ctx>, call: Call) -> Response {
    respond(&call, post_message_outcome(&ctx, &call))
}

fn post_message_outcome(ctx: &Ctx, call: &Call) -> Result<Value, Failure> {
    let target = call.given("channel");
    let caller = admit(
        ctx,
        call,
        "chat.postMessage",
        &["chat:write"],
        Some(target.as_deref().unwrap_or("")),
    )?;
    let Ok(blocks) = array_arg(call, "blocks") else {
        return Err(Failure::plain("invalid_blocks"));
    };
    let Ok(attachments) = array_arg(call, "attachments") else {
        return Err(Failure::plain("invalid_attachments"));
    };
    let text = call.given("text").unwrap_or_default();
    if text.is_empty() && blocks.is_none() && attachments.is_none() {
        return Err(Failure::plain("no_text"));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(Failure::plain("msg_too_long"));
    }
    if attachments
        .as_ref()
        .is_some_and(|a| a.len() > MAX_ATTACHMENTS)
    {
        return Err(Failure::plain("too_many_attachments"));
    }
    if blocks
        .as_ref()
        .is_some_and(|b| b.len() > MAX_BLOCKS || b.iter().any(|b| !b.is_object()))
    {
        return Err(Failure::plain("invalid_blocks"));
    }
    let metadata = metadata_arg(call)?;
    let broadcast = call.flag("reply_broadcast", false)?;
    let now = ctx.state.clock.now();
    let mut workspace = ctx.state.slack.workspaces.lock(&caller.team);
    let channel = find_channel(&workspace, call, &caller)?.clone();
    if channel.archived {
        return Err(Failure::plain("is_archived"));
    }
    let member = channel.members.iter().any(|m| m == caller.actor());
    // A bot may post where it is not a member only with `chat:write.public`.
    let public_bot = caller.user.is_none() && caller.has("chat:write.public");
    if !member && !public_bot {
        return Err(Failure::plain("not_in_channel"));
    }
    let thread_ts = match call.given("thread_ts") {
        None => None,
        Some(raw) => {
            let parent = parse_ts(&raw)
                .and_then(|ts| workspace.find(&channel.id, ts))
                .map(|m| m.thread_ts.unwrap_or(m.ts));
            Some(parent.ok_or_else(|| Failure::plain("thread_not_found"))?)
        }
    };
    let ts = workspace.next_ts(&channel.id, now);
    let message = Message {
        ts,
        user: caller.actor().to_owned(),
        text,
        thread_ts,
        broadcast: broadcast && thread_ts.is_some(),
        blocks: blocks.map(Value::Array),
        attachments: attachments.map(Value::Array),
        metadata,
        ..Message::default()
    };
    let event = events::message_event(&mut workspace, &channel, &message);
    workspace.post(&channel.id, message.clone());
    let shown = listed(&workspace, &channel.id, &message, true);
    drop(workspace);
    events::deliver(&ctx.state, event);
    Ok(json!({ "channel": channel.id, "ts": ts_string(ts), "message": shown }))
}

/// `POST /_sandbox/records`: a member posts, as they would in Slack's client.
pub fn post_as_member(
    state: &Arc<SandboxState>,
    team: &str,
    fields: &Value,
) -> Result<Value, String> {
    let field = |name: &str| fields.get(name).and_then(Value::as_str).unwrap_or_default();
    let text = field("text");
    if text.is_empty() || text.chars().count() > MAX_TEXT {
        return Err("text must be 1 to 40000 characters".into());
    }
    let mut workspace = state.slack.workspaces.lock(team);
    let user = workspace
        .user(field("user"))
        .or_else(|| workspace.user_by_email(field("user")))
        .map(|u| u.id.clone())
        .ok_or("user must be a member's id or email")?;
    let channel = workspace
        .channel(field("channel"))
        .filter(|c| c.members.contains(&user) || !c.private)
        .cloned()
        .ok_or("channel must name a channel the user can post in")?;
    let thread_ts = match field("thread_ts") {
        "" => None,
        raw => Some(
            parse_ts(raw)
                .and_then(|ts| workspace.find(&channel.id, ts))
                .map(|m| m.thread_ts.unwrap_or(m.ts))
                .ok_or("thread_ts must name a message of the channel")?,
        ),
    };
    let ts = workspace.next_ts(&channel.id, state.clock.now());
    let message = Message {
        ts,
        user,
        text: text.to_owned(),
        thread_ts,
        broadcast: false,
        blocks: None,
        attachments: None,
        metadata: None,
        ..Message::default()
    };
    let event = events::message_event(&mut workspace, &channel, &message);
    workspace.post(&channel.id, message.clone());
    let shown = workspace.message_json(&channel.id, &message);
    drop(workspace);
    events::deliver(state, event);
    Ok(json!({ "channel": channel.id, "ts": ts_string(ts), "message": shown }))
}

/// `conversations.list`: `types` (default `public_channel`), `exclude_archived`, `limit` (default
/// 100, at most 1000) and `cursor`.
async fn conversations_list(State(ctx): State<Ctx>, call: Call) -> Response {
    respond(&call, conversations_list_outcome(&ctx, &call))
}

fn conversations_list_outcome(ctx: &Ctx, call: &Call) -> Result<Value, Failure> {
    let caller = admit(
        ctx,
        call,
        "conversations.list",
        &["channels:read", "groups:read"],
        None,
    )?;
    let types = call
        .given("types")
        .unwrap_or_else(|| "public_channel".into());
    let mut public = false;
    let mut private = false;
    for t in types.split(',').map(str::trim) {
        match t {
            "public_channel" => public = true,
            "private_channel" => private = true,
            "mpim" | "im" => {}
            _ => return Err(Failure::plain("invalid_types")),
        }
    }
    let exclude_archived = call.flag("exclude_archived", false)?;
    let limit = call.limit(100, 1000)?;
    let after = read_cursor(call, "channel")?;
    let workspace = ctx.state.slack.workspaces.lock(&caller.team);
    let mut matching = workspace
        .channels
        .iter()
        .filter(|c| {
            (c.private && private && caller.has("groups:read"))
                || (!c.private && public && caller.has("channels:read"))
        })
        .filter(|c| visible(c, &caller))
        .filter(|c| !(exclude_archived && c.archived))
        .filter(|c| after.as_deref().is_none_or(|a| c.id.as_str() >= a));
    let page: Vec<Value> = matching
        .by_ref()
        .take(limit)
        .map(|c| workspace.channel_json(c))
        .collect();
    let next = matching.next().map(|c| cursor("channel", &c.id));
    Ok(json!({ "channels": page, "response_metadata": next_cursor(next) }))
}

/// The `oldest`/`latest`/`inclusive` window of history and replies.
struct Window {
    oldest: Option<i64>,
    latest: Option<i64>,
    inclusive: bool,
}

impl Window {
    fn read(call: &Call) -> Result<Self, Failure> {
        let ts = |name: &str, error: &str| match call.given(name) {
            None => Ok(None),
            Some(raw) => parse_ts(&raw)
                .map(Some)
                .ok_or_else(|| Failure::plain(error)),
        };
        Ok(Self {
            oldest: ts("oldest", "invalid_ts_oldest")?,
            latest: ts("latest", "invalid_ts_latest")?,
            inclusive: call.flag("inclusive", false)?,
        })
    }

    fn contains(&self, ts: i64) -> bool {
        let above = self
            .oldest
            .is_none_or(|o| ts > o || (self.inclusive && ts == o));
        let below = self
            .latest
            .is_none_or(|l| ts < l || (self.inclusive && ts == l));
        above && below
    }
}

/// A channel whose history the caller may read: the right scope, and a bot must be a member.
fn readable<'a>(
    workspace: &'a Workspace,
    call: &Call,
    caller: &Caller,
) -> Result<&'a Channel, Failure> {
    let channel = find_channel(workspace, call, caller)?;
    let scope = if channel.private {
        "groups:history"
    } else {
        "channels:history"
    };
    if !caller.has(scope) {
        return Err(Failure::missing_scope(scope, &caller.scopes));
    }
    if caller.user.is_none() && !channel.members.iter().any(|m| m == BOT_USER_ID) {
        return Err(Failure::plain("not_in_channel"));
    }
    Ok(channel)
}

/// `conversations.history`: the channel's messages (thread replies only when broadcast), newest
/// first; `limit` default 100, at most 999.
async fn conversations_history(State(ctx): State<Ctx>, call: Call) -> Response {
    respond(&call, conversations_history_outcome(&ctx, &call))
}

fn conversations_history_outcome(ctx: &Ctx, call: &Call) -> Result<Value, Failure> {
    let caller = admit(
        ctx,
        call,
        "conversations.history",
        &["channels:history", "groups:history"],
        None,
    )?;
    let window = Window::read(call)?;
    let metadata = call.flag("include_all_metadata", false)?;
    let limit = call.limit(100, 999)?;
    let start = read_cursor(call, "next_ts")?;
    let start = match start.map(|s| parse_ts(&s)) {
        Some(None) => return Err(Failure::plain("invalid_cursor")),
        Some(Some(ts)) => Some(ts),
        None => None,
    };
    let workspace = ctx.state.slack.workspaces.lock(&caller.team);
    let channel = readable(&workspace, call, &caller)?;
    let all = workspace
        .messages
        .get(&channel.id)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut matching = all
        .iter()
        .rev()
        .filter(|m| !m.is_reply() || m.broadcast)
        .filter(|m| window.contains(m.ts))
        .filter(|m| start.is_none_or(|s| m.ts <= s));
    let page: Vec<Value> = matching
        .by_ref()
        .take(limit)
        .map(|m| listed(&workspace, &channel.id, m, metadata))
        .collect();
    let next = matching.next().map(|m| cursor("next_ts", &ts_string(m.ts)));
    Ok(json!({
        "messages": page,
        "has_more": next.is_some(),
        "pin_count": 0,
        "channel_actions_ts": null,
        "channel_actions_count": 0,
        "response_metadata": next_cursor(next),
    }))
}

/// `conversations.replies`: a thread, its parent first, then replies oldest first; `ts` may
/// name the parent or any reply. `limit` default 1000.
async fn conversations_replies(State(ctx): State<Ctx>, call: Call) -> Response {
    respond(&call, conversations_replies_outcome(&ctx, &call))
}

fn conversations_replies_outcome(ctx: &Ctx, call: &Call) -> Result<Value, Failure> {
    let caller = admit(
        ctx,
        call,
        "conversations.replies",
        &["channels:history", "groups:history"],
        None,
    )?;
    let window = Window::read(call)?;
    let metadata = call.flag("include_all_metadata", false)?;
    let limit = call.limit(1000, 1000)?;
    let start = read_cursor(call, "next_ts")?;
    let start = match start.map(|s| parse_ts(&s)) {
        Some(None) => return Err(Failure::plain("invalid_cursor")),
        Some(Some(ts)) => Some(ts),
        None => None,
    };
    // Slack: "thread_not_found — value for ts was missing or invalid".
    let Some(ts) = call.given("ts") else {
        return Err(Failure::plain("thread_not_found"));
    };
    let workspace = ctx.state.slack.workspaces.lock(&caller.team);
    let channel = readable(&workspace, call, &caller)?;
    let Some(parent) = parse_ts(&ts)
        .and_then(|ts| workspace.find(&channel.id, ts))
        .map(|m| m.thread_ts.unwrap_or(m.ts))
    else {
        return Err(Failure::plain("thread_not_found"));
    };
    let mut matching = workspace.messages[&channel.id]
        .iter()
        .filter(|m| m.ts == parent || m.thread_ts == Some(parent))
        .filter(|m| m.ts == parent || window.contains(m.ts))
        .filter(|m| start.is_none_or(|s| m.ts >= s));
    let page: Vec<Value> = matching
        .by_ref()
        .take(limit)
        .map(|m| listed(&workspace, &channel.id, m, metadata))
        .collect();
    let next = matching.next().map(|m| cursor("next_ts", &ts_string(m.ts)));
    Ok(json!({
        "messages": page,
        "has_more": next.is_some(),
        "response_metadata": next_cursor(next),
    }))
}

/// `conversations.info`: one channel.
async fn conversations_info(State(ctx): State<Ctx>, call: Call) -> Response {
    respond(&call, conversations_info_outcome(&ctx, &call))
}

fn conversations_info_outcome(ctx: &Ctx, call: &Call) -> Result<Value, Failure> {
    let caller = admit(
        ctx,
        call,
        "conversations.info",
        &["channels:read", "groups:read"],
        None,
    )?;
    let workspace = ctx.state.slack.workspaces.lock(&caller.team);
    let channel = find_channel(&workspace, call, &caller)?;
    Ok(json!({ "channel": workspace.channel_json(channel) }))
}

/// `conversations.members`: the member ids of a conversation named by id, in id order; `limit`
/// default 100, at most 1000 (a `limit` that is not a whole number is `invalid_limit`).
async fn conversations_members(State(ctx): State<Ctx>, call: Call) -> Response {
    respond(&call, conversations_members_outcome(&ctx, &call))
}

fn conversations_members_outcome(ctx: &Ctx, call: &Call) -> Result<Value, Failure> {
    let caller = admit(
        ctx,
        call,
        "conversations.members",
        &["channels:read", "groups:read"],
        None,
    )?;
    let limit = match call.given("limit").map(|l| l.parse::<usize>()) {
        None | Some(Ok(0)) => 100,
        Some(Ok(n)) => n.min(1000),
        Some(Err(_)) => return Err(Failure::plain("invalid_limit")),
    };
    let after = read_cursor(call, "member")?;
    let workspace = ctx.state.slack.workspaces.lock(&caller.team);
    let channel = call
        .given("channel")
        .and_then(|id| workspace.channels.iter().find(|c| c.id == id))
        .filter(|c| visible(c, &caller))
        .ok_or_else(|| Failure::plain("channel_not_found"))?;
    let scope = if channel.private {
        "groups:read"
    } else {
        "channels:read"
    };
    if !caller.has(scope) {
        return Err(Failure::missing_scope(scope, &caller.scopes));
    }
    let mut ids: Vec<&str> = channel.members.iter().map(String::as_str).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut matching = ids
        .into_iter()
        .filter(|id| after.as_deref().is_none_or(|a| *id >= a));
    let page: Vec<&str> = matching.by_ref().take(limit).collect();
    let next = matching.next().map(|id| cursor("member", id));
    Ok(json!({ "members": page, "response_metadata": next_cursor(next) }))
}

/// `users.info`: a member (or the bot); `profile.email` only with `users:read.email`.
async fn users_info(State(ctx): State<Ctx>, call: Call) -> Response {
    respond(&call, users_info_outcome(&ctx, &call))
}

fn users_info_outcome(ctx: &Ctx, call: &Call) -> Result<Value, Failure> {
    let caller = admit(ctx, call, "users.info", &["users:read"], None)?;
    let workspace = ctx.state.slack.workspaces.lock(&caller.team);
    let id = call.given("user").unwrap_or_default();
    let user = if id == BOT_USER_ID {
        Some(workspace.bot_json())
    } else {
        workspace
            .user(&id)
            .map(|u| workspace.user_json(u, caller.has("users:read.email")))
    };
    match user {
        Some(user) => Ok(json!({ "user": user })),
        None => Err(Failure::plain("user_not_found")),
    }
}

/// `users.list`: every member and the bot, `limit` at most 1000; without one, everyone at once
/// (as Slack tries to).
async fn users_list(State(ctx): State<Ctx>, call: Call) -> Response {
    respond(&call, users_list_outcome(&ctx, &call))
}

fn users_list_outcome(ctx: &Ctx, call: &Call) -> Result<Value, Failure> {
    let caller = admit(ctx, call, "users.list", &["users:read"], None)?;
    let limit = call.limit(usize::MAX, 1000)?;
    let after = read_cursor(call, "user")?;
    let workspace = ctx.state.slack.workspaces.lock(&caller.team);
    let with_email = caller.has("users:read.email");
    let mut everyone: Vec<(String, Value)> = workspace
        .users
        .iter()
        .map(|u| (u.id.clone(), workspace.user_json(u, with_email)))
        .collect();
    everyone.push((BOT_USER_ID.to_owned(), workspace.bot_json()));
    everyone.sort_by(|a, b| a.0.cmp(&b.0));
    let mut matching = everyone
        .into_iter()
        .filter(|(id, _)| after.as_deref().is_none_or(|a| id.as_str() >= a));
    let page: Vec<Value> = matching.by_ref().take(limit).map(|(_, u)| u).collect();
    let next = matching.next().map(|(id, _)| cursor("user", &id));
    Ok(json!({
        "members": page,
        "cache_ts": ctx.state.clock.now().timestamp(),
        "response_metadata": next_cursor(next),
    }))
}

/// `users.lookupByEmail`: needs `users:read.email`; `users_not_found` when nobody has it.
async fn users_lookup_by_email(State(ctx): State<Ctx>, call: Call) -> Response {
    respond(&call, users_lookup_by_email_outcome(&ctx, &call))
}

fn users_lookup_by_email_outcome(ctx: &Ctx, call: &Call) -> Result<Value, Failure> {
    let caller = admit(
        ctx,
        call,
        "users.lookupByEmail",
        &["users:read.email"],
        None,
    )?;
    let Some(email) = call.given("email") else {
        return Err(Failure::invalid_arguments("email"));
    };
    let workspace = ctx.state.slack.workspaces.lock(&caller.team);
    match workspace.user_by_email(&email) {
        Some(user) => Ok(json!({ "user": workspace.user_json(user, true) })),
        None => Err(Failure::plain("users_not_found")),
    }
}
