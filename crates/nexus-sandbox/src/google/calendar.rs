//! Calendar v3 under `/google/calendar/v3/`: the calendar list (the account's primary calendar),
//! events (list with time bounds, text search, recurrence expansion, ordering, paging and sync
//! tokens; get, insert, patch, update, delete; a recurring event's instances) and push channels (`events/watch`,
//! `channels/stop`): empty-bodied POSTs with the `X-Goog-*` headers, `sync` first.

use std::sync::Arc;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::{DateTime, Duration, FixedOffset, Utc};
use serde_json::{Value, json};

use super::{
    Access, admit,
    error::{self, ApiError},
    events::{self, CALENDAR_ZONE, Calendar, Channel, base32hex_id, moment, rfc3339},
};
use crate::{Ctx, SandboxState};

const BASE: &str = "/google/calendar/v3";

pub fn routes() -> Router<Ctx> {
    Router::new()
        .route(&format!("{BASE}/users/me/calendarList"), get(calendar_list))
        .route(
            &format!("{BASE}/users/me/calendarList/{{calendarId}}"),
            get(calendar_list_entry),
        )
        .route(&format!("{BASE}/calendars/{{calendarId}}"), get(calendar))
        .route(
            &format!("{BASE}/calendars/{{calendarId}}/events"),
            get(list).post(insert),
        )
        .route(
            &format!("{BASE}/calendars/{{calendarId}}/events/watch"),
            post(watch),
        )
        .route(
            &format!("{BASE}/calendars/{{calendarId}}/events/{{eventId}}"),
            get(get_event).patch(patch).put(update).delete(delete),
        )
        .route(
            &format!("{BASE}/calendars/{{calendarId}}/events/{{eventId}}/instances"),
            get(instances),
        )
        .route(&format!("{BASE}/channels/stop"), post(stop))
        .merge(super::freebusy::routes())
}

type Result<T> = std::result::Result<T, ApiError>;

pub(super) fn respond(result: Result<Value>) -> Response {
    match result {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Admits the call and resolves `calendarId` (`primary` or the account's address).
fn open(ctx: &Ctx, headers: &HeaderMap, calendar: &str, access: Access) -> Result<String> {
    let account = admit(ctx, headers, access, 0)?.account;
    if calendar != "primary" && !calendar.eq_ignore_ascii_case(&account) {
        return Err(error::not_found());
    }
    Ok(account)
}

fn params(raw: Option<String>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

const DEFAULT_REMINDERS: &str = r#"[{"method":"popup","minutes":10}]"#;

fn list_entry(account: &str) -> Value {
    json!({
        "kind": "calendar#calendarListEntry",
        "etag": "\"1700000000000000\"",
        "id": account,
        "summary": account,
        "timeZone": CALENDAR_ZONE,
        "colorId": "14",
        "backgroundColor": "#9fe1e7",
        "foregroundColor": "#000000",
        "selected": true,
        "accessRole": "owner",
        "defaultReminders": serde_json::from_str::<Value>(DEFAULT_REMINDERS).unwrap_or_default(),
        "notificationSettings": { "notifications": [{ "type": "eventCreation", "method": "email" }] },
        "primary": true,
        "conferenceProperties": { "allowedConferenceSolutionTypes": ["hangoutsMeet"] },
    })
}

/// `GET /users/me/calendarList`.
async fn calendar_list(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    respond((|| {
        let account = open(&ctx, &headers, "primary", Access::CalendarRead)?;
        Ok(json!({
            "kind": "calendar#calendarList",
            "etag": "\"p33c9l6bvgsro0g\"",
            "nextSyncToken": "CPDAlvWDx70CEhpzYW5kYm94",
            "items": [list_entry(&account)],
        }))
    })())
}

/// `GET /users/me/calendarList/{calendarId}`.
async fn calendar_list_entry(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(open(&ctx, &headers, &id, Access::CalendarRead).map(|account| list_entry(&account)))
}

/// `GET /calendars/{calendarId}`.
async fn calendar(State(ctx): State<Ctx>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    respond(
        open(&ctx, &headers, &id, Access::CalendarRead).map(|account| {
            json!({
                "kind": "calendar#calendar",
                "etag": "\"1700000000000000\"",
                "id": account,
                "summary": account,
                "timeZone": CALENDAR_ZONE,
                "conferenceProperties": { "allowedConferenceSolutionTypes": ["hangoutsMeet"] },
            })
        }),
    )
}

fn time_param(params: &[(String, String)], name: &str) -> Result<Option<DateTime<Utc>>> {
    param(params, name)
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| error::bad_request("Bad Request"))
        })
        .transpose()
}

/// What a list page carries between calls: where it stopped and the change sequence it lists.
fn page_token(offset: usize, seq: u64) -> String {
    base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        format!("{offset}:{seq}"),
    )
}

