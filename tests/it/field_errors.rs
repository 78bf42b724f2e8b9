//! Field errors as the GraphQL spec wants them: a relation whose provider call fails is present
//! and `null` (nullable) or takes its nearest nullable ancestor with it (non-null), with one error
//! naming its path and code, and everything else in the response intact. Faults come from the
//! sandbox (`/_sandbox/faults`), each on one relation's calls; `chaos_*` runs many queries under
//! seeded random faults and checks every response against the query's shape.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Map, Value, json};

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox_with},
    helpers::{TestApp, admin},
};

const PROVIDERS: [&str; 5] = ["HUBSPOT", "SALESFORCE", "GMAIL", "GOOGLE_CALENDAR", "SLACK"];

/// A gateway with both CRMs, Gmail, Google Calendar and Slack connected; no retries and no
/// breaker, so every faulted call fails once, the same way each time.
async fn everything_connected() -> (TestApp, String) {
    let (app, sandbox) = pointed_at_sandbox_with(false, |settings| {
        settings.upstream.max_retries = 0;
        settings.upstream.breaker_failures = 1_000_000;
        for provider in ["hubspot", "salesforce", "slack"] {
            settings.providers.get_mut(provider).unwrap().rate_limits = Some(false);
        }
    })
    .await;
    for provider in PROVIDERS {
        let back = consent(&connect_link(&app, provider, None).await, "approve").await;
        assert_eq!(callback(&back).await.0, 200, "{provider} connects");
    }
    for provider in ["hubspot", "salesforce", "slack"] {
        admin(
            &sandbox,
            "/limits",
            json!({ "provider": provider, "enforce": false }),
        )
        .await;
    }
    convert_a_lead(&app, &sandbox).await;
    (app, sandbox)
}

/// Converts a Salesforce lead into a contact, so `Lead.convertedContact` has one to fetch.
async fn convert_a_lead(app: &TestApp, sandbox: &str) {
    let (_, body) = app
        .graphql(
            "{ leads(first: 1) { nodes { remoteId } } contacts(first: 1, providers: [SALESFORCE]) { nodes { remoteId } } }",
            json!({}),
        )
        .await;
    admin(
        sandbox,
        "/records",
        json!({ "provider": "salesforce", "object": "Lead", "op": "update",
                "id": body["data"]["leads"]["nodes"][0]["remoteId"],
                "fields": { "Status": "Closed - Converted", "IsConverted": true,
                            "ConvertedContactId": body["data"]["contacts"]["nodes"][0]["remoteId"] } }),
    )
    .await;
}

/// Fails every call of `provider` on `path` (or whose query string contains `query`) with 503.
async fn fail(sandbox: &str, provider: &str, path: Option<&str>, query: Option<&str>) {
    admin(
        sandbox,
        "/faults",
        json!({ "provider": provider, "path": path, "query": query, "status": 503 }),
    )
    .await;
}

async fn heal(sandbox: &str) {
    let answer = reqwest::Client::new()
        .delete(format!("{sandbox}/_sandbox/faults"))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
}

fn errors_of(body: &Value) -> Vec<Value> {
    body["errors"].as_array().cloned().unwrap_or_default()
}

fn path_of(error: &Value) -> Vec<Value> {
    error["path"].as_array().cloned().unwrap_or_default()
}

/// The list's nodes, each checked to have every key of `keys`.
fn nodes_with(body: &Value, list: &str, keys: &[&str]) -> Vec<Value> {
    let nodes = body["data"][list]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{list} has nodes: {body}"))
        .clone();
    assert!(!nodes.is_empty(), "{body}");
    for node in &nodes {
        for key in keys {
            assert!(node.get(*key).is_some(), "`{key}` is present: {node}");
        }
    }
    nodes
}

