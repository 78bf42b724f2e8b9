//! Google's batch format for Calendar (`POST /batch/calendar/v3`): a `multipart/mixed` body of
//! `application/http` parts, each a whole inner request with a path only, answered by a
//! `multipart/mixed` body with one HTTP response per part, matched by `Content-ID`
//! (`<item-N>` comes back as `<response-item-N>`). Each inner call counts against the quota as
//! one request.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use mail_parser::{MessageParser, MimeHeaders, PartType};

use crate::upstream::Reply;

/// The boundary between parts (no inner request contains it: paths are percent-encoded).
const BOUNDARY: &str = "nexus_calendar_batch";

pub fn content_type() -> String {
    format!("multipart/mixed; boundary={BOUNDARY}")
}

/// The batch body for inner `GET`s, in order (`item-0`, `item-1`, ...).
pub fn body(paths: &[String]) -> Bytes {
    let mut out = String::new();
    for (i, path) in paths.iter().enumerate() {
        out.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Type: application/http\r\nContent-ID: <item-{i}>\r\n\r\nGET {path} HTTP/1.1\r\n\r\n"
        ));
    }
    out.push_str(&format!("--{BOUNDARY}--\r\n"));
    Bytes::from(out)
}

/// One inner response as a `Reply`: status line, headers, blank line, body.
fn inner_reply(bytes: &[u8]) -> Option<Reply> {
    let text = std::str::from_utf8(bytes)
        .ok()?
        .trim_start_matches(['\r', '\n']);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .or_else(|| text.split_once("\n\n"))
        .unwrap_or((text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse::<u16>()
        .ok()?;
    let mut headers = HeaderMap::new();
    for (name, value) in lines.filter_map(|l| l.split_once(':')) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.trim()),
            HeaderValue::try_from(value.trim()),
        ) {
            headers.insert(name, value);
        }
    }
    Some(Reply {
        status: StatusCode::from_u16(status).ok()?,
        headers,
        body: Bytes::copy_from_slice(body.trim_end_matches(['\r', '\n']).as_bytes()),
    })
}

/// The inner replies of a batch answer, by item index; `None` where a part is missing or
/// unreadable.
pub fn replies(content_type: &str, body: &[u8], items: usize) -> Vec<Option<Reply>> {
    let mut out: Vec<Option<Reply>> = vec![None; items];
    let wrapped = [
        format!("Content-Type: {content_type}\r\n\r\n").as_bytes(),
        body,
    ]
    .concat();
    let Some(message) = MessageParser::default().parse(&wrapped) else {
        return out;
    };
    let PartType::Multipart(children) = &message.root_part().body else {
        return out;
    };
    for part in children
        .iter()
        .filter_map(|i| message.parts.get(*i as usize))
    {
        let index = part
            .content_id()
            .map(|id| id.trim_matches(['<', '>']))
            .and_then(|id| id.strip_prefix("response-item-"))
            .and_then(|n| n.parse::<usize>().ok());
        if let Some(slot) = index.and_then(|i| out.get_mut(i)) {
            *slot = inner_reply(part.contents());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_matched_to_items_by_content_id() {
        let answer = "--b\r\nContent-Type: application/http\r\nContent-ID: <response-item-1>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"items\":[]}\r\n--b\r\nContent-Type: application/http\r\nContent-ID: <response-item-0>\r\n\r\nHTTP/1.1 404 Not Found\r\n\r\n{}\r\n--b--\r\n";
        let replies = replies("multipart/mixed; boundary=b", answer.as_bytes(), 3);
        assert_eq!(replies[0].as_ref().unwrap().status, StatusCode::NOT_FOUND);
        let second = replies[1].as_ref().unwrap();
        assert_eq!(second.status, StatusCode::OK);
        assert_eq!(&second.body[..], b"{\"items\":[]}");
        assert!(replies[2].is_none());
        let sent = String::from_utf8(body(&["/calendar/v3/x?q=a".into()]).to_vec()).unwrap();
        assert!(sent.contains("Content-ID: <item-0>\r\n\r\nGET /calendar/v3/x?q=a HTTP/1.1"));
    }
}
