//! The mail list cache (the spec: message lists cached five minutes per user and query): pages
//! keyed by tenant, provider and the whole request (filter, position, size, bodies), kept in the
//! `lists` cache for as long as the provider's catalog entry says (five minutes) from when they
//! were fetched. A tenant's send or label change invalidates every page of that tenant, so its
//! next list reaches the provider again. Each page keeps the time it was fetched: a read that
//! asks for a younger answer (`maxAge`) passes over it, and one it answers says when it was
//! fetched (`source: CACHED`).
//!
//! Once told the database ([`MailCache::share_through`]), a tenant's pages dropped here are
//! dropped in the other processes on it too (`changes::stale`, PostgreSQL only).

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use crate::{
    auth::Tenant,
    changes::stale::{self, Stale},
    providers::record::{Fetch, ListPage},
    upstream::{Cache, Target},
};

use super::{EmailData, MailRequest};

/// Tenant and the request as text (filter, position, size, bodies).
type Key = (Tenant, String);

/// Shared by every request (clones share the entries).
#[derive(Clone)]
pub struct MailCache {
    pages: Cache<Key, (ListPage<EmailData>, DateTime<Utc>)>,
    /// The database other processes listen on, once the gateway has told it.
    shared: Arc<OnceLock<DatabaseConnection>>,
}

impl Default for MailCache {
    fn default() -> Self {
        Self {
            pages: Cache::new("lists"),
            shared: Arc::default(),
        }
    }
}

fn key(target: Target, request: &MailRequest) -> Key {
    (target.tenant, format!("{request:?}"))
}

impl MailCache {
    /// The page of `request` and when it was fetched, if that was within `max_age`.
    pub async fn get(
        &self,
        target: Target,
        request: &MailRequest,
        max_age: Duration,
    ) -> Option<(ListPage<EmailData>, Fetch)> {
        let page = self
            .pages
            .get(target.provider, &key(target, request))
            .await
            .filter(|(_, at)| (Utc::now() - *at).to_std().unwrap_or_default() <= max_age)
            .map(|(page, at)| (page, Fetch { at, cached: true }));
        metrics::counter!(
            "nexus_mail_cache_total",
            "provider" => target.provider.slug(),
            "outcome" => if page.is_some() { "hit" } else { "miss" },
        )
        .increment(1);
        page
    }

    /// Keeps `page`, fetched at `fetch`.
    pub async fn put(
        &self,
        target: Target,
        request: &MailRequest,
        page: ListPage<EmailData>,
        fetch: Fetch,
    ) {
        self.pages
            .insert(target.provider, key(target, request), (page, fetch.at))
            .await;
    }

    /// From now on, tells the other processes on `db` about the tenants whose pages it drops
    /// (every clone of this cache, once).
    pub fn share_through(&self, db: DatabaseConnection) {
        let _ = self.shared.set(db);
    }

    /// Drops every page of `tenant`, of every provider, here and in the other processes.
    pub async fn forget(&self, tenant: Tenant) {
        self.forget_here(tenant);
        if let Some(db) = self.shared.get() {
            stale::tell(db, Stale::mail(tenant)).await;
        }
    }

    /// Drops every page of `tenant`, of every provider, here only.
    pub fn forget_here(&self, tenant: Tenant) {
        self.pages.forget(tenant);
    }

    /// Drops every page.
    pub fn forget_all(&self) {
        self.pages.forget_all();
    }
}
