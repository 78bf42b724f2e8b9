//! CRM lists through GraphQL against the sandbox: both CRMs merged newest first, filters pushed
//! down to the source, paging that returns every record once while the sandbox changes, partial
//! results when one CRM fails, `node(id:)`, and tokens refreshed on the provider's word.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox_with},
    helpers::{TestApp, eventually},
};

/// A gateway pointed at a fresh sandbox with both CRMs connected through the real flow.
pub async fn both_crms() -> (TestApp, String) {
    both_crms_with(|_| {}).await
}

pub async fn both_crms_with(
    adjust: impl FnOnce(&mut nexus::config::Settings),
) -> (TestApp, String) {
    let (app, sandbox) = pointed_at_sandbox_with(false, adjust).await;
    for provider in ["HUBSPOT", "SALESFORCE"] {
        let back = consent(&connect_link(&app, provider, None).await, "approve").await;
        assert_eq!(callback(&back).await.0, 200, "{provider} connects");
    }
    (app, sandbox)
}

pub async fn counters(sandbox: &str) -> Value {
    reqwest::get(format!("{sandbox}/_sandbox/counters"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Successful calls to one route of a provider, per the sandbox's own counters.
pub fn calls(counters: &Value, provider: &str, route: &str) -> u64 {
    counters[provider][route]["200"].as_u64().unwrap_or(0)
}

const CONTACTS: &str =
    "query($first: Int, $after: String, $filter: ContactFilter, $providers: [Provider!]) {
  contacts(first: $first, after: $after, filter: $filter, providers: $providers) {
    pageInfo { hasNextPage endCursor }
    edges { cursor }
    nodes { id provider remoteId createdAt name email }
  }
}";

pub fn nodes(body: &Value, list: &str) -> Vec<Value> {
    body["data"][list]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn created(node: &Value) -> DateTime<Utc> {
    node["createdAt"].as_str().unwrap().parse().unwrap()
}

/// Pages through `contacts` to the end; returns every node seen, calling `between` after each page.
async fn all_contacts(
    app: &TestApp,
    first: u32,
    mut between: impl AsyncFnMut(usize),
) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut after = Value::Null;
    for page in 0.. {
        let (status, body) = app
            .graphql(CONTACTS, json!({ "first": first, "after": after }))
            .await;
        assert_eq!(status, 200);
        assert!(body["errors"].is_null(), "{body}");
        seen.extend(nodes(&body, "contacts"));
        let info = &body["data"]["contacts"]["pageInfo"];
        if !info["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = info["endCursor"].clone();
        between(page).await;
    }
    seen
}

#[tokio::test]
async fn contacts_merge_both_crms_newest_first() {
    let (app, _sandbox) = both_crms().await;
    let (status, body) = app.graphql(CONTACTS, json!({ "first": 60 })).await;
    assert_eq!(status, 200);
    assert!(body["errors"].is_null(), "{body}");
    let list = nodes(&body, "contacts");
    assert_eq!(list.len(), 60);
    let providers: BTreeSet<&str> = list
        .iter()
        .map(|n| n["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers, BTreeSet::from(["HUBSPOT", "SALESFORCE"]));
    assert!(
        list.windows(2).all(|w| created(&w[0]) >= created(&w[1])),
        "newest first"
    );
    assert!(list.iter().all(|n| !n["name"].as_str().unwrap().is_empty()));
    let edges = body["data"]["contacts"]["edges"].as_array().unwrap();
    assert_eq!(
        edges.last().unwrap()["cursor"],
        body["data"]["contacts"]["pageInfo"]["endCursor"]
    );
}

#[tokio::test]
async fn paging_returns_every_record_once_while_the_sandbox_changes() {
    let (app, sandbox) = both_crms().await;
    let before = all_contacts(&app, 100, async |_| {}).await;
    let ids: Vec<&str> = before.iter().map(|n| n["id"].as_str().unwrap()).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "no record twice");
    assert!(ids.len() > 400, "both CRMs' seeded contacts: {}", ids.len());

    // Between pages, each CRM gains a contact and an existing one is edited.
    let admin = reqwest::Client::new();
    let edited: HashMap<&str, String> = before
        .iter()
        .filter_map(|n| Some((n["provider"].as_str()?, n["remoteId"].as_str()?.to_owned())))
        .collect();
    let again = all_contacts(&app, 100, async |page| {
        let changes = [
            json!({ "provider": "salesforce", "object": "Contact", "op": "create",
                    "fields": { "LastName": format!("Newcomer{page}"), "Email": format!("new{page}@sf.test") } }),
            json!({ "provider": "hubspot", "object": "contacts", "op": "create",
                    "fields": { "lastname": format!("Newcomer{page}"), "email": format!("new{page}@hs.test") } }),
            json!({ "provider": "salesforce", "object": "Contact", "op": "update",
                    "id": edited["SALESFORCE"], "fields": { "Title": format!("Edited {page}") } }),
            json!({ "provider": "hubspot", "object": "contacts", "op": "update",
                    "id": edited["HUBSPOT"], "fields": { "jobtitle": format!("Edited {page}") } }),
        ];
        for change in changes {
            let answer = admin
                .post(format!("{sandbox}/_sandbox/records"))
                .json(&change)
                .send()
                .await
                .unwrap();
            assert!(answer.status().is_success(), "{change}: {}", answer.status());
        }
    })
    .await;
    let again_ids: Vec<&str> = again.iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(
        again_ids, ids,
        "the same records, once each, in the same order"
    );
}

#[tokio::test]
async fn filters_are_pushed_down_to_each_crm() {
    let (app, sandbox) = both_crms().await;
    let (_, body) = app.graphql(CONTACTS, json!({ "first": 1 })).await;
    let email = nodes(&body, "contacts")[0]["email"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = counters(&sandbox).await;

    let (_, body) = app
        .graphql(
            CONTACTS,
            json!({ "first": 50, "filter": { "email": email } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let found = nodes(&body, "contacts");
    assert!(!found.is_empty());
    assert!(
        found
            .iter()
            .all(|n| n["email"].as_str().unwrap().eq_ignore_ascii_case(&email))
    );
    let after = counters(&sandbox).await;
    assert_eq!(
        calls(&after, "hubspot", "POST /crm/v3/objects/contacts/search")
            - calls(&before, "hubspot", "POST /crm/v3/objects/contacts/search"),
        1,
        "one HubSpot search, not a walk through every contact"
    );
    assert_eq!(
        calls(&after, "salesforce", "GET /services/data/v58.0/query")
            - calls(&before, "salesforce", "GET /services/data/v58.0/query"),
        1,
        "one SOQL query"
    );

    let (_, body) = app
        .graphql(
            CONTACTS,
            json!({ "first": 100, "filter": { "nameContains": "ada" } }),
        )
        .await;
    let found = nodes(&body, "contacts");
    assert!(!found.is_empty(), "{body}");
    assert!(
        found
            .iter()
            .all(|n| n["name"].as_str().unwrap().to_lowercase().contains("ada")),
        "{body}"
    );

    let (_, body) = app
        .graphql(
            "{ deals(first: 100, filter: { status: WON }) { nodes { provider status stage } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let won = nodes(&body, "deals");
    assert!(
        won.iter().any(|d| d["provider"] == "HUBSPOT")
            && won.iter().any(|d| d["provider"] == "SALESFORCE"),
        "{body}"
    );
    assert!(won.iter().all(|d| d["status"] == "WON"));

    let (_, body) = app
        .graphql(
            "{ leads(first: 100, filter: { status: \"Working - Contacted\" }) { nodes { provider status } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let leads = nodes(&body, "leads");
    assert!(!leads.is_empty(), "{body}");
    assert!(
        leads
            .iter()
            .all(|l| l["provider"] == "SALESFORCE" && l["status"] == "Working - Contacted")
    );

    let (_, body) = app
        .graphql(
            "{ companies(first: 5) { nodes { name domain } } }",
            json!({}),
        )
        .await;
    let domain = nodes(&body, "companies")[0]["domain"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, body) = app
        .graphql(
            "query($d: String) { companies(first: 20, filter: { domain: $d }) { nodes { domain } } }",
            json!({ "d": domain }),
        )
        .await;
    let companies = nodes(&body, "companies");
    assert!(
        !companies.is_empty() && companies.iter().all(|c| c["domain"] == domain.as_str()),
        "{body}"
    );
}

#[tokio::test]
async fn one_crm_down_still_returns_the_other_with_its_error() {
    let (app, sandbox) = both_crms().await;
    let fault = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/faults"))
        .json(&json!({ "provider": "salesforce", "status": 503 }))
        .send()
        .await
        .unwrap();
    assert!(fault.status().is_success());

    let (status, body) = app.graphql(CONTACTS, json!({ "first": 20 })).await;
    assert_eq!(status, 200);
    let list = nodes(&body, "contacts");
    assert_eq!(list.len(), 20, "{body}");
    assert!(list.iter().all(|n| n["provider"] == "HUBSPOT"));
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["extensions"]["code"], "PROVIDER_UNAVAILABLE");
    assert_eq!(errors[0]["extensions"]["provider"], "SALESFORCE");
    assert_eq!(errors[0]["path"], json!(["contacts"]));
}

#[tokio::test]
async fn node_resolves_crm_records_by_id() {
    let (app, _sandbox) = both_crms().await;
    for list in ["contacts", "deals", "companies", "leads"] {
        let (_, body) = app
            .graphql(
                &format!("{{ {list}(first: 3) {{ nodes {{ id name }} }} }}"),
                json!({}),
            )
            .await;
        let first = nodes(&body, list)[0].clone();
        let (_, found) = app
            .graphql(
                "query($id: ID!) { node(id: $id) { id ... on Contact { name } ... on Deal { name } ... on Company { name } ... on Lead { name } } }",
                json!({ "id": first["id"] }),
            )
            .await;
        assert!(found["errors"].is_null(), "{found}");
        assert_eq!(found["data"]["node"]["id"], first["id"]);
        assert_eq!(found["data"]["node"]["name"], first["name"], "{list}");
    }
}

#[tokio::test]
async fn raw_and_field_reach_provider_fields() {
    let (app, _sandbox) = both_crms().await;
    let (_, body) = app
        .graphql(
            "{ companies(first: 40) { nodes { provider raw industry sf: field(name: \"Industry\") hs: field(name: \"industry\") missing: field(name: \"Nope__c\") } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    for company in nodes(&body, "companies") {
        let via_field = if company["provider"] == "SALESFORCE" {
            &company["sf"]
        } else {
            &company["hs"]
        };
        assert_eq!(via_field, &company["industry"], "{company}");
        assert!(company["missing"].is_null());
        assert!(company["raw"].is_object());
    }
}

#[tokio::test]
async fn an_expired_session_is_refreshed_once_and_the_call_retried() {
    let (app, sandbox) = both_crms().await;
    let expired = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/expire-tokens"))
        .json(&json!({ "provider": "salesforce" }))
        .send()
        .await
        .unwrap();
    assert!(expired.status().is_success());
    let before = counters(&sandbox).await;
    let (_, body) = app
        .graphql(CONTACTS, json!({ "first": 5, "providers": ["SALESFORCE"] }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(nodes(&body, "contacts").len(), 5);
    let after = counters(&sandbox).await;
    assert_eq!(
        calls(&after, "salesforce", "POST /services/oauth2/token")
            - calls(&before, "salesforce", "POST /services/oauth2/token"),
        1
    );
    assert_eq!(
        after["salesforce"]["GET /services/data/v58.0/query"]["401"].as_u64(),
        Some(1),
        "the expired session was refused once, then the call went through"
    );
}

/// Every successful call the sandbox answered for a provider.
pub fn total_calls(counters: &Value, provider: &str) -> u64 {
    counters[provider]
        .as_object()
        .map(|routes| {
            routes
                .iter()
                .filter(|(route, _)| !route.contains("oauth"))
                .map(|(_, by_status)| by_status["200"].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn a_page_of_contacts_with_companies_costs_the_minimum_of_calls() {
    let (app, sandbox) = both_crms().await;
    let before = counters(&sandbox).await;
    let (_, body) = app
        .graphql(
            "{ contacts(first: 100) { nodes { provider name company { id name provider } } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let list = nodes(&body, "contacts");
    assert_eq!(list.len(), 100);
    let with_company = list.iter().filter(|n| n["company"].is_object()).count();
    assert!(
        with_company > 50,
        "seeded contacts work somewhere: {with_company}"
    );
    assert!(
        list.iter()
            .filter(|n| n["company"].is_object())
            .all(|n| n["company"]["provider"] == n["provider"])
    );
    let after = counters(&sandbox).await;
    // The minimum: per CRM one list call, then HubSpot one association batch read (≤ 100
    // contacts) and one company batch read (≤ 100 companies); Salesforce one `Id IN (...)`
    // query for every account named (≤ 200).
    assert_eq!(
        total_calls(&after, "hubspot") - total_calls(&before, "hubspot"),
        3,
        "{after}"
    );
    assert_eq!(
        total_calls(&after, "salesforce") - total_calls(&before, "salesforce"),
        2,
        "{after}"
    );

    // A lead converted in Salesforce's UI points to its contact.
    let (_, body) = app
        .graphql(
            "{ leads(first: 1) { nodes { remoteId } } contacts(first: 1, providers: [SALESFORCE]) { nodes { id remoteId name } } }",
            json!({}),
        )
        .await;
    let lead = nodes(&body, "leads")[0]["remoteId"].clone();
    let contact = nodes(&body, "contacts")[0].clone();
    let converted = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/records"))
        .json(
            &json!({ "provider": "salesforce", "object": "Lead", "op": "update", "id": lead,
                       "fields": { "Status": "Closed - Converted", "IsConverted": true,
                                   "ConvertedContactId": contact["remoteId"] } }),
        )
        .send()
        .await
        .unwrap();
    assert!(converted.status().is_success());
    let (_, body) = app
        .graphql(
            "{ deals(first: 30) { nodes { provider company { name } } } leads(first: 100, filter: { status: \"Closed - Converted\" }) { nodes { remoteId convertedContact { id name } } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert!(
        nodes(&body, "deals")
            .iter()
            .any(|d| d["company"]["name"].is_string()),
        "{body}"
    );
    let leads = nodes(&body, "leads");
    assert_eq!(leads.len(), 1, "{body}");
    assert_eq!(leads[0]["remoteId"], lead);
    assert_eq!(leads[0]["convertedContact"]["id"], contact["id"]);
    assert_eq!(leads[0]["convertedContact"]["name"], contact["name"]);
}

fn distinct<'a>(values: impl Iterator<Item = &'a Value>) -> usize {
    values
        .filter(|v| !v.is_null())
        .map(Value::to_string)
        .collect::<BTreeSet<_>>()
        .len()
}

#[tokio::test]
async fn related_lists_come_in_batches_per_provider() {
    let (app, sandbox) = both_crms().await;
    let before = counters(&sandbox).await;
    let (_, body) = app
        .graphql(
            "{ contacts(first: 100) { nodes { provider company { id name } deals(first: 5) { pageInfo { hasNextPage } nodes { id name provider } } } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let after = counters(&sandbox).await;
    let list = nodes(&body, "contacts");
    assert!(
        list.iter()
            .all(|c| c["deals"]["pageInfo"]["hasNextPage"] == false)
    );
    let of = |provider: &'static str| list.iter().filter(move |c| c["provider"] == provider);
    let deals_of = |provider: &'static str| {
        of(provider).flat_map(|c| {
            c["deals"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| &d["id"])
        })
    };
    assert!(
        deals_of("HUBSPOT").count() > 0 && deals_of("SALESFORCE").count() > 0,
        "{body}"
    );
    assert!(list.iter().all(|c| {
        c["deals"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["provider"] == c["provider"])
    }));
    // HubSpot: the search, then per relation one association batch read (≤ 100 contacts) and
    // one batch read per 100 distinct records.
    let hubspot = 1
        + 1
        + distinct(of("HUBSPOT").map(|c| &c["company"]["id"])).div_ceil(100)
        + 1
        + distinct(deals_of("HUBSPOT")).div_ceil(100);
    // Salesforce: the query, one `Id IN (...)` per 200 distinct accounts, one contact-role query
    // per 200 contacts and one opportunity query per 200 distinct opportunities.
    let salesforce = 1
        + distinct(of("SALESFORCE").map(|c| &c["company"]["id"])).div_ceil(200)
        + of("SALESFORCE").count().div_ceil(200)
        + distinct(deals_of("SALESFORCE")).div_ceil(200);
    assert_eq!(
        (total_calls(&after, "hubspot") - total_calls(&before, "hubspot")) as usize,
        hubspot,
        "{after}"
    );
    assert_eq!(
        (total_calls(&after, "salesforce") - total_calls(&before, "salesforce")) as usize,
        salesforce,
        "{after}"
    );
}

#[tokio::test]
async fn relations_agree_in_both_directions() {
    let (app, _sandbox) = both_crms().await;
    for provider in ["HUBSPOT", "SALESFORCE"] {
        let (_, body) = app
            .graphql(
                "query($p: [Provider!]) { companies(first: 5, providers: $p) { nodes { id
                    contacts(first: 20) { nodes { id company { id } } }
                    deals(first: 10) { nodes { id company { id } contacts(first: 5) { nodes { id deals(first: 10) { nodes { id } } } } } } } } }",
                json!({ "p": [provider] }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
        let companies = nodes(&body, "companies");
        let mut contacts = 0;
        let mut deals = 0;
        for company in &companies {
            for contact in company["contacts"]["nodes"].as_array().unwrap() {
                contacts += 1;
                assert_eq!(contact["company"]["id"], company["id"], "{provider}");
            }
            for deal in company["deals"]["nodes"].as_array().unwrap() {
                deals += 1;
                assert_eq!(deal["company"]["id"], company["id"], "{provider}");
                for contact in deal["contacts"]["nodes"].as_array().unwrap() {
                    let back = contact["deals"]["nodes"].as_array().unwrap();
                    assert!(
                        back.iter().any(|d| d["id"] == deal["id"]),
                        "{provider}: {contact}"
                    );
                }
            }
        }
        assert!(contacts > 0 && deals > 0, "{provider}: {body}");
    }
}

#[tokio::test]
async fn a_related_list_pages_with_its_cursor() {
    let (app, _sandbox) = both_crms().await;
    let query = "query($after: String) { companies(first: 1, providers: [SALESFORCE]) { nodes { contacts(first: 2, after: $after) { pageInfo { hasNextPage endCursor } nodes { id createdAt } } } } }";
    let mut after = Value::Null;
    let mut seen = Vec::new();
    loop {
        let (_, body) = app.graphql(query, json!({ "after": after })).await;
        assert!(body["errors"].is_null(), "{body}");
        let page = &nodes(&body, "companies")[0]["contacts"];
        seen.extend(
            page["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["id"].clone()),
        );
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    let (_, body) = app
        .graphql(
            "{ companies(first: 1, providers: [SALESFORCE]) { nodes { contacts(first: 100) { nodes { id } } } } }",
            json!({}),
        )
        .await;
    let all: Vec<Value> = nodes(&body, "companies")[0]["contacts"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].clone())
        .collect();
    assert!(all.len() > 2, "{body}");
    assert_eq!(seen, all, "pages of two add up to the whole list, in order");
}

#[tokio::test]
async fn the_owner_filter_finds_each_crms_records_of_that_user() {
    let (app, _sandbox) = both_crms().await;
    let query = "query($o: String) { contacts(first: 100, filter: { owner: $o }) { nodes { provider sf: field(name: \"OwnerId\") hs: field(name: \"hubspot_owner_id\") } }
                               deals(first: 100, filter: { owner: $o }) { nodes { provider sf: field(name: \"OwnerId\") hs: field(name: \"hubspot_owner_id\") } } }";
    let (_, body) = app
        .graphql(query, json!({ "o": "sam.seller@nexus-sales.example" }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    for list in ["contacts", "deals"] {
        let found = nodes(&body, list);
        assert!(
            found.iter().any(|n| n["provider"] == "HUBSPOT"),
            "{list}: {body}"
        );
        assert!(
            found.iter().any(|n| n["provider"] == "SALESFORCE"),
            "{list}: {body}"
        );
        for n in found {
            let owner = if n["provider"] == "SALESFORCE" {
                &n["sf"]
            } else {
                &n["hs"]
            };
            let expected = if n["provider"] == "SALESFORCE" {
                "0055e000002SandAAA"
            } else {
                "41629780"
            };
            assert_eq!(owner, expected, "{list}: {n}");
        }
    }
    let (_, body) = app
        .graphql(query, json!({ "o": "nobody@nexus-sales.example" }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(nodes(&body, "contacts").len(), 0);
    let (_, body) = app.graphql(query, json!({ "o": "not an email" })).await;
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "filter.owner",
        "{body}"
    );
}

const HUBSPOT_SEARCH: &str = "POST /crm/v3/objects/contacts/search";

#[tokio::test]
async fn a_burst_of_queries_waits_for_hubspots_limits_instead_of_drawing_429s() {
    let (app, sandbox) = both_crms().await;
    // 12 searches at once, against HubSpot's 4 per second: the gateway spreads them.
    let queries = (0..12).map(|_| {
        app.graphql(
            "{ contacts(first: 5, providers: [HUBSPOT]) { nodes { id } } }",
            json!({}),
        )
    });
    for (status, body) in futures_util::future::join_all(queries).await {
        assert_eq!(status, 200);
        assert!(body["errors"].is_null(), "{body}");
    }
    let counters = counters(&sandbox).await;
    assert_eq!(
        calls(&counters, "hubspot", HUBSPOT_SEARCH),
        12,
        "{counters}"
    );
    assert!(
        counters["hubspot"][HUBSPOT_SEARCH]["429"].is_null(),
        "no 429 from HubSpot: {counters}"
    );
    let metrics = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for family in ["nexus_upstream_calls_total{", "nexus_rate_waits_total{"] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with(family) && l.contains("provider=\"hubspot\"")),
            "{family} in /metrics"
        );
    }
}

#[tokio::test]
async fn a_call_that_cannot_fit_in_time_fails_with_retry_after_without_reaching_the_provider() {
    let (app, sandbox) = both_crms_with(|settings| {
        let hubspot = settings.providers.get_mut("hubspot").unwrap();
        hubspot.rate_capacity.insert("secondly".into(), 1);
        settings.upstream.max_retry_wait_ms = 200;
    })
    .await;
    let queries = (0..3).map(|_| {
        app.graphql(
            "{ contacts(first: 5, providers: [HUBSPOT]) { nodes { id } } }",
            json!({}),
        )
    });
    let answers = futures_util::future::join_all(queries).await;
    let refused: Vec<&Value> = answers
        .iter()
        .map(|(_, body)| body)
        .filter(|body| !body["errors"].is_null())
        .collect();
    assert_eq!(refused.len(), 2, "{answers:?}");
    for body in refused {
        let extensions = &body["errors"][0]["extensions"];
        assert_eq!(extensions["code"], "RATE_LIMITED", "{body}");
        assert_eq!(extensions["provider"], "HUBSPOT");
        let retry_after = extensions["retryAfter"].as_u64().unwrap();
        assert!((1..=3).contains(&retry_after), "a second or two: {body}");
    }
    let counters = counters(&sandbox).await;
    assert_eq!(
        calls(&counters, "hubspot", HUBSPOT_SEARCH),
        1,
        "only the call that fitted reached HubSpot: {counters}"
    );
}

#[tokio::test]
async fn a_provider_that_keeps_failing_is_left_alone_until_it_recovers() {
    let (app, sandbox) = both_crms_with(|settings| {
        settings.upstream.breaker_failures = 3;
        settings.upstream.breaker_cooldown_ms = 300;
        settings.upstream.max_retries = 0;
    })
    .await;
    let admin = reqwest::Client::new();
    let fault = admin
        .post(format!("{sandbox}/_sandbox/faults"))
        .json(&json!({ "provider": "salesforce", "status": 503 }))
        .send()
        .await
        .unwrap();
    assert!(fault.status().is_success());
    let query = "{ contacts(first: 5, providers: [SALESFORCE]) { nodes { id } } }";
    for _ in 0..3 {
        let (_, body) = app.graphql(query, json!({})).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "PROVIDER_UNAVAILABLE",
            "{body}"
        );
    }
    let route = "GET /services/data/v58.0/query";
    let reached = counters(&sandbox).await["salesforce"][route]["503"].as_u64();
    assert_eq!(reached, Some(3));

    // Open: calls fail at once, and Salesforce sees none of them.
    let (_, body) = app.graphql(query, json!({})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "PROVIDER_UNAVAILABLE",
        "{body}"
    );
    assert!(
        body["errors"][0]["extensions"]["retryAfter"].is_number(),
        "{body}"
    );
    assert_eq!(
        counters(&sandbox).await["salesforce"][route]["503"].as_u64(),
        reached
    );

    // Salesforce recovers; after the cool-down one call probes, and it succeeds.
    admin
        .delete(format!("{sandbox}/_sandbox/faults"))
        .send()
        .await
        .unwrap();
    let body = eventually(
        "the breaker to close",
        std::time::Duration::from_secs(10),
        async || {
            let (_, body) = app.graphql(query, json!({})).await;
            body["errors"].is_null().then_some(body)
        },
    )
    .await;
    assert_eq!(nodes(&body, "contacts").len(), 5);
}

#[tokio::test]
async fn a_spent_daily_quota_stays_spent_across_a_restart() {
    let (app, _sandbox) = both_crms_with(|settings| {
        let salesforce = settings.providers.get_mut("salesforce").unwrap();
        salesforce.rate_capacity.insert("query".into(), 3);
    })
    .await;
    let query = "{ leads(first: 2) { nodes { id } } }";
    for _ in 0..3 {
        let (_, body) = app.graphql(query, json!({})).await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let refused = |body: &Value| {
        let extensions = &body["errors"][0]["extensions"];
        assert_eq!(extensions["code"], "RATE_LIMITED", "{body}");
        assert_eq!(extensions["provider"], "SALESFORCE");
        let retry_after = extensions["retryAfter"].as_u64().unwrap();
        assert!(
            (1..=86_400).contains(&retry_after),
            "until tomorrow: {body}"
        );
    };
    refused(&app.graphql(query, json!({})).await.1);

    // The same database, a new gateway: the day's count is still there.
    let restarted = nexus::startup::Application::build_with(&app.settings, app.db.clone())
        .await
        .unwrap();
    let origin = format!("http://{}", restarted.local_addr());
    tokio::spawn(restarted.run_until_stopped(std::future::pending()));
    let answer = reqwest::Client::new()
        .post(format!("{origin}/graphql"))
        .bearer_auth(&app.key)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    refused(&answer.json::<Value>().await.unwrap());
}

#[tokio::test]
async fn retries_during_an_outage_stay_within_the_budget() {
    let (app, sandbox) = both_crms_with(|settings| {
        settings.upstream.breaker_failures = 1_000;
        settings.upstream.max_retries = 2;
        settings.upstream.retry_budget_ratio = 0.2;
        settings.upstream.retry_budget_reserve = 2;
    })
    .await;
    let fault = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/faults"))
        .json(&json!({ "provider": "salesforce", "status": 503 }))
        .send()
        .await
        .unwrap();
    assert!(fault.status().is_success());
    for _ in 0..20 {
        let (_, body) = app
            .graphql("{ leads(first: 1) { nodes { id } } }", json!({}))
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "PROVIDER_UNAVAILABLE",
            "{body}"
        );
    }
    // 20 calls could have become 60 tries; the budget allows 2 + 20 × 0.2 retries.
    let tries = counters(&sandbox).await["salesforce"]["GET /services/data/v58.0/query"]["503"]
        .as_u64()
        .unwrap();
    assert!((20..=26).contains(&tries), "{tries} tries");
}

#[tokio::test]
async fn a_record_arriving_at_the_top_of_a_crm_not_yet_served_is_not_served_late() {
    let (app, sandbox) = both_crms().await;
    let (_, first) = app.graphql(CONTACTS, json!({ "first": 1 })).await;
    let served = nodes(&first, "contacts")[0].clone();
    let cursor = first["data"]["contacts"]["pageInfo"]["endCursor"].clone();
    // The newest record of the CRM that has served nothing yet, created after page one.
    let change = if served["provider"] == "HUBSPOT" {
        json!({ "provider": "salesforce", "object": "Contact", "op": "create", "fields": { "LastName": "Latecomer" } })
    } else {
        json!({ "provider": "hubspot", "object": "contacts", "op": "create", "fields": { "lastname": "Latecomer" } })
    };
    let answer = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/records"))
        .json(&change)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
    let (_, second) = app
        .graphql(CONTACTS, json!({ "first": 20, "after": cursor }))
        .await;
    let rest = nodes(&second, "contacts");
    assert!(!rest.is_empty(), "{second}");
    assert!(
        rest.iter().all(|n| created(n) <= created(&served)),
        "nothing newer than page one comes after it: {rest:?}"
    );
    assert!(rest.iter().all(|n| n["name"] != "Latecomer"));
}
