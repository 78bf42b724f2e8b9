//! Outlook calendar through Graph: the calendar view, one event, create and patch.
//!
//! Lists read `GET /me/calendarView?startDateTime&endDateTime` — single events and the
//! occurrences of series, overlapping the window — ordered by `$orderby=start/dateTime`, the
//! text pushed down as `$filter=contains(subject,'…')`, behind the always-true
//! `start/dateTime ge '1900-01-01T00:00:00'` (Graph refuses a `$filter` beside `$orderby` unless
//! it opens with the sorted property: 400 `InefficientFilter`). The view needs both ends: without a
//! `timeMin` it starts at the Unix epoch, without a `timeMax` it reaches `HORIZON_DAYS` ahead
//! (series without an end would be endless). As with Google, the window bounds an event's end,
//! so a list resumes from a position by starting the window just before it and dropping what
//! lies at or before it (`Gather`); `@odata.nextLink` is followed when a page holds too few.
//!
//! Graph cannot filter events on attendees (neither `$filter` nor `$search` reach them), so the
//! attendee is checked on the events the window returns, with larger pages; `attended_events`
//! reads one window for many addresses at once and splits it by attendee.

mod map;
mod model;
mod zones;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use http::Method;

use crate::{
    providers::{
        Provider,
        calendar::{
            Event, EventFilter, EventPatch, EventQuery, EventWrite, Gather, ListPage, Position,
            Record,
        },
    },
    upstream::{Call, ErrorKind, ProviderError, Target},
};

use super::{MicrosoftProvider, error};

const VIEW: &str = "/v1.0/me/calendarView";
const EVENTS: &str = "/v1.0/me/events";
/// How far ahead a list without `timeMax` reaches.
pub const HORIZON_DAYS: i64 = 730;
/// The most `$top` Graph takes.
const MAX_TOP: usize = 1000;
/// The page size when the attendee is checked here rather than by Graph.
const SCAN_TOP: usize = 250;
/// The most pages one list follows before answering with what it has.
const MAX_ROUNDS: usize = 20;

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An id as a path segment; `None` for one no Graph id looks like.
fn segment(id: &str) -> Option<&str> {
    (!id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '=')))
    .then_some(id)
}

fn not_found(op: &'static str) -> ProviderError {
    ProviderError::new(ErrorKind::NotFound, Provider::Outlook, op, "no such event")
}

/// The calendar view's parameters for a filter from a position; `None` when the window is empty.
fn view_params(
    filter: &EventFilter,
    after: Option<&Position>,
    top: usize,
) -> Option<Vec<(String, String)>> {
    let resume = after.map(|p| p.at - Duration::milliseconds(1));
    let start = filter.time_min.max(resume).unwrap_or(DateTime::UNIX_EPOCH);
    let end = filter
        .time_max
        .unwrap_or_else(|| Utc::now() + Duration::days(HORIZON_DAYS));
    if start >= end {
        return None;
    }
    let mut params = vec![
        ("startDateTime".to_owned(), rfc3339(start)),
        ("endDateTime".to_owned(), rfc3339(end)),
        ("$orderby".to_owned(), "start/dateTime".to_owned()),
        ("$top".to_owned(), top.to_string()),
    ];
    if let Some(text) = filter
        .text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        params.push((
            "$filter".into(),
            format!(
                "start/dateTime ge '1900-01-01T00:00:00' and contains(subject,'{}')",
                text.replace('\'', "''")
            ),
        ));
    }
    Some(params)
}

/// The call `@odata.nextLink` names: its path from `/v1.0/` on, with its query.
fn next_call(op: &'static str, link: &str) -> Option<Call> {
    let url = url::Url::parse(link).ok()?;
    let at = url.path().find("/v1.0/")?;
    let mut call = Call::get(op, &url.path()[at..]);
    call.query = url.query_pairs().into_owned().collect();
    Some(call)
}

fn keeps(filter: &EventFilter) -> impl Fn(&Event) -> bool + '_ {
    move |event| {
        event.status.as_deref() != Some("cancelled")
            && filter.attendee.as_deref().is_none_or(|a| event.involves(a))
    }
}

impl MicrosoftProvider {
    /// Reads one page of the view: its events and the link to the next.
    async fn view_page(
        &self,
        target: Target,
        call: &Call,
    ) -> Result<(Vec<Record<Event>>, Option<String>), ProviderError> {
        let reply = self.upstream.send(target, call, error::classify).await?;
        let page: model::Page = reply.json(Provider::Outlook, call.op)?;
        let records = page.value.into_iter().filter_map(map::record).collect();
        Ok((records, page.next_link))
    }

