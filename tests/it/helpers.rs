//! `spawn_app()` and typed helpers for talking to a gateway under test, and `eventually()`, how
//! a test waits for an effect: it polls for it, never sleeps a fixed time.

use std::{path::PathBuf, sync::Arc, time::Duration};

use nexus::{
    auth::Tenants,
    auth::create_api_key,
    config::Settings,
    shutdown::Shutdown,
    startup::{Application, open_database, vault},
    vault::{CredentialVault, Key},
};
use reqwest::{Client, Response};
use sea_orm::DatabaseConnection;
use secrecy::SecretString;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A gateway serving on a loopback port, with its own database and a first API key.
pub struct TestApp {
    pub settings: Settings,
    pub origin: String,
    /// `/metrics`'s own listener, with `server.metrics_addr`.
    pub metrics_origin: Option<String>,
    pub key: String,
    pub db: DatabaseConnection,
    pub tenants: Tenants,
    pub client: Client,
    /// The gateway's background tasks (pollers, keepers, early syncs).
    pub background: Shutdown,
    /// Cancelled by `stop`: the app's shutdown signal.
    signal: CancellationToken,
    server: Option<JoinHandle<std::io::Result<()>>>,
    _dir: Arc<TempDir>,
}

/// Polls `effect` until it yields a value, and returns it; panics naming `what` was awaited
/// once `within` has passed without it.
pub async fn eventually<T>(
    what: &str,
    within: Duration,
    mut effect: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = effect().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {within:?} for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Held by the tests that load the machine most (several gateway processes, thousands of
/// records through a debug build, a provider's rate held for many seconds): one of them runs at a
/// time, so the suite can run more test threads (`.ci/run` sets `RUST_TEST_THREADS`) without two
/// of them starving each other of the two cores.
pub async fn heavy() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}

/// Waits until `url` answers, while `child` (the process serving it, named `what`) runs.
pub async fn wait_until_up(url: &str, child: &mut std::process::Child, what: &str) {
    eventually(
        &format!("{what} to be up"),
        Duration::from_secs(60),
        async || {
            assert!(child.try_wait().unwrap().is_none(), "{what} exited");
            reqwest::get(url).await.ok().map(drop)
        },
    )
    .await
}

/// Serves `app` in the background until `signal` is cancelled.
fn serve(app: Application) -> (Shutdown, CancellationToken, JoinHandle<std::io::Result<()>>) {
    let background = app.shutdown_handle();
    let signal = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(signal.clone().cancelled_owned()));
    (background, signal, server)
}

/// Settings for tests: port 0, introspection on (the playground needs it), a fresh
/// encryption key.
pub fn test_settings() -> Settings {
    let mut settings = Settings::default();
    settings.server.port = 0;
    settings.graphql.introspection = true;
    settings.vault.key = Some(Key::generate_hex());
    // Tests that sync turn polling on themselves, so upstream counters stay theirs.
    settings.changes.sync_interval_secs = Some(0);
    // Likewise the first passes that fill a new connection's copy.
    settings.changes.first_pass = false;
    // What the gateway keeps in memory (the copy's answers, API keys found) is kept for an hour,
    // so that every test that writes and then reads proves the writers drop it.
    settings.changes.copy_memo_secs = 3600;
    settings.auth.key_cache_secs = Some(3600);
    settings
}

/// The databases storage tests run on: SQLite always, and a fresh PostgreSQL database when
/// `NEXUS_TEST_POSTGRES_URL` names a server (required under `NEXUS_TEST_STRICT=1`).
pub async fn backends() -> Vec<(&'static str, Option<SecretString>)> {
    let mut list = vec![("sqlite", None)];
    let admin = std::env::var("NEXUS_TEST_POSTGRES_URL").ok();
    if require(admin.is_some(), "PostgreSQL (NEXUS_TEST_POSTGRES_URL)") {
        list.push(("postgres", Some(fresh_postgres(&admin.unwrap()).await)));
    }
    list
}

/// A fresh PostgreSQL database when `NEXUS_TEST_POSTGRES_URL` names a server (required under
/// `NEXUS_TEST_STRICT=1`); `None` skips the test.
pub async fn postgres_url() -> Option<SecretString> {
    let admin = std::env::var("NEXUS_TEST_POSTGRES_URL").ok();
    if require(admin.is_some(), "PostgreSQL (NEXUS_TEST_POSTGRES_URL)") {
        Some(fresh_postgres(&admin.unwrap()).await)
    } else {
        None
    }
}

