//! Slack's wire types for channels, messages and users (Web API answers, after `ok:true`).

use serde::Deserialize;
use serde_json::Value;

/// `response_metadata.next_cursor`: empty on the last page.
#[derive(Debug, Default, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub next_cursor: String,
}

/// `conversations.list`.
#[derive(Debug, Deserialize)]
pub struct Conversations {
    pub channels: Vec<Value>,
    #[serde(default)]
    pub response_metadata: Metadata,
}

/// A conversation, the fields the unified channel reads.
#[derive(Debug, Deserialize)]
pub struct Conversation {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub is_private: bool,
    #[serde(default)]
    pub created: i64,
    pub updated: Option<i64>,
    pub topic: Option<Topic>,
}

#[derive(Debug, Deserialize)]
pub struct Topic {
    #[serde(default)]
    pub value: String,
}

/// `conversations.history` and `conversations.replies`.
#[derive(Debug, Deserialize)]
pub struct History {
    pub messages: Vec<Value>,
    #[serde(default)]
    pub has_more: bool,
    #[serde(default)]
    pub response_metadata: Metadata,
}

/// A message, the fields the unified message reads.
#[derive(Debug, Deserialize)]
pub struct WireMessage {
    pub ts: String,
    #[serde(default)]
    pub text: String,
    pub user: Option<String>,
    pub bot_id: Option<String>,
    pub thread_ts: Option<String>,
    #[serde(default)]
    pub reply_count: u32,
    pub edited: Option<Edited>,
}

#[derive(Debug, Deserialize)]
pub struct Edited {
    pub ts: String,
}

/// `chat.postMessage`.
#[derive(Debug, Deserialize)]
pub struct Posted {
    pub channel: String,
    pub message: Value,
}

/// `users.list`.
#[derive(Debug, Deserialize)]
pub struct Members {
    pub members: Vec<WireUser>,
    #[serde(default)]
    pub response_metadata: Metadata,
}

/// `users.info` and `users.lookupByEmail`.
#[derive(Debug, Deserialize)]
pub struct UserAnswer {
    pub user: WireUser,
}

#[derive(Debug, Deserialize)]
pub struct WireUser {
    pub id: String,
    pub name: Option<String>,
    pub real_name: Option<String>,
    #[serde(default)]
    pub profile: Profile,
}

#[derive(Debug, Default, Deserialize)]
pub struct Profile {
    pub real_name: Option<String>,
    pub email: Option<String>,
}
