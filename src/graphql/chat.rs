//! Chat — Slack and Teams: the `messages` and `channels` lists and posting.

use async_graphql::{ComplexObject, Context, ID, InputObject, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::providers::{Capability, Provider};

use super::{
    ids::GlobalId,
    lists::{MergedCursor, PageArgs, merged, no_adapter, write_target},
    types::ProviderEnum,
    validate,
};

type Page<T> = async_graphql::connection::Connection<MergedCursor, T>;

/// Who wrote a chat message.
#[derive(SimpleObject, Debug, Clone)]
pub struct MessageAuthor {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// A chat channel as a message names it.
#[derive(SimpleObject, Debug, Clone)]
pub struct ChannelRef {
    pub id: String,
    pub name: Option<String>,
}

/// A chat message (Slack, Teams).
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct Message {
    #[graphql(skip)]
    pub origin: Provider,
    pub remote_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub raw: Json<serde_json::Value>,
    pub text: String,
    pub channel: ChannelRef,
    pub author: Option<MessageAuthor>,
    pub sent_at: DateTime<Utc>,
    pub thread_id: Option<String>,
    pub reply_count: i32,
}

#[ComplexObject]
impl Message {
    pub async fn id(&self) -> ID {
        GlobalId::for_record("Message", self.origin, &self.remote_id)
    }
    async fn provider(&self) -> ProviderEnum {
        self.origin.into()
    }
}

/// A chat channel (Slack conversation, Teams channel).
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct Channel {
    #[graphql(skip)]
    pub origin: Provider,
    pub remote_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub raw: Json<serde_json::Value>,
    pub name: String,
    pub topic: Option<String>,
    pub is_private: bool,
}

#[ComplexObject]
impl Channel {
    pub async fn id(&self) -> ID {
        GlobalId::for_record("Channel", self.origin, &self.remote_id)
    }
    async fn provider(&self) -> ProviderEnum {
        self.origin.into()
    }
}

#[derive(InputObject, Debug, Default)]
pub struct MessageFilter {
    /// A channel's id as the provider knows it.
    pub channel: Option<String>,
    pub after: Option<DateTime<Utc>>,
    pub before: Option<DateTime<Utc>>,
    pub text_contains: Option<String>,
}

#[derive(InputObject, Debug, Default)]
pub struct ChannelFilter {
    pub name_contains: Option<String>,
}

#[derive(InputObject, Debug)]
pub struct PostMessageInput {
    pub provider: ProviderEnum,
    /// The channel's id as the provider knows it.
    pub channel_id: String,
    pub text: String,
    /// Reply in the thread of this message.
    pub thread_id: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject)]
pub struct PostMessagePayload {
    pub message: Message,
}

#[derive(Default)]
pub struct ChatQuery;

#[Object]
impl ChatQuery {
    /// Messages across Slack and Teams, newest first.
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<MessageFilter>,
        providers: Option<Vec<ProviderEnum>>,
    ) -> Result<Page<Message>> {
        if let Some(f) = &filter {
            validate::range("filter.before", f.after, f.before)?;
        }
        merged(
            ctx,
            Capability::Messages,
            providers.as_deref(),
            PageArgs::parse(first, after)?,
        )
        .await
    }

    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn channels(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(name = "filter")] _filter: Option<ChannelFilter>,
        providers: Option<Vec<ProviderEnum>>,
    ) -> Result<Page<Channel>> {
        merged(
            ctx,
            Capability::Channels,
            providers.as_deref(),
            PageArgs::parse(first, after)?,
        )
        .await
    }
}

#[derive(Default)]
pub struct ChatMutation;

#[Object]
impl ChatMutation {
    async fn post_message(
        &self,
        ctx: &Context<'_>,
        input: PostMessageInput,
    ) -> Result<PostMessagePayload> {
        validate::non_empty("input.channelId", &input.channel_id)?;
        validate::non_empty("input.text", &input.text)?;
        let provider: Provider = input.provider.into();
        write_target(ctx, Capability::Messages, provider).await?;
        Err(no_adapter(provider))
    }
}
