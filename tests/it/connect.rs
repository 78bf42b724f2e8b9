//! `connectProvider`: the provider's authorize URL (the catalog's scopes, PKCE where the provider
//! takes it), a one-time state stored hashed with its sealed verifier, redirects kept on allowed
//! origins — and the URL leads to the provider's (here the sandbox's) consent page.

use std::collections::HashMap;

use nexus::{config::ProviderSettings, providers::Cataloged, store::entities::oauth_states};
use sea_orm::EntityTrait;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, first_code, test_settings};

const CONNECT: &str = "mutation($p: Provider!, $r: String) { connectProvider(provider: $p, redirectAfter: $r) { url expiresAt } }";

async fn app_pointed_at_sandbox() -> (TestApp, String) {
    pointed_at_sandbox(false).await
}

/// An app whose OAuth clients and API hosts are the sandbox's, for every provider it simulates;
/// `prefill_playground` gives the playground the app's key, as the demo does.
pub async fn pointed_at_sandbox(prefill_playground: bool) -> (TestApp, String) {
    pointed_at_sandbox_with(prefill_playground, |_| {}).await
}

/// Like `pointed_at_sandbox`, with the settings adjusted before the gateway starts.
pub async fn pointed_at_sandbox_with(
    prefill_playground: bool,
    adjust: impl FnOnce(&mut nexus::config::Settings),
) -> (TestApp, String) {
    let sandbox = nexus_sandbox::start(([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let origin = sandbox.origin();
    let mut settings = test_settings();
    for provider in nexus::providers::Provider::ALL {
        let Some(paths) = provider.entry().sandbox.as_ref() else {
            continue;
        };
        let app = nexus_sandbox::App::for_provider(provider.slug());
        settings.providers.insert(
            provider.slug().into(),
            ProviderSettings {
                client_id: Some(app.client_id),
                client_secret: Some(app.client_secret.into()),
                authorize_url: Some(format!("{origin}{}", paths.authorize_path)),
                token_url: Some(format!("{origin}{}", paths.token_path)),
                base_url: Some(format!("{origin}{}", paths.base_path)),
                revoke_url: paths.revoke_path.as_ref().map(|p| format!("{origin}{p}")),
                ..ProviderSettings::default()
            },
        );
    }
    adjust(&mut settings);
    (
        crate::helpers::spawn(settings, prefill_playground).await,
        origin,
    )
}

pub fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

#[tokio::test]
async fn the_link_carries_scopes_pkce_and_a_stored_one_time_state() {
    let (app, sandbox) = app_pointed_at_sandbox().await;
    let (_, body) = app.graphql(CONNECT, json!({ "p": "HUBSPOT" })).await;
    let link = &body["data"]["connectProvider"];
    let url = link["url"].as_str().unwrap_or_else(|| panic!("{body}"));
    assert!(
        url.starts_with(&format!("{sandbox}/hubspot/oauth/authorize?")),
        "{url}"
    );
    let q = query_of(url);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "sandbox-hubspot-client");
    assert_eq!(
        q["redirect_uri"],
        format!("{}/oauth/hubspot/callback", app.origin)
    );
    assert_eq!(
        q["scope"],
        "crm.objects.contacts.read crm.objects.contacts.write crm.objects.companies.read crm.objects.companies.write crm.objects.deals.read crm.objects.deals.write"
    );
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    let expires: chrono::DateTime<chrono::Utc> =
        link["expiresAt"].as_str().unwrap().parse().unwrap();
    let ttl = expires - chrono::Utc::now();
    assert!(
        ttl > chrono::Duration::seconds(590) && ttl <= chrono::Duration::seconds(600),
        "{ttl}"
    );

    let rows = oauth_states::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(rows.len(), 1);
    let (user, project) = app.tenant("acme", "ada@acme.test").await;
    assert_eq!((rows[0].user_id, rows[0].project_id), (user, project));
    assert_eq!(
        rows[0].state_hash,
        hex::encode(Sha256::digest(q["state"].as_bytes())),
        "stored hashed"
    );
    let sealed = rows[0].pkce_verifier_encrypted.as_deref().unwrap();
    assert!(sealed.starts_with("v2:"), "the verifier is sealed");

    let page = reqwest::get(url).await.unwrap();
    assert_eq!(
        page.status(),
        200,
        "the link opens the provider's consent page"
    );
    assert!(page.text().await.unwrap().contains("Approve"));

    let (_, again) = app.graphql(CONNECT, json!({ "p": "HUBSPOT" })).await;
    assert_ne!(
        query_of(again["data"]["connectProvider"]["url"].as_str().unwrap())["state"],
        q["state"],
        "states are one-time"
    );
}

#[tokio::test]
async fn providers_differ_and_redirects_stay_on_allowed_origins() {
    let (app, _) = app_pointed_at_sandbox().await;
    let (_, body) = app
        .graphql(
            CONNECT,
            json!({ "p": "SLACK", "r": format!("{}/settings", app.origin) }),
        )
        .await;
    let q = query_of(
        body["data"]["connectProvider"]["url"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}")),
    );
    assert_eq!(
        q["scope"],
        "chat:write,chat:write.public,channels:read,users:read,files:write,channels:history,users:read.email",
        "Slack joins scopes with commas; the extra scopes follow the spec's"
    );
    assert!(
        !q.contains_key("code_challenge"),
        "no PKCE where the provider takes none"
    );

    let (_, body) = app
        .graphql(
            CONNECT,
            json!({ "p": "HUBSPOT", "r": "https://evil.example/steal" }),
        )
        .await;
    assert_eq!(first_code(&body), "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "redirectAfter");
    let unconfigured = crate::helpers::spawn_app().await;
    let (_, body) = unconfigured.graphql(CONNECT, json!({ "p": "GMAIL" })).await;
    assert_eq!(
        first_code(&body),
        "UNSUPPORTED",
        "no client configured: {body}"
    );
    assert_eq!(body["errors"][0]["extensions"]["provider"], "GMAIL");
    let (_, body) = app.graphql(CONNECT, json!({ "p": "STRIPE" })).await;
    assert_eq!(first_code(&body), "BAD_USER_INPUT");
    assert_eq!(
        oauth_states::Entity::find()
            .all(&app.db)
            .await
            .unwrap()
            .len(),
        1,
        "refused flows store nothing"
    );
}

/// Plays the user at the provider: opens the authorize URL's form and approves (or denies);
/// returns where the provider sends the browser back.
pub async fn consent(url: &str, decision: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client.get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let mut form: Vec<(String, String)> = query_of(url).into_iter().collect();
    form.push(("decision".into(), decision.into()));
    let base = url.split('?').next().unwrap();
    let answer = client.post(base).form(&form).send().await.unwrap();
    assert_eq!(answer.status(), 303);
    answer.headers()["location"].to_str().unwrap().to_owned()
}

pub async fn callback(url: &str) -> (u16, String, Option<String>) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    (status, response.text().await.unwrap(), location)
}

pub async fn connect_link(app: &TestApp, provider: &str, redirect: Option<String>) -> String {
    connect_link_as(app, &app.key, provider, redirect).await
}

/// A connect link for the caller of `key`.
pub async fn connect_link_as(
    app: &TestApp,
    key: &str,
    provider: &str,
    redirect: Option<String>,
) -> String {
    let (_, body) = app
        .graphql_as(key, CONNECT, json!({ "p": provider, "r": redirect }))
        .await;
    body["data"]["connectProvider"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned()
}

async fn stored(app: &TestApp) -> Vec<nexus::store::entities::integration_credentials::Model> {
    nexus::store::entities::integration_credentials::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_whole_flow_stores_a_sealed_credential_and_returns_to_the_app() {
    let (app, _) = app_pointed_at_sandbox().await;
    let url = connect_link(&app, "HUBSPOT", Some(format!("{}/done", app.origin))).await;
    let back = consent(&url, "approve").await;
    assert!(
        back.starts_with(&format!("{}/oauth/hubspot/callback?", app.origin)),
        "{back}"
    );
    let (status, _, location) = callback(&back).await;
    assert_eq!(status, 303);
    assert_eq!(
        location.as_deref(),
        Some(format!("{}/done?connected=hubspot", app.origin).as_str())
    );

    let (_, body) = app
        .graphql(
            "{ viewer { connections { provider status scopes expiresAt } } }",
            json!({}),
        )
        .await;
    let hubspot = &body["data"]["viewer"]["connections"][1];
    assert_eq!(hubspot["status"], "CONNECTED", "{body}");
    assert_eq!(hubspot["scopes"].as_array().unwrap().len(), 6);
    let expires: chrono::DateTime<chrono::Utc> =
        hubspot["expiresAt"].as_str().unwrap().parse().unwrap();
    assert!(
        (expires - chrono::Utc::now()) > chrono::Duration::minutes(29),
        "HubSpot's 30 minutes"
    );
    let rows = stored(&app).await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].access_token_encrypted.starts_with("v2:"));
    assert!(rows[0].refresh_token_encrypted.is_some());
    assert_eq!(
        rows[0].metadata["hub_id"], 62515001,
        "provider metadata kept"
    );
    assert!(rows[0].metadata.get("access_token").is_none());

    let (status, _, location) = callback(&back).await;
    assert_eq!(status, 303, "a replayed state is refused, back to the app");
    let refused = query_of(location.as_deref().unwrap());
    assert_eq!(refused["error"], "invalid_request");
    assert!(refused["error_description"].contains("already used"));
    let forged = back.replace("state=", "state=forged");
    let (status, page, _) = callback(&forged).await;
    assert_eq!(status, 400);
    assert!(page.contains("unknown"));
    assert_eq!(stored(&app).await[0].version, 0, "nothing stored again");
}

#[tokio::test]
async fn expired_denied_and_wrong_verifier_flows_store_nothing() {
    let (app, _) = app_pointed_at_sandbox().await;
    use nexus::store::entities::oauth_states;
    use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};

    // Expired.
    let back = consent(&connect_link(&app, "HUBSPOT", None).await, "approve").await;
    oauth_states::Entity::update_many()
        .col_expr(
            oauth_states::Column::ExpiresAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)),
        )
        .exec(&app.db)
        .await
        .unwrap();
    let (status, page, _) = callback(&back).await;
    assert_eq!(status, 400);
    assert!(page.contains("expired"), "{page}");

    // Denied at the provider.
    let back = consent(&connect_link(&app, "HUBSPOT", None).await, "deny").await;
    assert!(back.contains("error=access_denied"));
    let (status, page, _) = callback(&back).await;
    assert_eq!(status, 400);
    assert!(page.contains("not granted"));

    // A wrong PKCE verifier: the provider refuses the code.
    let url = connect_link(&app, "HUBSPOT", None).await;
    let state_hash = hex::encode(Sha256::digest(query_of(&url)["state"].as_bytes()));
    let (user, project) = app.tenant("acme", "ada@acme.test").await;
    let vault = nexus::startup::vault(&app.settings).await.unwrap();
    let wrong = vault.seal(
        &nexus::vault::Binding {
            user_id: user,
            project_id: project,
            provider: "hubspot",
        },
        &"not-the-verifier".to_owned().into(),
    );
    oauth_states::Entity::update_many()
        .col_expr(
            oauth_states::Column::PkceVerifierEncrypted,
            Expr::value(wrong),
        )
        .filter(oauth_states::Column::StateHash.eq(state_hash))
        .exec(&app.db)
        .await
        .unwrap();
    let back = consent(&url, "approve").await;
    let (status, page, _) = callback(&back).await;
    assert_eq!(status, 400);
    assert!(page.contains("did not accept"), "{page}");
    assert!(stored(&app).await.is_empty());
}