/// Creates an empty database on the server and returns its URL.
pub async fn fresh_postgres(admin_url: &str) -> SecretString {
    let name = format!("nexus_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sea_orm::Database::connect(admin_url)
        .await
        .expect("PostgreSQL reachable");
    sea_orm::ConnectionTrait::execute_unprepared(&admin, &format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    admin.close().await.ok();
    let mut url = url::Url::parse(admin_url).expect("NEXUS_TEST_POSTGRES_URL is a URL");
    url.set_path(&name);
    url.to_string().into()
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

/// The app on `settings`; `prefill_playground` gives the playground the app's own key.
pub async fn spawn(mut settings: Settings, prefill_playground: bool) -> TestApp {
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
    let metrics_origin = app.metrics_addr().map(|addr| format!("http://{addr}"));
    let (background, signal, server) = serve(app);
    TestApp {
        settings,
        origin,
        metrics_origin,
        key,
        db,
        tenants,
        client: Client::new(),
        background,
        signal,
        server: Some(server),
        _dir: dir,
    }
}

/// A second gateway process on the database of another (same tenants, same keys).
pub async fn spawn_on(settings: Settings, db: DatabaseConnection) -> TestApp {
    let dir = Arc::new(TempDir::new().expect("temp dir"));
    let tenants = Tenants::new(db.clone());
    let key = create_api_key(&tenants, "acme", "ada@acme.test")
        .await
        .expect("api key");
    let app = Application::build_with(&settings, db.clone())
        .await
        .expect("application");
    let origin = format!("http://{}", app.local_addr());
    let metrics_origin = app.metrics_addr().map(|addr| format!("http://{addr}"));
    let (background, signal, server) = serve(app);
    TestApp {
        settings,
        origin,
        metrics_origin,
        key,
        db,
        tenants,
        client: Client::new(),
        background,
        signal,
        server: Some(server),
        _dir: dir,
    }
}

impl TestApp {
    /// Sends the app its shutdown signal and waits until it has stopped (requests drained,
    /// background tasks ended or the grace period over, database closed).
    pub async fn stop(&mut self) {
        self.signal.cancel();
        if let Some(server) = self.server.take() {
            server.await.expect("the server task").expect("served");
        }
    }

    /// Waits until no background task named `task` runs: with `nexus::changes::sync::nudge::TASK`,
    /// every early sync scheduled so far has run (a nudge counts from when it is scheduled).
    pub async fn until_idle(&self, task: &str) {
        eventually(
            &format!("the {task} tasks to end"),
            Duration::from_secs(15),
            async || (self.background.running(task) == 0).then_some(()),
        )
        .await
    }

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

    /// The credential repository with this app's keys.
    pub async fn credentials(&self) -> CredentialVault {
        CredentialVault::new(self.db.clone(), vault(&self.settings).await.expect("vault"))
    }

    /// The (user, project) ids of a tenant, created if missing.
    pub async fn tenant(&self, project: &str, user: &str) -> (uuid::Uuid, uuid::Uuid) {
        let u = self.tenants.ensure_user(user).await.unwrap();
        let p = self.tenants.ensure_project(project).await.unwrap();
        (u.id, p.id)
    }

    /// Another key, for another user and project.
    pub async fn key_for(&self, project: &str, user: &str) -> String {
        create_api_key(&self.tenants, project, user)
            .await
            .expect("api key")
    }
}

/// The cursor before a project's first change (subscribing from it, rather than from the live
/// tail, keeps a test's first event from racing the subscription's start).
pub fn from_the_start() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("change:0")
}

/// Whether `event` is a lifecycle event (`connection.created`, `sync.completed`, ...), which the
/// log holds beside record changes; tests of record changes leave them aside (tests/it/sse.rs
/// covers them).
pub fn is_lifecycle(event: &Value) -> bool {
    event["type"].as_str().is_some_and(|t| {
        ["connection.", "sync.", "webhook_endpoint."]
            .iter()
            .any(|kind| t.starts_with(kind))
    })
}

/// The record changes among the change log's first 100 events, as `{ op provider type remoteId }`.
pub async fn stored(app: &TestApp) -> Vec<Value> {
    let (status, body) = app
        .graphql(
            "query($first: Int) { changes(first: $first) { nodes { op provider type remoteId } } }",
            json!({ "first": 100 }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["changes"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !is_lifecycle(e))
        .cloned()
        .collect()
}

/// POSTs `body` to the sandbox's admin API at `/_sandbox{path}`; its JSON answer (null if none).
pub async fn admin(sandbox: &str, path: &str, body: Value) -> Value {
    let response = Client::new()
        .post(format!("{sandbox}/_sandbox{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Makes a change in the sandbox (`/_sandbox/records`), as a user of the provider would.
pub async fn change_in_sandbox(sandbox: &str, change: Value) -> Value {
    admin(sandbox, "/records", change).await
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

/// A loopback endpoint that hands every POST it receives (headers, raw body) to the test.
pub async fn webhook_receiver() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(axum::http::HeaderMap, axum::body::Bytes)>,
) {
    use axum::{body::Bytes, http::HeaderMap, routing::post};
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let receiver = axum::Router::new().route(
        "/hooks",
        post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((headers, body));
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });
    (url, rx)
}

/// A fresh sandbox on a loopback port, a client that does not follow redirects (OAuth tests
/// read them), and tokens for the provider's default account from the admin API.
pub async fn sandbox_with_tokens(provider: &str) -> (String, reqwest::Client, Value) {
    let sandbox = nexus_sandbox::start(([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let origin = sandbox.origin();
    let tokens: Value = client
        .post(format!("{origin}/_sandbox/tokens"))
        .json(&json!({ "provider": provider }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (origin, client, tokens)
}

/// Everything logged anywhere in the test process, from the first call on (TRACE and up).
///
/// One process-wide subscriber: per-thread ones (`set_default`) miss events when tests run in
/// parallel, because tracing caches callsite interest across threads. Other tests' logs land here
/// too; a test looks for its own secrets, which no other test knows.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn captured_logs() -> CapturedLogs {
    static CAPTURED: std::sync::OnceLock<CapturedLogs> = std::sync::OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = CapturedLogs::default();
            let writer = captured.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber");
            captured
        })
        .clone()
}