fn read_page_token(token: &str) -> Option<(usize, u64)> {
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, token).ok()?;
    let (offset, seq) = std::str::from_utf8(&bytes).ok()?.split_once(':')?;
    Some((offset.parse().ok()?, seq.parse().ok()?))
}

fn start_of(event: &Value) -> Option<DateTime<FixedOffset>> {
    moment(&event["start"]).map(|(t, _)| t)
}

/// Whether an event matches `q` (summary, description, location, attendees).
fn matches_text(event: &Value, q: &str) -> bool {
    let q = q.to_lowercase();
    let mut text = String::new();
    for field in ["summary", "description", "location"] {
        text.push_str(&event[field].as_str().unwrap_or_default().to_lowercase());
        text.push(' ');
    }
    for a in event["attendees"].as_array().into_iter().flatten() {
        text.push_str(&a["email"].as_str().unwrap_or_default().to_lowercase());
        text.push(' ');
        text.push_str(&a["displayName"].as_str().unwrap_or_default().to_lowercase());
        text.push(' ');
    }
    q.split_whitespace().all(|w| text.contains(w))
}

/// What a cancelled event shows in a sync: little more than its id.
fn cancelled_view(event: &Value) -> Value {
    json!({ "kind": "calendar#event", "etag": event["etag"], "id": event["id"], "status": "cancelled" })
}

