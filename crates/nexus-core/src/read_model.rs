//! The read model seam: the copy of each connection's CRM records that incremental sync and
//! webhooks keep, asked before the provider. A resolver asks it first and reads live when it
//! answers [`Synced::NotSynced`]; the copy answers only when it can do so exactly: the type's
//! first full pass is done, the copy is younger than the caller's `max_age`, and the request's
//! filter is one the copy applies as the provider would.

use std::{collections::HashMap, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    Target,
    records::{
        ListPage, Record,
        crm::{CrmData, CrmObject, ListRequest},
    },
};

/// What the copy can say about a read.
#[derive(Debug, Clone)]
pub enum Synced<T> {
    /// The answer from the copy, as of `synced_at` (when the sync last caught up).
    Synced { value: T, synced_at: DateTime<Utc> },
    /// The copy cannot answer this exactly (incomplete, older than asked, a filter it cannot
    /// apply, or it failed): read live.
    NotSynced,
}

/// Synced lists, records and relations, per connection. Never fails a read: a copy that cannot
/// answer says [`Synced::NotSynced`] and the caller asks the provider.
#[async_trait]
pub trait ReadModel: Send + Sync {
    /// One page of a CRM list, in the live list's order and with its positions.
    async fn list(
        &self,
        target: Target,
        request: &ListRequest,
        max_age: Duration,
    ) -> Synced<ListPage<CrmData>>;

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
}
