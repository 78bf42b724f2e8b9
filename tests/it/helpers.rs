//! `spawn_app()` and typed helpers for talking to a gateway under test.

use std::{path::PathBuf, sync::Arc};

use nexus::{
    auth::create_api_key,
    config::Settings,
    startup::{Application, open_database},
    store::Tenants,
};
use reqwest::{Client, Response};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use tempfile::TempDir;

/// A gateway serving on a loopback port, with its own database and a first API key.
pub struct TestApp {
    pub origin: String,
    pub key: String,
    pub db: DatabaseConnection,
    pub tenants: Tenants,
    pub client: Client,
    _dir: Arc<TempDir>,
}

/// Settings for tests: port 0, introspection on (the playground needs it).
pub fn test_settings() -> Settings {
    let mut settings = Settings::default();
    settings.server.port = 0;
    settings.graphql.introspection = true;
    settings
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(test_settings()).await
}

pub async fn spawn_app_with(settings: Settings) -> TestApp {
    spawn(settings, false).await
}

/// Like the demo: the playground is pre-filled with the app's own key.
pub async fn spawn_app_with_playground_key() -> TestApp {
    spawn(test_settings(), true).await
}

async fn spawn(mut settings: Settings, prefill_playground: bool) -> TestApp {
    let dir = Arc::new(TempDir::new().expect("temp dir"));
    let db = open_database(&settings, dir.path())
        .await
        .expect("database");
    let tenants = Tenants::new(db.clone());
    let key = create_api_key(&tenants, "acme", "ada@acme.test")
        .await
        .expect("api key");
    if prefill_playground {
        settings.playground.api_key = Some(key.clone().into());
    }
    let app = Application::build_with(&settings, db.clone())
        .await
        .expect("application");
    let origin = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    TestApp {
        origin,
        key,
        db,
        tenants,
        client: Client::new(),
        _dir: dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// POSTs a GraphQL request with this app's key; returns status and JSON body.
    pub async fn graphql(&self, query: &str, variables: Value) -> (u16, Value) {
        self.graphql_as(&self.key, query, variables).await
    }

    pub async fn graphql_as(&self, key: &str, query: &str, variables: Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.url("/graphql"))
            .bearer_auth(key)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request");
        json_of(response).await
    }

    /// Another key, for another user and project.
    pub async fn key_for(&self, project: &str, user: &str) -> String {
        create_api_key(&self.tenants, project, user)
            .await
            .expect("api key")
    }
}

/// Status and JSON body of a response.
pub async fn json_of(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, body)
}

/// The `extensions.code` of the first error.
pub fn first_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

/// Whether tests must fail, not skip, when a tool is missing (`NEXUS_TEST_STRICT=1`, in CI).
pub fn strict() -> bool {
    std::env::var("NEXUS_TEST_STRICT").is_ok_and(|v| v == "1")
}

/// Skips (returns false) or, in strict mode, fails when a prerequisite is missing.
pub fn require(present: bool, what: &str) -> bool {
    if !present {
        assert!(!strict(), "NEXUS_TEST_STRICT=1 but {what} is missing");
        eprintln!("skipped: {what} is missing");
    }
    present
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
