//! Google's batch endpoints, `POST /batch/gmail/v1` (at most 100 parts) and
//! `POST /batch/calendar/v3` (at most 1,000): a `multipart/mixed` body of `application/http`
//! parts, each a whole inner request with a path only
//! (`GET /gmail/v1/users/me/messages/{id}?format=metadata`). Each part runs through its API's
//! routes as its own call — authentication, quota units, faults and counters included — with
//! the outer headers (`Authorization`) unless the part sets its own. The answer is
//! `multipart/mixed` with one `application/http` part per call, in order, each carrying
//! `Content-ID: <response-…>` for the request's `Content-ID`.

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use mail_parser::{MessageParser, MimeHeaders, PartType};
use tower::ServiceExt;

use super::error;
use crate::Ctx;

/// One API's batch: the paths its parts may name, how many it takes, and its routes. Parts run
/// at once (Google may run a batch's calls in any order), so a latency fault delays a batch
/// once, not once per part; answers keep the parts' order.
struct Api {
    prefix: &'static str,
    max_parts: usize,
    router: fn(Ctx) -> Router,
}

const GMAIL: Api = Api {
    prefix: "/gmail/v1/",
    max_parts: 100,
    router: super::gmail_router,
};

const CALENDAR: Api = Api {
    prefix: "/calendar/v3/",
    max_parts: 1000,
    router: super::calendar_router,
};

pub fn routes() -> Router<Ctx> {
    Router::new().route("/google/batch/gmail/v1", post(gmail_batch))
}

pub fn calendar_routes() -> Router<Ctx> {
    Router::new().route("/google/batch/calendar/v3", post(calendar_batch))
}

async fn gmail_batch(State(ctx): State<Ctx>, headers: HeaderMap, body: Bytes) -> Response {
    batch(&GMAIL, ctx, headers, body).await
}

async fn calendar_batch(State(ctx): State<Ctx>, headers: HeaderMap, body: Bytes) -> Response {
    batch(&CALENDAR, ctx, headers, body).await
}

/// One inner request as the client wrote it.
struct Inner {
    content_id: Option<String>,
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Reads `METHOD path HTTP/1.1`, headers, a blank line and the body.
fn parse_inner(content_id: Option<String>, bytes: &[u8]) -> Option<Inner> {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_start_matches(['\r', '\n']);
    let (head, body) = match text.find("\r\n\r\n") {
        Some(i) => (&text[..i], &text[i + 4..]),
        None => match text.find("\n\n") {
            Some(i) => (&text[..i], &text[i + 2..]),
            None => (text, ""),
        },
    };
    let mut lines = head.lines();
    let mut request_line = lines.next()?.split_whitespace();
    let method = Method::from_bytes(request_line.next()?.as_bytes()).ok()?;
    let target = request_line.next()?;
    let path = match url::Url::parse(target) {
        Ok(url) => match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        },
        Err(_) => target.to_owned(),
    };
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Some(Inner {
        content_id,
        method,
        path,
        headers,
        body: body.trim_end_matches(['\r', '\n']).as_bytes().to_vec(),
    })
}

/// The parts of a `multipart/mixed` body; `None` when it is not one.
fn split(content_type: &str, body: &[u8]) -> Option<Vec<Option<Inner>>> {
    if !content_type.to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    let wrapped = [
        format!("Content-Type: {content_type}\r\n\r\n").as_bytes(),
        body,
    ]
    .concat();
    let message = MessageParser::default().parse(&wrapped)?;
    let PartType::Multipart(children) = &message.root_part().body else {
        return None;
    };
    Some(
        children
            .iter()
            .filter_map(|i| message.parts.get(*i as usize))
            .map(|part| {
                let id = part
                    .content_id()
                    .map(|id| id.trim_matches(['<', '>']).to_owned());
                parse_inner(id, part.contents())
            })
            .collect(),
    )
}

