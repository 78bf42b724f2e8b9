//! One account's primary calendar: events kept as Calendar's Event resources (JSON), a change
//! sequence for sync tokens (every write bumps it; deletions stay as `cancelled`), recurrence
//! expansion for `singleEvents`, and the watch channels to notify. Seeded on first use with a
//! few hundred meetings with population people — all-day ones, recurring ones (daily and weekly
//! RRULEs), in several time zones — so lists have several pages. They fall in the 90 days before
//! and after the seeding day ([`seed_anchor`](crate::clock::seed_anchor)), so that a window from
//! 30 days back holds the recent and coming ones and misses the older.
//!
//! Time zones: times with an offset are taken as given; a `dateTime` without one resolves in
//! its `timeZone` when that is one of the fixed-offset zones below (no DST data is embedded).

use std::collections::BTreeMap;

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone,
    Utc, Weekday,
};
use serde_json::{Map, Value, json};

use crate::population::population;

/// Zones with one offset all year, so local times resolve without a time zone database.
pub const FIXED_ZONES: &[(&str, i32)] = &[
    ("UTC", 0),
    ("Etc/UTC", 0),
    ("Asia/Tokyo", 9 * 3600),
    ("Asia/Kolkata", 5 * 3600 + 1800),
    ("Asia/Singapore", 8 * 3600),
    ("America/Phoenix", -7 * 3600),
    ("Africa/Nairobi", 3 * 3600),
];

/// The calendar's own zone.
pub const CALENDAR_ZONE: &str = "UTC";

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A watch channel on the events collection.
#[derive(Debug, Clone)]
pub struct Channel {
    pub id: String,
    pub resource_id: String,
    pub resource_uri: String,
    pub address: String,
    pub token: Option<String>,
    pub expiration: DateTime<Utc>,
    pub message_number: u64,
}

#[derive(Debug, Clone)]
pub struct Stored {
    pub resource: Value,
    /// The change sequence of its last write.
    pub seq: u64,
}

#[derive(Debug)]
pub struct Calendar {
    pub owner: String,
    pub events: BTreeMap<String, Stored>,
    pub seq: u64,
    /// Differs between stores (and resets): sync tokens of another store are stale.
    pub epoch: u64,
    pub channels: Vec<Channel>,
}

/// When an event starts or ends: its instant, and whether it is a date (all-day).
pub fn moment(v: &Value) -> Option<(DateTime<FixedOffset>, bool)> {
    if let Some(date) = v["date"].as_str() {
        let day = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
        return Some((
            Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0)?)
                .fixed_offset(),
            true,
        ));
    }
    let text = v["dateTime"].as_str()?;
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some((t, false));
    }
    let zone = v["timeZone"].as_str()?;
    let offset = FIXED_ZONES.iter().find(|(z, _)| *z == zone)?.1;
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").ok()?;
    let t = FixedOffset::east_opt(offset)?
        .from_local_datetime(&local)
        .single()?;
    Some((t, false))
}

/// A base32hex id (Calendar's alphabet: 0-9 and a-v), from a seed.
pub fn base32hex_id(seed: u64, len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuv";
    let mut x = seed;
    (0..len)
        .map(|i| {
            if i % 12 == 0 {
                x = super::mix(x ^ i as u64);
            }
            let c = ALPHABET[(x % 32) as usize] as char;
            x /= 32;
            c
        })
        .collect()
}

pub fn valid_id(id: &str) -> bool {
    (5..=1024).contains(&id.len()) && id.chars().all(|c| matches!(c, '0'..='9' | 'a'..='v'))
}

pub fn html_link(id: &str, owner: &str) -> String {
    let eid = STANDARD
        .encode(format!("{id} {owner}"))
        .trim_end_matches('=')
        .to_owned();
    format!("https://www.google.com/calendar/event?eid={eid}")
}

fn etag(updated: DateTime<Utc>, seq: u64) -> String {
    format!("\"{}\"", updated.timestamp_micros() as u64 * 10 + seq % 10)
}

