//! Graph's wire types for Teams: teams, channels, chatMessages and users.

use serde::Deserialize;
use serde_json::Value;

/// A Graph collection page.
#[derive(Debug, Deserialize)]
pub struct Collection {
    #[serde(default)]
    pub value: Vec<Value>,
    #[serde(rename = "@odata.nextLink")]
    pub next_link: Option<String>,
}

/// `/me/joinedTeams` items.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Team {
    pub id: String,
    pub display_name: Option<String>,
}

/// `/teams/{id}/channels` items.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireChannel {
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    pub description: Option<String>,
    pub created_date_time: Option<String>,
    pub membership_type: Option<String>,
}

/// A chatMessage, the fields the unified message reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    pub id: String,
    pub reply_to_id: Option<String>,
    pub created_date_time: String,
    pub last_modified_date_time: Option<String>,
    pub from: Option<From>,
    pub body: Option<Body>,
    /// With `$expand=replies`.
    pub replies: Option<Vec<Value>>,
}

#[derive(Debug, Deserialize)]
pub struct From {
    pub user: Option<Identity>,
}

#[derive(Debug, Deserialize)]
pub struct Identity {
    pub id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Body {
    pub content_type: Option<String>,
    #[serde(default)]
    pub content: String,
}

/// `/users/{id | userPrincipalName}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub display_name: Option<String>,
    pub mail: Option<String>,
    pub user_principal_name: Option<String>,
}
