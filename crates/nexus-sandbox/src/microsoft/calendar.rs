//! Outlook calendar: each user's events, seeded with meetings around today (with population
//! people as attendees, each with a response status), all-day events, a weekly 1:1 with no end
//! and a daily stand-up of 30 occurrences.
//!
//! - `GET /me/events` (single events and series masters; `$filter` on `subject`, `start/dateTime`,
//!   `end/dateTime`, `isAllDay`, `type`, `organizer/emailAddress/address`, `showAs`),
//!   `GET /me/events/{id}`, `POST /me/events` (201), `PATCH /me/events/{id}` (200),
//!   `DELETE /me/events/{id}` (204).
//! - `GET /me/calendarView?startDateTime=&endDateTime=` (both required, else 400
//!   `ErrorInvalidParameter`): single events and the **occurrences** of recurring series
//!   (`type: occurrence`, `seriesMasterId`) that overlap the window, by start.
//! - `GET /me/calendarView/delta?startDateTime=&endDateTime=`: as mail delta (`mail::DeltaState`).
//! - Recurrence is Graph's `patternedRecurrence`: `pattern.type` `daily`, `weekly` (`daysOfWeek`),
//!   `absoluteMonthly` (`dayOfMonth`) or `absoluteYearly` (`month`, `dayOfMonth`) with `interval`;
//!   `range.type` `endDate`, `noEnd` or `numbered`. Other pattern types are 400.
//! - Times: `start`/`end` are `{dateTime: "2024-05-02T10:00:00.0000000", timeZone}`, in UTC unless
//!   `Prefer: outlook.timezone="..."` names another zone. The sandbox knows a fixed table of
//!   Windows and IANA zone names at their **standard offsets (no daylight saving)**; an unknown
//!   zone in `Prefer` falls back to UTC, in a new event's `start`/`end` it is 400.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{OriginalUri, Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Utc, Weekday};
use serde_json::{Value, json};

use super::{
    Ctx, Need, SandboxState, admit,
    directory::{self, User},
    error::{self, GraphError, GraphResult},
    graph_base, json_body,
    mail::{self, DeltaState, Mailbox},
    odata::Options,
    seven_digits,
    subscriptions::{self, Change, Target},
};
use crate::population::PEOPLE;

const FILTERABLE: &[&str] = &[
    "subject",
    "start/dateTime",
    "end/dateTime",
    "isAllDay",
    "type",
    "organizer/emailAddress/address",
    "showAs",
];

/// Zone names and their standard offsets in minutes.
const ZONES: &[(&str, i32)] = &[
    ("UTC", 0),
    ("Etc/UTC", 0),
    ("GMT Standard Time", 0),
    ("Europe/London", 0),
    ("W. Europe Standard Time", 60),
    ("Central Europe Standard Time", 60),
    ("Romance Standard Time", 60),
    ("Europe/Berlin", 60),
    ("Europe/Paris", 60),
    ("Eastern Standard Time", -300),
    ("America/New_York", -300),
    ("Central Standard Time", -360),
    ("America/Chicago", -360),
    ("Mountain Standard Time", -420),
    ("America/Denver", -420),
    ("Pacific Standard Time", -480),
    ("America/Los_Angeles", -480),
    ("India Standard Time", 330),
    ("Asia/Kolkata", 330),
    ("Tokyo Standard Time", 540),
    ("Asia/Tokyo", 540),
    ("AUS Eastern Standard Time", 600),
    ("Australia/Sydney", 600),
];

fn zone(name: &str) -> Option<(&'static str, i32)> {
    ZONES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .copied()
}

/// The zone `Prefer: outlook.timezone="..."` asks for, UTC by default.
fn preferred_zone(headers: &HeaderMap) -> (&'static str, i32) {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix("outlook.timezone="))
        .and_then(|z| zone(z.trim_matches('"')))
        .unwrap_or(("UTC", 0))
}

/// `{dateTime, timeZone}` of an instant in a zone.
fn date_time_tz(t: DateTime<Utc>, (name, offset): (&str, i32)) -> Value {
    let local = t.naive_utc() + Duration::minutes(offset as i64);
    json!({ "dateTime": seven_digits(local), "timeZone": name })
}

