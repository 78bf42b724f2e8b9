//! Slack as the registry holds it: the [`Chat`] capability (`chat.rs`). Slack keeps no change
//! feed to poll (its Events API pushes), so the trait's feed hook keeps its default; its whole
//! directory (`users.list`) answers many emails at once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    providers::{
        chat::{
            Channel, ChannelQuery, Chat, ChatUser, Message, MessageFilter, MessageQuery,
            PostMessage, UserKey,
        },
        record::{ListPage, Record, Sent},
    },
    upstream::{ProviderError, Target},
};

use super::SlackProvider;

#[async_trait]
impl Chat for SlackProvider {
    /// Slack's channel ids never hold a `/` (Teams' carry their team).
    fn owns_channel(&self, id: &str) -> bool {
        !id.contains('/')
    }

    async fn messages(
        &self,
        target: Target,
        query: &MessageQuery,
    ) -> Result<ListPage<Message>, ProviderError> {
        SlackProvider::messages(self, target, &self.channels, query).await
    }

    async fn channels(
        &self,
        target: Target,
        query: &ChannelQuery,
    ) -> Result<ListPage<Channel>, ProviderError> {
        SlackProvider::channels(self, target, &self.channels, query).await
    }

    async fn message(
        &self,
        target: Target,
        remote_id: &str,
    ) -> Result<Option<Record<Message>>, ProviderError> {
        SlackProvider::message(self, target, &self.channels, remote_id).await
    }

    async fn post(
        &self,
        target: Target,
        post: &PostMessage,
    ) -> Result<Sent<Message>, ProviderError> {
        SlackProvider::post(self, target, &self.channels, post).await
    }

    async fn find_posted(
        &self,
        target: Target,
        post: &PostMessage,
        since: DateTime<Utc>,
    ) -> Result<Option<Record<Message>>, ProviderError> {
        SlackProvider::find_posted(self, target, &self.channels, post, since).await
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
        SlackProvider::scan(self, target, &self.channels, &filter).await
    }

    async fn user(&self, target: Target, key: &UserKey) -> Result<Option<ChatUser>, ProviderError> {
        match key {
            UserKey::Id(id) => SlackProvider::user(self, target, id).await,
            UserKey::Email(email) => self.user_by_email(target, email).await,
        }
    }

    fn lists_directory(&self) -> bool {
        true
    }

    async fn directory(&self, target: Target) -> Result<Vec<ChatUser>, ProviderError> {
        SlackProvider::directory(self, target).await
    }
}
