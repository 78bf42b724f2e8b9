//! The field catalogs the official SDKs read, as the sandbox serves them: HubSpot's Properties
//! API (`GET /crm/v3/properties/{objectType}`), with HubSpot's own properties (`hubspotDefined`)
//! and the portal's custom ones, and writes that refuse a custom read-only (calculated) one.

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
