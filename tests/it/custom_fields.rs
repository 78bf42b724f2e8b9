//! Custom fields through GraphQL against the sandbox: `fields` lists a connection's fields
//! (Salesforce describe, HubSpot properties), `customFields` is written and read back through
//! `field(name:)` and filtered on in both CRMs, and an unknown, standard or read-only field is
//! refused before any write call.

use serde_json::{Value, json};

use crate::{
    crm::{both_crms, counters, nodes},
    helpers::first_code,
};

async fn fields(app: &crate::helpers::TestApp, provider: &str, object: &str) -> Value {
    let (_, body) = app
        .graphql(
            "query($p: Provider!, $o: CrmObject!) { fields(provider: $p, object: $o) { name label type writable custom } }",
            json!({ "p": provider, "o": object }),
        )
        .await;
    body
}

fn field<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["data"]["fields"]
        .as_array()
        .and_then(|list| list.iter().find(|f| f["name"] == name))
        .unwrap_or_else(|| panic!("no field {name}: {body}"))
}

/// Write calls a provider answered (creates, updates, deletes; not searches or batch reads).
fn writes(counters: &Value, provider: &str) -> u64 {
    counters[provider]
        .as_object()
        .map(|routes| {
            routes
                .iter()
                .filter(|(route, _)| {
                    let write = route.starts_with("PATCH")
                        || route.starts_with("DELETE")
                        || route.starts_with("PUT")
                        || route.starts_with("POST");
                    write
                        && !route.contains("search")
                        && !route.contains("batch/read")
                        && !route.contains("oauth")
                        && !route.contains("token")
                })
                .flat_map(|(_, by_status)| by_status.as_object().into_iter().flatten())
                .map(|(_, n)| n.as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn fields_lists_standard_and_custom_fields_of_both_crms() {
    let (app, _sandbox) = both_crms().await;

    let body = fields(&app, "SALESFORCE", "CONTACT").await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        field(&body, "Tier__c"),
        &json!({ "name": "Tier__c", "label": "Tier", "type": "picklist", "writable": true, "custom": true })
    );
    assert_eq!(field(&body, "NPS_Score__c")["type"], "double");
    let formula = field(&body, "Lifetime_Value__c");
    assert_eq!(
        (&formula["writable"], &formula["custom"]),
        (&json!(false), &json!(true))
    );
    let email = field(&body, "Email");
    assert_eq!(
        (&email["writable"], &email["custom"]),
        (&json!(true), &json!(false))
    );
    assert_eq!(field(&body, "CreatedDate")["writable"], false);

    let body = fields(&app, "SALESFORCE", "DEAL").await;
    assert_eq!(field(&body, "Forecast_Notes__c")["type"], "textarea");
    let body = fields(&app, "SALESFORCE", "LEAD").await;
    assert_eq!(field(&body, "Region__c")["custom"], true);
    let body = fields(&app, "SALESFORCE", "COMPANY").await;
    assert_eq!(field(&body, "Open_Deal_Total__c")["writable"], false);

    let body = fields(&app, "HUBSPOT", "CONTACT").await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        field(&body, "customer_tier"),
        &json!({ "name": "customer_tier", "label": "Customer tier", "type": "enumeration", "writable": true, "custom": true })
    );
    let calculated = field(&body, "days_as_contact");
    assert_eq!(
        (&calculated["writable"], &calculated["custom"]),
        (&json!(false), &json!(true))
    );
    assert_eq!(field(&body, "email")["custom"], false);
    let body = fields(&app, "HUBSPOT", "DEAL").await;
    assert_eq!(field(&body, "forecast_notes")["writable"], true);

    let body = fields(&app, "HUBSPOT", "LEAD").await;
    assert_eq!(first_code(&body), "UNSUPPORTED", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["provider"], "HUBSPOT");
    let body = fields(&app, "GMAIL", "CONTACT").await;
    assert_eq!(first_code(&body), "UNSUPPORTED", "{body}");
}

#[tokio::test]
async fn custom_fields_are_written_read_back_and_filtered_on_both_crms() {
    let (app, sandbox) = both_crms().await;
    let cases = [
        (
            "SALESFORCE",
            json!({ "Tier__c": "Gold", "NPS_Score__c": 9 }),
            "Tier__c",
            json!("Gold"),
            json!({ "tier__c": "Silver" }),
            "Tier__c",
            json!("Silver"),
        ),
        (
            "HUBSPOT",
            json!({ "customer_tier": "gold", "nps_score": 9 }),
            "customer_tier",
            json!("gold"),
            json!({ "customer_tier": "silver" }),
            "customer_tier",
            json!("silver"),
        ),
    ];
    for (provider, created, name, value, change, changed_name, changed) in cases {
        let (_, body) = app
            .graphql(
                "mutation($p: Provider!, $c: JSON) { createContact(input: { provider: $p, firstName: \"Grace\", lastName: \"Hopper\", email: \"grace.hopper.custom@navy.test\", customFields: $c }) { contact { id tier: field(name: \"Tier__c\") hs: field(name: \"customer_tier\") } } }",
                json!({ "p": provider, "c": created }),
            )
            .await;
        assert!(body["errors"].is_null(), "{provider}: {body}");
        let contact = &body["data"]["createContact"]["contact"];
        let shown = if provider == "SALESFORCE" {
            &contact["tier"]
        } else {
            &contact["hs"]
        };
        assert_eq!(
            shown, &value,
            "{provider}: the create's answer carries {name}: {body}"
        );
        let id = contact["id"].clone();

        let (_, body) = app
            .graphql(
                "mutation($id: ID!, $c: JSON) { updateContact(input: { id: $id, customFields: $c }) { contact { value: field(name: $n) } } }"
                    .replace("$n", &format!("\"{changed_name}\""))
                    .as_str(),
                json!({ "id": id, "c": change }),
            )
            .await;
        assert!(body["errors"].is_null(), "{provider}: {body}");
        assert_eq!(
            body["data"]["updateContact"]["contact"]["value"], changed,
            "{provider}"
        );

        // Read back live through a filter on the custom field, which only the provider applies.
        let (_, body) = app
            .graphql(
                "query($p: [Provider!], $f: ContactFilter) { contacts(first: 50, providers: $p, filter: $f, maxAge: 0) { nodes { id value: field(name: $n) nps: field(name: $s) } } }"
                    .replace("$n", &format!("\"{changed_name}\""))
                    .replace("$s", if provider == "SALESFORCE" { "\"NPS_Score__c\"" } else { "\"nps_score\"" })
                    .as_str(),
                json!({ "p": [provider], "f": { "customFields": { changed_name: changed } } }),
            )
            .await;
        assert!(body["errors"].is_null(), "{provider}: {body}");
        let found = nodes(&body, "contacts");
        assert!(!found.is_empty(), "{provider}: {body}");
        assert!(
            found.iter().all(|n| n["value"] == changed),
            "{provider}: {body}"
        );
        let mine = found
            .iter()
            .find(|n| n["id"] == id)
            .unwrap_or_else(|| panic!("{provider}: {body}"));
        assert!(
            mine["nps"] == json!(9) || mine["nps"] == json!("9"),
            "{provider}: a value left out of the update stays: {mine}"
        );

        // The old value no longer matches the record.
        let (_, body) = app
            .graphql(
                "query($p: [Provider!], $f: ContactFilter) { contacts(first: 100, providers: $p, filter: $f, maxAge: 0) { nodes { id } } }",
                json!({ "p": [provider], "f": { "customFields": { name: value } } }),
            )
            .await;
        assert!(body["errors"].is_null(), "{provider}: {body}");
        assert!(
            nodes(&body, "contacts").iter().all(|n| n["id"] != id),
            "{provider}: {body}"
        );
    }

    // Deals on both, and a Salesforce lead.
    let (_, body) = app
        .graphql(
            "mutation { sf: createDeal(input: { provider: SALESFORCE, name: \"Custom deal\", stage: \"Prospecting\", closeDate: \"2031-03-01\", customFields: { Forecast_Notes__c: \"commit\" } }) { deal { notes: field(name: \"Forecast_Notes__c\") } } hs: createDeal(input: { provider: HUBSPOT, name: \"Custom deal\", stage: \"appointmentscheduled\", customFields: { forecast_notes: \"best case\" } }) { deal { notes: field(name: \"forecast_notes\") } } lead: createLead(input: { lastName: \"Lovelace\", company: \"Engines\", customFields: { Region__c: \"EMEA\" } }) { lead { region: field(name: \"Region__c\") } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["sf"]["deal"]["notes"], "commit");
    assert_eq!(body["data"]["hs"]["deal"]["notes"], "best case");
    assert_eq!(body["data"]["lead"]["lead"]["region"], "EMEA");
    let (_, body) = app
        .graphql(
            "{ leads(first: 5, providers: [SALESFORCE], maxAge: 0, filter: { customFields: { Region__c: \"EMEA\" } }) { nodes { name region: field(name: \"Region__c\") } } deals(first: 5, providers: [HUBSPOT], maxAge: 0, filter: { customFields: { forecast_notes: \"best case\" } }) { nodes { name } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(nodes(&body, "leads")[0]["region"], "EMEA", "{body}");
    assert_eq!(nodes(&body, "deals")[0]["name"], "Custom deal", "{body}");

    // Each connection's field list was read once per type, then kept.
    let after = counters(&sandbox).await;
    assert_eq!(
        after["salesforce"]["GET /services/data/v58.0/sobjects/Contact/describe"]["200"], 1,
        "{after}"
    );
    assert_eq!(
        after["hubspot"]["GET /crm/v3/properties/contacts"]["200"], 1,
        "{after}"
    );
}

#[tokio::test]
async fn unknown_standard_or_read_only_custom_fields_are_refused_before_any_write() {
    let (app, sandbox) = both_crms().await;
    let before = counters(&sandbox).await;
    let refused = [
        (
            "SALESFORCE",
            json!({ "Nope__c": 1 }),
            "Nope__c",
            "no Contact field",
        ),
        (
            "SALESFORCE",
            json!({ "Lifetime_Value__c": 5 }),
            "Lifetime_Value__c",
            "read-only",
        ),
        (
            "SALESFORCE",
            json!({ "Email": "x@y.test" }),
            "Email",
            "standard",
        ),
        (
            "HUBSPOT",
            json!({ "days_as_contact": 3 }),
            "days_as_contact",
            "read-only",
        ),
        (
            "HUBSPOT",
            json!({ "nope": "x" }),
            "nope",
            "no Contact field",
        ),
        (
            "HUBSPOT",
            json!({ "customer_tier": ["gold"] }),
            "customer_tier",
            "string, number, boolean or null",
        ),
    ];
    for (provider, custom, name, says) in refused {
        let (_, body) = app
            .graphql(
                "mutation($p: Provider!, $c: JSON) { createContact(input: { provider: $p, lastName: \"Refused\", customFields: $c }) { contact { id } } }",
                json!({ "p": provider, "c": custom }),
            )
            .await;
        assert_eq!(
            first_code(&body),
            "BAD_USER_INPUT",
            "{provider} {name}: {body}"
        );
        let error = &body["errors"][0];
        assert_eq!(
            error["extensions"]["field"],
            format!("input.customFields.{name}"),
            "{body}"
        );
        assert!(error["message"].as_str().unwrap().contains(says), "{body}");
    }
    // An update and a bulk create are checked the same way.
    let (_, body) = app
        .graphql(
            "{ deals(first: 1, providers: [SALESFORCE]) { nodes { id } } }",
            json!({}),
        )
        .await;
    let deal = nodes(&body, "deals")[0]["id"].clone();
    let (_, body) = app
        .graphql(
            "mutation($id: ID!) { updateDeal(input: { id: $id, customFields: { Days_To_Close__c: 3 } }) { deal { id } } }",
            json!({ "id": deal }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "input.customFields.Days_To_Close__c",
        "{body}"
    );
    let (_, body) = app
        .graphql(
            "mutation { createLeads(inputs: [{ lastName: \"A\", company: \"B\" }, { lastName: \"C\", company: \"D\", customFields: { Days_Open__c: 1 } }]) { results { index } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "inputs.1.customFields.Days_Open__c",
        "{body}"
    );

    let after = counters(&sandbox).await;
    for provider in ["salesforce", "hubspot"] {
        assert_eq!(
            writes(&after, provider),
            writes(&before, provider),
            "{provider}: no write call reached the provider: {after}"
        );
    }

    // Filters: one provider named, a custom field it has, a value.
    let (_, body) = app
        .graphql(
            "{ contacts(first: 1, filter: { customFields: { Tier__c: \"Gold\" } }) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "filter.customFields",
        "{body}"
    );
    let (_, body) = app
        .graphql(
            "{ contacts(first: 1, providers: [HUBSPOT], filter: { customFields: { Tier__c: \"Gold\" } }) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "filter.customFields.Tier__c",
        "{body}"
    );
    let (_, body) = app
        .graphql(
            "{ leads(first: 1, providers: [HUBSPOT], filter: { customFields: { customer_tier: \"gold\" } }) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(first_code(&body), "UNSUPPORTED", "{body}");
}
