//! Google's batch format, the one codec for Gmail (`POST /batch/gmail/v1`) and Calendar
//! (`POST /batch/calendar/v3`): many `GET`s in one HTTP round trip. The request is
//! `multipart/mixed`, one `application/http` part per inner call (a path only, with
//! `Content-ID: <item-N>`); the answer is `multipart/mixed` too, one `application/http` part per
//! call (`HTTP/1.1 200 OK`, headers, body) with `Content-ID: <response-item-N>`.
//!
//! The answer is split on its boundary and each part's headers and inner response are read with
//! `httparse`. Answers are matched to calls by `Content-ID`; a part without one takes its place
//! in order.
//!
//! The outer call succeeds even when its parts do not. [`classify`] reads the parts too, for a
//! caller whose parts speak for the whole batch: an expired token in any part is the batch's
//! expired token (the stack refreshes and sends it again), a rate-limited or unavailable part
//! makes the batch so (the stack waits and retries — a batch of reads is harmless to repeat).
//! Other part failures (a message deleted meanwhile) are left to the caller, part by part
//! ([`part_error`]).

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use memchr::memmem;

use crate::{
    providers::Provider,
    upstream::{Body, Call, ErrorKind, ProviderError, Reply, Verdict},
};

use super::error;

/// Most headers read in a part or in its inner response.
const MAX_HEADERS: usize = 64;

/// The batch call `op` to `endpoint`, carrying a `GET` of each of `paths` (each with its
/// query), in order.
pub fn call(op: &'static str, endpoint: &str, paths: &[String]) -> Call {
    let boundary = format!("batch_nexus_{}", hex::encode(rand::random::<[u8; 12]>()));
    let mut body = String::new();
    for (i, path) in paths.iter().enumerate() {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item-{i}>\r\n\r\nGET {path} HTTP/1.1\r\n\r\n\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    Call {
        method: Method::POST,
        body: Some(Body::Bytes {
            content_type: format!("multipart/mixed; boundary={boundary}"),
            data: Bytes::from(body),
        }),
        ..Call::get(op, endpoint)
    }
}

/// One part of an answer: the call it answers (from its `Content-ID`), and its inner response
/// (`None` when unreadable).
struct Part {
    item: Option<usize>,
    reply: Option<Reply>,
}

/// The parts of a batch answer, in the order they came; `None` when the answer is not a
/// multipart one.
fn parts(reply: &Reply) -> Option<Vec<Part>> {
    let content_type: mime::Mime = reply
        .headers
        .get(http::header::CONTENT_TYPE)?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    if content_type.type_() != mime::MULTIPART {
        return None;
    }
    let boundary = content_type.get_param(mime::BOUNDARY)?;
    Some(
        split(boundary.as_str(), &reply.body)?
            .into_iter()
            .map(part)
            .collect(),
    )
}

/// The bodies of a multipart body's parts (RFC 2046: each delimiter `--boundary` starts a line,
/// the line break before it belongs to it, `--boundary--` closes).
fn split<'a>(boundary: &str, body: &'a [u8]) -> Option<Vec<&'a [u8]>> {
    let delimiter = format!("--{boundary}");
    let delimiters = memmem::find_iter(body, delimiter.as_bytes())
        .filter(|&at| at == 0 || body[at - 1] == b'\n')
        .map(|at| (at, at + delimiter.len()));
    let mut parts = Vec::new();
    let mut open: Option<usize> = None;
    for (at, after) in delimiters {
        if let Some(start) = open.take() {
            let end = at.saturating_sub(if body[..at].ends_with(b"\r\n") { 2 } else { 1 });
            parts.push(&body[start..end.max(start)]);
        }
        if body[after..].starts_with(b"--") {
            return Some(parts);
        }
        let line_end = memchr::memchr(b'\n', &body[after..])?;
        open = Some(after + line_end + 1);
    }
    // An answer cut before its closing delimiter is not a whole batch.
    None
}

/// One part: its headers (for `Content-ID`), then an HTTP response.
fn part(bytes: &[u8]) -> Part {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let Ok(httparse::Status::Complete((start, headers))) =
        httparse::parse_headers(bytes, &mut headers)
    else {
        return Part {
            item: None,
            reply: None,
        };
    };
    let item = headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-id"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .and_then(|id| {
            id.trim()
                .trim_matches(['<', '>'])
                .strip_prefix("response-item-")?
                .parse()
                .ok()
        });
    Part {
        item,
        reply: inner_reply(&bytes[start..]),
    }
}

/// `HTTP/1.1 200 OK`, headers, a blank line and the body.
fn inner_reply(bytes: &[u8]) -> Option<Reply> {
    let mut head = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut head);
    let httparse::Status::Complete(start) = response.parse(bytes).ok()? else {
        return None;
    };
    let mut headers = HeaderMap::new();
    for header in response.headers.iter() {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(header.name),
            HeaderValue::from_bytes(header.value),
        ) {
            headers.append(name, value);
        }
    }
    let body = &bytes[start..];
    let end = body
        .iter()
        .rposition(|b| !matches!(b, b'\r' | b'\n'))
        .map_or(0, |i| i + 1);
    Some(Reply {
        status: StatusCode::from_u16(response.code?).ok()?,
        headers,
        body: Bytes::copy_from_slice(&body[..end]),
    })
}

/// The answers of a batch of `items` calls, by call; `None` where a call's answer is missing or
/// unreadable, and `None` for all when the answer is not a batch's.
pub fn answers(reply: &Reply, items: usize) -> Option<Vec<Option<Reply>>> {
    let mut out = vec![None; items];
    for (order, part) in parts(reply)?.into_iter().enumerate() {
        if let Some(slot) = out.get_mut(part.item.unwrap_or(order)) {
            *slot = part.reply;
        }
    }
    Some(out)
}