/// Reads a `{dateTime, timeZone}` into an instant.
fn parse_date_time_tz(v: &Value) -> GraphResult<(DateTime<Utc>, &'static str)> {
    let raw = v
        .get("dateTime")
        .and_then(Value::as_str)
        .ok_or_else(|| error::bad_request("dateTime is required."))?;
    let zone_name = v.get("timeZone").and_then(Value::as_str).unwrap_or("UTC");
    let (name, offset) = zone(zone_name).ok_or_else(|| {
        GraphError::new(StatusCode::BAD_REQUEST, "TimeZoneNotSupportedException", format!("A valid TimeZone value must be specified. The following TimeZone value is not supported: '{zone_name}'."))
    })?;
    let local = NaiveDateTime::parse_from_str(raw.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f")
        .map_err(|_| {
            error::bad_request(format!(
                "Cannot convert the literal '{raw}' to the expected type 'Edm.DateTimeOffset'."
            ))
        })?;
    Ok((local.and_utc() - Duration::minutes(offset as i64), name))
}

/// A query-string date-time (`startDateTime`): with an offset, or UTC without one.
fn parse_query_time(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
        .or_else(|| {
            NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
}

/// One stored event: its Graph properties (without `start`/`end`, rendered per request).
#[derive(Debug, Clone)]
pub struct Event {
    pub json: Value,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The zone the organizer gave (`originalStartTimeZone`), recurrence is expanded in it.
    pub zone: &'static str,
    pub changed: u64,
}

impl Event {
    fn id(&self) -> &str {
        self.json["id"].as_str().unwrap_or_default()
    }

    fn render(&self, zone: (&str, i32)) -> Value {
        let mut v = self.json.clone();
        v["start"] = date_time_tz(self.start, zone);
        v["end"] = date_time_tz(self.end, zone);
        v
    }

    /// The instances overlapping `[from, to)`: the event itself, or its series' occurrences.
    fn instances(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        zone: (&str, i32),
    ) -> Vec<(DateTime<Utc>, Value)> {
        let length = self.end - self.start;
        if self.json["recurrence"].is_null() {
            return if self.start < to && self.end > from {
                vec![(self.start, self.render(zone))]
            } else {
                Vec::new()
            };
        }
        let offset = self::zone(self.zone).map_or(0, |(_, o)| o);
        occurrences(&self.json["recurrence"], self.start, offset, to)
            .into_iter()
            .filter(|s| *s < to && *s + length > from)
            .map(|s| {
                let mut v = self.json.clone();
                v["id"] = json!(format!("{}{}", self.id(), s.format("_%Y%m%dT%H%M%S")));
                v["type"] = json!("occurrence");
                v["seriesMasterId"] = json!(self.id());
                v["recurrence"] = Value::Null;
                v["start"] = date_time_tz(s, zone);
                v["end"] = date_time_tz(s + length, zone);
                (s, v)
            })
            .collect()
    }
}

/// Checks a `patternedRecurrence`.
fn validate_recurrence(r: &Value) -> GraphResult<()> {
    let kind = r
        .pointer("/pattern/type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !["daily", "weekly", "absoluteMonthly", "absoluteYearly"].contains(&kind) {
        return Err(error::bad_request(format!(
            "Recurrence pattern type '{kind}' is not supported."
        )));
    }
    let range = r
        .pointer("/range/type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !["endDate", "noEnd", "numbered"].contains(&range) {
        return Err(error::bad_request(format!(
            "Recurrence range type '{range}' is not supported."
        )));
    }
    if r.pointer("/range/startDate")
        .and_then(Value::as_str)
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .is_none()
    {
        return Err(error::bad_request(
            "The recurrence range needs a startDate (yyyy-MM-dd).",
        ));
    }
    if kind == "weekly"
        && r.pointer("/pattern/daysOfWeek")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
    {
        return Err(error::bad_request("A weekly recurrence needs daysOfWeek."));
    }
    Ok(())
}

fn weekday(name: &str) -> Option<Weekday> {
    name.parse().ok()
}

/// The starts of a series' occurrences up to `until`, at the master's local time of day.
fn occurrences(
    r: &Value,
    first: DateTime<Utc>,
    offset_min: i32,
    until: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let offset = Duration::minutes(offset_min as i64);
    let local_time = (first.naive_utc() + offset).time();
    let Some(start) = r
        .pointer("/range/startDate")
        .and_then(Value::as_str)
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    else {
        return Vec::new();
    };
    let interval = r
        .pointer("/pattern/interval")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(1);
    let kind = r
        .pointer("/pattern/type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let range = r
        .pointer("/range/type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let end_date = (range == "endDate")
        .then(|| {
            r.pointer("/range/endDate")
                .and_then(Value::as_str)
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        })
        .flatten();
    let count = (range == "numbered").then(|| {
        r.pointer("/range/numberOfOccurrences")
            .and_then(Value::as_u64)
            .unwrap_or(1)
    });
    let days: Vec<Weekday> = r
        .pointer("/pattern/daysOfWeek")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter_map(weekday)
                .collect()
        })
        .unwrap_or_default();
    let day_of_month = r
        .pointer("/pattern/dayOfMonth")
        .and_then(Value::as_u64)
        .unwrap_or(start.day() as u64) as u32;
    let month = r
        .pointer("/pattern/month")
        .and_then(Value::as_u64)
        .unwrap_or(start.month() as u64) as u32;
    let week_start = start - Duration::days(start.weekday().num_days_from_sunday() as i64);
    let mut out = Vec::new();
    let mut found = 0u64;
    let mut day = start;
    let last_day = (until.naive_utc() + offset).date();
    while day <= last_day && day <= start + Duration::days(3660) {
        if end_date.is_some_and(|e| day > e) || count.is_some_and(|c| found >= c) {
            break;
        }
        let matches = match kind {
            "daily" => (day - start).num_days() % interval == 0,
            "weekly" => {
                days.contains(&day.weekday()) && ((day - week_start).num_days() / 7) % interval == 0
            }
            "absoluteMonthly" => {
                let months = (day.year() - start.year()) as i64 * 12 + day.month() as i64
                    - start.month() as i64;
                day.day() == day_of_month && months % interval == 0
            }
            "absoluteYearly" => {
                day.month() == month
                    && day.day() == day_of_month
                    && ((day.year() - start.year()) as i64) % interval == 0
            }
            _ => false,
        };
        if matches {
            found += 1;
            out.push(day.and_time(local_time).and_utc() - offset);
        }
        day += Duration::days(1);
    }
    out
}

fn attendee(user: &User, response: &str, at: DateTime<Utc>) -> Value {
    json!({
        "type": "required",
        "status": { "response": response, "time": if response == "none" { "0001-01-01T00:00:00Z".to_owned() } else { mail::stamp(at) } },
        "emailAddress": { "name": user.display_name, "address": user.mail },
    })
}

/// A new event's properties (without times), as Graph returns them.
#[allow(clippy::too_many_arguments)]
fn event_json(
    mailbox: &mut Mailbox,
    subject: &str,
    organizer: &User,
    attendees: Vec<Value>,
    all_day: bool,
    zone: &str,
    now: DateTime<Utc>,
    recurrence: Value,
) -> (Value, u64) {
    let id = mailbox.new_id("event");
    let changed = mailbox.bump();
    let change_key = format!("DwAAABYAAAD{changed:08}");
    let is_organizer = organizer.mail == mailbox.user.mail;
    let online = !all_day;
    let json = json!({
        "@odata.etag": format!("W/\"{change_key}\""),
        "id": id,
        "createdDateTime": format!("{}Z", seven_digits(now.naive_utc())),
        "lastModifiedDateTime": format!("{}Z", seven_digits(now.naive_utc())),
        "changeKey": change_key,
        "categories": [],
        "transactionId": Value::Null,
        "originalStartTimeZone": zone,
        "originalEndTimeZone": zone,
        "iCalUId": format!("040000008200E00074C5B7101A82E008{:0>32}", hex::encode(&id.as_bytes()[id.len().saturating_sub(16)..])),
        "reminderMinutesBeforeStart": 15,
        "isReminderOn": true,
        "hasAttachments": false,
        "subject": subject,
        "bodyPreview": "",
        "importance": "normal",
        "sensitivity": "normal",
        "isAllDay": all_day,
        "isCancelled": false,
        "isOrganizer": is_organizer,
        "responseRequested": true,
        "seriesMasterId": Value::Null,
        "showAs": if all_day { "free" } else { "busy" },
        "type": if recurrence.is_null() { "singleInstance" } else { "seriesMaster" },
        "webLink": format!("https://outlook.office365.com/owa/?itemid={id}&exvsurl=1&path=/calendar/item"),
        "onlineMeetingUrl": Value::Null,
        "isOnlineMeeting": online,
        "onlineMeetingProvider": if online { "teamsForBusiness" } else { "unknown" },
        "allowNewTimeProposals": true,
        "isDraft": false,
        "hideAttendees": false,
        "responseStatus": { "response": if is_organizer { "organizer" } else { "notResponded" }, "time": "0001-01-01T00:00:00Z" },
        "body": { "contentType": "html", "content": "" },
        "location": { "displayName": if online { "Microsoft Teams Meeting" } else { "" }, "locationType": "default", "uniqueIdType": "unknown", "address": {}, "coordinates": {} },
        "locations": [],
        "recurrence": recurrence,
        "attendees": attendees,
        "organizer": organizer.recipient(),
        "onlineMeeting": if online { json!({ "joinUrl": format!("https://teams.microsoft.com/l/meetup-join/19%3ameeting_{}%40thread.v2/0", &id[6..id.len().min(30)]) }) } else { Value::Null },
    });
    (json, changed)
}

/// The seeded calendar of a mailbox.
pub fn seed(mailbox: &mut Mailbox, anchor: DateTime<Utc>) -> Vec<Event> {
    let user = mailbox.user.clone();
    let me = user.person.unwrap_or(0);
    let responses = [
        "accepted",
        "tentativelyAccepted",
        "declined",
        "none",
        "accepted",
    ];
    let subjects = [
        "Discovery call",
        "Pipeline review",
        "Demo",
        "Contract walkthrough",
        "Customer QBR",
        "Pricing sync",
    ];
    let day = anchor
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(anchor, |t| t.and_utc());
    let mut events = Vec::new();
    for k in 0..36i64 {
        let others: Vec<User> = (0..(1 + k % 3) as usize)
            .filter_map(|j| directory::person((me * 11 + 5 + k as usize * 17 + j * 101) % PEOPLE))
            .filter(|u| u.mail != user.mail)
            .collect();
        let organizer = if k % 4 == 0 {
            others.first().cloned().unwrap_or_else(|| user.clone())
        } else {
            user.clone()
        };
        let mut attendees: Vec<Value> = others
            .iter()
            .enumerate()
            .map(|(j, o)| attendee(o, responses[(k as usize + j) % responses.len()], anchor))
            .collect();
        if organizer.mail != user.mail {
            attendees.push(attendee(&user, "accepted", anchor));
        }
        let all_day = k % 12 == 5;
        let created = anchor - Duration::days(40);
        let (json, changed) = event_json(
            mailbox,
            subjects[k as usize % subjects.len()],
            &organizer,
            attendees,
            all_day,
            "UTC",
            created,
            Value::Null,
        );
        let (start, end) = if all_day {
            let d = day + Duration::days(k - 18);
            (d, d + Duration::days(1))
        } else {
            let s = day + Duration::days(k - 18) + Duration::hours(9 + k % 8);
            (s, s + Duration::minutes(if k % 3 == 0 { 60 } else { 30 }))
        };
        events.push(Event {
            json,
            start,
            end,
            zone: "UTC",
            changed,
        });
    }
    let series = [
        (
            "Weekly 1:1",
            "weekly",
            json!({ "type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday" }),
            json!({ "type": "noEnd" }),
            10,
            30,
            "Pacific Standard Time",
        ),
        (
            "Daily stand-up",
            "daily",
            json!({ "type": "daily", "interval": 1 }),
            json!({ "type": "numbered", "numberOfOccurrences": 30 }),
            9,
            15,
            "UTC",
        ),
    ];
    for (subject, _, pattern, range, hour, minutes, zone_name) in series {
        let offset = zone(zone_name).map_or(0, |(_, o)| o);
        let first_day = (day - Duration::days(14)).date_naive();
        let mut range = range;
        range["startDate"] = json!(first_day.format("%Y-%m-%d").to_string());
        range["recurrenceTimeZone"] = json!(zone_name);
        if range.get("endDate").is_none() {
            range["endDate"] = json!("0001-01-01");
        }
        let recurrence = json!({ "pattern": pattern, "range": range });
        let local_start = first_day
            .and_hms_opt(hour, 0, 0)
            .map_or(day, |t| t.and_utc());
        let start = local_start - Duration::minutes(offset as i64);
        let colleague = directory::person((me + 1) % PEOPLE).filter(|u| u.mail != user.mail);
        let attendees = colleague
            .iter()
            .map(|c| attendee(c, "accepted", anchor))
            .collect();
        let (json, changed) = event_json(
            mailbox,
            subject,
            &user,
            attendees,
            false,
            zone_name,
            anchor - Duration::days(30),
            recurrence,
        );
        let first = occurrences(
            &json["recurrence"],
            start,
            offset,
            start + Duration::days(8),
        )
        .first()
        .copied()
        .unwrap_or(start);
        events.push(Event {
            json,
            start: first,
            end: first + Duration::minutes(minutes),
            zone: zone(zone_name).map_or("UTC", |(n, _)| n),
            changed,
        });
    }
    events
}

fn context(ctx: &Ctx, user: &User, what: &str) -> String {
    format!("{}/$metadata#users('{}')/{what}", graph_base(ctx), user.id)
}

/// `GET /me/events`.
pub async fn list(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::CalendarRead)?;
    let options = Options::parse(query.as_deref(), FILTERABLE)?;
    let zone = preferred_zone(&headers);
    let mailbox = ctx.state.microsoft.mailboxes.lock(&admitted.user);
    let mut items: Vec<Value> = mailbox
        .events
        .iter()
        .map(|e| e.render(zone))
        .filter(|e| options.matches(e))
        .collect();
    options.sort(&mut items, ("start/dateTime", false))?;
    let body = options.page(
        items,
        10,
        &context(&ctx, &mailbox.user, "events"),
        &format!("{}{}", ctx.state.origin(), uri.path()),
    );
    Ok(with_zone(admitted.json(body), zone))
}

/// Echoes the applied time zone preference, as Graph does.
fn with_zone(mut response: Response, (name, _): (&str, i32)) -> Response {
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("outlook.timezone=\"{name}\"")) {
        response.headers_mut().insert("preference-applied", v);
    }
    response
}

fn find(mailbox: &Mailbox, id: &str) -> GraphResult<usize> {
    if !mail::well_formed(id) {
        return Err(error::malformed_id());
    }
    mailbox
        .events
        .iter()
        .position(|e| e.id() == id)
        .ok_or_else(error::item_not_found)
}

/// `GET /me/events/{id}`.
pub async fn get(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::CalendarRead)?;
    let options = Options::parse(query.as_deref(), FILTERABLE)?;
    let zone = preferred_zone(&headers);
    let mailbox = ctx.state.microsoft.mailboxes.lock(&admitted.user);
    let event = &mailbox.events[find(&mailbox, &id)?];
    let mut body = options.project(event.render(zone));
    body["@odata.context"] = json!(format!(
        "{}/$entity",
        context(&ctx, &mailbox.user, "events")
    ));
    Ok(with_zone(admitted.json(body), zone))
}