/// A nullable relation that fails: on every record of the list whose relation was asked for,
/// the key is present and null, and one error names it; the record's other fields are intact.
async fn nullable_relation_fails(
    app: &TestApp,
    query: &str,
    list: &str,
    relation: &str,
    provider: &str,
) {
    let (status, body) = app.graphql(query, json!({})).await;
    assert_eq!(status, 200);
    let nodes = nodes_with(&body, list, &["name", relation]);
    let errors = errors_of(&body);
    assert!(!errors.is_empty(), "{relation} failed: {body}");
    for error in &errors {
        let path = path_of(error);
        assert_eq!(path.len(), 4, "{error}");
        assert_eq!(path[0], list);
        assert_eq!(path[1], "nodes");
        assert_eq!(path[3], relation, "{error}");
        let index = path[2].as_u64().unwrap() as usize;
        assert!(nodes[index][relation].is_null(), "{body}");
        assert!(nodes[index]["name"].is_string(), "{body}");
        assert_eq!(
            error["extensions"]["code"], "PROVIDER_UNAVAILABLE",
            "{error}"
        );
        assert_eq!(error["extensions"]["provider"], provider, "{error}");
    }
    // Each failed record has its one error.
    let mut failed: Vec<u64> = errors
        .iter()
        .map(|e| path_of(e)[2].as_u64().unwrap())
        .collect();
    failed.dedup();
    assert_eq!(failed.len(), errors.len(), "{body}");
}

#[tokio::test]
async fn a_nullable_relation_whose_loader_fails_is_null_with_its_error() {
    let (app, sandbox) = everything_connected().await;
    // (query, list, relation, provider, faulted path, faulted query text)
    let cases = [
        (
            "{ contacts(first: 8, providers: [HUBSPOT]) { nodes { id name company { id name } } } }",
            "contacts",
            "company",
            "hubspot",
            Some("/crm/v4/associations/contacts/companies"),
            None,
        ),
        (
            "{ contacts(first: 8, providers: [SALESFORCE]) { nodes { id name company { id name } } } }",
            "contacts",
            "company",
            "salesforce",
            None,
            Some("FROM Account WHERE Id IN"),
        ),
        (
            "{ deals(first: 8, providers: [HUBSPOT]) { nodes { id name company { id name } } } }",
            "deals",
            "company",
            "hubspot",
            Some("/crm/v4/associations/deals/companies"),
            None,
        ),
        (
            "{ deals(first: 8, providers: [SALESFORCE]) { nodes { id name company { id name } } } }",
            "deals",
            "company",
            "salesforce",
            None,
            Some("FROM Account WHERE Id IN"),
        ),
        (
            "{ leads(first: 20, filter: { status: \"Closed - Converted\" }) { nodes { id name convertedContact { id name } } } }",
            "leads",
            "convertedContact",
            "salesforce",
            None,
            Some("FROM Contact WHERE Id IN"),
        ),
    ];
    for (query, list, relation, provider, path, text) in cases {
        fail(&sandbox, provider, path, text).await;
        nullable_relation_fails(&app, query, list, relation, &provider.to_uppercase()).await;
        heal(&sandbox).await;
        // Healed, the same query has no error: the fault was the relation's alone.
        let (_, body) = app.graphql(query, json!({})).await;
        assert!(body["errors"].is_null(), "{relation} of {list}: {body}");
    }
}

#[tokio::test]
async fn a_message_author_whose_lookup_fails_is_null_with_its_error() {
    let (app, sandbox) = everything_connected().await;
    fail(&sandbox, "slack", Some("/api/users"), None).await;
    let (_, body) = app
        .graphql(
            "{ messages(first: 5, providers: [SLACK]) { nodes { id text author { id name email } } } }",
            json!({}),
        )
        .await;
    let nodes = nodes_with(&body, "messages", &["text", "author"]);
    let errors = errors_of(&body);
    assert_eq!(errors.len(), nodes.len(), "one error a message: {body}");
    for error in &errors {
        let path = path_of(error);
        assert_eq!(path[3], "author", "{error}");
        let index = path[2].as_u64().unwrap() as usize;
        assert!(nodes[index]["author"].is_null());
        assert!(nodes[index]["text"].is_string());
        assert_eq!(error["extensions"]["code"], "PROVIDER_UNAVAILABLE");
    }
}

