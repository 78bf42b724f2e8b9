//! The unified records every capability returns, and the requests that ask for them: this
//! module holds what they share; `crm`, `mail`, `calendar` and `chat` each hold one capability's.
//!
//! What every capability shares: a provider record with its payload, and the keyset a list pages
//! on. Each unified list runs in one order of a key that never changes for a record (CRM records:
//! created time, newest first; emails: date, newest first; events: start, earliest first;
//! messages: sent time, newest first), ties broken by the provider's id in the same direction,
//! so a `Position` resumes a provider exactly where it stopped, however many records are added
//! or edited in between.

pub mod calendar;
pub mod chat;
pub mod crm;
pub mod mail;
mod raw;

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Provider;

pub use raw::Raw;

/// One provider record, mapped, with the provider's payload as it came.
#[derive(Debug, Clone)]
pub struct Record<T> {
    pub provider: Provider,
    pub remote_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub raw: Raw,
    pub data: T,
}

/// What a send the provider accepted came to: the message read back, or — when the send went
/// out but reading it back failed — the provider's id for it where its answer named one. Either
/// way the message exists: a caller must never send it again.
#[derive(Debug, Clone)]
pub enum Sent<T> {
    Read(Record<T>),
    Unread {
        remote_id: Option<String>,
        error: crate::ProviderError,
    },
}

/// Which way a list runs on its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    NewestFirst,
    OldestFirst,
}

/// A unified type's list order: the key of a record and the direction.
pub trait Sorted: Sized {
    const ORDER: Order;

    fn key(record: &Record<Self>) -> DateTime<Utc>;
}

impl<T: Sorted> Record<T> {
    /// Where a list stands after this record.
    pub fn position(&self) -> Position {
        Position {
            at: T::key(self),
            remote_id: self.remote_id.clone(),
        }
    }
}

impl<T> Record<T> {
    /// The record's data apart from the rest, to map each to another type.
    pub fn split(self) -> (Record<()>, T) {
        let Record {
            provider,
            remote_id,
            created_at,
            updated_at,
            raw,
            data,
        } = self;
        let rest = Record {
            provider,
            remote_id,
            created_at,
            updated_at,
            raw,
            data: (),
        };
        (rest, data)
    }

    pub fn with<U>(self, data: U) -> Record<U> {
        Record {
            provider: self.provider,
            remote_id: self.remote_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
            raw: self.raw,
            data,
        }
    }
}

/// A place in a provider's list: the key and id of the last record already seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    #[serde(rename = "t")]
    pub at: DateTime<Utc>,
    #[serde(rename = "i")]
    pub remote_id: String,
}

impl Position {
    /// How `a` and `b` compare in a list of `order`: `Less` when `a` comes first. Ids compare
    /// numerically where both are numbers, as HubSpot's are.
    pub fn compare(order: Order, a: &Position, b: &Position) -> Ordering {
        let ascending = a.at.cmp(&b.at).then_with(|| {
            match (a.remote_id.parse::<u128>(), b.remote_id.parse::<u128>()) {
                (Ok(x), Ok(y)) => x.cmp(&y),
                _ => a.remote_id.cmp(&b.remote_id),
            }
        });
        match order {
            Order::NewestFirst => ascending.reverse(),
            Order::OldestFirst => ascending,
        }
    }

    /// Whether `record` comes strictly after this position in a list of `order`.
    pub fn precedes<T: Sorted>(&self, record: &Record<T>) -> bool {
        Self::compare(T::ORDER, self, &record.position()) == Ordering::Less
    }
}

/// A provider's page, in its list's order, and whether the provider has more.
#[derive(Debug, Clone)]
pub struct ListPage<T> {
    pub records: Vec<Record<T>>,
    pub more: bool,
}

impl<T> ListPage<T> {
    pub fn empty() -> Self {
        Self {
            records: Vec::new(),
            more: false,
        }
    }
}

/// When a page was fetched from its provider, and whether a cache kept it since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetch {
    pub at: DateTime<Utc>,
    /// Served from a cache of an earlier request's answer.
    pub cached: bool,
}

impl Fetch {
    /// Fetched from the provider just now.
    pub fn now() -> Self {
        Self {
            at: Utc::now(),
            cached: false,
        }
    }
}

/// Keeps the page of `records` (already in list order) that comes after `after`, at most
/// `limit`; `more` when some were left over or the source has more.
pub fn page_after<T: Sorted>(
    mut records: Vec<Record<T>>,
    after: Option<&Position>,
    limit: usize,
    source_more: bool,
) -> ListPage<T> {
    records.sort_by(|a, b| Position::compare(T::ORDER, &a.position(), &b.position()));
    records.retain(|r| after.is_none_or(|p| p.precedes(r)));
    let more = source_more || records.len() > limit;
    records.truncate(limit);
    ListPage { records, more }
}

/// What happened to a record, as a provider's change feed says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

/// One record's change, with the feed's own entry for it.
#[derive(Debug, Clone)]
pub struct FeedChange {
    pub kind: ChangeKind,
    pub remote_id: String,
    pub raw: serde_json::Value,
}

/// A change feed's entries since a cursor (Gmail's history, Calendar's sync token), oldest first,
/// and the cursor after them.
#[derive(Debug, Clone)]
pub struct Feed {
    pub changes: Vec<FeedChange>,
    pub cursor: String,
    /// The old cursor was no longer kept: the feed started again from now.
    pub restarted: bool,
}
