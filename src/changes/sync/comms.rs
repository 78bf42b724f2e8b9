//! The copy of mail, events and chat messages: what a connection's mailbox, calendar or chat
//! held inside its window, as the sync read it. This module owns those rows, the windows and
//! the terms that join them to contacts; `comms_read` reads them.
//!
//! The rows live beside the CRM copy (`copy`), in the same tables and scoped the same way (one
//! connection: user, project, provider), with type `Email`, `Event` or `Message`:
//!
//! - `copy_records.record` holds the JSON of [`Kept`]: the unified record as the adapter mapped it,
//!   without bodies (`bodyText`/`bodyHtml` are read live when selected), and the provider's payload.
//!   `sort_key` is the live list's order (the received time, the start, the sent time, then the
//!   id; `copy::sort_key`); `updated_ms` the time filters compare: received (mail), end (events),
//!   sent (messages). Mail keeps the sender in `email`, the subject in `name`, `unread` or `read`
//!   in `status` and the conversation in `thread`; events their title in `name`; messages their
//!   text in `name`, the author's id in `owner`, the channel in `channel` and the thread's parent
//!   in `thread`. Texts are lowercased: filters compare them without case.
//! - `copy_terms` holds the multi-valued keys, lowercased: a message's `participant`s (sender and
//!   every recipient, as Gmail's `{from:x to:x}` finds them), its recipients (`to`: To, Cc and
//!   Bcc, as Gmail's `to:`), its `label`s (as Gmail's `label:` writes them); an event's `attendee`s
//!   (and its organizer).
//! - `copy_status` says per type whether the window has been read whole (`complete`) and as of when.
//!   A Slack channel's backfill is marked apart, as type `Message/<channel id>`.
//!
//! Windows ([`Windows`]) are catalog data (`[<slug>.reads] window_days`, `window_past_days`,
//! `window_future_days`) that `providers.<slug>.sync_window_days`, `sync_window_past_days` and
//! `sync_window_future_days` override: 90 days of mail and messages, events from 30 days back to
//! 365 ahead. Each feed pass drops what has left its window ([`prune`]).

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{Condition, OnConflict},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

use crate::{
    config::ProviderSettings,
    providers::{
        Cataloged, Provider,
        calendar::Event,
        chat::Message,
        mail::EmailData,
        record::{Raw, Record, Sorted},
    },
    store::entities::{copy_records, copy_terms},
    upstream::Target,
};

use super::copy;

/// The unified types this module keeps.
pub const EMAIL: &str = "Email";
pub const EVENT: &str = "Event";
pub const MESSAGE: &str = "Message";
pub const KINDS: [&str; 3] = [EMAIL, EVENT, MESSAGE];

/// Term kinds.
pub const PARTICIPANT: &str = "participant";
pub const TO: &str = "to";
pub const LABEL: &str = "label";
pub const ATTENDEE: &str = "attendee";

/// Rows per insert or `IN` list.
const CHUNK: usize = 300;

/// How much of a mailbox, calendar or chat one provider's copy holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Mail and messages: this many days back.
    pub days: u64,
    /// Events: from this many days back...
    pub past_days: u64,
    /// ...to this many days ahead.
    pub future_days: u64,
}

impl Window {
    /// The oldest mail or message the copy holds at `now`.
    pub fn oldest(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - Duration::days(self.days as i64)
    }

    /// The events the copy holds at `now`: those ending after the first bound and starting
    /// before the second.
    pub fn events(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            now - Duration::days(self.past_days as i64),
            now + Duration::days(self.future_days as i64),
        )
    }
}

/// Each provider's window: the catalog's, with the config's overrides.
#[derive(Debug, Clone)]
pub struct Windows(BTreeMap<Provider, Window>);

impl Windows {
    pub fn new(settings: &BTreeMap<Provider, ProviderSettings>) -> Self {
        Self(
            Provider::ALL
                .into_iter()
                .map(|provider| {
                    let catalog = provider.entry().reads;
                    let set = settings.get(&provider);
                    let window = Window {
                        days: set
                            .and_then(|s| s.sync_window_days)
                            .unwrap_or(catalog.window_days),
                        past_days: set
                            .and_then(|s| s.sync_window_past_days)
                            .unwrap_or(catalog.window_past_days),
                        future_days: set
                            .and_then(|s| s.sync_window_future_days)
                            .unwrap_or(catalog.window_future_days),
                    };
                    (provider, window)
                })
                .collect(),
        )
    }

