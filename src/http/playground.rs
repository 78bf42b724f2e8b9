//! `/playground`: GraphiQL built from `playground/` and embedded in the binary, so it works with
//! no internet. `settings.json` tells the page where the endpoint is and, in the demo, pre-fills
//! the Authorization header with the demo's key.
//!
//! `GET /` leads here. The assets Vite names by their content hash (`assets/<name>-<hash>.js`)
//! are cached for a year, `immutable`: a new build has new names. The page itself is
//! `no-cache` (a browser asks again, and gets the page naming the new build's assets), and
//! `settings.json`, which may carry a key, is `no-store`.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use rust_embed::RustEmbed;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::AppState;

#[derive(RustEmbed)]
#[folder = "playground/dist/"]
struct Assets;

/// What the playground page is told at load.
pub struct PlaygroundConfig {
    /// The key to pre-fill (the demo's own); none outside the demo.
    pub api_key: Option<SecretString>,
}

/// Only our own origin, so nothing the page does can leave the gateway.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; font-src 'self' data:; connect-src 'self' ws: wss:; \
                   worker-src 'self' blob:; frame-ancestors 'none'";

/// Where Vite writes the assets it names by their content hash.
const HASHED: &str = "assets/";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/playground/") }))
        .route(
            "/playground",
            get(|| async { Redirect::permanent("/playground/") }),
        )
        .route("/playground/", get(|| async { asset("index.html") }))
        .route("/playground/settings.json", get(settings))
        .route(
            "/playground/{*path}",
            get(|Path(path): Path<String>| async move { asset(&path) }),
        )
}

async fn settings(State(state): State<AppState>) -> impl IntoResponse {
    let config: Option<&Arc<PlaygroundConfig>> = state.playground.as_ref();
    let headers = match config.and_then(|c| c.api_key.as_ref()) {
        Some(key) => json!({ "Authorization": format!("Bearer {}", key.expose_secret()) }),
        None => json!({}),
    };
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "endpoint": "/graphql", "headers": headers })),
    )
}

fn asset(path: &str) -> Response {
    let Some(file) = Assets::get(path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let mime = file.metadata.mimetype().to_owned();
    let mut response = file.data.into_owned().into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&mime) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let cache = if path.starts_with(HASHED) {
        IMMUTABLE
    } else {
        "no-cache"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}