const TITLES: &[&str] = &[
    "Discovery call",
    "Pricing review",
    "Quarterly business review",
    "Contract walkthrough",
    "Product demo",
    "Onboarding kickoff",
    "Security review",
    "Renewal planning",
];

const SEEDED_EVENTS: u64 = 320;
const RESPONSES: [&str; 4] = ["accepted", "needsAction", "tentative", "declined"];

impl Calendar {
    pub fn seeded(owner: &str) -> Self {
        let seed = super::seed_of(owner) ^ 0xCA1E_0DA5;
        let mut calendar = Calendar {
            owner: owner.to_owned(),
            events: BTreeMap::new(),
            seq: 0,
            epoch: super::mix(seed ^ rand::random::<u64>()) % 1_000_000_007,
            channels: Vec::new(),
        };
        let start = crate::clock::seed_anchor(0) - Duration::days(90);
        // The fourth series ends a hundred days after the anchor.
        let fortnightly = format!(
            "RRULE:FREQ=WEEKLY;INTERVAL=2;UNTIL={}",
            (start + Duration::days(190)).format("%Y%m%dT000000Z")
        );
        let people = population().people.len() as u64;
        for i in 0..SEEDED_EVENTS {
            let r = super::mix(seed ^ i);
            let (zone, offset) = FIXED_ZONES[2 + (r % 5) as usize];
            let offset = FixedOffset::east_opt(offset).expect("a valid offset");
            let day = start + Duration::days((i * 180 / SEEDED_EVENTS) as i64);
            let hour = 8 + (r >> 8) % 9;
            let local = day.date_naive().and_hms_opt(
                hour as u32,
                if r.is_multiple_of(2) { 0 } else { 30 },
                0,
            );
            let Some(begin) = local.and_then(|l| offset.from_local_datetime(&l).single()) else {
                continue;
            };
            let minutes = [30, 45, 60, 90][((r >> 16) % 4) as usize];
            let all_day = r.is_multiple_of(11);
            let (start_json, end_json) = if all_day {
                let d = begin.date_naive();
                (
                    json!({ "date": d.to_string() }),
                    json!({ "date": (d + Duration::days(1 + (r >> 20) as i64 % 2)).to_string() }),
                )
            } else {
                let end = begin + Duration::minutes(minutes);
                (
                    json!({ "dateTime": begin.to_rfc3339(), "timeZone": zone }),
                    json!({ "dateTime": end.to_rfc3339(), "timeZone": zone }),
                )
            };
            let guests: Vec<usize> = (0..1 + (r >> 24) % 4)
                .map(|k| (super::mix(r ^ k) % people) as usize)
                .filter(|g| !population().people[*g].email.eq_ignore_ascii_case(owner))
                .collect();
            let company = population()
                .people
                .get(guests.first().copied().unwrap_or(0))
                .map(|p| population().companies[p.company].name.clone());
            let title = TITLES[((r >> 32) % TITLES.len() as u64) as usize];
            let mut body = json!({
                "summary": match company { Some(c) if !all_day => format!("{title} — {c}"), _ if all_day => "Offsite".to_owned(), _ => title.to_owned() },
                "description": format!("Agenda: {title}."),
                "location": if r.is_multiple_of(3) { "Video call" } else { "Room 4" },
                "start": start_json,
                "end": end_json,
                "attendees": guests.iter().enumerate().map(|(k, g)| {
                    let p = &population().people[*g];
                    json!({
                        "email": p.email,
                        "displayName": format!("{} {}", p.first_name, p.last_name),
                        "responseStatus": RESPONSES[((r >> (40 + k)) % 4) as usize],
                    })
                }).collect::<Vec<_>>(),
            });
            // The owner attends too: as organizer mostly, else invited by the first guest.
            let invited = !guests.is_empty() && (r >> 48).is_multiple_of(4);
            let mut me = json!({ "email": owner, "self": true, "responseStatus": "accepted" });
            if invited {
                let host = &population().people[guests[0]];
                let host = json!({ "email": host.email, "displayName": format!("{} {}", host.first_name, host.last_name) });
                body["organizer"] = host.clone();
                body["creator"] = host;
                body["attendees"][0]["organizer"] = json!(true);
                body["attendees"][0]["responseStatus"] = json!("accepted");
                me["responseStatus"] = json!(RESPONSES[((r >> 52) % 4) as usize]);
            } else {
                me["organizer"] = json!(true);
            }
            if let Some(list) = body["attendees"].as_array_mut()
                && !list.is_empty()
            {
                list.push(me);
            }
            if i % 80 == 5 {
                body["recurrence"] = json!([match i / 80 {
                    0 => "RRULE:FREQ=WEEKLY;BYDAY=MO,WE",
                    1 => "RRULE:FREQ=WEEKLY;COUNT=12",
                    2 => "RRULE:FREQ=DAILY;COUNT=5",
                    _ => fortnightly.as_str(),
                }]);
                body["summary"] = json!(format!("Weekly sync ({})", i / 80));
            }
            // Every seeded event was created before the sandbox's "now".
            let created = start - Duration::days(30) + Duration::hours(i as i64 * 3);
            let id = base32hex_id(r, 26);
            calendar.insert(&id, body, created);
        }
        calendar
    }

