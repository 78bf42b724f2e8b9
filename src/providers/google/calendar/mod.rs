//! Google Calendar v3 events on the primary calendar: lists, one event, insert and patch, and
//! the searches of many attendees sent together through the batch endpoint.
//!
//! A list asks `events.list` with `singleEvents=true&orderBy=startTime` (recurring series come
//! expanded, in start order), the time range as `timeMin`/`timeMax`, and the text and attendee
//! as `q` (Google's free-text search covers summary, description, location and attendees; the
//! attendee is checked again on the events it returns, since `q` also matches the address in a
//! description). `timeMin` bounds an event's **end**, so a list resumes from a position by asking
//! for events that end after the position's start, then drops those at or before the position
//! (`Gather`); `pageToken` follows when a page holds fewer than the list needs.
//!
//! `q` takes words that must all match, not alternatives, so the events of several attendees
//! cannot be one search: `attended_events` sends one search per attendee, up to fifty in one
//! `POST /batch/calendar/v3` (each counts as a request in Google's quota, so a batch is weighed
//! by the tier of its size: 5, 10, 25 or 50).

mod feed;
mod map;
mod model;

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

use super::{GoogleProvider, batch, error};

const EVENTS: &str = "/calendar/v3/calendars/primary/events";
const BATCH: &str = "/batch/calendar/v3";
/// The most `maxResults` Calendar takes.
const MAX_RESULTS: usize = 2500;
/// Searches per batch.
pub const BATCH_SIZE: usize = 50;
/// A batch's op by its size: the catalog's rate class weighs each tier as its largest size (each
/// call inside a batch counts as a request at Google). Tiers end with `BATCH_SIZE`.
const BATCH_TIERS: [(usize, &str); 4] = [
    (5, "events.batch.5"),
    (10, "events.batch.10"),
    (25, "events.batch.25"),
    (BATCH_SIZE, "events.batch.50"),
];
/// The most pages one list follows before answering with what it has.
const MAX_ROUNDS: usize = 20;

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An id as a path segment; `None` for one no Calendar id looks like.
fn segment(id: &str) -> Option<&str> {
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(id)
}

fn not_found(op: &'static str) -> ProviderError {
    ProviderError::new(
        ErrorKind::NotFound,
        Provider::GoogleCalendar,
        op,
        "no such event",
    )
}

/// `events.list` parameters for a filter from a position; `None` when the range is empty.
fn list_params(
    filter: &EventFilter,
    after: Option<&Position>,
    max_results: usize,
) -> Option<Vec<(String, String)>> {
    // Events after the position start at or after its start, so they end after a moment before.
    let resume = after.map(|p| p.at - Duration::milliseconds(1));
    let time_min = filter.time_min.max(resume);
    if let (Some(min), Some(max)) = (time_min, filter.time_max)
        && min >= max
    {
        return None;
    }
    let mut params = vec![
        ("singleEvents".to_owned(), "true".to_owned()),
        ("orderBy".to_owned(), "startTime".to_owned()),
        ("maxResults".to_owned(), max_results.to_string()),
    ];
    if let Some(min) = time_min {
        params.push(("timeMin".into(), rfc3339(min)));
    }
    if let Some(max) = filter.time_max {
        params.push(("timeMax".into(), rfc3339(max)));
    }
    let q: Vec<&str> = [filter.text.as_deref(), filter.attendee.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if !q.is_empty() {
        params.push(("q".into(), q.join(" ")));
    }
    Some(params)
}

/// Whether a returned event belongs in the list: not cancelled, and with the attendee.
fn keeps(filter: &EventFilter) -> impl Fn(&Event) -> bool + '_ {
    move |event| {
        event.status.as_deref() != Some("cancelled")
            && filter.attendee.as_deref().is_none_or(|a| event.involves(a))
    }
}

fn records(page: model::Events) -> Vec<Record<Event>> {
    page.items.into_iter().filter_map(map::record).collect()
}