#[tokio::test]
async fn a_non_null_relation_that_fails_nulls_its_nearest_nullable_parent() {
    let (app, sandbox) = everything_connected().await;

    // Company.contacts (non-null) fails: the deal's company (nullable) becomes null; the deal
    // keeps its other fields, and the error names Company.contacts.
    let query = "{ deals(first: 6, providers: [HUBSPOT]) { nodes { id name company { name contacts(first: 2) { nodes { name } } } } } }";
    let (_, healthy) = app.graphql(query, json!({})).await;
    assert!(healthy["errors"].is_null(), "{healthy}");
    let with_company: Vec<usize> = nodes_with(&healthy, "deals", &["company"])
        .iter()
        .enumerate()
        .filter(|(_, d)| d["company"].is_object())
        .map(|(i, _)| i)
        .collect();
    assert!(!with_company.is_empty(), "{healthy}");
    fail(
        &sandbox,
        "hubspot",
        Some("/crm/v4/associations/companies/contacts"),
        None,
    )
    .await;
    let (_, body) = app.graphql(query, json!({})).await;
    let deals = nodes_with(&body, "deals", &["id", "name", "company"]);
    for index in &with_company {
        assert!(deals[*index]["company"].is_null(), "{body}");
        assert_eq!(
            deals[*index]["name"],
            healthy["data"]["deals"]["nodes"][*index]["name"]
        );
    }
    let errors = errors_of(&body);
    assert_eq!(errors.len(), with_company.len(), "{body}");
    for error in &errors {
        let path = path_of(error);
        assert_eq!(path[3..], [json!("company"), json!("contacts")], "{error}");
        assert_eq!(error["extensions"]["code"], "PROVIDER_UNAVAILABLE");
    }
    heal(&sandbox).await;

    // Contact.deals, Deal.contacts, Company.deals through `node(id:)`: node (nullable) is null.
    let (_, lists) = app
        .graphql(
            "{ contacts(first: 1, providers: [HUBSPOT]) { nodes { id } }
               deals(first: 1, providers: [HUBSPOT]) { nodes { id } }
               companies(first: 1, providers: [HUBSPOT]) { nodes { id } } }",
            json!({}),
        )
        .await;
    let cases = [
        (
            "contacts",
            "Contact",
            "deals",
            "/crm/v4/associations/contacts/deals",
        ),
        (
            "deals",
            "Deal",
            "contacts",
            "/crm/v4/associations/deals/contacts",
        ),
        (
            "companies",
            "Company",
            "deals",
            "/crm/v4/associations/companies/deals",
        ),
    ];
    for (list, kind, relation, path) in cases {
        let id = lists["data"][list]["nodes"][0]["id"].clone();
        let query = format!(
            "query($id: ID!) {{ node(id: $id) {{ id ... on {kind} {{ name {relation}(first: 2) {{ nodes {{ id }} }} }} }} }}"
        );
        fail(&sandbox, "hubspot", Some(path), None).await;
        let (_, body) = app.graphql(&query, json!({ "id": id })).await;
        assert_eq!(
            body["data"],
            json!({ "node": null }),
            "{kind}.{relation}: {body}"
        );
        let errors = errors_of(&body);
        assert_eq!(errors.len(), 1, "{body}");
        assert_eq!(path_of(&errors[0]), [json!("node"), json!(relation)]);
        assert_eq!(errors[0]["extensions"]["code"], "PROVIDER_UNAVAILABLE");
        heal(&sandbox).await;
    }

    // In a list, every position from Contact.deals up to the root is non-null: `data` is null.
    fail(
        &sandbox,
        "hubspot",
        Some("/crm/v4/associations/contacts/deals"),
        None,
    )
    .await;
    let (status, body) = app
        .graphql(
            "{ contacts(first: 3, providers: [HUBSPOT]) { nodes { name deals(first: 2) { nodes { name } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(body["data"].is_null(), "{body}");
    let errors = errors_of(&body);
    assert_eq!(errors.len(), 3, "{body}");
    for error in &errors {
        assert_eq!(path_of(error)[3], "deals", "{error}");
    }
}