    /// Stores a new event (already validated) and returns its resource.
    pub fn insert(&mut self, id: &str, mut body: Value, now: DateTime<Utc>) -> Value {
        self.seq += 1;
        let owner = self.owner.clone();
        let me = json!({ "email": owner, "self": true });
        // Events written through the API are the owner's; seeded ones may name another organizer.
        let mine = body["organizer"].is_null();
        if let Some(attendees) = body["attendees"].as_array_mut() {
            for a in attendees.iter_mut() {
                if a["responseStatus"].is_null() {
                    a["responseStatus"] = json!("needsAction");
                }
                if a["email"]
                    .as_str()
                    .is_some_and(|e| e.eq_ignore_ascii_case(&owner))
                {
                    a["self"] = json!(true);
                    if mine {
                        a["organizer"] = json!(true);
                        if a["responseStatus"] == "needsAction" {
                            a["responseStatus"] = json!("accepted");
                        }
                    }
                }
            }
        }
        let mut resource = json!({
            "kind": "calendar#event",
            "etag": etag(now, self.seq),
            "id": id,
            "status": "confirmed",
            "htmlLink": html_link(id, &owner),
            "created": rfc3339(now),
            "updated": rfc3339(now),
            "creator": me,
            "organizer": me,
            "iCalUID": format!("{id}@google.com"),
            "sequence": 0,
            "reminders": { "useDefault": true },
            "eventType": "default",
        });
        merge(&mut resource, body.take());
        self.events.insert(
            id.to_owned(),
            Stored {
                resource: resource.clone(),
                seq: self.seq,
            },
        );
        resource
    }

    /// Patches an event (arrays replaced whole), bumping `sequence` when its time moves.
    pub fn patch(&mut self, id: &str, body: Value, now: DateTime<Utc>) -> Option<Value> {
        self.seq += 1;
        let seq = self.seq;
        let stored = self.events.get_mut(id)?;
        let moved = body.get("start").is_some() || body.get("end").is_some();
        merge(&mut stored.resource, body);
        let r = &mut stored.resource;
        if moved {
            r["sequence"] = json!(r["sequence"].as_u64().unwrap_or(0) + 1);
        }
        r["updated"] = json!(rfc3339(now));
        r["etag"] = json!(etag(now, seq));
        stored.seq = seq;
        Some(r.clone())
    }

    /// Marks an event cancelled; false when it is unknown or already cancelled.
    pub fn cancel(&mut self, id: &str, now: DateTime<Utc>) -> bool {
        let Some(stored) = self.events.get_mut(id) else {
            return false;
        };
        if stored.resource["status"] == "cancelled" {
            return false;
        }
        self.seq += 1;
        stored.resource["status"] = json!("cancelled");
        stored.resource["updated"] = json!(rfc3339(now));
        stored.resource["etag"] = json!(etag(now, self.seq));
        stored.seq = self.seq;
        true
    }