/// `GET /calendars/{calendarId}/events`.
async fn list(
    State(ctx): State<Ctx>,
    Path(calendar_id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = params(raw);
    respond((|| {
        let account = open(&ctx, &headers, &calendar_id, Access::CalendarRead)?;
        let single = param(&params, "singleEvents") == Some("true");
        let order = param(&params, "orderBy");
        match order {
            None | Some("updated") => {}
            Some("startTime") if single => {}
            Some("startTime") => {
                return Err(error::error(
                    StatusCode::BAD_REQUEST,
                    "global",
                    "badRequest",
                    "The requested ordering is not available for the particular query.",
                    Value::Null,
                ));
            }
            Some(_) => {
                return Err(error::invalid_parameter(
                    "orderBy",
                    "Invalid value for orderBy",
                ));
            }
        }
        let max = max_results(&params)?;
        let time_min = time_param(&params, "timeMin")?;
        let time_max = time_param(&params, "timeMax")?;
        let updated_min = time_param(&params, "updatedMin")?;
        let q = param(&params, "q").filter(|q| !q.trim().is_empty());
        let sync = param(&params, "syncToken");
        if sync.is_some()
            && (time_min.is_some()
                || time_max.is_some()
                || q.is_some()
                || order.is_some()
                || updated_min.is_some())
        {
            return Err(error::invalid_parameter(
                "syncToken",
                "Sync token cannot be used with other request parameters: timeMin, timeMax, q, orderBy, updatedMin.",
            ));
        }
        if let (Some(a), Some(b)) = (time_min, time_max)
            && a >= b
        {
            return Err(error::error(
                StatusCode::BAD_REQUEST,
                "calendar",
                "timeRangeEmpty",
                "The specified time range is empty.",
                json!({ "locationType": "parameter", "location": "timeMax" }),
            ));
        }
        let calendar = ctx.state.google.calendars.lock(&account);
        let since = match sync {
            Some(token) => Some(
                calendar
                    .read_sync_token(token)
                    .ok_or_else(error::full_sync_required)?,
            ),
            None => None,
        };
        let (offset, snapshot) = match param(&params, "pageToken") {
            Some(t) => read_page_token(t)
                .ok_or_else(|| error::invalid_parameter("pageToken", "Invalid page token"))?,
            None => (0, calendar.seq),
        };
        let show_deleted = since.is_some() || param(&params, "showDeleted") == Some("true");
        let horizon = time_max.unwrap_or_else(|| ctx.state.clock.now() + Duration::days(730));
        let mut items: Vec<Value> = Vec::new();
        for stored in calendar.events.values() {
            if since.is_some_and(|s| stored.seq <= s) || stored.seq > snapshot {
                continue;
            }
            let event = &stored.resource;
            if event["status"] == "cancelled" {
                if show_deleted {
                    items.push(if since.is_some() {
                        cancelled_view(event)
                    } else {
                        event.clone()
                    });
                }
                continue;
            }
            if updated_min.is_some_and(|u| {
                event["updated"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| t < u)
            }) {
                continue;
            }
            if q.is_some_and(|q| !matches_text(event, q)) {
                continue;
            }
            let expanded = if single {
                events::instances(event, horizon)
            } else {
                vec![event.clone()]
            };
            for e in expanded {
                let recurring = e["recurrence"].is_array();
                let (Some((start, _)), Some((end, _))) = (moment(&e["start"]), moment(&e["end"]))
                else {
                    continue;
                };
                if time_min.is_some_and(|t| end <= t && !recurring)
                    || time_max.is_some_and(|t| start >= t)
                {
                    continue;
                }
                items.push(e);
            }
        }
        if order == Some("updated") {
            items.sort_by(|a, b| a["updated"].as_str().cmp(&b["updated"].as_str()));
        } else {
            items.sort_by(|a, b| {
                start_of(a)
                    .cmp(&start_of(b))
                    .then(a["id"].as_str().cmp(&b["id"].as_str()))
            });
        }
        let page: Vec<Value> = items.iter().skip(offset).take(max).cloned().collect();
        let mut body = json!({
            "kind": "calendar#events",
            "etag": format!("\"p3{:014}\"", snapshot),
            "summary": account,
            "description": "",
            "updated": rfc3339(ctx.state.clock.now()),
            "timeZone": param(&params, "timeZone").unwrap_or(CALENDAR_ZONE),
            "accessRole": "owner",
            "defaultReminders": serde_json::from_str::<Value>(DEFAULT_REMINDERS).unwrap_or_default(),
            "items": page,
        });
        if offset.saturating_add(max) < items.len() {
            body["nextPageToken"] = json!(page_token(offset.saturating_add(max), snapshot));
        } else {
            body["nextSyncToken"] = json!(calendar.sync_token(snapshot));
        }
        Ok(body)
    })())
}

/// Finds an event or one instance of a recurring event (`<id>_<start>`).
fn find_event(calendar: &Calendar, id: &str) -> Option<Value> {
    if let Some(stored) = calendar.events.get(id) {
        return Some(stored.resource.clone());
    }
    let (master, _) = id.rsplit_once('_')?;
    let stored = calendar.events.get(master)?;
    let horizon = Utc::now() + Duration::days(3650);
    events::instances(&stored.resource, horizon)
        .into_iter()
        .find(|e| e["id"] == id)
}

/// `GET /calendars/{calendarId}/events/{eventId}`.
async fn get_event(
    State(ctx): State<Ctx>,
    Path((calendar_id, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        let account = open(&ctx, &headers, &calendar_id, Access::CalendarRead)?;
        let calendar = ctx.state.google.calendars.lock(&account);
        find_event(&calendar, &id).ok_or_else(error::not_found)
    })())
}

