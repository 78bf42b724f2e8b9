//! Token refresh against the sandbox, through GraphQL queries: proactive (Salesforce every 2
//! hours, as the spec says), one refresh for 200 concurrent queries on an expired token, and a
//! revoked refresh token turning the connection REAUTH_REQUIRED — in `viewer.connections` and in
//! the errors' extensions; and Slack's refused refresh (HTTP 200, `ok:false`) read as a refusal.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use nexus::{
    auth::Tenant,
    oauth::{ConnectFlows, TokenError},
    providers::Provider,
    store::entities::integration_credentials as row,
};
use sea_orm::{EntityTrait, sea_query::Expr};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox},
    helpers::TestApp,
};

/// Connects Salesforce through the whole flow; returns the tenant and its first access token.
async fn connected(app: &TestApp) -> (Tenant, String) {
    let back = consent(&connect_link(app, "SALESFORCE", None).await, "approve").await;
    assert_eq!(callback(&back).await.0, 200);
    let (user_id, project_id) = app.tenant("acme", "ada@acme.test").await;
    let tenant = Tenant {
        user_id,
        project_id,
    };
    (tenant, stored_token(app, tenant).await)
}

async fn stored_token(app: &TestApp, tenant: Tenant) -> String {
    app.credentials()
        .await
        .read(tenant.user_id, tenant.project_id, Provider::Salesforce)
        .await
        .unwrap()
        .unwrap()
        .tokens
        .access_token
        .expose_secret()
        .to_owned()
}

/// One Salesforce lead through the gateway.
async fn one_lead(app: &TestApp) -> Value {
    app.graphql("{ leads(first: 1) { nodes { id } } }", json!({}))
        .await
        .1
}

async fn token_calls(sandbox: &str) -> u64 {
    let counters: Value = reqwest::get(format!("{sandbox}/_sandbox/counters"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    counters["salesforce"]["POST /services/oauth2/token"]["200"]
        .as_u64()
        .unwrap_or(0)
}

async fn set_expiry(app: &TestApp, at: chrono::DateTime<Utc>) {
    row::Entity::update_many()
        .col_expr(row::Column::TokenExpiresAt, Expr::value(at))
        .exec(&app.db)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_salesforce_token_older_than_two_hours_is_refreshed_before_use() {
    let (app, sandbox) = pointed_at_sandbox(false).await;
    let (tenant, first) = connected(&app).await;
    let calls = token_calls(&sandbox).await;

    let body = one_lead(&app).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        token_calls(&sandbox).await,
        calls,
        "a fresh token is used as it is"
    );
    assert_eq!(stored_token(&app, tenant).await, first);

    // Issued 2 h 10 min ago: 50 minutes left of 3 hours, inside the one-hour margin.
    set_expiry(&app, Utc::now() + Duration::minutes(50)).await;
    let body = one_lead(&app).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(token_calls(&sandbox).await, calls + 1);
    let stored = app
        .credentials()
        .await
        .read(tenant.user_id, tenant.project_id, Provider::Salesforce)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(stored.tokens.access_token.expose_secret(), first);
    assert!(
        stored.tokens.refresh_token.is_some(),
        "Salesforce sends no new refresh token: the old one is kept"
    );
    assert!(stored.tokens.expires_at.unwrap() > Utc::now() + Duration::minutes(170));
}

#[tokio::test]
async fn two_hundred_queries_on_an_expired_token_cause_one_refresh() {
    let (app, sandbox) = pointed_at_sandbox(false).await;
    let (tenant, first) = connected(&app).await;
    set_expiry(&app, Utc::now() - Duration::minutes(1)).await;
    let calls = token_calls(&sandbox).await;

    let queries = (0..200).map(|_| one_lead(&app));
    let answers = futures_util::future::join_all(queries).await;
    assert!(
        answers
            .iter()
            .all(|b| b["errors"].is_null() && b["data"]["leads"]["nodes"][0]["id"].is_string()),
        "all 200 succeed: {:?}",
        answers.iter().find(|b| !b["errors"].is_null())
    );
    assert_eq!(
        token_calls(&sandbox).await,
        calls + 1,
        "exactly one call to the token endpoint"
    );
    assert_ne!(stored_token(&app, tenant).await, first);
}

#[tokio::test]
async fn a_revoked_refresh_token_asks_for_reauthorization() {
    let (app, sandbox) = pointed_at_sandbox(false).await;
    connected(&app).await;
    let revoked = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/revoke"))
        .json(&json!({ "provider": "salesforce" }))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    set_expiry(&app, Utc::now() - Duration::minutes(1)).await;

    let body = one_lead(&app).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "REAUTH_REQUIRED",
        "{body}"
    );
    assert_eq!(body["errors"][0]["extensions"]["provider"], "SALESFORCE");
    let calls = token_calls(&sandbox).await;
    let again = one_lead(&app).await;
    assert_eq!(again["errors"][0]["extensions"]["code"], "REAUTH_REQUIRED");
    assert_eq!(token_calls(&sandbox).await, calls, "later calls fail fast");

    let (_, body) = app
        .graphql("{ viewer { connections { provider status } } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["viewer"]["connections"][0]["status"], "REAUTH_REQUIRED",
        "{body}"
    );
}

/// The gateway's connect flows, for a provider no adapter calls yet.
async fn flows(app: &TestApp) -> ConnectFlows {
    let providers: BTreeMap<Provider, _> = app
        .settings
        .providers
        .iter()
        .map(|(slug, p)| (slug.parse().unwrap(), p.clone()))
        .collect();
    let vault = nexus::startup::vault(&app.settings).await.unwrap();
    ConnectFlows::new(
        app.db.clone(),
        vault,
        providers,
        &app.settings.oauth,
        app.origin.clone(),
    )
    .unwrap()
}

#[tokio::test]
async fn slacks_refused_refresh_asks_for_reauthorization_too() {
    let (app, sandbox) = pointed_at_sandbox(false).await;
    let back = consent(&connect_link(&app, "SLACK", None).await, "approve").await;
    assert_eq!(callback(&back).await.0, 200);
    let (user_id, project_id) = app.tenant("acme", "ada@acme.test").await;
    let tenant = Tenant {
        user_id,
        project_id,
    };
    let flows = flows(&app).await;
    set_expiry(&app, Utc::now() - Duration::minutes(1)).await;
    let rotated = flows.session(tenant, Provider::Slack).await.unwrap();
    assert!(!rotated.access_token.expose_secret().is_empty());

    // An uninstall: Slack answers the refresh with HTTP 200 and `ok:false`.
    let revoked = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/revoke"))
        .json(&json!({ "provider": "slack" }))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    set_expiry(&app, Utc::now() - Duration::minutes(1)).await;
    let error = flows.session(tenant, Provider::Slack).await.unwrap_err();
    assert!(matches!(error, TokenError::ReauthRequired(_)), "{error:?}");
    let (_, body) = app
        .graphql("{ viewer { connections { provider status } } }", json!({}))
        .await;
    let slack = body["data"]["viewer"]["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["provider"] == "SLACK")
        .cloned()
        .unwrap();
    assert_eq!(slack["status"], "REAUTH_REQUIRED", "{body}");
}