/// Applies event properties from a POST or PATCH body.
fn apply(event: &mut Event, body: &Value, now: DateTime<Utc>) -> GraphResult<()> {
    let Some(fields) = body.as_object() else {
        return Err(error::bad_request(
            "The request body must be a JSON object.",
        ));
    };
    for (key, value) in fields {
        match key.as_str() {
            "start" => {
                let (t, zone) = parse_date_time_tz(value)?;
                event.start = t;
                event.zone = zone;
                event.json["originalStartTimeZone"] = json!(zone);
            }
            "end" => {
                let (t, zone) = parse_date_time_tz(value)?;
                event.end = t;
                event.json["originalEndTimeZone"] = json!(zone);
            }
            "subject"
            | "importance"
            | "sensitivity"
            | "showAs"
            | "isAllDay"
            | "isOnlineMeeting"
            | "isReminderOn"
            | "reminderMinutesBeforeStart"
            | "categories"
            | "responseRequested" => {
                event.json[key.as_str()] = value.clone();
            }
            "body" => {
                let content = value
                    .get("content")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                event.json["body"] = json!({ "contentType": value.get("contentType").and_then(Value::as_str).unwrap_or("html").to_ascii_lowercase(), "content": content });
                event.json["bodyPreview"] = json!(content.chars().take(255).collect::<String>());
            }
            "location" => {
                event.json["location"] = json!({ "displayName": value.get("displayName").cloned().unwrap_or(json!("")), "locationType": "default", "uniqueIdType": "unknown", "address": value.get("address").cloned().unwrap_or(json!({})), "coordinates": {} })
            }
            "attendees" => {
                let list = value
                    .as_array()
                    .ok_or_else(|| error::bad_request("attendees must be an array."))?;
                let attendees = list
                    .iter()
                    .map(|a| {
                        let address = a.pointer("/emailAddress/address").and_then(Value::as_str).ok_or_else(|| error::bad_request("Each attendee needs emailAddress.address."))?;
                        Ok(json!({
                            "type": a.get("type").and_then(Value::as_str).unwrap_or("required"),
                            "status": a.get("status").cloned().unwrap_or(json!({ "response": "none", "time": "0001-01-01T00:00:00Z" })),
                            "emailAddress": { "name": a.pointer("/emailAddress/name").and_then(Value::as_str).unwrap_or(address), "address": address },
                        }))
                    })
                    .collect::<GraphResult<Vec<Value>>>()?;
                event.json["attendees"] = json!(attendees);
            }
            "recurrence" => {
                if !value.is_null() {
                    validate_recurrence(value)?;
                }
                event.json["recurrence"] = value.clone();
                event.json["type"] = json!(if value.is_null() {
                    "singleInstance"
                } else {
                    "seriesMaster"
                });
            }
            "@odata.type" | "id" => {}
            other => {
                return Err(GraphError::new(
                    StatusCode::BAD_REQUEST,
                    "ErrorInvalidPropertyRequest",
                    format!("The property '{other}' does not exist or cannot be set."),
                ));
            }
        }
    }
    if event.end <= event.start {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRequest",
            "The end of the event must be after its start.",
        ));
    }
    if event.json["isAllDay"] == true {
        let midnight = |t: DateTime<Utc>| {
            let offset = zone(event.zone).map_or(0, |(_, o)| o);
            (t.naive_utc() + Duration::minutes(offset as i64)).time() == chrono::NaiveTime::MIN
        };
        if !midnight(event.start) || !midnight(event.end) {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "ErrorPropertyValidationFailure",
                "The start and end time of an all-day event must be at midnight.",
            ));
        }
    }
    event.json["lastModifiedDateTime"] = json!(format!("{}Z", seven_digits(now.naive_utc())));
    Ok(())
}