#[tokio::test]
async fn salesforce_connects_with_its_instance_and_session_lifetime() {
    let (app, sandbox) = app_pointed_at_sandbox().await;
    let back = consent(&connect_link(&app, "SALESFORCE", None).await, "approve").await;
    let (status, page, _) = callback(&back).await;
    assert_eq!(status, 200, "{page}");
    let rows = stored(&app).await;
    assert_eq!(rows[0].provider, "salesforce");
    assert_eq!(rows[0].metadata["instance_url"], sandbox.as_str());
    assert!(rows[0].metadata.get("signature").is_none());
    let expires = rows[0].token_expires_at.unwrap() - chrono::Utc::now();
    assert!(
        expires > chrono::Duration::minutes(179) && expires <= chrono::Duration::hours(3),
        "{expires}"
    );
    assert_eq!(
        rows[0].scopes,
        json!(["api", "refresh_token", "offline_access"])
    );
}

#[tokio::test]
async fn disconnect_revokes_at_the_provider_then_forgets() {
    let (app, sandbox) = app_pointed_at_sandbox().await;
    for (provider, slug, route) in [
        (
            "HUBSPOT",
            "hubspot",
            "DELETE /oauth/v1/refresh-tokens/{token}",
        ),
        ("SALESFORCE", "salesforce", "POST /services/oauth2/revoke"),
    ] {
        let back = consent(&connect_link(&app, provider, None).await, "approve").await;
        assert_eq!(callback(&back).await.0, 200);
        let (user, project) = app.tenant("acme", "ada@acme.test").await;
        let credential = app
            .credentials()
            .await
            .read(user, project, slug.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        let refresh =
            secrecy::ExposeSecret::expose_secret(credential.tokens.refresh_token.as_ref().unwrap())
                .to_owned();

        let (_, body) = app
            .graphql(
                "mutation($p: Provider!) { disconnectProvider(provider: $p) }",
                json!({ "p": provider }),
            )
            .await;
        assert_eq!(body["data"]["disconnectProvider"], true, "{body}");
        let counters: serde_json::Value = reqwest::get(format!("{sandbox}/_sandbox/counters"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let revoked = &counters[slug][route];
        assert!(
            revoked
                .as_object()
                .is_some_and(|m| m.keys().any(|k| k.starts_with('2'))),
            "{slug}: {counters}"
        );

        let token_path = nexus::providers::Provider::entry(slug.parse().unwrap())
            .sandbox
            .as_ref()
            .unwrap()
            .token_path
            .clone();
        let app_creds = nexus_sandbox::App::for_provider(slug);
        let refreshed = reqwest::Client::new()
            .post(format!("{sandbox}{token_path}"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
                ("client_id", app_creds.client_id.as_str()),
                ("client_secret", app_creds.client_secret.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(refreshed.status(), 400, "{slug}: the refresh token is dead");
    }
    assert!(stored(&app).await.is_empty());
    let (_, body) = app
        .graphql("{ viewer { connections { status } } }", json!({}))
        .await;
    assert!(
        body["data"]["viewer"]["connections"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "NOT_CONNECTED")
    );
}

#[test]
fn connect_refresh_and_disconnect_logs_hold_no_secret() {
    let captured = crate::helpers::captured_logs();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let secrets = runtime.block_on(async {
        let (app, _) = app_pointed_at_sandbox().await;
        let url = connect_link(&app, "HUBSPOT", None).await;
        let state = query_of(&url)["state"].clone();
        let back = consent(&url, "approve").await;
        let code = query_of(&back)["code"].clone();
        assert_eq!(callback(&back).await.0, 200);
        let (user, project) = app.tenant("acme", "ada@acme.test").await;
        let credential = app
            .credentials()
            .await
            .read(user, project, "hubspot".parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        // A refresh cycle too: the token expires and the next use refreshes it.
        nexus::store::entities::integration_credentials::Entity::update_many()
            .col_expr(
                nexus::store::entities::integration_credentials::Column::TokenExpiresAt,
                sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::minutes(1)),
            )
            .exec(&app.db)
            .await
            .unwrap();
        let providers = app
            .settings
            .providers
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.clone()))
            .collect();
        let vault = nexus::startup::vault(&app.settings).await.unwrap();
        let flows = nexus::oauth::ConnectFlows::new(
            app.db.clone(),
            vault,
            providers,
            &app.settings.oauth,
            app.origin.clone(),
        )
        .unwrap();
        let tenant = nexus::auth::Tenant {
            user_id: user,
            project_id: project,
        };
        use secrecy::ExposeSecret;
        let refreshed = flows
            .session(tenant, "hubspot".parse().unwrap())
            .await
            .unwrap()
            .access_token
            .expose_secret()
            .to_owned();
        assert_ne!(refreshed, credential.tokens.access_token.expose_secret());
        let (_, body) = app
            .graphql(
                "mutation { disconnectProvider(provider: HUBSPOT) }",
                json!({}),
            )
            .await;
        assert_eq!(body["data"]["disconnectProvider"], true);
        vec![
            state,
            code,
            refreshed,
            credential.tokens.access_token.expose_secret().to_owned(),
            credential
                .tokens
                .refresh_token
                .unwrap()
                .expose_secret()
                .to_owned(),
        ]
    });
    let logs = captured.text();
    assert!(
        logs.contains("provider connected") && logs.contains("tokens revoked"),
        "the capture saw the cycle: {logs}"
    );
    for (i, secret) in secrets.iter().enumerate() {
        let line = logs
            .lines()
            .find(|l| l.contains(secret.as_str()))
            .unwrap_or_default();
        assert!(
            line.is_empty(),
            "secret {i} appears in the logs: {}",
            line.replace(secret.as_str(), "<SECRET>")
        );
    }
}

#[tokio::test]
async fn every_oauth_provider_connects_through_the_sandbox_and_names_its_account() {
    let (app, _sandbox) = app_pointed_at_sandbox().await;
    let (user_id, project_id) = app.tenant("acme", "ada@acme.test").await;
    for provider in [
        "SALESFORCE",
        "HUBSPOT",
        "GMAIL",
        "GOOGLE_CALENDAR",
        "SLACK",
        "OUTLOOK",
        "TEAMS",
    ] {
        let back = consent(&connect_link(&app, provider, None).await, "approve").await;
        assert_eq!(callback(&back).await.0, 200, "{provider}");
        let slug: nexus::providers::Provider = provider.to_lowercase().parse().unwrap();
        let stored = app
            .credentials()
            .await
            .read(user_id, project_id, slug)
            .await
            .unwrap()
            .unwrap();
        let metadata = &stored.tokens.metadata;
        match provider {
            "SALESFORCE" => assert!(metadata["instance_url"].is_string(), "{metadata}"),
            "SLACK" => assert_eq!(metadata["team"]["id"], "T0SBX0001", "{metadata}"),
            "OUTLOOK" | "TEAMS" => {
                assert_eq!(
                    metadata["tenant_id"], "5ee7a8d4-2b1c-4f3e-9a61-5a4d0b5e2026",
                    "{metadata}"
                );
                assert!(metadata["user_id"].is_string());
            }
            _ => {}
        }
        assert!(
            !metadata.to_string().contains("id_token"),
            "no token in the metadata: {metadata}"
        );
    }
    use nexus::store::entities::integration_credentials as row;
    use sea_orm::EntityTrait;
    let rows = row::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(rows.len(), 7);
    for stored in rows {
        let opened = app
            .credentials()
            .await
            .read(user_id, project_id, stored.provider.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        use secrecy::ExposeSecret;
        assert!(
            !stored
                .access_token_encrypted
                .contains(opened.tokens.access_token.expose_secret()),
            "the token is sealed at rest"
        );
    }
    let (_, body) = app
        .graphql("{ viewer { connections { provider status } } }", json!({}))
        .await;
    let connected = body["data"]["viewer"]["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "CONNECTED")
        .count();
    assert_eq!(connected, 7, "{body}");

    // A query through the gateway reaches each of them with the stored credential.
    for (provider, query, list) in [
        (
            "SALESFORCE",
            "contacts",
            "contacts(first: 2, providers: [SALESFORCE])",
        ),
        (
            "HUBSPOT",
            "contacts",
            "contacts(first: 2, providers: [HUBSPOT])",
        ),
        ("GMAIL", "emails", "emails(first: 2, providers: [GMAIL])"),
        (
            "GOOGLE_CALENDAR",
            "events",
            "events(first: 2, providers: [GOOGLE_CALENDAR])",
        ),
        (
            "OUTLOOK",
            "emails",
            "emails(first: 2, providers: [OUTLOOK])",
        ),
        (
            "SLACK",
            "channels",
            "channels(first: 2, providers: [SLACK])",
        ),
        (
            "TEAMS",
            "messages",
            "messages(first: 2, providers: [TEAMS])",
        ),
    ] {
        let (_, body) = app
            .graphql(
                &format!("{{ {list} {{ nodes {{ provider remoteId }} }} }}"),
                json!({}),
            )
            .await;
        assert!(body["errors"].is_null(), "{provider}: {body}");
        let nodes = body["data"][query]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 2, "{provider}: {body}");
        assert!(nodes.iter().all(|n| n["provider"] == provider), "{body}");
    }
}

#[tokio::test]
async fn disconnecting_slack_revokes_with_its_own_token() {
    let (app, sandbox) = app_pointed_at_sandbox().await;
    let back = consent(&connect_link(&app, "SLACK", None).await, "approve").await;
    assert_eq!(callback(&back).await.0, 200);
    let (user, project) = app.tenant("acme", "ada@acme.test").await;
    let credential = app
        .credentials()
        .await
        .read(user, project, nexus::providers::Provider::Slack)
        .await
        .unwrap()
        .unwrap();
    let access = secrecy::ExposeSecret::expose_secret(&credential.tokens.access_token).to_owned();
    let auth_test = || async {
        reqwest::Client::new()
            .post(format!("{sandbox}/slack/api/auth.test"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    assert_eq!(auth_test().await["ok"], true);

    let (_, body) = app
        .graphql(
            "mutation { disconnectProvider(provider: SLACK) }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["disconnectProvider"], true, "{body}");
    let answer = auth_test().await;
    assert_eq!(answer["ok"], false, "{answer}");
    assert_eq!(answer["error"], "token_revoked", "{answer}");
    assert!(
        app.credentials()
            .await
            .read(user, project, nexus::providers::Provider::Slack)
            .await
            .unwrap()
            .is_none()
    );
}
