//! Graph's JSON batching, `POST /v1.0/$batch`: `{"requests":[{"id","method","url","headers"?,
//! "body"?}]}` with at most 20 requests, each `url` relative to the version (`/me/messages?...`).
//! Each request runs through the Graph routes as its own call — authentication (the outer
//! `Authorization` unless the request sets its own), throttling, faults and counters included —
//! and the answer is `{"responses":[{"id","status","headers","body"}]}`, in the requests'
//! order (Graph allows any order; clients match by `id`).

use std::sync::Arc;

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, Method, Request},
    response::IntoResponse,
};
use serde_json::{Map, Value, json};
use tower::ServiceExt;

use super::{
    Ctx,
    error::{self, GraphResult},
    json_body,
};
use crate::SandboxState;

/// Graph takes at most this many requests in one batch.
const MAX_REQUESTS: usize = 20;

/// One request of a batch, run through the Graph routes.
async fn run(graph: &Router, outer: &HeaderMap, request: &Value) -> Value {
    let id = request["id"].clone();
    let answer = |status: u16, body: Value| json!({ "id": id, "status": status, "headers": { "Content-Type": "application/json" }, "body": body });
    let (Some(method), Some(url)) = (request["method"].as_str(), request["url"].as_str()) else {
        return answer(
            400,
            json!({ "error": { "code": "BadRequest", "message": "A request needs a method and a url." } }),
        );
    };
    let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
        return answer(
            400,
            json!({ "error": { "code": "BadRequest", "message": "Invalid method." } }),
        );
    };
    let url = url.strip_prefix("/v1.0").unwrap_or(url);
    if !url.starts_with('/') || url.starts_with("/$batch") {
        return answer(
            400,
            json!({ "error": { "code": "BadRequest", "message": "Invalid request URL." } }),
        );
    }
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("/microsoft/v1.0{url}"));
    if let Some(auth) = outer.get("authorization") {
        builder = builder.header("authorization", auth);
    }
    if let Some(headers) = request["headers"].as_object() {
        for (name, value) in headers {
            if let Some(value) = value.as_str() {
                builder = builder.header(name.as_str(), value);
            }
        }
    }
    let body = match &request["body"] {
        Value::Null => Body::empty(),
        body => {
            builder = builder.header("content-type", "application/json");
            Body::from(body.to_string())
        }
    };
    let Ok(inner) = builder.body(body) else {
        return answer(
            400,
            json!({ "error": { "code": "BadRequest", "message": "Invalid request." } }),
        );
    };
    let response = match graph.clone().oneshot(inner).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status().as_u16();
    let mut headers = Map::new();
    for (name, value) in response.headers() {
        if let Ok(value) = value.to_str() {
            headers.insert(name.as_str().to_owned(), json!(value));
        }
    }
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    json!({ "id": id, "status": status, "headers": headers, "body": body })
}

pub async fn batch(State(ctx): State<Ctx>, headers: HeaderMap, body: Bytes) -> GraphResult {
    let request = json_body(&body)?;
    let requests = request["requests"]
        .as_array()
        .ok_or_else(|| error::bad_request("Invalid batch payload format."))?;
    if requests.len() > MAX_REQUESTS {
        return Err(error::bad_request(format!(
            "Number of batch request steps exceeds the maximum value of {MAX_REQUESTS}."
        )));
    }
    let graph = graph(&ctx.state);
    let mut responses = Vec::with_capacity(requests.len());
    for request in requests {
        responses.push(run(&graph, &headers, request).await);
    }
    Ok(Json(json!({ "responses": responses })).into_response())
}

/// The Graph routes, under the prefix their counters use.
fn graph(state: &Arc<SandboxState>) -> Router {
    Router::new().nest("/microsoft", super::router(state.clone()))
}