fn create_event(state: &Arc<SandboxState>, user: &str, body: &Value) -> GraphResult<Value> {
    if body.get("start").is_none() || body.get("end").is_none() {
        return Err(error::bad_request("An event needs start and end."));
    }
    let now = state.clock.now();
    let mut mailbox = state.microsoft.mailboxes.lock(user);
    let owner = mailbox.user.clone();
    let (json, changed) = event_json(
        &mut mailbox,
        "",
        &owner,
        Vec::new(),
        false,
        "UTC",
        now,
        Value::Null,
    );
    let mut event = Event {
        json,
        start: now,
        end: now,
        zone: "UTC",
        changed,
    };
    event.json["isOnlineMeeting"] = json!(false);
    event.json["onlineMeeting"] = Value::Null;
    event.json["onlineMeetingProvider"] = json!("unknown");
    event.json["location"]["displayName"] = json!("");
    apply(&mut event, body, now)?;
    let rendered = event.render(("UTC", 0));
    let id = event.id().to_owned();
    mailbox.events.push(event);
    drop(mailbox);
    subscriptions::notify(state, &owner, Target::Event, Change::Created, &id);
    Ok(rendered)
}

/// `POST /me/events`: 201 with the event.
pub async fn create(State(ctx): State<Ctx>, headers: HeaderMap, body: Bytes) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::CalendarWrite)?;
    let body = json_body(&body)?;
    let zone = preferred_zone(&headers);
    let mut event = create_event(&ctx.state, &admitted.user, &body)?;
    rerender(&mut event, zone);
    Ok(with_zone(admitted.created(event), zone))
}