    /// A sync token for the current state.
    pub fn sync_token(&self, seq: u64) -> String {
        STANDARD.encode(format!("sandbox-sync:{}:{seq}", self.epoch))
    }

    /// The sequence a sync token names, when it is one of this calendar's.
    pub fn read_sync_token(&self, token: &str) -> Option<u64> {
        let text = String::from_utf8(STANDARD.decode(token).ok()?).ok()?;
        let rest = text.strip_prefix("sandbox-sync:")?;
        let (epoch, seq) = rest.split_once(':')?;
        let seq: u64 = seq.parse().ok()?;
        (epoch.parse::<u64>().ok()? == self.epoch && seq <= self.seq).then_some(seq)
    }
}

/// Top-level patch semantics: given fields replace stored ones, `null` removes them.
fn merge(target: &mut Value, patch: Value) {
    if let (Some(target), Value::Object(patch)) = (target.as_object_mut(), patch) {
        for (k, v) in patch {
            if v.is_null() {
                target.remove(&k);
            } else {
                target.insert(k, v);
            }
        }
    }
}

/// A simple RRULE: FREQ (DAILY or WEEKLY), INTERVAL, COUNT, UNTIL, BYDAY.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    weekly: bool,
    interval: i64,
    count: Option<usize>,
    until: Option<DateTime<Utc>>,
    by_day: Vec<Weekday>,
}

impl Rule {
    pub fn parse(line: &str) -> Option<Rule> {
        let body = line.strip_prefix("RRULE:")?;
        let mut rule = Rule {
            weekly: false,
            interval: 1,
            count: None,
            until: None,
            by_day: Vec::new(),
        };
        let mut freq = None;
        for part in body.split(';') {
            let (k, v) = part.split_once('=')?;
            match k {
                "FREQ" => freq = Some(v),
                // Intervals beyond a thousand periods are not expanded (nor are they plausible).
                "INTERVAL" => rule.interval = v.parse().ok().filter(|n| (1..=1000).contains(n))?,
                "COUNT" => rule.count = Some(v.parse().ok()?),
                "UNTIL" => {
                    rule.until = NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%SZ")
                        .ok()
                        .or_else(|| {
                            NaiveDate::parse_from_str(v, "%Y%m%d")
                                .ok()?
                                .and_hms_opt(23, 59, 59)
                        })
                        .map(|t| Utc.from_utc_datetime(&t));
                    rule.until?;
                }
                "BYDAY" => {
                    for d in v.split(',') {
                        rule.by_day.push(match d {
                            "MO" => Weekday::Mon,
                            "TU" => Weekday::Tue,
                            "WE" => Weekday::Wed,
                            "TH" => Weekday::Thu,
                            "FR" => Weekday::Fri,
                            "SA" => Weekday::Sat,
                            "SU" => Weekday::Sun,
                            _ => return None,
                        });
                    }
                }
                "WKST" => {}
                _ => return None,
            }
        }
        rule.weekly = match freq? {
            "WEEKLY" => true,
            "DAILY" => false,
            _ => return None,
        };
        Some(rule)
    }