#[tokio::test]
async fn contact_mail_events_and_messages_that_fail_keep_their_key_and_name_their_path() {
    let (app, sandbox) = everything_connected().await;
    let cases = [
        ("emails", "gmail", "GMAIL", "subject"),
        ("events", "google_calendar", "GOOGLE_CALENDAR", "title"),
        ("messages", "slack", "SLACK", "text"),
    ];
    for (relation, provider, enum_value, detail) in cases {
        fail(&sandbox, provider, None, None).await;
        let query = format!(
            "{{ contacts(first: 5, providers: [HUBSPOT]) {{ nodes {{ name email {relation}(first: 2) {{ nodes {{ {detail} }} }} }} }} }}"
        );
        let (_, body) = app.graphql(&query, json!({})).await;
        let contacts = nodes_with(&body, "contacts", &["name", relation]);
        let errors = errors_of(&body);
        assert!(!errors.is_empty(), "{relation}: {body}");
        for error in &errors {
            let path = path_of(error);
            assert_eq!(path[3], relation, "{error}");
            assert_eq!(error["extensions"]["provider"], enum_value, "{error}");
            // The provider's failure is reported beside the list, which the others still feed.
            let index = path[2].as_u64().unwrap() as usize;
            assert!(contacts[index][relation]["nodes"].is_array(), "{body}");
        }
        heal(&sandbox).await;
    }
}

#[tokio::test]
async fn node_alone_that_fails_is_a_null_node_not_null_data() {
    let (app, sandbox) = everything_connected().await;
    let (_, body) = app
        .graphql("{ node(id: \"not-an-id\") { id } }", json!({}))
        .await;
    assert_eq!(body["data"], json!({ "node": null }), "{body}");
    assert_eq!(path_of(&errors_of(&body)[0]), [json!("node")]);
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");

    let (_, list) = app
        .graphql(
            "{ contacts(first: 1, providers: [HUBSPOT]) { nodes { id } } }",
            json!({}),
        )
        .await;
    let id = list["data"]["contacts"]["nodes"][0]["id"].clone();
    fail(&sandbox, "hubspot", Some("/crm/v3/objects/contacts"), None).await;
    let (_, body) = app
        .graphql(
            "query($id: ID!) { node(id: $id) { id ... on Contact { name } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(body["data"], json!({ "node": null }), "{body}");
    assert_eq!(path_of(&errors_of(&body)[0]), [json!("node")]);
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "PROVIDER_UNAVAILABLE"
    );
}

