//! When each call reached the sandbox and when it was answered, by the sandbox's own clock:
//! `GET /_sandbox/arrivals?provider=hubspot&route=POST /crm/v3/objects/contacts/search` →
//! `[{"route", "status", "arrived", "answered"}]` (RFC 3339, milliseconds), oldest first, with the
//! call's query string (`query`, values decoded) when it had one and its W3C `traceparent` when it
//! came with one. This is the provider's view of time that a
//! `Retry-After` is counted in, for checking that a client came back no sooner than asked, and
//! of the trace a client's call belonged to. The latest calls are kept (at most [`KEPT`]).

use std::{collections::VecDeque, sync::Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// How many arrivals are kept, across providers.
pub const KEPT: usize = 20_000;

#[derive(Debug)]
struct Arrival {
    provider: &'static str,
    route: String,
    status: u16,
    arrived: DateTime<Utc>,
    answered: DateTime<Utc>,
    query: String,
    traceparent: Option<String>,
}

#[derive(Debug, Default)]
pub struct Arrivals(Mutex<VecDeque<Arrival>>);

impl Arrivals {
    pub fn record(
        &self,
        provider: &'static str,
        route: &str,
        status: u16,
        (arrived, answered): (DateTime<Utc>, DateTime<Utc>),
        (query, traceparent): (String, Option<String>),
    ) {
        let mut all = self.0.lock().expect("arrivals lock");
        if all.len() == KEPT {
            all.pop_front();
        }
        all.push_back(Arrival {
            provider,
            route: route.to_owned(),
            status,
            arrived,
            answered,
            query,
            traceparent,
        });
    }

    /// A provider's arrivals (on one route, when named), oldest first.
    pub fn of(&self, provider: &str, route: Option<&str>) -> Value {
        let at = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        let all = self.0.lock().expect("arrivals lock");
        all.iter()
            .filter(|a| a.provider == provider && route.is_none_or(|r| a.route == r))
            .map(|a| {
                let mut arrival = json!({
                    "route": a.route,
                    "status": a.status,
                    "arrived": at(&a.arrived),
                    "answered": at(&a.answered),
                });
                if !a.query.is_empty() {
                    arrival["query"] = a.query.as_str().into();
                }
                if let Some(traceparent) = &a.traceparent {
                    arrival["traceparent"] = traceparent.as_str().into();
                }
                arrival
            })
            .collect()
    }

    pub fn clear(&self) {
        self.0.lock().expect("arrivals lock").clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_are_kept_by_provider_and_route_oldest_first() {
        let arrivals = Arrivals::default();
        let t0 = Utc::now();
        let later = t0 + chrono::Duration::milliseconds(2_500);
        let none = || (String::new(), None);
        arrivals.record("hubspot", "POST /search", 429, (t0, t0), none());
        arrivals.record("gmail", "GET /messages", 200, (t0, t0), none());
        arrivals.record("hubspot", "POST /search", 200, (later, later), none());
        let asked = ("limit=10".to_owned(), None);
        arrivals.record("hubspot", "GET /owners", 200, (later, later), asked);
        let found = arrivals.of("hubspot", Some("POST /search"));
        let statuses: Vec<_> = found
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["status"].as_u64().unwrap())
            .collect();
        assert_eq!(statuses, [429, 200]);
        assert_eq!(arrivals.of("hubspot", None).as_array().unwrap().len(), 3);
        assert_eq!(
            arrivals.of("hubspot", Some("GET /owners"))[0]["query"],
            "limit=10"
        );
        assert!(found[0].get("query").is_none(), "no query, no field");
        for _ in 0..KEPT {
            arrivals.record("slack", "GET /api/users.info", 200, (t0, t0), none());
        }
        assert_eq!(
            arrivals.of("hubspot", None),
            json!([]),
            "the oldest go first"
        );
    }
}
