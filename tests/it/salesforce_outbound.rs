//! Salesforce outbound messages into the change stream, against the sandbox: a connection's own
//! endpoint (`salesforceOutboundUrl`, a random token in its path) registered as the sandbox's
//! listener receives the SOAP messages the sandbox sends when records change; a subscriber sees
//! them as changes. Deliveries to another token, from another org, or that are not outbound
//! messages are refused and store nothing; a redelivered notification is acknowledged and stored
//! once.

use serde_json::json;

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox_with},
    helpers::{TestApp, admin, from_the_start},
    subscriber::Subscriber,
};

/// The sandbox's org (the identity URL of its token response names it).
const ORG: &str = "00D5e0000000001AAA";

const SUBSCRIBE: &str = "subscription($after: String, $providers: [Provider!]) {
  changes(after: $after, providers: $providers) { op provider type remoteId data }
}";

/// An app with Salesforce connected and polling off: changes come only through outbound messages.
async fn connected() -> (TestApp, String) {
    let (app, sandbox) = pointed_at_sandbox_with(false, |settings| {
        settings.changes.sync_interval_secs = Some(0);
    })
    .await;
    let back = consent(&connect_link(&app, "SALESFORCE", None).await, "approve").await;
    assert_eq!(callback(&back).await.0, 200, "Salesforce connects");
    (app, sandbox)
}

