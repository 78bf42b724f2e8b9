//! The methods that change a posted message: `chat.update`, `chat.delete` and `reactions.add`,
//! with the refusals Slack's method reference lists for each.
//!
//! All three name the conversation by id (a name is `channel_not_found`, as these methods take
//! none) and the message by its `ts`. A bot token edits and deletes only the bot's own messages
//! (`cant_update_message`, `cant_delete_message`); a user token acts for the installing member,
//! the workspace's primary owner, who may delete anyone's. Deleting a thread parent that has
//! replies leaves Slack's tombstone ("This message was deleted.", subtype `tombstone`) in its
//! place; any other message is gone. A reaction is an emoji name Slack knows (`invalid_name`
//! otherwise; `thumbsup` is stored as its canonical `+1`, skin tones as `name::skin-tone-N`),
//! once per member and emoji (`already_reacted`), at most [`MAX_REACTIONS_PER_MEMBER`] per member
//! and [`MAX_DISTINCT_EMOJI`] distinct emoji on a message.

use axum::{Router, extract::State, response::Response, routing::get};
use serde_json::{Value, json};

use super::{
    Call, Caller, Ctx, admit,
    error::{Failure, respond},
    methods::{MAX_TEXT, array_arg, visible},
    store::{BOT_USER_ID, Channel, Workspace, parse_ts, ts_string},
};

/// How many reactions one member may leave on one message (Slack Help Center, "Use emoji
/// reactions": `too_many_reactions`).
pub const MAX_REACTIONS_PER_MEMBER: usize = 23;
/// How many distinct emoji one message may carry (`too_many_emoji`).
pub const MAX_DISTINCT_EMOJI: usize = 50;

/// Emoji names of Slack's standard set the sandbox knows, canonical names first.
const EMOJI: &[&str] = &[
    "+1",
    "-1",
    "100",
    "clap",
    "crossed_fingers",
    "eyes",
    "fire",
    "grinning",
    "heart",
    "heavy_check_mark",
    "heavy_plus_sign",
    "hourglass",
    "joy",
    "laughing",
    "memo",
    "muscle",
    "ok_hand",
    "partying_face",
    "pray",
    "raised_hands",
    "rocket",
    "slightly_smiling_face",
    "smile",
    "sparkles",
    "star",
    "tada",
    "thinking_face",
    "wave",
    "white_check_mark",
    "x",
];
/// Aliases Slack stores under their canonical name.
const ALIASES: &[(&str, &str)] = &[("thumbsup", "+1"), ("thumbsdown", "-1")];
/// Skin-tone modifiers Slack appends as `::skin-tone-N`.
const SKIN_TONES: std::ops::RangeInclusive<u8> = 2..=6;

pub fn routes(router: Router<Ctx>) -> Router<Ctx> {
    router
        .route("/api/chat.update", get(chat_update).post(chat_update))
        .route("/api/chat.delete", get(chat_delete).post(chat_delete))
        .route("/api/reactions.add", get(reactions_add).post(reactions_add))
}

/// The canonical name of a reaction, or `None` when Slack would answer `invalid_name`.
fn emoji(name: &str) -> Option<String> {
    let (base, tone) = match name.split_once("::") {
        Some((base, tone)) => (base, Some(tone)),
        None => (name, None),
    };
    let base = ALIASES
        .iter()
        .find(|(alias, _)| *alias == base)
        .map_or(base, |(_, canonical)| canonical);
    if !EMOJI.contains(&base) {
        return None;
    }
    match tone {
        None => Some(base.to_owned()),
        Some(tone) => tone
            .strip_prefix("skin-tone-")
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|n| SKIN_TONES.contains(n))
            .map(|n| format!("{base}::skin-tone-{n}")),
    }
}

/// The conversation an edit names: by id only, visible to the caller, not archived.
fn channel_by_id<'a>(
    workspace: &'a Workspace,
    call: &Call,
    caller: &Caller,
) -> Result<&'a Channel, Failure> {
    let channel = call
        .given("channel")
        .and_then(|id| workspace.channels.iter().find(|c| c.id == id))
        .filter(|c| visible(c, caller))
        .ok_or_else(|| Failure::plain("channel_not_found"))?;
    if channel.archived {
        return Err(Failure::plain("is_archived"));
    }
    Ok(channel)
}

/// The `ts` a call names (`argument`), as microseconds; `Err(error)` when absent or malformed.
fn ts_arg(call: &Call, argument: &str, error: &str) -> Result<i64, Failure> {
    let raw = call
        .given(argument)
        .ok_or_else(|| Failure::invalid_arguments(argument))?;
    parse_ts(&raw).ok_or_else(|| Failure::plain(error))
}

async fn chat_update(State(ctx): State<Ctx>, call: Call) -> Response {
    respond(&call, chat_update_outcome(&ctx, &call))
}