/// The outer answer's verdict, and the parts' where they speak for the whole batch.
pub fn classify(reply: &Reply) -> Verdict {
    let outer = error::classify(reply);
    if !matches!(outer, Verdict::Success) {
        return outer;
    }
    let Some(parts) = parts(reply) else {
        return Verdict::failure(ErrorKind::Upstream, "unreadable batch answer");
    };
    for part in parts {
        let Some(answer) = part.reply else {
            return Verdict::failure(ErrorKind::Upstream, "unreadable batch answer");
        };
        match error::classify(&answer) {
            Verdict::TokenExpired => return Verdict::TokenExpired,
            failure @ Verdict::Failure {
                kind: ErrorKind::RateLimited | ErrorKind::Unavailable,
                ..
            } => return failure,
            _ => {}
        }
    }
    Verdict::Success
}

/// One call's answer as a provider error, when it is one: a refused token there cannot be
/// refreshed for that call alone, so it asks for a new connection.
pub fn part_error(provider: Provider, op: &'static str, answer: &Reply) -> Option<ProviderError> {
    match error::classify(answer) {
        Verdict::Success => None,
        Verdict::TokenExpired => Some(ProviderError::new(
            ErrorKind::ReauthRequired,
            provider,
            op,
            "a batched call was refused its token",
        )),
        Verdict::Failure {
            kind,
            retry_after,
            message,
        } => {
            let mut error = ProviderError::new(kind, provider, op, message);
            error.retry_after = retry_after.or_else(|| answer.retry_after());
            Some(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(content_type: &str, body: &str) -> Reply {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).unwrap(),
        );
        Reply {
            status: StatusCode::OK,
            headers,
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn a_batch_is_written_and_its_answer_read_back_by_content_id() {
        let call = call(
            "events.batch.5",
            "/batch/calendar/v3",
            &["/calendar/v3/x?q=a".to_owned()],
        );
        assert_eq!(call.op, "events.batch.5");
        assert_eq!(call.method, Method::POST);
        let Some(Body::Bytes { data, content_type }) = &call.body else {
            panic!("a multipart body")
        };
        assert!(content_type.starts_with("multipart/mixed; boundary=batch_nexus_"));
        let text = String::from_utf8_lossy(data);
        assert!(text.contains("Content-ID: <item-0>\r\n\r\nGET /calendar/v3/x?q=a HTTP/1.1\r\n"));

        let answer = reply(
            "multipart/mixed; boundary=b",
            "--b\r\nContent-Type: application/http\r\nContent-ID: <response-item-1>\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":404}}\r\n\
             --b\r\nContent-Type: application/http\r\nContent-ID: <response-item-0>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"items\":[]}\r\n--b--\r\n",
        );
        let answers = answers(&answer, 3).unwrap();
        let first = answers[0].as_ref().unwrap();
        assert_eq!(first.status, StatusCode::OK);
        assert_eq!(&first.body[..], b"{\"items\":[]}");
        assert_eq!(
            first.headers[http::header::CONTENT_TYPE],
            "application/json"
        );
        assert_eq!(answers[1].as_ref().unwrap().status, StatusCode::NOT_FOUND);
        assert!(answers[2].is_none(), "no part answers a third call");
        assert!(matches!(classify(&answer), Verdict::Success));
        let missing = part_error(
            Provider::Gmail,
            "messages.get",
            answers[1].as_ref().unwrap(),
        );
        assert_eq!(missing.unwrap().kind, ErrorKind::NotFound);
    }

    #[test]
    fn parts_without_content_ids_answer_in_order() {
        let answer = reply(
            "multipart/mixed; boundary=\"b c\"",
            "preamble\r\n--b c\r\nContent-Type: application/http\r\n\r\n\r\nHTTP/1.1 200 OK\r\n\r\n{\"a\":1}\r\n\
             --b c\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 503 Service Unavailable\r\n\r\n\r\n--b c--\r\n",
        );
        let answers = answers(&answer, 2).unwrap();
        assert_eq!(&answers[0].as_ref().unwrap().body[..], b"{\"a\":1}");
        let second = answers[1].as_ref().unwrap();
        assert_eq!(second.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(second.body.is_empty());
    }

    #[test]
    fn an_answer_that_is_not_a_whole_batch_is_none() {
        assert!(answers(&reply("application/json", "{}"), 1).is_none());
        let cut = reply(
            "multipart/mixed; boundary=b",
            "--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\n\r\n{}\r\n",
        );
        assert!(answers(&cut, 1).is_none());
        assert!(matches!(
            classify(&cut),
            Verdict::Failure {
                kind: ErrorKind::Upstream,
                ..
            }
        ));
    }

    #[test]
    fn an_expired_or_rate_limited_part_speaks_for_the_batch() {
        let part = |status: &str| {
            reply(
                "multipart/mixed; boundary=b",
                &format!(
                    "--b\r\nContent-Type: application/http\r\nContent-ID: <response-item-0>\r\n\r\nHTTP/1.1 {status}\r\nContent-Type: application/json\r\n\r\n{{}}\r\n--b--\r\n"
                ),
            )
        };
        assert!(matches!(
            classify(&part("401 Unauthorized")),
            Verdict::TokenExpired
        ));
        assert!(matches!(
            classify(&part("429 Too Many Requests")),
            Verdict::Failure {
                kind: ErrorKind::RateLimited,
                ..
            }
        ));
    }
}