async fn batch(api: &Api, ctx: Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(parts) = split(content_type, &body) else {
        return error::bad_request("A batch request must be multipart/mixed with a boundary.")
            .into_response();
    };
    if parts.len() > api.max_parts {
        return error::bad_request(&format!(
            "Too many requests in batch, the maximum is {}.",
            api.max_parts
        ))
        .into_response();
    }
    let routes = (api.router)(ctx.clone());
    let boundary = format!("batch_{}", hex::encode(rand::random::<[u8; 12]>()));
    let run = |part: Option<Inner>| {
        let (routes, headers) = (&routes, &headers);
        async move {
            match part {
                None => (
                    None,
                    error::bad_request("Invalid part: not an HTTP request").into_response(),
                ),
                Some(inner) => {
                    let id = inner.content_id.clone();
                    (id, call(api.prefix, routes, headers, inner).await)
                }
            }
        }
    };
    let answers = futures_util::future::join_all(parts.into_iter().map(run)).await;
    let mut out = Vec::new();
    for (content_id, answer) in answers {
        out.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: application/http\r\n").as_bytes(),
        );
        if let Some(id) = content_id {
            out.extend_from_slice(format!("Content-ID: <response-{id}>\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&http_text(answer).await);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (
        [(
            "content-type",
            format!("multipart/mixed; boundary={boundary}"),
        )],
        out,
    )
        .into_response()
}

/// Runs one inner call through its API's routes.
async fn call(prefix: &str, routes: &Router, outer: &HeaderMap, inner: Inner) -> Response {
    if !inner.path.starts_with(prefix) {
        return error::not_found().into_response();
    }
    let mut request = Request::builder()
        .method(inner.method)
        .uri(format!("/google{}", inner.path));
    if let Some(auth) = outer.get("authorization") {
        request = request.header("authorization", auth);
    }
    let mut request = match request.body(Body::from(inner.body)) {
        Ok(r) => r,
        Err(_) => return error::bad_request("Invalid part: bad request line").into_response(),
    };
    for (name, value) in inner.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            request.headers_mut().insert(name, value);
        }
    }
    match routes.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// A response as HTTP/1.1 text: status line, headers, blank line, body.
async fn http_text(response: Response) -> Vec<u8> {
    let status = response.status();
    let mut text = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    );
    for (name, value) in response.headers() {
        text.push_str(&format!(
            "{name}: {}\r\n",
            value.to_str().unwrap_or_default()
        ));
    }
    let body = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    text.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = text.into_bytes();
    out.extend_from_slice(&body);
    if status == StatusCode::NO_CONTENT && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[test]
    fn parts_are_read_with_their_content_ids() {
        let body = "--b1\r\nContent-Type: application/http\r\nContent-ID: <item1>\r\n\r\nGET /gmail/v1/users/me/messages/abc?format=metadata HTTP/1.1\r\n\r\n\r\n--b1\r\nContent-Type: application/http\r\n\r\nPOST https://gmail.googleapis.com/gmail/v1/users/me/messages/abc/modify\r\nContent-Type: application/json\r\n\r\n{\"addLabelIds\":[\"STARRED\"]}\r\n--b1--\r\n";
        let parts = split("multipart/mixed; boundary=b1", body.as_bytes()).unwrap();
        assert_eq!(parts.len(), 2);
        let first = parts[0].as_ref().unwrap();
        assert_eq!(first.content_id.as_deref(), Some("item1"));
        assert_eq!(
            first.path,
            "/gmail/v1/users/me/messages/abc?format=metadata"
        );
        let second = parts[1].as_ref().unwrap();
        assert_eq!(second.method, Method::POST);
        assert_eq!(second.path, "/gmail/v1/users/me/messages/abc/modify");
        assert_eq!(
            second.headers,
            [("Content-Type".to_owned(), "application/json".to_owned())]
        );
        let body: Value = serde_json::from_slice(&second.body).unwrap();
        assert_eq!(body["addLabelIds"][0], "STARRED");
        assert!(split("application/json", b"{}").is_none());
    }
}
