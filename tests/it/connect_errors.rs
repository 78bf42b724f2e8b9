//! A connect flow that fails returns the browser to the app, as OAuth clients expect (RFC 6749,
//! 4.1.2.1): to the flow's `redirectAfter` with `error`, `error_description` and `provider`,
//! through the real redirects (the sandbox's consent page, the gateway's callback). Only to an
//! allowed origin; without one (or with an unknown state) the gateway's own page, as before.

use nexus::store::entities::oauth_states;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use sha2::{Digest, Sha256};

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox, query_of},
    helpers::TestApp,
};

/// Where the callback at `back` sends the browser: its status and the query of its `Location`.
async fn returned(back: &str) -> (u16, String, std::collections::HashMap<String, String>) {
    let (status, _, location) = callback(back).await;
    let location = location.unwrap_or_else(|| panic!("no redirect ({status})"));
    let query = query_of(&location);
    (status, location, query)
}

async fn stored(app: &TestApp) -> usize {
    nexus::store::entities::integration_credentials::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_denied_consent_returns_to_the_app_with_access_denied() {
    let (app, _) = pointed_at_sandbox(false).await;
    let done = format!("{}/done?tab=crm", app.origin);
    let url = connect_link(&app, "HUBSPOT", Some(done.clone())).await;
    let back = consent(&url, "deny").await;
    assert!(back.contains("error=access_denied"), "{back}");
    let (status, location, query) = returned(&back).await;
    assert_eq!(status, 303);
    assert!(
        location.starts_with(&format!("{}/done?", app.origin)),
        "{location}"
    );
    assert_eq!(query["tab"], "crm", "the app's own parameters stay");
    assert_eq!(query["error"], "access_denied");
    assert_eq!(
        query["error_description"],
        "access was not granted (access_denied)"
    );
    assert_eq!(query["provider"], "hubspot");
    assert!(!query.contains_key("connected"));
    assert!(!location.contains("code="), "{location}");
    assert_eq!(stored(&app).await, 0);
}

#[tokio::test]
async fn a_used_link_and_a_refused_code_exchange_return_with_their_errors() {
    let (app, _) = pointed_at_sandbox(false).await;
    let done = format!("{}/done", app.origin);

    // Connected once; the same callback again is a replay.
    let back = consent(
        &connect_link(&app, "SALESFORCE", Some(done.clone())).await,
        "approve",
    )
    .await;
    let (_, _, first) = returned(&back).await;
    assert_eq!(first["connected"], "salesforce");
    let (status, _, again) = returned(&back).await;
    assert_eq!(status, 303);
    assert_eq!(again["error"], "invalid_request");
    assert!(
        again["error_description"].contains("already used"),
        "{again:?}"
    );
    assert_eq!(again["provider"], "salesforce");

    // The provider refuses the code: the stored PKCE verifier is not the one it was given.
    let url = connect_link(&app, "HUBSPOT", Some(done.clone())).await;
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
    let (status, _, query) = returned(&back).await;
    assert_eq!(status, 303);
    assert_eq!(query["error"], "server_error");
    assert!(
        query["error_description"].contains("did not accept"),
        "{query:?}"
    );
    assert_eq!(stored(&app).await, 1, "only the Salesforce connection");
}

#[tokio::test]
async fn without_an_allowed_redirect_or_a_known_state_the_gateway_shows_its_page() {
    let (app, _) = pointed_at_sandbox(false).await;

    // No redirectAfter: the page, as before.
    let back = consent(&connect_link(&app, "HUBSPOT", None).await, "deny").await;
    let (status, page, location) = callback(&back).await;
    assert_eq!((status, location), (400, None));
    assert!(page.contains("not granted"), "{page}");

    // An origin no longer allowed when the browser comes back (the settings changed meanwhile).
    let url = connect_link(&app, "HUBSPOT", Some(format!("{}/done", app.origin))).await;
    oauth_states::Entity::update_many()
        .col_expr(
            oauth_states::Column::RedirectAfter,
            Expr::value("https://evil.example/steal"),
        )
        .exec(&app.db)
        .await
        .unwrap();
    let back = consent(&url, "deny").await;
    let (status, page, location) = callback(&back).await;
    assert_eq!((status, location), (400, None));
    assert!(page.contains("not granted"), "{page}");

    // An unknown state names no flow, so no place to return to.
    let url = connect_link(&app, "HUBSPOT", Some(format!("{}/done", app.origin))).await;
    let back = consent(&url, "deny")
        .await
        .replace("state=", "state=forged");
    let (status, page, location) = callback(&back).await;
    assert_eq!((status, location), (400, None));
    assert!(page.contains("unknown"), "{page}");
}
