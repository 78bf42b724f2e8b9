//! The CRM sandboxes over raw HTTP, for what the official SDKs call: Salesforce's describeGlobal,
//! basic information, limits, queryAll, POST sObject Collections retrieve, and SOQL relationship
//! paths, parent-to-child subqueries and `COUNT()`, each in Salesforce's JSON shapes and with its
//! errors; and every 404 either CRM answers carrying the provider's error body, never an empty
//! one. (The SDKs themselves run in `sdk_crm.rs`, when `tests/js/node_modules` is there.)

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::sandbox_with_tokens;

struct Api {
    origin: String,
    token: String,
    client: Client,
}

async fn api(provider: &str) -> Api {
    let (origin, client, tokens) = sandbox_with_tokens(provider).await;
    Api {
        origin,
        token: tokens["access_token"].as_str().unwrap().to_owned(),
        client,
    }
}

const DATA: &str = "/services/data/v58.0";

impl Api {
    /// A call with the session's bearer token; the status, the content type and the JSON body
    /// (`Value::Null` when the body is empty or not JSON).
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, String, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.origin))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request.send().await.unwrap();
        let status = r.status();
        let kind = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, kind, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (status, _, body) = self.call(Method::GET, path, None).await;
        (status, body)
    }

    async fn query(&self, soql: &str, all: bool) -> (StatusCode, Value) {
        let q: String = url::form_urlencoded::byte_serialize(soql.as_bytes()).collect();
        let resource = if all { "queryAll" } else { "query" };
        self.get(&format!("{DATA}/{resource}?q={q}")).await
    }

    async fn create(&self, object: &str, fields: Value) -> String {
        let (status, _, body) = self
            .call(
                Method::POST,
                &format!("{DATA}/sobjects/{object}"),
                Some(fields),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    async fn admin(&self, path: &str, body: Value) {
        let r = self
            .client
            .post(format!("{}/_sandbox{path}", self.origin))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }
}

/// Salesforce's error array with one error of this code.
fn assert_sf_error(status: StatusCode, body: &Value, want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body[0]["errorCode"], code, "{body}");
    assert!(
        body[0]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// An Account with two Contacts (Ada and Bob): their ids.
async fn family(sf: &Api, name: &str) -> (String, String, String) {
    let account = sf.create("Account", json!({ "Name": name })).await;
    let ada = sf
        .create(
            "Contact",
            json!({ "LastName": "Ada", "AccountId": account }),
        )
        .await;
    let bob = sf
        .create(
            "Contact",
            json!({ "LastName": "Bob", "AccountId": account }),
        )
        .await;
    (account, ada, bob)
}

#[tokio::test]
async fn salesforce_describe_global_basic_info_and_limits_answer_salesforces_shapes() {
    let sf = api("salesforce").await;
    let (status, global) = sf.get(&format!("{DATA}/sobjects")).await;
    assert_eq!(status, 200, "{global}");
    assert_eq!(global["encoding"], "UTF-8");
    assert_eq!(global["maxBatchSize"], 200);
    let objects = global["sobjects"].as_array().unwrap();
    let names: Vec<&str> = objects
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    for name in ["Account", "Contact", "Lead", "Opportunity", "User"] {
        assert!(names.contains(&name), "{names:?}");
    }
    let opportunity = objects.iter().find(|o| o["name"] == "Opportunity").unwrap();
    assert_eq!(opportunity["keyPrefix"], "006");
    assert_eq!(opportunity["labelPlural"], "Opportunities");
    assert_eq!(
        opportunity["urls"]["rowTemplate"],
        format!("{DATA}/sobjects/Opportunity/{{ID}}")
    );

    let id = sf.create("Account", json!({ "Name": "Recent Co" })).await;
    let (status, info) = sf.get(&format!("{DATA}/sobjects/Account")).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["objectDescribe"]["name"], "Account");
    assert_eq!(info["recentItems"][0]["Id"], id.as_str(), "newest first");
    assert_eq!(info["recentItems"][0]["Name"], "Recent Co");

    let (status, describe) = sf.get(&format!("{DATA}/sobjects/Account/describe")).await;
    assert_eq!(status, 200);
    let children = describe["childRelationships"].as_array().unwrap();
    assert!(
        children.iter().any(|c| c["relationshipName"] == "Contacts"
            && c["childSObject"] == "Contact"
            && c["field"] == "AccountId"),
        "{children:?}"
    );

    let (status, limits) = sf.get(&format!("{DATA}/limits")).await;
    assert_eq!(status, 200, "{limits}");
    let api_requests = &limits["DailyApiRequests"];
    assert_eq!(api_requests["Max"], 100_000);
    // Four calls so far (describeGlobal, a create, basic info, describe) and this one.
    assert_eq!(api_requests["Remaining"], 100_000 - 5, "{api_requests}");
    for (name, limit) in limits.as_object().unwrap() {
        assert!(
            limit["Max"].is_u64() && limit["Remaining"].is_u64(),
            "{name}: {limit}"
        );
    }
}

#[tokio::test]
async fn salesforce_soql_relationships_subqueries_and_count() {
    let sf = api("salesforce").await;
    let (account, ada, _bob) = family(&sf, "Relations Inc").await;
    let orphan = sf.create("Contact", json!({ "LastName": "Orphan" })).await;

    let (status, body) = sf
        .query(
            &format!(
                "SELECT Id, LastName, Account.Name, Account.Owner.Email FROM Contact WHERE Account.Name = 'relations inc' OR Id = '{orphan}' ORDER BY Account.Name NULLS LAST, LastName"
            ),
            false,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totalSize"], 3);
    assert_eq!(body["done"], true);
    let first = &body["records"][0];
    assert_eq!(first["Id"], ada.as_str());
    assert_eq!(first["attributes"]["type"], "Contact");
    assert_eq!(first["Account"]["attributes"]["type"], "Account");
    assert_eq!(
        first["Account"]["attributes"]["url"],
        format!("{DATA}/sobjects/Account/{account}")
    );
    assert_eq!(first["Account"]["Name"], "Relations Inc");
    assert_eq!(first["Account"]["Owner"]["attributes"]["type"], "User");
    assert!(first["Account"]["Owner"]["Email"].is_string(), "{first}");
    assert_eq!(
        body["records"][2]["Account"],
        Value::Null,
        "an empty lookup"
    );

    let (status, body) = sf
        .query(
            &format!(
                "SELECT Name, (SELECT LastName FROM Contacts ORDER BY LastName DESC), (SELECT Id FROM Opportunities) FROM Account WHERE Id = '{account}'"
            ),
            false,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let parent = &body["records"][0];
    assert_eq!(parent["Contacts"]["totalSize"], 2);
    assert_eq!(parent["Contacts"]["done"], true);
    assert_eq!(parent["Contacts"]["records"][0]["LastName"], "Bob");
    assert_eq!(
        parent["Contacts"]["records"][0]["attributes"]["type"],
        "Contact"
    );
    assert_eq!(parent["Opportunities"], Value::Null, "no children: null");

    let (status, body) = sf
        .query(
            &format!("SELECT COUNT() FROM Contact WHERE AccountId = '{account}'"),
            false,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({ "totalSize": 2, "done": true, "records": [] }));

    for (soql, status, code) in [
        ("SELECT Id, Shoe.Name FROM Contact", 400, "INVALID_FIELD"),
        ("SELECT Id, Account.Shoe FROM Contact", 400, "INVALID_FIELD"),
        (
            "SELECT Id, (SELECT Id FROM Shoes) FROM Account",
            400,
            "INVALID_TYPE",
        ),
        ("SELECT Id, COUNT() FROM Contact", 400, "MALFORMED_QUERY"),
        (
            "SELECT COUNT() FROM Contact ORDER BY Id",
            400,
            "MALFORMED_QUERY",
        ),
        ("SELECT COUNT(Id) FROM Contact", 400, "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact GROUP BY Id", 400, "MALFORMED_QUERY"),
    ] {
        let (got, body) = sf.query(soql, false).await;
        assert_sf_error(got, &body, status, code);
    }
    let (_, body) = sf.query("SELECT Id, Shoe.Name FROM Contact", false).await;
    assert!(
        body[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Didn't understand relationship 'Shoe' in field path."),
        "{body}"
    );
}

#[tokio::test]
async fn salesforce_query_all_sees_deleted_records_and_collections_retrieve_by_body() {
    let sf = api("salesforce").await;
    let (account, ada, bob) = family(&sf, "Recycle Co").await;
    let (status, _, _) = sf
        .call(
            Method::DELETE,
            &format!("{DATA}/sobjects/Contact/{bob}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let soql = format!(
        "SELECT Id, IsDeleted FROM Contact WHERE AccountId = '{account}' ORDER BY LastName"
    );
    let (_, live) = sf.query(&soql, false).await;
    assert_eq!(live["totalSize"], 1, "{live}");
    let (status, all) = sf.query(&soql, true).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["totalSize"], 2, "{all}");
    assert_eq!(all["records"][1]["Id"], bob.as_str());
    assert_eq!(all["records"][1]["IsDeleted"], true);
    assert_eq!(all["records"][0]["IsDeleted"], false);
    let (_, gone) = sf.get(&format!("{DATA}/sobjects/Contact/{bob}")).await;
    assert_eq!(gone[0]["errorCode"], "NOT_FOUND");

    let path = format!("{DATA}/composite/sobjects/Contact");
    let (status, _, body) = sf
        .call(
            Method::POST,
            &path,
            Some(json!({ "ids": [ada, "003000000000000AAA", bob], "fields": ["id", "LastName"] })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["Id"], ada.as_str());
    assert_eq!(body[0]["LastName"], "Ada");
    assert_eq!(body[0]["attributes"]["type"], "Contact");
    assert_eq!(body[1], Value::Null, "an id of no record");
    assert_eq!(body[2], Value::Null, "a deleted record");
    for (request, code) in [
        (json!({ "ids": [ada] }), "MISSING_ARGUMENT"),
        (json!({ "fields": ["Id"] }), "MISSING_ARGUMENT"),
        (json!({ "ids": [ada], "fields": ["Shoe"] }), "INVALID_FIELD"),
        (
            json!({ "ids": vec![ada.clone(); 2001], "fields": ["Id"] }),
            "EXCEEDED_ID_LIMIT",
        ),
    ] {
        let (status, _, body) = sf.call(Method::POST, &path, Some(request)).await;
        assert_sf_error(status, &body, 400, code);
    }
    let (status, body) = sf.get(&format!("{path}?ids={ada}&fields=Id,Email")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["Id"], ada.as_str());

    // Bulk API 2.0 takes neither COUNT() nor subqueries; a relationship path is a CSV column.
    for soql in [
        "SELECT COUNT() FROM Contact",
        "SELECT Id, (SELECT Id FROM Contacts) FROM Account",
    ] {
        let (status, _, body) = sf
            .call(
                Method::POST,
                &format!("{DATA}/jobs/query"),
                Some(json!({ "operation": "query", "query": soql })),
            )
            .await;
        assert_sf_error(status, &body, 400, "INVALIDJOB");
    }
    let soql = format!("SELECT Id, Account.Name FROM Contact WHERE AccountId = '{account}'");
    let (status, _, job) = sf
        .call(
            Method::POST,
            &format!("{DATA}/jobs/query"),
            Some(json!({ "operation": "queryAll", "query": soql })),
        )
        .await;
    assert_eq!(status, 200, "{job}");
    let job = format!("{DATA}/jobs/query/{}", job["id"].as_str().unwrap());
    // The first poll finds the job running, the second done.
    for _ in 0..2 {
        let (status, _) = sf.get(&job).await;
        assert_eq!(status, 200);
    }
    let csv = sf
        .client
        .get(format!("{}{job}/results", sf.origin))
        .bearer_auth(&sf.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("\"Id\",\"Account.Name\""), "{csv}");
    assert_eq!(
        csv.matches("Recycle Co").count(),
        2,
        "queryAll: the deleted one too: {csv}"
    );
}

/// Every way either CRM answers 404 carries its error body: unknown paths, unknown objects and
/// records, unknown jobs, properties and batch actions, and a 404 a fault injects.
#[tokio::test]
async fn every_crm_404_carries_the_providers_error_body() {
    let sf = api("salesforce").await;
    let missing = "003000000000000AAA";
    let salesforce: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("{DATA}/nothing/here"), None),
        (Method::GET, format!("/salesforce{DATA}/nothing"), None),
        (
            Method::GET,
            format!("{DATA}/sobjects/Contact/{missing}"),
            None,
        ),
        (
            Method::PATCH,
            format!("{DATA}/sobjects/Contact/{missing}"),
            Some(json!({ "Title": "x" })),
        ),
        (
            Method::DELETE,
            format!("{DATA}/sobjects/Contact/{missing}"),
            None,
        ),
        (Method::GET, format!("{DATA}/sobjects/Shoe/{missing}"), None),
        (
            Method::POST,
            format!("{DATA}/sobjects/Shoe"),
            Some(json!({ "Name": "x" })),
        ),
        (Method::GET, format!("{DATA}/sobjects/Shoe"), None),
        (Method::GET, format!("{DATA}/sobjects/Shoe/describe"), None),
        (
            Method::GET,
            format!("{DATA}/composite/sobjects/Shoe?ids={missing}&fields=Id"),
            None,
        ),
        (
            Method::POST,
            format!("{DATA}/composite/sobjects/Shoe"),
            Some(json!({ "ids": [missing], "fields": ["Id"] })),
        ),
        (
            Method::GET,
            format!("{DATA}/jobs/query/750000000000000AAA"),
            None,
        ),
        (
            Method::GET,
            format!("{DATA}/jobs/ingest/750000000000000AAA"),
            None,
        ),
    ];
    for (method, path, body) in salesforce {
        let (status, kind, body) = sf.call(method.clone(), &path, body).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert!(
            kind.starts_with("application/json"),
            "{method} {path}: {kind}"
        );
        assert_eq!(body[0]["errorCode"], "NOT_FOUND", "{method} {path}: {body}");
        assert_eq!(
            body[0]["message"], "The requested resource does not exist",
            "{method} {path}"
        );
    }
    sf.admin(
        "/faults",
        json!({ "provider": "salesforce", "path": "/services/data/v58.0/limits", "status": 404, "count": 1 }),
    )
    .await;
    let (status, body) = sf.get(&format!("{DATA}/limits")).await;
    assert_eq!(status, 404);
    assert_eq!(body[0]["errorCode"], "NOT_FOUND", "an injected 404: {body}");

    let hs = api("hubspot").await;
    let hubspot: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, "/hubspot/crm/v3/nothing/here", None),
        (
            Method::GET,
            "/hubspot/crm/v3/objects/contacts/999999999",
            None,
        ),
        (
            Method::PATCH,
            "/hubspot/crm/v3/objects/contacts/999999999",
            Some(json!({ "properties": { "firstname": "x" } })),
        ),
        (
            Method::DELETE,
            "/hubspot/crm/v3/objects/deals/999999999",
            None,
        ),
        (
            Method::GET,
            "/hubspot/crm/v3/objects/companies/not-a-number",
            None,
        ),
        (
            Method::GET,
            "/hubspot/crm/v3/properties/contacts/no_such_property",
            None,
        ),
        (
            Method::POST,
            "/hubspot/crm/v3/objects/contacts/batch/shred",
            Some(json!({ "inputs": [] })),
        ),
        (
            Method::GET,
            "/hubspot/crm/v4/objects/contacts/999999999/associations/companies",
            None,
        ),
        (
            Method::PUT,
            "/hubspot/crm/v4/objects/contacts/999999999/associations/default/companies/1",
            None,
        ),
        (
            Method::DELETE,
            "/hubspot/oauth/v1/refresh-tokens/no-such-token",
            None,
        ),
    ];
    for (method, path, body) in hubspot {
        let (status, kind, body) = hs.call(method.clone(), path, body).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert!(
            kind.starts_with("application/json"),
            "{method} {path}: {kind}"
        );
        assert_eq!(body["status"], "error", "{method} {path}: {body}");
        assert_eq!(
            body["category"], "OBJECT_NOT_FOUND",
            "{method} {path}: {body}"
        );
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        assert!(body["correlationId"].is_string(), "{body}");
    }
    hs.admin(
        "/faults",
        json!({ "provider": "hubspot", "path": "/crm/v3/objects/contacts", "status": 404, "count": 1 }),
    )
    .await;
    let (status, body) = hs.get("/hubspot/crm/v3/objects/contacts").await;
    assert_eq!(status, 404);
    assert_eq!(
        body["category"], "OBJECT_NOT_FOUND",
        "an injected 404: {body}"
    );
}