/// `GET /calendars/{calendarId}/events/{eventId}/instances`: a recurring event's occurrences
/// (an event that does not recur is its own one instance), by start, `timeMin` (inclusive, on
/// the end) and `timeMax` (exclusive, on the start), `originalStart`, `maxResults` ≤ 2500 and
/// `pageToken`, in the list shape of `events.list`. 404 for an unknown event, 410 for a cancelled
/// one (as a get of it would be).
async fn instances(
    State(ctx): State<Ctx>,
    Path((calendar_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = params(raw);
    respond((|| {
        let account = open(&ctx, &headers, &calendar_id, Access::CalendarRead)?;
        let max = max_results(&params)?;
        let time_min = time_param(&params, "timeMin")?;
        let time_max = time_param(&params, "timeMax")?;
        if let (Some(a), Some(b)) = (time_min, time_max)
            && a >= b
        {
            return Err(time_range_empty());
        }
        let original_start = time_param(&params, "originalStart")?;
        let calendar = ctx.state.google.calendars.lock(&account);
        let master = calendar
            .events
            .get(&id)
            .map(|s| s.resource.clone())
            .ok_or_else(error::not_found)?;
        if master["status"] == "cancelled" {
            return Err(error::error(
                StatusCode::GONE,
                "global",
                "deleted",
                "Resource has been deleted",
                Value::Null,
            ));
        }
        let horizon = time_max.unwrap_or_else(|| ctx.state.clock.now() + Duration::days(730));
        let items: Vec<Value> = events::instances(&master, horizon)
            .into_iter()
            .filter(|e| {
                let (Some((start, _)), Some((end, _))) = (moment(&e["start"]), moment(&e["end"]))
                else {
                    return false;
                };
                let original = moment(&e["originalStartTime"]).map_or(start, |(t, _)| t);
                time_min.is_none_or(|t| end > t)
                    && time_max.is_none_or(|t| start < t)
                    && original_start.is_none_or(|t| original == t)
            })
            .collect();
        let offset = match param(&params, "pageToken") {
            Some(t) => read_page_token(t)
                .map(|(offset, _)| offset)
                .ok_or_else(|| error::invalid_parameter("pageToken", "Invalid page token"))?,
            None => 0,
        };
        let page: Vec<Value> = items.iter().skip(offset).take(max).cloned().collect();
        let mut body = json!({
            "kind": "calendar#events",
            "etag": format!("\"p3{:014}\"", calendar.seq),
            "summary": account,
            "description": "",
            "updated": master["updated"],
            "timeZone": param(&params, "timeZone").unwrap_or(CALENDAR_ZONE),
            "accessRole": "owner",
            "defaultReminders": serde_json::from_str::<Value>(DEFAULT_REMINDERS).unwrap_or_default(),
            "items": page,
        });
        if offset.saturating_add(max) < items.len() {
            body["nextPageToken"] = json!(page_token(offset.saturating_add(max), calendar.seq));
        }
        Ok(body)
    })())
}

fn time_range_empty() -> ApiError {
    error::error(
        StatusCode::BAD_REQUEST,
        "calendar",
        "timeRangeEmpty",
        "The specified time range is empty.",
        json!({ "locationType": "parameter", "location": "timeMax" }),
    )
}

/// `maxResults`: at least 1, 250 when absent, never more than 2500 (a larger one is capped).
fn max_results(params: &[(String, String)]) -> Result<usize> {
    match param(params, "maxResults") {
        None => Ok(250),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .map(|n| n.min(2500))
            .ok_or_else(|| {
                error::invalid_parameter(
                    "maxResults",
                    &format!("Invalid value '{v}'. Values must be within the range: [1, 2500]"),
                )
            }),
    }
}

fn required(field: &str) -> ApiError {
    error::error(
        StatusCode::BAD_REQUEST,
        "global",
        "required",
        &format!("Missing {field} time."),
        Value::Null,
    )
}

/// Checks an event body's times: both present, readable, and end after start.
fn check_times(body: &Value) -> Result<()> {
    for field in ["start", "end"] {
        if body[field].is_null() {
            return Err(required(field));
        }
        if moment(&body[field]).is_none() {
            let message =
                if body[field]["dateTime"].is_string() && body[field]["timeZone"].is_null() {
                    format!("Missing time zone definition for {field} time.")
                } else {
                    format!("Invalid {field} time.")
                };
            return Err(error::error(
                StatusCode::BAD_REQUEST,
                "global",
                "invalid",
                &message,
                Value::Null,
            ));
        }
    }
    if body["attendees"]
        .as_array()
        .is_some_and(|list| list.iter().any(|a| !a["email"].is_string()))
    {
        return Err(error::error(
            StatusCode::BAD_REQUEST,
            "global",
            "required",
            "Missing attendee email.",
            Value::Null,
        ));
    }
    let (start, end) = (moment(&body["start"]), moment(&body["end"]));
    if let (Some((s, _)), Some((e, _))) = (start, end)
        && e < s
    {
        return Err(error::error(
            StatusCode::BAD_REQUEST,
            "calendar",
            "timeRangeEmpty",
            "The specified time range is empty.",
            json!({ "locationType": "parameter", "location": "end.dateTime" }),
        ));
    }
    Ok(())
}

fn parse_body(body: &Bytes) -> Result<Value> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| error::bad_request(&format!("Invalid JSON payload received. {e}")))?;
    if !value.is_object() {
        return Err(error::bad_request(
            "Invalid JSON payload received. Expected an object.",
        ));
    }
    Ok(value)
}