/// Re-renders a UTC-rendered event's times in another zone.
fn rerender(event: &mut Value, zone: (&str, i32)) {
    for key in ["start", "end"] {
        if let Ok((t, _)) = parse_date_time_tz(&event[key]) {
            event[key] = date_time_tz(t, zone);
        }
    }
}

fn update_event(
    state: &Arc<SandboxState>,
    user: &str,
    id: &str,
    body: &Value,
) -> GraphResult<Value> {
    let now = state.clock.now();
    let mut mailbox = state.microsoft.mailboxes.lock(user);
    let index = find(&mailbox, id)?;
    let mut event = mailbox.events[index].clone();
    apply(&mut event, body, now)?;
    event.changed = mailbox.bump();
    let change_key = format!("DwAAABYAAAD{:08}", event.changed);
    event.json["changeKey"] = json!(change_key);
    event.json["@odata.etag"] = json!(format!("W/\"{change_key}\""));
    let rendered = event.render(("UTC", 0));
    mailbox.events[index] = event;
    let owner = mailbox.user.clone();
    drop(mailbox);
    subscriptions::notify(state, &owner, Target::Event, Change::Updated, id);
    Ok(rendered)
}

/// `PATCH /me/events/{id}`: 200 with the event.
pub async fn update(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::CalendarWrite)?;
    let body = json_body(&body)?;
    let zone = preferred_zone(&headers);
    let mut event = update_event(&ctx.state, &admitted.user, &id, &body)?;
    rerender(&mut event, zone);
    Ok(with_zone(admitted.json(event), zone))
}

