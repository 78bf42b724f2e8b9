//! Several gateways on one PostgreSQL database and one sandbox, each a `nexus serve` process of
//! its own (what a process keeps in memory cannot leak between them the way it would between two
//! apps in this test's process): a write through one gateway, and a key revoked by another
//! process, are seen at once through a gateway whose memory held the old answer; three gateways
//! finding one token expired make one call to the token endpoint.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use chrono::{Duration, Utc};
use futures_util::future::join_all;
use nexus::{
    auth::{Tenants, create_api_key},
    providers::{Cataloged, Provider},
    store::entities::integration_credentials as row,
    vault::Key,
};
use sea_orm::{DatabaseConnection, EntityTrait, sea_query::Expr};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::{
    connect::{callback, consent},
    helpers::{admin, eventually, json_of, postgres_url, wait_until_up},
};

/// A `nexus serve` process, stopped on drop.
struct Gateway {
    child: Child,
    origin: String,
    _dir: TempDir,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gateway {
    async fn graphql(&self, key: &str, query: &str, variables: Value) -> (u16, Value) {
        json_of(
            reqwest::Client::new()
                .post(format!("{}/graphql", self.origin))
                .bearer_auth(key)
                .json(&json!({ "query": query, "variables": variables }))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Connects `provider` for the caller of `key` through this gateway's whole flow.
    async fn connect(&self, key: &str, provider: &str) {
        let (_, body) = self
            .graphql(
                key,
                "mutation($p: Provider!) { connectProvider(provider: $p) { url } }",
                json!({ "p": provider }),
            )
            .await;
        let url = body["data"]["connectProvider"]["url"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"));
        let back = consent(url, "approve").await;
        assert_eq!(callback(&back).await.0, 200, "{provider} connects");
    }
}

/// One database, one sandbox, one configuration, and the gateways started on them.
struct Cluster {
    database: SecretString,
    sandbox: String,
    vault_key: SecretString,
    config: PathBuf,
    _dir: TempDir,
}

impl Cluster {
    /// On a fresh PostgreSQL database; `None` (the test skips) without one. `first_pass` fills a
    /// connection's copy when it connects.
    async fn new(first_pass: bool) -> Option<Self> {
        let database = postgres_url().await?;
        let sandbox = nexus_sandbox::start(([127, 0, 0, 1], 0).into())
            .await
            .unwrap()
            .origin();
        for provider in ["hubspot", "salesforce", "gmail"] {
            admin(
                &sandbox,
                "/limits",
                json!({ "provider": provider, "enforce": false }),
            )
            .await;
        }
        let dir = TempDir::new().unwrap();
        let config = dir.path().join("nexus.toml");
        std::fs::write(&config, config_for(&sandbox, first_pass)).unwrap();
        Some(Self {
            database,
            sandbox,
            vault_key: Key::generate_hex(),
            config,
            _dir: dir,
        })
    }

    /// A gateway process on the cluster's database, serving once this returns.
    async fn start(&self) -> Gateway {
        let dir = TempDir::new().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_nexus"))
            .arg("--config")
            .arg(&self.config)
            .arg("--data-dir")
            .arg(dir.path())
            .arg("serve")
            .env("DATABASE_URL", self.database.expose_secret())
            .env(
                "INTEGRATION_TOKEN_ENCRYPTION_KEY",
                self.vault_key.expose_secret(),
            )
            .env("NEXUS_SERVER__PORT", port.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let origin = format!("http://127.0.0.1:{port}");
        wait_until_up(&format!("{origin}/healthz"), &mut child, "a gateway").await;
        Gateway {
            child,
            origin,
            _dir: dir,
        }
    }

    async fn db(&self) -> DatabaseConnection {
        sea_orm::Database::connect(self.database.expose_secret())
            .await
            .unwrap()
    }

    async fn token_calls(&self, provider: &str, path: &str) -> u64 {
        let counters: Value = reqwest::get(format!("{}/_sandbox/counters", self.sandbox))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        counters[provider][format!("POST {path}")]["200"]
            .as_u64()
            .unwrap_or(0)
    }
}

/// The gateways' configuration: every provider at the sandbox, polling off, and what they keep
/// in memory kept for an hour, so that only a notification can make one drop it in time.
fn config_for(sandbox: &str, first_pass: bool) -> String {
    let mut toml = format!(
        "[changes]\nsync_interval_secs = 0\nfirst_pass = {first_pass}\ncopy_memo_secs = 3600\n\n\
         [auth]\nkey_cache_secs = 3600\n\n"
    );
    for provider in Provider::ALL {
        let Some(paths) = provider.entry().sandbox.as_ref() else {
            continue;
        };
        let app = nexus_sandbox::App::for_provider(provider.slug());
        toml += &format!(
            "[providers.{}]\nclient_id = \"{}\"\nclient_secret = \"{}\"\n\
             authorize_url = \"{sandbox}{}\"\ntoken_url = \"{sandbox}{}\"\nbase_url = \"{sandbox}{}\"\n",
            provider.slug(),
            app.client_id,
            app.client_secret,
            paths.authorize_path,
            paths.token_path,
            paths.base_path,
        );
        if let Some(revoke) = &paths.revoke_path {
            toml += &format!("revoke_url = \"{sandbox}{revoke}\"\n");
        }
        toml += "\n";
    }
    toml
}

const CONTACTS: &str =
    "{ contacts(first: 20, providers: [HUBSPOT], maxAge: 3600) { nodes { id firstName source } } }";

/// Reaching back before mail's synced window, so the list is read live and kept in the mail
/// cache (the cache is what this test follows across instances, not the copy).
const EMAILS: &str = "{ emails(first: 5, providers: [GMAIL], maxAge: 300, \
     filter: { after: \"2020-01-01T00:00:00Z\" }) { nodes { id labels source } } }";

fn nodes<'a>(body: &'a Value, list: &str) -> &'a Vec<Value> {
    body["data"][list]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_one_gateway_is_not_answered_stale_by_another() {
    let _heavy = crate::helpers::heavy().await;
    let Some(cluster) = Cluster::new(true).await else {
        return;
    };
    let a = cluster.start().await;
    let db = cluster.db().await;
    let tenants = Tenants::new(db.clone());
    let key = create_api_key(&tenants, "acme", "ada@acme.test")
        .await
        .unwrap();
    let b = cluster.start().await;
    a.connect(&key, "HUBSPOT").await;
    a.connect(&key, "GMAIL").await;

    // HubSpot's contacts: B answers from the copy A's first pass filled, and keeps the answer.
    let synced = eventually(
        "B to answer contacts from the copy",
        std::time::Duration::from_secs(60),
        async || {
            let (_, body) = b.graphql(&key, CONTACTS, json!({})).await;
            let nodes = nodes(&body, "contacts");
            (!nodes.is_empty() && nodes.iter().all(|n| n["source"] == "SYNCED")).then_some(body)
        },
    )
    .await;
    let (_, kept) = b.graphql(&key, CONTACTS, json!({})).await;
    assert_eq!(kept, synced, "B keeps the copy's answer");
    let id = nodes(&synced, "contacts")[0]["id"].as_str().unwrap();
    let renamed = format!("Renamed{}", uuid::Uuid::new_v4().simple());
    let (_, written) = a
        .graphql(
            &key,
            "mutation($i: UpdateContactInput!) { updateContact(input: $i) { contact { id firstName } } }",
            json!({ "i": { "id": id, "firstName": renamed } }),
        )
        .await;
    assert_eq!(
        written["data"]["updateContact"]["contact"]["firstName"], renamed,
        "{written}"
    );
    let (_, after) = b.graphql(&key, CONTACTS, json!({})).await;
    let seen = nodes(&after, "contacts")
        .iter()
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("{after}"));
    assert_eq!(
        seen["firstName"], renamed,
        "B does not answer stale: {after}"
    );

    // Gmail's list: B caches the page, A changes a message's labels, B's next list is live.
    let (_, first) = b.graphql(&key, EMAILS, json!({})).await;
    let (_, cached) = b.graphql(&key, EMAILS, json!({})).await;
    assert!(
        nodes(&cached, "emails")
            .iter()
            .all(|n| n["source"] == "CACHED"),
        "B caches the page: {cached}"
    );
    let message = nodes(&first, "emails")
        .iter()
        .find(|n| !n["labels"].as_array().unwrap().contains(&json!("STARRED")))
        .unwrap_or_else(|| panic!("an unstarred message: {first}"));
    let id = message["id"].as_str().unwrap();
    let (_, starred) = a
        .graphql(
            &key,
            "mutation($i: ModifyEmailLabelsInput!) { modifyEmailLabels(input: $i) { email { id labels } } }",
            json!({ "i": { "id": id, "add": ["STARRED"] } }),
        )
        .await;
    assert!(starred["errors"].is_null(), "{starred}");
    let (_, after) = b.graphql(&key, EMAILS, json!({})).await;
    let seen = nodes(&after, "emails")
        .iter()
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("{after}"));
    assert!(
        seen["labels"]
            .as_array()
            .unwrap()
            .contains(&json!("STARRED")),
        "B does not answer from its stale page: {after}"
    );
    assert_eq!(seen["source"], "LIVE", "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_by_another_process_is_refused_at_once_by_a_gateway_that_kept_it() {
    let _heavy = crate::helpers::heavy().await;
    let Some(cluster) = Cluster::new(false).await else {
        return;
    };
    let _a = cluster.start().await;
    let db = cluster.db().await;
    let tenants = Tenants::new(db.clone());
    let key = create_api_key(&tenants, "acme", "ada@acme.test")
        .await
        .unwrap();
    let b = cluster.start().await;
    let (status, body) = b.graphql(&key, "{ __typename }", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = b.graphql(&key, "{ __typename }", json!({})).await;
    assert_eq!(status, 200, "B keeps the key it found");

    // As `nexus keys revoke` does, from a process of its own.
    let id = tenants
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| key.starts_with(&k.prefix))
        .unwrap()
        .id;
    assert!(tenants.revoke_key(id).await.unwrap());
    let (status, body) = b.graphql(&key, "{ __typename }", json!({})).await;
    assert_eq!(status, 401, "B refuses the revoked key: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_on_one_expired_token_make_one_token_call() {
    let _heavy = crate::helpers::heavy().await;
    let Some(cluster) = Cluster::new(false).await else {
        return;
    };
    let a = cluster.start().await;
    let db = cluster.db().await;
    let key = create_api_key(&Tenants::new(db.clone()), "acme", "ada@acme.test")
        .await
        .unwrap();
    let b = cluster.start().await;
    let c = cluster.start().await;
    a.connect(&key, "SALESFORCE").await;
    row::Entity::update_many()
        .col_expr(
            row::Column::TokenExpiresAt,
            Expr::value(Utc::now() - Duration::minutes(1)),
        )
        .exec(&db)
        .await
        .unwrap();
    let path = "/services/oauth2/token";
    // A slow token endpoint: every gateway finds the token expired while the first refresh runs.
    admin(
        &cluster.sandbox,
        "/faults",
        json!({ "provider": "salesforce", "path": path, "error_rate": 0.0, "latency_ms": 500 }),
    )
    .await;
    let calls = cluster.token_calls("salesforce", path).await;

    let query = "{ leads(first: 1, maxAge: 0) { nodes { id } } }";
    let answers = join_all(
        [&a, &b, &c]
            .into_iter()
            .cycle()
            .take(30)
            .map(|gateway| gateway.graphql(&key, query, json!({}))),
    )
    .await;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert!(
            body["errors"].is_null() && body["data"]["leads"]["nodes"][0]["id"].is_string(),
            "every query succeeds: {body}"
        );
    }
    assert_eq!(
        cluster.token_calls("salesforce", path).await,
        calls + 1,
        "one call to the token endpoint for three gateways"
    );
}
