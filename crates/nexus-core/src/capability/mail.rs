//! The mail capability (Gmail, Outlook).

use std::time::Duration;

use async_trait::async_trait;

use crate::{
    ProviderError, Target,
    records::{
        Feed, Fetch, ListPage, Record, Sent,
        mail::{EmailData, LabelChange, MailRequest, SendEmail},
    },
};

/// A mailbox: filtered lists newest first, one message, sending and labelling, and its change
/// feed.
#[async_trait]
pub trait Mail: Send + Sync {
    /// One page for each request, fetched together (Gmail's batch endpoint, Graph's `$batch`).
    async fn list_many(
        &self,
        target: Target,
        requests: &[MailRequest],
    ) -> Result<Vec<ListPage<EmailData>>, ProviderError>;

    /// One page of a list: by default, a batch of one.
    async fn list(
        &self,
        target: Target,
        request: &MailRequest,
    ) -> Result<ListPage<EmailData>, ProviderError> {
        let mut pages = self
            .list_many(target, std::slice::from_ref(request))
            .await?;
        Ok(pages.pop().unwrap_or_else(ListPage::empty))
    }

    /// Pages as [`Mail::list_many`], where a cache in front of the provider answers only with
    /// pages fetched within `max_age`; each page with when it was fetched and whether a cache
    /// kept it. By default, no cache: every page is fetched now.
    async fn list_many_within(
        &self,
        target: Target,
        requests: &[MailRequest],
        _max_age: Duration,
    ) -> Result<Vec<(ListPage<EmailData>, Fetch)>, ProviderError> {
        let pages = self.list_many(target, requests).await?;
        let fetch = Fetch::now();
        Ok(pages.into_iter().map(|page| (page, fetch)).collect())
    }

    /// One page as [`Mail::list_many_within`] gives many: by default, no cache.
    async fn list_within(
        &self,
        target: Target,
        request: &MailRequest,
        _max_age: Duration,
    ) -> Result<(ListPage<EmailData>, Fetch), ProviderError> {
        let page = self.list(target, request).await?;
        Ok((page, Fetch::now()))
    }

    /// One message by its provider id; `None` when there is none.
    async fn get(
        &self,
        target: Target,
        id: &str,
    ) -> Result<Option<Record<EmailData>>, ProviderError>;

    /// Messages by their provider ids, fetched together (Gmail's batch endpoint, Graph's
    /// `$batch`, each in batches as large as the provider takes); ids of no message are absent
    /// from the answer, which is in no particular order.
    async fn get_many(
        &self,
        target: Target,
        ids: &[String],
    ) -> Result<Vec<Record<EmailData>>, ProviderError>;

    /// Sends `email`; an error is a send that did not go out or may not have (see
    /// [`ProviderError::may_have_acted`]), a [`Sent::Unread`] one that went out.
    async fn send(
        &self,
        target: Target,
        email: &SendEmail,
    ) -> Result<Sent<EmailData>, ProviderError>;

    /// The message this mailbox sent with RFC 5322 `message_id` (`<left@right>`), if any.
    async fn find_sent(
        &self,
        target: Target,
        message_id: &str,
    ) -> Result<Option<Record<EmailData>>, ProviderError>;

    async fn modify_labels(
        &self,
        target: Target,
        id: &str,
        change: &LabelChange,
    ) -> Result<Record<EmailData>, ProviderError>;

    /// Sync hook: whether the mailbox keeps a change feed this build polls.
    fn feeds(&self) -> bool;

    /// Sync hook: the mailbox's changes after `cursor` (from now when `None`); `None` where
    /// [`feeds`](Self::feeds) is false.
    async fn changes(
        &self,
        target: Target,
        cursor: Option<&str>,
    ) -> Result<Option<Feed>, ProviderError>;
}
