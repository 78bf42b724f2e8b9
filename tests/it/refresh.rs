//! Token refresh against the sandbox: proactive (Salesforce every 2 hours, as the spec says),
//! one refresh for 200 concurrent callers, and a revoked refresh token turning the connection
//! REAUTH_REQUIRED — in `viewer.connections` too.
//!
//! The provider adapters that will call `access_token` land with [crm] and [comms]; until then
//! these tests call the connect flows' API directly, with the gateway's own settings.

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

/// Connects Salesforce through the whole flow; returns the tenant and its first access token.
async fn connected(app: &TestApp) -> (Tenant, String) {
    let back = consent(&connect_link(app, "SALESFORCE", None).await, "approve").await;
    assert_eq!(callback(&back).await.0, 200);
    let (user_id, project_id) = app.tenant("acme", "ada@acme.test").await;
    let tenant = Tenant {
        user_id,
        project_id,
    };
    let credential = app
        .credentials()
        .await
        .read(user_id, project_id, Provider::Salesforce)
        .await
        .unwrap()
        .unwrap();
    (
        tenant,
        credential.tokens.access_token.expose_secret().to_owned(),
    )
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
    let flows = flows(&app).await;
    let calls = token_calls(&sandbox).await;

    let token = flows
        .session(tenant, Provider::Salesforce)
        .await
        .unwrap()
        .access_token;
    assert_eq!(
        token.expose_secret(),
        first,
        "a fresh token is used as it is"
    );
    assert_eq!(token_calls(&sandbox).await, calls);

    // Issued 2 h 10 min ago: 50 minutes left of 3 hours, inside the one-hour margin.
    set_expiry(&app, Utc::now() + Duration::minutes(50)).await;
    let refreshed = flows
        .session(tenant, Provider::Salesforce)
        .await
        .unwrap()
        .access_token;
    assert_ne!(refreshed.expose_secret(), first);
    assert_eq!(token_calls(&sandbox).await, calls + 1);
    let stored = app
        .credentials()
        .await
        .read(tenant.user_id, tenant.project_id, Provider::Salesforce)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.tokens.access_token.expose_secret(),
        refreshed.expose_secret()
    );
    assert!(
        stored.tokens.refresh_token.is_some(),
        "Salesforce sends no new refresh token: the old one is kept"
    );
    assert!(stored.tokens.expires_at.unwrap() > Utc::now() + Duration::minutes(170));
}

#[tokio::test]
async fn two_hundred_callers_on_an_expired_token_cause_one_refresh() {
    let (app, sandbox) = pointed_at_sandbox(false).await;
    let (tenant, first) = connected(&app).await;
    let flows = flows(&app).await;
    set_expiry(&app, Utc::now() - Duration::minutes(1)).await;
    let calls = token_calls(&sandbox).await;

    let callers = (0..200).map(|_| flows.session(tenant, Provider::Salesforce));
    let tokens = futures_util::future::join_all(callers).await;
    let tokens: Vec<String> = tokens
        .into_iter()
        .map(|t| t.unwrap().access_token.expose_secret().to_owned())
        .collect();
    assert_eq!(
        token_calls(&sandbox).await,
        calls + 1,
        "exactly one call to the token endpoint"
    );
    assert!(
        tokens.iter().all(|t| *t == tokens[0] && *t != first),
        "all 200 got the new token"
    );
}

#[tokio::test]
async fn a_revoked_refresh_token_asks_for_reauthorization() {
    let (app, sandbox) = pointed_at_sandbox(false).await;
    let (tenant, _) = connected(&app).await;
    let flows = flows(&app).await;
    let revoked = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/revoke"))
        .json(&json!({ "provider": "salesforce" }))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    set_expiry(&app, Utc::now() - Duration::minutes(1)).await;

    let error = flows
        .session(tenant, Provider::Salesforce)
        .await
        .unwrap_err();
    assert!(matches!(error, TokenError::ReauthRequired(_)), "{error:?}");
    let calls = token_calls(&sandbox).await;
    let again = flows
        .session(tenant, Provider::Salesforce)
        .await
        .unwrap_err();
    assert!(matches!(again, TokenError::ReauthRequired(_)));
    assert_eq!(token_calls(&sandbox).await, calls, "later calls fail fast");

    let (_, body) = app
        .graphql("{ viewer { connections { provider status } } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["viewer"]["connections"][0]["status"], "REAUTH_REQUIRED",
        "{body}"
    );
    let (_, body) = app.graphql("{ leads { nodes { id } } }", json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "REAUTH_REQUIRED");
    assert_eq!(body["errors"][0]["extensions"]["provider"], "SALESFORCE");
}
