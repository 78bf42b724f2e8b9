//! `connectProvider`: the provider's authorize URL (the catalog's scopes, PKCE where the provider
//! takes it), a one-time state stored hashed with its sealed verifier, redirects kept on allowed
//! origins — and the URL leads to the provider's (here the sandbox's) consent page.

use std::collections::HashMap;

use nexus::{config::ProviderSettings, store::entities::oauth_states};
use sea_orm::EntityTrait;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, first_code, spawn_app_with, test_settings};

const CONNECT: &str = "mutation($p: Provider!, $r: String) { connectProvider(provider: $p, redirectAfter: $r) { url expiresAt } }";

async fn app_pointed_at_sandbox() -> (TestApp, String) {
    let sandbox = nexus::sandbox::start(([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let origin = sandbox.origin();
    let mut settings = test_settings();
    for slug in ["hubspot", "slack"] {
        let app = nexus::sandbox::App::for_provider(slug);
        settings.providers.insert(
            slug.into(),
            ProviderSettings {
                client_id: Some(app.client_id),
                client_secret: Some(app.client_secret.into()),
                authorize_url: Some(format!("{origin}/{slug}/oauth/authorize")),
                ..ProviderSettings::default()
            },
        );
    }
    (spawn_app_with(settings).await, origin)
}

fn query_of(url: &str) -> HashMap<String, String> {
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
    let (_, body) = app.graphql(CONNECT, json!({ "p": "GMAIL" })).await;
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