    pub fn of(&self, provider: Provider) -> Window {
        self.0.get(&provider).copied().unwrap_or_else(|| {
            let catalog = provider.entry().reads;
            Window {
                days: catalog.window_days,
                past_days: catalog.window_past_days,
                future_days: catalog.window_future_days,
            }
        })
    }
}

impl Default for Windows {
    fn default() -> Self {
        Self::new(&BTreeMap::new())
    }
}

/// What `copy_records.record` holds for a message, an event or a chat message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Kept<T> {
    #[serde(rename = "c")]
    pub created_at: DateTime<Utc>,
    #[serde(rename = "u")]
    pub updated_at: DateTime<Utc>,
    #[serde(rename = "d")]
    pub data: T,
    #[serde(rename = "r")]
    pub raw: Raw,
}

impl<T> Kept<T> {
    pub fn record(self, provider: Provider, remote_id: String) -> Record<T> {
        Record {
            provider,
            remote_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
            raw: self.raw,
            data: self.data,
        }
    }
}

/// The columns and terms of one kept record.
#[derive(Debug, Default)]
pub struct Row {
    pub updated_ms: i64,
    pub email: Option<String>,
    pub name: Option<String>,
    pub owner: Option<String>,
    pub status: Option<String>,
    pub channel: Option<String>,
    pub thread: Option<String>,
    pub terms: Vec<(&'static str, String)>,
}

/// A unified type the copy keeps in a window.
pub trait Comms: Sorted + Clone + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The unified type's name (`Email`).
    const KIND: &'static str;

    /// The columns and terms of `record`.
    fn row(record: &Record<Self>) -> Row;

    /// The record as the copy keeps it (mail without bodies).
    fn kept(record: &Record<Self>) -> Self {
        record.data.clone()
    }

    /// The provider's payload as the copy keeps it (mail without bodies).
    fn kept_raw(raw: &Raw) -> Raw {
        raw.clone()
    }
}

/// A label as Gmail's search writes it (`Follow up` → `follow-up`).
pub fn label_term(label: &str) -> String {
    label.trim().to_lowercase().replace(' ', "-")
}

impl Comms for EmailData {
    const KIND: &'static str = EMAIL;

    fn row(record: &Record<Self>) -> Row {
        let m = &record.data;
        let from = m.from.as_ref().map(|a| a.email.to_lowercase());
        let recipients: Vec<String> =
            m.to.iter()
                .chain(&m.cc)
                .chain(&m.bcc)
                .map(|a| a.email.to_lowercase())
                .collect();
        let mut terms: Vec<(&'static str, String)> = Vec::new();
        terms.extend(from.iter().map(|a| (PARTICIPANT, a.clone())));
        terms.extend(recipients.iter().map(|a| (PARTICIPANT, a.clone())));
        terms.extend(recipients.iter().map(|a| (TO, a.clone())));
        terms.extend(m.labels.iter().map(|l| (LABEL, label_term(l))));
        Row {
            updated_ms: m.date.timestamp_millis(),
            email: from,
            name: m.subject.as_ref().map(|s| s.to_lowercase()),
            status: Some(if m.unread { "unread" } else { "read" }.to_owned()),
            thread: m.thread_id.clone(),
            terms,
            ..Row::default()
        }
    }

    fn kept(record: &Record<Self>) -> Self {
        EmailData {
            body_text: None,
            body_html: None,
            ..record.data.clone()
        }
    }

    /// Graph's message carries its body (`body`, `uniqueBody`); Gmail's, read with
    /// `format=metadata`, none.
    fn kept_raw(raw: &Raw) -> Raw {
        let mut raw = raw.value().clone();
        if let Some(fields) = raw.as_object_mut() {
            fields.remove("body");
            fields.remove("uniqueBody");
        }
        raw.into()
    }
}

impl Comms for Event {
    const KIND: &'static str = EVENT;