async fn outbound_url(app: &TestApp) -> String {
    let (status, body) = app
        .graphql("mutation { salesforceOutboundUrl { url } }", json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["salesforceOutboundUrl"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned()
}

/// An outbound message from `org` of Lead notifications `(notification id, lead id)`.
fn message(org: &str, notifications: &[(&str, &str)]) -> String {
    let notifications: String = notifications
        .iter()
        .map(|(id, lead)| {
            format!(
                r#"<Notification><Id>{id}</Id><sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com"><sf:Id>{lead}</sf:Id><sf:Company>Acme &amp; Co</sf:Company><sf:CreatedDate>2024-05-01T12:00:00.000Z</sf:CreatedDate><sf:LastModifiedDate>2024-05-03T12:00:00.000Z</sf:LastModifiedDate></sObject></Notification>"#
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>{org}</OrganizationId><ActionId>04k5e000000SandAAA</ActionId><SessionId xsi:nil="true"/>{notifications}</notifications></soapenv:Body></soapenv:Envelope>"#
    )
}

/// POSTs `body` as Salesforce does: the status, content type and text of the answer.
async fn post(url: &str, body: &str) -> (u16, String, String) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "text/xml; charset=utf-8")
        .header("soapaction", "\"\"")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, kind, response.text().await.unwrap())
}

/// The Salesforce changes in the project's log, as (op, type, remote id).
async fn stored(app: &TestApp) -> Vec<(String, String, String)> {
    let (status, body) = app
        .graphql(
            "{ changes(first: 100) { nodes { op provider type remoteId } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["changes"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["provider"] == "SALESFORCE" && !crate::helpers::is_lifecycle(n))
        .map(|n| {
            let text = |k: &str| n[k].as_str().unwrap_or_default().to_owned();
            (text("op"), text("type"), text("remoteId"))
        })
        .collect()
}

#[tokio::test]
async fn a_lead_changed_in_salesforce_reaches_a_subscriber_through_its_outbound_message() {
    let (app, sandbox) = connected().await;
    let url = outbound_url(&app).await;
    let prefix = app.url("/webhooks/salesforce/");
    let token = url.strip_prefix(&prefix).unwrap_or_else(|| panic!("{url}"));
    assert!(
        token.len() >= 32 && token.chars().all(|c| c.is_ascii_alphanumeric()),
        "at least 128 random bits: {token}"
    );
    admin(
        &sandbox,
        "/webhooks",
        json!({ "provider": "salesforce", "url": url }),
    )
    .await;
    let mut subscriber = Subscriber::start(
        &app,
        &app.key,
        SUBSCRIBE,
        json!({ "after": from_the_start(), "providers": ["SALESFORCE"] }),
    )
    .await;

    let lead = admin(
        &sandbox,
        "/records",
        json!({ "provider": "salesforce", "object": "Lead", "op": "create",
                "fields": { "LastName": "Outbound", "Company": "Acme" } }),
    )
    .await;
    let id = lead["Id"].as_str().unwrap_or_else(|| panic!("{lead}"));
    let got = subscriber.next().await["data"]["changes"].clone();
    assert_eq!(
        (&got["op"], &got["type"], &got["remoteId"]),
        (&json!("CREATED"), &json!("Lead"), &json!(id)),
        "{got}"
    );

    admin(
        &sandbox,
        "/records",
        json!({ "provider": "salesforce", "object": "Lead", "op": "update", "id": id,
                "fields": { "Company": "Acme & Sons <Ltd>" } }),
    )
    .await;
    let got = subscriber.next().await["data"]["changes"].clone();
    assert_eq!(
        (&got["op"], &got["type"], &got["remoteId"]),
        (&json!("UPDATED"), &json!("Lead"), &json!(id)),
        "{got}"
    );
    assert_eq!(got["data"]["Company"], "Acme & Sons <Ltd>", "{got}");
    assert_eq!(got["data"]["attributes"]["type"], "Lead");
    subscriber.close().await;
}

#[tokio::test]
async fn only_the_endpoints_token_and_org_are_taken_and_a_notification_is_stored_once() {
    let (app, _sandbox) = connected().await;
    let url = outbound_url(&app).await;
    let first = message(ORG, &[("04l5e0000000001AAA", "00Q5e0000000001AAA")]);

    let (status, _, _) = post(
        &app.url(&format!("/webhooks/salesforce/{}", "0".repeat(64))),
        &first,
    )
    .await;
    assert_eq!(status, 404, "another token");
    let (status, _, _) = post(&app.url("/webhooks/salesforce"), &first).await;
    assert_eq!(status, 404, "no token");

    let foreign = message(
        "00D5e0000000002AAA",
        &[("04l5e0000000009AAA", "00Q5e0000000009AAA")],
    );
    let (status, kind, text) = post(&url, &foreign).await;
    assert_eq!(status, 403, "another org: {text}");
    assert!(kind.starts_with("text/xml"), "{kind}");
    assert!(
        text.contains("<faultcode>soapenv:Client</faultcode>"),
        "{text}"
    );

    for malformed in [
        "not xml <".to_owned(),
        first.replace("</soapenv:Envelope>", ""),
        first
            .replace("<OrganizationId>", "<Other>")
            .replace("</OrganizationId>", "</Other>"),
        "{\"json\": true}".to_owned(),
    ] {
        let (status, _, text) = post(&url, &malformed).await;
        assert_eq!(status, 400, "{malformed}: {text}");
        assert!(text.contains("soapenv:Fault"), "{text}");
    }
    assert!(stored(&app).await.is_empty(), "nothing refused is stored");

    let (status, kind, text) = post(&url, &first).await;
    assert_eq!(status, 200, "{text}");
    assert!(kind.starts_with("text/xml"), "{kind}");
    assert!(text.contains("<Ack>true</Ack>"), "{text}");
    assert!(
        text.contains(r#"<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">"#),
        "{text}"
    );
    let (status, _, text) = post(&url, &first).await;
    assert_eq!(status, 200, "a redelivery is acknowledged");
    assert!(text.contains("<Ack>true</Ack>"), "{text}");
    // Salesforce batches again as it likes: the known notification is not stored twice.
    let both = message(
        ORG,
        &[
            ("04l5e0000000001AAA", "00Q5e0000000001AAA"),
            ("04l5e0000000002AAA", "00Q5e0000000002AAA"),
        ],
    );
    assert_eq!(post(&url, &both).await.0, 200);
    assert_eq!(
        stored(&app).await,
        vec![
            ("UPDATED".into(), "Lead".into(), "00Q5e0000000001AAA".into()),
            ("UPDATED".into(), "Lead".into(), "00Q5e0000000002AAA".into()),
        ]
    );

    // Connecting again (to the same org) keeps the endpoint.
    let back = consent(&connect_link(&app, "SALESFORCE", None).await, "approve").await;
    assert_eq!(callback(&back).await.0, 200, "Salesforce connects again");
    let third = message(ORG, &[("04l5e0000000003AAA", "00Q5e0000000003AAA")]);
    assert_eq!(
        post(&url, &third).await.0,
        200,
        "the endpoint outlives a reconnect"
    );
    assert_eq!(stored(&app).await.len(), 3);

    let newer = outbound_url(&app).await;
    assert_ne!(newer, url, "a new token each time");
    assert_eq!(post(&url, &both).await.0, 404, "the old URL is retired");
    assert_eq!(post(&newer, &both).await.0, 200);
    assert_eq!(stored(&app).await.len(), 3);
}