fn delete_event(state: &Arc<SandboxState>, user: &str, id: &str) -> GraphResult<()> {
    let mut mailbox = state.microsoft.mailboxes.lock(user);
    let index = find(&mailbox, id)?;
    mailbox.events.remove(index);
    let seq = mailbox.bump();
    mailbox.removed_events.push((id.to_owned(), seq));
    let owner = mailbox.user.clone();
    drop(mailbox);
    subscriptions::notify(state, &owner, Target::Event, Change::Deleted, id);
    Ok(())
}

/// `DELETE /me/events/{id}`: 204.
pub async fn delete(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::CalendarWrite)?;
    delete_event(&ctx.state, &admitted.user, &id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The required calendar-view window.
fn window(options: &Options) -> GraphResult<(DateTime<Utc>, DateTime<Utc>)> {
    let missing = || {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.",
        )
    };
    let get = |name: &str| {
        options
            .pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let (Some(start), Some(end)) = (get("startDateTime"), get("endDateTime")) else {
        return Err(missing());
    };
    let parse = |raw: &str| {
        parse_query_time(raw).ok_or_else(|| error::bad_request(format!("The value '{raw}' of parameter 'StartDateTime' or 'EndDateTime' is not a valid date-time.")))
    };
    let (start, end) = (parse(&start)?, parse(&end)?);
    if end <= start {
        return Err(missing());
    }
    Ok((start, end))
}

fn expand(
    mailbox: &Mailbox,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    zone: (&str, i32),
    since: Option<u64>,
) -> Vec<(DateTime<Utc>, Value)> {
    let mut all: Vec<(DateTime<Utc>, Value)> = mailbox
        .events
        .iter()
        .filter(|e| since.is_none_or(|s| e.changed > s))
        .flat_map(|e| e.instances(from, to, zone))
        .collect();
    all.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| a.1["id"].as_str().cmp(&b.1["id"].as_str()))
    });
    all
}

