//! Google as the registry holds it: Gmail's [`Mail`] (lists, reads and writes in `gmail.rs`, the
//! history feed in `gmail_history.rs`) and Google Calendar's [`Calendar`] (`calendar/`), two
//! capabilities of one adapter, registered under their own providers.

use async_trait::async_trait;

use crate::{
    providers::{
        calendar::{Calendar, Event, EventPatch, EventQuery, EventWrite},
        mail::{EmailData, LabelChange, Mail, MailRequest, SendEmail},
        record::{Feed, ListPage, Record, Sent},
    },
    upstream::{ProviderError, Target},
};

use super::GoogleProvider;

/// Gmail: a single list is a batch of one (the trait's default).
#[async_trait]
impl Mail for GoogleProvider {
    async fn list_many(
        &self,
        target: Target,
        requests: &[MailRequest],
    ) -> Result<Vec<ListPage<EmailData>>, ProviderError> {
        self.list_mail_many(target, requests).await
    }

    async fn get(
        &self,
        target: Target,
        id: &str,
    ) -> Result<Option<Record<EmailData>>, ProviderError> {
        self.get_mail(target, id).await
    }

    async fn get_many(
        &self,
        target: Target,
        ids: &[String],
    ) -> Result<Vec<Record<EmailData>>, ProviderError> {
        self.get_mail_many(target, ids).await
    }

    async fn send(
        &self,
        target: Target,
        email: &SendEmail,
    ) -> Result<Sent<EmailData>, ProviderError> {
        self.send_mail(target, email).await
    }

    async fn find_sent(
        &self,
        target: Target,
        message_id: &str,
    ) -> Result<Option<Record<EmailData>>, ProviderError> {
        self.find_sent_mail(target, message_id).await
    }

    async fn modify_labels(
        &self,
        target: Target,
        id: &str,
        change: &LabelChange,
    ) -> Result<Record<EmailData>, ProviderError> {
        self.modify_mail_labels(target, id, change).await
    }

    fn feeds(&self) -> bool {
        true
    }

    async fn changes(
        &self,
        target: Target,
        cursor: Option<&str>,
    ) -> Result<Option<Feed>, ProviderError> {
        self.gmail_changes(target, cursor).await.map(Some)
    }
}

#[async_trait]
impl Calendar for GoogleProvider {
    async fn list(
        &self,
        target: Target,
        query: &EventQuery,
    ) -> Result<ListPage<Event>, ProviderError> {
        self.list_events(target, query).await
    }

    async fn attended(
        &self,
        target: Target,
        emails: &[String],
        limit: usize,
    ) -> Result<Vec<ListPage<Event>>, ProviderError> {
        self.attended_events(target, emails, limit).await
    }

    async fn get(&self, target: Target, id: &str) -> Result<Option<Record<Event>>, ProviderError> {
        self.get_event(target, id).await
    }

    async fn get_many(
        &self,
        target: Target,
        ids: &[String],
    ) -> Result<Vec<Record<Event>>, ProviderError> {
        self.get_event_many(target, ids).await
    }

    async fn create(
        &self,
        target: Target,
        write: &EventWrite,
    ) -> Result<Record<Event>, ProviderError> {
        self.create_event(target, write).await
    }

    async fn update(
        &self,
        target: Target,
        id: &str,
        patch: &EventPatch,
    ) -> Result<Record<Event>, ProviderError> {
        self.update_event(target, id, patch).await
    }

    fn feeds(&self) -> bool {
        true
    }

    async fn changes(
        &self,
        target: Target,
        cursor: Option<&str>,
    ) -> Result<Option<Feed>, ProviderError> {
        self.calendar_changes(target, cursor).await.map(Some)
    }
}
