//! The calendar capability (Google Calendar, Outlook).

use async_trait::async_trait;

use crate::{
    ProviderError, Target,
    records::{
        Feed, ListPage, Record,
        calendar::{Event, EventPatch, EventQuery, EventWrite},
    },
};

/// A calendar: events earliest first, the events of several attendees at once, one event,
/// writes, and its change feed.
#[async_trait]
pub trait Calendar: Send + Sync {
    async fn list(
        &self,
        target: Target,
        query: &EventQuery,
    ) -> Result<ListPage<Event>, ProviderError>;

    /// Each address's first `limit` events (as attendee or organizer), fetched together: one
    /// batch of searches (Google) or one calendar view split by attendee (Outlook).
    async fn attended(
        &self,
        target: Target,
        emails: &[String],
        limit: usize,
    ) -> Result<Vec<ListPage<Event>>, ProviderError>;

    /// One event by its provider id; `None` when there is none.
    async fn get(&self, target: Target, id: &str) -> Result<Option<Record<Event>>, ProviderError>;

    /// Events by their provider ids, fetched together (Google's batch endpoint, Graph's
    /// `$batch`, each in batches as large as the provider takes); ids of no event (or of a
    /// cancelled one) are absent from the answer, which is in no particular order.
    async fn get_many(
        &self,
        target: Target,
        ids: &[String],
    ) -> Result<Vec<Record<Event>>, ProviderError>;

    async fn create(
        &self,
        target: Target,
        write: &EventWrite,
    ) -> Result<Record<Event>, ProviderError>;

    async fn update(
        &self,
        target: Target,
        id: &str,
        patch: &EventPatch,
    ) -> Result<Record<Event>, ProviderError>;

    /// Sync hook: whether the calendar keeps a change feed this build polls.
    fn feeds(&self) -> bool;

    /// Sync hook: the calendar's changes after `cursor` (from now when `None`); `None` where
    /// [`feeds`](Self::feeds) is false.
    async fn changes(
        &self,
        target: Target,
        cursor: Option<&str>,
    ) -> Result<Option<Feed>, ProviderError>;
}
