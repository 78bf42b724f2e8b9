//! Google's upload protocol for a method that takes media (Gmail's `messages.send`): the
//! `/upload/…` URL with `uploadType=media` (the body is the media, typed by `Content-Type`) or
//! `uploadType=multipart` (a `multipart/related` body of two parts: the JSON metadata, then the
//! media), as the Google client libraries send them whenever a call carries `media`. What the
//! upload URL refuses — no or an unknown `uploadType`, media of a type the method does not take,
//! a multipart body that is not two parts with JSON first — and what the plain URL refuses (a
//! media body: it must go to the upload URL) are answered with Google's 400s.

use axum::http::{HeaderMap, StatusCode};
use mail_parser::{MessageParser, MimeHeaders, PartType};
use serde_json::{Value, json};

use super::error::{self, ApiError};

/// What an upload carried: the metadata (`{}` for `uploadType=media`) and the media's bytes.
#[derive(Debug)]
pub struct Upload {
    pub metadata: Value,
    pub media: Vec<u8>,
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The MIME type without parameters, lower-cased.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Gmail takes `message/*` media only.
fn check_media_type(media_type: &str) -> Result<(), ApiError> {
    if essence(media_type).starts_with("message/") {
        return Ok(());
    }
    let shown = if media_type.is_empty() {
        "application/octet-stream".to_owned()
    } else {
        essence(media_type)
    };
    Err(error::error(
        StatusCode::BAD_REQUEST,
        "global",
        "badContent",
        &format!("Media type '{shown}' is not supported. Valid media types: [message/*]"),
        Value::Null,
    ))
}

fn bad_multipart(message: &str) -> ApiError {
    error::error(
        StatusCode::BAD_REQUEST,
        "global",
        "badRequest",
        message,
        Value::Null,
    )
}

/// Reads an upload to `/upload/…` with its `uploadType` (from the query string).
pub fn read(
    upload_type: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Upload, ApiError> {
    let content_type = content_type(headers);
    match upload_type {
        Some("media") => {
            check_media_type(&content_type)?;
            Ok(Upload {
                metadata: json!({}),
                media: body.to_vec(),
            })
        }
        Some("multipart") => multipart(&content_type, body),
        Some("resumable") => Err(error::error(
            StatusCode::NOT_IMPLEMENTED,
            "global",
            "notImplemented",
            "The sandbox does not simulate resumable uploads; use uploadType=media or multipart.",
            Value::Null,
        )),
        None => Err(error::invalid_parameter(
            "uploadType",
            "Upload requests must specify an uploadType url parameter and a Content-Type header or a Content-Type multipart request parameter.",
        )),
        Some(other) => Err(error::invalid_parameter(
            "uploadType",
            &format!(
                "Invalid value for uploadType: {other}. Valid values: [media, multipart, resumable]"
            ),
        )),
    }
}

/// A `multipart/related` body: the metadata as JSON, then the media.
fn multipart(content_type: &str, body: &[u8]) -> Result<Upload, ApiError> {
    if essence(content_type) != "multipart/related" {
        return Err(bad_multipart(&format!(
            "Invalid multipart request: Content-Type '{}' is not multipart/related.",
            essence(content_type)
        )));
    }
    let wrapped = [
        format!("Content-Type: {content_type}\r\n\r\n").as_bytes(),
        body,
    ]
    .concat();
    let message = MessageParser::default().parse(&wrapped);
    let children: Vec<usize> = match message.as_ref().map(|m| &m.root_part().body) {
        Some(PartType::Multipart(children)) => children.iter().map(|i| *i as usize).collect(),
        _ => Vec::new(),
    };
    let message = message.as_ref();
    let parts: Vec<_> = children
        .iter()
        .filter_map(|i| message.and_then(|m| m.parts.get(*i)))
        .collect();
    if parts.len() != 2 {
        return Err(bad_multipart(&format!(
            "Invalid multipart request with {} mime parts.",
            parts.len()
        )));
    }
    let part_type = |part: &mail_parser::MessagePart| {
        part.content_type()
            .map(|c| match c.subtype() {
                Some(sub) => format!("{}/{sub}", c.ctype()),
                None => c.ctype().to_owned(),
            })
            .unwrap_or_default()
    };
    if essence(&part_type(parts[0])) != "application/json" {
        return Err(bad_multipart(
            "Invalid multipart request: the first part must be the metadata, application/json.",
        ));
    }
    let metadata: Value = serde_json::from_slice(parts[0].contents())
        .map_err(|e| error::bad_request(&format!("Invalid JSON payload received. {e}")))?;
    if !metadata.is_object() {
        return Err(error::bad_request(
            "Invalid JSON payload received. Expected an object.",
        ));
    }
    check_media_type(&part_type(parts[1]))?;
    Ok(Upload {
        metadata,
        media: parts[1].contents().to_vec(),
    })
}

/// The plain (non-upload) URL refuses media: a body that is not JSON belongs at `/upload/…`.
pub fn refuse_media_at_plain_url(headers: &HeaderMap, upload_url: &str) -> Result<(), ApiError> {
    let content_type = essence(&content_type(headers));
    if content_type.starts_with("multipart/") || content_type.starts_with("message/") {
        let kind = if content_type.starts_with("multipart/") {
            "multipart"
        } else {
            "media"
        };
        return Err(error::error(
            StatusCode::BAD_REQUEST,
            "global",
            "wrongUrlForUpload",
            &format!(
                "Uploads must be sent to the upload URL. Re-send this request to {upload_url}?uploadType={kind}"
            ),
            Value::Null,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", content_type.parse().unwrap());
        headers
    }

    #[test]
    fn multipart_related_gives_metadata_and_the_raw_message() {
        let raw = "From: a@nexus.example\r\nTo: b@nexus.example\r\nSubject: Hi\r\n\r\nHello\r\n";
        let body = format!(
            "--XyZ\r\ncontent-type: application/json\r\n\r\n{{\"threadId\":\"abc\"}}\r\n--XyZ\r\ncontent-type: message/rfc822\r\n\r\n{raw}\r\n--XyZ--"
        );
        let upload = read(
            Some("multipart"),
            &typed("multipart/related; boundary=XyZ"),
            body.as_bytes(),
        )
        .unwrap();
        assert_eq!(upload.metadata["threadId"], "abc");
        let media = String::from_utf8(upload.media).unwrap();
        assert!(media.starts_with("From: a@nexus.example\r\n"), "{media}");
        assert!(media.contains("Subject: Hi"), "{media}");
        assert!(media.contains("Hello"), "{media}");
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        let reason = |e: ApiError| {
            let body = axum::response::IntoResponse::into_response(e);
            body.status().as_u16()
        };
        assert_eq!(
            reason(read(None, &typed("message/rfc822"), b"x").unwrap_err()),
            400
        );
        assert_eq!(
            reason(read(Some("media"), &typed("text/plain"), b"x").unwrap_err()),
            400
        );
        assert_eq!(
            reason(
                read(
                    Some("multipart"),
                    &typed("multipart/related; boundary=b"),
                    b"--b\r\ncontent-type: application/json\r\n\r\n{}\r\n--b--"
                )
                .unwrap_err()
            ),
            400
        );
        assert!(refuse_media_at_plain_url(&typed("application/json"), "u").is_ok());
        assert!(refuse_media_at_plain_url(&typed("multipart/related; boundary=b"), "u").is_err());
    }
}
