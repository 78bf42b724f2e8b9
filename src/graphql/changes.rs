//! The change log as a query: `changes(after, first)` pages the project's events the caller
//! may see (`changes::Audience`) oldest first.

use async_graphql::{
    ComplexObject, Context, ID, Json, Object, Result, SimpleObject,
    connection::{Connection, CursorType, Edge},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::changes::{Audience, LogError, LoggedChange, Selection};

use super::{
    AppContext,
    errors::{bad_input, internal},
    ids::GlobalId,
    lists::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, tenant},
    scopes::scopes,
    types::{ChangeOp, ProviderEnum},
};

/// A position in a project's change log: the sequence number of the last event seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeCursor(pub i64);

impl CursorType for ChangeCursor {
    type Error = &'static str;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| "not base64")?;
        let text = std::str::from_utf8(&bytes).map_err(|_| "not utf-8")?;
        let seq = text.strip_prefix("change:").ok_or("not a change cursor")?;
        seq.parse()
            .map(ChangeCursor)
            .map_err(|_| "not a sequence number")
    }

    fn encode_cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("change:{}", self.0))
    }
}

/// Something that changed at a provider, as the change log recorded it.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct ChangeEvent {
    #[graphql(skip)]
    pub row_id: Uuid,
    #[graphql(skip)]
    pub seq: i64,
    pub op: ChangeOp,
    pub provider: ProviderEnum,
    /// The unified type's name (`Contact`, ...) or `stripe:<event type>`.
    #[graphql(name = "type")]
    pub kind: String,
    pub remote_id: String,
    /// The provider's payload.
    pub data: Json<serde_json::Value>,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
}

#[ComplexObject]
impl ChangeEvent {
    pub async fn id(&self) -> ID {
        GlobalId::encode("ChangeEvent", &self.row_id.to_string())
    }
    /// Where a subscriber resumes from to see the events after this one.
    async fn cursor(&self) -> String {
        ChangeCursor(self.seq).encode_cursor()
    }
}

impl From<LoggedChange> for ChangeEvent {
    fn from(event: LoggedChange) -> Self {
        Self {
            row_id: event.id,
            seq: event.seq,
            op: event.op.into(),
            provider: event.provider.into(),
            kind: event.kind,
            remote_id: event.remote_id,
            data: Json(event.data),
            occurred_at: event.occurred_at,
            received_at: event.received_at,
        }
    }
}

/// The error for a cursor the log cannot serve.
pub fn cursor_error(error: LogError) -> async_graphql::Error {
    match error {
        LogError::Expired => bad_input("after", error.to_string()),
        LogError::Db(e) => internal(e),
    }
}

/// Reads a change cursor given as `after`; none starts at sequence number 0.
pub fn parse_cursor(after: Option<String>) -> Result<Option<i64>> {
    after
        .map(|c| {
            ChangeCursor::decode_cursor(&c)
                .map(|c| c.0)
                .map_err(|_| bad_input("after", "`after` is not a change cursor"))
        })
        .transpose()
}

/// The sequence number a change cursor names; none when `text` is not one.
pub fn parse_change_cursor(text: &str) -> Option<i64> {
    ChangeCursor::decode_cursor(text).ok().map(|c| c.0)
}

#[derive(Default)]
pub struct ChangesQuery;

#[Object]
impl ChangesQuery {
    /// The project's change log, oldest first; without `after`, from the oldest event retained.
    /// An event from a member's connection (their mail, chat, calendar, CRM sync) is shown to
    /// that member only, and to keys with the `changes:project` scope; the project's own events
    /// (the default project's Stripe webhooks) to every key of the project. Cursors are positions
    /// in the whole log: events the caller cannot see are skipped, never a reason to repeat one.
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn changes(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        first: Option<i32>,
    ) -> Result<Connection<ChangeCursor, ChangeEvent>> {
        let tenant = tenant(ctx)?;
        let first = first.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(0..=MAX_PAGE_SIZE).contains(&first) {
            return Err(bad_input(
                "first",
                format!("`first` must be between 0 and {MAX_PAGE_SIZE}"),
            ));
        }
        let log = &ctx.data_unchecked::<AppContext>().changes;
        let after = match parse_cursor(after)? {
            Some(after) => {
                log.check_cursor(tenant.project_id, after)
                    .await
                    .map_err(cursor_error)?;
                after
            }
            // From the oldest event retained.
            None => 0,
        };
        let mut rows = log
            .page(
                tenant.project_id,
                after,
                first as u64 + 1,
                &Selection::visible_to(Audience::of(tenant, scopes(ctx))),
            )
            .await
            .map_err(internal)?;
        let has_next = rows.len() > first as usize;
        rows.truncate(first as usize);
        let mut connection = Connection::new(after > 0, has_next);
        for row in rows {
            let event = ChangeEvent::from(row);
            connection
                .edges
                .push(Edge::new(ChangeCursor(event.seq), event));
        }
        Ok(connection)
    }
}