impl GoogleProvider {
    /// One page of events, earliest start first, strictly after `query.after`.
    pub async fn list_events(
        &self,
        target: Target,
        query: &EventQuery,
    ) -> Result<ListPage<Event>, ProviderError> {
        let fetch = (query.limit + 1).clamp(1, MAX_RESULTS);
        let Some(params) = list_params(&query.filter, query.after.as_ref(), fetch) else {
            return Ok(ListPage::empty());
        };
        let mut gather = Gather::new(query.after.as_ref());
        let mut token: Option<String> = None;
        for _ in 0..MAX_ROUNDS {
            let mut call = Call::get("events.list", EVENTS);
            call.query = params.clone();
            if let Some(t) = &token {
                call = call.query("pageToken", t.as_str());
            }
            let reply = self.upstream.send(target, &call, error::classify).await?;
            let page: model::Events = reply.json(Provider::GoogleCalendar, call.op)?;
            token = page.next_page_token.clone();
            gather.add(records(page), keeps(&query.filter));
            if token.is_none() || gather.settled(query.limit) {
                break;
            }
        }
        Ok(gather.finish(query.limit, token.is_some()))
    }

    /// Each address's first `limit` events: one search per address, fifty to a batch call,
    /// with further batches only for addresses whose first page did not settle.
    pub async fn attended_events(
        &self,
        target: Target,
        emails: &[String],
        limit: usize,
    ) -> Result<Vec<ListPage<Event>>, ProviderError> {
        let fetch = (limit + 1).clamp(1, MAX_RESULTS);
        let filters: Vec<EventFilter> = emails
            .iter()
            .map(|e| EventFilter {
                attendee: Some(e.clone()),
                ..EventFilter::default()
            })
            .collect();
        let mut gathers: Vec<Gather> = emails.iter().map(|_| Gather::new(None)).collect();
        let mut tokens: Vec<Option<String>> = vec![None; emails.len()];
        let mut open: Vec<usize> = (0..emails.len()).collect();
        for _ in 0..MAX_ROUNDS {
            if open.is_empty() {
                break;
            }
            for chunk in open.chunks(BATCH_SIZE) {
                let paths: Vec<String> = chunk
                    .iter()
                    .map(|&i| {
                        let mut params = list_params(&filters[i], None, fetch).unwrap_or_default();
                        if let Some(t) = &tokens[i] {
                            params.push(("pageToken".into(), t.clone()));
                        }
                        let query = url::form_urlencoded::Serializer::new(String::new())
                            .extend_pairs(params)
                            .finish();
                        format!("{EVENTS}?{query}")
                    })
                    .collect();
                let pages = self.calendar_batch(target, &paths).await?;
                for (&i, page) in chunk.iter().zip(pages) {
                    tokens[i] = page.next_page_token.clone();
                    gathers[i].add(records(page), keeps(&filters[i]));
                }
            }
            open.retain(|&i| tokens[i].is_some() && !gathers[i].settled(limit));
        }
        Ok(gathers
            .into_iter()
            .zip(tokens)
            .map(|(g, t)| g.finish(limit, t.is_some()))
            .collect())
    }

    /// Sends list calls (paths with their queries) as one batch; each answer in order. A single
    /// call goes on its own.
    async fn calendar_batch(
        &self,
        target: Target,
        paths: &[String],
    ) -> Result<Vec<model::Events>, ProviderError> {
        if let [path] = paths {
            let (path, query) = path.split_once('?').unwrap_or((path, ""));
            let mut call = Call::get("events.list", path);
            call.query = url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
            let reply = self.upstream.send(target, &call, error::classify).await?;
            return Ok(vec![reply.json(Provider::GoogleCalendar, call.op)?]);
        }
        let op = BATCH_TIERS
            .iter()
            .find(|(size, _)| paths.len() <= *size)
            .map_or(BATCH_TIERS[BATCH_TIERS.len() - 1].1, |(_, op)| op);
        let call = batch::call(op, BATCH, paths);
        let reply = self.upstream.send(target, &call, error::classify).await?;
        batch::answers(&reply, paths.len())
            .unwrap_or_else(|| vec![None; paths.len()])
            .into_iter()
            .map(|inner| {
                let inner = inner.ok_or_else(|| {
                    ProviderError::new(
                        ErrorKind::Upstream,
                        Provider::GoogleCalendar,
                        op,
                        "a batch answer lacks a part",
                    )
                })?;
                match batch::part_error(Provider::GoogleCalendar, op, &inner) {
                    None => inner.json(Provider::GoogleCalendar, op),
                    Some(error) => Err(error),
                }
            })
            .collect()
    }

