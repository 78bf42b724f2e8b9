//! CRM mutations through GraphQL against the sandbox: creates and updates on both CRMs, input
//! refused before any upstream call, idempotency keys, and bulk creates (Collections, Bulk API
//! 2.0, HubSpot batches) with per-record outcomes.

use serde_json::{Value, json};

use crate::crm::{both_crms, counters, nodes, total_calls};

async fn first_id(app: &crate::helpers::TestApp, list: &str, provider: &str) -> String {
    let (_, body) = app
        .graphql(
            &format!(
                "query($p: [Provider!]) {{ {list}(first: 1, providers: $p) {{ nodes {{ id }} }} }}"
            ),
            json!({ "p": [provider] }),
        )
        .await;
    nodes(&body, list)[0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn leads_are_created_and_updated_in_salesforce() {
    let (app, _sandbox) = both_crms().await;
    let (_, body) = app
        .graphql(
            "mutation { createLead(input: { firstName: \"Ida\", lastName: \"Rhodes\", email: \"ida@rhodes.test\", company: \"Rhodes Ltd\", status: \"Open - Not Contacted\", leadSource: \"Web\" }) { lead { id provider name email company status leadSource source fetchedAt createdAt } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let lead = &body["data"]["createLead"]["lead"];
    assert_eq!(lead["provider"], "SALESFORCE");
    assert_eq!(lead["name"], "Ida Rhodes");
    assert_eq!(lead["company"], "Rhodes Ltd");
    assert_eq!(lead["leadSource"], "Web");
    assert_eq!(
        lead["source"], "LIVE",
        "a mutation's answer is the provider's"
    );
    assert!(lead["fetchedAt"].is_string(), "{lead}");

    let (_, body) = app
        .graphql(
            "mutation($id: ID!) { updateLead(input: { id: $id, status: \"Working - Contacted\", title: \"CTO\" }) { lead { id status title email } } }",
            json!({ "id": lead["id"] }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let updated = &body["data"]["updateLead"]["lead"];
    assert_eq!(updated["status"], "Working - Contacted");
    assert_eq!(updated["title"], "CTO");
    assert_eq!(updated["email"], "ida@rhodes.test", "fields left out stay");

    let (_, body) = app
        .graphql(
            "query($id: ID!) { node(id: $id) { ... on Lead { status title } } }",
            json!({ "id": lead["id"] }),
        )
        .await;
    assert_eq!(body["data"]["node"]["title"], "CTO");
}

#[tokio::test]
async fn contacts_and_deals_are_written_to_either_crm() {
    let (app, _sandbox) = both_crms().await;
    for provider in ["HUBSPOT", "SALESFORCE"] {
        let company = first_id(&app, "companies", provider).await;
        let (_, body) = app
            .graphql(
                "mutation($p: Provider!, $c: ID) { createContact(input: { provider: $p, firstName: \"Kay\", lastName: \"McNulty\", email: \"kay.mcnulty@eniac.test\", title: \"Programmer\", companyId: $c }) { contact { id provider name email company { id } } } }",
                json!({ "p": provider, "c": company }),
            )
            .await;
        assert!(body["errors"].is_null(), "{provider}: {body}");
        let contact = body["data"]["createContact"]["contact"].clone();
        assert_eq!(contact["provider"], provider);
        assert_eq!(
            contact["company"]["id"],
            company.as_str(),
            "{provider}: {body}"
        );

        let (_, body) = app
            .graphql(
                "mutation($id: ID!) { updateContact(input: { id: $id, title: \"Lead programmer\" }) { contact { title email } } }",
                json!({ "id": contact["id"] }),
            )
            .await;
        assert!(body["errors"].is_null(), "{provider}: {body}");
        assert_eq!(
            body["data"]["updateContact"]["contact"]["title"],
            "Lead programmer"
        );
        assert_eq!(
            body["data"]["updateContact"]["contact"]["email"],
            "kay.mcnulty@eniac.test"
        );

        let stage = if provider == "HUBSPOT" {
            "appointmentscheduled"
        } else {
            "Prospecting"
        };
        let (_, body) = app
            .graphql(
                "mutation($p: Provider!, $c: ID, $k: [ID!], $s: String) { createDeal(input: { provider: $p, name: \"ENIAC upgrade\", amount: { amount: 12500, currency: \"usd\" }, stage: $s, closeDate: \"2027-03-31\", companyId: $c, contactIds: $k }) { deal { id name amount { amount currency } stage status closeDate company { id } contacts(first: 5) { nodes { id } } } } }",
                json!({ "p": provider, "c": company, "k": [contact["id"]], "s": stage }),
            )
            .await;
        assert!(body["errors"].is_null(), "{provider}: {body}");
        let deal = &body["data"]["createDeal"]["deal"];
        assert_eq!(
            deal["amount"],
            json!({ "amount": 12500.0, "currency": "USD" })
        );
        assert_eq!(deal["stage"], stage);
        assert_eq!(deal["status"], "OPEN");
        assert_eq!(deal["closeDate"], "2027-03-31");
        assert_eq!(deal["company"]["id"], company.as_str());
        assert_eq!(
            deal["contacts"]["nodes"][0]["id"], contact["id"],
            "{provider}: {body}"
        );

        let (_, body) = app
            .graphql(
                "mutation($id: ID!) { updateDeal(input: { id: $id, name: \"ENIAC upgrade, phase 2\", amount: { amount: 20000, currency: \"USD\" } }) { deal { name amount { amount } stage } } }",
                json!({ "id": deal["id"] }),
            )
            .await;
        assert!(body["errors"].is_null(), "{provider}: {body}");
        let updated = &body["data"]["updateDeal"]["deal"];
        assert_eq!(updated["name"], "ENIAC upgrade, phase 2");
        assert_eq!(updated["amount"]["amount"], 20000.0);
        assert_eq!(updated["stage"], stage);
    }
}

#[tokio::test]
async fn bad_input_is_refused_before_any_upstream_call() {
    let (app, sandbox) = both_crms().await;
    let hubspot_company = first_id(&app, "companies", "HUBSPOT").await;
    let before = counters(&sandbox).await;
    let cases = [
        (
            "mutation { createLead(input: { lastName: \"\", company: \"X\" }) { lead { id } } }",
            json!({}),
            "input.lastName",
        ),
        (
            "mutation { createLead(input: { lastName: \"X\", company: \"X\", email: \"not-an-email\" }) { lead { id } } }",
            json!({}),
            "input.email",
        ),
        (
            "mutation { createLead(input: { provider: HUBSPOT, lastName: \"X\", company: \"X\" }) { lead { id } } }",
            json!({}),
            "input.provider",
        ),
        (
            "mutation($c: ID) { createContact(input: { provider: SALESFORCE, lastName: \"X\", companyId: $c }) { contact { id } } }",
            json!({ "c": hubspot_company }),
            "input.companyId",
        ),
        (
            "mutation { createDeal(input: { provider: SALESFORCE, name: \"X\", stage: \"Prospecting\" }) { deal { id } } }",
            json!({}),
            "input.closeDate",
        ),
        (
            "mutation { createDeal(input: { provider: HUBSPOT, name: \"X\" }) { deal { id } } }",
            json!({}),
            "input.stage",
        ),
        (
            "mutation { createDeal(input: { provider: HUBSPOT, name: \"X\", stage: \"s\", amount: { amount: 1, currency: \"dollars\" } }) { deal { id } } }",
            json!({}),
            "input.amount.currency",
        ),
        (
            "mutation { updateDeal(input: { id: \"bm9wZQ\" }) { deal { id } } }",
            json!({}),
            "input.id",
        ),
        (
            "mutation { createLeads(inputs: []) { results { index } } }",
            json!({}),
            "inputs",
        ),
        (
            "mutation { createContact(input: { provider: HUBSPOT, lastName: \"X\", idempotencyKey: \"\" }) { contact { id } } }",
            json!({}),
            "input.idempotencyKey",
        ),
    ];
    for (query, variables, field) in cases {
        let (status, body) = app.graphql(query, variables).await;
        assert_eq!(status, 200);
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{query}: {body}"
        );
        assert_eq!(
            body["errors"][0]["extensions"]["field"], field,
            "{query}: {body}"
        );
    }
    let after = counters(&sandbox).await;
    assert_eq!(
        total_calls(&after, "hubspot"),
        total_calls(&before, "hubspot")
    );
    assert_eq!(
        total_calls(&after, "salesforce"),
        total_calls(&before, "salesforce")
    );
}

#[tokio::test]
async fn an_idempotency_key_creates_once() {
    let (app, sandbox) = both_crms().await;
    let create = "mutation { createContact(input: { provider: HUBSPOT, lastName: \"Holberton\", email: \"betty@eniac.test\", idempotencyKey: \"req-42\" }) { contact { id email } } }";
    let (_, first) = app.graphql(create, json!({})).await;
    assert!(first["errors"].is_null(), "{first}");
    let creates = |c: &Value| {
        c["hubspot"]["POST /crm/v3/objects/contacts"]["201"]
            .as_u64()
            .unwrap_or(0)
    };
    let after_first = creates(&counters(&sandbox).await);
    assert_eq!(after_first, 1);
    let (_, again) = app.graphql(create, json!({})).await;
    assert!(again["errors"].is_null(), "{again}");
    assert_eq!(
        again["data"]["createContact"]["contact"]["id"],
        first["data"]["createContact"]["contact"]["id"]
    );
    assert_eq!(
        creates(&counters(&sandbox).await),
        1,
        "the repeat created nothing"
    );

    // A failed write releases its key: the same key may try again.
    let failing = "mutation { createDeal(input: { provider: SALESFORCE, name: \"X\", stage: \"Prospecting\", closeDate: \"2027-01-01\", companyId: \"Q29tcGFueTpzYWxlc2ZvcmNlOjAwMTVlOTk5OTk5OTk5OUFBQQ\", idempotencyKey: \"req-43\" }) { deal { id } } }";
    let (_, body) = app.graphql(failing, json!({})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
    assert_eq!(body["errors"][0]["extensions"]["provider"], "SALESFORCE");
    let (_, body) = app.graphql(failing, json!({})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "tried again, not replayed: {body}"
    );
}

async fn create_leads(app: &crate::helpers::TestApp, inputs: Vec<Value>) -> Value {
    let (_, body) = app
        .graphql(
            "mutation($inputs: [CreateLeadInput!]!) { createLeads(inputs: $inputs) { results { index error lead { id name email } } } }",
            json!({ "inputs": inputs }),
        )
        .await;
    body
}

#[tokio::test]
async fn bulk_creates_report_each_record() {
    let (app, sandbox) = both_crms().await;
    // Up to 200: one sObject Collections call, each record on its own.
    let (_, body) = app
        .graphql(
            "mutation($inputs: [CreateContactInput!]!) { createContacts(inputs: $inputs) { results { index error contact { name } } } }",
            json!({ "inputs": [
                { "provider": "SALESFORCE", "lastName": "Bartik", "email": "jean@eniac.test" },
                { "provider": "SALESFORCE", "lastName": "Spence", "companyId": "Q29tcGFueTpzYWxlc2ZvcmNlOjAwMTVlOTk5OTk5OTk5OUFBQQ" },
                { "provider": "HUBSPOT", "lastName": "Teitelbaum", "email": "ruth@eniac.test" },
            ] }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let results = body["data"]["createContacts"]["results"]
        .as_array()
        .unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["contact"]["name"], "Bartik");
    assert!(results[1]["contact"].is_null());
    assert!(
        results[1]["error"]
            .as_str()
            .unwrap()
            .contains("INVALID_CROSS_REFERENCE_KEY"),
        "{body}"
    );
    assert_eq!(results[2]["contact"]["name"], "Teitelbaum");
    let c = counters(&sandbox).await;
    assert_eq!(
        c["salesforce"]["POST /services/data/v58.0/composite/sobjects"]["200"], 1,
        "{c}"
    );
    assert_eq!(
        c["hubspot"]["POST /crm/v3/objects/contacts/batch/{action}"]["201"], 1,
        "{c}"
    );

    // Over 200: one Bulk API 2.0 ingest job.
    let inputs: Vec<Value> = (0..250)
        .map(|i| json!({ "lastName": format!("Bulk{i}"), "company": "Bulk Co", "email": format!("bulk{i}@bulk.test") }))
        .collect();
    let body = create_leads(&app, inputs).await;
    assert!(body["errors"].is_null(), "{body}");
    let results = body["data"]["createLeads"]["results"].as_array().unwrap();
    assert_eq!(results.len(), 250);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["index"], i);
        assert_eq!(r["lead"]["email"], format!("bulk{i}@bulk.test"), "{r}");
    }
    let c = counters(&sandbox).await;
    assert_eq!(
        c["salesforce"]["POST /services/data/v58.0/jobs/ingest"]["200"], 1,
        "{c}"
    );
    assert!(
        c["salesforce"]["POST /services/data/v58.0/composite/sobjects"]["200"] == 1,
        "no Collections call for 250"
    );
}
