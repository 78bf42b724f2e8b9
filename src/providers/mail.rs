//! The mail capability: mail as Gmail and Outlook hold it, in one shape (the core vocabulary's
//! `nexus_core::records::mail`: an [`EmailData`] per message, a [`MailRequest`] for one page of
//! a filtered list, the writes), and the [`Mail`] trait both implement.
//!
//! [`CachedMail`] is the layer resolvers get from the registry: an adapter with the list cache
//! in front of it (`cache`), so the same page asked again within five minutes (or the request's
//! `maxAge`, when shorter) makes no upstream call, and a write empties the tenant's cached pages.

mod cache;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;

pub use nexus_core::Mail;
pub use nexus_core::records::mail::*;

use crate::upstream::{ProviderError, Target};

use super::record::{Feed, Fetch, ListPage, Record, Sent};

pub use cache::MailCache;

/// A mail adapter behind the list cache.
pub struct CachedMail {
    inner: Arc<dyn Mail>,
    cache: MailCache,
}

impl CachedMail {
    /// `inner` behind `cache` (clones of one cache share its pages).
    pub fn new(inner: Arc<dyn Mail>, cache: MailCache) -> Self {
        Self { inner, cache }
    }
}

#[async_trait]
impl Mail for CachedMail {
    /// A page for each request: the cached ones from the cache, the others fetched together.
    async fn list_many(
        &self,
        target: Target,
        requests: &[MailRequest],
    ) -> Result<Vec<ListPage<EmailData>>, ProviderError> {
        let pages = self
            .list_many_within(target, requests, Duration::MAX)
            .await?;
        Ok(pages.into_iter().map(|(page, _)| page).collect())
    }

    /// One page, from the cache when the same page was fetched in the last five minutes.
    async fn list(
        &self,
        target: Target,
        request: &MailRequest,
    ) -> Result<ListPage<EmailData>, ProviderError> {
        let (page, _) = self.list_within(target, request, Duration::MAX).await?;
        Ok(page)
    }

    /// A page for each request: the ones cached within `max_age` from the cache (with when they
    /// were fetched), the others fetched together and cached.
    async fn list_many_within(
        &self,
        target: Target,
        requests: &[MailRequest],
        max_age: Duration,
    ) -> Result<Vec<(ListPage<EmailData>, Fetch)>, ProviderError> {
        let mut pages = Vec::with_capacity(requests.len());
        let mut missing = Vec::new();
        for (i, request) in requests.iter().enumerate() {
            let cached = self.cache.get(target, request, max_age).await;
            if cached.is_none() {
                missing.push(i);
            }
            pages.push(cached);
        }
        if !missing.is_empty() {
            let asked: Vec<MailRequest> = missing.iter().map(|i| requests[*i].clone()).collect();
            let fetched = self.inner.list_many(target, &asked).await?;
            let fetch = Fetch::now();
            for (i, page) in missing.into_iter().zip(fetched) {
                self.cache
                    .put(target, &requests[i], page.clone(), fetch)
                    .await;
                pages[i] = Some((page, fetch));
            }
        }
        Ok(pages
            .into_iter()
            .map(|p| p.unwrap_or_else(|| (ListPage::empty(), Fetch::now())))
            .collect())
    }

    /// One page, from the cache when the same page was fetched within `max_age`.
    async fn list_within(
        &self,
        target: Target,
        request: &MailRequest,
        max_age: Duration,
    ) -> Result<(ListPage<EmailData>, Fetch), ProviderError> {
        if let Some(cached) = self.cache.get(target, request, max_age).await {
            return Ok(cached);
        }
        let page = self.inner.list(target, request).await?;
        let fetch = Fetch::now();
        self.cache.put(target, request, page.clone(), fetch).await;
        Ok((page, fetch))
    }

    async fn get(
        &self,
        target: Target,
        id: &str,
    ) -> Result<Option<Record<EmailData>>, ProviderError> {
        self.inner.get(target, id).await
    }

    async fn get_many(
        &self,
        target: Target,
        ids: &[String],
    ) -> Result<Vec<Record<EmailData>>, ProviderError> {
        self.inner.get_many(target, ids).await
    }

    /// Sends, then forgets the tenant's cached lists (sent or not: a failure may have sent).
    async fn send(
        &self,
        target: Target,
        email: &SendEmail,
    ) -> Result<Sent<EmailData>, ProviderError> {
        let sent = self.inner.send(target, email).await;
        self.cache.forget(target.tenant).await;
        sent
    }

    async fn find_sent(
        &self,
        target: Target,
        message_id: &str,
    ) -> Result<Option<Record<EmailData>>, ProviderError> {
        self.inner.find_sent(target, message_id).await
    }

    async fn modify_labels(
        &self,
        target: Target,
        id: &str,
        change: &LabelChange,
    ) -> Result<Record<EmailData>, ProviderError> {
        let changed = self.inner.modify_labels(target, id, change).await;
        self.cache.forget(target.tenant).await;
        changed
    }

    fn feeds(&self) -> bool {
        self.inner.feeds()
    }

    async fn changes(
        &self,
        target: Target,
        cursor: Option<&str>,
    ) -> Result<Option<Feed>, ProviderError> {
        self.inner.changes(target, cursor).await
    }
}
