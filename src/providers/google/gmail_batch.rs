//! Gmail's batch endpoint (`POST /batch/gmail/v1`): many Gmail calls in one HTTP round trip. The
//! body is `multipart/mixed`, one `application/http` part per inner call (`GET /gmail/v1/...`
//! with a path only, `Content-ID: <itemN>`); the answer has one part per call
//! (`HTTP/1.1 200 OK`, headers, body) with `Content-ID: <response-itemN>`.
//!
//! The outer call succeeds even when its parts do not, so [`classify`] reads the parts too: an
//! expired token in any part is the batch's expired token (the stack refreshes and sends it
//! again), a rate-limited or unavailable part makes the batch so (the stack waits and retries —
//! a batch of reads is harmless to repeat). Other part failures (a message deleted meanwhile)
//! are left to the caller, part by part.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use mail_parser::{MessageParser, MimeHeaders, PartType};

use crate::upstream::{Body, Call, ErrorKind, Reply, Verdict};

use super::error;

/// Gmail takes at most this many calls in one batch.
pub const MAX_PARTS: usize = 100;

/// The Gmail call a batch part makes, by its path: the op whose weight (quota units) it spends.
fn part_op(path: &str) -> &'static str {
    let path = path.split('?').next().unwrap_or_default();
    match path.strip_prefix("/gmail/v1/users/me/") {
        Some("labels") => "labels.list",
        Some("messages") => "messages.list",
        Some(rest) if rest.starts_with("messages/") => "messages.get",
        _ => "messages.batch",
    }
}

/// The batch call carrying `paths` (each `/gmail/v1/...` with its query), counted in the rate
/// classes as those calls, each at its own weight (a labels list 1 unit, a get 5).
pub fn call(paths: &[String]) -> Call {
    let boundary = format!("batch_nexus_{}", hex::encode(rand::random::<[u8; 12]>()));
    let mut body = String::new();
    for (i, path) in paths.iter().enumerate() {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item{i}>\r\n\r\nGET {path} HTTP/1.1\r\n\r\n\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    Call {
        method: Method::POST,
        body: Some(Body::Bytes {
            content_type: format!("multipart/mixed; boundary={boundary}"),
            data: Bytes::from(body),
        }),
        ..Call::get("messages.batch", "/batch/gmail/v1")
    }
    .parts(paths.iter().map(|p| part_op(p)).collect())
}

/// Reads `HTTP/1.1 200 OK`, headers, a blank line and the body.
fn inner_reply(bytes: &[u8]) -> Option<Reply> {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(bytes.len());
    let bytes = &bytes[start..];
    let (head, body) = match bytes.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => (&bytes[..i], &bytes[i + 4..]),
        None => match bytes.windows(2).position(|w| w == b"\n\n") {
            Some(i) => (&bytes[..i], &bytes[i + 2..]),
            None => (bytes, &[][..]),
        },
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.lines();
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let mut headers = HeaderMap::new();
    for (name, value) in lines.filter_map(|l| l.split_once(':')) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.trim()),
            HeaderValue::try_from(value.trim()),
        ) {
            headers.append(name, value);
        }
    }
    let body = body.strip_suffix(b"\r\n").unwrap_or(body);
    Some(Reply {
        status: StatusCode::from_u16(status).ok()?,
        headers,
        body: Bytes::copy_from_slice(body),
    })
}

/// The answers of a batch, in the order of its calls (by their `Content-ID`s); `None` when the
/// answer is not a batch's.
pub fn parts(reply: &Reply) -> Option<Vec<Reply>> {
    let content_type = reply
        .headers
        .get(http::header::CONTENT_TYPE)?
        .to_str()
        .ok()?;
    if !content_type.to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    let wrapped = [
        format!("Content-Type: {content_type}\r\n\r\n").as_bytes(),
        &reply.body,
    ]
    .concat();
    let message = MessageParser::default().parse(&wrapped)?;
    let PartType::Multipart(children) = &message.root_part().body else {
        return None;
    };
    let mut answers = Vec::with_capacity(children.len());
    for (order, index) in children.iter().enumerate() {
        let part = message.parts.get(*index as usize)?;
        let slot = part
            .content_id()
            .and_then(|id| {
                id.trim_matches(['<', '>'])
                    .strip_prefix("response-item")?
                    .parse::<usize>()
                    .ok()
            })
            .unwrap_or(order);
        answers.push((slot, inner_reply(part.contents())?));
    }
    answers.sort_by_key(|(slot, _)| *slot);
    Some(answers.into_iter().map(|(_, reply)| reply).collect())
}

/// The outer answer's verdict, and the parts' where they speak for the whole batch.
pub fn classify(reply: &Reply) -> Verdict {
    let outer = error::classify(reply);
    if !matches!(outer, Verdict::Success) {
        return outer;
    }
    let Some(answers) = parts(reply) else {
        return Verdict::failure(ErrorKind::Upstream, "unreadable batch answer");
    };
    for answer in &answers {
        match error::classify(answer) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_part_is_counted_as_the_call_it_makes() {
        let call = call(&[
            "/gmail/v1/users/me/labels".to_owned(),
            "/gmail/v1/users/me/messages?q=from%3Aa&maxResults=5".to_owned(),
            "/gmail/v1/users/me/messages/18c?format=metadata".to_owned(),
        ]);
        assert_eq!(
            call.parts,
            ["labels.list", "messages.list", "messages.get"],
            "Gmail spends 1, 5 and 5 units"
        );
    }

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
    fn a_batch_is_written_and_its_answer_read_back_in_order() {
        let call = call(&["/gmail/v1/users/me/messages/a?format=metadata".to_owned()]);
        assert_eq!(call.parts, ["messages.get"]);
        let Some(Body::Bytes { data, content_type }) = &call.body else {
            panic!("a multipart body")
        };
        assert!(content_type.starts_with("multipart/mixed; boundary=batch_nexus_"));
        let text = String::from_utf8_lossy(data);
        assert!(text.contains("Content-ID: <item0>"));
        assert!(text.contains("GET /gmail/v1/users/me/messages/a?format=metadata HTTP/1.1"));

        let answer = reply(
            "multipart/mixed; boundary=b",
            "--b\r\nContent-Type: application/http\r\nContent-ID: <response-item1>\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":404}}\r\n\
             --b\r\nContent-Type: application/http\r\nContent-ID: <response-item0>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"id\":\"a\"}\r\n--b--\r\n",
        );
        let parts = parts(&answer).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].status, StatusCode::OK);
        assert_eq!(&parts[0].body[..], b"{\"id\":\"a\"}");
        assert_eq!(parts[1].status, StatusCode::NOT_FOUND);
        assert!(matches!(classify(&answer), Verdict::Success));
    }

    #[test]
    fn an_expired_or_rate_limited_part_speaks_for_the_batch() {
        let part = |status: &str| {
            reply(
                "multipart/mixed; boundary=b",
                &format!(
                    "--b\r\nContent-Type: application/http\r\nContent-ID: <response-item0>\r\n\r\nHTTP/1.1 {status}\r\nContent-Type: application/json\r\n\r\n{{}}\r\n--b--\r\n"
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