    /// One event by id; `None` when the calendar has none (or it was deleted).
    pub async fn get_event(
        &self,
        target: Target,
        id: &str,
    ) -> Result<Option<Record<Event>>, ProviderError> {
        let Some(id) = segment(id) else {
            return Ok(None);
        };
        let call = Call::get("events.get", format!("{EVENTS}/{id}"));
        let reply = match self.upstream.send(target, &call, error::classify).await {
            Ok(reply) => reply,
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let raw: serde_json::Value = reply.json(Provider::GoogleCalendar, call.op)?;
        Ok(map::record(raw).filter(|r| r.data.status.as_deref() != Some("cancelled")))
    }

    /// Events by id: `events.get` calls through the batch endpoint, `BATCH_SIZE` to a batch
    /// (weighed by the tier of its size, as searches are); ids of no event or of a cancelled
    /// one are left out.
    pub async fn get_event_many(
        &self,
        target: Target,
        ids: &[String],
    ) -> Result<Vec<Record<Event>>, ProviderError> {
        let mut paths: Vec<String> = ids
            .iter()
            .filter_map(|id| segment(id))
            .map(|id| format!("{EVENTS}/{id}"))
            .collect();
        paths.sort();
        paths.dedup();
        let mut found = Vec::with_capacity(paths.len());
        for chunk in paths.chunks(BATCH_SIZE) {
            let op = BATCH_TIERS
                .iter()
                .find(|(size, _)| chunk.len() <= *size)
                .map_or(BATCH_TIERS[BATCH_TIERS.len() - 1].1, |(_, op)| op);
            let call = batch::call(op, BATCH, chunk);
            let reply = self.upstream.send(target, &call, batch::classify).await?;
            let answers = batch::answers(&reply, chunk.len()).ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::Upstream,
                    Provider::GoogleCalendar,
                    op,
                    "an unreadable batch answer",
                )
            })?;
            for inner in answers {
                let inner = inner.ok_or_else(|| {
                    ProviderError::new(
                        ErrorKind::Upstream,
                        Provider::GoogleCalendar,
                        op,
                        "a batch answer lacks a part",
                    )
                })?;
                match batch::part_error(Provider::GoogleCalendar, "events.get", &inner) {
                    Some(e) if e.kind == ErrorKind::NotFound => continue,
                    Some(e) => return Err(e),
                    None => {}
                }
                let raw: serde_json::Value = inner.json(Provider::GoogleCalendar, "events.get")?;
                found.extend(
                    map::record(raw).filter(|r| r.data.status.as_deref() != Some("cancelled")),
                );
            }
        }
        Ok(found)
    }

    pub async fn create_event(
        &self,
        target: Target,
        write: &EventWrite,
    ) -> Result<Record<Event>, ProviderError> {
        let call = Call::write(
            "events.insert",
            Method::POST,
            EVENTS,
            map::insert_body(write),
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
        let op = "events.patch";
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
        let raw: serde_json::Value = reply.json(Provider::GoogleCalendar, call.op)?;
        map::record(raw).ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Upstream,
                Provider::GoogleCalendar,
                call.op,
                "the event came back without its times",
            )
        })
    }
}
