//! Communication records — mail, calendar events, chat messages and channels — from Gmail,
//! Google Calendar, Outlook, Teams and Slack.

use async_graphql::{
    ComplexObject, Context, Enum, ID, InputObject, Json, Object, Result, SimpleObject,
};
use chrono::{DateTime, Utc};

use crate::providers::{Capability, Provider};

use super::{
    errors::bad_input,
    ids::GlobalId,
    lists::{MergedCursor, PageArgs, merged, write_target},
    types::{EmailAddress, ProviderEnum},
    validate,
};

type Page<T> = async_graphql::connection::Connection<MergedCursor, T>;

/// A mail message (Gmail message, Outlook message).
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct Email {
    #[graphql(skip)]
    pub origin: Provider,
    pub remote_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub raw: Json<serde_json::Value>,
    pub thread_id: Option<String>,
    pub subject: Option<String>,
    pub from: Option<EmailAddress>,
    pub to: Vec<EmailAddress>,
    pub cc: Vec<EmailAddress>,
    pub bcc: Vec<EmailAddress>,
    pub date: DateTime<Utc>,
    pub snippet: Option<String>,
    pub body_text: Option<String>,
    pub body_html: Option<String>,
    pub labels: Vec<String>,
    pub unread: bool,
}

#[ComplexObject]
impl Email {
    pub async fn id(&self) -> ID {
        GlobalId::for_record("Email", self.origin, &self.remote_id)
    }
    async fn provider(&self) -> ProviderEnum {
        self.origin.into()
    }
}

/// How an attendee answered an invitation.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttendeeResponse {
    NeedsAction,
    Accepted,
    Tentative,
    Declined,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct Attendee {
    pub email: String,
    pub name: Option<String>,
    pub response: AttendeeResponse,
}

/// A calendar event (Google Calendar, Outlook).
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct Event {
    #[graphql(skip)]
    pub origin: Provider,
    pub remote_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub raw: Json<serde_json::Value>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub location: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub all_day: bool,
    /// The IANA zone the event was scheduled in.
    pub time_zone: Option<String>,
    pub attendees: Vec<Attendee>,
    pub organizer: Option<EmailAddress>,
    pub status: Option<String>,
    pub html_link: Option<String>,
}

#[ComplexObject]
impl Event {
    pub async fn id(&self) -> ID {
        GlobalId::for_record("Event", self.origin, &self.remote_id)
    }
    async fn provider(&self) -> ProviderEnum {
        self.origin.into()
    }
}

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
pub struct EmailFilter {
    pub from: Option<String>,
    pub to: Option<String>,
    pub subject_contains: Option<String>,
    pub after: Option<DateTime<Utc>>,
    pub before: Option<DateTime<Utc>>,
    pub label: Option<String>,
    pub unread: Option<bool>,
}

#[derive(InputObject, Debug, Default)]
pub struct EventFilter {
    pub time_min: Option<DateTime<Utc>>,
    pub time_max: Option<DateTime<Utc>>,
    pub attendee: Option<String>,
    pub text: Option<String>,
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

fn check_range(field: &str, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<()> {
    match (from, to) {
        (Some(a), Some(b)) if a > b => Err(bad_input(field, "the range ends before it starts")),
        _ => Ok(()),
    }
}

#[derive(Default)]
pub struct CommsQuery;

#[Object]
impl CommsQuery {
    /// Mail across Gmail and Outlook, newest first.
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn emails(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<EmailFilter>,
        providers: Option<Vec<ProviderEnum>>,
    ) -> Result<Page<Email>> {
        if let Some(f) = &filter {
            validate::optional_email("filter.from", f.from.as_deref())?;
            validate::optional_email("filter.to", f.to.as_deref())?;
            check_range("filter.before", f.after, f.before)?;
        }
        merged(
            ctx,
            Capability::Emails,
            providers.as_deref(),
            PageArgs::parse(first, after)?,
        )
        .await
    }

    /// Events across Google Calendar and Outlook, earliest start first.
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<EventFilter>,
        providers: Option<Vec<ProviderEnum>>,
    ) -> Result<Page<Event>> {
        if let Some(f) = &filter {
            validate::optional_email("filter.attendee", f.attendee.as_deref())?;
            check_range("filter.timeMax", f.time_min, f.time_max)?;
        }
        merged(
            ctx,
            Capability::Events,
            providers.as_deref(),
            PageArgs::parse(first, after)?,
        )
        .await
    }

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
            check_range("filter.before", f.after, f.before)?;
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

#[derive(InputObject, Debug)]
pub struct SendEmailInput {
    pub provider: ProviderEnum,
    pub to: Vec<String>,
    #[graphql(default)]
    pub cc: Vec<String>,
    #[graphql(default)]
    pub bcc: Vec<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    /// Reply in the thread of this email.
    pub reply_to_id: Option<ID>,
    /// Repeating a send with the same key returns the first result and sends nothing.
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Debug)]
pub struct ModifyEmailLabelsInput {
    pub id: ID,
    #[graphql(default)]
    pub add: Vec<String>,
    #[graphql(default)]
    pub remove: Vec<String>,
}

#[derive(InputObject, Debug)]
pub struct CreateEventInput {
    pub provider: ProviderEnum,
    pub title: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    #[graphql(default)]
    pub all_day: bool,
    pub time_zone: Option<String>,
    pub description: Option<String>,
    pub location: Option<String>,
    #[graphql(default)]
    pub attendees: Vec<String>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Debug)]
