//! Property tests of the RFC 5322 composer behind Gmail's `sendEmail`: any subject, text and
//! HTML, any addresses, and any thread headers compose a message that mail-parser reads back
//! to the same values, and that has exactly the headers the composer writes — no value, even
//! one with line breaks, starts a header of its own.

use chrono::Utc;
use mail_parser::{HeaderName, MessageParser};
use proptest::prelude::*;

use super::gmail_model::{Replied, compose};
use crate::providers::mail::SendEmail;

fn address() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9._+-]{0,15}@[a-z0-9-]{1,12}\\.[a-z]{2,6}"
}

/// Any text, line breaks and other control characters included.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\PC\r\n\t]{0,80}",
        "(Bcc: evil@x\\.example\r\n|\r\n\r\n|Subject: x|[a-zé🎉 ]{1,10}){1,6}",
    ]
}

/// A subject as `sendEmail` takes it: no control characters (those are refused before), and
/// no blank ends (a header's value is read back trimmed).
fn subject() -> impl Strategy<Value = String> {
    "[^\\p{Cc}]{0,120}".prop_map(|s| s.trim().to_owned())
}

fn email(subject: Option<String>, text: Option<String>, html: Option<String>) -> SendEmail {
    SendEmail {
        to: Vec::new(),
        cc: Vec::new(),
        bcc: Vec::new(),
        subject,
        text,
        html,
        reply_to: None,
        message_id: None,
    }
}

/// The names of a message's headers, top level only.
fn header_names(parsed: &mail_parser::Message<'_>) -> Vec<String> {
    parsed
        .headers()
        .iter()
        .map(|h| h.name().to_ascii_lowercase())
        .collect()
}

proptest! {
    #[test]
    fn a_message_reads_back_as_it_was_written(
        to in proptest::collection::vec(address(), 1..4),
        cc in proptest::collection::vec(address(), 0..3),
        subject in subject(),
        text in proptest::option::of(any_text()),
        html in proptest::option::of(any_text()),
    ) {
        let mut sent = email(Some(subject.clone()), text.clone(), html.clone());
        sent.to = to.clone();
        sent.cc = cc.clone();
        let bytes = compose(&sent, None, Utc::now());
        let parsed = MessageParser::default().parse(&bytes).expect("a message");
        prop_assert_eq!(parsed.subject().unwrap_or_default(), subject.as_str());
        let read = |list: Option<&mail_parser::Address<'_>>| -> Vec<String> {
            list.map(|a| a.iter().filter_map(|a| a.address().map(str::to_owned)).collect())
                .unwrap_or_default()
        };
        prop_assert_eq!(read(parsed.to()), to);
        prop_assert_eq!(read(parsed.cc()), cc);
        let normal = |s: &str| s.replace("\r\n", "\n");
        if let Some(text) = &text {
            prop_assert_eq!(normal(&parsed.body_text(0).unwrap()), normal(text));
        }
        if let Some(html) = &html {
            prop_assert_eq!(normal(&parsed.body_html(0).unwrap()), normal(html));
        }
    }

    #[test]
    fn no_value_starts_a_header_of_its_own(
        subject in any_text(),
        original in any_text(),
        message_id in any_text(),
        text in any_text(),
    ) {
        for (subject, replied) in [
            (Some(subject.clone()), None),
            (None, Some(Replied {
                thread_id: None,
                message_id: Some(message_id.clone()),
                references: Some(message_id.clone()),
                subject: Some(original.clone()),
            })),
        ] {
            let mut sent = email(subject, Some(text.clone()), None);
            sent.to = vec!["ana@acme.example".into()];
            let bytes = compose(&sent, replied.as_ref(), Utc::now());
            let parsed = MessageParser::default().parse(&bytes).expect("a message");
            let mut names = header_names(&parsed);
            names.sort();
            names.dedup();
            let allowed = [
                "content-transfer-encoding", "content-type", "date", "in-reply-to",
                "message-id", "mime-version", "references", "subject", "to",
            ];
            prop_assert!(names.iter().all(|n| allowed.contains(&n.as_str())), "{:?}", names);
            prop_assert_eq!(parsed.header_values(HeaderName::Subject).count(), 1);
            prop_assert_eq!(parsed.header_values(HeaderName::Bcc).count(), 0);
        }
    }
}
