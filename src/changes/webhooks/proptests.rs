//! Property tests of the parsers that read what providers (or anyone) POST to `/webhooks/*`:
//! any bytes, any JSON, any header are answered with a value or a refusal, never a panic; a
//! delivery signed as the provider signs it verifies; a well-formed body reads back what it
//! carries.

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::Sha256;

use super::{Refusal, google, graph, hubspot, salesforce, slack, stripe};

/// Words the parsers look for, so generated JSON reaches past their first checks.
const WORDS: &[&str] = &[
    "url_verification",
    "event_callback",
    "message",
    "message_changed",
    "message_deleted",
    "created",
    "updated",
    "deleted",
    "contact.creation",
    "contact.propertyChange",
    "deal.deletion",
    "customer.created",
    "invoice.paid",
    "value",
    "resource",
    "changeType",
    "subscriptionId",
    "resourceData",
    "id",
    "teams('t')/channels('c')/messages('m')",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::sample::select(WORDS).prop_map(str::to_owned),
    ]
}

/// Any JSON value, a few levels deep, its keys often ones the parsers read.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    text(),
                    proptest::sample::select(
                        &[
                            "type",
                            "team_id",
                            "event_id",
                            "event",
                            "subtype",
                            "channel",
                            "ts",
                            "challenge",
                            "value",
                            "subscriptionId",
                            "changeType",
                            "resource",
                            "resourceData",
                            "clientState",
                            "objectId",
                            "portalId",
                            "eventId",
                            "subscriptionType",
                            "occurredAt",
                            "propertyName",
                            "propertyValue",
                            "message",
                            "data",
                            "messageId",
                            "object",
                            "created",
                            "id",
                        ][..]
                    )
                    .prop_map(str::to_owned),
                ],
                inner,
                0..8,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Bytes that are sometimes JSON, sometimes not.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        json_value().prop_map(|v| v.to_string().into_bytes()),
    ]
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn hmac(secret: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// A Salesforce outbound message carrying one Lead whose `Company` is `company`.
fn outbound(org: &str, company: &str) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>{}</OrganizationId><ActionId>a</ActionId><Notification><Id>n1</Id><sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com"><sf:Id>00Q1</sf:Id><sf:Company>{}</sf:Company></sObject></Notification></notifications></soapenv:Body></soapenv:Envelope>"#,
        escape(org),
        escape(company)
    )
}

/// Text XML can carry: no control characters but tab and line feed (carriage returns are
/// normalised by XML itself), and not only spaces at the ends.
fn xml_text() -> impl Strategy<Value = String> {
    "[^\\x00-\\x08\\x0b-\\x1f\\x7f\\u{fffe}\\u{ffff}\\r]{1,40}"
        .prop_filter("no blank ends", |s| s.trim() == s && !s.is_empty())
}

proptest! {
    #[test]
    fn any_body_is_read_or_refused_by_every_provider(body in body()) {
        let _ = google::gmail_push(&body);
        let _ = graph::read(&body);
        let _ = hubspot::changes(&body);
        let _ = salesforce::read(&body);
        let _ = slack::read(&body);
        let _ = stripe::change(&body);
    }

    #[test]
    fn any_headers_are_verified_or_refused(
        secret in any::<String>(),
        header in any::<String>(),
        timestamp in prop_oneof![any::<String>(), any::<i64>().prop_map(|t| t.to_string())],
        url in any::<String>(),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let _ = stripe::verify(&secret, &header, &body, now());
        let _ = slack::verify(&secret, &body, &header, &timestamp, now());
        let _ = hubspot::verify(&secret, &url, &body, &header, &timestamp, now());
        let _ = graph::validation_token(&url);
        let _ = salesforce::org_of_identity(&url);
        let _ = salesforce::token_matches(&header, &secret);
    }

    #[test]
    fn a_delivery_signed_as_the_provider_signs_verifies(
        secret in "[ -~]{1,40}",
        body in proptest::collection::vec(any::<u8>(), 0..256),
        path in "/[a-z0-9/]{0,20}",
    ) {
        let at = now().timestamp();
        let stripe_sig = hex::encode(hmac(&secret, &[at.to_string().as_bytes(), b".", &body]));
        let header = format!("t={at},v1={stripe_sig}");
        prop_assert!(stripe::verify(&secret, &header, &body, now()).is_ok());
        let tampered = [body.as_slice(), b"x"].concat();
        let refused = stripe::verify(&secret, &header, &tampered, now());
        prop_assert!(matches!(refused, Err(Refusal::BadSignature)));

        let ts = at.to_string();
        let slack_sig = format!("v0={}", hex::encode(hmac(&secret, &[b"v0:", ts.as_bytes(), b":", &body])));
        prop_assert!(slack::verify(&secret, &body, &slack_sig, &ts, now()).is_ok());

        let ms = now().timestamp_millis().to_string();
        let url = format!("https://gw.example{path}");
        let hubspot_sig = STANDARD.encode(hmac(&secret, &[b"POST", url.as_bytes(), &body, ms.as_bytes()]));
        prop_assert!(hubspot::verify(&secret, &url, &body, &hubspot_sig, &ms, now()).is_ok());
    }

    #[test]
    fn a_gmail_push_reads_back_its_address_and_history(
        message_id in "[0-9]{1,20}",
        address in any::<String>(),
        history in any::<u64>(),
    ) {
        let data = STANDARD.encode(json!({ "emailAddress": address, "historyId": history }).to_string());
        let envelope = json!({ "message": { "messageId": message_id, "data": data } });
        let push = google::gmail_push(envelope.to_string().as_bytes()).unwrap();
        prop_assert_eq!(push.message_id, message_id);
        prop_assert_eq!(push.address, address);
        prop_assert_eq!(push.history_id, history.to_string());
    }

    #[test]
    fn a_slack_challenge_reads_back(challenge in any::<String>()) {
        let body = json!({ "type": "url_verification", "challenge": challenge }).to_string();
        match slack::read(body.as_bytes()) {
            Ok(slack::Delivery::Verification(read)) => prop_assert_eq!(read, challenge),
            _ => prop_assert!(false, "a challenge"),
        }
    }

    #[test]
    fn a_salesforce_outbound_message_reads_back_its_fields(org in xml_text(), company in xml_text(), cut in any::<prop::sample::Index>()) {
        let xml = outbound(&org, &company);
        let message = salesforce::read(xml.as_bytes()).unwrap();
        prop_assert_eq!(&message.organization_id, &org);
        prop_assert_eq!(message.notifications.len(), 1);
        prop_assert_eq!(&message.notifications[0].fields["Company"], &Value::from(company));
        // Cut anywhere, it is refused or read, never a panic.
        let _ = salesforce::read(&xml.as_bytes()[..cut.index(xml.len())]);
    }
}
