//! Mail as Gmail and Outlook hold it, in one shape: an [`EmailData`] per message, a
//! [`MailRequest`] for one page of a filtered list (newest first, resuming after a
//! [`Position`]), the writes ([`SendEmail`], [`LabelChange`]), and [`MailAdapter`], which sends
//! each to the provider's adapter.
//!
//! [`Mail`] is what resolvers use: the adapter with the list cache in front of it (`cache`), so
//! the same page asked again within five minutes makes no upstream call, and a write empties the
//! tenant's cached pages.

mod cache;

use chrono::{DateTime, Utc};

use crate::upstream::{ProviderError, Target};

use super::{
    google::GoogleProvider,
    microsoft::MicrosoftProvider,
    record::{Feed, ListPage, Order, Position, Record, Sorted},
};

pub use cache::MailCache;

/// A person on a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub name: Option<String>,
    pub email: String,
}

/// One message.
#[derive(Debug, Clone)]
pub struct EmailData {
    pub thread_id: Option<String>,
    pub subject: Option<String>,
    pub from: Option<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    /// When the mailbox received it (Gmail `internalDate`, Outlook `receivedDateTime`): the
    /// list's key.
    pub date: DateTime<Utc>,
    pub snippet: Option<String>,
    /// Only when the request asked for bodies.
    pub body_text: Option<String>,
    pub body_html: Option<String>,
    pub labels: Vec<String>,
    pub unread: bool,
}

impl Sorted for EmailData {
    const ORDER: Order = Order::NewestFirst;

    fn key(record: &Record<Self>) -> DateTime<Utc> {
        record.data.date
    }
}

/// What a list keeps; every field is pushed down to the provider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailFilter {
    pub from: Option<String>,
    pub to: Option<String>,
    pub subject_contains: Option<String>,
    /// Received at or after.
    pub after: Option<DateTime<Utc>>,
    /// Received before.
    pub before: Option<DateTime<Utc>>,
    pub label: Option<String>,
    pub unread: Option<bool>,
    /// From or to this address (Contact.emails).
    pub participant: Option<String>,
}

impl MailFilter {
    /// Whether a message passes the time bounds exactly (providers search by the second).
    pub fn within(&self, date: DateTime<Utc>) -> bool {
        self.after.is_none_or(|a| date >= a) && self.before.is_none_or(|b| date < b)
    }
}

/// One page of a list: at most `limit` messages strictly after `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailRequest {
    pub filter: MailFilter,
    pub after: Option<Position>,
    pub limit: usize,
    /// Whether `bodyText` / `bodyHtml` are wanted (they cost a larger answer).
    pub bodies: bool,
}

/// A message to send.
#[derive(Debug, Clone, Default)]
pub struct SendEmail {
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    /// The provider id of the message this one answers, in its thread.
    pub reply_to: Option<String>,
}

/// Labels to add to and remove from a message (Gmail labels, Outlook categories), by name.
#[derive(Debug, Clone, Default)]
pub struct LabelChange {
    pub add: Vec<String>,
    pub remove: Vec<String>,
}

