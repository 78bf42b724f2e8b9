//! The objects Stripe's `charge.*` and `invoice.*` events carry, in the shape of the API version
//! the sandbox names (`API_VERSION`, the one stripe-node 23.2.0 pins): every field the
//! reference lists for a Charge and an Invoice (with its line items) is present, `null` where
//! Stripe leaves it unset, so a client typed by an official library finds what its types promise.
//! Each event type sets the state Stripe would be in when it sends it: a draft, finalized, paid,
//! failed or voided invoice; a succeeded, failed, captured or refunded charge.

use serde_json::{Value, json};

/// The test card's details, as Stripe reports a Visa `4242` payment.
fn card_details() -> Value {
    json!({
        "card": {
            "amount_authorized": 4_900, "authorization_code": null, "brand": "visa",
            "checks": { "address_line1_check": null, "address_postal_code_check": "pass", "cvc_check": "pass" },
            "country": "US", "exp_month": 12, "exp_year": 2030, "extended_authorization": { "status": "disabled" },
            "fingerprint": "Xt5EWLLDS7FJjR1c", "funding": "credit", "incremental_authorization": { "status": "unavailable" },
            "installments": null, "last4": "4242", "mandate": null, "multicapture": { "status": "unavailable" },
            "network": "visa", "network_token": { "used": false }, "network_transaction_id": "104557651805572",
            "overcapture": { "maximum_amount_capturable": 4_900, "status": "unavailable" },
            "regulated_status": "unregulated", "three_d_secure": null, "wallet": null,
        },
        "type": "card",
    })
}

/// Who pays: the customer's name and email on the billing details.
pub struct Payer<'a> {
    pub customer: &'a str,
    pub email: &'a str,
    pub name: &'a str,
}

/// A charge in the state `kind` (`charge.succeeded`, `.failed`, `.captured`, `.refunded`,
/// `.updated`) reports.
pub fn charge(
    kind: &str,
    id: &str,
    payer: &Payer,
    created: i64,
    ids: &dyn Fn(&str) -> String,
) -> Value {
    let failed = kind == "charge.failed";
    let refunded = kind == "charge.refunded";
    let outcome = if failed {
        json!({
            "advice_code": "try_again_later", "network_advice_code": null, "network_decline_code": null,
            "network_status": "declined_by_network", "reason": "generic_decline", "risk_level": "normal",
            "risk_score": 41, "seller_message": "The bank did not return any further details with this decline.",
            "type": "issuer_declined",
        })
    } else {
        json!({
            "advice_code": null, "network_advice_code": null, "network_decline_code": null,
            "network_status": "approved_by_network", "reason": null, "risk_level": "normal",
            "risk_score": 32, "seller_message": "Payment complete.", "type": "authorized",
        })
    };
    json!({
        "id": id, "object": "charge", "amount": 4_900,
        "amount_captured": if failed { 0 } else { 4_900 },
        "amount_refunded": if refunded { 4_900 } else { 0 },
        "application": null, "application_fee": null, "application_fee_amount": null,
        "balance_transaction": if failed { Value::Null } else { json!(ids("txn")) },
        "billing_details": {
            "address": { "city": null, "country": "US", "line1": null, "line2": null, "postal_code": "94107", "state": null },
            "email": payer.email, "name": payer.name, "phone": null, "tax_id": null,
        },
        "calculated_statement_descriptor": "NEXUS SANDBOX",
        "captured": !failed, "created": created, "currency": "usd", "customer": payer.customer,
        "description": "Subscription update", "disputed": false,
        "failure_balance_transaction": null,
        "failure_code": if failed { json!("card_declined") } else { Value::Null },
        "failure_message": if failed { json!("Your card was declined.") } else { Value::Null },
        "fraud_details": {}, "livemode": false, "metadata": {}, "on_behalf_of": null,
        "outcome": outcome, "paid": !failed,
        "payment_intent": ids("pi"), "payment_method": ids("pm"),
        "payment_method_details": card_details(),
        "receipt_email": payer.email, "receipt_number": null,
        "receipt_url": format!("https://pay.stripe.com/receipts/payment/{}", &id[3..]),
        "refunded": refunded, "review": null, "shipping": null, "source": null,
        "source_transfer": null, "statement_descriptor": null, "statement_descriptor_suffix": null,
        "status": if failed { "failed" } else { "succeeded" },
        "transfer_data": null, "transfer_group": null,
    })
}

