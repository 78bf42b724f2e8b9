//! The sandbox refuses what the providers refuse: for each documented refusal (the table in
//! docs/sandbox.md, "Strictness"), the refused shape gets the provider's status, error body and
//! headers, and the accepted neighbour shape is answered.

use reqwest::{Client, StatusCode, header::HeaderMap};
use serde_json::{Value, json};

use crate::helpers::sandbox_with_tokens;

/// A provider's sandbox with a token for it.
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

impl Api {
    async fn post(&self, path: &str, body: Value) -> (StatusCode, HeaderMap, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.origin))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        (status, headers, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, HeaderMap, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.origin))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        (status, headers, r.json().await.unwrap_or(Value::Null))
    }
}

/// Graph's error envelope: the code and message, `innerError` with the request id.
fn assert_graph_error(
    status: StatusCode,
    headers: &HeaderMap,
    body: &Value,
    code: &str,
    message: &str,
) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["message"], message, "{body}");
    assert_eq!(
        body["error"]["innerError"]["request-id"].as_str(),
        headers["request-id"].to_str().ok(),
        "{body}"
    );
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}

const INEFFICIENT: &str = "The restriction or sort order is too complex for this operation.";

/// Graph docs, user-list-messages, "Using filter and orderby in the same query".
#[tokio::test]
async fn graph_refuses_a_filter_that_does_not_open_with_the_sorted_property() {
    let g = api("outlook").await;
    for refused in [
        "/microsoft/v1.0/me/messages?$filter=isRead eq false&$orderby=receivedDateTime desc",
        "/microsoft/v1.0/me/messages?$filter=from/emailAddress/address eq 'a@b.example'&$orderby=receivedDateTime desc",
        "/microsoft/v1.0/me/messages?$filter=isRead eq false and receivedDateTime ge 1900-01-01T00:00:00Z&$orderby=receivedDateTime desc",
        "/microsoft/v1.0/me/mailFolders/inbox/messages?$filter=contains(subject,'a')&$orderby=receivedDateTime desc",
        "/microsoft/v1.0/me/events?$filter=contains(subject,'demo')&$orderby=start/dateTime",
    ] {
        let (status, headers, body) = g.get(refused).await;
        assert_graph_error(status, &headers, &body, "InefficientFilter", INEFFICIENT);
    }
    for taken in [
        "/microsoft/v1.0/me/messages?$filter=receivedDateTime ge 1900-01-01T00:00:00Z and isRead eq false&$orderby=receivedDateTime desc",
        "/microsoft/v1.0/me/messages?$filter=isRead eq false",
        "/microsoft/v1.0/me/messages?$orderby=receivedDateTime desc",
        "/microsoft/v1.0/me/events?$filter=start/dateTime ge '1900-01-01T00:00:00' and contains(subject,'demo')&$orderby=start/dateTime",
    ] {
        let (status, _, body) = g.get(taken).await;
        assert_eq!(status, 200, "{taken}: {body}");
    }
}

/// Graph docs, message-delta and event-delta, "Query parameters": delta pages by `$skiptoken`.
#[tokio::test]
async fn graph_refuses_skip_on_delta_queries() {
    let g = api("outlook").await;
    for refused in [
        "/microsoft/v1.0/me/mailFolders/inbox/messages/delta?$skip=10",
        "/microsoft/v1.0/me/calendarView/delta?startDateTime=2026-01-01T00:00:00Z&endDateTime=2026-02-01T00:00:00Z&$skip=10",
    ] {
        let (status, headers, body) = g.get(refused).await;
        assert_graph_error(
            status,
            &headers,
            &body,
            "BadRequest",
            "The query parameter '$skip' is not supported with delta queries.",
        );
    }
    let (status, _, body) = g
        .get("/microsoft/v1.0/me/mailFolders/inbox/messages/delta")
        .await;
    assert_eq!(status, 200, "{body}");
}

const SOQL: &str = "/salesforce/services/data/v58.0/query?q=";

fn soql(q: &str) -> String {
    format!("{SOQL}{}", q.replace(' ', "+"))
}

/// Salesforce's one-item error array.
fn assert_sf_error(status: StatusCode, body: &Value, code: &str, message: &str) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body[0]["errorCode"], code, "{body}");
    assert!(
        body[0]["message"].as_str().unwrap().contains(message),
        "{body}"
    );
    assert_eq!(body.as_array().map(Vec::len), Some(1), "{body}");
}

