//! GraphQL over HTTP, per the spec (graphql.github.io/graphql-over-http): `POST /graphql` with a
//! JSON body, `GET /graphql` with URL parameters (queries only), `application/graphql-response+json`
//! or `application/json` by `Accept`, and the spec's status codes:
//!
//! - a request that cannot be read (bad body type 415, too large 413, not JSON or invalid
//!   parameters 400, mutation over GET 405, unacceptable `Accept` 406) answers with an error;
//! - a request refused before execution (parse, validation, variables, limits) has no `data`:
//!   400 under `application/graphql-response+json`, 200 under `application/json`;
//! - an executed request is 200 with `data`, field errors and all.
//!
//! Every error carries the request's id as `extensions.requestId` (the `x-request-id` the
//! answer echoes), so a client's report leads to the request's log lines.

use std::time::Instant;

use async_graphql::{
    ServerError,
    parser::types::{DocumentOperations, ExecutableDocument, OperationType},
};
use axum::{
    body::Body,
    extract::{Request, State},
    response::{IntoResponse, Response},
};
use http::{
    HeaderMap, HeaderValue, StatusCode,
    header::{ALLOW, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE},
    request::Parts,
};
use serde_json::{Map, Value, json};
use tracing::Instrument;

use crate::{
    auth::{AuthError, Authenticated, retry_after_secs},
    graphql::{Executed, errors::ErrorCode},
    telemetry::{REQUEST_DURATION, REQUESTS},
};

use super::{
    AppState,
    access::{self, Accessed},
    intake::{self, Unchecked},
    media::ResponseMedia,
    ws,
};

/// The GraphQL request parameters, validated.
pub(super) struct Params {
    pub(super) query: String,
    pub(super) operation_name: Option<String>,
    pub(super) variables: Option<Map<String, Value>>,
    pub(super) extensions: Option<Map<String, Value>>,
}

/// A response that ends a request before it reaches the schema.
pub(super) struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    outcome: &'static str,
    /// Whole seconds to wait before trying again (`Retry-After`, `extensions.retryAfter`).
    retry_after: Option<u64>,
}

impl Refusal {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            outcome: "bad_request",
            retry_after: None,
        }
    }

    pub(super) fn into_response(
        self,
        media: ResponseMedia,
        operation: &str,
        call: &Call,
    ) -> Response {
        record(operation, self.outcome, None);
        let mut extensions = json!({ "code": self.code });
        if let Some(id) = &call.request_id {
            extensions["requestId"] = id.as_str().into();
        }
        if let Some(seconds) = self.retry_after {
            extensions["retryAfter"] = seconds.into();
        }
        let body = json!({ "errors": [{ "message": self.message, "extensions": extensions }] });
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(media.content_type()));
        if let Some(seconds) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            headers.insert(ALLOW, HeaderValue::from_static("POST"));
        }
        response
    }
}

pub(super) const BAD_REQUEST: &str = "BAD_REQUEST";

/// One request on its way to an answer: the id its errors carry, and what the access line
/// reports about it.
pub(super) struct Call {
    pub(super) request_id: Option<String>,
    pub(super) accessed: Accessed,
}

impl Call {
    pub(super) fn new(headers: &HeaderMap) -> Self {
        Self {
            request_id: access::request_id(headers).map(str::to_owned),
            accessed: Accessed::default(),
        }
    }

    /// Marks each error with the request's id.
    fn mark(&self, errors: &mut [ServerError]) {
        intake::mark(errors, self.request_id.as_deref());
    }

    /// The answer, with what the access line reports.
    pub(super) fn finish(self, mut response: Response) -> Response {
        response.extensions_mut().insert(self.accessed);
        response
    }
}

pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let mut call = Call::new(&headers);
    let response = post_call(&state, &headers, body, &mut call).await;
    call.finish(response)
}

async fn post_call(state: &AppState, headers: &HeaderMap, body: Body, call: &mut Call) -> Response {
    let started = Instant::now();
    let Some(media) = ResponseMedia::negotiate(headers) else {
        return not_acceptable(call);
    };
    match intake::read_post(state, headers, body, media, call).await {
        Ok((caller, params)) => execute(state, media, caller, params, started, call).await,
        Err(refusal) => refusal,
    }
}

