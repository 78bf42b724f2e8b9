//! Calendar events — Google Calendar and Outlook: the `events` list (filters pushed down to each
//! calendar, merged earliest start first), creating and updating (once per idempotency key), and
//! the events a CRM contact attends (`attended`), batched across the contacts of a response
//! through the request's `AttendedLoader`.

use async_graphql::{
    ComplexObject, Context, Enum, ID, InputObject, Json, Object, Result, SimpleObject,
    connection::Edge,
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use nexus_core::records::Raw;

use nexus_core::{ErrorKind, ProviderError, Target};

use crate::providers::{
    Capability, Cataloged, Kind, Provider,
    calendar::{self, Calendar, EventPatch, EventQuery, EventWrite, Record},
};

use super::{
    AppContext,
    errors::{bad_input, upstream_error},
    freshness::{DataSource, Fetched, MaxAge, Origin},
    ids::GlobalId,
    lists::{
        MergedCursor, MergedPage, PageArgs, connected, live, merged_page, no_adapter,
        not_connected, reauth_required, tenant, write_target,
    },
    loaders::{AttendeeKey, Loaders},
    types::{EmailAddress, ProviderEnum},
    validate,
    writes::{OnceKey, once},
};

type Page<T> = async_graphql::connection::Connection<MergedCursor, T>;

/// How an attendee answered an invitation.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "crate::providers::calendar::Response")]
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
    pub raw: Json<Raw>,
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
    #[graphql(skip)]
    pub fetched: Fetched,
}

#[ComplexObject]
impl Event {
    pub async fn id(&self) -> ID {
        GlobalId::for_record("Event", self.origin, &self.remote_id)
    }
    /// When this event was known to be as shown: when the provider answered (`LIVE`).
    async fn fetched_at(&self) -> DateTime<Utc> {
        self.fetched.at
    }
    /// Where this event came from.
    async fn source(&self) -> DataSource {
        self.fetched.source
    }
    async fn provider(&self) -> ProviderEnum {
        self.origin.into()
    }
}

#[derive(InputObject, Debug, Default)]
pub struct EventFilter {
    /// Events that end after this instant.
    pub time_min: Option<DateTime<Utc>>,
    /// Events that start before this instant.
    pub time_max: Option<DateTime<Utc>>,
    /// Events this address attends (or organizes).
    pub attendee: Option<String>,
    /// Words in the event (Google: title, description, location, attendees; Outlook: title).
    pub text: Option<String>,
}

