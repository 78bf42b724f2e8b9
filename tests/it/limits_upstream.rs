//! The upstream stack's limits against the sandbox, through GraphQL: Salesforce's own report of
//! the org's API usage (`Sforce-Limit-Info`) stops calls once the org is spent, even while our
//! daily counters have room; Gmail's and Google Calendar's daily quotas and Outlook's mailbox
//! limit refuse once spent; daily quotas and breakers show in `/metrics`; a provider failing
//! a fifth of its calls serves every query with retries that stay within the budget; and neither
//! an oversized filter (refused before any call) nor the provider's 4xx answers open a breaker.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    connect::{callback, connect_link, connect_link_as, consent, pointed_at_sandbox_with},
    crm::{calls, counters},
    helpers::{TestApp, eventually},
};

const QUERY: &str = "GET /services/data/v58.0/query";
const LEADS: &str = "{ leads(first: 1) { nodes { id } } }";

async fn salesforce_with(adjust: impl FnOnce(&mut nexus::config::Settings)) -> (TestApp, String) {
    let (app, sandbox) = pointed_at_sandbox_with(false, adjust).await;
    let back = consent(&connect_link(&app, "SALESFORCE", None).await, "approve").await;
    assert_eq!(callback(&back).await.0, 200, "Salesforce connects");
    (app, sandbox)
}

async fn admin(sandbox: &str, path: &str, body: Value) {
    let answer = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{path}: {}", answer.status());
}

