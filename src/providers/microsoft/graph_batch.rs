//! Graph's JSON batching (`POST /v1.0/$batch`): up to 20 calls in one round trip, as
//! `{"requests":[{"id","method","url"}]}` with URLs relative to the version; the answer's
//! `responses` carry each call's `status`, `headers` and `body`, matched back by `id`.
//!
//! The batch itself succeeds even when its calls do not, so [`classify`] reads them too: an
//! expired token in any is the batch's (the stack refreshes and sends it again), a throttled
//! or unavailable one makes the batch so (the stack waits its `Retry-After` and retries — a
//! batch of reads is harmless to repeat).
//!
//! Reads by id ([`MicrosoftProvider::lookups`]) go twenty to a batch; a call answered `404` (or
//! `400` for an id Graph finds malformed) is a record that is not there, left out of the
//! answer, not a failed batch ([`classify_lookups`]).

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::{Value, json};

use crate::{
    providers::Provider,
    upstream::{Call, ErrorKind, ProviderError, Reply, Target, Verdict},
};

use super::{MicrosoftProvider, error};

/// Graph takes at most this many calls in one batch.
pub const MAX_REQUESTS: usize = 20;

/// A call's URL below the version, with its query.
fn relative(call: &Call) -> String {
    let path = call.path.strip_prefix("/v1.0").unwrap_or(&call.path);
    if call.query.is_empty() {
        return path.to_owned();
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&call.query)
        .finish();
    format!("{path}?{query}")
}

/// The batch of `calls` (GETs), counted as those calls in the rate classes.
pub fn call(calls: &[&Call]) -> Call {
    let requests: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| json!({ "id": i.to_string(), "method": c.method.as_str(), "url": relative(c) }))
        .collect();
    Call::post_read("batch", "/v1.0/$batch", json!({ "requests": requests }))
        .parts(calls.iter().map(|c| c.op).collect())
}

/// Each response as a reply of its own, by request order.
fn replies(reply: &Reply) -> Option<Vec<(usize, Reply)>> {
    let answer: Value = serde_json::from_slice(&reply.body).ok()?;
    answer["responses"]
        .as_array()?
        .iter()
        .map(|r| {
            let id = r["id"].as_str()?.parse().ok()?;
            let status = StatusCode::from_u16(u16::try_from(r["status"].as_u64()?).ok()?).ok()?;
            let mut headers = HeaderMap::new();
            for (name, value) in r["headers"].as_object().into_iter().flatten() {
                if let (Ok(name), Some(Ok(value))) = (
                    HeaderName::try_from(name.as_str()),
                    value.as_str().map(HeaderValue::try_from),
                ) {
                    headers.insert(name, value);
                }
            }
            let body = Bytes::from(r["body"].to_string());
            Some((
                id,
                Reply {
                    status,
                    headers,
                    body,
                },
            ))
        })
        .collect()
}

/// The bodies of the batch's `count` calls in order; `None` unless every call answered.
pub fn responses(reply: &Reply, count: usize) -> Option<Vec<Value>> {
    let mut out: Vec<Option<Value>> = vec![None; count];
    for (id, r) in replies(reply)? {
        if r.status.is_success() {
            *out.get_mut(id)? = serde_json::from_slice(&r.body).ok();
        }
    }
    out.into_iter().collect()
}

/// The batch's verdict, and its calls' where they speak for the whole batch.
pub fn classify(reply: &Reply) -> Verdict {
    let outer = error::classify(reply);
    if !matches!(outer, Verdict::Success) {
        return outer;
    }
    let Some(answers) = replies(reply) else {
        return Verdict::failure(ErrorKind::Upstream, "unreadable batch answer");
    };
    let mut failure = None;
    for (_, answer) in &answers {
        match error::classify(answer) {
            Verdict::TokenExpired => return Verdict::TokenExpired,
            Verdict::Success => {}
            other => {
                failure.get_or_insert(other);
            }
        }
    }
    failure.unwrap_or(Verdict::Success)
}