    /// Occurrence starts from `first`, up to `limit` instants and before `horizon`.
    pub fn occurrences(
        &self,
        first: DateTime<FixedOffset>,
        horizon: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DateTime<FixedOffset>> {
        let mut out = Vec::new();
        let days: Vec<Weekday> = if self.weekly && !self.by_day.is_empty() {
            self.by_day.clone()
        } else {
            vec![first.weekday()]
        };
        let week_start = first - Duration::days(first.weekday().num_days_from_monday() as i64);
        let mut period = 0i64;
        while out.len() < limit {
            let candidates: Vec<DateTime<FixedOffset>> = if self.weekly {
                let base = week_start + Duration::weeks(period * self.interval);
                let mut c: Vec<_> = days
                    .iter()
                    .map(|d| base + Duration::days(d.num_days_from_monday() as i64))
                    .filter(|t| *t >= first)
                    .collect();
                c.sort();
                c
            } else {
                vec![first + Duration::days(period * self.interval)]
            };
            for t in candidates {
                let utc = t.with_timezone(&Utc);
                if self.until.is_some_and(|u| utc > u)
                    || self.count.is_some_and(|n| out.len() >= n)
                    || utc >= horizon
                    || out.len() >= limit
                {
                    return out;
                }
                out.push(t);
            }
            period += 1;
        }
        out
    }
}

/// The instances of a recurring event starting before `horizon` (an event that does not
/// recur, or whose rule the sandbox does not expand, is its own single instance).
pub fn instances(master: &Value, horizon: DateTime<Utc>) -> Vec<Value> {
    let rule = master["recurrence"]
        .as_array()
        .and_then(|lines| {
            lines
                .iter()
                .filter_map(|l| l.as_str())
                .find(|l| l.starts_with("RRULE:"))
        })
        .and_then(Rule::parse);
    let (Some(rule), Some((start, all_day)), Some((end, _))) =
        (rule, moment(&master["start"]), moment(&master["end"]))
    else {
        return vec![master.clone()];
    };
    let length = end - start;
    let id = master["id"].as_str().unwrap_or_default();
    let zone = master["start"]["timeZone"].clone();
    let when = |t: DateTime<FixedOffset>| {
        if all_day {
            json!({ "date": t.date_naive().to_string() })
        } else {
            let mut v = json!({ "dateTime": t.to_rfc3339() });
            if !zone.is_null() {
                v["timeZone"] = zone.clone();
            }
            v
        }
    };
    rule.occurrences(start, horizon, 1000)
        .into_iter()
        .map(|t| {
            let mut instance: Map<String, Value> = master.as_object().cloned().unwrap_or_default();
            instance.remove("recurrence");
            let suffix = if all_day {
                t.format("%Y%m%d").to_string()
            } else {
                t.with_timezone(&Utc).format("%Y%m%dT%H%M%SZ").to_string()
            };
            let instance_id = format!("{id}_{suffix}");
            instance.insert("id".into(), json!(instance_id));
            instance.insert("recurringEventId".into(), json!(id));
            instance.insert("originalStartTime".into(), when(t));
            instance.insert("start".into(), when(t));
            instance.insert("end".into(), when(t + length));
            Value::Object(instance)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekly_rules_expand_on_their_days_with_count_and_until() {
        let first = DateTime::parse_from_rfc3339("2026-11-02T10:00:00+09:00").unwrap(); // a Monday
        let far = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        let rule = Rule::parse("RRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=5").unwrap();
        let days: Vec<String> = rule
            .occurrences(first, far, 100)
            .iter()
            .map(|t| t.format("%a %d").to_string())
            .collect();
        assert_eq!(days, ["Mon 02", "Wed 04", "Mon 09", "Wed 11", "Mon 16"]);
        let rule = Rule::parse("RRULE:FREQ=WEEKLY;INTERVAL=2;UNTIL=20261201T000000Z").unwrap();
        assert_eq!(rule.occurrences(first, far, 100).len(), 3);
        let daily = Rule::parse("RRULE:FREQ=DAILY;COUNT=3").unwrap();
        assert_eq!(
            daily
                .occurrences(first, far, 100)
                .last()
                .unwrap()
                .to_rfc3339(),
            "2026-11-04T10:00:00+09:00"
        );
        assert!(Rule::parse("RRULE:FREQ=MONTHLY").is_none());
        assert!(Rule::parse("RRULE:FREQ=WEEKLY;INTERVAL=999999999999").is_none());
        assert_eq!(
            rule.occurrences(
                first,
                Utc.with_ymd_and_hms(2026, 11, 10, 0, 0, 0).unwrap(),
                100
            )
            .len(),
            1,
            "horizon"
        );
    }
}