    /// One page of events, earliest start first, strictly after `query.after`.
    pub async fn list_events(
        &self,
        target: Target,
        query: &EventQuery,
    ) -> Result<ListPage<Event>, ProviderError> {
        let op = "calendarView";
        let top = if query.filter.attendee.is_some() {
            SCAN_TOP.max(query.limit + 1)
        } else {
            query.limit + 1
        }
        .clamp(1, MAX_TOP);
        let Some(params) = view_params(&query.filter, query.after.as_ref(), top) else {
            return Ok(ListPage::empty());
        };
        let mut call = Call::get(op, VIEW);
        call.query = params;
        let mut gather = Gather::new(query.after.as_ref());
        let mut next = None;
        for _ in 0..MAX_ROUNDS {
            let (records, link) = self.view_page(target, &call).await?;
            gather.add(records, keeps(&query.filter));
            next = link;
            let Some(following) = next.as_deref().and_then(|l| next_call(op, l)) else {
                break;
            };
            if gather.settled(query.limit) {
                break;
            }
            call = following;
        }
        Ok(gather.finish(query.limit, next.is_some()))
    }

    /// Each address's first `limit` events, from one reading of the whole view (up to the
    /// horizon) split by attendee; pages follow until every address has its first `limit`.
    pub async fn attended_events(
        &self,
        target: Target,
        emails: &[String],
        limit: usize,
    ) -> Result<Vec<ListPage<Event>>, ProviderError> {
        let op = "calendarView";
        let Some(params) = view_params(&EventFilter::default(), None, MAX_TOP) else {
            return Ok(emails.iter().map(|_| ListPage::empty()).collect());
        };
        let mut call = Call::get(op, VIEW);
        call.query = params;
        let mut gathers: Vec<Gather> = emails.iter().map(|_| Gather::new(None)).collect();
        let mut next = None;
        for _ in 0..MAX_ROUNDS {
            let (records, link) = self.view_page(target, &call).await?;
            for (email, gather) in emails.iter().zip(gathers.iter_mut()) {
                let theirs: Vec<Record<Event>> = records
                    .iter()
                    .filter(|r| r.data.involves(email))
                    .cloned()
                    .collect();
                gather.add(theirs, |e| e.status.as_deref() != Some("cancelled"));
            }
            next = link;
            let Some(following) = next.as_deref().and_then(|l| next_call(op, l)) else {
                break;
            };
            if gathers.iter().all(|g| g.settled(limit)) {
                break;
            }
            call = following;
        }
        Ok(gathers
            .into_iter()
            .map(|g| g.finish(limit, next.is_some()))
            .collect())
    }

    /// One event by id; `None` when the calendar has none.
    pub async fn get_event(
        &self,
        target: Target,
        id: &str,
    ) -> Result<Option<Record<Event>>, ProviderError> {
        let Some(id) = segment(id) else {
            return Ok(None);
        };
        let call = Call::get("event.get", format!("{EVENTS}/{id}"));
        match self.upstream.send(target, &call, error::classify).await {
            Ok(reply) => {
                let raw: serde_json::Value = reply.json(Provider::Outlook, call.op)?;
                Ok(map::record(raw))
            }
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn create_event(
        &self,
        target: Target,
        write: &EventWrite,
    ) -> Result<Record<Event>, ProviderError> {
        let call = Call::write(
            "event.create",
            Method::POST,
            EVENTS,
            map::create_body(write),
        );
        self.written(target, call).await
    }

    /// Patches an event; new times are sent whole, completed from the event as it stands.
    pub async fn update_event(
        &self,
        target: Target,
        id: &str,
        patch: &EventPatch,
    ) -> Result<Record<Event>, ProviderError> {
        let op = "event.update";
        let Some(id) = segment(id) else {
            return Err(not_found(op));
        };
        let current = if patch.start.is_some() || patch.end.is_some() || patch.time_zone.is_some() {
            let current = self
                .get_event(target, id)
                .await?
                .ok_or_else(|| not_found(op))?;
            Some(current.data)
        } else {
            None
        };
        let body = map::patch_body(patch, current.as_ref());
        let call = Call::write(op, Method::PATCH, format!("{EVENTS}/{id}"), body);
        self.written(target, call).await
    }

    async fn written(&self, target: Target, call: Call) -> Result<Record<Event>, ProviderError> {
        let reply = self.upstream.send(target, &call, error::classify).await?;
        let raw: serde_json::Value = reply.json(Provider::Outlook, call.op)?;
        map::record(raw).ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Upstream,
                Provider::Outlook,
                call.op,
                "the event came back without its times",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links_keep_their_path_from_the_version_on() {
        let call = next_call(
            "calendarView",
            "http://127.0.0.1:9/microsoft/v1.0/me/calendarView?startDateTime=a&%24skip=10",
        )
        .unwrap();
        assert_eq!(call.path, "/v1.0/me/calendarView");
        assert!(call.query.contains(&("$skip".to_owned(), "10".to_owned())));
    }
}
