//! Graph's event wire types: a list page and the parts of an event the unified model reads.

use serde::Deserialize;
use serde_json::Value;

/// A Graph collection page, with `@odata.nextLink` while more follow.
#[derive(Debug, Deserialize)]
pub struct Page {
    #[serde(default)]
    pub value: Vec<Value>,
    #[serde(rename = "@odata.nextLink")]
    pub next_link: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    pub subject: Option<String>,
    pub body: Option<ItemBody>,
    pub start: Option<DateTimeZone>,
    pub end: Option<DateTimeZone>,
    #[serde(default)]
    pub is_all_day: bool,
    #[serde(default)]
    pub is_cancelled: bool,
    pub location: Option<Location>,
    #[serde(default)]
    pub attendees: Vec<Attendee>,
    pub organizer: Option<Recipient>,
    pub web_link: Option<String>,
    pub created_date_time: Option<String>,
    pub last_modified_date_time: Option<String>,
    pub original_start_time_zone: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ItemBody {
    pub content: Option<String>,
}

/// `{dateTime: "2024-05-02T10:00:00.0000000", timeZone: "UTC"}`: a local time and its zone.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DateTimeZone {
    pub date_time: String,
    pub time_zone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub display_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attendee {
    pub email_address: Option<EmailAddress>,
    pub status: Option<ResponseStatus>,
}

#[derive(Debug, Deserialize)]
pub struct ResponseStatus {
    pub response: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    pub email_address: Option<EmailAddress>,
}

#[derive(Debug, Deserialize)]
pub struct EmailAddress {
    pub name: Option<String>,
    pub address: Option<String>,
}
