//! Stripe, as far as the gateway meets it: a sender that posts events to the registered endpoint,
//! signed as Stripe signs them (`Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`,
//! keyed with the endpoint's `whsec_…` secret), with the headers Stripe's deliveries carry
//! (`User-Agent: Stripe/1.0 (+https://stripe.com/docs/webhooks)`,
//! `Content-Type: application/json; charset=utf-8`). Charges and invoices are whole objects
//! (see `objects`); customers carry the fields the gateway reads.

mod objects;

use std::sync::Arc;

use hmac::{KeyInit, Mac};
use rand::RngCore;
use serde_json::{Value, json};
use sha2::Sha256;

use super::{SandboxState, population::population};

pub const SLUG: &str = "stripe";

/// The event types the sender knows how to fill with a resource.
pub const EVENT_TYPES: &[&str] = &[
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "invoice.created",
    "invoice.finalized",
    "invoice.updated",
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
    "invoice.voided",
    "charge.succeeded",
    "charge.failed",
    "charge.captured",
    "charge.updated",
    "charge.refunded",
];

/// The API version events are rendered in: the one stripe-node 23.2.0 pins.
pub const API_VERSION: &str = "2026-11-18.endive";

/// The `User-Agent` of Stripe's webhook deliveries.
pub const USER_AGENT: &str = "Stripe/1.0 (+https://stripe.com/docs/webhooks)";

fn id(prefix: &str) -> String {
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}_{}", hex::encode(bytes))
}

/// `t=…,v1=…` for a body, as Stripe computes it.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac =
        hmac::Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// The resource an event of this type carries, for one of the seeded people.
fn resource(kind: &str, created: i64) -> Value {
    let people = &population().people;
    let person = &people[(created.unsigned_abs() as usize) % people.len()];
    let customer = format!(
        "cus_{}",
        hex::encode(person.email.as_bytes())[..14].to_owned()
    );
    let name = format!("{} {}", person.first_name, person.last_name);
    let payer = objects::Payer {
        customer: &customer,
        email: &person.email,
        name: &name,
    };
    match kind.split('.').next() {
        Some("customer") => json!({
            "id": customer, "object": "customer", "email": person.email,
            "name": name, "created": created, "livemode": false, "metadata": {},
        }),
        Some("invoice") => objects::invoice(kind, &id("in"), &payer, created, &id),
        _ => objects::charge(kind, &id("ch"), &payer, created, &id),
    }
}

/// Builds an event of `kind` (fields of `overrides` replace the resource's) and posts it to the
/// registered Stripe endpoint. Returns the event, or why it cannot be sent.
pub fn send(
    state: &Arc<SandboxState>,
    kind: &str,
    overrides: Option<&Value>,
) -> Result<Value, String> {
    if !EVENT_TYPES.contains(&kind) {
        return Err(format!(
            "the sender knows these types: {}",
            EVENT_TYPES.join(", ")
        ));
    }
    let target = state
        .webhook(SLUG)
        .ok_or("register a Stripe endpoint first (POST /_sandbox/webhooks)")?;
    let secret = target
        .secret
        .ok_or("the Stripe endpoint has no signing secret")?;
    let created = state.clock.now().timestamp();
    let mut object = resource(kind, created);
    if let (Some(Value::Object(fields)), Value::Object(map)) = (overrides, &mut object) {
        map.extend(fields.clone());
    }
    let mut data = json!({ "object": object });
    if kind.ends_with(".updated") {
        data["previous_attributes"] = json!({ "metadata": { "sandbox": "before" } });
    }
    let event = json!({
        "id": id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "type": kind,
        "livemode": false,
        "pending_webhooks": 1,
        "request": { "id": id("req"), "idempotency_key": null },
        "data": data,
    });
    let body = event.to_string();
    // Signatures keep real time, whatever the sandbox clock says.
    let header = signature(&secret, chrono::Utc::now().timestamp(), &body);
    state.post(
        target.url,
        vec![
            ("content-type", "application/json; charset=utf-8".to_owned()),
            ("user-agent", USER_AGENT.to_owned()),
            ("cache-control", "no-cache".to_owned()),
            ("stripe-signature", header),
        ],
        body,
    );
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_stripes_algorithm() {
        assert_eq!(
            signature(
                "whsec_test_secret",
                1_700_000_000,
                r#"{"id":"evt_test","object":"event"}"#
            ),
            "t=1700000000,v1=8042376f6ca064adbe037642a718227dfd59047137eb49497a54c49eb0cfb724"
        );
    }
}