pub struct UpdateEventInput {
    pub id: ID,
    pub title: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub time_zone: Option<String>,
    pub description: Option<String>,
    pub location: Option<String>,
    pub attendees: Option<Vec<String>>,
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
pub struct SendEmailPayload {
    pub email: Email,
}

#[derive(SimpleObject)]
pub struct ModifyEmailLabelsPayload {
    pub email: Email,
}

#[derive(SimpleObject)]
pub struct CreateEventPayload {
    pub event: Event,
}

#[derive(SimpleObject)]
pub struct UpdateEventPayload {
    pub event: Event,
}

#[derive(SimpleObject)]
pub struct PostMessagePayload {
    pub message: Message,
}

fn check_addresses(field: &str, list: &[String]) -> Result<()> {
    list.iter().try_for_each(|a| validate::email(field, a))
}

#[derive(Default)]
pub struct CommsMutation;

#[Object]
impl CommsMutation {
    async fn send_email(
        &self,
        ctx: &Context<'_>,
        input: SendEmailInput,
    ) -> Result<SendEmailPayload> {
        if input.to.is_empty() {
            return Err(bad_input("input.to", "at least one recipient is required"));
        }
        check_addresses("input.to", &input.to)?;
        check_addresses("input.cc", &input.cc)?;
        check_addresses("input.bcc", &input.bcc)?;
        if input.text.is_none() && input.html.is_none() {
            return Err(bad_input("input.text", "give text, html or both"));
        }
        if let Some(id) = &input.reply_to_id {
            validate::record_id("input.replyToId", id, "Email")?;
        }
        match write_target(ctx, Capability::Emails, input.provider.into()).await? {}
    }

    async fn modify_email_labels(
        &self,
        ctx: &Context<'_>,
        input: ModifyEmailLabelsInput,
    ) -> Result<ModifyEmailLabelsPayload> {
        let (provider, _) = validate::record_id("input.id", &input.id, "Email")?;
        if input.add.is_empty() && input.remove.is_empty() {
            return Err(bad_input("input.add", "give labels to add or to remove"));
        }
        match write_target(ctx, Capability::Emails, provider).await? {}
    }

    async fn create_event(
        &self,
        ctx: &Context<'_>,
        input: CreateEventInput,
    ) -> Result<CreateEventPayload> {
        validate::non_empty("input.title", &input.title)?;
        check_range("input.end", Some(input.start), Some(input.end))?;
        check_addresses("input.attendees", &input.attendees)?;
        match write_target(ctx, Capability::Events, input.provider.into()).await? {}
    }

    async fn update_event(
        &self,
        ctx: &Context<'_>,
        input: UpdateEventInput,
    ) -> Result<UpdateEventPayload> {
        let (provider, _) = validate::record_id("input.id", &input.id, "Event")?;
        check_range("input.end", input.start, input.end)?;
        check_addresses(
            "input.attendees",
            input.attendees.as_deref().unwrap_or_default(),
        )?;
        match write_target(ctx, Capability::Events, provider).await? {}
    }

    async fn post_message(
        &self,
        ctx: &Context<'_>,
        input: PostMessageInput,
    ) -> Result<PostMessagePayload> {
        validate::non_empty("input.channelId", &input.channel_id)?;
        validate::non_empty("input.text", &input.text)?;
        match write_target(ctx, Capability::Messages, input.provider.into()).await? {}
    }
}
