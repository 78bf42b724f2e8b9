//! The field catalogs the official SDKs read, as the sandbox serves them: HubSpot's Properties
//! API (`GET /crm/v3/properties/{objectType}`), with HubSpot's own properties (`hubspotDefined`)
//! and the portal's custom ones, and writes that refuse a custom read-only (calculated) one;
//! Salesforce's sObject describe with the org's custom `__c` fields and formula fields.

use serde_json::{Value, json};

use crate::helpers::sandbox_with_tokens;

#[tokio::test]
async fn hubspot_properties_list_hubspots_and_custom_ones_and_writes_keep_to_them() {
    let (origin, client, tokens) = sandbox_with_tokens("hubspot").await;
    let token = tokens["access_token"].as_str().unwrap();
    let get = |path: String| {
        client
            .get(format!("{origin}/hubspot{path}"))
            .bearer_auth(token)
            .send()
    };
    let r = get("/crm/v3/properties/contacts".into()).await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let results = body["results"].as_array().unwrap();
    let find = |name: &str| results.iter().find(|p| p["name"] == name).unwrap().clone();
    let email = find("email");
    assert_eq!(email["type"], "string");
    assert_eq!(email["fieldType"], "text");
    assert_eq!(email["hubspotDefined"], true);
    assert_eq!(email["modificationMetadata"]["readOnlyValue"], false);
    let tier = find("customer_tier");
    assert!(tier.get("hubspotDefined").is_none(), "{tier}");
    assert_eq!(tier["type"], "enumeration");
    assert_eq!(tier["options"][0]["value"], "gold");
    let calculated = find("days_as_contact");
    assert_eq!(calculated["calculated"], true);
    assert_eq!(calculated["modificationMetadata"]["readOnlyValue"], true);
    for object in ["companies", "deals", "0-3"] {
        let r = get(format!("/crm/v3/properties/{object}")).await.unwrap();
        assert_eq!(r.status(), 200, "{object}");
    }
    let r = get("/crm/v3/properties/contacts/nps_score".into())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = get("/crm/v3/properties/contacts/colour".into())
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["category"], "OBJECT_NOT_FOUND", "{body}");
    let r = get("/crm/v3/properties/widgets".into()).await.unwrap();
    assert_eq!(r.status(), 400);

    let create = |properties: Value| {
        client
            .post(format!("{origin}/hubspot/crm/v3/objects/contacts"))
            .bearer_auth(token)
            .json(&json!({ "properties": properties }))
            .send()
    };
    let r = create(
        json!({ "email": "tiered@fields.example", "customer_tier": "gold", "nps_score": 9 }),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    let r = get(format!(
        "/crm/v3/objects/contacts/{id}?properties=customer_tier,nps_score"
    ))
    .await
    .unwrap();
    let read: Value = r.json().await.unwrap();
    assert_eq!(read["properties"]["customer_tier"], "gold", "{read}");
    assert_eq!(read["properties"]["nps_score"], "9", "{read}");
    let r = create(json!({ "email": "calc@fields.example", "days_as_contact": 3 }))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("READ_ONLY_VALUE"),
        "{body}"
    );
}

#[tokio::test]
async fn salesforce_describe_lists_custom_fields_and_refuses_unknown_objects() {
    let (origin, client, tokens) = sandbox_with_tokens("salesforce").await;
    let token = tokens["access_token"].as_str().unwrap();
    let api = |path: &str| format!("{origin}/salesforce/services/data/v58.0{path}");

    let r = client
        .get(api("/sobjects/Contact/describe"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["name"], "Contact");
    assert_eq!(body["keyPrefix"], "003");
    let fields = body["fields"].as_array().unwrap();
    let find = |name: &str| fields.iter().find(|f| f["name"] == name).unwrap().clone();
    let tier = find("Tier__c");
    assert_eq!(
        (&tier["custom"], &tier["updateable"], &tier["type"]),
        (&json!(true), &json!(true), &json!("picklist"))
    );
    assert_eq!(tier["picklistValues"][0]["value"], "Gold");
    let formula = find("Lifetime_Value__c");
    assert_eq!(
        (
            &formula["calculated"],
            &formula["updateable"],
            &formula["createable"]
        ),
        (&json!(true), &json!(false), &json!(false))
    );
    let account = find("AccountId");
    assert_eq!(account["type"], "reference");
    assert_eq!(account["referenceTo"], json!(["Account"]));
    assert_eq!(account["relationshipName"], "Account");
    assert_eq!(find("Email")["custom"], false);

    let r = client
        .get(api("/sobjects/Invoice__c/describe"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!([{ "message": "The requested resource does not exist", "errorCode": "NOT_FOUND" }])
    );

    // Custom fields are written, selected and filtered like any field; a formula is refused.
    let r = client
        .post(api("/sobjects/Contact"))
        .bearer_auth(token)
        .json(&json!({ "LastName": "Custom", "Tier__c": "Gold", "NPS_Score__c": 10 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = client
        .get(api("/query"))
        .query(&[("q", "SELECT Id, Tier__c, NPS_Score__c FROM Contact WHERE Tier__c = 'Gold' AND NPS_Score__c = 10")])
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["totalSize"], 1, "{body}");
    assert_eq!(body["records"][0]["Id"], id.as_str());
    assert_eq!(body["records"][0]["Tier__c"], "Gold");
    let r = client
        .patch(api(&format!("/sobjects/Contact/{id}")))
        .bearer_auth(token)
        .json(&json!({ "Lifetime_Value__c": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body[0]["errorCode"], "INVALID_FIELD_FOR_INSERT_UPDATE",
        "{body}"
    );
}
