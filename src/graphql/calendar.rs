//! Calendar events — Google Calendar and Outlook: the `events` list, creating and updating.

use async_graphql::{
    ComplexObject, Context, Enum, ID, InputObject, Json, Object, Result, SimpleObject,
};
use chrono::{DateTime, Utc};

use crate::providers::{Capability, Provider};

use super::{
    ids::GlobalId,
    lists::{MergedCursor, PageArgs, merged, no_adapter, write_target},
    types::{EmailAddress, ProviderEnum},
    validate,
};

type Page<T> = async_graphql::connection::Connection<MergedCursor, T>;

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

#[derive(InputObject, Debug, Default)]
pub struct EventFilter {
    pub time_min: Option<DateTime<Utc>>,
    pub time_max: Option<DateTime<Utc>>,
    pub attendee: Option<String>,
    pub text: Option<String>,
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

#[derive(SimpleObject)]
pub struct CreateEventPayload {
    pub event: Event,
}

#[derive(SimpleObject)]
pub struct UpdateEventPayload {
    pub event: Event,
}

#[derive(Default)]
pub struct CalendarQuery;

#[Object]
impl CalendarQuery {
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
            validate::range("filter.timeMax", f.time_min, f.time_max)?;
        }
        merged(
            ctx,
            Capability::Events,
            providers.as_deref(),
            PageArgs::parse(first, after)?,
        )
        .await
    }
}

#[derive(Default)]
pub struct CalendarMutation;

#[Object]
impl CalendarMutation {
    async fn create_event(
        &self,
        ctx: &Context<'_>,
        input: CreateEventInput,
    ) -> Result<CreateEventPayload> {
        validate::non_empty("input.title", &input.title)?;
        validate::range("input.end", Some(input.start), Some(input.end))?;
        validate::addresses("input.attendees", &input.attendees)?;
        let provider: Provider = input.provider.into();
        write_target(ctx, Capability::Events, provider).await?;
        Err(no_adapter(provider))
    }

    async fn update_event(
        &self,
        ctx: &Context<'_>,
        input: UpdateEventInput,
    ) -> Result<UpdateEventPayload> {
        let (provider, _) = validate::record_id("input.id", &input.id, "Event")?;
        validate::range("input.end", input.start, input.end)?;
        validate::addresses(
            "input.attendees",
            input.attendees.as_deref().unwrap_or_default(),
        )?;
        let provider: Provider = provider;
        write_target(ctx, Capability::Events, provider).await?;
        Err(no_adapter(provider))
    }
}