/// Fields the server owns, dropped from what a client writes.
fn strip_read_only(body: &mut Value) {
    if let Some(map) = body.as_object_mut() {
        for field in [
            "kind",
            "etag",
            "htmlLink",
            "created",
            "updated",
            "creator",
            "iCalUID",
            "sequence",
            "recurringEventId",
        ] {
            map.remove(field);
        }
    }
}

/// Creates an event in `account`'s calendar and notifies its channels.
pub fn create(state: &Arc<SandboxState>, account: &str, mut body: Value) -> Result<Value> {
    check_times(&body)?;
    let id = match body["id"].as_str() {
        Some(id) if !events::valid_id(id) => {
            return Err(error::invalid_parameter("id", "Invalid resource id value."));
        }
        Some(id) => id.to_owned(),
        None => base32hex_id(rand::random(), 26),
    };
    strip_read_only(&mut body);
    let now = state.clock.now();
    let event = {
        let mut calendar = state.google.calendars.lock(account);
        if calendar.events.contains_key(&id) {
            return Err(error::error(
                StatusCode::CONFLICT,
                "global",
                "duplicate",
                "The requested identifier already exists.",
                Value::Null,
            ));
        }
        calendar.insert(&id, body, now)
    };
    notify(state, account);
    Ok(event)
}

/// Patches (or, with `replace`, updates) an event and notifies the channels.
pub fn change(
    state: &Arc<SandboxState>,
    account: &str,
    id: &str,
    mut body: Value,
    replace: bool,
    if_match: Option<&str>,
) -> Result<Value> {
    strip_read_only(&mut body);
    if let Some(map) = body.as_object_mut() {
        map.remove("id");
    }
    let now = state.clock.now();
    let event = {
        let mut calendar = state.google.calendars.lock(account);
        let current = calendar
            .events
            .get(id)
            .map(|s| s.resource.clone())
            .filter(|e| e["status"] != "cancelled")
            .ok_or_else(error::not_found)?;
        if if_match.is_some_and(|tag| tag != "*" && current["etag"].as_str() != Some(tag)) {
            return Err(error::error(
                StatusCode::PRECONDITION_FAILED,
                "global",
                "conditionNotMet",
                "Precondition Failed",
                json!({ "locationType": "header", "location": "If-Match" }),
            ));
        }
        let mut merged = current.clone();
        if replace {
            for field in [
                "summary",
                "description",
                "location",
                "attendees",
                "recurrence",
                "colorId",
                "transparency",
                "visibility",
                "reminders",
            ] {
                if body.get(field).is_none() {
                    body[field] = Value::Null;
                }
            }
        }
        if let (Some(m), Some(b)) = (merged.as_object_mut(), body.as_object()) {
            for (k, v) in b {
                m.insert(k.clone(), v.clone());
            }
        }
        check_times(&merged)?;
        calendar.patch(id, body, now).ok_or_else(error::not_found)?
    };
    notify(state, account);
    Ok(event)
}

/// Cancels an event: 204, then 410 for an event already deleted.
pub fn remove(state: &Arc<SandboxState>, account: &str, id: &str) -> Result<()> {
    let now = state.clock.now();
    {
        let mut calendar = state.google.calendars.lock(account);
        match calendar.events.get(id) {
            None => return Err(error::not_found()),
            Some(s) if s.resource["status"] == "cancelled" => {
                return Err(error::error(
                    StatusCode::GONE,
                    "global",
                    "deleted",
                    "Resource has been deleted",
                    Value::Null,
                ));
            }
            Some(_) => {}
        }
        calendar.cancel(id, now);
    }
    notify(state, account);
    Ok(())
}

