//! The mail list cache (the spec: message lists cached five minutes per user and query): pages
//! keyed by tenant, provider and the whole request (filter, position, size, bodies), kept in
//! moka for five minutes from when they were fetched. A tenant's send or label change
//! invalidates every page of that tenant, so its next list reaches the provider again.

use std::time::Duration;

use moka::future::Cache;
use uuid::Uuid;

use crate::{
    auth::Tenant,
    providers::{Provider, record::ListPage},
    upstream::Target,
};

use super::{EmailData, MailRequest};

/// How long a page stays.
const TIME_TO_LIVE: Duration = Duration::from_secs(300);
/// Pages kept at most, across tenants.
const CAPACITY: u64 = 10_000;

/// Tenant, provider and the request as text (filter, position, size, bodies).
type Key = (Uuid, Uuid, Provider, String);

/// Shared by every request (clones share the entries).
#[derive(Clone)]
pub struct MailCache {
    pages: Cache<Key, ListPage<EmailData>>,
}

impl Default for MailCache {
    fn default() -> Self {
        Self {
            pages: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(TIME_TO_LIVE)
                .support_invalidation_closures()
                .build(),
        }
    }
}

fn key(target: Target, request: &MailRequest) -> Key {
    (
        target.tenant.user_id,
        target.tenant.project_id,
        target.provider,
        format!("{request:?}"),
    )
}

impl MailCache {
    pub async fn get(&self, target: Target, request: &MailRequest) -> Option<ListPage<EmailData>> {
        let page = self.pages.get(&key(target, request)).await;
        metrics::counter!(
            "nexus_mail_cache_total",
            "provider" => target.provider.slug(),
            "outcome" => if page.is_some() { "hit" } else { "miss" },
        )
        .increment(1);
        page
    }

    pub async fn put(&self, target: Target, request: &MailRequest, page: ListPage<EmailData>) {
        self.pages.insert(key(target, request), page).await;
    }

    /// Drops every page of `tenant`, of every provider.
    pub fn forget(&self, tenant: Tenant) {
        let (user, project) = (tenant.user_id, tenant.project_id);
        if let Err(error) = self
            .pages
            .invalidate_entries_if(move |k, _| k.0 == user && k.1 == project)
        {
            // Only when the cache was built without invalidation closures; clear it all then.
            tracing::warn!(%error, "mail cache cleared whole");
            self.pages.invalidate_all();
        }
    }
}
