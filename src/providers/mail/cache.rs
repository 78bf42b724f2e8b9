//! The mail list cache (the spec: message lists cached five minutes per user and query): pages
//! keyed by tenant, provider and the whole request (filter, position, size, bodies), kept in the
//! `lists` cache for as long as the provider's catalog entry says (five minutes) from when they
//! were fetched. A tenant's send or label change invalidates every page of that tenant, so its
//! next list reaches the provider again.

use crate::{
    auth::Tenant,
    providers::record::ListPage,
    upstream::{Cache, Target},
};

use super::{EmailData, MailRequest};

/// Tenant and the request as text (filter, position, size, bodies).
type Key = (Tenant, String);

/// Shared by every request (clones share the entries).
#[derive(Clone)]
pub struct MailCache {
    pages: Cache<Key, ListPage<EmailData>>,
}

impl Default for MailCache {
    fn default() -> Self {
        Self {
            pages: Cache::new("lists"),
        }
    }
}

fn key(target: Target, request: &MailRequest) -> Key {
    (target.tenant, format!("{request:?}"))
}

impl MailCache {
    pub async fn get(&self, target: Target, request: &MailRequest) -> Option<ListPage<EmailData>> {
        let page = self.pages.get(target.provider, &key(target, request)).await;
        metrics::counter!(
            "nexus_mail_cache_total",
            "provider" => target.provider.slug(),
            "outcome" => if page.is_some() { "hit" } else { "miss" },
        )
        .increment(1);
        page
    }

    pub async fn put(&self, target: Target, request: &MailRequest, page: ListPage<EmailData>) {
        self.pages
            .insert(target.provider, key(target, request), page)
            .await;
    }

    /// Drops every page of `tenant`, of every provider.
    pub fn forget(&self, tenant: Tenant) {
        self.pages.forget(tenant);
    }
}
