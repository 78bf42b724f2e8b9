//! The read model seam: the copy of each connection's CRM records that incremental sync and
//! webhooks keep, asked before the provider. A resolver asks it first and reads live when it
//! answers [`Synced::NotSynced`]; the copy answers only when it can do so exactly: the type's
//! first full pass is done, the copy is younger than the caller's `max_age`, and the request's
//! filter is one the copy applies as the provider would.

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    Target,
    records::{
        ListPage, Record,
        calendar::{Event, EventQuery},
        chat::{Message, MessageQuery},
        crm::{CrmData, CrmObject, ListRequest},
        mail::{EmailData, MailRequest},
    },
};

/// What the copy can say about a read.
#[derive(Debug, Clone)]
pub enum Synced<T> {
    /// The answer from the copy, and when each of its records was known to be true.
    Synced { value: T, as_of: AsOf },
    /// The copy cannot answer this exactly (incomplete, older than asked, a filter it cannot
    /// apply, or it failed): read live.
    NotSynced,
}

/// When an answer of the copy was true: the start of the type's last complete pass, or later
/// for a record a webhook or one of the gateway's own writes brought since.
#[derive(Debug, Clone, Default)]
pub struct AsOf {
    /// The start of the type's last complete pass: every change made before it is in the copy.
    pub pass: DateTime<Utc>,
    /// Records applied after the pass (by a webhook or a write through the gateway), by remote id.
    pub records: HashMap<String, DateTime<Utc>>,
}

impl AsOf {
    /// When the copy's record `remote_id` was known to be true: the later of the pass and the
    /// record's own application.
    pub fn of(&self, remote_id: &str) -> DateTime<Utc> {
        self.records
            .get(remote_id)
            .map_or(self.pass, |at| (*at).max(self.pass))
    }
}

/// How complete and how old one type's copy of a connection is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyStatus {
    /// The unified type (`Contact`).
    pub object: CrmObject,
    /// Whether a first full pass over the type is done.
    pub complete: bool,
    /// The start of the last complete pass (see [`AsOf::pass`]); `None` before the first.
    pub as_of: Option<DateTime<Utc>>,
}

/// Synced lists, records and relations, per connection. Never fails a read: a copy that cannot
/// answer says [`Synced::NotSynced`] and the caller asks the provider.
#[async_trait]
pub trait ReadModel: Send + Sync {
    /// One page of a CRM list, in the live list's order and with its positions. The page is
    /// shared: the copy may keep it in memory and hand the same page to every reader.
    async fn list(
        &self,
        target: Target,
        request: &ListRequest,
        max_age: Duration,
    ) -> Synced<Arc<ListPage<CrmData>>>;

    /// Records of one type by their provider ids; ids the copy lacks are absent.
    async fn get_many(
        &self,
        target: Target,
        object: CrmObject,
        ids: &[String],
        max_age: Duration,
    ) -> Synced<Vec<Record<CrmData>>>;

    /// The ids of `to` records related to each `from` record (as [`Crm::associated`]).
    ///
    /// [`Crm::associated`]: crate::capability::Crm::associated
    async fn related(
        &self,
        target: Target,
        from: CrmObject,
        to: CrmObject,
        ids: &[String],
        max_age: Duration,
    ) -> Synced<HashMap<String, Vec<String>>>;

    /// Each CRM type's copy of the connection: complete or not, and as of when.
    async fn status(&self, target: Target) -> Vec<CopyStatus>;

    /// A record the gateway just created or updated at the provider, so the copy has it at once
    /// (write-through). A failure is logged, never returned: the next pass brings the record.
    async fn written(&self, target: Target, record: &Record<CrmData>);

    /// Whether a backfill is filling the connection's copy of `kind` (`Message`) and has not
    /// completed it: a read that would need the whole of it live waits for it instead.
    async fn backfilling(&self, _target: Target, _kind: &str) -> bool {
        false
    }

    /// One page of a mailbox's messages (metadata: bodies are not kept), in the live list's
    /// order, when the mailbox's copy covers the request (complete, fresh, inside its window,
    /// a filter it applies as the provider does).
    async fn emails(
        &self,
        _target: Target,
        _request: &MailRequest,
        _max_age: Duration,
    ) -> Synced<ListPage<EmailData>> {
        Synced::NotSynced
    }

    /// The messages of a mailbox from or to each of `participants` (lower-cased), newest first:
    /// the join behind `Contact.emails`, answered for the whole page of contacts at once.
    async fn emails_of(
        &self,
        _target: Target,
        _participants: &[String],
        _max_age: Duration,
    ) -> Synced<HashMap<String, Vec<Record<EmailData>>>> {
        Synced::NotSynced
    }

    /// One page of a calendar's events, as [`Self::emails`] answers mail.
    async fn events(
        &self,
        _target: Target,
        _query: &EventQuery,
        _max_age: Duration,
    ) -> Synced<ListPage<Event>> {
        Synced::NotSynced
    }

    /// The events of a calendar each of `attendees` (lower-cased) attends or organizes, earliest
    /// first: the join behind `Contact.events`.
    async fn events_of(
        &self,
        _target: Target,
        _attendees: &[String],
        _max_age: Duration,
    ) -> Synced<HashMap<String, Vec<Record<Event>>>> {
        Synced::NotSynced
    }

    /// One page of a chat's messages, as [`Self::emails`] answers mail; with Slack, only when
    /// every channel the page reads is backfilled.
    async fn messages(
        &self,
        _target: Target,
        _query: &MessageQuery,
        _max_age: Duration,
    ) -> Synced<ListPage<Message>> {
        Synced::NotSynced
    }
}
