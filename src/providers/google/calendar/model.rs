//! Calendar v3's wire types: the event list page and the parts of an event the unified model
//! reads (the whole resource stays in `raw`).

use serde::Deserialize;
use serde_json::Value;

/// `GET .../events`: one page, with `nextPageToken` while more follow.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Events {
    #[serde(default)]
    pub items: Vec<Value>,
    pub next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    pub status: Option<String>,
    pub html_link: Option<String>,
    pub created: Option<String>,
    pub updated: Option<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub location: Option<String>,
    pub organizer: Option<Person>,
    pub start: Option<When>,
    pub end: Option<When>,
    #[serde(default)]
    pub attendees: Vec<Attendee>,
}

/// `start`/`end`: a `date` (all-day) or a `dateTime` with its offset, and the zone.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct When {
    pub date: Option<String>,
    pub date_time: Option<String>,
    pub time_zone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    pub email: Option<String>,
    pub display_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attendee {
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub response_status: Option<String>,
}