#[derive(InputObject, Debug)]
pub struct CreateEventInput {
    pub provider: ProviderEnum,
    pub title: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// All-day events take the dates of `start` and `end` (exclusive) in `timeZone`.
    #[graphql(default)]
    pub all_day: bool,
    /// An IANA zone (`Europe/Zurich`); UTC when absent.
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

impl Event {
    pub(super) fn from_record(record: Record<calendar::Event>, fetched: Fetched) -> Self {
        let (rest, e) = record.split();
        Event {
            fetched,
            origin: rest.provider,
            remote_id: rest.remote_id,
            created_at: rest.created_at,
            updated_at: rest.updated_at,
            raw: Json(rest.raw),
            title: e.title,
            description: e.description,
            location: e.location,
            start: e.start,
            end: e.end,
            all_day: e.all_day,
            time_zone: e.time_zone,
            attendees: e
                .attendees
                .into_iter()
                .map(|a| Attendee {
                    email: a.email,
                    name: a.name,
                    response: a.response.into(),
                })
                .collect(),
            organizer: e.organizer.map(|o| EmailAddress {
                name: o.name,
                email: o.email,
            }),
            status: e.status,
            html_link: e.html_link,
        }
    }
}

/// A merged page of events as a connection.
fn connection(page: MergedPage<calendar::Event>) -> Page<Event> {
    let mut connection = Page::new(page.has_previous, page.has_next);
    connection.edges.extend(
        page.edges.into_iter().map(|(cursor, record, fetched)| {
            Edge::new(cursor, Event::from_record(record, fetched))
        }),
    );
    connection
}

/// An IANA zone name, checked.
fn zone(field: &str, name: Option<&str>) -> Result<Option<Tz>> {
    name.map(|n| {
        n.trim()
            .parse::<Tz>()
            .map_err(|_| bad_input(field, format!("`{n}` is not an IANA time zone")))
    })
    .transpose()
}

/// An optional text that must not be blank when given.
fn optional_text(field: &str, value: Option<&str>) -> Result<()> {
    value.map_or(Ok(()), |v| validate::non_empty(field, v))
}

/// The request's loaders, or the shared ones outside an HTTP request.
fn loaders<'a>(ctx: &'a Context<'_>) -> &'a Loaders {
    ctx.data_opt::<Loaders>()
        .unwrap_or(&ctx.data_unchecked::<AppContext>().loaders)
}

/// One page of events across the tenant's calendars, `filter` pushed down to each.
async fn events_page(
    ctx: &Context<'_>,
    providers: Option<&[ProviderEnum]>,
    filter: calendar::EventFilter,
    page: PageArgs,
) -> Result<Page<Event>> {
    let app = ctx.data_unchecked::<AppContext>();
    let merged = merged_page(
        ctx,
        Capability::Events,
        providers,
        &page,
        |target, after, limit| {
            let adapter = app.providers.calendar(target.provider).ok()?;
            let query = EventQuery {
                filter: filter.clone(),
                after,
                limit,
            };
            let age = page.max_age.of(&app.reads, target.provider);
            let copy = app.read_model.clone();
            Some(Box::pin(async move {
                synced_or_live(&*copy, &*adapter, target, &query, age).await
            }))
        },
    )
    .await?;
    Ok(connection(merged))
}

/// One calendar's page from its synced copy when that answers `query` within `age`, else live.
async fn synced_or_live(
    copy: &dyn nexus_core::ReadModel,
    adapter: &dyn Calendar,
    target: Target,
    query: &EventQuery,
    age: std::time::Duration,
) -> Result<(calendar::ListPage<calendar::Event>, Origin), ProviderError> {
    if !age.is_zero()
        && let nexus_core::Synced::Synced { value, as_of } = copy.events(target, query, age).await
    {
        return Ok((value, Origin::Synced(std::sync::Arc::new(as_of))));
    }
    adapter.list(target, query).await.map(live)
}

/// The events `email` attends, across the tenant's calendars. First pages come through the
/// request's loader, asked of every calendar before anything is awaited, so the first pages of
/// every contact in a response travel together (one batch or one view per calendar); a calendar
/// the tenant has not connected answers without a call. Later pages are each their own list.
pub async fn attended(
    ctx: &Context<'_>,
    email: Option<&str>,
    page: PageArgs,
) -> Result<Page<Event>> {
    let Some(email) = email.map(str::trim).filter(|e| !e.is_empty()) else {
        return Ok(Page::new(page.after.is_some(), false));
    };
    let email = email.to_lowercase();
    let app = ctx.data_unchecked::<AppContext>();
    let tenant = tenant(ctx)?;
    let mut first_pages = HashMap::new();
    if page.first > 0 && page.after.is_none() {
        for provider in Provider::ALL
            .into_iter()
            .filter(|p| p.feeds(Capability::Events) && app.providers.has(*p, Kind::Calendar))
        {
            let loaders = loaders(ctx).clone();
            let key = AttendeeKey {
                tenant,
                provider,
                email: email.clone(),
                limit: page.first,
                max_age: page.max_age.of(&app.reads, provider),
            };
            let task = tokio::spawn(async move { loaders.attended(key).await });
            first_pages.insert(provider, task);
        }
    }
    let first_pages = Mutex::new(first_pages);
    let filter = calendar::EventFilter {
        attendee: Some(email),
        ..calendar::EventFilter::default()
    };
    let merged = merged_page(
        ctx,
        Capability::Events,
        None,
        &page,
        |target, after, limit| {
            let adapter = app.providers.calendar(target.provider).ok()?;
            let asked = first_pages
                .lock()
                .ok()
                .and_then(|mut pages| pages.remove(&target.provider));
            Some(match (after, asked) {
                (None, Some(task)) => Box::pin(async move {
                    task.await.unwrap_or_else(|_| {
                        Err(ProviderError::new(
                            ErrorKind::Upstream,
                            target.provider,
                            "events.attended",
                            "the lookup stopped before it answered",
                        ))
                    })
                }),
                (after, _) => {
                    let query = EventQuery {
                        filter: filter.clone(),
                        after,
                        limit,
                    };
                    let age = page.max_age.of(&app.reads, target.provider);
                    let copy = app.read_model.clone();
                    Box::pin(
                        async move { synced_or_live(&*copy, &*adapter, target, &query, age).await },
                    )
                }
            })
        },
    )
    .await?;
    Ok(connection(merged))
}

/// The calendar adapter and connection a write to `provider` goes through.
async fn calendar_target(
    ctx: &Context<'_>,
    provider: Provider,
) -> Result<(Arc<dyn Calendar>, Target)> {
    let target = write_target(ctx, Capability::Events, provider).await?;
    let adapter = ctx
        .data_unchecked::<AppContext>()
        .providers
        .calendar(provider)
        .map_err(|e| no_adapter(e.provider))?;
    Ok((adapter, target))
}

/// One event by its provider id, read again for a repeated idempotent write.
async fn event_record(
    ctx: &Context<'_>,
    provider: Provider,
    remote_id: &str,
) -> Result<Option<Record<calendar::Event>>> {
    let connection = connected(ctx)
        .await?
        .into_iter()
        .find(|c| c.provider == provider)
        .ok_or_else(|| not_connected(provider))?;
    if connection.reauth_required {
        return Err(reauth_required(provider));
    }
    let adapter = ctx
        .data_unchecked::<AppContext>()
        .providers
        .calendar(provider)
        .map_err(|e| no_adapter(e.provider))?;
    let target = Target {
        tenant: tenant(ctx)?,
        provider,
    };
    adapter
        .get(target, remote_id)
        .await
        .map_err(|e| upstream_error(&e))
}

#[derive(Default)]
pub struct CalendarQuery;

#[Object]
impl CalendarQuery {
    /// Events across Google Calendar and Outlook, earliest start first. `maxAge` (seconds, at
    /// least 0) is checked and passed to nested fields; events are read live for now.
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<EventFilter>,
        providers: Option<Vec<ProviderEnum>>,
        max_age: Option<i32>,
    ) -> Result<Page<Event>> {
        let max_age = MaxAge::parse(max_age)?;
        let filter = filter.unwrap_or_default();
        validate::optional_email("filter.attendee", filter.attendee.as_deref())?;
        validate::range("filter.timeMax", filter.time_min, filter.time_max)?;
        optional_text("filter.text", filter.text.as_deref())?;
        validate::filter_texts(&[("filter.text", filter.text.as_deref())])?;
        let page = PageArgs::parse(first, after)?.within(max_age);
        let filter = calendar::EventFilter {
            time_min: filter.time_min,
            time_max: filter.time_max,
            attendee: filter.attendee.map(|a| a.trim().to_lowercase()),
            text: filter.text.map(|t| t.trim().to_owned()),
        };
        events_page(ctx, providers.as_deref(), filter, page).await
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
        let time_zone = zone("input.timeZone", input.time_zone.as_deref())?;
        let provider: Provider = input.provider.into();
        let (adapter, target) = calendar_target(ctx, provider).await?;
        let write = EventWrite {
            title: input.title.trim().to_owned(),
            description: input.description,
            location: input.location,
            start: input.start,
            end: input.end,
            all_day: input.all_day,
            time_zone,
            attendees: input.attendees,
        };
        let key = OnceKey::new(
            ctx,
            "createEvent",
            input.idempotency_key.as_deref(),
            &serde_json::json!({ "provider": provider.slug(), "write": format!("{write:?}") }),
        )?;
        let record = once(
            ctx,
            key,
            async move { adapter.create(target, &write).await },
            async |provider, remote_id| event_record(ctx, provider, &remote_id).await,
        )
        .await?;
        Ok(CreateEventPayload {
            event: Event::from_record(record, Fetched::live(MaxAge::default())),
        })
    }

