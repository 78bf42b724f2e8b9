//! Gmail's wire shapes and their mapping: `users.messages.list` answers (ids only), a Message
//! (`labelIds`, `snippet`, `internalDate` in epoch milliseconds as a string, the `payload`
//! MessagePart tree with headers and base64url bodies), labels — and the other way, an RFC 5322
//! message for `messages.send`, composed by mail-builder (RFC 2047 subjects, UTF-8 text and/or
//! HTML as multipart/alternative, thread headers when replying), base64url in `raw`.

use std::collections::HashMap;

use base64::{
    Engine,
    engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD},
};
use chrono::{DateTime, TimeZone, Utc};
use mail_builder::{
    MessageBuilder,
    headers::{address::Address as Recipient, date::Date, message_id::MessageId},
};
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
        raw: raw.into(),
        data,
    }
}

/// What a reply needs of the message it answers.
pub struct Replied {
    pub thread_id: Option<String>,
    pub message_id: Option<String>,
    pub references: Option<String>,
    pub subject: Option<String>,
}

/// The subject of a reply: the original's, with one `Re: ` (compared by characters, so a
/// subject that starts with an emoji or an accent is no trouble).
pub fn reply_subject(original: &str) -> String {
    let trimmed = original.trim();
    let head: String = trimmed.chars().take(3).collect();
    if head.eq_ignore_ascii_case("re:") {
        trimmed.to_owned()
    } else {
        format!("Re: {trimmed}")
    }
}

/// The message ids in a `Message-ID`, `In-Reply-To` or `References` value, without their
/// angle brackets (the builder writes them).
fn message_ids(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split_whitespace()
        .map(|id| id.trim_start_matches('<').trim_end_matches('>').to_owned())
        .filter(|id| !id.is_empty())
}

/// The message as RFC 5322 text, composed by mail-builder: RFC 2047 words for any header that
/// needs them (a control character included, so no value can start a header of its own), UTF-8
/// text and/or HTML (multipart/alternative when both), the thread headers when replying.
pub fn compose(email: &SendEmail, replied: Option<&Replied>, now: DateTime<Utc>) -> Vec<u8> {
    let mut message = MessageBuilder::new().date(Date::new(now.timestamp()));
    for (name, addresses) in [("To", &email.to), ("Cc", &email.cc), ("Bcc", &email.bcc)] {
        if !addresses.is_empty() {
            let list = addresses
                .iter()
                .map(|a| Recipient::from(a.as_str()))
                .collect();
            message = message.header(name, Recipient::new_list(list));
        }
    }
    let subject = match (&email.subject, replied.and_then(|r| r.subject.as_deref())) {
        (Some(subject), _) => subject.clone(),
        (None, Some(original)) => reply_subject(original),
        (None, None) => String::new(),
    };
    message = message.subject(subject);
    if let Some(id) = email
        .message_id
        .as_deref()
        .and_then(|v| message_ids(v).next())
    {
        message = message.message_id(id);
    }
    if let Some(id) = replied.and_then(|r| r.message_id.as_deref()) {
        let id: Vec<String> = message_ids(id).collect();
        let earlier = replied.and_then(|r| r.references.as_deref()).unwrap_or("");
        let references: Vec<String> = message_ids(earlier).chain(id.clone()).collect();
        message = message
            .in_reply_to(MessageId::from(id))
            .references(MessageId::from(references));
    }
    if let Some(text) = &email.text {
        message = message.text_body(text.as_str());
    }
    if let Some(html) = &email.html {
        message = message.html_body(html.as_str());
    }
    if email.text.is_none() && email.html.is_none() {
        message = message.text_body("");
    }
    let mut out = Vec::new();
    message.serialize(&mut out);
    out
}

/// `raw` for `messages.send`: base64url, as Gmail's clients write it.
pub fn raw(message: &[u8]) -> String {
    URL_SAFE.encode(message)
}

#[cfg(test)]
mod tests {
    use mail_parser::MimeHeaders;

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
            message_id: None,
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
        let bytes = compose(&email, Some(&replied), Utc::now());
        let text = String::from_utf8(bytes).unwrap();
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

    fn plain(subject: &str) -> SendEmail {
        SendEmail {
            to: vec!["ana@acme.example".into()],
            cc: Vec::new(),
            bcc: Vec::new(),
            subject: Some(subject.into()),
            text: Some("hi".into()),
            html: None,
            reply_to: None,
            message_id: None,
        }
    }

    #[test]
    fn a_reply_to_a_subject_that_starts_with_an_emoji_or_an_accent_gets_one_re() {
        assert_eq!(reply_subject("🎉 Launch day"), "Re: 🎉 Launch day");
        assert_eq!(reply_subject("é"), "Re: é");
        assert_eq!(reply_subject("Ré: déjà"), "Re: Ré: déjà");
        assert_eq!(reply_subject("  RE: hello "), "RE: hello");
        assert_eq!(reply_subject(""), "Re: ");
    }

    #[test]
    fn a_subject_is_encoded_and_parses_back() {
        for subject in ["🎉 Launch — día", "Tab\tinside", "Plain ASCII"] {
            let bytes = compose(&plain(subject), None, Utc::now());
            let parsed = MessageParser::default().parse(&bytes).unwrap();
            assert_eq!(parsed.subject(), Some(subject), "{subject:?}");
            let text = String::from_utf8(bytes).unwrap();
            let head = text.split("\r\n\r\n").next().unwrap();
            assert!(head.is_ascii(), "{head}");
        }
    }

    #[test]
    fn a_line_break_or_a_nul_in_a_subject_starts_no_header_of_its_own() {
        // The GraphQL input refuses these; a subject read from the replied message must not
        // reach the wire raw either.
        for subject in ["Hello\r\nBcc: evil@x.example", "Hi\nBcc: evil@x.example\0"] {
            let bytes = compose(&plain(subject), None, Utc::now());
            let parsed = MessageParser::default().parse(&bytes).unwrap();
            assert!(parsed.bcc().is_none(), "{subject:?}");
            let text = String::from_utf8(bytes).unwrap();
            let head = text.split("\r\n\r\n").next().unwrap();
            assert!(!head.contains('\0'), "{head:?}");
            assert!(head.split("\r\n").all(|l| !l.starts_with("Bcc")), "{head}");
        }
    }

    #[test]
    fn a_new_message_has_its_date_and_one_text_part_and_no_thread_headers() {
        let now = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap();
        let bytes = compose(&plain("Hi"), None, now);
        let parsed = MessageParser::default().parse(&bytes).unwrap();
        assert_eq!(
            parsed.date().map(|d| d.to_timestamp()),
            Some(now.timestamp())
        );
        assert!(parsed.in_reply_to().is_empty());
        assert!(parsed.references().is_empty());
        assert_eq!(parsed.body_text(0).as_deref(), Some("hi"));
        let root = parsed.content_type().unwrap();
        assert_eq!((root.ctype(), root.subtype()), ("text", Some("plain")));
    }
}
