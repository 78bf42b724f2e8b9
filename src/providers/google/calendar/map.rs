//! Calendar v3 events ↔ the unified event. Timed events carry an RFC 3339 `dateTime` with its
//! offset (read as an instant) and the zone they were scheduled in; all-day events carry
//! `date`s, read as midnight UTC, the end exclusive. Writes send the local time in the event's
//! zone with that zone's offset, or dates for all-day events.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};

use crate::providers::{
    Provider,
    calendar::{Attendee, Event, EventPatch, EventWrite, Person, Record, Response},
};

use super::model;

fn instant(value: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// An event's start or end as an instant, and whether it is a date (all-day).
fn moment(when: &model::When) -> Option<(DateTime<Utc>, bool)> {
    if let Some(date) = &when.date {
        let day = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
        return Some((day.and_time(NaiveTime::MIN).and_utc(), true));
    }
    instant(when.date_time.as_deref()).map(|t| (t, false))
}

fn response(status: Option<&str>) -> Response {
    match status {
        Some("accepted") => Response::Accepted,
        Some("tentative") => Response::Tentative,
        Some("declined") => Response::Declined,
        _ => Response::NeedsAction,
    }
}

/// Maps one event; `None` for one without times (a cancelled event shows little else).
pub fn record(raw: Value) -> Option<Record<Event>> {
    let event: model::Event = serde_json::from_value(raw.clone()).ok()?;
    let (start, all_day) = moment(event.start.as_ref()?)?;
    let (end, _) = moment(event.end.as_ref()?)?;
    let created_at = instant(event.created.as_deref()).unwrap_or(start);
    let updated_at = instant(event.updated.as_deref()).unwrap_or(created_at);
    let data = Event {
        title: event.summary,
        description: event.description,
        location: event.location,
        start,
        end,
        all_day,
        time_zone: event.start.and_then(|w| w.time_zone),
        attendees: event
            .attendees
            .into_iter()
            .filter_map(|a| {
                Some(Attendee {
                    email: a.email?,
                    name: a.display_name,
                    response: response(a.response_status.as_deref()),
                })
            })
            .collect(),
        organizer: event.organizer.and_then(|o| {
            Some(Person {
                email: o.email?,
                name: o.display_name,
            })
        }),
        status: event.status,
        html_link: event.html_link,
    };
    Some(Record {
        provider: Provider::GoogleCalendar,
        remote_id: event.id,
        created_at,
        updated_at,
        raw: raw.into(),
        data,
    })
}

/// A timed `start`/`end`: the local time in `zone` with its offset, and the zone's name.
fn timed(t: DateTime<Utc>, zone: Option<Tz>) -> Value {
    match zone {
        Some(zone) => json!({
            "dateTime": t.with_timezone(&zone).to_rfc3339(),
            "timeZone": zone.name(),
        }),
        None => json!({ "dateTime": t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true) }),
    }
}

/// The local date of an instant in `zone` (UTC without one).
fn local_date(t: DateTime<Utc>, zone: Option<Tz>) -> NaiveDate {
    zone.map_or(t.date_naive(), |z| t.with_timezone(&z).date_naive())
}

/// All-day `start`/`end` dates: the start's date, and the end's (exclusive, so a day after a
/// time inside the last day), at least a day later.
fn dates(start: DateTime<Utc>, end: DateTime<Utc>, zone: Option<Tz>) -> (Value, Value) {
    let first = local_date(start, zone);
    let local_end = zone.map_or(end.naive_utc(), |z| end.with_timezone(&z).naive_local());
    let mut last = local_end.date();
    if local_end.time() != NaiveTime::MIN {
        last += Duration::days(1);
    }
    let last = last.max(first + Duration::days(1));
    let with_zone = |date: NaiveDate| match zone {
        Some(z) => json!({ "date": date.to_string(), "timeZone": z.name() }),
        None => json!({ "date": date.to_string() }),
    };
    (with_zone(first), with_zone(last))
}

fn times(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    all_day: bool,
    zone: Option<Tz>,
) -> (Value, Value) {
    if all_day {
        dates(start, end, zone)
    } else {
        (timed(start, zone), timed(end, zone))
    }
}

fn attendees(list: &[String]) -> Value {
    json!(
        list.iter()
            .map(|email| json!({ "email": email }))
            .collect::<Vec<_>>()
    )
}

/// The body of `events.insert`.
pub fn insert_body(write: &EventWrite) -> Value {
    let (start, end) = times(write.start, write.end, write.all_day, write.time_zone);
    let mut body = json!({
        "summary": write.title,
        "start": start,
        "end": end,
        "attendees": attendees(&write.attendees),
    });
    if let Some(description) = &write.description {
        body["description"] = json!(description);
    }
    if let Some(location) = &write.location {
        body["location"] = json!(location);
    }
    body
}

/// The body of `events.patch`: the fields that change. New times (or a new zone) are sent as
/// both `start` and `end`, filled in from `current` (the event as it stands) where the patch
/// leaves one out.
pub fn patch_body(patch: &EventPatch, current: Option<&Event>) -> Value {
    let mut body = Map::new();
    if let Some(title) = &patch.title {
        body.insert("summary".into(), json!(title));
    }
    if let Some(description) = &patch.description {
        body.insert("description".into(), json!(description));
    }
    if let Some(location) = &patch.location {
        body.insert("location".into(), json!(location));
    }
    if let Some(list) = &patch.attendees {
        body.insert("attendees".into(), attendees(list));
    }
    if let Some(current) = current {
        let zone = patch
            .time_zone
            .or_else(|| current.time_zone.as_deref().and_then(|z| z.parse().ok()));
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
    fn timed_events_keep_their_zone_and_instant() {
        let start: DateTime<Utc> = "2027-01-15T15:00:00Z".parse().unwrap();
        let write = EventWrite {
            title: "Review".into(),
            description: None,
            location: None,
            start,
            end: start + Duration::minutes(30),
            all_day: false,
            time_zone: Some(chrono_tz::America::New_York),
            attendees: vec!["a@b.co".into()],
        };
        let body = insert_body(&write);
        assert_eq!(body["start"]["dateTime"], "2027-01-15T10:00:00-05:00");
        assert_eq!(body["start"]["timeZone"], "America/New_York");
        let mut raw = body.clone();
        raw["id"] = json!("abc123");
        let event = record(raw).unwrap().data;
        assert_eq!(event.start, start);
        assert_eq!(event.time_zone.as_deref(), Some("America/New_York"));
        assert_eq!(event.attendees[0].response, Response::NeedsAction);
    }

    #[test]
    fn all_day_events_are_dates_with_an_exclusive_end() {
        let start: DateTime<Utc> = "2027-01-15T00:00:00Z".parse().unwrap();
        let (s, e) = times(start, start + Duration::hours(5), true, None);
        assert_eq!(
            (s["date"].as_str(), e["date"].as_str()),
            (Some("2027-01-15"), Some("2027-01-16"))
        );
        let (_, e) = times(start, start + Duration::days(2), true, None);
        assert_eq!(e["date"], "2027-01-17");
    }
}
