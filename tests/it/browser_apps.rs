//! The gateway in front of browser apps: CORS for pages on other origins (in headless Chromium
//! and as plain HTTP), the WebSocket handshake's origin check, compressed answers, the
//! playground's cache headers and `GET /`.

use std::{io::Read, path::Path};

use reqwest::{Client, StatusCode, redirect::Policy};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

use crate::helpers::{TestApp, json_of, require, root, spawn_app_with, test_settings};

/// A gateway whose CORS list is `origins`.
async fn app_allowing(origins: &[&str]) -> TestApp {
    let mut settings = test_settings();
    settings.server.cors.allowed_origins = origins.iter().map(|o| (*o).to_owned()).collect();
    spawn_app_with(settings).await
}

/// A preflight from `origin` for a POST with the headers a GraphQL client sends.
async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, app.url("/graphql"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn a_preflight_from_a_listed_origin_is_answered_with_what_a_graphql_client_sends() {
    let app = app_allowing(&["https://app.example"]).await;
    let response = preflight(&app, "https://app.example").await;
    assert!(
        matches!(response.status(), StatusCode::OK | StatusCode::NO_CONTENT),
        "{}",
        response.status()
    );
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some("https://app.example")
    );
    let methods = header(&response, "access-control-allow-methods").unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let headers = header(&response, "access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(headers.contains("authorization"), "{headers}");
    assert!(headers.contains("content-type"), "{headers}");
    assert_eq!(header(&response, "access-control-max-age"), Some("600"));
    assert_eq!(header(&response, "access-control-allow-credentials"), None);

    // The actual request: the answer names the origin and lets the page read the request id.
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("Origin", "https://app.example")
        .bearer_auth(&app.key)
        .json(&json!({ "query": "{ viewer { user { email } } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some("https://app.example")
    );
    let exposed = header(&response, "access-control-expose-headers").unwrap();
    assert!(exposed.contains("x-request-id"), "{exposed}");
}

#[tokio::test]
async fn a_preflight_from_an_origin_not_listed_gets_no_permission() {
    let app = app_allowing(&["https://app.example"]).await;
    let response = preflight(&app, "https://evil.example").await;
    assert_ne!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&response, "access-control-allow-origin"), None);

    // `serve`'s default lists none.
    let app = app_allowing(&[]).await;
    let response = preflight(&app, "https://app.example").await;
    assert_ne!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&response, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn an_allowed_origin_that_is_not_an_origin_stops_startup_naming_the_setting() {
    let mut settings = test_settings();
    settings.server.cors.allowed_origins = vec!["https://app.example/path".into()];
    let dir = tempfile::TempDir::new().unwrap();
    let db = nexus::startup::open_database(&settings, dir.path())
        .await
        .unwrap();
    let error = nexus::startup::Application::build_with(&settings, db)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains("server.cors.allowed_origins"), "{error}");
    assert!(error.contains("https://app.example/path"), "{error}");
}

/// Opens a WebSocket on `/graphql` with `origin` (none when `None`); the handshake's status.
async fn handshake(app: &TestApp, origin: Option<&str>) -> u16 {
    let mut request = app
        .url("/graphql")
        .replacen("http://", "ws://", 1)
        .into_client_request()
        .unwrap();
    let headers = request.headers_mut();
    headers.insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    if let Some(origin) = origin {
        headers.insert("Origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("handshake: {other}"),
    }
}

#[tokio::test]
async fn the_websocket_handshake_admits_no_origin_its_own_and_listed_ones_and_refuses_others() {
    let app = app_allowing(&["https://app.example"]).await;
    let own = app.origin.clone();
    let localhost = own.replacen("127.0.0.1", "localhost", 1);
    assert_eq!(handshake(&app, None).await, 101, "a server or Node client");
    assert_eq!(handshake(&app, Some(&own)).await, 101, "the gateway's own");
    assert_eq!(
        handshake(&app, Some("https://app.example")).await,
        101,
        "listed"
    );
    assert_eq!(handshake(&app, Some("https://evil.example")).await, 403);
    // Reached under another name, the page's origin is the host it was served from.
    let mut request = app
        .url("/graphql")
        .replacen("http://", "ws://", 1)
        .into_client_request()
        .unwrap();
    let port = request.uri().port_u16().unwrap();
    let headers = request.headers_mut();
    headers.insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    headers.insert("Origin", localhost.parse().unwrap());
    headers.insert("Host", format!("localhost:{port}").parse().unwrap());
    let (_, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status().as_u16(), 101);
}

/// A page on its own loopback port (another origin than the gateway's), served until dropped.
struct Page {
    origin: String,
    server: tokio::task::JoinHandle<()>,
}

impl Page {
    async fn serve() -> Page {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let router = axum::Router::new().route(
            "/",
            axum::routing::get(|| async {
                axum::response::Html("<!doctype html><title>A browser app</title><p>app</p>")
            }),
        );
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Page { origin, server }
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn chromium_ready() -> bool {
    let modules = root().join("tests/js/node_modules");
    require(
        Path::new("/usr/bin/chromium").exists() && modules.join("playwright-core").exists(),
        "/usr/bin/chromium and playwright-core (npm ci in tests/js)",
    )
}

/// What the page at `page` could do with the gateway in Chromium (`tests/js/cors.mjs`).
async fn from_the_page(page: &Page, app: &TestApp) -> Value {
    let output = tokio::process::Command::new("node")
        .arg(root().join("tests/js/cors.mjs"))
        .args([&format!("{}/", page.origin), &app.origin, &app.key])
        .output()
        .await
        .expect("node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}\n{stdout}");
    serde_json::from_str(stdout.lines().last().unwrap_or("null"))
        .unwrap_or_else(|_| panic!("not JSON: {stdout}\n{stderr}"))
}

#[tokio::test]
async fn a_page_on_a_listed_origin_queries_and_subscribes_in_chromium() {
    if !chromium_ready() {
        return;
    }
    let page = Page::serve().await;
    let app = app_allowing(&[&page.origin]).await;
    let report = from_the_page(&page, &app).await;
    assert_eq!(report["pageOrigin"], page.origin.as_str());
    assert_eq!(report["fetch"]["ok"], true, "{report}");
    assert_eq!(report["fetch"]["status"], 200, "{report}");
    assert_eq!(
        report["fetch"]["body"]["data"]["viewer"]["user"]["email"], "ada@acme.test",
        "{report}"
    );
    assert!(report["fetch"]["requestId"].is_string(), "{report}");
    assert_eq!(report["ws"]["opened"], true, "{report}");
    assert_eq!(report["ws"]["events"], json!([1, 2]), "{report}");
    assert_eq!(report["ws"]["completed"], true, "{report}");
}

#[tokio::test]
async fn a_page_on_an_origin_not_listed_is_blocked_in_chromium() {
    if !chromium_ready() {
        return;
    }
    let page = Page::serve().await;
    let app = app_allowing(&["https://app.example"]).await;
    let report = from_the_page(&page, &app).await;
    assert_eq!(report["pageOrigin"], page.origin.as_str());
    assert_eq!(report["fetch"]["ok"], false, "{report}");
    assert_eq!(report["ws"]["opened"], false, "{report}");
    assert_eq!(report["ws"]["events"], json!([]), "{report}");
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// The body of `response` decoded by its `Content-Encoding`, which must be `expected`, and the
/// length it had on the wire.
async fn decoded(response: reqwest::Response, expected: &str) -> (Vec<u8>, usize) {
    assert_eq!(header(&response, "content-encoding"), Some(expected));
    let bytes = response.bytes().await.unwrap();
    let body = match expected {
        "gzip" => gunzip(&bytes),
        "br" => unbrotli(&bytes),
        other => panic!("{other}"),
    };
    (body, bytes.len())
}

#[tokio::test]
async fn graphql_answers_are_compressed_with_gzip_or_br_and_decode_to_the_same_body() {
    let app = app_allowing(&[]).await;
    let query = json!({ "query": "{ viewer { connections { provider status scopes } } }" });
    let post = |encoding: Option<&'static str>| {
        let mut request = app
            .client
            .post(app.url("/graphql"))
            .bearer_auth(&app.key)
            .json(&query);
        if let Some(encoding) = encoding {
            request = request.header("Accept-Encoding", encoding);
        }
        request.send()
    };
    let plain = post(None).await.unwrap();
    assert_eq!(header(&plain, "content-encoding"), None);
    let (status, plain) = json_of(plain).await;
    assert_eq!(status, 200);
    assert!(plain["data"]["viewer"]["connections"].is_array(), "{plain}");
    for encoding in ["gzip", "br"] {
        let (body, _) = decoded(post(Some(encoding)).await.unwrap(), encoding).await;
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body, plain, "{encoding}");
    }
}

#[tokio::test]
async fn the_playground_is_compressed_its_hashed_assets_immutable_and_its_page_revalidated() {
    let app = app_allowing(&[]).await;
    let page = app
        .client
        .get(app.url("/playground/"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, "cache-control"), Some("no-cache"));
    let html = page.text().await.unwrap();
    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page names its script");
    assert!(script.starts_with("/playground/assets/"), "{script}");

    let plain = app.client.get(app.url(script)).send().await.unwrap();
    assert_eq!(
        header(&plain, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let plain = plain.bytes().await.unwrap();
    for encoding in ["br", "gzip"] {
        let response = app
            .client
            .get(app.url(script))
            .header("Accept-Encoding", encoding)
            .send()
            .await
            .unwrap();
        assert_eq!(
            header(&response, "cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert!(
            response
                .headers()
                .get_all("vary")
                .iter()
                .any(|v| v.to_str().unwrap().contains("accept-encoding")),
            "caches keep the encodings apart"
        );
        let (body, sent) = decoded(response, encoding).await;
        assert_eq!(body, plain, "{encoding}");
        assert!(
            sent < plain.len() / 2,
            "{encoding}: {sent} of {}",
            plain.len()
        );
    }

    let settings = app
        .client
        .get(app.url("/playground/settings.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&settings, "cache-control"), Some("no-store"));
}

#[tokio::test]
async fn the_root_leads_to_the_playground_when_it_is_enabled() {
    let client = Client::builder().redirect(Policy::none()).build().unwrap();
    let app = app_allowing(&[]).await;
    let response = client.get(app.url("/")).send().await.unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    assert_eq!(header(&response, "location"), Some("/playground/"));

    let mut settings = test_settings();
    settings.playground.enabled = false;
    let app = spawn_app_with(settings).await;
    let response = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 404);
}