/// `POST /calendars/{calendarId}/events` (200 with the event, as Google answers).
async fn insert(
    State(ctx): State<Ctx>,
    Path(calendar_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond((|| {
        let account = open(&ctx, &headers, &calendar_id, Access::CalendarWrite)?;
        create(&ctx.state, &account, parse_body(&body)?)
    })())
}

fn if_match(headers: &HeaderMap) -> Option<&str> {
    headers.get("if-match").and_then(|v| v.to_str().ok())
}

/// `PATCH /calendars/{calendarId}/events/{eventId}`.
async fn patch(
    State(ctx): State<Ctx>,
    Path((calendar_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond((|| {
        let account = open(&ctx, &headers, &calendar_id, Access::CalendarWrite)?;
        change(
            &ctx.state,
            &account,
            &id,
            parse_body(&body)?,
            false,
            if_match(&headers),
        )
    })())
}

/// `PUT /calendars/{calendarId}/events/{eventId}`: a full update.
async fn update(
    State(ctx): State<Ctx>,
    Path((calendar_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond((|| {
        let account = open(&ctx, &headers, &calendar_id, Access::CalendarWrite)?;
        let body = parse_body(&body)?;
        check_times(&body)?;
        change(&ctx.state, &account, &id, body, true, if_match(&headers))
    })())
}

/// `DELETE /calendars/{calendarId}/events/{eventId}`: 204.
async fn delete(
    State(ctx): State<Ctx>,
    Path((calendar_id, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let result = open(&ctx, &headers, &calendar_id, Access::CalendarWrite)
        .and_then(|account| remove(&ctx.state, &account, &id));
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// The longest a channel lives (and the default).
const CHANNEL_DAYS: i64 = 7;

/// `POST /calendars/{calendarId}/events/watch`: opens a channel and sends its `sync` message.
async fn watch(
    State(ctx): State<Ctx>,
    Path(calendar_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond((|| {
        let account = open(&ctx, &headers, &calendar_id, Access::CalendarRead)?;
        let body = parse_body(&body)?;
        let id = body["id"]
            .as_str()
            .filter(|i| !i.is_empty() && i.len() <= 64)
            .ok_or_else(|| {
                error::error(
                    StatusCode::BAD_REQUEST,
                    "global",
                    "required",
                    "Required parameter: id",
                    Value::Null,
                )
            })?;
        if !matches!(body["type"].as_str(), Some("web_hook" | "webhook")) {
            return Err(error::bad_request(
                "Invalid channel type: only web_hook is supported",
            ));
        }
        let address = body["address"]
            .as_str()
            .filter(|a| {
                url::Url::parse(a).is_ok_and(|u| u.scheme() == "https" || u.scheme() == "http")
            })
            .ok_or_else(|| {
                error::bad_request("Invalid address: a web_hook needs an absolute URL")
            })?;
        let now = ctx.state.clock.now();
        let longest = now + Duration::days(CHANNEL_DAYS);
        // `params.ttl` (seconds) or `expiration` (epoch ms), at most a week away.
        let ttl = body["params"]["ttl"]
            .as_str()
            .and_then(|t| t.parse::<i64>().ok())
            .and_then(Duration::try_seconds)
            .and_then(|t| now.checked_add_signed(t));
        let expiration = match &body["expiration"] {
            Value::Null => ttl.unwrap_or(longest).min(longest),
            v => v
                .as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .and_then(DateTime::from_timestamp_millis)
                .ok_or_else(|| error::invalid_parameter("expiration", "Invalid expiration"))?
                .min(longest),
        };
        let resource_uri = format!(
            "{}{BASE}/calendars/{calendar_id}/events?alt=json",
            ctx.state.origin()
        );
        let channel = Channel {
            id: id.to_owned(),
            resource_id: base32hex_id(super::seed_of(&format!("{account} {id}")), 27),
            resource_uri,
            address: address.to_owned(),
            token: body["token"].as_str().map(str::to_owned),
            expiration,
            message_number: 1,
        };
        {
            let mut calendar = ctx.state.google.calendars.lock(&account);
            if calendar.channels.iter().any(|c| c.id == channel.id) {
                return Err(error::error(
                    StatusCode::BAD_REQUEST,
                    "global",
                    "channelIdNotUnique",
                    &format!("Channel id {id} not unique"),
                    Value::Null,
                ));
            }
            calendar.channels.push(channel.clone());
        }
        send_notification(&ctx.state, &channel, "sync");
        Ok(json!({
            "kind": "api#channel",
            "id": channel.id,
            "resourceId": channel.resource_id,
            "resourceUri": channel.resource_uri,
            "token": channel.token,
            "expiration": channel.expiration.timestamp_millis().to_string(),
        }))
    })())
}

/// `POST /channels/stop` with `{"id","resourceId"}`: 204.
async fn stop(State(ctx): State<Ctx>, headers: HeaderMap, body: Bytes) -> Response {
    let result = (|| {
        let account = open(&ctx, &headers, "primary", Access::CalendarRead)?;
        let body = parse_body(&body)?;
        let (id, resource) = (
            body["id"].as_str().unwrap_or_default(),
            body["resourceId"].as_str().unwrap_or_default(),
        );
        let mut calendar = ctx.state.google.calendars.lock(&account);
        let before = calendar.channels.len();
        calendar
            .channels
            .retain(|c| !(c.id == id && c.resource_id == resource));
        if calendar.channels.len() == before {
            return Err(error::error(
                StatusCode::NOT_FOUND,
                "global",
                "notFound",
                &format!("Channel '{id}' not found for project 'sandbox'"),
                Value::Null,
            ));
        }
        Ok(())
    })();
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// One notification: an empty POST with the channel's headers.
fn send_notification(state: &Arc<SandboxState>, channel: &Channel, resource_state: &str) {
    let mut headers = vec![
        ("content-length", "0".to_owned()),
        ("x-goog-channel-id", channel.id.clone()),
        ("x-goog-message-number", channel.message_number.to_string()),
        ("x-goog-resource-id", channel.resource_id.clone()),
        ("x-goog-resource-state", resource_state.to_owned()),
        ("x-goog-resource-uri", channel.resource_uri.clone()),
        (
            "x-goog-channel-expiration",
            channel
                .expiration
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string(),
        ),
    ];
    if let Some(token) = &channel.token {
        headers.push(("x-goog-channel-token", token.clone()));
    }
    state.post(channel.address.clone(), headers, String::new());
}

/// Tells every live channel of the account's calendar that its events changed (`exists`).
fn notify(state: &Arc<SandboxState>, account: &str) {
    let now = state.clock.now();
    let channels: Vec<Channel> = {
        let mut calendar = state.google.calendars.lock(account);
        calendar.channels.retain(|c| c.expiration > now);
        for c in calendar.channels.iter_mut() {
            // Message numbers grow, though not one at a time.
            c.message_number += 1 + super::mix(c.message_number) % 3;
        }
        calendar.channels.clone()
    };
    for channel in &channels {
        send_notification(state, channel, "exists");
    }
}

/// `POST /_sandbox/records` for Calendar: `op` `create` (`fields` is the event), `update`
/// (a patch of event `id`) or `delete`, each notifying the channels.
pub fn change_record(
    state: &Arc<SandboxState>,
    account: &str,
    op: &str,
    id: Option<&str>,
    fields: &Value,
) -> Response {
    let result = match (op, id) {
        ("create", _) => create(state, account, fields.clone()).map(|e| (StatusCode::CREATED, e)),
        ("update", Some(id)) => {
            change(state, account, id, fields.clone(), false, None).map(|e| (StatusCode::OK, e))
        }
        ("delete", Some(id)) => {
            remove(state, account, id).map(|()| (StatusCode::NO_CONTENT, Value::Null))
        }
        _ => Err(error::bad_request(
            "op must be create, update (with an id) or delete (with an id)",
        )),
    };
    match result {
        Ok((StatusCode::NO_CONTENT, _)) => StatusCode::NO_CONTENT.into_response(),
        Ok((status, event)) => (status, Json(event)).into_response(),
        Err(e) => e.into_response(),
    }
}
