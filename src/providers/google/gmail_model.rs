//! Gmail's wire shapes and their mapping: `users.messages.list` answers (ids only), a Message
//! (`labelIds`, `snippet`, `internalDate` in epoch milliseconds as a string, the `payload`
//! MessagePart tree with headers and base64url bodies), labels — and the other way, an RFC 2822
//! message for `messages.send` (RFC 2047 subjects, UTF-8 text and/or HTML as
//! multipart/alternative, thread headers when replying), base64url in `raw`.

use std::collections::HashMap;

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD},
};
use chrono::{DateTime, TimeZone, Utc};
use mail_parser::MessageParser;
use serde::Deserialize;
use serde_json::Value;

use crate::providers::{
    Provider,
    mail::{Address, EmailData, SendEmail},
    record::Record,
};

/// The headers a list reads (`format=metadata&metadataHeaders=...`).
pub const METADATA_HEADERS: &[&str] = &[
    "From",
    "To",
    "Cc",
    "Bcc",
    "Subject",
    "Date",
    "Message-ID",
    "References",
];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageList {
    #[serde(default)]
    pub messages: Vec<MessageRef>,
    pub next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct MessageRef {
    pub id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: String,
    pub thread_id: Option<String>,
    #[serde(default)]
    pub label_ids: Vec<String>,
    pub snippet: Option<String>,
    pub internal_date: Option<String>,
    pub payload: Option<Part>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    pub mime_type: Option<String>,
    #[serde(default)]
    pub headers: Vec<Header>,
    pub body: Option<PartBody>,
    #[serde(default)]
    pub parts: Vec<Part>,
}

#[derive(Debug, Deserialize)]
pub struct Header {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Deserialize)]
pub struct PartBody {
    pub data: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LabelList {
    #[serde(default)]
    pub labels: Vec<Label>,
}

#[derive(Debug, Deserialize)]
pub struct Label {
    pub id: String,
    pub name: String,
}

/// Label names by id (`Label_1` → `Customers`; system labels are named by their ids).
pub type LabelNames = HashMap<String, String>;

impl Message {
    /// A header of the top part, by name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.payload
            .as_ref()?
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }
}

/// Base64url as Gmail writes it (padded or not).
fn decode(data: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(data.trim_end_matches('=')).ok()?;
    String::from_utf8(bytes).ok()
}

/// The first part of `mime` in the tree, decoded.
fn body_of(part: &Part, mime: &str) -> Option<String> {
    if part
        .mime_type
        .as_deref()
        .is_some_and(|m| m.eq_ignore_ascii_case(mime))
        && let Some(data) = part.body.as_ref().and_then(|b| b.data.as_deref())
    {
        return decode(data);
    }
    part.parts.iter().find_map(|p| body_of(p, mime))
}

fn addresses(list: Option<&mail_parser::Address<'_>>) -> Vec<Address> {
    list.map(|a| {
        a.iter()
            .filter_map(|addr| {
                Some(Address {
                    name: addr.name.as_ref().map(|n| n.to_string()),
                    email: addr.address.as_ref()?.to_string(),
                })
            })
            .collect()
    })
    .unwrap_or_default()
}