/// A mail adapter.
#[derive(Clone, Copy)]
pub enum MailAdapter<'a> {
    Gmail(&'a GoogleProvider),
    Outlook(&'a MicrosoftProvider),
}

impl MailAdapter<'_> {
    /// One page of a list.
    pub async fn list(
        &self,
        target: Target,
        request: &MailRequest,
    ) -> Result<ListPage<EmailData>, ProviderError> {
        match self {
            MailAdapter::Gmail(a) => a.list_mail(target, request).await,
            MailAdapter::Outlook(a) => a.list_mail(target, request).await,
        }
    }

    /// One page for each request, fetched together (Gmail's batch endpoint, Graph's `$batch`).
    pub async fn list_many(
        &self,
        target: Target,
        requests: &[MailRequest],
    ) -> Result<Vec<ListPage<EmailData>>, ProviderError> {
        match self {
            MailAdapter::Gmail(a) => a.list_mail_many(target, requests).await,
            MailAdapter::Outlook(a) => a.list_mail_many(target, requests).await,
        }
    }

    /// One message by its provider id.
    pub async fn get(
        &self,
        target: Target,
        id: &str,
    ) -> Result<Option<Record<EmailData>>, ProviderError> {
        match self {
            MailAdapter::Gmail(a) => a.get_mail(target, id).await,
            MailAdapter::Outlook(a) => a.get_mail(target, id).await,
        }
    }

    pub async fn send(
        &self,
        target: Target,
        email: &SendEmail,
    ) -> Result<Record<EmailData>, ProviderError> {
        match self {
            MailAdapter::Gmail(a) => a.send_mail(target, email).await,
            MailAdapter::Outlook(a) => a.send_mail(target, email).await,
        }
    }

    pub async fn modify_labels(
        &self,
        target: Target,
        id: &str,
        change: &LabelChange,
    ) -> Result<Record<EmailData>, ProviderError> {
        match self {
            MailAdapter::Gmail(a) => a.modify_mail_labels(target, id, change).await,
            MailAdapter::Outlook(a) => a.modify_mail_labels(target, id, change).await,
        }
    }
    /// The mailbox's changes after `cursor` (from now when `None`), where the provider keeps a
    /// change feed this build reads (Gmail's history, Graph's message delta).
    pub async fn changes(
        &self,
        target: Target,
        cursor: Option<&str>,
    ) -> Result<Option<Feed>, ProviderError> {
        match self {
            MailAdapter::Gmail(a) => a.gmail_changes(target, cursor).await.map(Some),
            MailAdapter::Outlook(a) => a.mail_changes(target, cursor).await.map(Some),
        }
    }
}

/// A mail adapter behind the list cache.
#[derive(Clone, Copy)]
pub struct Mail<'a> {
    pub adapter: MailAdapter<'a>,
    pub cache: &'a MailCache,
}

impl Mail<'_> {
    /// One page, from the cache when the same page was fetched in the last five minutes.
    pub async fn list(
        &self,
        target: Target,
        request: &MailRequest,
    ) -> Result<ListPage<EmailData>, ProviderError> {
        if let Some(page) = self.cache.get(target, request).await {
            return Ok(page);
        }
        let page = self.adapter.list(target, request).await?;
        self.cache.put(target, request, page.clone()).await;
        Ok(page)
    }

    /// A page for each request: the cached ones from the cache, the others fetched together.
    pub async fn list_many(
        &self,
        target: Target,
        requests: &[MailRequest],
    ) -> Result<Vec<ListPage<EmailData>>, ProviderError> {
        let mut pages = Vec::with_capacity(requests.len());
        let mut missing = Vec::new();
        for (i, request) in requests.iter().enumerate() {
            let cached = self.cache.get(target, request).await;
            if cached.is_none() {
                missing.push(i);
            }
            pages.push(cached);
        }
        if !missing.is_empty() {
            let asked: Vec<MailRequest> = missing.iter().map(|i| requests[*i].clone()).collect();
            let fetched = self.adapter.list_many(target, &asked).await?;
            for (i, page) in missing.into_iter().zip(fetched) {
                self.cache.put(target, &requests[i], page.clone()).await;
                pages[i] = Some(page);
            }
        }
        Ok(pages
            .into_iter()
            .map(|p| p.unwrap_or_else(ListPage::empty))
            .collect())
    }

    pub async fn get(
        &self,
        target: Target,
        id: &str,
    ) -> Result<Option<Record<EmailData>>, ProviderError> {
        self.adapter.get(target, id).await
    }

    /// Sends, then forgets the tenant's cached lists (sent or not: a failure may have sent).
    pub async fn send(
        &self,
        target: Target,
        email: &SendEmail,
    ) -> Result<Record<EmailData>, ProviderError> {
        let sent = self.adapter.send(target, email).await;
        self.cache.forget(target.tenant);
        sent
    }

    pub async fn modify_labels(
        &self,
        target: Target,
        id: &str,
        change: &LabelChange,
    ) -> Result<Record<EmailData>, ProviderError> {
        let changed = self.adapter.modify_labels(target, id, change).await;
        self.cache.forget(target.tenant);
        changed
    }
}
