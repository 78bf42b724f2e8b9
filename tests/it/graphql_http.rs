//! GraphQL over HTTP: media types, status codes and bad input, through the real HTTP stack.

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Value, json};

use crate::helpers::{first_code, json_of, spawn_app, spawn_app_with, test_settings};

const GQL: &str = "application/graphql-response+json";

#[tokio::test]
async fn media_type_follows_accept() {
    let app = spawn_app().await;
    let send = |accept: Option<&'static str>| {
        let mut request = app
            .client
            .post(app.url("/graphql"))
            .bearer_auth(&app.key)
            .json(&json!({ "query": "{ viewer { user { email } } }" }));
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept);
        }
        request.send()
    };
    for (accept, expected) in [
        (None, "application/json; charset=utf-8"),
        (Some("application/json"), "application/json; charset=utf-8"),
        (Some("*/*"), "application/json; charset=utf-8"),
        (
            Some(GQL),
            "application/graphql-response+json; charset=utf-8",
        ),
    ] {
        let response = send(accept).await.unwrap();
        assert_eq!(response.status(), 200, "{accept:?}");
        assert_eq!(response.headers()[CONTENT_TYPE], expected, "{accept:?}");
        let (_, body) = json_of(response).await;
        assert_eq!(body["data"]["viewer"]["user"]["email"], "ada@acme.test");
    }
    let refused = send(Some("text/html")).await.unwrap();
    assert_eq!(refused.status(), 406);
}

/// Sends a raw body with the given content type and Accept; returns status and JSON.
async fn raw(
    app: &crate::helpers::TestApp,
    content_type: Option<&str>,
    accept: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&app.key)
        .header(ACCEPT, accept)
        .body(body);
    if let Some(ct) = content_type {
        request = request.header(CONTENT_TYPE, ct);
    }
    json_of(request.send().await.unwrap()).await
}

#[tokio::test]
async fn unreadable_requests_get_4xx_and_never_data() {
    let app = spawn_app().await;
    let json = Some("application/json");
    for (content_type, body, status) in [
        (json, b"{not json".to_vec(), 400),
        (json, b"[1,2]".to_vec(), 400),
        (json, br#"{"variables":{}}"#.to_vec(), 400),
        (json, br#"{"query":7}"#.to_vec(), 400),
        (
            json,
            br#"{"query":"{ viewer { user { id } } }","variables":"x"}"#.to_vec(),
            400,
        ),
        (
            json,
            br#"{"query":"{ viewer { user { id } } }","operationName":1}"#.to_vec(),
            400,
        ),
        (
            None,
            br#"{"query":"{ viewer { user { id } } }"}"#.to_vec(),
            415,
        ),
        (
            Some("text/plain"),
            br#"{"query":"{ viewer { user { id } } }"}"#.to_vec(),
            415,
        ),
    ] {
        for accept in ["application/json", GQL] {
            let (got, reply) = raw(&app, content_type, accept, body.clone()).await;
            assert_eq!(got, status, "{}", String::from_utf8_lossy(&body));
            assert!(reply.get("data").is_none(), "{reply}");
            assert_eq!(first_code(&reply), "BAD_REQUEST");
        }
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let mut settings = test_settings();
    settings.server.body_limit_bytes = 2048;
    let app = spawn_app_with(settings).await;
    let padding = " ".repeat(4096);
    let body = format!(r#"{{"query":"{{ viewer {{ user {{ id }} }} }}{padding}"}}"#);
    let (status, reply) = raw(&app, Some("application/json"), GQL, body.into_bytes()).await;
    assert_eq!(status, 413);
    assert!(
        reply["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("2048")
    );
}

#[tokio::test]
async fn request_errors_are_400_under_graphql_response_json_and_200_under_json() {
    let app = spawn_app().await;
    let cases = [
        (json!({ "query": "{ viewer { " }), "GRAPHQL_PARSE_FAILED"),
        (
            json!({ "query": "{ viewer { nope } }" }),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            json!({ "query": "query A { viewer { user { id } } } query B { viewer { project { id } } }", "operationName": "C" }),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            json!({ "query": "query Q($n: Int) { contacts(first: $n) { nodes { id } } }", "variables": { "n": "many" } }),
            "GRAPHQL_VALIDATION_FAILED",
        ),
    ];
    for (request, code) in cases {
        for (accept, status) in [(GQL, 400), ("application/json", 200)] {
            let (got, reply) = raw(
                &app,
                Some("application/json"),
                accept,
                request.to_string().into_bytes(),
            )
            .await;
            assert_eq!(got, status, "{request} as {accept}");
            assert!(reply.get("data").is_none(), "{reply}");
            assert_eq!(first_code(&reply), code, "{reply}");
        }
    }
}

#[tokio::test]
async fn field_errors_keep_status_200_and_data() {
    let app = spawn_app().await;
    let body =
        json!({ "query": "{ viewer { user { email } } contacts(first: 500) { nodes { id } } }" });
    let (status, reply) = raw(
        &app,
        Some("application/json"),
        GQL,
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(reply.get("data").is_some());
    assert_eq!(first_code(&reply), "BAD_USER_INPUT");
    assert_eq!(reply["errors"][0]["extensions"]["field"], "first");
}

#[tokio::test]
async fn get_runs_queries_and_refuses_mutations() {
    let app = spawn_app().await;
    let get = |query: &str| {
        app.client
            .get(app.url("/graphql"))
            .bearer_auth(&app.key)
            .query(&[("query", query)])
            .send()
    };
    let (status, reply) = json_of(get("{ viewer { project { name } } }").await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(reply["data"]["viewer"]["project"]["name"], "acme");

    let response = get("mutation { disconnectProvider(provider: SLACK) }")
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");

    let bad_variables = app
        .client
        .get(app.url("/graphql"))
        .bearer_auth(&app.key)
        .query(&[
            ("query", "{ viewer { user { id } } }"),
            ("variables", "{nope"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad_variables.status(), 400);
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = spawn_app().await;
    let healthz = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(healthz.status(), 200);
    let readyz = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(readyz.status(), 200);

    app.graphql("query MetricsProbe { viewer { user { id } } }", json!({}))
        .await;
    app.graphql("query MetricsProbe { viewer { nope } }", json!({}))
        .await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("nexus_graphql_requests_total")
                && l.contains(r#"operation="MetricsProbe""#)
                && l.contains(r#"outcome="ok""#)),
        "{text}"
    );
    assert!(text.contains(r#"outcome="rejected""#), "{text}");
    assert!(
        text.contains("nexus_graphql_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = spawn_app().await;
    app.db.clone().close().await.unwrap();
    let readyz = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(readyz.status(), 503);
}