/// SOQL and SOSL reference, "OFFSET": the maximum offset is 2,000 rows.
#[tokio::test]
async fn soql_offset_above_two_thousand_is_out_of_range() {
    let sf = api("salesforce").await;
    let (status, _, body) = sf
        .get(&soql("SELECT Id FROM Lead LIMIT 10 OFFSET 2001"))
        .await;
    assert_sf_error(
        status,
        &body,
        "NUMBER_OUTSIDE_VALID_RANGE",
        "Maximum SOQL offset allowed is 2000",
    );
    let (status, _, body) = sf
        .get(&soql("SELECT Id FROM Lead LIMIT 10 OFFSET 2000"))
        .await;
    assert_eq!(status, 200, "{body}");
}

/// SOQL reference, "Date Formats and Date Literals": date and datetime values are not quoted.
#[tokio::test]
async fn soql_refuses_quoted_dates_and_unknown_fields_and_objects() {
    let sf = api("salesforce").await;
    let (status, _, body) = sf
        .get(&soql(
            "SELECT Id FROM Lead WHERE CreatedDate > '2024-01-01T00:00:00Z'",
        ))
        .await;
    assert_sf_error(
        status,
        &body,
        "INVALID_FIELD",
        "value of filter criterion for field 'CreatedDate' must be of type dateTime and should not be enclosed in quotes",
    );
    let (status, _, body) = sf
        .get(&soql(
            "SELECT Id FROM Opportunity WHERE CloseDate = '2024-01-01'",
        ))
        .await;
    assert_sf_error(
        status,
        &body,
        "INVALID_FIELD",
        "must be of type date and should not be enclosed in quotes",
    );
    let (status, _, body) = sf
        .get(&soql(
            "SELECT Id FROM Lead WHERE CreatedDate > 2024-01-01T00:00:00Z",
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = sf.get(&soql("SELECT Colour FROM Lead")).await;
    assert_sf_error(
        status,
        &body,
        "INVALID_FIELD",
        "No such column 'Colour' on entity 'Lead'",
    );
    let (status, _, body) = sf.get(&soql("SELECT Id FROM Widget")).await;
    assert_sf_error(
        status,
        &body,
        "INVALID_TYPE",
        "sObject type 'Widget' is not supported",
    );
}

/// HubSpot CRM search docs: one sort rule; 5 filter groups, 10 filters a group, 25 in all (the
/// limits since the August 2024 changelog); 10,000 results; batch reads of at most 100 ids.
#[tokio::test]
async fn hubspot_search_and_batch_limits() {
    let hs = api("hubspot").await;
    // Search's four calls a second would answer 429 first.
    let limits = hs
        .client
        .post(format!("{}/_sandbox/limits", hs.origin))
        .json(&json!({ "provider": "hubspot", "enforce": false }))
        .send()
        .await
        .unwrap();
    assert!(limits.status().is_success());
    let search = "/hubspot/crm/v3/objects/contacts/search";
    let sort = |p: &str| json!({ "propertyName": p, "direction": "ASCENDING" });
    let (status, _, body) = hs
        .post(
            search,
            json!({ "sorts": [sort("createdate"), sort("email")] }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["category"], "VALIDATION_ERROR", "{body}");
    assert_eq!(body["status"], "error", "{body}");
    assert!(body["correlationId"].is_string(), "{body}");
    let (status, _, body) = hs
        .post(search, json!({ "sorts": [sort("createdate")] }))
        .await;
    assert_eq!(status, 200, "{body}");

    let filter = json!({ "propertyName": "email", "operator": "HAS_PROPERTY" });
    let group = |n: usize| json!({ "filters": vec![filter.clone(); n] });
    for (groups, refused) in [
        (vec![group(1); 6], true),
        (vec![group(11)], true),
        (vec![group(10), group(10), group(6)], true),
        (vec![group(1); 5], false),
        (vec![group(10), group(10), group(5)], false),
    ] {
        let (status, _, body) = hs.post(search, json!({ "filterGroups": groups })).await;
        if refused {
            assert_eq!(status, 400, "{body}");
            assert_eq!(body["category"], "VALIDATION_ERROR", "{body}");
        } else {
            assert_eq!(status, 200, "{body}");
        }
    }
    let (status, _, body) = hs
        .post(search, json!({ "after": "9999", "limit": 2 }))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["category"], "VALIDATION_ERROR", "{body}");

    let ids: Vec<Value> = (1..=101).map(|i| json!({ "id": i.to_string() })).collect();
    let (status, _, body) = hs
        .post(
            "/hubspot/crm/v3/objects/contacts/batch/read",
            json!({ "inputs": ids, "properties": ["email"] }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["category"], "VALIDATION_ERROR", "{body}");
}

/// A path no route names answers the provider's 404 with its own error body.
#[tokio::test]
async fn unknown_paths_answer_the_providers_404_body() {
    let any = api("hubspot").await;
    for (path, check) in [
        (
            "/hubspot/crm/v3/nothing/here",
            Box::new(|b: &Value| b["category"] == "OBJECT_NOT_FOUND")
                as Box<dyn Fn(&Value) -> bool>,
        ),
        (
            "/salesforce/services/data/v58.0/nothing",
            Box::new(|b: &Value| b[0]["errorCode"] == "NOT_FOUND"),
        ),
        (
            "/services/data/v58.0/nothing",
            Box::new(|b: &Value| b[0]["errorCode"] == "NOT_FOUND"),
        ),
        (
            "/google/gmail/v1/nothing",
            Box::new(|b: &Value| b["error"]["code"] == 404 && b["error"]["status"] == "NOT_FOUND"),
        ),
        (
            "/microsoft/nothing",
            Box::new(|b: &Value| b["error"]["code"] == "ResourceNotFound"),
        ),
        (
            "/slack/nothing",
            Box::new(|b: &Value| b["ok"] == false && b["error"] == "unknown_method"),
        ),
    ] {
        let (status, headers, body) = any.get(path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{path}"
        );
        assert!(check(&body), "{path}: {body}");
    }
}

/// Graph: `$top` runs 1–1000 on messages; `$search` takes neither `$filter` nor `$orderby`.
#[tokio::test]
async fn graph_refuses_top_above_its_cap_and_search_beside_filter() {
    let g = api("outlook").await;
    let (status, headers, body) = g.get("/microsoft/v1.0/me/messages?$top=1001").await;
    assert_graph_error(
        status,
        &headers,
        &body,
        "BadRequest",
        "Invalid value '1001' for $top. $top must be between 1 and 1000.",
    );
    let (status, _, body) = g.get("/microsoft/v1.0/me/messages?$top=1000").await;
    assert_eq!(status, 200, "{body}");
    let (status, headers, body) = g
        .get("/microsoft/v1.0/me/messages?$search=\"budget\"&$filter=isRead eq false")
        .await;
    assert_graph_error(
        status,
        &headers,
        &body,
        "BadRequest",
        "The query parameter '$filter' is not supported with '$search'.",
    );
    let (status, headers, body) = g
        .get("/microsoft/v1.0/me/messages?$search=\"budget\"&$orderby=receivedDateTime desc")
        .await;
    assert_graph_error(
        status,
        &headers,
        &body,
        "BadRequest",
        "The query parameter '$orderBy' is not supported with '$search'.",
    );
}

/// Calendar API, events.list: `syncToken` cannot be combined with `timeMin`, `timeMax`, `q`,
/// `orderBy` or `updatedMin` (400 `invalid` on the `syncToken` parameter).
#[tokio::test]
async fn calendar_refuses_a_sync_token_beside_other_parameters() {
    let cal = api("google_calendar").await;
    let events = "/google/calendar/v3/calendars/primary/events";
    let (status, _, body) = cal.get(&format!("{events}?maxResults=5")).await;
    assert_eq!(status, 200, "{body}");
    let mut page = body;
    let mut token = None;
    for _ in 0..200 {
        if let Some(sync) = page["nextSyncToken"].as_str() {
            token = Some(sync.to_owned());
            break;
        }
        let next = page["nextPageToken"].as_str().unwrap().to_owned();
        page = cal
            .get(&format!("{events}?maxResults=2500&pageToken={next}"))
            .await
            .2;
    }
    let token = token.expect("a full sync ends with a sync token");
    for extra in [
        "timeMin=2026-01-01T00:00:00Z",
        "timeMax=2026-01-01T00:00:00Z",
        "q=demo",
        "orderBy=updated",
        "updatedMin=2026-01-01T00:00:00Z",
    ] {
        let (status, _, body) = cal
            .get(&format!("{events}?syncToken={token}&{extra}"))
            .await;
        assert_eq!(status, 400, "{extra}: {body}");
        assert_eq!(body["error"]["code"], 400, "{body}");
        assert_eq!(body["error"]["status"], "INVALID_ARGUMENT", "{body}");
        assert_eq!(body["error"]["errors"][0]["reason"], "invalid", "{body}");
        assert_eq!(
            body["error"]["errors"][0]["location"], "syncToken",
            "{body}"
        );
    }
    let (status, _, body) = cal.get(&format!("{events}?syncToken={token}")).await;
    assert_eq!(status, 200, "{body}");
}