/// As [`classify`], but a call that found no record (`404`, or `400` for a malformed id) does
/// not fail the batch: reads by id leave such records out.
pub fn classify_lookups(reply: &Reply) -> Verdict {
    let outer = error::classify(reply);
    if !matches!(outer, Verdict::Success) {
        return outer;
    }
    let Some(answers) = replies(reply) else {
        return Verdict::failure(ErrorKind::Upstream, "unreadable batch answer");
    };
    let mut failure = None;
    for (_, answer) in &answers {
        if absent(answer) {
            continue;
        }
        match error::classify(answer) {
            Verdict::TokenExpired => return Verdict::TokenExpired,
            Verdict::Success => {}
            other => {
                failure.get_or_insert(other);
            }
        }
    }
    failure.unwrap_or(Verdict::Success)
}

/// Whether a call's answer says its record is not there.
fn absent(answer: &Reply) -> bool {
    matches!(
        answer.status,
        StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST
    )
}

impl MicrosoftProvider {
    /// The bodies of the records `calls` (GETs by id) read, through `$batch`, twenty calls to a
    /// batch; calls that found no record are left out.
    pub(super) async fn lookups(
        &self,
        target: Target,
        provider: Provider,
        calls: &[Call],
    ) -> Result<Vec<Value>, ProviderError> {
        let mut found = Vec::with_capacity(calls.len());
        for chunk in calls.chunks(MAX_REQUESTS) {
            let batch = call(&chunk.iter().collect::<Vec<_>>());
            let reply = self.upstream.send(target, &batch, classify_lookups).await?;
            let answers = replies(&reply).ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::Upstream,
                    provider,
                    batch.op,
                    "an unreadable batch answer",
                )
            })?;
            for (id, answer) in answers {
                if absent(&answer) || id >= chunk.len() {
                    continue;
                }
                let body = serde_json::from_slice(&answer.body).map_err(|e| {
                    ProviderError::new(ErrorKind::Upstream, provider, chunk[id].op, e.to_string())
                })?;
                found.push(body);
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: Value) -> Reply {
        Reply {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn calls_go_out_relative_and_come_back_by_id() {
        let list = Call::get("messages.list", "/v1.0/me/messages").query("$top", "3");
        let batch = call(&[&list, &list]);
        assert_eq!(batch.parts, ["messages.list", "messages.list"]);
        let Some(crate::upstream::Body::Json(body)) = &batch.body else {
            panic!("a JSON batch")
        };
        assert_eq!(body["requests"][1]["url"], "/me/messages?%24top=3");
        let reply = answer(json!({ "responses": [
            { "id": "1", "status": 200, "body": { "value": [2] } },
            { "id": "0", "status": 200, "body": { "value": [1] } },
        ] }));
        let bodies = responses(&reply, 2).unwrap();
        assert_eq!(bodies[0]["value"][0], 1);
        assert!(matches!(classify(&reply), Verdict::Success));
        let throttled = answer(json!({ "responses": [
            { "id": "0", "status": 429, "headers": { "Retry-After": "2" }, "body": { "error": { "code": "TooManyRequests" } } },
        ] }));
        assert!(matches!(
            classify(&throttled),
            Verdict::Failure {
                kind: ErrorKind::RateLimited,
                retry_after: Some(_),
                ..
            }
        ));
        assert!(responses(&throttled, 1).is_none());
    }

    #[test]
    fn a_lookup_that_finds_nothing_does_not_fail_the_batch() {
        let reply = answer(json!({ "responses": [
            { "id": "0", "status": 200, "body": { "id": "a" } },
            { "id": "1", "status": 404, "body": { "error": { "code": "ErrorItemNotFound" } } },
            { "id": "2", "status": 400, "body": { "error": { "code": "ErrorInvalidIdMalformed" } } },
        ] }));
        assert!(matches!(classify_lookups(&reply), Verdict::Success));
        assert!(!matches!(classify(&reply), Verdict::Success));
        let denied = answer(json!({ "responses": [
            { "id": "0", "status": 404, "body": {} },
            { "id": "1", "status": 403, "body": { "error": { "code": "ErrorAccessDenied" } } },
        ] }));
        assert!(matches!(
            classify_lookups(&denied),
            Verdict::Failure {
                kind: ErrorKind::Forbidden,
                ..
            }
        ));
    }
}
