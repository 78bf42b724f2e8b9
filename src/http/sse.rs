//! GraphQL over Server-Sent Events on `/graphql/stream`: the graphql-sse protocol's "distinct
//! connections mode" (github.com/enisdenjo/graphql-sse, PROTOCOL.md), for callers that cannot
//! hold a WebSocket. One `POST` with a GraphQL request as JSON and `Accept: text/event-stream`
//! is one operation: its results come as `event: next` (`data:` the execution result), then
//! `event: complete`; a subscription runs until the client closes the connection. Queries and
//! mutations work too (one `next`, then `complete`).
//!
//! For `subscription { changes }`, each event's `next` carries the event's cursor as the SSE
//! `id:`, and a `Last-Event-ID` request header (what a client sends to resume after the last id
//! it saw) stands for the `after` argument: a client that reconnects with it gets every event
//! after that one, no gap and no repeat.
//!
//! The caller authenticates as on `/graphql` (`Authorization: Bearer` key or JWT, the caller
//! limits) — the request is read and its document checked by the same code (`intake`) — and
//! the operation runs on the same schema with the same scopes, event visibility,
//! document limits and subscription counters (`nexus_subscriptions_open`) as over the
//! WebSocket. A request that cannot start is answered with an HTTP status and a GraphQL error
//! body in JSON, as `/graphql` answers it: 401 (no or bad credentials), 429 (over the caller's
//! limit), 406 (`Accept` without `text/event-stream`), 415, 413, 400 (not JSON, no `query`,
//! a `Last-Event-ID` that is not a change cursor: `BAD_USER_INPUT`). Errors of the operation
//! itself — parse, validation, a resolver's — come inside the stream as a `next` whose `errors`
//! say why, as the protocol asks, each with the request's id as `extensions.requestId`.
//!
//! An idle stream carries a comment every [`KEEP_ALIVE`], so proxies do not close it. When the
//! gateway shuts down, the stream ends (without `complete`) as the drain begins: the client
//! reconnects, elsewhere, with `Last-Event-ID`.

use std::{convert::Infallible, time::Duration};

use async_graphql::{Executor, ServerError};
use axum::{
    body::Body,
    extract::State,
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures_util::{StreamExt, stream};
use http::{
    HeaderMap, HeaderValue, StatusCode,
    header::{ACCEPT, CONTENT_TYPE},
};
use serde_json::json;

use crate::graphql::{EventCursors, Executed, ResumeAfter, errors::ErrorCode};

use super::{
    AppState,
    graphql::{BAD_REQUEST, Call, Params, Refusal},
    intake::{self, Unchecked, code_unexecuted, mark},
    media::ResponseMedia,
};

/// How long an idle stream goes without a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The header a reconnecting client names the last event it got in.
const LAST_EVENT_ID: &str = "last-event-id";

pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let mut call = Call::new(&headers);
    let response = stream_call(&state, &headers, body, &mut call).await;
    call.finish(response)
}

/// Whether `Accept` takes `text/event-stream` (exactly, not through a wildcard: a client of
/// this path asks for a stream).
fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| {
                p.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("q")
                        && v.trim().parse::<f32>().unwrap_or(0.0) <= 0.0
                })
            });
            media.eq_ignore_ascii_case("text/event-stream") && !refused
        })
}

/// The change cursor a `Last-Event-ID` names, if one is sent.
fn resume_after(headers: &HeaderMap) -> Result<Option<i64>, ()> {
    let Some(value) = headers.get(LAST_EVENT_ID) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| ())?.trim();
    crate::graphql::parse_change_cursor(text)
        .map(Some)
        .ok_or(())
}

/// A `Last-Event-ID` that is not a change cursor: 400 with `BAD_USER_INPUT` on the header.
fn bad_last_event_id(call: &Call) -> Response {
    let mut extensions = json!({
        "code": ErrorCode::BadUserInput.as_str(),
        "field": "Last-Event-ID",
    });
    if let Some(id) = &call.request_id {
        extensions["requestId"] = id.as_str().into();
    }
    let body = json!({ "errors": [{
        "message": "`Last-Event-ID` is not a change cursor (an event's `id:` from this stream)",
        "extensions": extensions,
    }]});
    let mut response = (StatusCode::BAD_REQUEST, body.to_string()).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(ResponseMedia::Json.content_type()),
    );
    response
}