async fn metrics(app: &TestApp) -> String {
    reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the first sample of `family` whose labels hold every one of `labels`.
fn sample(metrics: &str, family: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{family}{{")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, value)| value.parse().ok())
}

#[tokio::test]
async fn once_salesforce_reports_the_org_quota_spent_calls_fail_fast_until_tomorrow() {
    let (app, sandbox) = salesforce_with(|_| {}).await;
    // The org's other apps have spent all but two of its 100,000 calls of the day.
    let org_limit = nexus_sandbox::salesforce::ORG_DAILY_LIMIT;
    admin(
        &sandbox,
        "usage",
        json!({ "provider": "salesforce", "calls": org_limit - 2 }),
    )
    .await;
    for _ in 0..2 {
        let (_, body) = app.graphql(LEADS, json!({})).await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let before = counters(&sandbox).await;
    assert_eq!(calls(&before, "salesforce", QUERY), 2, "{before}");

    // Our own daily `query` class (15,000) has room; the org's figure does not.
    let (_, body) = app.graphql(LEADS, json!({})).await;
    let extensions = &body["errors"][0]["extensions"];
    assert_eq!(extensions["code"], "RATE_LIMITED", "{body}");
    assert_eq!(extensions["provider"], "SALESFORCE");
    let retry_after = extensions["retryAfter"].as_u64().unwrap();
    assert!(
        (1..=86_400).contains(&retry_after),
        "until midnight UTC: {body}"
    );
    assert_eq!(
        counters(&sandbox).await["salesforce"],
        before["salesforce"],
        "refused without reaching Salesforce"
    );

    let metrics = metrics(&app).await;
    assert!(
        sample(
            &metrics,
            "nexus_quota_remaining",
            &["provider=\"salesforce\"", "class=\"api_usage\""]
        )
        .is_some(),
        "the org's figure as a gauge"
    );
    let query_left = sample(
        &metrics,
        "nexus_quota_remaining",
        &["provider=\"salesforce\"", "class=\"query\""],
    )
    .expect("the daily query class as a gauge");
    assert!((0.0..15_000.0).contains(&query_left), "{query_left}");
}

#[tokio::test]
async fn with_a_fifth_of_calls_failing_every_query_succeeds_within_the_retry_budget() {
    const QUERIES: u64 = 40;
    const RESERVE: u32 = 20;
    let (app, sandbox) = salesforce_with(|settings| {
        settings.upstream.max_retries = 6;
        settings.upstream.retry_budget_ratio = 0.2;
        settings.upstream.retry_budget_reserve = RESERVE;
    })
    .await;
    admin(
        &sandbox,
        "faults",
        json!({ "provider": "salesforce", "error_rate": 0.2, "status": 503 }),
    )
    .await;
    for _ in 0..QUERIES {
        let (_, body) = app.graphql(LEADS, json!({})).await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let counters = counters(&sandbox).await;
    assert_eq!(calls(&counters, "salesforce", QUERY), QUERIES, "{counters}");
    // Every 503 was retried (every query succeeded): the retries are the 503s, and the budget
    // holds the reserve plus a fifth of the calls.
    let retries = counters["salesforce"][QUERY]["503"].as_u64().unwrap_or(0);
    assert!(
        retries > 0,
        "a fifth of {QUERIES} calls failed at least once: {counters}"
    );
    let budget = u64::from(RESERVE) + QUERIES / 5;
    assert!(retries <= budget, "{retries} retries, budget {budget}");
    let metrics = metrics(&app).await;
    let counted = sample(
        &metrics,
        "nexus_upstream_retries_total",
        &["provider=\"salesforce\""],
    )
    .expect("retries in /metrics");
    // (The recorder is the process's: other tests' Salesforce retries may add to it.)
    assert!(
        counted >= retries as f64,
        "{counted} counted, {retries} seen"
    );
}

#[tokio::test]
async fn an_open_breaker_shows_in_metrics_and_closes_when_the_provider_recovers() {
    let (app, sandbox) = salesforce_with(|settings| {
        settings.upstream.breaker_failures = 1;
        settings.upstream.breaker_cooldown_ms = 200;
        settings.upstream.max_retries = 0;
    })
    .await;
    let open = async || {
        sample(
            &metrics(&app).await,
            "nexus_breaker_open",
            &["provider=\"salesforce\""],
        )
        .unwrap_or(0.0)
    };
    admin(
        &sandbox,
        "faults",
        json!({ "provider": "salesforce", "status": 503 }),
    )
    .await;
    let (_, body) = app.graphql(LEADS, json!({})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "PROVIDER_UNAVAILABLE",
        "{body}"
    );
    // (The gauge is the process's; other tests' breakers only add to it.)
    assert!(open().await >= 1.0, "this connection's breaker is open");
    let faults = reqwest::Client::new()
        .delete(format!("{sandbox}/_sandbox/faults"))
        .send()
        .await
        .unwrap();
    assert!(faults.status().is_success());
    // Refused at once while the breaker cools down; then a call probes, and closes it.
    let body = eventually(
        "the breaker's probe to go through",
        Duration::from_secs(5),
        async || {
            let (_, body) = app.graphql(LEADS, json!({})).await;
            (body["errors"][0]["extensions"]["code"] != "PROVIDER_UNAVAILABLE").then_some(body)
        },
    )
    .await;
    assert!(body["errors"].is_null(), "the probe succeeds: {body}");
}

#[tokio::test]
async fn a_huge_filter_is_refused_and_the_providers_4xx_answers_never_open_the_breaker() {
    let (app, sandbox) = salesforce_with(|settings| {
        settings.upstream.breaker_failures = 3;
        settings.upstream.breaker_cooldown_ms = 60_000;
        settings.upstream.max_retries = 0;
    })
    .await;
    const CONTACTS: &str =
        "query($filter: ContactFilter) { contacts(first: 1, filter: $filter) { nodes { id } } }";
    let before = all_calls(&counters(&sandbox).await, "salesforce");
    let huge = "a".repeat(100 * 1024);
    let (status, body) = app
        .graphql(CONTACTS, json!({ "filter": { "nameContains": huge } }))
        .await;
    assert_eq!(status, 200);
    let extensions = &body["errors"][0]["extensions"];
    assert_eq!(extensions["code"], "BAD_USER_INPUT", "{body}");
    assert_eq!(extensions["field"], "filter.nameContains", "{body}");
    assert_eq!(
        all_calls(&counters(&sandbox).await, "salesforce"),
        before,
        "refused without reaching Salesforce"
    );

    // Ten calls that Salesforce refuses as bad requests: it answered, so it is up.
    admin(
        &sandbox,
        "faults",
        json!({ "provider": "salesforce", "status": 400, "count": 10 }),
    )
    .await;
    for _ in 0..10 {
        let (_, body) = app.graphql(LEADS, json!({})).await;
        let code = &body["errors"][0]["extensions"]["code"];
        assert!(code.is_string(), "{body}");
        assert_ne!(code, "PROVIDER_UNAVAILABLE", "{body}");
    }
    let counters = counters(&sandbox).await;
    assert_eq!(counters["salesforce"][QUERY]["400"], 10, "{counters}");
    let (_, body) = app.graphql(LEADS, json!({})).await;
    assert!(
        body["errors"].is_null(),
        "the breaker stayed closed: {body}"
    );
}

/// Connects `providers` to a fresh gateway whose settings `adjust` changed.
async fn connected(
    providers: &[&str],
    adjust: impl FnOnce(&mut nexus::config::Settings),
) -> (TestApp, String) {
    let (app, sandbox) = pointed_at_sandbox_with(false, adjust).await;
    for provider in providers {
        let back = consent(&connect_link(&app, provider, None).await, "approve").await;
        assert_eq!(callback(&back).await.0, 200, "{provider} connects");
    }
    (app, sandbox)
}

/// Every call the sandbox counted for `provider`, whatever its route and status.
fn all_calls(counters: &Value, provider: &str) -> u64 {
    counters[provider]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(_, statuses)| statuses.as_object().into_iter().flatten())
        .filter_map(|(_, n)| n.as_u64())
        .sum()
}

fn assert_refused_until_tomorrow(body: &Value, provider: &str) {
    let extensions = &body["errors"][0]["extensions"];
    assert_eq!(extensions["code"], "RATE_LIMITED", "{body}");
    assert_eq!(extensions["provider"], provider, "{body}");
    let retry_after = extensions["retryAfter"].as_u64().unwrap();
    assert!((1..=86_400).contains(&retry_after), "{body}");
}

#[tokio::test]
async fn gmail_and_google_calendar_daily_quotas_are_counted_and_refuse_once_spent() {
    let (app, sandbox) = connected(&["GMAIL", "GOOGLE_CALENDAR"], |settings| {
        // A list costs 5 units: more than this day's whole Gmail quota.
        let gmail = settings.providers.get_mut("gmail").unwrap();
        gmail.rate_capacity.insert("daily_units".into(), 4);
        let calendar = settings.providers.get_mut("google_calendar").unwrap();
        calendar.rate_capacity.insert("daily".into(), 1);
    })
    .await;
    let (_, body) = app
        .graphql(
            "{ emails(first: 3, providers: [GMAIL]) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_refused_until_tomorrow(&body, "GMAIL");
    assert_eq!(all_calls(&counters(&sandbox).await, "gmail"), 0);

    let events = "{ events(first: 3, providers: [GOOGLE_CALENDAR]) { nodes { id } } }";
    let mut refused = None;
    for _ in 0..3 {
        let (_, body) = app.graphql(events, json!({})).await;
        if !body["errors"].is_null() {
            refused = Some(body);
            break;
        }
    }
    assert_refused_until_tomorrow(
        &refused.expect("the day's one call is spent"),
        "GOOGLE_CALENDAR",
    );
    let calendar_calls = all_calls(&counters(&sandbox).await, "google_calendar");
    assert_eq!(calendar_calls, 1, "one call reached Google Calendar");
    let metrics = metrics(&app).await;
    assert!(
        sample(
            &metrics,
            "nexus_quota_remaining",
            &["provider=\"google_calendar\"", "class=\"daily\""]
        )
        .is_some(),
        "{metrics}"
    );
    assert!(
        sample(
            &metrics,
            "nexus_quota_remaining",
            &["provider=\"gmail\"", "class=\"daily_units\""]
        )
        .is_some()
    );
}

#[tokio::test]
async fn outlooks_mailbox_limit_counts_mail_and_calendar_calls() {
    let (app, sandbox) = connected(&["OUTLOOK"], |settings| {
        let outlook = settings.providers.get_mut("outlook").unwrap();
        outlook.rate_capacity.insert("mailbox".into(), 1);
        settings.upstream.max_retry_wait_ms = 200;
    })
    .await;
    let (_, body) = app
        .graphql(
            "{ emails(first: 3, providers: [OUTLOOK]) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let before = all_calls(&counters(&sandbox).await, "outlook");
    assert!(before > 0, "the mail list reached Outlook");
    let (_, body) = app
        .graphql(
            "{ events(first: 3, providers: [OUTLOOK]) { nodes { id } } }",
            json!({}),
        )
        .await;
    let extensions = &body["errors"][0]["extensions"];
    assert_eq!(extensions["code"], "RATE_LIMITED", "{body}");
    assert_eq!(extensions["provider"], "OUTLOOK", "{body}");
    assert!(extensions["retryAfter"].as_u64().unwrap() >= 1, "{body}");
    assert_eq!(all_calls(&counters(&sandbox).await, "outlook"), before);
}

#[tokio::test]
async fn a_connections_own_capacity_applies_to_that_connection_alone() {
    let (app, sandbox) = connected(&["OUTLOOK"], |settings| {
        let outlook = settings.providers.get_mut("outlook").unwrap();
        let mut own = nexus::config::ConnectionSettings::default();
        own.rate_capacity.insert("mailbox".into(), 1);
        outlook.connections.insert("acme/ada@acme.test".into(), own);
        settings.upstream.max_retry_wait_ms = 200;
    })
    .await;
    let bob = app.key_for("globex", "bob@globex.test").await;
    let link = connect_link_as(&app, &bob, "OUTLOOK", None).await;
    assert_eq!(callback(&consent(&link, "approve").await).await.0, 200);

    let emails = "{ emails(first: 3, providers: [OUTLOOK]) { nodes { id } } }";
    let events = "{ events(first: 3, providers: [OUTLOOK]) { nodes { id } } }";
    for query in [emails, events, emails] {
        let (_, body) = app.graphql_as(&bob, query, json!({})).await;
        assert!(
            body["errors"].is_null(),
            "bob's mailbox has the catalog's room: {body}"
        );
    }
    let (_, body) = app.graphql(emails, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    let before = all_calls(&counters(&sandbox).await, "outlook");
    let (_, body) = app.graphql(events, json!({})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "RATE_LIMITED",
        "{body}"
    );
    assert_eq!(all_calls(&counters(&sandbox).await, "outlook"), before);
}

#[tokio::test]
async fn a_calls_own_timeout_wins_over_its_providers() {
    let (app, sandbox) = salesforce_with(|settings| {
        let salesforce = settings.providers.get_mut("salesforce").unwrap();
        salesforce.timeout_ms = Some(300);
        salesforce.op_timeout_ms.insert("query".into(), 5_000);
    })
    .await;
    admin(
        &sandbox,
        "faults",
        json!({"provider": "salesforce", "error_rate": 0.0, "latency_ms": 1_000}),
    )
    .await;
    let (_, body) = app.graphql(LEADS, json!({})).await;
    assert!(body["errors"].is_null(), "queries may take 5 s: {body}");

    let (_, body) = app
        .graphql(
            r#"mutation { createLead(input: { lastName: "Slow", company: "Late Ltd" }) { lead { id } } }"#,
            json!({}),
        )
        .await;
    let extensions = &body["errors"][0]["extensions"];
    assert_eq!(extensions["code"], "PROVIDER_UNAVAILABLE", "{body}");
    assert_eq!(extensions["provider"], "SALESFORCE", "{body}");
}

/// The sandbox's log of `provider`'s calls on `route`: (status, arrived, answered).
async fn arrivals(
    sandbox: &str,
    provider: &str,
    route: &str,
) -> Vec<(
    u64,
    chrono::DateTime<chrono::Utc>,
    chrono::DateTime<chrono::Utc>,
)> {
    let log: Value = reqwest::Client::new()
        .get(format!("{sandbox}/_sandbox/arrivals"))
        .query(&[("provider", provider), ("route", route)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .to_utc()
    };
    log.as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["status"].as_u64().unwrap(),
                at(&a["arrived"]),
                at(&a["answered"]),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_once_no_sooner_than_the_provider_asked() {
    const SEARCH: &str = "POST /crm/v3/objects/contacts/search";
    let (app, sandbox) = connected(&["HUBSPOT"], |_| {}).await;
    admin(
        &sandbox,
        "faults",
        json!({ "provider": "hubspot", "path": "/crm/v3/objects/contacts/search",
                "status": 429, "retry_after": 2, "count": 1 }),
    )
    .await;
    let (_, body) = app
        .graphql(
            "{ contacts(first: 2, providers: [HUBSPOT]) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert!(
        !body["data"]["contacts"]["nodes"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let log = arrivals(&sandbox, "hubspot", SEARCH).await;
    let statuses: Vec<u64> = log.iter().map(|(s, _, _)| *s).collect();
    assert_eq!(statuses, [429, 200], "one refusal, one retry: {log:?}");
    let (_, _, refused_at) = log[0];
    let (_, retried_at, _) = log[1];
    assert!(
        retried_at - refused_at >= chrono::Duration::seconds(2),
        "the retry arrived {} ms after the 429 that asked for 2 s",
        (retried_at - refused_at).num_milliseconds()
    );
}

/// The 429s the sandbox answered `provider`, on any route.
fn refusals(counters: &Value, provider: &str) -> u64 {
    counters[provider]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, statuses)| statuses["429"].as_u64())
        .sum()
}

/// Twelve mail lists at once against a slow Outlook mailbox: whether the sandbox refused any
/// for its four requests in flight, and whether every query succeeded.
async fn twelve_lists_at_once(limits: bool) -> (u64, bool) {
    let (app, sandbox) = connected(&["OUTLOOK"], |settings| {
        settings.providers.get_mut("outlook").unwrap().rate_limits = Some(limits);
    })
    .await;
    admin(
        &sandbox,
        "faults",
        json!({ "provider": "outlook", "path": "/microsoft/v1.0/me/messages",
                "latency_ms": 300, "error_rate": 0 }),
    )
    .await;
    let queries = (0..12).map(|i| {
        let query = format!(
            "{{ emails(first: 2, providers: [OUTLOOK], filter: {{ subjectContains: \"s{i}\" }}) {{ nodes {{ id }} }} }}"
        );
        let app = &app;
        async move { app.graphql(&query, json!({})).await.1 }
    });
    let answers = futures_util::future::join_all(queries).await;
    let all_ok = answers.iter().all(|body| body["errors"].is_null());
    (refusals(&counters(&sandbox).await, "outlook"), all_ok)
}

#[tokio::test]
async fn outlooks_four_requests_in_flight_per_mailbox_are_never_exceeded() {
    let (refused, all_ok) = twelve_lists_at_once(true).await;
    assert!(all_ok, "every list is served");
    assert_eq!(refused, 0, "no MailboxConcurrency 429 from the sandbox");
    // The control: without the gateway's limits the same load draws the sandbox's refusals.
    let (refused, _) = twelve_lists_at_once(false).await;
    assert!(refused > 0, "twelve at once exceed four in flight");
}

#[tokio::test]
async fn limits_are_exported_per_provider_and_class() {
    let (app, sandbox) = connected(&["HUBSPOT", "GMAIL"], |_| {}).await;
    // One 429 (retried), and more searches at once than HubSpot's 4 a second (waits).
    admin(
        &sandbox,
        "faults",
        json!({ "provider": "hubspot", "path": "/crm/v3/objects/contacts/search",
                "status": 429, "retry_after": 1, "count": 1 }),
    )
    .await;
    let searches = (0..6).map(|i| {
        let app = &app;
        async move {
            let query = format!(
                "{{ contacts(first: 1, providers: [HUBSPOT], filter: {{ nameContains: \"{i}\" }}) {{ nodes {{ id }} }} }}"
            );
            app.graphql(&query, json!({})).await.1
        }
    });
    for body in futures_util::future::join_all(searches).await {
        assert!(body["errors"].is_null(), "{body}");
    }
    let (_, body) = app
        .graphql(
            "{ emails(first: 1, providers: [GMAIL]) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");

    let metrics = metrics(&app).await;
    let hubspot = ["provider=\"hubspot\""];
    let secondly = ["provider=\"hubspot\"", "class=\"secondly\""];
    for (family, labels) in [
        ("nexus_rate_checks_total", &secondly[..]),
        ("nexus_rate_waits_total", &secondly[..]),
        ("nexus_upstream_429_total", &hubspot[..]),
        ("nexus_upstream_retries_total", &hubspot[..]),
    ] {
        let value = sample(&metrics, family, labels);
        assert!(value >= Some(1.0), "{family} {labels:?}: {value:?}");
    }
    assert!(
        sample(&metrics, "nexus_breaker_open", &hubspot).is_some(),
        "the breaker's state"
    );
    let left = sample(
        &metrics,
        "nexus_quota_remaining",
        &["provider=\"gmail\"", "class=\"daily_units\""],
    )
    .expect("Gmail's daily units left");
    assert!(left < 1_000_000_000.0, "{left}");
}

#[tokio::test]
async fn on_postgresql_a_spent_daily_quota_stays_spent_across_a_restart() {
    let Some(url) = crate::helpers::postgres_url().await else {
        return;
    };
    let (app, _sandbox) = salesforce_with(|settings| {
        settings.database.url = Some(url);
        let salesforce = settings.providers.get_mut("salesforce").unwrap();
        salesforce.rate_capacity.insert("query".into(), 3);
    })
    .await;
    for _ in 0..3 {
        let (_, body) = app.graphql(LEADS, json!({})).await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let (_, body) = app.graphql(LEADS, json!({})).await;
    assert_refused_until_tomorrow(&body, "SALESFORCE");

    // A new gateway on the same database: the day's count (raised by UPDATE … RETURNING) holds.
    let restarted = nexus::startup::Application::build_with(&app.settings, app.db.clone())
        .await
        .unwrap();
    let origin = format!("http://{}", restarted.local_addr());
    tokio::spawn(restarted.run_until_stopped(std::future::pending()));
    let answer = reqwest::Client::new()
        .post(format!("{origin}/graphql"))
        .bearer_auth(&app.key)
        .json(&json!({ "query": LEADS }))
        .send()
        .await
        .unwrap();
    assert_refused_until_tomorrow(&answer.json::<Value>().await.unwrap(), "SALESFORCE");
}

/// A burst over a tiny local limit: the calls that cannot fit within `max_retry_wait_ms` are
/// refused by the gateway with `RATE_LIMITED` at once, and the retry layer leaves that refusal
/// alone (it used to try it again, so a refusal took up to twice the longest wait).
#[tokio::test]
async fn the_gateways_own_rate_limit_refusals_are_never_retried() {
    let logs = crate::helpers::captured_logs();
    let (app, _sandbox) = connected(&["HUBSPOT"], |settings| {
        let hubspot = settings.providers.entry("hubspot".into()).or_default();
        hubspot.rate_capacity.insert("secondly".into(), 1);
        settings.upstream.max_retry_wait_ms = 1500;
    })
    .await;
    let prefix = format!("burst-{}-", uuid::Uuid::new_v4().simple());
    let searches = (0..6).map(|i| {
        let (app, id) = (&app, format!("{prefix}{i}"));
        async move {
            let query = format!(
                "{{ contacts(first: 1, providers: [HUBSPOT], filter: {{ nameContains: \"{i}\" }}) {{ nodes {{ id }} }} }}"
            );
            let response = app
                .client
                .post(app.url("/graphql"))
                .bearer_auth(&app.key)
                .header("x-request-id", id)
                .json(&json!({ "query": query }))
                .send()
                .await
                .unwrap();
            response.json::<Value>().await.unwrap()
        }
    });
    let answers = futures_util::future::join_all(searches).await;
    let refused: Vec<&Value> = answers
        .iter()
        .filter(|body| body["errors"][0]["extensions"]["code"] == "RATE_LIMITED")
        .collect();
    assert!(!refused.is_empty(), "one search a second: {answers:?}");
    for body in &refused {
        let extensions = &body["errors"][0]["extensions"];
        assert_eq!(extensions["provider"], "HUBSPOT", "{body}");
        assert!(extensions["retryAfter"].as_u64().is_some(), "{body}");
    }
    let retried: Vec<String> = logs
        .text()
        .lines()
        .filter(|line| line.contains(&prefix) && line.contains("retrying"))
        .map(str::to_owned)
        .collect();
    assert!(
        retried.is_empty(),
        "the burst's calls were retried: {retried:#?}"
    );
    // The control: the calls' own lines carry the requests' ids, so a retry's would too.
    let calls = logs
        .text()
        .lines()
        .filter(|l| l.contains(&prefix) && l.contains("upstream call"))
        .count();
    assert!(
        calls > 0,
        "the burst's upstream calls are in the captured logs"
    );
}