pub async fn get(State(state): State<AppState>, request: Request) -> Response {
    if ws::is_upgrade(request.headers()) {
        return ws::upgrade(state, request).await;
    }
    let (request, _body) = request.into_parts();
    let mut call = Call::new(&request.headers);
    let response = get_call(&state, &request, &mut call).await;
    call.finish(response)
}

async fn get_call(state: &AppState, request: &Parts, call: &mut Call) -> Response {
    let started = Instant::now();
    let Some(media) = ResponseMedia::negotiate(&request.headers) else {
        return not_acceptable(call);
    };
    let caller = match authenticate(state, &request.headers).await {
        Ok(caller) => caller,
        Err(refusal) => return refusal.into_response(media, "unknown", call),
    };
    call.accessed.tenant = Some(caller.tenant);
    let params = match Params::from_query(request.uri.query().unwrap_or_default()) {
        Ok(params) => params,
        Err(message) => {
            return Refusal::new(StatusCode::BAD_REQUEST, BAD_REQUEST, message)
                .into_response(media, "unknown", call);
        }
    };
    if params.is_mutation() {
        let operation = operation_label(params.operation_name.as_deref());
        call.accessed.operation = params.operation_name.as_ref().map(|_| operation.clone());
        return Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            BAD_REQUEST,
            "mutations must be sent with POST",
        )
        .into_response(media, &operation, call);
    }
    execute(state, media, caller, params, started, call).await
}

pub(super) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Authenticated, Refusal> {
    let header = headers.get(AUTHORIZATION).map(|v| v.to_str().unwrap_or(""));
    state
        .auth
        .authenticate(header)
        .await
        .map_err(|error| match error {
            AuthError::Store(cause) => {
                tracing::error!(%cause, "credential store unavailable");
                Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Internal.as_str(),
                    "the gateway cannot check credentials right now",
                )
            }
            AuthError::RateLimited(wait) => Refusal {
                outcome: "rate_limited",
                retry_after: Some(retry_after_secs(wait)),
                ..Refusal::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    ErrorCode::RateLimited.as_str(),
                    AuthError::RateLimited(wait).to_string(),
                )
            },
            other => Refusal {
                outcome: "unauthenticated",
                ..Refusal::new(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::Unauthenticated.as_str(),
                    other.to_string(),
                )
            },
        })
}

fn not_acceptable(call: &Call) -> Response {
    Refusal::new(
        StatusCode::NOT_ACCEPTABLE,
        BAD_REQUEST,
        "accept application/graphql-response+json or application/json",
    )
    .into_response(ResponseMedia::Json, "unknown", call)
}

async fn execute(
    state: &AppState,
    media: ResponseMedia,
    caller: Authenticated,
    params: Params,
    started: Instant,
    call: &mut Call,
) -> Response {
    let requested_name = params.operation_name.clone();
    call.accessed.operation = requested_name.as_deref().map(|n| operation_label(Some(n)));
    // Only a document within the limits reaches the schema's validation.
    let (params, checked) = intake::check_document(state, params).await;
    let document = match checked {
        Ok(document) => document,
        Err(Unchecked::Refused(error)) => {
            let operation = operation_label(requested_name.as_deref());
            return respond(
                media,
                &operation,
                rejected(media, vec![error], call),
                started,
            );
        }
        Err(Unchecked::Failed) => {
            return Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal.as_str(),
                "internal error",
            )
            .into_response(media, "unknown", call);
        }
    };
    let span = operation_span(document.as_ref(), params.operation_name.as_deref());
    let executed = Executed::default();
    let request = intake::schema_request(state, &caller, params, document, &executed);
    let mut response = state.schema.execute(request).instrument(span).await;
    let named = executed.operation().or(requested_name.as_deref());
    let operation = operation_label(named);
    call.accessed.operation = named.map(|_| operation.clone());

    let answer = if executed.get() {
        call.mark(&mut response.errors);
        let outcome = if response.errors.is_empty() {
            "ok"
        } else {
            "error"
        };
        (StatusCode::OK, serde_json::to_string(&response), outcome)
    } else {
        rejected(media, response.errors, call)
    };
    respond(media, &operation, answer, started)
}

/// The answer to a request refused before execution: its errors, each with a code, and no
/// `data`.
fn rejected(
    media: ResponseMedia,
    mut errors: Vec<ServerError>,
    call: &Call,
) -> (StatusCode, serde_json::Result<String>, &'static str) {
    call.mark(&mut errors);
    intake::code_unexecuted(&mut errors);
    let status = match media {
        ResponseMedia::GraphqlResponse => StatusCode::BAD_REQUEST,
        ResponseMedia::Json => StatusCode::OK,
    };
    (
        status,
        serde_json::to_string(&json!({ "errors": errors })),
        "rejected",
    )
}