/// A GraphQL output type, as much of it as a response check needs.
#[derive(Debug, Clone)]
enum Ty {
    Leaf,
    Object(BTreeMap<&'static str, Ty>),
    List(Box<Ty>),
    NonNull(Box<Ty>),
}

fn nn(ty: Ty) -> Ty {
    Ty::NonNull(Box::new(ty))
}

fn obj(fields: &[(&'static str, Ty)]) -> Ty {
    Ty::Object(fields.iter().cloned().collect())
}

fn leaf() -> Ty {
    Ty::Leaf
}

/// `XConnection!` with `nodes: [X!]!`.
fn page(node: Ty) -> Ty {
    nn(obj(&[("nodes", nn(Ty::List(Box::new(nn(node)))))]))
}

impl Ty {
    fn nullable(&self) -> bool {
        !matches!(self, Ty::NonNull(_))
    }

    fn inner(&self) -> &Ty {
        match self {
            Ty::NonNull(ty) => ty,
            ty => ty,
        }
    }

    /// The type at one step of a path.
    fn step(&self, segment: &Value) -> Option<&Ty> {
        match (self.inner(), segment) {
            (Ty::Object(fields), Value::String(name)) => fields.get(name.as_str()),
            (Ty::List(item), Value::Number(_)) => Some(item),
            _ => None,
        }
    }
}

/// Why a response breaks the spec's rules for its query's shape, if it does: a selected key
/// missing, a non-null position null, an error whose null is not at the nearest nullable
/// position above its field. Errors on a root list or on a field of `reported_beside` may name
/// a field with a value: a merged list reports a failed provider beside the others' records.
fn malformed(root: &Ty, body: &Value, reported_beside: &[&str]) -> Option<String> {
    let errors = errors_of(body);
    if body["data"].is_null() {
        // Propagated to the root: some error's field has only non-null positions above it.
        let justified = errors.iter().any(|e| {
            let path = path_of(e);
            !path.is_empty() && non_null_chain(root, &path, 0)
        });
        return (!justified).then(|| format!("data is null without a reason: {body}"));
    }
    if let Some(why) = shape_holds(root, &body["data"], "data") {
        return Some(why);
    }
    for error in &errors {
        let path = path_of(error);
        if path.is_empty() {
            return Some(format!("an error without a path: {error}"));
        }
        // Walk down to where the data stops: a null that must be the nearest nullable position.
        let mut value = &body["data"];
        let mut ty = root;
        let mut depth = 0;
        while depth < path.len() && !value.is_null() {
            value = child(value, &path[depth]);
            let Some(next) = ty.step(&path[depth]) else {
                return Some(format!("an error path outside the query: {error}"));
            };
            ty = next;
            depth += 1;
        }
        if value.is_null() {
            if !ty.nullable() {
                return Some(format!("a non-null position is null: {error}"));
            }
            if !non_null_chain(root, &path, depth) {
                return Some(format!(
                    "null is not at the nearest nullable position: {error}"
                ));
            }
        } else {
            // Lists report a provider's failure beside the others' records.
            let field = path.last().and_then(Value::as_str).unwrap_or_default();
            if path.len() > 1 && !reported_beside.contains(&field) {
                return Some(format!("an error on a field that has a value: {error}"));
            }
        }
    }
    None
}

/// The value one step of a path down.
fn child<'v>(value: &'v Value, segment: &Value) -> &'v Value {
    match segment {
        Value::Number(n) => &value[n.as_u64().unwrap_or(u64::MAX) as usize],
        other => &value[other.as_str().unwrap_or_default()],
    }
}

/// Whether every position of `path` after its first `from` steps is non-null.
fn non_null_chain(root: &Ty, path: &[Value], from: usize) -> bool {
    let mut ty = root;
    for (depth, segment) in path.iter().enumerate() {
        let Some(next) = ty.step(segment) else {
            return false;
        };
        ty = next;
        if depth >= from && ty.nullable() {
            return false;
        }
    }
    true
}

/// Whether `value` has every key its type selects, and null only where nullable.
fn shape_holds(ty: &Ty, value: &Value, at: &str) -> Option<String> {
    match (ty, value) {
        (Ty::NonNull(_), Value::Null) => Some(format!("{at} is non-null but null")),
        (_, Value::Null) => None,
        (Ty::NonNull(inner), value) => shape_holds(inner, value, at),
        (Ty::Leaf, _) => None,
        (Ty::List(item), Value::Array(items)) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| shape_holds(item, v, &format!("{at}.{i}"))),
        (Ty::Object(fields), Value::Object(map)) => object_holds(fields, map, at),
        (_, other) => Some(format!("{at} has the wrong kind of value: {other}")),
    }
}

fn object_holds(
    fields: &BTreeMap<&'static str, Ty>,
    map: &Map<String, Value>,
    at: &str,
) -> Option<String> {
    if map.len() != fields.len() {
        let keys: Vec<&String> = map.keys().collect();
        return Some(format!("{at} has keys {keys:?}, not {:?}", fields.keys()));
    }
    fields.iter().find_map(|(key, ty)| match map.get(*key) {
        None => Some(format!("{at}.{key} is missing")),
        Some(value) => shape_holds(ty, value, &format!("{at}.{key}")),
    })
}

