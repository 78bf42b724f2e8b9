//! stripe 23.2.0, the official Node library, verifies the sandbox's `charge.*` and `invoice.*`
//! deliveries (`tests/js/sdk-stripe.mjs`): `stripe.webhooks.constructEvent` accepts each
//! signature and refuses a changed body, and every field the library's type declarations
//! require of the event, the charge, the invoice and its line item is present.

use serde_json::Value;

use crate::{
    helpers::webhook_receiver,
    sandbox_hubspot::hub,
    sdk_google::{node_package_ready, node_report},
};

const TYPES: &[&str] = &[
    "charge.succeeded",
    "charge.failed",
    "charge.captured",
    "charge.updated",
    "charge.refunded",
    "invoice.created",
    "invoice.finalized",
    "invoice.updated",
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
    "invoice.voided",
];

#[tokio::test]
async fn stripe_node_verifies_charge_and_invoice_deliveries_with_every_required_field() {
    if !node_package_ready("stripe") {
        return;
    }
    let sandbox = nexus_sandbox::start(([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let report = node_report("sdk-stripe.mjs", &[&sandbox.origin()]).await;
    assert_eq!(report["delivered"], TYPES.len(), "{report}");
    assert_eq!(report["tamperedRefused"], true, "{report}");
    // The declarations were read: dozens of required fields, not none.
    assert!(
        report["requiredCounts"]["charge"].as_u64().unwrap() > 40,
        "{report}"
    );
    assert!(
        report["requiredCounts"]["invoice"].as_u64().unwrap() > 60,
        "{report}"
    );
    for kind in TYPES {
        let event = &report["events"][kind];
        assert_eq!(
            event["userAgent"], "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "{kind}: {event}"
        );
        assert_eq!(
            event["contentType"], "application/json; charset=utf-8",
            "{kind}: {event}"
        );
        assert_eq!(event["apiVersion"], "2026-11-18.endive", "{kind}: {event}");
        assert_eq!(event["missingEventFields"], serde_json::json!([]), "{kind}");
        assert_eq!(
            event["missingObjectFields"],
            serde_json::json!([]),
            "{kind}"
        );
    }
    let status = |kind: &str| report["events"][kind]["status"].clone();
    assert_eq!(status("charge.failed"), "failed");
    assert_eq!(status("charge.succeeded"), "succeeded");
    assert_eq!(report["events"]["charge.failed"]["paid"], false);
    assert_eq!(status("invoice.created"), "draft");
    assert_eq!(status("invoice.finalized"), "open");
    assert_eq!(status("invoice.payment_failed"), "open");
    assert_eq!(status("invoice.paid"), "paid");
    assert_eq!(report["events"]["invoice.paid"]["paid"], 4900);
    assert_eq!(report["events"]["invoice.payment_failed"]["paid"], 0);
    assert_eq!(status("invoice.voided"), "void");
}

/// Without Node: the delivery's headers, and a refunded charge's amounts.
#[tokio::test]
async fn deliveries_carry_stripes_user_agent_and_whole_objects() {
    let sandbox = hub().await;
    let (url, mut rx) = webhook_receiver().await;
    let ok = sandbox
        .admin(
            "/webhooks",
            serde_json::json!({ "provider": "stripe", "url": url, "secret": "whsec_ua" }),
        )
        .await;
    assert_eq!(ok.status(), 204);
    sandbox
        .admin(
            "/stripe/events",
            serde_json::json!({ "type": "charge.refunded" }),
        )
        .await;
    let (headers, body) = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        headers["user-agent"],
        "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
    );
    let event: Value = serde_json::from_slice(&body).unwrap();
    let charge = &event["data"]["object"];
    assert_eq!(charge["object"], "charge");
    assert_eq!(charge["refunded"], true);
    assert_eq!(charge["amount_refunded"], charge["amount"]);
    assert_eq!(charge["billing_details"]["email"], charge["receipt_email"]);
    assert!(charge["customer"].as_str().unwrap().starts_with("cus_"));
    assert!(
        charge["payment_intent"]
            .as_str()
            .unwrap()
            .starts_with("pi_")
    );
}