/// An invoice for one month of a subscription, in the state `kind` reports: `invoice.created`
/// (draft), `.finalized`, `.updated`, `.payment_failed` (open), `.paid` and
/// `.payment_succeeded` (paid), `.voided` (void).
pub fn invoice(
    kind: &str,
    id: &str,
    payer: &Payer,
    created: i64,
    ids: &dyn Fn(&str) -> String,
) -> Value {
    let status = match kind {
        "invoice.created" => "draft",
        "invoice.paid" | "invoice.payment_succeeded" => "paid",
        "invoice.voided" => "void",
        _ => "open",
    };
    let (draft, paid, failed) = (
        status == "draft",
        status == "paid",
        kind == "invoice.payment_failed",
    );
    let period_start = created - 30 * 86_400;
    let subscription = ids("sub");
    let number = format!("NEXUS-{:04}", created.rem_euclid(10_000));
    let line = json!({
        "id": ids("il"), "object": "line_item", "amount": 4_900, "currency": "usd",
        "description": "1 × Nexus Pro (at $49.00 / month)", "discount_amounts": [], "discountable": true,
        "discounts": [], "invoice": id, "livemode": false, "metadata": {},
        "parent": {
            "invoice_item_details": null,
            "subscription_item_details": {
                "invoice_item": null, "proration": false, "proration_details": { "credited_items": null },
                "subscription": subscription, "subscription_item": ids("si"),
            },
            "type": "subscription_item_details",
        },
        "period": { "end": created, "start": period_start },
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": { "price": "price_1NexusSandboxPro", "product": "prod_NexusSandboxPro" },
            "type": "price_details", "unit_amount_decimal": "4900",
        },
        "quantity": 1, "quantity_decimal": "1", "subscription": subscription, "subtotal": 4_900, "taxes": [],
    });
    json!({
        "id": id, "object": "invoice",
        "account_country": "US", "account_name": "Nexus Sandbox", "account_tax_ids": null,
        "amount_due": 4_900, "amount_overpaid": 0,
        "amount_paid": if paid { 4_900 } else { 0 },
        "amount_remaining": if paid { 0 } else { 4_900 },
        "amount_shipping": 0, "application": null,
        "attempt_count": if paid || failed { 1 } else { 0 },
        "attempted": paid || failed, "auto_advance": !paid && status != "void",
        "automatic_tax": { "disabled_reason": null, "enabled": false, "liability": null, "provider": null, "status": null },
        "automatically_finalizes_at": if draft { json!(created + 3_600) } else { Value::Null },
        "billing_reason": "subscription_cycle", "collection_method": "charge_automatically",
        "created": created, "currency": "usd", "custom_fields": null,
        "customer": payer.customer, "customer_account": null, "customer_address": null,
        "customer_email": payer.email, "customer_name": payer.name, "customer_phone": null,
        "customer_shipping": null, "customer_tax_exempt": "none", "customer_tax_ids": [],
        "default_payment_method": null, "default_source": null, "default_tax_rates": [],
        "description": null, "discounts": [], "due_date": null,
        "effective_at": if draft { Value::Null } else { json!(created) },
        "ending_balance": if draft { Value::Null } else { json!(0) },
        "footer": null, "from_invoice": null,
        "hosted_invoice_url": if draft { Value::Null } else { json!(format!("https://invoice.stripe.com/i/acct_1NexusSandbox/test_{}", &id[3..])) },
        "invoice_pdf": if draft { Value::Null } else { json!(format!("https://pay.stripe.com/invoice/acct_1NexusSandbox/test_{}/pdf", &id[3..])) },
        "issuer": { "type": "self" },
        "last_finalization_error": null, "latest_revision": null,
        "lines": { "object": "list", "data": [line], "has_more": false, "total_count": 1, "url": format!("/v1/invoices/{id}/lines") },
        "livemode": false, "metadata": {},
        "next_payment_attempt": if failed { json!(created + 3 * 86_400) } else { Value::Null },
        "number": if draft { Value::Null } else { json!(number) },
        "on_behalf_of": null,
        "parent": {
            "quote_details": null,
            "subscription_details": { "metadata": {}, "subscription": subscription },
            "type": "subscription_details",
        },
        "payment_settings": { "default_mandate": null, "payment_method_options": null, "payment_method_types": null },
        "period_end": created, "period_start": period_start,
        "post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0,
        "receipt_number": null, "rendering": null, "shipping_cost": null, "shipping_details": null,
        "starting_balance": 0, "statement_descriptor": null, "status": status,
        "status_transitions": {
            "finalized_at": if draft { Value::Null } else { json!(created) },
            "marked_uncollectible_at": null,
            "paid_at": if paid { json!(created) } else { Value::Null },
            "voided_at": if status == "void" { json!(created) } else { Value::Null },
        },
        "subtotal": 4_900, "subtotal_excluding_tax": 4_900, "test_clock": null,
        "total": 4_900, "total_discount_amounts": [], "total_excluding_tax": 4_900,
        "total_pretax_credit_amounts": [], "total_taxes": [], "webhooks_delivered_at": null,
    })
}
