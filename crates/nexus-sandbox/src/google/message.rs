//! RFC 2822 messages as Gmail keeps them: composing the seeded ones (multipart/alternative with
//! text and HTML, RFC 2047 subjects where they are not ASCII), reading a client's raw message
//! (mail-parser), and the API's views of one: the `payload` MessagePart tree (`partId`,
//! `mimeType`, `filename`, `headers`, `body{size,data|attachmentId}`, `parts`), the snippet, and
//! base64url as Gmail writes it.

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD},
};
use chrono::{DateTime, Utc};
use mail_parser::{HeaderValue, MessageParser, MimeHeaders, PartType};
use serde_json::{Value, json};

/// Gmail writes base64url with padding.
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE.encode(bytes)
}

/// Reads base64url as clients send it: padded or not, and the standard alphabet too.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let trimmed = text.trim().trim_end_matches('=');
    URL_SAFE_NO_PAD
        .decode(trimmed)
        .ok()
        .or_else(|| STANDARD.decode(text.trim()).ok())
}

/// One person on a message.
#[derive(Debug, Clone)]
pub struct Party {
    pub name: String,
    pub email: String,
}

impl Party {
    pub fn header(&self) -> String {
        if self.name.is_empty() {
            self.email.clone()
        } else {
            format!("{} <{}>", self.name, self.email)
        }
    }
}

/// What a seeded message says.
pub struct Draft<'a> {
    pub from: &'a Party,
    pub to: &'a Party,
    pub subject: &'a str,
    pub text: &'a str,
    pub date: DateTime<Utc>,
    pub message_id: &'a str,
    /// The Message-IDs this one replies to (References), the last being In-Reply-To.
    pub references: &'a [String],
}

/// RFC 2047 B-encoding for a header that is not ASCII.
fn encode_word(text: &str) -> String {
    if text.is_ascii() {
        text.to_owned()
    } else {
        format!("=?UTF-8?B?{}?=", STANDARD.encode(text.as_bytes()))
    }
}

/// A seeded message: multipart/alternative, text and HTML, as Gmail's web client writes one.
pub fn compose(draft: &Draft<'_>) -> Vec<u8> {
    let boundary = format!(
        "0000000000{:016x}",
        super::mix(draft.date.timestamp() as u64)
    );
    let mut out = format!(
        "MIME-Version: 1.0\r\nDate: {}\r\nMessage-ID: {}\r\n",
        draft.date.to_rfc2822(),
        draft.message_id
    );
    if let Some(last) = draft.references.last() {
        out.push_str(&format!(
            "In-Reply-To: {last}\r\nReferences: {}\r\n",
            draft.references.join(" ")
        ));
    }
    let html: String = draft
        .text
        .split("\n\n")
        .map(|p| format!("<div>{}</div>", html_escape(p)))
        .collect();
    out.push_str(&format!(
        "Subject: {}\r\nFrom: {}\r\nTo: {}\r\nContent-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{}\r\n\r\n\
         --{boundary}\r\nContent-Type: text/html; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<div dir=\"ltr\">{}</div>\r\n\r\n\
         --{boundary}--\r\n",
        encode_word(draft.subject),
        draft.from.header(),
        draft.to.header(),
        quoted_printable(&draft.text.replace('\n', "\r\n")),
        quoted_printable(&html),
    ));
    out.into_bytes()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Quoted-printable (RFC 2045): non-ASCII and `=` escaped, soft line breaks under 76 columns.
fn quoted_printable(text: &str) -> String {
    let mut out = String::new();
    for line in text.split("\r\n") {
        let mut column = 0;
        for b in line.bytes() {
            let piece = if (b.is_ascii_graphic() && b != b'=') || b == b' ' {
                (b as char).to_string()
            } else {
                format!("={b:02X}")
            };
            if column + piece.len() > 75 {
                out.push_str("=\r\n");
                column = 0;
            }
            column += piece.len();
            out.push_str(&piece);
        }
        out.push_str("\r\n");
    }
    out.truncate(out.len() - 2);
    out
}

/// What the mailbox indexes of a message, read from its raw form.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub subject: String,
    pub message_id: Option<String>,
    /// In-Reply-To and References, as `<id>` strings.
    pub references: Vec<String>,
    pub snippet: String,
    pub date: Option<DateTime<Utc>>,
}

