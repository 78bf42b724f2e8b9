//! Graph events ↔ the unified event. Graph's times are local `dateTime`s with a zone name
//! (Windows or IANA; UTC unless `Prefer: outlook.timezone` says otherwise), read through
//! `zones`; the zone an event was scheduled in is its `originalStartTimeZone`. All-day events
//! read as midnight UTC of their dates. Writes send the local time in the event's zone with the
//! zone's IANA name (Graph takes both kinds), or midnights for all-day events.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};

use crate::providers::{
    Provider,
    calendar::{Attendee, Event, EventPatch, EventWrite, Person, Record, Response},
};

use super::{model, zones};

fn response(status: Option<&str>) -> Response {
    match status {
        Some("accepted" | "organizer") => Response::Accepted,
        Some("tentativelyAccepted") => Response::Tentative,
        Some("declined") => Response::Declined,
        _ => Response::NeedsAction,
    }
}

fn person(address: Option<model::EmailAddress>) -> Option<Person> {
    let address = address?;
    Some(Person {
        email: address.address?,
        name: address.name,
    })
}

fn stamp(value: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// An event's start or end as an instant. All-day events read as midnight UTC of their date in
/// the zone they were scheduled in (Graph may render them in another zone on request).
fn moment(
    when: &model::DateTimeZone,
    all_day: bool,
    scheduled_in: Option<Tz>,
) -> Option<DateTime<Utc>> {
    let at = zones::instant(&when.date_time, when.time_zone.as_deref())?;
    if !all_day {
        return Some(at);
    }
    let date: NaiveDate =
        scheduled_in.map_or(at.date_naive(), |z| at.with_timezone(&z).date_naive());
    Some(date.and_time(NaiveTime::MIN).and_utc())
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

/// Maps one event; `None` for one without readable times.
pub fn record(raw: Value) -> Option<Record<Event>> {
    let event: model::Event = serde_json::from_value(raw.clone()).ok()?;
    let zone = event
        .original_start_time_zone
        .as_deref()
        .and_then(zones::zone);
    let start = moment(event.start.as_ref()?, event.is_all_day, zone)?;
    let end = moment(event.end.as_ref()?, event.is_all_day, zone)?;
    let created_at = stamp(event.created_date_time.as_deref()).unwrap_or(start);
    let updated_at = stamp(event.last_modified_date_time.as_deref()).unwrap_or(created_at);
    let data = Event {
        title: non_empty(event.subject),
        description: non_empty(event.body.and_then(|b| b.content)),
        location: non_empty(event.location.and_then(|l| l.display_name)),
        start,
        end,
        all_day: event.is_all_day,
        time_zone: zone.map(|z| z.name().to_owned()),
        attendees: event
            .attendees
            .into_iter()
            .filter_map(|a| {
                let who = person(a.email_address)?;
                Some(Attendee {
                    email: who.email,
                    name: who.name,
                    response: response(a.status.and_then(|s| s.response).as_deref()),
                })
            })
            .collect(),
        organizer: event.organizer.and_then(|o| person(o.email_address)),
        status: Some(
            if event.is_cancelled {
                "cancelled"
            } else {
                "confirmed"
            }
            .to_owned(),
        ),
        html_link: event.web_link,
    };
    Some(Record {
        provider: Provider::Outlook,
        remote_id: event.id,
        created_at,
        updated_at,
        raw: raw.into(),
        data,
    })
}

/// `{dateTime, timeZone}`: the local time in `zone` (UTC without one).
fn date_time_zone(local: NaiveDateTime, zone: Option<Tz>) -> Value {
    json!({
        "dateTime": local.format("%Y-%m-%dT%H:%M:%S").to_string(),
        "timeZone": zone.map_or("UTC", |z| z.name()),
    })
}

fn local(t: DateTime<Utc>, zone: Option<Tz>) -> NaiveDateTime {
    zone.map_or(t.naive_utc(), |z| t.with_timezone(&z).naive_local())
}

fn times(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    all_day: bool,
    zone: Option<Tz>,
) -> (Value, Value) {
    if !all_day {
        return (
            date_time_zone(local(start, zone), zone),
            date_time_zone(local(end, zone), zone),
        );
    }
    // Midnights: the start's date, and the end's (exclusive), at least a day later.
    let first: NaiveDate = local(start, zone).date();
    let local_end = local(end, zone);
    let mut last = local_end.date();
    if local_end.time() != NaiveTime::MIN {
        last += Duration::days(1);
    }
    let last = last.max(first + Duration::days(1));
    (
        date_time_zone(first.and_time(NaiveTime::MIN), zone),
        date_time_zone(last.and_time(NaiveTime::MIN), zone),
    )
}

fn attendees(list: &[String]) -> Value {
    json!(
        list.iter()
            .map(|email| json!({ "emailAddress": { "address": email }, "type": "required" }))
            .collect::<Vec<_>>()
    )
}

/// The body of `POST /me/events`.
pub fn create_body(write: &EventWrite) -> Value {
    let (start, end) = times(write.start, write.end, write.all_day, write.time_zone);
    let mut body = json!({
        "subject": write.title,
        "start": start,
        "end": end,
        "isAllDay": write.all_day,
        "attendees": attendees(&write.attendees),
    });
    if let Some(description) = &write.description {
        body["body"] = json!({ "contentType": "text", "content": description });
    }
    if let Some(location) = &write.location {
        body["location"] = json!({ "displayName": location });
    }
    body
}

/// The body of `PATCH /me/events/{id}`: the fields that change; new times (or a new zone) go
/// as both `start` and `end`, completed from `current` where the patch leaves one out.
pub fn patch_body(patch: &EventPatch, current: Option<&Event>) -> Value {
    let mut body = Map::new();
    if let Some(title) = &patch.title {
        body.insert("subject".into(), json!(title));
    }
    if let Some(description) = &patch.description {
        body.insert(
            "body".into(),
            json!({ "contentType": "text", "content": description }),
        );
    }
    if let Some(location) = &patch.location {
        body.insert("location".into(), json!({ "displayName": location }));
    }
    if let Some(list) = &patch.attendees {
        body.insert("attendees".into(), attendees(list));
    }
    if let Some(current) = current {
        let zone = patch
            .time_zone
            .or_else(|| current.time_zone.as_deref().and_then(zones::zone));
        let (start, end) = times(
            patch.start.unwrap_or(current.start),
            patch.end.unwrap_or(current.end),
            current.all_day,
            zone,
        );
        body.insert("start".into(), start);
        body.insert("end".into(), end);
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_event_reads_back_at_the_same_instant() {
        let start: DateTime<Utc> = "2027-01-15T01:30:00Z".parse().unwrap();
        let write = EventWrite {
            title: "Sync".into(),
            description: Some("Notes".into()),
            location: None,
            start,
            end: start + Duration::hours(1),
            all_day: false,
            time_zone: Some(chrono_tz::Asia::Tokyo),
            attendees: vec!["a@b.co".into()],
        };
        let mut raw = create_body(&write);
        assert_eq!(raw["start"]["dateTime"], "2027-01-15T10:30:00");
        raw["id"] = json!("AAMk1");
        raw["originalStartTimeZone"] = json!("Tokyo Standard Time");
        let event = record(raw).unwrap().data;
        assert_eq!(event.start, start);
        assert_eq!(event.time_zone.as_deref(), Some("Asia/Tokyo"));
        assert_eq!(event.description.as_deref(), Some("Notes"));
    }
}
