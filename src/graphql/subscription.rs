//! Subscriptions: `changes`, the project's change log replayed from a cursor and then followed
//! live (see `crate::changes::follow`), and `heartbeat`, which proves the WebSocket path end to
//! end (auth in `connection_init`, events, completion).
//!
//! Two pieces of request data let a transport other than the WebSocket carry `changes` the
//! way it needs (GraphQL over SSE, `crate::http::sse`): [`ResumeAfter`], a position that
//! overrides the `after` argument (SSE's `Last-Event-ID`), and [`EventCursors`], where the
//! subscription leaves the cursor of each event it yields, for the transport to send beside it
//! (SSE's `id:`).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use async_graphql::{
    Context, ErrorExtensions, Result, SimpleObject, Subscription, connection::CursorType,
};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt, stream};

use crate::{
    changes::{Audience, FollowError, Op, Selection, follow},
    telemetry::described::{InFlight, SUBSCRIPTIONS_OPEN},
};

use super::{
    AppContext,
    changes::{ChangeCursor, ChangeEvent, cursor_error, parse_cursor},
    errors::{ErrorCode, bad_input, internal},
    lists::tenant,
    scopes::scopes,
    types::{ChangeOp, ProviderEnum, to_providers},
};

/// Request data: resume `changes` after this sequence number, whatever its `after` says.
#[derive(Debug, Clone, Copy)]
pub struct ResumeAfter(pub i64);

/// Request data: the cursor of the last event `changes` yielded, until the transport takes it.
/// A subscription's results are executed one at a time, each as its event comes, so when the
/// transport receives a result, the cursor here is that result's.
#[derive(Debug, Clone, Default)]
pub struct EventCursors(Arc<Mutex<Option<String>>>);

impl EventCursors {
    fn put(&self, cursor: String) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(cursor);
    }

    /// The cursor of the result just received, if it was an event.
    pub fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct Heartbeat {
    /// 1 for the first beat, then 2, 3, ...
    pub sequence: i32,
    pub at: DateTime<Utc>,
}

/// Why a `changes` subscription stopped, as a GraphQL error.
fn stopped(error: FollowError) -> async_graphql::Error {
    match error {
        FollowError::Behind { last, behind } => ErrorCode::SubscriberBehind
            .error(error.to_string())
            .extend_with(|_, e| {
                e.set("cursor", ChangeCursor(last).encode_cursor());
                e.set("behind", behind);
            }),
        FollowError::Db(e) => internal(e),
    }
}

#[derive(Default)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// The project's changes: with `after`, every event after that cursor and then each new one
    /// as it happens; without, from the live tail. Over SSE (`/graphql/stream`), a
    /// `Last-Event-ID` header stands for `after`, and each event's `id:` is its cursor.
    /// Lifecycle events (`connection.created`, `sync.failed`, ... with `op: UPDATED`) come with
    /// the records' changes unless `types` leaves them out. Only the events the caller may see: those
    /// from its own connections and the project's own (the default project's Stripe webhooks),
    /// or every member's with the `changes:project` scope; a resumed subscription skips the
    /// others exactly as a live one does. Narrowed to `providers`, `types` (`Contact`,
    /// `stripe:invoice.paid`, ...) and `ops` when given. A cursor older than the log's retention
    /// is refused (`BAD_USER_INPUT` on `after`). A subscriber that reads more slowly than its
    /// project changes and falls too far behind is told so (`SUBSCRIBER_BEHIND`, with the
    /// `cursor` of the last event it got) and the subscription completes: it resumes from that
    /// cursor.
    async fn changes(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        providers: Option<Vec<ProviderEnum>>,
        types: Option<Vec<String>>,
        ops: Option<Vec<ChangeOp>>,
    ) -> Result<impl Stream<Item = Result<ChangeEvent>> + use<>> {
        let tenant = tenant(ctx)?;
        let project_id = tenant.project_id;
        let log = ctx.data_unchecked::<AppContext>().changes.clone();
        let resumed = ctx.data_opt::<ResumeAfter>().map(|r| r.0);
        let after = match resumed.map_or_else(|| parse_cursor(after), |r| Ok(Some(r)))? {
            Some(after) => after,
            None => log.head(project_id).await.map_err(internal)?,
        };
        let selection = Selection {
            audience: Audience::of(tenant, scopes(ctx)),
            providers: providers.as_deref().map(to_providers),
            kinds: types,
            ops: ops.map(|ops| ops.into_iter().map(Op::from).collect()),
        };
        let events = follow(log, project_id, after, selection)
            .await
            .map_err(cursor_error)?;
        // Counted open (`nexus_subscriptions_open`) until the stream is dropped.
        let open = InFlight::new(metrics::gauge!(SUBSCRIPTIONS_OPEN));
        let cursors = ctx.data_opt::<EventCursors>().cloned();
        Ok(events.map(move |event| {
            let _open = &open;
            let event = event.map(ChangeEvent::from).map_err(stopped)?;
            if let Some(cursors) = &cursors {
                cursors.put(ChangeCursor(event.seq).encode_cursor());
            }
            Ok(event)
        }))
    }

    /// A beat every `intervalMs` milliseconds (10..=60000); completes after `count` beats
    /// when given, else runs until the client stops.
    async fn heartbeat(
        &self,
        ctx: &Context<'_>,
        count: Option<i32>,
        #[graphql(default = 1000)] interval_ms: i32,
    ) -> Result<impl Stream<Item = Heartbeat> + use<>> {
        tenant(ctx)?;
        if !(10..=60_000).contains(&interval_ms) {
            return Err(bad_input(
                "intervalMs",
                "intervalMs must be between 10 and 60000",
            ));
        }
        if count.is_some_and(|c| c < 1) {
            return Err(bad_input("count", "count must be at least 1"));
        }
        let mut interval = tokio::time::interval(Duration::from_millis(interval_ms as u64));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.reset();
        let beats = stream::unfold((interval, 0), |(mut interval, sequence)| async move {
            interval.tick().await;
            let beat = Heartbeat {
                sequence: sequence + 1,
                at: Utc::now(),
            };
            Some((beat, (interval, sequence + 1)))
        });
        Ok(beats.take(count.map_or(usize::MAX, |c| c as usize)))
    }
}