/// `GET /me/calendarView?startDateTime=&endDateTime=`.
pub async fn view(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::CalendarRead)?;
    let options = Options::parse(query.as_deref(), FILTERABLE)?;
    let (from, to) = window(&options)?;
    let zone = preferred_zone(&headers);
    let mailbox = ctx.state.microsoft.mailboxes.lock(&admitted.user);
    let mut items: Vec<Value> = expand(&mailbox, from, to, zone, None)
        .into_iter()
        .map(|(_, v)| v)
        .filter(|v| options.matches(v))
        .collect();
    if options.orderby.is_some() {
        options.sort(&mut items, ("start/dateTime", false))?;
    }
    let body = options.page(
        items,
        10,
        &context(&ctx, &mailbox.user, "calendarView"),
        &format!("{}{}", ctx.state.origin(), uri.path()),
    );
    Ok(with_zone(admitted.json(body), zone))
}

/// `GET /me/calendarView/delta?startDateTime=&endDateTime=`.
pub async fn delta(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::CalendarRead)?;
    let options = Options::parse(query.as_deref(), &[])?;
    if options.get("$skip").is_some() {
        // Delta pages by `$skiptoken` only (Graph docs, event-delta, "Query parameters").
        return Err(error::bad_request(
            "The query parameter '$skip' is not supported with delta queries.",
        ));
    }
    let (from, to) = window(&options)?;
    let zone = preferred_zone(&headers);
    let mailbox = ctx.state.microsoft.mailboxes.lock(&admitted.user);
    let state = DeltaState::from_options(&options, mailbox.seq)?;
    let mut changes: Vec<Value> = expand(&mailbox, from, to, zone, Some(state.since))
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    if state.since > 0 {
        changes.extend(
            mailbox
                .removed_events
                .iter()
                .filter(|(_, seq)| *seq > state.since && *seq <= state.high)
                .map(|(id, _)| json!({ "@odata.type": "#microsoft.graph.event", "id": id, "@removed": { "reason": "deleted" } })),
        );
    }
    let size = mail::max_page_size(&headers, &options);
    let body = state.page(
        changes,
        size,
        &options,
        &format!("{}{}", ctx.state.origin(), uri.path()),
        &format!("{}/$metadata#Collection(event)", graph_base(&ctx)),
    );
    Ok(with_zone(admitted.json(body), zone))
}