fn respond(
    media: ResponseMedia,
    operation: &str,
    (status, body, outcome): (StatusCode, serde_json::Result<String>, &'static str),
    started: Instant,
) -> Response {
    record(operation, outcome, Some(started));
    let body = body.unwrap_or_else(|cause| {
        tracing::error!(%cause, "serializing a GraphQL response");
        r#"{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}"#.into()
    });
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(media.content_type()));
    response
}

/// Counts the request and, when it reached the schema, its latency.
fn record(operation: &str, outcome: &'static str, started: Option<Instant>) {
    metrics::counter!(REQUESTS, "operation" => operation.to_owned(), "outcome" => outcome)
        .increment(1);
    if let Some(started) = started {
        metrics::histogram!(REQUEST_DURATION, "operation" => operation.to_owned())
            .record(started.elapsed().as_secs_f64());
    }
}

/// The metric label for an operation: its name when it is a valid GraphQL name of sane length
/// and among the distinct names the metrics keep (`other` past them).
fn operation_label(name: Option<&str>) -> String {
    match name {
        None => "anonymous".into(),
        Some(n)
            if !n.is_empty()
                && n.len() <= 64
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            crate::telemetry::operation_label(n)
        }
        Some(_) => "invalid".into(),
    }
}

impl Params {
    pub(super) fn from_map(mut map: Map<String, Value>) -> Result<Self, String> {
        let query = match map.remove("query") {
            Some(Value::String(q)) => q,
            Some(_) => return Err("`query` must be a string".into()),
            None => return Err("`query` is missing".into()),
        };
        let operation_name = match map.remove("operationName") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => return Err("`operationName` must be a string or null".into()),
        };
        Ok(Self {
            query,
            operation_name,
            variables: object_param(map.remove("variables"), "variables")?,
            extensions: object_param(map.remove("extensions"), "extensions")?,
        })
    }

    fn from_query(query: &str) -> Result<Self, String> {
        let mut map = Map::new();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let value = match key.as_ref() {
                "variables" | "extensions" => serde_json::from_str(&value)
                    .map_err(|_| format!("`{key}` must be a JSON-encoded object"))?,
                _ => Value::String(value.into_owned()),
            };
            map.insert(key.into_owned(), value);
        }
        Self::from_map(map)
    }

    /// Whether the operation this request selects is a mutation (only GET cares).
    fn is_mutation(&self) -> bool {
        let Ok(document) = async_graphql::parser::parse_query(&self.query) else {
            return false;
        };
        picked(&document, self.operation_name.as_deref()).map(|(_, ty)| ty)
            == Some(OperationType::Mutation)
    }
}

/// The operation a request runs: the one `name` names, or the document's only one; its name
/// and type.
fn picked<'d>(
    document: &'d ExecutableDocument,
    name: Option<&str>,
) -> Option<(Option<&'d str>, OperationType)> {
    match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some((None, op.node.ty)),
        (DocumentOperations::Multiple(ops), Some(name)) => ops
            .get_key_value(name)
            .map(|(name, op)| (Some(name.as_str()), op.node.ty)),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops
            .iter()
            .next()
            .map(|(name, op)| (Some(name.as_str()), op.node.ty)),
        _ => None,
    }
}

/// The span of the operation's execution, for traces: `graphql.operation.type` and `.name`.
fn operation_span(document: Option<&ExecutableDocument>, name: Option<&str>) -> tracing::Span {
    let picked = document.and_then(|document| picked(document, name));
    let name = picked.and_then(|(named, _)| named).or(name);
    let ty = picked.map(|(_, ty)| ty.to_string());
    let span_name = match (&ty, name) {
        (Some(ty), Some(name)) => format!("{ty} {name}"),
        (Some(ty), None) => ty.clone(),
        (None, _) => "operation".to_owned(),
    };
    tracing::debug_span!(
        "graphql.operation",
        otel.name = span_name,
        otel.kind = "internal",
        graphql.operation.name = name,
        "graphql.operation.type" = ty.as_deref(),
    )
}

fn object_param(value: Option<Value>, name: &str) -> Result<Option<Map<String, Value>>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(format!("`{name}` must be an object or null")),
    }
}