    async fn update_event(
        &self,
        ctx: &Context<'_>,
        input: UpdateEventInput,
    ) -> Result<UpdateEventPayload> {
        let (provider, remote_id) = validate::record_id("input.id", &input.id, "Event")?;
        validate::range("input.end", input.start, input.end)?;
        validate::addresses(
            "input.attendees",
            input.attendees.as_deref().unwrap_or_default(),
        )?;
        optional_text("input.title", input.title.as_deref())?;
        let time_zone = zone("input.timeZone", input.time_zone.as_deref())?;
        let (adapter, target) = calendar_target(ctx, provider).await?;
        let patch = EventPatch {
            title: input.title.map(|t| t.trim().to_owned()),
            description: input.description,
            location: input.location,
            start: input.start,
            end: input.end,
            time_zone,
            attendees: input.attendees,
        };
        let record = adapter
            .update(target, &remote_id, &patch)
            .await
            .map_err(|e| upstream_error(&e))?;
        Ok(UpdateEventPayload {
            event: Event::from_record(record, Fetched::live(MaxAge::default())),
        })
    }
}

/// One event by its provider id (`node(id:)`); `None` when the calendar has no such event.
pub async fn event_node(
    ctx: &Context<'_>,
    provider: Provider,
    remote_id: &str,
    max_age: MaxAge,
) -> Result<Option<Event>> {
    let record = event_record(ctx, provider, remote_id).await?;
    let origin = Origin::live();
    super::freshness::count(provider, "Event", &origin);
    Ok(record.map(|r| {
        let fetched = origin.fetched(&r.remote_id, max_age);
        Event::from_record(r, fetched)
    }))
}