fn addresses(address: Option<&mail_parser::Address<'_>>) -> Vec<String> {
    address
        .map(|a| {
            a.iter()
                .filter_map(|addr| addr.address.as_ref())
                .map(|a| a.to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default()
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(t) => vec![format!("<{t}>")],
        HeaderValue::TextList(list) => list.iter().map(|t| format!("<{t}>")).collect(),
        _ => Vec::new(),
    }
}

/// Parses a raw message; `None` when it is not one (no headers at all).
pub fn summarize(raw: &[u8]) -> Option<Summary> {
    let parsed = MessageParser::default().parse(raw)?;
    if parsed.headers().is_empty() {
        return None;
    }
    let mut references = ids(parsed.references());
    for id in ids(parsed.in_reply_to()) {
        if !references.contains(&id) {
            references.push(id);
        }
    }
    let text = parsed
        .body_text(0)
        .map(|t| t.into_owned())
        .unwrap_or_default();
    let snippet: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let snippet: String = snippet.chars().take(200).collect();
    Some(Summary {
        from: addresses(parsed.from()),
        to: addresses(parsed.to()),
        cc: addresses(parsed.cc()),
        bcc: addresses(parsed.bcc()),
        subject: parsed.subject().unwrap_or_default().to_owned(),
        message_id: parsed.message_id().map(|id| format!("<{id}>")),
        references,
        snippet: html_escape(&snippet),
        date: parsed
            .date()
            .and_then(|d| DateTime::parse_from_rfc3339(&d.to_rfc3339()).ok())
            .map(|d| d.with_timezone(&Utc)),
    })
}

/// A header's value as it appears in the message, unfolded.
fn raw_value(raw: &[u8], start: u32, end: u32) -> String {
    let bytes = raw.get(start as usize..end as usize).unwrap_or_default();
    String::from_utf8_lossy(bytes)
        .split("\r\n")
        .flat_map(|l| l.split('\n'))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The headers of one part: `[{name, value}]`, decoded where Gmail decodes (unstructured text).
fn headers_of(part: &mail_parser::MessagePart<'_>, raw: &[u8]) -> Vec<(String, String)> {
    part.headers
        .iter()
        .map(|h| {
            let value = match (&h.name, &h.value) {
                (mail_parser::HeaderName::Subject, HeaderValue::Text(t)) => t.to_string(),
                _ => raw_value(raw, h.offset_start, h.offset_end),
            };
            (h.name.as_str().to_owned(), value)
        })
        .collect()
}

/// The `payload` tree. `only` keeps the named headers of the top part (metadata format); with
/// `bodies` false the tree is just the top part's headers (metadata format).
pub fn payload(raw: &[u8], message_id: &str, only: Option<&[String]>, bodies: bool) -> Value {
    let Some(parsed) = MessageParser::default().parse(raw) else {
        return json!({ "partId": "", "mimeType": "text/plain", "filename": "", "headers": [], "body": { "size": 0 } });
    };
    let headers: Vec<Value> = headers_of(parsed.root_part(), raw)
        .into_iter()
        .filter(|(name, _)| {
            only.is_none_or(|keep| keep.iter().any(|k| k.eq_ignore_ascii_case(name)))
        })
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect();
    if !bodies {
        let mime = mime_type(parsed.root_part());
        return json!({ "mimeType": mime, "headers": headers });
    }
    let mut root = part_json(&parsed, raw, 0, String::new(), message_id, 0);
    root["headers"] = Value::Array(headers);
    root
}

fn mime_type(part: &mail_parser::MessagePart<'_>) -> String {
    part.content_type()
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        })
        .unwrap_or_else(|| "text/plain".to_owned())
}

fn part_json(
    parsed: &mail_parser::Message<'_>,
    raw: &[u8],
    index: u32,
    part_id: String,
    message_id: &str,
    depth: usize,
) -> Value {
    let Some(part) = parsed.parts.get(index as usize) else {
        return Value::Null;
    };
    let headers: Vec<Value> = headers_of(part, raw)
        .into_iter()
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect();
    let filename = part.attachment_name().unwrap_or_default().to_owned();
    let mut json = json!({
        "partId": part_id,
        "mimeType": mime_type(part),
        "filename": filename,
        "headers": headers,
    });
    match &part.body {
        PartType::Multipart(children) if depth < 8 => {
            json["body"] = json!({ "size": 0 });
            json["parts"] = children
                .iter()
                .enumerate()
                .map(|(i, child)| {
                    let id = if part_id.is_empty() {
                        i.to_string()
                    } else {
                        format!("{part_id}.{i}")
                    };
                    part_json(parsed, raw, *child, id, message_id, depth + 1)
                })
                .collect();
        }
        _ => {
            let contents = part.contents();
            json["body"] = if filename.is_empty() {
                json!({ "size": contents.len(), "data": encode(contents) })
            } else {
                json!({ "size": contents.len(), "attachmentId": attachment_id(message_id, index) })
            };
        }
    }
    json
}

/// The id `payload` gives an attachment: its part's index, behind the message id.
fn attachment_id(message_id: &str, index: u32) -> String {
    format!("ANGjdJ{message_id}_{index}")
}

/// An attachment's decoded bytes, by the id `payload` gave it.
pub fn attachment(raw: &[u8], message_id: &str, attachment_id: &str) -> Option<Vec<u8>> {
    let index: u32 = attachment_id
        .strip_prefix(&format!("ANGjdJ{message_id}_"))?
        .parse()
        .ok()?;
    let parsed = MessageParser::default().parse(raw)?;
    let part = parsed.parts.get(index as usize)?;
    part.attachment_name()?;
    Some(part.contents().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_composed_message_reads_back_with_its_headers_and_bodies() {
        let ann = Party {
            name: "Ann Example".into(),
            email: "ann@nexus.example".into(),
        };
        let bob = Party {
            name: "Bob".into(),
            email: "bob@acmelabs.example".into(),
        };
        let raw = compose(&Draft {
            from: &ann,
            to: &bob,
            subject: "Grüße & a long line",
            text: "Hello Bob,\n\nthe café = open.",
            date: Utc::now(),
            message_id: "<a1@mail.gmail.com>",
            references: &["<a0@mail.gmail.com>".to_owned()],
        });
        let s = summarize(&raw).unwrap();
        assert_eq!(s.subject, "Grüße & a long line");
        assert_eq!(s.from, ["ann@nexus.example"]);
        assert_eq!(s.to, ["bob@acmelabs.example"]);
        assert_eq!(s.message_id.as_deref(), Some("<a1@mail.gmail.com>"));
        assert_eq!(s.references, ["<a0@mail.gmail.com>"]);
        assert!(
            s.snippet.starts_with("Hello Bob, the café = open."),
            "{}",
            s.snippet
        );
        let tree = payload(&raw, "x", None, true);
        assert_eq!(tree["mimeType"], "multipart/alternative");
        assert_eq!(tree["parts"][0]["partId"], "0");
        assert_eq!(tree["parts"][1]["mimeType"], "text/html");
        let text = decode(tree["parts"][0]["body"]["data"].as_str().unwrap()).unwrap();
        assert!(String::from_utf8(text).unwrap().contains("café = open"));
    }
}
