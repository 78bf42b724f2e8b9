//! The HubSpot simulator against HubSpot's documented wire format (shared/providers/wire-formats.md
//! §2): OAuth, objects, batch, search, associations, errors, limits, webhooks, faults, counters.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{KeyInit, Mac};
use reqwest::{Client, StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use sha2::Sha256;

pub struct Hub {
    origin: String,
    token: String,
    client: Client,
}

pub async fn hub() -> Hub {
    let (origin, client, tokens) = crate::helpers::sandbox_with_tokens("hubspot").await;
    Hub {
        origin,
        token: tokens["access_token"].as_str().unwrap().to_owned(),
        client,
    }
}

impl Hub {
    fn url(&self, path: &str) -> String {
        format!("{}/hubspot{path}", self.origin)
    }

    async fn get(&self, path: &str) -> (StatusCode, HeaderMap, Value) {
        let r = self
            .client
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        (status, headers, r.json().await.unwrap_or(Value::Null))
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .client
            .request(method, self.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn admin(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}/_sandbox{path}", self.origin))
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn oauth_code_flow_with_pkce_and_refresh() {
    let hub = hub().await;
    let verifier = "dBjftJeZ4CVP-mJ92K9VS4FkddXZZ7f0DIP6Y9xkP40";
    let challenge = &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        sha2::Digest::finalize(<Sha256 as sha2::Digest>::new_with_prefix(verifier)),
    );
    let query = [
        ("client_id", "sandbox-hubspot-client"),
        ("redirect_uri", "http://127.0.0.1:9/callback"),
        (
            "scope",
            "crm.objects.contacts.read crm.objects.contacts.write",
        ),
        ("state", "s-123"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    let page = hub
        .client
        .get(hub.url("/oauth/authorize"))
        .query(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Approve"));

    let mut form: Vec<(&str, &str)> = query.to_vec();
    form.push(("decision", "approve"));
    let approve = hub
        .client
        .post(hub.url("/oauth/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(approve.status(), 303);
    let location = url::Url::parse(approve.headers()["location"].to_str().unwrap()).unwrap();
    let params: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(params["state"], "s-123");
    let code = params["code"].clone();

    let exchange = |code: String, secret: &'static str, verifier: &'static str| {
        hub.client.post(hub.url("/oauth/v1/token")).form(&[
            ("grant_type", "authorization_code".to_owned()),
            ("client_id", "sandbox-hubspot-client".to_owned()),
            ("client_secret", secret.to_owned()),
            ("redirect_uri", "http://127.0.0.1:9/callback".to_owned()),
            ("code", code),
            ("code_verifier", verifier.to_owned()),
        ])
    };
    let bad_secret: Value = exchange(code.clone(), "nope", verifier)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bad_secret["status"], "BAD_CLIENT_SECRET");
    let bad_verifier = exchange(code.clone(), "sandbox-hubspot-secret", "wrong-verifier")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_verifier.status(), 400);
    let body: Value = bad_verifier.json().await.unwrap();
    assert_eq!(
        body["status"], "BAD_AUTH_CODE",
        "a failed exchange spends the code"
    );

    // A fresh consent, exchanged properly.
    let approve = hub
        .client
        .post(hub.url("/oauth/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let location = url::Url::parse(approve.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let tokens: Value = exchange(code.clone(), "sandbox-hubspot-secret", verifier)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for field in [
        "access_token",
        "refresh_token",
        "expires_in",
        "token_type",
        "token_use",
    ] {
        assert!(!tokens[field].is_null(), "{field} missing: {tokens}");
    }
    assert_eq!(tokens["expires_in"], 1800);
    assert_eq!(tokens["token_type"], "bearer");
    let reused: Value = exchange(code, "sandbox-hubspot-secret", verifier)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reused["status"], "BAD_AUTH_CODE");

    let refreshed: Value = hub
        .client
        .post(hub.url("/oauth/v1/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "sandbox-hubspot-client"),
            ("client_secret", "sandbox-hubspot-secret"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(refreshed["access_token"], tokens["access_token"]);
    assert_eq!(
        refreshed["refresh_token"], tokens["refresh_token"],
        "HubSpot does not rotate refresh tokens"
    );
}

#[tokio::test]
async fn lists_page_with_string_properties_and_rate_headers() {
    let hub = hub().await;
    let (status, headers, page) = hub.get("/crm/v3/objects/contacts?limit=2").await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-hubspot-ratelimit-max"], "100");
    assert_eq!(
        headers["x-hubspot-ratelimit-interval-milliseconds"],
        "10000"
    );
    let first = &page["results"][0];
    assert!(first["id"].is_string());
    assert_eq!(first["archived"], false);
    let props = first["properties"].as_object().unwrap();
    let keys: Vec<&str> = props.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "createdate",
            "email",
            "firstname",
            "hs_object_id",
            "lastmodifieddate",
            "lastname"
        ]
    );
    assert!(props.values().all(Value::is_string));
    let after = page["paging"]["next"]["after"].as_str().unwrap().to_owned();

    let (_, _, next) = hub
        .get(&format!("/crm/v3/objects/contacts?limit=2&after={after}&properties=email&properties=phone,jobtitle&associations=companies"))
        .await;
    let record = &next["results"][0];
    assert_ne!(record["id"], page["results"][1]["id"]);
    assert!(record["properties"]["phone"].is_string());
    assert!(record["properties"]["jobtitle"].is_string());
    assert!(record["properties"].get("firstname").is_none());
    assert_eq!(
        record["associations"]["companies"]["results"][0]["type"],
        "contact_to_company"
    );

    let (status, _, body) = hub.get("/crm/v3/objects/contacts?limit=1000").await;
    assert_eq!(status, 400);
    assert_eq!(body["category"], "VALIDATION_ERROR");
    let (status, _, body) = hub.get("/crm/v3/objects/contacts/999999").await;
    assert_eq!(status, 404);
    assert_eq!(body["category"], "OBJECT_NOT_FOUND");
    assert!(body["correlationId"].is_string());
}

#[tokio::test]
async fn expired_and_missing_tokens_get_401() {
    let hub = hub().await;
    let anonymous = hub
        .client
        .get(hub.url("/crm/v3/objects/contacts"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["category"], "INVALID_AUTHENTICATION");

    hub.admin("/clock", json!({ "advance_s": 1801 })).await;
    let (status, _, body) = hub.get("/crm/v3/objects/contacts").await;
    assert_eq!(status, 401);
    assert_eq!(body["category"], "EXPIRED_AUTHENTICATION");
}

#[tokio::test]
async fn the_ten_second_window_rolls_and_batch_has_its_own_secondly_limit() {
    let hub = hub().await;
    for i in 0..100 {
        let (status, headers, _) = hub.get("/crm/v3/objects/companies?limit=1").await;
        assert_eq!(status, 200, "request {i}");
        assert_eq!(
            headers["x-hubspot-ratelimit-remaining"],
            (99 - i).to_string().as_str()
        );
    }
    let (status, headers, body) = hub.get("/crm/v3/objects/companies?limit=1").await;
    assert_eq!(status, 429);
    assert_eq!(body["policyName"], "TEN_SECONDLY_ROLLING");
    assert_eq!(body["errorType"], "RATE_LIMIT");
    assert!(headers.contains_key("retry-after"));
    hub.admin("/clock", json!({ "advance_s": 10 })).await;
    let (status, _, _) = hub.get("/crm/v3/objects/companies?limit=1").await;
    assert_eq!(status, 200, "the window rolled on");

    let read = json!({ "inputs": [{ "id": "1" }] });
    for _ in 0..4 {
        let (status, _) = hub
            .send(
                reqwest::Method::POST,
                "/crm/v3/objects/companies/batch/read",
                read.clone(),
            )
            .await;
        assert_eq!(status, 200);
    }
    let (status, body) = hub
        .send(
            reqwest::Method::POST,
            "/crm/v3/objects/companies/batch/read",
            read.clone(),
        )
        .await;
    assert_eq!(status, 429);
    assert_eq!(body["policyName"], "SECONDLY");

    hub.admin(
        "/limits",
        json!({ "provider": "hubspot", "enforce": false }),
    )
    .await;
    let (status, _) = hub
        .send(
            reqwest::Method::POST,
            "/crm/v3/objects/companies/batch/read",
            read,
        )
        .await;
    assert_eq!(status, 200, "limits can be switched off");
}

#[tokio::test]
async fn create_update_archive_and_conflicts() {
    let hub = hub().await;
    use reqwest::Method;
    let (status, created) = hub
        .send(Method::POST, "/crm/v3/objects/contacts", json!({ "properties": { "email": "new@x.example", "firstname": "Nova", "lastname": "Star" } }))
        .await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["properties"]["email"], "new@x.example");

    let (status, dup) = hub
        .send(
            Method::POST,
            "/crm/v3/objects/contacts",
            json!({ "properties": { "email": "new@x.example" } }),
        )
        .await;
    assert_eq!(status, 409);
    assert!(
        dup["message"]
            .as_str()
            .unwrap()
            .contains(&format!("Existing ID: {id}"))
    );
    let (status, bad) = hub
        .send(
            Method::POST,
            "/crm/v3/objects/contacts",
            json!({ "properties": { "shoe_size": "9" } }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(bad["category"], "VALIDATION_ERROR");

    let (status, updated) = hub
        .send(
            Method::PATCH,
            &format!("/crm/v3/objects/contacts/{id}"),
            json!({ "properties": { "firstname": "Nora", "lastname": "" } }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(updated["properties"]["firstname"], "Nora");
    assert_eq!(
        updated["properties"]["lastname"],
        Value::Null,
        "an empty string clears"
    );

    let (_, _, by_email) = hub
        .get("/crm/v3/objects/contacts/new@x.example?idProperty=email")
        .await;
    assert_eq!(by_email["id"], id.as_str());

    let (status, _) = hub
        .send(
            Method::DELETE,
            &format!("/crm/v3/objects/contacts/{id}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _, _) = hub.get(&format!("/crm/v3/objects/contacts/{id}")).await;
    assert_eq!(status, 404);

    let (status, batch) = hub
        .send(
            Method::POST,
            "/crm/v3/objects/contacts/batch/read",
            json!({ "properties": ["email"], "inputs": [{ "id": "60" }, { "id": id }] }),
        )
        .await;
    assert_eq!(status, 207);
    assert_eq!(batch["status"], "COMPLETE");
    assert_eq!(batch["results"].as_array().unwrap().len(), 1);
    assert_eq!(batch["errors"][0]["category"], "OBJECT_NOT_FOUND");
    assert_eq!(batch["errors"][0]["context"]["ids"][0], id.as_str());
    let too_many: Vec<Value> = (0..101).map(|i| json!({ "id": i.to_string() })).collect();
    let (status, _) = hub
        .send(
            Method::POST,
            "/crm/v3/objects/contacts/batch/read",
            json!({ "inputs": too_many }),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn search_filters_sorts_pages_and_caps() {
    let hub = hub().await;
    use reqwest::Method;
    let (_, _, first) = hub
        .get("/crm/v3/objects/contacts?limit=1&properties=email")
        .await;
    let email = first["results"][0]["properties"]["email"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, found) = hub
        .send(
            Method::POST,
            "/crm/v3/objects/contacts/search",
            json!({ "filterGroups": [{ "filters": [{ "propertyName": "email", "operator": "EQ", "value": email.to_uppercase() }] }], "properties": ["email"] }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(found["total"], 1);
    assert_eq!(found["results"][0]["properties"]["email"], email.as_str());

    let (_, sorted) = hub
        .send(Method::POST, "/crm/v3/objects/contacts/search", json!({ "sorts": [{ "propertyName": "createdate", "direction": "DESCENDING" }], "limit": 3 }))
        .await;
    assert_eq!(sorted["total"], 400);
    let dates: Vec<&str> = sorted["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["properties"]["createdate"].as_str().unwrap())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "{dates:?}");
    assert_eq!(sorted["paging"]["next"]["after"], "3");

    let (status, capped) = hub
        .send(
            Method::POST,
            "/crm/v3/objects/contacts/search",
            json!({ "after": "9950", "limit": 100 }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(capped["category"], "VALIDATION_ERROR");
    let groups: Vec<Value> = (0..6)
        .map(|_| json!({ "filters": [{ "propertyName": "email", "operator": "HAS_PROPERTY" }] }))
        .collect();
    let (status, _) = hub
        .send(
            Method::POST,
            "/crm/v3/objects/contacts/search",
            json!({ "filterGroups": groups }),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn associations_v4_single_and_batch() {
    let hub = hub().await;
    let (status, _, companies) = hub
        .get("/crm/v4/objects/contacts/60/associations/companies")
        .await;
    assert_eq!(status, 200);
    let company = &companies["results"][0];
    assert_eq!(company["associationTypes"][0]["typeId"], 279);
    assert_eq!(
        company["associationTypes"][0]["category"],
        "HUBSPOT_DEFINED"
    );
    let (status, batch) = hub
        .send(
            reqwest::Method::POST,
            "/crm/v4/associations/deals/contacts/batch/read",
            json!({ "inputs": [{ "id": "451" }, { "id": "452" }] }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(batch["results"].as_array().unwrap().len(), 2);
    assert_eq!(
        batch["results"][0]["to"][0]["associationTypes"][0]["typeId"],
        3
    );
}

#[tokio::test]
async fn ui_changes_reach_the_webhook_signed_with_v3() {
    let hub = hub().await;
    let (url, mut rx) = crate::helpers::webhook_receiver().await;
    let registered = hub
        .admin("/webhooks", json!({ "provider": "hubspot", "url": url }))
        .await;
    assert_eq!(registered.status(), 204);

    let changed = hub
        .admin("/records", json!({ "provider": "hubspot", "object": "contacts", "op": "update", "id": "405", "fields": { "firstname": "Changed" } }))
        .await;
    assert_eq!(changed.status(), 200);
    let (headers, body) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let events: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(events[0]["subscriptionType"], "contact.propertyChange");
    assert_eq!(events[0]["propertyName"], "firstname");
    assert_eq!(events[0]["propertyValue"], "Changed");
    assert_eq!(events[0]["objectId"], 405);
    assert_eq!(events[0]["portalId"], 62515001);

    let timestamp = headers["x-hubspot-request-timestamp"].to_str().unwrap();
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(b"sandbox-hubspot-secret").unwrap();
    mac.update(format!("POST{url}{}{timestamp}", String::from_utf8_lossy(&body)).as_bytes());
    assert_eq!(
        headers["x-hubspot-signature-v3"].to_str().unwrap(),
        STANDARD.encode(mac.finalize().into_bytes())
    );
}

#[tokio::test]
async fn faults_counters_reset_and_a_deterministic_seed() {
    let hub = hub().await;
    let fault = hub
        .admin("/faults", json!({ "provider": "hubspot", "path": "/crm/v3/objects/deals", "status": 503, "retry_after": 2, "count": 1 }))
        .await;
    assert_eq!(fault.status(), 204);
    let (status, headers, body) = hub.get("/crm/v3/objects/deals").await;
    assert_eq!(status, 503);
    assert_eq!(headers["retry-after"], "2");
    assert_eq!(body["status"], "error");
    let (status, _, first) = hub.get("/crm/v3/objects/deals").await;
    assert_eq!(status, 200, "the fault stopped after one hit");

    let counters: Value = hub
        .client
        .get(format!("{}/_sandbox/counters", hub.origin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let deals = &counters["hubspot"]["GET /crm/v3/objects/deals"];
    assert_eq!(deals["503"], 1, "{counters}");
    assert_eq!(deals["200"], 1, "{counters}");

    let other = crate::sandbox_hubspot::hub().await;
    let (_, _, same) = other.get("/crm/v3/objects/deals").await;
    assert_eq!(first, same, "the same seed gives the same data");

    hub.send(
        reqwest::Method::DELETE,
        "/crm/v3/objects/deals/451",
        Value::Null,
    )
    .await;
    assert_eq!(hub.admin("/reset", json!({})).await.status(), 204);
    let again = hub
        .admin("/tokens", json!({ "provider": "hubspot" }))
        .await
        .json::<Value>()
        .await
        .unwrap();
    let hub = Hub {
        token: again["access_token"].as_str().unwrap().to_owned(),
        ..hub
    };
    let (status, _, _) = hub.get("/crm/v3/objects/deals/451").await;
    assert_eq!(status, 200, "reset restores the seed");
    let unknown = hub.admin("/tokens", json!({ "provider": "stripe" })).await;
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn each_portal_has_its_own_data_and_limits() {
    let hub = hub().await;
    let other: Value = hub
        .admin(
            "/tokens",
            json!({ "provider": "hubspot", "account": "77777777" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let other = Hub {
        token: other["access_token"].as_str().unwrap().to_owned(),
        origin: hub.origin.clone(),
        client: hub.client.clone(),
    };
    let (status, created) = other
        .send(
            reqwest::Method::POST,
            "/crm/v3/objects/companies",
            json!({ "properties": { "name": "Only In 7777" } }),
        )
        .await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap();
    let (status, _, _) = other.get(&format!("/crm/v3/objects/companies/{id}")).await;
    assert_eq!(status, 200);
    let (status, _, _) = hub.get(&format!("/crm/v3/objects/companies/{id}")).await;
    assert_eq!(status, 404, "another portal's record is not visible");

    let (_, headers, _) = other.get("/crm/v3/objects/companies?limit=1").await;
    let (_, default_headers, _) = hub.get("/crm/v3/objects/companies?limit=1").await;
    assert_eq!(headers["x-hubspot-ratelimit-remaining"], "97");
    assert_eq!(
        default_headers["x-hubspot-ratelimit-remaining"], "98",
        "windows are per portal"
    );

    // The consent page signs in to the account the user names.
    let form = [
        ("client_id", "sandbox-hubspot-client"),
        ("redirect_uri", "http://127.0.0.1:9/cb"),
        ("account", "12345"),
        ("decision", "approve"),
    ];
    let approve = hub
        .client
        .post(hub.url("/oauth/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let location = url::Url::parse(approve.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let tokens: Value = hub
        .client
        .post(hub.url("/oauth/v1/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "sandbox-hubspot-client"),
            ("client_secret", "sandbox-hubspot-secret"),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
            ("code", &code),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tokens["hub_id"], 12345);
}

#[tokio::test]
async fn an_after_effect_fault_fails_a_write_that_happened() {
    let hub = hub().await;
    let fault = hub
        .admin(
            "/faults",
            json!({ "provider": "hubspot", "path": "/crm/v3/objects/contacts", "status": 502, "count": 1, "after_effect": true, "latency_ms": 5 }),
        )
        .await;
    assert_eq!(fault.status(), 204);
    let (status, _) = hub
        .send(
            reqwest::Method::POST,
            "/crm/v3/objects/contacts",
            json!({ "properties": { "email": "ghost@after.example" } }),
        )
        .await;
    assert_eq!(status, 502, "the client sees a failure");
    let (_, found) = hub
        .send(
            reqwest::Method::POST,
            "/crm/v3/objects/contacts/search",
            json!({ "filterGroups": [{ "filters": [{ "propertyName": "email", "operator": "EQ", "value": "ghost@after.example" }] }] }),
        )
        .await;
    assert_eq!(
        found["total"], 1,
        "but the provider acted: a blind retry would duplicate"
    );
    let bad = hub
        .admin(
            "/faults",
            json!({ "provider": "hubspot", "error_rate": 2.0 }),
        )
        .await;
    assert_eq!(bad.status(), 400);
}