    fn row(record: &Record<Self>) -> Row {
        let e = &record.data;
        let terms = e
            .attendees
            .iter()
            .map(|a| a.email.as_str())
            .chain(e.organizer.iter().map(|o| o.email.as_str()))
            .map(|a| (ATTENDEE, a.to_lowercase()))
            .collect();
        Row {
            updated_ms: e.end.timestamp_millis(),
            name: e.title.as_ref().map(|t| t.to_lowercase()),
            status: e.status.clone(),
            terms,
            ..Row::default()
        }
    }
}

impl Comms for Message {
    const KIND: &'static str = MESSAGE;

    fn row(record: &Record<Self>) -> Row {
        let m = &record.data;
        Row {
            updated_ms: m.sent_at.timestamp_millis(),
            name: Some(m.text.to_lowercase()),
            owner: m.author.clone(),
            channel: Some(m.channel.id.clone()),
            thread: m.thread_id.clone(),
            ..Row::default()
        }
    }
}

/// Stores `records` in `target`'s copy, with their terms — unless the connection is gone. Each
/// replaces what the copy held for its id: the feeds and the backfill read records as they are
/// now.
pub async fn store<T: Comms>(
    db: &impl ConnectionTrait,
    target: Target,
    records: &[Record<T>],
) -> Result<(), DbErr> {
    if records.is_empty() || !copy::connected(db, target).await? {
        return Ok(());
    }
    let now = Utc::now();
    let mut seen = HashSet::new();
    let mut rows = Vec::with_capacity(records.len());
    let mut terms = Vec::new();
    // The last version of a record in `records` wins.
    for record in records.iter().rev() {
        if !seen.insert(record.remote_id.clone()) {
            continue;
        }
        let row = T::row(record);
        let kept = Kept {
            created_at: record.created_at,
            updated_at: record.updated_at,
            data: T::kept(record),
            raw: T::kept_raw(&record.raw),
        };
        let text = serde_json::to_string(&kept).map_err(|e| DbErr::Custom(e.to_string()))?;
        for (kind, value) in row.terms {
            terms.push((record.remote_id.clone(), kind, value));
        }
        rows.push(copy_records::ActiveModel {
            id: Set(Uuid::new_v4()),
            user_id: Set(target.tenant.user_id),
            project_id: Set(target.tenant.project_id),
            provider: Set(target.provider.slug().to_owned()),
            r#type: Set(T::KIND.to_owned()),
            remote_id: Set(record.remote_id.clone()),
            sort_key: Set(copy::sort_key(T::key(record), &record.remote_id)),
            updated_ms: Set(row.updated_ms),
            email: Set(row.email),
            name: Set(row.name),
            owner: Set(row.owner),
            stage: Set(None),
            status: Set(row.status),
            domain: Set(None),
            channel: Set(row.channel),
            thread: Set(row.thread),
            record: Set(text),
            applied_at: Set(None),
            stored_at: Set(now),
        });
    }
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(CHUNK).collect();
        copy_records::Entity::insert_many(chunk)
            .on_conflict(
                OnConflict::columns([
                    copy_records::Column::UserId,
                    copy_records::Column::ProjectId,
                    copy_records::Column::Provider,
                    copy_records::Column::Type,
                    copy_records::Column::RemoteId,
                ])
                .update_columns([
                    copy_records::Column::SortKey,
                    copy_records::Column::UpdatedMs,
                    copy_records::Column::Email,
                    copy_records::Column::Name,
                    copy_records::Column::Owner,
                    copy_records::Column::Status,
                    copy_records::Column::Channel,
                    copy_records::Column::Thread,
                    copy_records::Column::Record,
                    copy_records::Column::StoredAt,
                ])
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    let ids: Vec<String> = seen.into_iter().collect();
    for chunk in ids.chunks(CHUNK) {
        copy_terms::Entity::delete_many()
            .filter(copy::terms_of(target))
            .filter(copy_terms::Column::Type.eq(T::KIND))
            .filter(copy_terms::Column::RemoteId.is_in(chunk.iter().cloned()))
            .exec(db)
            .await?;
    }
    let terms: HashSet<(String, &'static str, String)> = terms.into_iter().collect();
    for kind in [PARTICIPANT, TO, LABEL, ATTENDEE] {
        let values: Vec<(String, String)> = terms
            .iter()
            .filter(|(_, k, _)| *k == kind)
            .map(|(id, _, value)| (id.clone(), value.clone()))
            .collect();
        copy::insert_terms(db, target, T::KIND, kind, &values).await?;
    }
    Ok(())
}

/// Drops from `target`'s copy of `kind` what has left its window at `now`: mail and messages
/// received before the window's start, events that ended before it.
pub async fn prune(
    db: &impl ConnectionTrait,
    target: Target,
    kind: &str,
    window: Window,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let oldest = match kind {
        EVENT => window.events(now).0,
        _ => window.oldest(now),
    };
    let gone: Vec<String> = copy_records::Entity::find()
        .select_only()
        .column(copy_records::Column::RemoteId)
        .filter(copy::records_of(target))
        .filter(copy_records::Column::Type.eq(kind))
        .filter(copy_records::Column::UpdatedMs.lt(oldest.timestamp_millis()))
        .into_tuple()
        .all(db)
        .await?;
    copy::remove(db, target, kind, &gone).await
}

/// The `copy_status` type of a Slack channel's backfill.
pub fn channel_kind(channel: &str) -> String {
    format!("{MESSAGE}/{channel}")
}

/// Whether `kind` is one of the types this module keeps.
pub fn is_comms(kind: &str) -> bool {
    KINDS.contains(&kind)
}

/// The condition on `copy_terms` rows of `target` holding `value` as a `term` of `kind` records.
pub fn term_rows(target: Target, kind: &str, term: &str) -> Condition {
    copy::terms_of(target)
        .add(copy_terms::Column::Type.eq(kind))
        .add(copy_terms::Column::Kind.eq(term))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_come_from_the_catalog_and_the_config_overrides_them() {
        let defaults = Windows::default();
        assert_eq!(defaults.of(Provider::Gmail).days, 90);
        assert_eq!(defaults.of(Provider::Slack).days, 90);
        let calendar = defaults.of(Provider::GoogleCalendar);
        assert_eq!((calendar.past_days, calendar.future_days), (30, 365));
        let settings = BTreeMap::from([(
            Provider::Gmail,
            ProviderSettings {
                sync_window_days: Some(7),
                ..ProviderSettings::default()
            },
        )]);
        assert_eq!(Windows::new(&settings).of(Provider::Gmail).days, 7);
    }

    #[test]
    fn mail_is_kept_without_bodies_and_found_by_every_participant() {
        use crate::providers::mail::Address;
        let at = Utc::now();
        let record = Record {
            provider: Provider::Gmail,
            remote_id: "m1".into(),
            created_at: at,
            updated_at: at,
            raw: serde_json::json!({}).into(),
            data: EmailData {
                thread_id: Some("t1".into()),
                subject: Some("Q3 Review".into()),
                from: Some(Address {
                    name: None,
                    email: "Ann@X.example".into(),
                }),
                to: vec![Address {
                    name: None,
                    email: "bo@y.example".into(),
                }],
                cc: vec![],
                bcc: vec![],
                date: at,
                snippet: None,
                body_text: Some("secret".into()),
                body_html: None,
                labels: vec!["Follow up".into()],
                unread: true,
            },
        };
        assert!(EmailData::kept(&record).body_text.is_none());
        let row = EmailData::row(&record);
        assert_eq!(row.email.as_deref(), Some("ann@x.example"));
        assert_eq!(row.name.as_deref(), Some("q3 review"));
        assert!(row.terms.contains(&(PARTICIPANT, "ann@x.example".into())));
        assert!(row.terms.contains(&(PARTICIPANT, "bo@y.example".into())));
        assert!(row.terms.contains(&(TO, "bo@y.example".into())));
        assert!(row.terms.contains(&(LABEL, "follow-up".into())));
    }
}