/// `chat.update`: new text, blocks or attachments for a message the caller posted. Text without
/// blocks drops the old blocks, as Slack documents; the message shows `edited`.
fn chat_update_outcome(ctx: &Ctx, call: &Call) -> Result<Value, Failure> {
    let caller = admit(ctx, call, "chat.update", &["chat:write"], None)?;
    let ts = ts_arg(call, "ts", "message_not_found")?;
    let Ok(blocks) = array_arg(call, "blocks") else {
        return Err(Failure::plain("invalid_blocks"));
    };
    let Ok(attachments) = array_arg(call, "attachments") else {
        return Err(Failure::plain("invalid_attachments"));
    };
    let text = call.given("text");
    if text.is_none() && blocks.is_none() && attachments.is_none() {
        return Err(Failure::plain("no_text"));
    }
    if text.as_ref().is_some_and(|t| t.chars().count() > MAX_TEXT) {
        return Err(Failure::plain("msg_too_long"));
    }
    let now = ctx.state.clock.now();
    let mut workspace = ctx.state.slack.workspaces.lock(&caller.team);
    let channel = channel_by_id(&workspace, call, &caller)?.id.clone();
    let stamp = workspace.next_ts(&channel, now);
    let message = workspace
        .messages
        .get_mut(&channel)
        .and_then(|all| all.iter_mut().find(|m| m.ts == ts && !m.tombstone))
        .ok_or_else(|| Failure::plain("message_not_found"))?;
    if message.user != caller.actor() {
        return Err(Failure::plain("cant_update_message"));
    }
    if let Some(text) = &text {
        message.text = text.clone();
        message.edited = Some((caller.actor().to_owned(), stamp));
        if blocks.is_none() {
            message.blocks = None;
        }
    }
    if let Some(blocks) = blocks {
        message.blocks = Some(Value::Array(blocks));
    }
    if let Some(attachments) = attachments {
        message.attachments = Some(Value::Array(attachments));
    }
    let message = message.clone();
    let shown = workspace.message_json(&channel, &message);
    Ok(json!({
        "channel": channel,
        "ts": ts_string(ts),
        "text": message.text,
        "message": shown,
    }))
}

async fn chat_delete(State(ctx): State<Ctx>, call: Call) -> Response {
    respond(&call, chat_delete_outcome(&ctx, &call))
}

/// `chat.delete`: a bot deletes its own messages; the installing member (a user token) any.
fn chat_delete_outcome(ctx: &Ctx, call: &Call) -> Result<Value, Failure> {
    let caller = admit(ctx, call, "chat.delete", &["chat:write"], None)?;
    let ts = ts_arg(call, "ts", "message_not_found")?;
    let mut workspace = ctx.state.slack.workspaces.lock(&caller.team);
    let channel = channel_by_id(&workspace, call, &caller)?.id.clone();
    let all = workspace.messages.entry(channel.clone()).or_default();
    let index = all
        .iter()
        .position(|m| m.ts == ts && !m.tombstone)
        .ok_or_else(|| Failure::plain("message_not_found"))?;
    if caller.user.is_none() && all[index].user != BOT_USER_ID {
        return Err(Failure::plain("cant_delete_message"));
    }
    let has_replies =
        !all[index].is_reply() && all.iter().any(|r| r.is_reply() && r.thread_ts == Some(ts));
    if has_replies {
        let parent = &mut all[index];
        parent.tombstone = true;
        parent.reactions.clear();
    } else {
        all.remove(index);
    }
    Ok(json!({ "channel": channel, "ts": ts_string(ts) }))
}

async fn reactions_add(State(ctx): State<Ctx>, call: Call) -> Response {
    respond(&call, reactions_add_outcome(&ctx, &call))
}

/// `reactions.add`: the caller's reaction on a message of a conversation it is in.
fn reactions_add_outcome(ctx: &Ctx, call: &Call) -> Result<Value, Failure> {
    let caller = admit(ctx, call, "reactions.add", &["reactions:write"], None)?;
    let name = emoji(&call.given("name").unwrap_or_default())
        .ok_or_else(|| Failure::plain("invalid_name"))?;
    if call.given("channel").is_none() || call.given("timestamp").is_none() {
        return Err(Failure::plain("no_item_specified"));
    }
    let ts = ts_arg(call, "timestamp", "bad_timestamp")?;
    let mut workspace = ctx.state.slack.workspaces.lock(&caller.team);
    let channel = channel_by_id(&workspace, call, &caller)?;
    if !channel.members.iter().any(|m| m == caller.actor()) {
        return Err(Failure::plain("not_in_channel"));
    }
    let channel = channel.id.clone();
    let message = workspace
        .messages
        .get_mut(&channel)
        .and_then(|all| all.iter_mut().find(|m| m.ts == ts && !m.tombstone))
        .ok_or_else(|| Failure::plain("message_not_found"))?;
    let actor = caller.actor().to_owned();
    let mine = message
        .reactions
        .iter()
        .filter(|(_, users)| users.contains(&actor))
        .count();
    let distinct = message.reactions.len();
    match message.reactions.iter_mut().find(|(n, _)| *n == name) {
        Some((_, users)) if users.contains(&actor) => Err(Failure::plain("already_reacted")),
        _ if mine >= MAX_REACTIONS_PER_MEMBER => Err(Failure::plain("too_many_reactions")),
        Some((_, users)) => {
            users.push(actor);
            Ok(())
        }
        None if distinct >= MAX_DISTINCT_EMOJI => Err(Failure::plain("too_many_emoji")),
        None => {
            message.reactions.push((name, vec![actor]));
            Ok(())
        }
    }?;
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_names_are_canonical_or_refused() {
        assert_eq!(emoji("thumbsup").as_deref(), Some("+1"));
        assert_eq!(emoji("tada").as_deref(), Some("tada"));
        assert_eq!(
            emoji("wave::skin-tone-3").as_deref(),
            Some("wave::skin-tone-3")
        );
        for bad in [
            "",
            ":tada:",
            "not_an_emoji",
            "wave::skin-tone-9",
            "wave::red",
        ] {
            assert_eq!(emoji(bad), None, "{bad}");
        }
    }
}
