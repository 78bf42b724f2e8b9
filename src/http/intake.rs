//! What the two transports of a GraphQL operation over a POST — `/graphql`, one answer, and
//! `/graphql/stream`, Server-Sent Events — do alike, in one place so that they cannot drift:
//!
//! - [`read_post`]: authenticate the caller (401, 429, 503), check the body's type (415), read
//!   it within `server.body_limit` (413) and parse the request's parameters (400), each refusal
//!   answered in the transport's JSON error form;
//! - [`check_document`]: the document limits, on a blocking thread (parsing takes time
//!   proportional to the document, and no document should hold an async worker);
//! - [`schema_request`]: the schema's request, carrying the caller, its scopes and key, the
//!   request's loaders, the execution marker and the document already parsed and checked;
//! - [`mark`] and [`code_unexecuted`]: every error carries the request's id, and an error from
//!   before execution (parse, validation) the code `GRAPHQL_VALIDATION_FAILED` when it has none.
//!
//! What differs stays with each transport: which `Accept` it answers, how a result is written
//! (one body, or `next` events), and `Last-Event-ID` (the stream's only).

use async_graphql::{ServerError, Variables, parser::types::ExecutableDocument};
use axum::{
    body::{Body, to_bytes},
    response::Response,
};
use http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::{
    auth::Authenticated,
    graphql::{Executed, Loaders, errors::ErrorCode, limits::Checked},
};

use super::{
    AppState,
    graphql::{BAD_REQUEST, Call, Params, Refusal, authenticate},
    media::{BodyTypeError, ResponseMedia, check_body_type},
};

/// The caller and the parameters of a POSTed GraphQL request, or the answer refusing it (in
/// `media`). The caller's tenant goes to the access line as soon as it is known.
pub(super) async fn read_post(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    media: ResponseMedia,
    call: &mut Call,
) -> Result<(Authenticated, Params), Response> {
    let caller = authenticate(state, headers)
        .await
        .map_err(|refusal| refusal.into_response(media, "unknown", call))?;
    call.accessed.tenant = Some(caller.tenant);
    if let Err(error) = check_body_type(headers) {
        let message = match error {
            BodyTypeError::Missing => "a POST needs `Content-Type: application/json`",
            BodyTypeError::Unsupported => "the body must be `application/json` in UTF-8",
        };
        return Err(
            Refusal::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, BAD_REQUEST, message)
                .into_response(media, "unknown", call),
        );
    }
    let Ok(bytes) = to_bytes(body, state.body_limit).await else {
        return Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            BAD_REQUEST,
            format!("the body is larger than {} bytes", state.body_limit),
        )
        .into_response(media, "unknown", call));
    };
    let params = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Params::from_map(map),
        Ok(_) => Err("the body must be a JSON object".to_owned()),
        Err(e) => Err(format!("the body is not valid JSON: {e}")),
    };
    match params {
        Ok(params) => Ok((caller, params)),
        Err(message) => Err(Refusal::new(StatusCode::BAD_REQUEST, BAD_REQUEST, message)
            .into_response(media, "unknown", call)),
    }
}

/// Why a document did not pass [`check_document`].
pub(super) enum Unchecked {
    /// Over a limit: the error to answer with (no code yet added, no request id).
    Refused(ServerError),
    /// The check itself failed (its task panicked); logged.
    Failed,
}

/// The request's parameters back, with the parsed document when it is within the limits
/// (`None`: it does not parse, which the schema reports in its own words).
pub(super) async fn check_document(
    state: &AppState,
    mut params: Params,
) -> (Params, Result<Option<ExecutableDocument>, Unchecked>) {
    let limits = state.document_limits;
    let query = std::mem::take(&mut params.query);
    let checked = tokio::task::spawn_blocking(move || {
        let checked = limits.check(&query);
        (query, checked)
    })
    .await;
    match checked {
        Ok((query, checked)) => {
            params.query = query;
            (params, checked.map_err(Unchecked::Refused))
        }
        Err(cause) => {
            tracing::error!(%cause, "checking a GraphQL document");
            (params, Err(Unchecked::Failed))
        }
    }
}

/// The schema's request for `params`, run for `caller`; `executed` tells afterwards whether
/// execution began.
pub(super) fn schema_request(
    state: &AppState,
    caller: &Authenticated,
    params: Params,
    document: Option<ExecutableDocument>,
    executed: &Executed,
) -> async_graphql::Request {
    let mut request = async_graphql::Request::new(params.query)
        .data(caller.tenant)
        .data(caller.scopes)
        .data(Loaders::for_request(
            state.providers.clone(),
            state.read_model.clone(),
        ))
        .data(executed.clone());
    if let Some(key) = caller.key {
        request = request.data(key);
    }
    if let Some(document) = document {
        request.set_parsed_query(document);
        request = request.data(Checked);
    }
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    if let Some(variables) = params.variables {
        request = request.variables(Variables::from_json(Value::Object(variables)));
    }
    for (key, value) in params.extensions.into_iter().flatten() {
        if let Ok(value) = async_graphql::Value::from_json(value) {
            request.extensions.insert(key, value);
        }
    }
    request
}

/// Sets `extensions.requestId` on each error.
pub(super) fn mark(errors: &mut [ServerError], request_id: Option<&str>) {
    let Some(id) = request_id else {
        return;
    };
    for error in errors {
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("requestId", id);
    }
}

/// Codes `GRAPHQL_VALIDATION_FAILED` each error of a request refused before execution that has
/// no code of its own.
pub(super) fn code_unexecuted(errors: &mut [ServerError]) {
    for error in errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", ErrorCode::GraphqlValidationFailed.as_str());
        }
    }
}
