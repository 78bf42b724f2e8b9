//! The calendar records: the unified event both Google Calendar and Outlook map to, what a
//! list asks of an adapter (filters, a keyset position, a limit), and what a write sends.
//!
//! Lists run earliest start first, ties broken by the provider's id. Both providers filter a
//! time range by overlap (an event's end after `timeMin`, its start before `timeMax`), so an
//! adapter resumes from a position by asking for events that end after its start, and drops
//! those at or before the position itself (`Gather`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ListPage, Order, Position, Record, Sorted};

/// A calendar event, in UTC instants; `time_zone` is the IANA zone it was scheduled in.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Event {
    pub title: Option<String>,
    pub description: Option<String>,
    pub location: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// All-day events start and end at midnight UTC of their dates (the end exclusive).
    pub all_day: bool,
    pub time_zone: Option<String>,
    pub attendees: Vec<Attendee>,
    pub organizer: Option<Person>,
    pub status: Option<String>,
    pub html_link: Option<String>,
}

impl Event {
    /// Whether `email` is among the attendees or is the organizer (case-insensitive).
    pub fn involves(&self, email: &str) -> bool {
        self.attendees
            .iter()
            .map(|a| a.email.as_str())
            .chain(self.organizer.iter().map(|o| o.email.as_str()))
            .any(|e| e.eq_ignore_ascii_case(email))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Response {
    #[default]
    NeedsAction,
    Accepted,
    Tentative,
    Declined,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attendee {
    pub email: String,
    pub name: Option<String>,
    pub response: Response,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Person {
    pub email: String,
    pub name: Option<String>,
}

/// Events run earliest start first.
impl Sorted for Event {
    const ORDER: Order = Order::OldestFirst;

    fn key(record: &Record<Self>) -> DateTime<Utc> {
        record.data.start
    }
}

/// Filters both calendars apply at the source (Outlook's attendee filter excepted: Graph cannot
/// filter events on attendees, so its adapter checks them on the events the window returns).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct EventFilter {
    /// Events that end after this instant.
    pub time_min: Option<DateTime<Utc>>,
    /// Events that start before this instant.
    pub time_max: Option<DateTime<Utc>>,
    pub attendee: Option<String>,
    pub text: Option<String>,
}

/// One page of events, asked of one provider.
#[derive(Debug, Clone)]
pub struct EventQuery {
    pub filter: EventFilter,
    /// Events strictly after this position (later, or as early with a greater id).
    pub after: Option<Position>,
    pub limit: usize,
}

/// A new event. Times are instants; `time_zone` (IANA) is the zone it is scheduled in.
#[derive(Debug, Clone)]
pub struct EventWrite {
    pub title: String,
    pub description: Option<String>,
    pub location: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub all_day: bool,
    pub time_zone: Option<chrono_tz::Tz>,
    pub attendees: Vec<String>,
}

/// Changes to an event: `None` leaves a field as it is; `attendees` replaces the list whole.
#[derive(Debug, Clone, Default)]
pub struct EventPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub location: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub time_zone: Option<chrono_tz::Tz>,
    pub attendees: Option<Vec<String>>,
}

/// Collects a provider's events, in its start order, into one exact page: only events after the
/// position that pass `keep`, and only as many as are known to come first. The provider orders
/// by start alone, so the events of one start are sorted here by id, and the page may end only
/// where every event not yet fetched (starting at or after the last fetched start) comes later.
pub struct Gather<'a> {
    after: Option<&'a Position>,
    records: Vec<Record<Event>>,
    /// The latest start fetched so far.
    reached: Option<DateTime<Utc>>,
}

impl<'a> Gather<'a> {
    pub fn new(after: Option<&'a Position>) -> Self {
        Self {
            after,
            records: Vec::new(),
            reached: None,
        }
    }

    /// Adds one provider page (in start order), keeping the events `keep` accepts.
    pub fn add(&mut self, page: Vec<Record<Event>>, keep: impl Fn(&Event) -> bool) {
        for record in page {
            self.reached = Some(
                self.reached
                    .map_or(record.data.start, |r| r.max(record.data.start)),
            );
            if self.after.is_none_or(|p| p.precedes(&record)) && keep(&record.data) {
                self.records.push(record);
            }
        }
        self.records
            .sort_by(|a, b| Position::compare(Order::OldestFirst, &a.position(), &b.position()));
    }

    /// Whether the first `limit` events are settled: `limit` are in hand and the last of them
    /// starts before anything not yet fetched can.
    pub fn settled(&self, limit: usize) -> bool {
        if limit == 0 {
            return true;
        }
        match (self.records.get(limit - 1), self.reached) {
            (Some(last), Some(reached)) => last.data.start < reached,
            _ => false,
        }
    }

    /// The page: the first `limit` events, and whether the provider has more (`upstream_more`:
    /// it has pages not fetched).
    pub fn finish(mut self, limit: usize, upstream_more: bool) -> ListPage<Event> {
        let more = self.records.len() > limit || upstream_more;
        self.records.truncate(limit);
        ListPage {
            records: self.records,
            more,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Provider;

    fn event(id: &str, start: &str) -> Record<Event> {
        let start: DateTime<Utc> = start.parse().unwrap();
        Record {
            provider: Provider::GoogleCalendar,
            remote_id: id.into(),
            created_at: start,
            updated_at: start,
            raw: Default::default(),
            data: Event {
                start,
                end: start + chrono::Duration::hours(1),
                ..Event::default()
            },
        }
    }

    #[test]
    fn a_page_never_ends_inside_events_of_one_start_still_arriving() {
        let after = event("b", "2026-01-01T09:00:00Z").position();
        let mut gather = Gather::new(Some(&after));
        gather.add(
            vec![
                event("a", "2026-01-01T09:00:00Z"),
                event("b", "2026-01-01T09:00:00Z"),
                event("d", "2026-01-01T10:00:00Z"),
                event("c", "2026-01-01T10:00:00Z"),
            ],
            |_| true,
        );
        // Two in hand after the position, both at 10:00, the latest fetched: not settled for 1.
        assert!(!gather.settled(1));
        gather.add(vec![event("e", "2026-01-01T11:00:00Z")], |_| true);
        assert!(gather.settled(2));
        let page = gather.finish(2, true);
        let ids: Vec<&str> = page.records.iter().map(|r| r.remote_id.as_str()).collect();
        assert_eq!(ids, ["c", "d"]);
        assert!(page.more);
    }
}
