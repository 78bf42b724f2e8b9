//! The gateway against the sandbox's strictness rules: for each refusal the sandbox models that
//! the gateway could run into, every shape the gateway sends is one the provider takes. A call
//! the provider refuses shows as a 4xx in the sandbox's counters (and as a GraphQL error), so
//! each test runs the gateway's whole range of a feature and asserts no 4xx at all.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::{
    crm::counters,
    mail::{OUTLOOK_LIST, addresses, emails, from, mailboxes},
};

/// Every answer of `route` at `provider` with a 4xx status, by status.
fn refusals(counters: &Value, provider: &str, route: &str) -> Vec<(String, u64)> {
    counters[provider][route]
        .as_object()
        .map(|statuses| {
            statuses
                .iter()
                .filter(|(status, _)| status.starts_with('4'))
                .map(|(status, n)| (status.clone(), n.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

/// Every 4xx the sandbox answered, over all of a provider's routes.
fn all_refusals(counters: &Value, provider: &str) -> Vec<(String, String, u64)> {
    counters[provider]
        .as_object()
        .map(|routes| {
            routes
                .keys()
                .flat_map(|route| {
                    refusals(counters, provider, route)
                        .into_iter()
                        .map(move |(s, n)| (route.clone(), s, n))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// All subsets of `parts`, each merged into one filter object.
fn combinations(parts: &[(&str, Value)]) -> Vec<Value> {
    (0..1u32 << parts.len())
        .map(|mask| {
            let mut filter = serde_json::Map::new();
            for (i, (key, value)) in parts.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    filter.insert((*key).to_owned(), value.clone());
                }
            }
            Value::Object(filter)
        })
        .collect()
}

fn date(node: &Value) -> DateTime<Utc> {
    node["date"].as_str().unwrap().parse().unwrap()
}

/// Graph refuses `$filter` beside `$orderby` unless the sorted property opens the filter (400
/// `InefficientFilter`): every `emails` filter on Outlook — from, unread, subject, label (a
/// category or a folder), dates, and every combination of them — and its second page are
/// answered, and the answers keep to the filter.
#[tokio::test]
async fn every_outlook_emails_filter_is_a_shape_graph_takes() {
    let (app, sandbox) = mailboxes(&[]).await;
    let outlook = json!(["OUTLOOK"]);
    let base = emails(&app, json!({ "first": 40, "providers": outlook })).await;
    let me = base
        .iter()
        .map(|n| addresses(n, "to"))
        .find(|to| to.len() == 1)
        .unwrap()[0]
        .clone();
    let inbound = base.iter().find(|n| from(n) != me).unwrap();
    let word = inbound["subject"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .find(|w| w.len() > 4 && w.chars().all(char::is_alphanumeric))
        .unwrap()
        .to_lowercase();
    let (newer, older) = (base[5]["date"].clone(), base[30]["date"].clone());
    let parts = [
        ("from", json!(from(inbound))),
        ("subjectContains", json!(word)),
        ("unread", json!(true)),
        ("label", json!("Customer")),
        ("after", older.clone()),
        ("before", newer.clone()),
    ];
    let mut filters = combinations(&parts);
    filters.extend([
        json!({ "unread": false }),
        json!({ "label": "inbox" }),
        json!({ "label": "inbox", "unread": true, "after": older }),
        json!({ "label": "sentitems", "subjectContains": word }),
    ]);
    let mut answered = 0;
    for filter in &filters {
        let page = emails(
            &app,
            json!({ "first": 2, "providers": outlook, "filter": filter }),
        )
        .await;
        for n in &page {
            if let Some(who) = filter["from"].as_str() {
                assert_eq!(from(n), who, "{filter}: {n}");
            }
            if filter["unread"] == true {
                assert_eq!(n["unread"], true, "{filter}: {n}");
            }
            if filter["label"] == "Customer" {
                assert!(
                    n["labels"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|l| l == "Customer"),
                    "{filter}: {n}"
                );
            }
            if let Some(text) = filter["subjectContains"].as_str() {
                assert!(
                    n["subject"].as_str().unwrap().to_lowercase().contains(text),
                    "{filter}: {n}"
                );
            }
            if let Some(at) = filter["after"].as_str() {
                assert!(
                    date(n) >= at.parse::<DateTime<Utc>>().unwrap(),
                    "{filter}: {n}"
                );
            }
            if let Some(at) = filter["before"].as_str() {
                assert!(
                    date(n) < at.parse::<DateTime<Utc>>().unwrap(),
                    "{filter}: {n}"
                );
            }
        }
        answered += usize::from(!page.is_empty());
        // The next page adds the position's `receivedDateTime le` clause.
        let (status, body) = app
            .graphql(
                crate::mail::EMAILS,
                json!({ "first": 2, "providers": outlook, "filter": filter }),
            )
            .await;
        assert_eq!(status, 200);
        if let Some(cursor) = body["data"]["emails"]["pageInfo"]["endCursor"].as_str() {
            let next = emails(
                &app,
                json!({ "first": 2, "after": cursor, "providers": outlook, "filter": filter }),
            )
            .await;
            assert!(
                next.iter()
                    .all(|n| !page.iter().any(|p| p["id"] == n["id"])),
                "{filter}: pages overlap"
            );
        }
    }
    assert!(
        answered > filters.len() / 4,
        "only {answered} filters matched anything"
    );
    let after = counters(&sandbox).await;
    assert!(
        refusals(&after, "outlook", OUTLOOK_LIST).is_empty()
            && all_refusals(&after, "outlook").is_empty(),
        "Graph refused: {:?}",
        all_refusals(&after, "outlook")
    );
}

const EVENTS: &str = "query($filter: EventFilter, $providers: [Provider!]) {
  events(first: 5, filter: $filter, providers: $providers) { nodes { id title } }
}";

/// The calendar view's text filter, beside `$orderby=start/dateTime`, is a shape Graph takes.
#[tokio::test]
async fn the_outlook_calendar_text_filter_is_a_shape_graph_takes() {
    let (app, sandbox) = mailboxes(&[]).await;
    let (status, body) = app
        .graphql(
            EVENTS,
            json!({ "providers": ["OUTLOOK"], "filter": { "text": "demo" } }),
        )
        .await;
    assert_eq!(status, 200);
    assert!(body["errors"].is_null(), "{body}");
    let found = body["data"]["events"]["nodes"].as_array().unwrap();
    assert!(!found.is_empty());
    assert!(
        found
            .iter()
            .all(|n| n["title"].as_str().unwrap().to_lowercase().contains("demo")),
        "{found:?}"
    );
    assert!(
        all_refusals(&counters(&sandbox).await, "outlook").is_empty(),
        "{:?}",
        all_refusals(&counters(&sandbox).await, "outlook")
    );
}

/// The CRM lists on Salesforce and HubSpot, with every filter and a next page: SOQL with
/// unquoted datetimes and keyset paging (never `OFFSET`), HubSpot searches with one sort and few
/// filters — no 4xx at either.
#[tokio::test]
async fn crm_lists_send_only_shapes_salesforce_and_hubspot_take() {
    let (app, sandbox) = crate::crm::both_crms().await;
    let lists = [
        (
            "contacts",
            "ContactFilter",
            vec![
                json!({}),
                json!({ "updatedAfter": "2020-01-01T00:00:00Z" }),
                json!({ "nameContains": "a" }),
                json!({ "email": "nobody@nowhere.example" }),
                json!({ "nameContains": "a", "updatedAfter": "2020-01-01T00:00:00Z" }),
            ],
        ),
        (
            "leads",
            "LeadFilter",
            vec![
                json!({ "updatedAfter": "2020-01-01T00:00:00Z" }),
                json!({ "status": "Open - Not Contacted", "nameContains": "e" }),
            ],
        ),
        (
            "deals",
            "DealFilter",
            vec![
                json!({ "updatedAfter": "2020-01-01T00:00:00Z" }),
                json!({ "status": "OPEN", "nameContains": "a" }),
            ],
        ),
    ];
    for (list, filter_type, filters) in lists {
        let query = format!(
            "query($after: String, $filter: {filter_type}) {{
               {list}(first: 3, after: $after, filter: $filter) {{
                 pageInfo {{ hasNextPage endCursor }} nodes {{ id }} }} }}"
        );
        for filter in filters {
            let (status, body) = app.graphql(&query, json!({ "filter": filter })).await;
            assert_eq!(status, 200);
            assert!(body["errors"].is_null(), "{list} {filter}: {body}");
            if let Some(cursor) = body["data"][list]["pageInfo"]["endCursor"].as_str() {
                let (_, next) = app
                    .graphql(&query, json!({ "filter": filter, "after": cursor }))
                    .await;
                assert!(next["errors"].is_null(), "{list} {filter}: {next}");
            }
        }
    }
    let after = counters(&sandbox).await;
    for provider in ["salesforce", "hubspot"] {
        assert!(
            all_refusals(&after, provider).is_empty(),
            "{provider} refused: {:?}",
            all_refusals(&after, provider)
        );
    }
}