/// Gmail's snippets are HTML-escaped.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// A Gmail message as a unified record; `bodies` when it was fetched in `full` format.
pub fn record(
    message: Message,
    raw: Value,
    labels: &LabelNames,
    bodies: bool,
) -> Record<EmailData> {
    // The address and subject headers, read by a mail parser (RFC 2047 words, groups, quotes).
    let mut head = String::new();
    for name in ["From", "To", "Cc", "Bcc", "Subject"] {
        if let Some(value) = message.header(name) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("\r\n");
    let parsed = MessageParser::default().parse(head.as_bytes());
    let field = |f: fn(&mail_parser::Message<'_>) -> Vec<Address>| {
        parsed.as_ref().map(f).unwrap_or_default()
    };
    let date = message
        .internal_date
        .as_deref()
        .and_then(|ms| ms.parse::<i64>().ok())
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
        .unwrap_or(DateTime::UNIX_EPOCH);
    let payload = message.payload.as_ref();
    let data = EmailData {
        thread_id: message.thread_id.clone(),
        subject: parsed.as_ref().and_then(|p| p.subject().map(str::to_owned)),
        from: field(|p| addresses(p.from())).into_iter().next(),
        to: field(|p| addresses(p.to())),
        cc: field(|p| addresses(p.cc())),
        bcc: field(|p| addresses(p.bcc())),
        date,
        snippet: message.snippet.as_deref().map(unescape),
        body_text: payload
            .filter(|_| bodies)
            .and_then(|p| body_of(p, "text/plain")),
        body_html: payload
            .filter(|_| bodies)
            .and_then(|p| body_of(p, "text/html")),
        labels: message
            .label_ids
            .iter()
            .map(|id| labels.get(id).cloned().unwrap_or_else(|| id.clone()))
            .collect(),
        unread: message.label_ids.iter().any(|l| l == "UNREAD"),
    };
    Record {
        provider: Provider::Gmail,
        remote_id: message.id,
        created_at: date,
        updated_at: date,
        raw,
        data,
    }
}

/// RFC 2047 B-encoded words for a header that is not ASCII, each under 76 characters, folded.
pub fn encode_header(text: &str) -> String {
    if text.is_ascii() && !text.contains("=?") {
        return text.to_owned();
    }
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        // 39 bytes of UTF-8 are 52 of base64: with `=?UTF-8?B?` and `?=` 64, and a line with
        // the header's name (`Subject: `) stays under 76.
        if chunk.len() + c.len_utf8() > 39 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| format!("=?UTF-8?B?{}?=", STANDARD.encode(w.as_bytes())))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// Base64 in lines of 76, for a body part.
fn base64_lines(text: &str) -> String {
    let encoded = STANDARD.encode(text.as_bytes());
    encoded
        .as_bytes()
        .chunks(76)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

fn text_part(mime: &str, text: &str) -> String {
    format!(
        "Content-Type: {mime}; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        base64_lines(text)
    )
}

/// What a reply needs of the message it answers.
pub struct Replied {
    pub thread_id: Option<String>,
    pub message_id: Option<String>,
    pub references: Option<String>,
    pub subject: Option<String>,
}

/// The subject of a reply: the original's, with one `Re: `.
pub fn reply_subject(original: &str) -> String {
    let trimmed = original.trim();
    if trimmed.len() >= 3 && trimmed[..3].eq_ignore_ascii_case("re:") {
        trimmed.to_owned()
    } else {
        format!("Re: {trimmed}")
    }
}

/// The message as RFC 2822 text (CRLF lines), UTF-8 throughout.
pub fn compose(
    email: &SendEmail,
    replied: Option<&Replied>,
    now: DateTime<Utc>,
    boundary: &str,
) -> String {
    let mut out = String::from("MIME-Version: 1.0\r\n");
    out.push_str(&format!("Date: {}\r\n", now.to_rfc2822()));
    for (name, list) in [("To", &email.to), ("Cc", &email.cc), ("Bcc", &email.bcc)] {
        if !list.is_empty() {
            out.push_str(&format!("{name}: {}\r\n", list.join(", ")));
        }
    }
    let subject = match (&email.subject, replied.and_then(|r| r.subject.as_deref())) {
        (Some(subject), _) => subject.clone(),
        (None, Some(original)) => reply_subject(original),
        (None, None) => String::new(),
    };
    out.push_str(&format!("Subject: {}\r\n", encode_header(&subject)));
    if let Some(id) = replied.and_then(|r| r.message_id.as_deref()) {
        let references = match replied.and_then(|r| r.references.as_deref()) {
            Some(earlier) if !earlier.trim().is_empty() => format!("{} {id}", earlier.trim()),
            _ => id.to_owned(),
        };
        out.push_str(&format!(
            "In-Reply-To: {id}\r\nReferences: {references}\r\n"
        ));
    }
    match (&email.text, &email.html) {
        (Some(text), Some(html)) => {
            out.push_str(&format!(
                "Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\n{}--{boundary}\r\n{}--{boundary}--\r\n",
                text_part("text/plain", text),
                text_part("text/html", html),
            ));
        }
        (text, html) => {
            let (mime, content) = match (text, html) {
                (_, Some(html)) => ("text/html", html.as_str()),
                (Some(text), None) => ("text/plain", text.as_str()),
                (None, None) => ("text/plain", ""),
            };
            out.push_str(&text_part(mime, content));
        }
    }
    out
}

/// `raw` for `messages.send`: base64url, as Gmail's clients write it.
pub fn raw(message: &str) -> String {
    URL_SAFE.encode(message.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_with_text_and_html_parses_back_with_its_headers() {
        let email = SendEmail {
            to: vec!["ana@acme.example".into()],
            cc: vec!["bo@acme.example".into()],
            bcc: vec!["cy@acme.example".into()],
            subject: None,
            text: Some("Grüße — plain".into()),
            html: Some("<p>Grüße</p>".into()),
            reply_to: Some("abc".into()),
        };
        let replied = Replied {
            thread_id: Some("t1".into()),
            message_id: Some("<m2@x>".into()),
            references: Some("<m1@x>".into()),
            subject: Some(
                "Prix spécial für Q3 — a subject long enough to need more than one encoded word"
                    .into(),
            ),
        };
        let text = compose(&email, Some(&replied), Utc::now(), "b0undary");
        let parsed = MessageParser::default().parse(text.as_bytes()).unwrap();
        assert_eq!(
            parsed.subject(),
            Some(
                "Re: Prix spécial für Q3 — a subject long enough to need more than one encoded word"
            )
        );
        assert!(text.lines().all(|l| l.len() <= 78), "{text}");
        assert_eq!(parsed.in_reply_to().as_text(), Some("m2@x"));
        let references: Vec<&str> = parsed
            .references()
            .as_text_list()
            .unwrap()
            .iter()
            .map(|r| r.as_ref())
            .collect();
        assert_eq!(references, ["m1@x", "m2@x"]);
        assert_eq!(parsed.body_text(0).as_deref(), Some("Grüße — plain"));
        assert_eq!(parsed.body_html(0).as_deref(), Some("<p>Grüße</p>"));
        assert_eq!(
            parsed
                .bcc()
                .and_then(|b| b.first())
                .and_then(|a| a.address()),
            Some("cy@acme.example")
        );
    }
}
