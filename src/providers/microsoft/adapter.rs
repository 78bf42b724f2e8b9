//! Microsoft Graph as the registry holds it: Outlook's [`Mail`] (`mail.rs`) and [`Calendar`]
//! (`calendar/`), and Teams' [`Chat`] (`teams.rs`), each change feed a Graph delta (`delta.rs`).
//! One adapter, registered under Outlook for mail and events and under Teams for chat.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    providers::{
        calendar::{Calendar, Event, EventPatch, EventQuery, EventWrite},
        chat::{
            Channel, ChannelQuery, Chat, ChatUser, Message, MessageFilter, MessageQuery,
            PostMessage, UserKey,
        },
        mail::{EmailData, LabelChange, Mail, MailRequest, SendEmail},
        record::{Feed, ListPage, Record, Sent},
    },
    upstream::{ProviderError, Target},
};

use super::MicrosoftProvider;

#[async_trait]
impl Mail for MicrosoftProvider {
    async fn list_many(
        &self,
        target: Target,
        requests: &[MailRequest],
    ) -> Result<Vec<ListPage<EmailData>>, ProviderError> {
        self.list_mail_many(target, requests).await
    }

    async fn list(
        &self,
        target: Target,
        request: &MailRequest,
    ) -> Result<ListPage<EmailData>, ProviderError> {
        self.list_mail(target, request).await
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
        self.mail_changes(target, cursor).await.map(Some)
    }
}

#[async_trait]
impl Calendar for MicrosoftProvider {
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

/// Teams: a channel id carries its team (`team/channel`); Graph looks a user up by id or email
/// alike; the channel-message delta is polled.
#[async_trait]
impl Chat for MicrosoftProvider {
    fn owns_channel(&self, id: &str) -> bool {
        id.contains('/')
    }

    async fn messages(
        &self,
        target: Target,
        query: &MessageQuery,
    ) -> Result<ListPage<Message>, ProviderError> {
        self.team_messages(target, &self.channels, query).await
    }

    async fn channels(
        &self,
        target: Target,
        query: &ChannelQuery,
    ) -> Result<ListPage<Channel>, ProviderError> {
        self.team_channels(target, &self.channels, query).await
    }

    async fn message(
        &self,
        target: Target,
        remote_id: &str,
    ) -> Result<Option<Record<Message>>, ProviderError> {
        self.team_message(target, &self.channels, remote_id).await
    }

    async fn post(
        &self,
        target: Target,
        post: &PostMessage,
    ) -> Result<Sent<Message>, ProviderError> {
        self.team_post(target, &self.channels, post).await
    }

    async fn find_posted(
        &self,
        target: Target,
        post: &PostMessage,
        since: DateTime<Utc>,
    ) -> Result<Option<Record<Message>>, ProviderError> {
        self.team_find_posted(target, &self.channels, post, since)
            .await
    }

    async fn scan(
        &self,
        target: Target,
        before: Option<DateTime<Utc>>,
    ) -> Result<Vec<Record<Message>>, ProviderError> {
        let filter = MessageFilter {
            before,
            ..MessageFilter::default()
        };
        self.team_scan(target, &self.channels, &filter).await
    }

    async fn user(&self, target: Target, key: &UserKey) -> Result<Option<ChatUser>, ProviderError> {
        match key {
            UserKey::Id(k) | UserKey::Email(k) => self.graph_user(target, k).await,
        }
    }

    fn feeds(&self) -> bool {
        true
    }

    async fn changes(
        &self,
        target: Target,
        cursor: Option<&str>,
    ) -> Result<Option<Feed>, ProviderError> {
        self.teams_changes(target, &self.channels, cursor)
            .await
            .map(Some)
    }
}