/// `POST /_sandbox/records` for `event`: `create` (fields as `POST /me/events` takes them),
/// `update` (as PATCH), `delete`.
pub fn change_record(
    state: &Arc<SandboxState>,
    user: &str,
    op: &str,
    id: Option<&str>,
    fields: &Value,
) -> GraphResult {
    match (op, id) {
        ("create", _) => Ok((
            StatusCode::CREATED,
            axum::Json(create_event(state, user, fields)?),
        )
            .into_response()),
        ("update", Some(id)) => {
            Ok(axum::Json(update_event(state, user, id, fields)?).into_response())
        }
        ("delete", Some(id)) => {
            delete_event(state, user, id)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        ("update" | "delete", None) => Err(error::bad_request("update and delete need an id")),
        _ => Err(error::bad_request("op must be create, update or delete")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekly_and_numbered_series_expand_in_their_zone() {
        let weekly = json!({ "pattern": { "type": "weekly", "interval": 1, "daysOfWeek": ["monday", "wednesday"] }, "range": { "type": "noEnd", "startDate": "2024-05-01" } });
        let first = "2024-05-01T17:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let until = "2024-05-15T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let starts = occurrences(&weekly, first, -480, until);
        let days: Vec<String> = starts
            .iter()
            .map(|s| s.format("%m-%d %H:%M").to_string())
            .collect();
        assert_eq!(
            days,
            ["05-01 17:00", "05-06 17:00", "05-08 17:00", "05-13 17:00"]
        );
        let numbered = json!({ "pattern": { "type": "daily", "interval": 2 }, "range": { "type": "numbered", "startDate": "2024-05-01", "numberOfOccurrences": 3 } });
        assert_eq!(occurrences(&numbered, first, 0, until).len(), 3);
    }
}