async fn stream_call(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    call: &mut Call,
) -> Response {
    let media = ResponseMedia::Json;
    if !accepts_event_stream(headers) {
        return Refusal::new(
            StatusCode::NOT_ACCEPTABLE,
            BAD_REQUEST,
            "/graphql/stream answers `text/event-stream`: send `Accept: text/event-stream`",
        )
        .into_response(media, "unknown", call);
    }
    let (caller, params) = match intake::read_post(state, headers, body, media, call).await {
        Ok(read) => read,
        Err(refusal) => return refusal,
    };
    let Ok(resume) = resume_after(headers) else {
        return bad_last_event_id(call);
    };
    call.accessed.operation = params.operation_name.clone();
    let results = run(state, caller, params, resume, call.request_id.clone()).await;
    let complete = stream::once(async { Event::default().event("complete").data("") });
    let draining = state.shutdown.clone();
    let events = results
        .chain(complete)
        .take_until(async move { draining.draining().await })
        .map(Ok::<_, Infallible>);
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    // A proxy that buffers answers (nginx) would hold the events back.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The operation's `next` events: one for a document the limits refuse, else one for each
/// result of its execution — with the event's cursor as `id:` for `changes`.
async fn run(
    state: &AppState,
    caller: crate::auth::Authenticated,
    params: Params,
    resume: Option<i64>,
    request_id: Option<String>,
) -> stream::BoxStream<'static, Event> {
    let (params, checked) = intake::check_document(state, params).await;
    let document = match checked {
        Ok(document) => document,
        Err(Unchecked::Refused(error)) => return refused(vec![error], request_id.as_deref()),
        Err(Unchecked::Failed) => {
            let error = ServerError::new("internal error", None);
            return refused(vec![error], request_id.as_deref());
        }
    };
    let cursors = EventCursors::default();
    let executed = Executed::default();
    let mut request =
        intake::schema_request(state, &caller, params, document, &executed).data(cursors.clone());
    if let Some(after) = resume {
        request = request.data(ResumeAfter(after));
    }
    Executor::execute_stream(&state.schema, request, None)
        .map(move |mut response| {
            mark(&mut response.errors, request_id.as_deref());
            // Errors from before execution (parse, validation) are coded as over `/graphql`.
            if !executed.get() {
                code_unexecuted(&mut response.errors);
            }
            let event = next(&response);
            match cursors.take() {
                Some(id) => event.id(id),
                None => event,
            }
        })
        .boxed()
}

/// A single `next` carrying `errors`, for a document refused before execution.
fn refused(
    mut errors: Vec<ServerError>,
    request_id: Option<&str>,
) -> stream::BoxStream<'static, Event> {
    mark(&mut errors, request_id);
    code_unexecuted(&mut errors);
    let event = next(&json!({ "errors": errors }));
    stream::once(async move { event }).boxed()
}

/// A `next` event carrying `result` as JSON.
fn next(result: &impl serde::Serialize) -> Event {
    let data = serde_json::to_string(result).unwrap_or_else(|cause| {
        tracing::error!(%cause, "serializing a GraphQL result");
        r#"{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}"#.into()
    });
    Event::default().event("next").data(data)
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::accepts_event_stream;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::ACCEPT, value.parse().unwrap());
        headers
    }

    #[test]
    fn only_an_accept_that_names_the_event_stream_takes_it() {
        assert!(accepts_event_stream(&accept("text/event-stream")));
        assert!(accepts_event_stream(&accept(
            "application/json, text/event-stream;q=0.5"
        )));
        assert!(!accepts_event_stream(&accept("text/event-stream;q=0")));
        assert!(!accepts_event_stream(&accept("application/json")));
        assert!(!accepts_event_stream(&accept("*/*")));
        assert!(!accepts_event_stream(&HeaderMap::new()));
    }
}