/// The chaos run's queries, each with its shape: every relation of the schema, some reached
/// through `node(id:)` (nullable) and some through lists (non-null down to the root).
fn chaos_queries() -> Vec<(&'static str, Ty)> {
    let company = || obj(&[("name", leaf())]);
    let named = || obj(&[("name", leaf())]);
    let contact = obj(&[
        ("name", leaf()),
        ("company", company()),
        ("emails", page(obj(&[("subject", leaf())]))),
        ("events", page(obj(&[("title", leaf())]))),
        (
            "messages",
            page(obj(&[
                ("text", leaf()),
                ("author", obj(&[("name", leaf())])),
            ])),
        ),
    ]);
    let deal = obj(&[
        ("name", leaf()),
        (
            "company",
            obj(&[("name", leaf()), ("contacts", page(named()))]),
        ),
    ]);
    let lead = obj(&[
        ("name", leaf()),
        ("convertedContact", obj(&[("name", leaf())])),
    ]);
    vec![
        (
            "{ contacts(first: 6) { nodes { name company { name }
                 emails(first: 2) { nodes { subject } } events(first: 2) { nodes { title } }
                 messages(first: 2) { nodes { text author { name } } } } } }",
            obj(&[("contacts", page(contact))]),
        ),
        (
            "{ deals(first: 6) { nodes { name company { name contacts(first: 2) { nodes { name } } } } }
               leads(first: 10, filter: { status: \"Closed - Converted\" }) { nodes { name convertedContact { name } } } }",
            obj(&[("deals", page(deal)), ("leads", page(lead))]),
        ),
        (
            "{ a: contacts(first: 4) { nodes { name deals(first: 2) { nodes { name } } } } }",
            obj(&[(
                "a",
                page(obj(&[("name", leaf()), ("deals", page(named()))])),
            )]),
        ),
        (
            "{ companies(first: 4) { nodes { name contacts(first: 2) { nodes { name company { name } } }
                 deals(first: 2) { nodes { name } } } } }",
            obj(&[(
                "companies",
                page(obj(&[
                    ("name", leaf()),
                    (
                        "contacts",
                        page(obj(&[("name", leaf()), ("company", company())])),
                    ),
                    ("deals", page(named())),
                ])),
            )]),
        ),
    ]
}

/// The relation calls a chaos step may fail: (provider, path, query text).
const CHAOS_FAULTS: &[(&str, Option<&str>, Option<&str>)] = &[
    (
        "hubspot",
        Some("/crm/v4/associations/contacts/companies"),
        None,
    ),
    ("hubspot", Some("/crm/v4/associations/contacts/deals"), None),
    (
        "hubspot",
        Some("/crm/v4/associations/deals/companies"),
        None,
    ),
    (
        "hubspot",
        Some("/crm/v4/associations/companies/contacts"),
        None,
    ),
    (
        "hubspot",
        Some("/crm/v4/associations/companies/deals"),
        None,
    ),
    (
        "hubspot",
        Some("/crm/v3/objects/companies/batch/read"),
        None,
    ),
    ("salesforce", None, Some("FROM Account WHERE Id IN")),
    ("salesforce", None, Some("FROM OpportunityContactRole")),
    ("salesforce", None, Some("FROM Contact WHERE Id IN")),
    ("salesforce", None, Some("WHERE AccountId IN")),
    ("gmail", None, None),
    ("google_calendar", None, None),
    ("slack", Some("/api/users"), None),
    ("slack", Some("/api/conversations.history"), None),
];

#[tokio::test]
async fn chaos_every_response_under_random_relation_faults_is_well_formed() {
    let (app, sandbox) = everything_connected().await;
    let queries = chaos_queries();
    let runs: usize = std::env::var("NEXUS_CHAOS_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(60);
    let mut rng = StdRng::seed_from_u64(28);
    let (mut with_errors, mut error_count, mut null_data) = (0, 0, 0);
    for run in 0..runs {
        heal(&sandbox).await;
        for (provider, path, text) in CHAOS_FAULTS {
            if rng.random_bool(0.2) {
                fail(&sandbox, provider, *path, *text).await;
            }
        }
        let (query, shape) = &queries[rng.random_range(0..queries.len())];
        let (status, body) = app.graphql(query, json!({})).await;
        assert_eq!(status, 200, "run {run}: {body}");
        if let Some(why) = malformed(shape, &body, &["emails", "events", "messages"]) {
            panic!("run {run}: {why}\n{query}");
        }
        let errors = errors_of(&body).len();
        with_errors += usize::from(errors > 0);
        error_count += errors;
        null_data += usize::from(body["data"].is_null());
    }
    heal(&sandbox).await;
    println!(
        "chaos: {runs} responses, {with_errors} with errors, {error_count} errors, \
         {null_data} with data null (propagated to the root), {runs} well-formed"
    );
    assert!(with_errors > runs / 4, "the faults did fail fields");
}
