//! Calendar's `POST /calendar/v3/freeBusy`: the busy intervals of each calendar asked for
//! (`items[].id`: `primary`, or the address of any calendar the sandbox hosts) between `timeMin`
//! and `timeMax`, from its events that are not cancelled and not `transparent`, recurring ones
//! expanded, overlapping intervals merged and clipped to the window. A calendar the sandbox does
//! not host is answered in place, as Google does: `{"errors":[{"domain":"global","reason":
//! "notFound"}],"busy":[]}`. A query naming more than 50 calendars (Google's
//! `calendarExpansionMax` cap) is refused with 400 `tooManyCalendarsRequested`; an empty or
//! missing time range with 400 as `events.list` refuses one.

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
    routing::post,
};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{
    Access, admit,
    calendar::respond,
    error::{self, ApiError},
    events::{self, moment, rfc3339},
    hosted,
};
use crate::Ctx;

pub fn routes() -> Router<Ctx> {
    Router::new().route("/google/calendar/v3/freeBusy", post(free_busy))
}

/// The most calendars one query may name (Google's `calendarExpansionMax` cap).
const MAX_CALENDARS: usize = 50;

fn required(field: &str) -> ApiError {
    error::error(
        StatusCode::BAD_REQUEST,
        "global",
        "required",
        &format!("Missing {field} parameter."),
        Value::Null,
    )
}

fn time_field(body: &Value, field: &str) -> Result<DateTime<Utc>, ApiError> {
    let text = body[field].as_str().ok_or_else(|| required(field))?;
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            error::error(
                StatusCode::BAD_REQUEST,
                "global",
                "invalid",
                &format!("Invalid value for: {field}"),
                json!({ "locationType": "parameter", "location": field }),
            )
        })
}

/// The busy intervals of `account`'s calendar in `[from, to)`, merged and clipped.
fn busy(ctx: &Ctx, account: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Value> {
    let calendar = ctx.state.google.calendars.lock(account);
    let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = calendar
        .events
        .values()
        .map(|stored| &stored.resource)
        .filter(|e| e["status"] != "cancelled" && e["transparency"] != "transparent")
        .flat_map(|e| events::instances(e, to))
        .filter_map(|e| {
            let (start, _) = moment(&e["start"])?;
            let (end, _) = moment(&e["end"])?;
            let (start, end) = (start.with_timezone(&Utc), end.with_timezone(&Utc));
            (end > from && start < to).then(|| (start.max(from), end.min(to)))
        })
        .collect();
    spans.sort();
    let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
        .into_iter()
        .map(|(s, e)| json!({ "start": rfc3339(s), "end": rfc3339(e) }))
        .collect()
}

/// `POST /freeBusy` with `{"timeMin","timeMax","items":[{"id"}],"timeZone"?}`.
async fn free_busy(State(ctx): State<Ctx>, headers: HeaderMap, body: Bytes) -> Response {
    respond((|| {
        let account = admit(&ctx, &headers, Access::CalendarRead, 0)?.account;
        let body: Value = serde_json::from_slice(&body)
            .map_err(|e| error::bad_request(&format!("Invalid JSON payload received. {e}")))?;
        let from = time_field(&body, "timeMin")?;
        let to = time_field(&body, "timeMax")?;
        if from >= to {
            return Err(error::error(
                StatusCode::BAD_REQUEST,
                "calendar",
                "timeRangeEmpty",
                "The specified time range is empty.",
                json!({ "locationType": "parameter", "location": "timeMax" }),
            ));
        }
        let items = body["items"].as_array().cloned().unwrap_or_default();
        if items.len() > MAX_CALENDARS {
            return Err(error::error(
                StatusCode::BAD_REQUEST,
                "calendar",
                "tooManyCalendarsRequested",
                "The number of calendars requested is too large.",
                Value::Null,
            ));
        }
        let mut calendars = Map::new();
        for item in &items {
            let Some(id) = item["id"].as_str() else {
                return Err(error::error(
                    StatusCode::BAD_REQUEST,
                    "global",
                    "required",
                    "Missing items.id parameter.",
                    Value::Null,
                ));
            };
            let owner = if id == "primary" {
                Some(account.clone())
            } else {
                hosted(id).then(|| id.to_ascii_lowercase())
            };
            let entry = match owner {
                Some(owner) => json!({ "busy": busy(&ctx, &owner, from, to) }),
                None => json!({
                    "errors": [{ "domain": "global", "reason": "notFound" }],
                    "busy": [],
                }),
            };
            calendars.insert(id.to_owned(), entry);
        }
        Ok(json!({
            "kind": "calendar#freeBusy",
            "timeMin": rfc3339(from),
            "timeMax": rfc3339(to),
            "calendars": calendars,
        }))
    })())
}
