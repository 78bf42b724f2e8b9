//! The Salesforce simulator against Salesforce's REST v58.0 wire format (shared/providers/
//! wire-formats.md §1): OAuth without expires_in, sObjects, SOQL paging at host-relative URLs,
//! error arrays, Sforce-Limit-Info, expired sessions and the spec's daily limits.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{KeyInit, Mac};
use reqwest::{Client, Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use sha2::Sha256;

struct Org {
    origin: String,
    token: String,
    client: Client,
}

async fn org() -> Org {
    let (origin, client, tokens) = crate::helpers::sandbox_with_tokens("salesforce").await;
    assert_eq!(tokens["instance_url"], origin.as_str());
    assert_eq!(
        tokens["expires_in"], 10_800,
        "the admin API tells the 3-hour session"
    );
    Org {
        origin,
        token: tokens["access_token"].as_str().unwrap().to_owned(),
        client,
    }
}

impl Org {
    /// Calls a host-relative path at the instance (the root), as real clients do.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.origin))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        (
            status,
            headers,
            response.json().await.unwrap_or(Value::Null),
        )
    }

    async fn query(&self, soql: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Value) {
        let q: String = url::form_urlencoded::byte_serialize(soql.as_bytes()).collect();
        self.call(
            Method::GET,
            &format!("/services/data/v58.0/query?q={q}"),
            None,
            headers,
        )
        .await
    }

    async fn admin(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}/_sandbox{path}", self.origin))
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn oauth_tokens_have_no_expires_in_and_a_verifiable_signature() {
    let org = org().await;
    let form = [
        ("client_id", "sandbox-salesforce-client"),
        ("redirect_uri", "http://127.0.0.1:9/cb"),
        ("scope", "api refresh_token offline_access"),
        ("state", "xyz"),
        ("decision", "approve"),
    ];
    let approve = org
        .client
        .post(format!(
            "{}/salesforce/services/oauth2/authorize",
            org.origin
        ))
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
    let token = |grant: Vec<(&'static str, String)>| {
        org.client
            .post(format!("{}/salesforce/services/oauth2/token", org.origin))
            .form(&grant)
            .send()
    };
    let tokens: Value = token(vec![
        ("grant_type", "authorization_code".into()),
        ("code", code),
        ("client_id", "sandbox-salesforce-client".into()),
        ("client_secret", "sandbox-salesforce-secret".into()),
        ("redirect_uri", "http://127.0.0.1:9/cb".into()),
    ])
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(tokens.get("expires_in").is_none(), "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["instance_url"], org.origin.as_str());
    assert!(
        tokens["issued_at"].as_str().unwrap().parse::<i64>().is_ok(),
        "issued_at is a string of ms"
    );
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(b"sandbox-salesforce-secret").unwrap();
    mac.update(
        format!(
            "{}{}",
            tokens["id"].as_str().unwrap(),
            tokens["issued_at"].as_str().unwrap()
        )
        .as_bytes(),
    );
    assert_eq!(
        tokens["signature"],
        STANDARD.encode(mac.finalize().into_bytes())
    );

    let refreshed: Value = token(vec![
        ("grant_type", "refresh_token".into()),
        (
            "refresh_token",
            tokens["refresh_token"].as_str().unwrap().into(),
        ),
        ("client_id", "sandbox-salesforce-client".into()),
        ("client_secret", "sandbox-salesforce-secret".into()),
    ])
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(refreshed["access_token"].is_string());
    assert!(
        refreshed.get("refresh_token").is_none(),
        "a refresh response carries no refresh token"
    );

    org.admin("/revoke", json!({ "provider": "salesforce" }))
        .await;
    let revoked = token(vec![
        ("grant_type", "refresh_token".into()),
        (
            "refresh_token",
            tokens["refresh_token"].as_str().unwrap().into(),
        ),
        ("client_id", "sandbox-salesforce-client".into()),
    ])
    .await
    .unwrap();
    assert_eq!(revoked.status(), 400);
    assert_eq!(
        revoked.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn soql_pages_through_next_records_url_at_the_root() {
    let org = org().await;
    let (status, headers, all) = org
        .query(
            "SELECT Id, Email, Status FROM Lead ORDER BY CreatedDate DESC",
            &[],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(all["totalSize"], 600);
    assert_eq!(all["done"], true);
    assert!(
        headers["sforce-limit-info"]
            .to_str()
            .unwrap()
            .starts_with("api-usage=")
    );
    let first = &all["records"][0];
    assert_eq!(first["attributes"]["type"], "Lead");
    assert!(
        first["Id"].as_str().unwrap().starts_with("00Q")
            && first["Id"].as_str().unwrap().len() == 18
    );

    let (_, _, page) = org
        .query(
            "SELECT Id FROM Lead ORDER BY CreatedDate DESC",
            &[("Sforce-Query-Options", "batchSize=200")],
        )
        .await;
    assert_eq!(page["records"].as_array().unwrap().len(), 200);
    assert_eq!(page["done"], false);
    let next = page["nextRecordsUrl"].as_str().unwrap();
    assert!(next.starts_with("/services/data/v58.0/query/"));
    let (status, _, second) = org
        .call(
            Method::GET,
            next,
            None,
            &[("Sforce-Query-Options", "batchSize=200")],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        second["records"][0]["Id"], all["records"][200]["Id"],
        "the second page continues the first"
    );

    let url = first["attributes"]["url"].as_str().unwrap();
    let (status, _, record) = org.call(Method::GET, url, None, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(record["Email"], first["Email"]);
}

#[tokio::test]
async fn sobject_crud_and_error_arrays() {
    let org = org().await;
    let base = "/services/data/v58.0/sobjects/Lead";
    let (status, _, missing) = org
        .call(Method::POST, base, Some(json!({ "LastName": "Doe" })), &[])
        .await;
    assert_eq!(status, 400);
    assert_eq!(missing[0]["errorCode"], "REQUIRED_FIELD_MISSING");
    assert_eq!(missing[0]["fields"], json!(["Company"]));
    let (status, _, bad) = org
        .call(
            Method::POST,
            base,
            Some(json!({ "LastName": "Doe", "Company": "X", "Shoe__c": 1 })),
            &[],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(bad[0]["errorCode"], "INVALID_FIELD");

    let (status, _, created) = org
        .call(
            Method::POST,
            base,
            Some(json!({ "LastName": "Doe", "Company": "Acme", "Email": "jd@acme.example" })),
            &[],
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(created["success"], true);
    assert_eq!(created["errors"], json!([]));
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("00Q"));

    let (status, _, _) = org
        .call(
            Method::PATCH,
            &format!("{base}/{id}"),
            Some(json!({ "Status": "Working - Contacted" })),
            &[],
        )
        .await;
    assert_eq!(status, 204);
    let (_, _, record) = org
        .call(
            Method::GET,
            &format!("{base}/{id}?fields=Id,Status,Name"),
            None,
            &[],
        )
        .await;
    assert_eq!(record["Status"], "Working - Contacted");
    assert_eq!(record["Name"], "Doe");
    assert!(record.get("Email").is_none());

    let (status, _, _) = org
        .call(Method::DELETE, &format!("{base}/{id}"), None, &[])
        .await;
    assert_eq!(status, 204);
    let (status, _, gone) = org
        .call(Method::GET, &format!("{base}/{id}"), None, &[])
        .await;
    assert_eq!(status, 404);
    assert_eq!(gone[0]["errorCode"], "NOT_FOUND");

    for (soql, code) in [
        ("SELECT Id FORM Lead", "MALFORMED_QUERY"),
        ("SELECT Id, Shoe FROM Lead", "INVALID_FIELD"),
        ("SELECT Id FROM Unicorn", "INVALID_TYPE"),
    ] {
        let (status, _, body) = org.query(soql, &[]).await;
        assert_eq!(status, 400, "{soql}");
        assert_eq!(body[0]["errorCode"], code, "{soql}");
    }
}

#[tokio::test]
async fn sessions_expire_and_daily_limits_answer_403() {
    let org = org().await;
    let (_, _, page) = org.query("SELECT Id FROM Lead LIMIT 1", &[]).await;
    let url = page["records"][0]["attributes"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 0..999 {
        let (status, _, _) = org.call(Method::GET, &url, None, &[]).await;
        assert_eq!(status, 200, "call {i}");
    }
    let (status, headers, body) = org.call(Method::GET, &url, None, &[]).await;
    assert_eq!(status, 200, "the 1,000th Lead GET of the day");
    assert_eq!(headers["sforce-limit-info"], "api-usage=1001/100000");
    let (status, _, body_over) = org.call(Method::GET, &url, None, &[]).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body_over[0]["errorCode"], "REQUEST_LIMIT_EXCEEDED");
    let (status, _, _) = org.query("SELECT Id FROM Lead LIMIT 1", &[]).await;
    assert_eq!(status, 200, "query has its own 15,000");

    org.admin("/clock", json!({ "advance_s": 3 * 3600 + 1 }))
        .await;
    let (status, _, expired) = org.query("SELECT Id FROM Lead LIMIT 1", &[]).await;
    assert_eq!(status, 401);
    assert_eq!(expired[0]["errorCode"], "INVALID_SESSION_ID");
    org.admin("/clock", json!({ "advance_s": 21 * 3600 })).await;
    let fresh: Value = org
        .admin("/tokens", json!({ "provider": "salesforce" }))
        .await
        .json()
        .await
        .unwrap();
    let org = Org {
        token: fresh["access_token"].as_str().unwrap().to_owned(),
        ..org
    };
    let (status, _, _) = org.call(Method::GET, &url, None, &[]).await;
    assert_eq!(status, 200, "the 24-hour window rolled on");
}

#[tokio::test]
async fn ui_changes_with_system_fields_are_found_by_systemmodstamp() {
    let org = org().await;
    let (_, _, page) = org
        .query("SELECT Id FROM Contact ORDER BY CreatedDate LIMIT 1", &[])
        .await;
    let id = page["records"][0]["Id"].as_str().unwrap();
    let changed = org
        .admin("/records", json!({ "provider": "salesforce", "object": "Contact", "op": "update", "id": id, "fields": { "Title": "CEO", "SystemModstamp": "2030-01-01T00:00:00.000+0000" } }))
        .await;
    assert_eq!(changed.status(), 200);
    let (_, _, found) = org
        .query(
            "SELECT Id, Title FROM Contact WHERE SystemModstamp > 2029-12-31T00:00:00Z",
            &[],
        )
        .await;
    assert_eq!(found["totalSize"], 1);
    assert_eq!(found["records"][0]["Title"], "CEO");
}

#[tokio::test]
async fn collections_answer_per_record_in_order() {
    let org = org().await;
    let path = "/services/data/v58.0/composite/sobjects";
    let lead = |last: &str, company: Option<&str>| {
        let mut r = json!({ "attributes": { "type": "Lead" }, "LastName": last });
        if let Some(c) = company {
            r["Company"] = json!(c);
        }
        r
    };
    let (status, _, results) = org
        .call(Method::POST, path, Some(json!({ "allOrNone": false, "records": [lead("A", Some("X")), lead("B", None), lead("C", Some("Y"))] })), &[])
        .await;
    assert_eq!(status, 200, "Collections answer 200 even when items fail");
    assert_eq!(results[0]["success"], true);
    assert_eq!(results[1]["success"], false);
    assert_eq!(
        results[1]["errors"][0]["statusCode"],
        "REQUIRED_FIELD_MISSING"
    );
    assert_eq!(results[2]["success"], true);
    let ids = format!(
        "{},{}",
        results[0]["id"].as_str().unwrap(),
        results[2]["id"].as_str().unwrap()
    );

    let (_, _, rolled) = org
        .call(
            Method::POST,
            path,
            Some(json!({ "allOrNone": true, "records": [lead("D", Some("X")), lead("E", None)] })),
            &[],
        )
        .await;
    assert_eq!(
        rolled[0]["errors"][0]["statusCode"],
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    );
    let (_, _, count) = org
        .query("SELECT Id FROM Lead WHERE LastName = 'D'", &[])
        .await;
    assert_eq!(count["totalSize"], 0, "nothing was written");

    let (_, _, fetched) = org
        .call(
            Method::GET,
            &format!("{path}/Lead?ids={ids},00Q5e9999999999AAA&fields=Id,LastName"),
            None,
            &[],
        )
        .await;
    assert_eq!(fetched[0]["LastName"], "A");
    assert_eq!(fetched[2], Value::Null, "a missing id comes back null");

    let too_many: Vec<Value> = (0..201).map(|i| lead(&i.to_string(), Some("X"))).collect();
    let (status, _, body) = org
        .call(
            Method::POST,
            path,
            Some(json!({ "records": too_many })),
            &[],
        )
        .await;
    assert_eq!(status, 400);
    assert!(body[0]["errorCode"].is_string());

    let (_, _, deleted) = org
        .call(Method::DELETE, &format!("{path}?ids={ids}"), None, &[])
        .await;
    assert_eq!(deleted[0]["success"], true);
    assert_eq!(deleted[1]["success"], true);
}

#[tokio::test]
async fn changes_send_outbound_messages_to_the_listener() {
    let org = org().await;
    let (url, mut rx) = crate::helpers::webhook_receiver().await;
    let registered = org
        .admin("/webhooks", json!({ "provider": "salesforce", "url": url }))
        .await;
    assert_eq!(registered.status(), 204);
    let (_, _, page) = org
        .query("SELECT Id FROM Lead ORDER BY CreatedDate LIMIT 1", &[])
        .await;
    let id = page["records"][0]["Id"].as_str().unwrap().to_owned();

    let (status, _, _) = org
        .call(
            Method::PATCH,
            &format!("/services/data/v58.0/sobjects/Lead/{id}"),
            Some(json!({ "Status": "Working - Contacted" })),
            &[],
        )
        .await;
    assert_eq!(status, 204);
    let (headers, body) = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml")
    );
    let xml = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        xml.contains("<OrganizationId>00D5e0000000001AAA</OrganizationId>"),
        "{xml}"
    );
    assert!(xml.contains(r#"xsi:type="sf:Lead""#));
    assert!(xml.contains(&format!("<sf:Id>{id}</sf:Id>")));
    assert!(xml.contains("<sf:Status>Working - Contacted</sf:Status>"));
    assert!(xml.contains(&format!(
        "<EnterpriseUrl>{}/services/Soap/c/58.0/",
        org.origin
    )));

    org.admin("/records", json!({ "provider": "salesforce", "object": "Lead", "op": "create", "fields": { "LastName": "O'Neil & Co", "Company": "<Acme>" } })).await;
    let (_, body) = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let xml = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        xml.contains("<sf:Company>&lt;Acme&gt;</sf:Company>"),
        "values are escaped: {xml}"
    );
}

#[tokio::test]
async fn bulk_query_jobs_page_csv_by_locator() {
    let org = org().await;
    let jobs = "/services/data/v58.0/jobs/query";
    let (status, _, job) = org
        .call(Method::POST, jobs, Some(json!({ "operation": "query", "query": "SELECT Id, Email, Company FROM Lead ORDER BY CreatedDate" })), &[])
        .await;
    assert_eq!(status, 200);
    assert_eq!(job["state"], "UploadComplete");
    let id = job["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("750"));
    let early = org
        .client
        .get(format!("{}{jobs}/{id}/results", org.origin))
        .bearer_auth(&org.token)
        .send()
        .await
        .unwrap();
    assert_eq!(early.status(), 400, "results wait for JobComplete");

    let (_, _, first) = org
        .call(Method::GET, &format!("{jobs}/{id}"), None, &[])
        .await;
    assert_eq!(first["state"], "InProgress");
    let (_, _, done) = org
        .call(Method::GET, &format!("{jobs}/{id}"), None, &[])
        .await;
    assert_eq!(done["state"], "JobComplete");
    assert_eq!(done["numberRecordsProcessed"], 600);

    let mut locator = String::new();
    let mut rows = 0;
    loop {
        let mut url = format!("{}{jobs}/{id}/results?maxRecords=250", org.origin);
        if !locator.is_empty() {
            url.push_str(&format!("&locator={locator}"));
        }
        let page = org
            .client
            .get(url)
            .bearer_auth(&org.token)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert_eq!(page.headers()["content-type"], "text/csv");
        let count: usize = page.headers()["sforce-numberofrecords"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let next = page.headers()["sforce-locator"]
            .to_str()
            .unwrap()
            .to_owned();
        let text = page.text().await.unwrap();
        assert!(
            text.starts_with("\"Id\",\"Email\",\"Company\"\n"),
            "{}",
            &text[..60]
        );
        assert_eq!(text.lines().count(), count + 1);
        rows += count;
        if next == "null" {
            break;
        }
        locator = next;
    }
    assert_eq!(rows, 600);
}

#[tokio::test]
async fn bulk_ingest_jobs_report_per_row_results() {
    let org = org().await;
    let jobs = "/services/data/v58.0/jobs/ingest";
    let (status, _, job) = org
        .call(Method::POST, jobs, Some(json!({ "object": "Lead", "operation": "insert", "contentType": "CSV", "lineEnding": "LF" })), &[])
        .await;
    assert_eq!(status, 200);
    assert_eq!(job["state"], "Open");
    let content_url = job["contentUrl"].as_str().unwrap().to_owned();
    let id = job["id"].as_str().unwrap().to_owned();

    let csv = "LastName,Company,Email\nBulkA,Acme,a@bulk.example\nBulkB,,b@bulk.example\n\"Bulk, C\",Globex,c@bulk.example\n";
    let put = org
        .client
        .put(format!("{}/{content_url}", org.origin))
        .bearer_auth(&org.token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let (_, _, closed) = org
        .call(
            Method::PATCH,
            &format!("{jobs}/{id}"),
            Some(json!({ "state": "UploadComplete" })),
            &[],
        )
        .await;
    assert_eq!(closed["state"], "UploadComplete");
    org.call(Method::GET, &format!("{jobs}/{id}"), None, &[])
        .await;
    let (_, _, done) = org
        .call(Method::GET, &format!("{jobs}/{id}"), None, &[])
        .await;
    assert_eq!(done["state"], "JobComplete");
    assert_eq!(done["numberRecordsProcessed"], 3);
    assert_eq!(done["numberRecordsFailed"], 1);

    let text = |which: &'static str| {
        let url = format!("{}{jobs}/{id}/{which}/", org.origin);
        let client = org.client.clone();
        let token = org.token.clone();
        async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let ok = text("successfulResults").await;
    assert!(
        ok.starts_with("\"sf__Id\",\"sf__Created\",\"LastName\",\"Company\",\"Email\"\n"),
        "{ok}"
    );
    assert_eq!(ok.lines().count(), 3);
    assert!(ok.contains("\"Bulk, C\""));
    let failed = text("failedResults").await;
    assert!(failed.contains("REQUIRED_FIELD_MISSING"), "{failed}");
    assert_eq!(failed.lines().count(), 2);
    let (_, _, found) = org
        .query("SELECT Id FROM Lead WHERE Email LIKE '%@bulk.example'", &[])
        .await;
    assert_eq!(found["totalSize"], 2);
}

#[tokio::test]
async fn each_org_has_its_own_records() {
    let org = org().await;
    let second: Value = org
        .admin(
            "/tokens",
            json!({ "provider": "salesforce", "account": "00D5e0000000002AAA" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(
        second["id"]
            .as_str()
            .unwrap()
            .contains("/id/00D5e0000000002AAA/")
    );
    let other = Org {
        token: second["access_token"].as_str().unwrap().to_owned(),
        origin: org.origin.clone(),
        client: org.client.clone(),
    };
    let (status, _, created) = other
        .call(
            Method::POST,
            "/services/data/v58.0/sobjects/Account",
            Some(json!({ "Name": "Second Org Only" })),
            &[],
        )
        .await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap();
    let (status, _, _) = org
        .call(
            Method::GET,
            &format!("/services/data/v58.0/sobjects/Account/{id}"),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 404);
    let (_, _, found) = other
        .query("SELECT Id FROM Account WHERE Name = 'Second Org Only'", &[])
        .await;
    assert_eq!(found["totalSize"], 1);
}

#[tokio::test]
async fn opportunities_and_accounts_take_their_name() {
    let org = org().await;
    let (status, _, missing) = org
        .call(
            Method::POST,
            "/services/data/v58.0/sobjects/Opportunity",
            Some(json!({ "Name": "Big deal" })),
            &[],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(missing[0]["fields"], json!(["StageName", "CloseDate"]));
    let (status, _, created) = org
        .call(
            Method::POST,
            "/services/data/v58.0/sobjects/Opportunity",
            Some(json!({ "Name": "Big deal", "StageName": "Closed Won", "CloseDate": "2026-12-31", "Amount": 5000 })),
            &[],
        )
        .await;
    assert_eq!(status, 201);
    let (_, _, record) = org
        .call(
            Method::GET,
            &format!(
                "/services/data/v58.0/sobjects/Opportunity/{}",
                created["id"].as_str().unwrap()
            ),
            None,
            &[],
        )
        .await;
    assert_eq!(record["IsWon"], true, "IsWon follows the stage");
    assert_eq!(record["IsClosed"], true);
    let (status, _, _) = org
        .call(
            Method::POST,
            "/services/data/v58.0/sobjects/Lead",
            Some(json!({ "LastName": "X", "Company": "Y", "Name": "Z" })),
            &[],
        )
        .await;
    assert_eq!(status, 400, "a Lead's Name is compound and read-only");
}
