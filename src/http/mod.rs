//! The HTTP face: axum routes for GraphQL (HTTP and WebSocket), OAuth callbacks, health,
//! metrics and the playground, wrapped in the layers every request passes (request id, trace, panic guard).

mod graphql;
mod health;
mod media;
mod metrics;
mod oauth;
mod playground;
pub mod serve;
mod webhooks;
mod ws;

use std::sync::Arc;

use axum::{
    Router,
    extract::Request,
    routing::{get, post},
};
use http::header::AUTHORIZATION;
use sea_orm::DatabaseConnection;
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    trace::TraceLayer,
};

use crate::{
    auth::Authenticator,
    changes::{hooks::ConnectionHooks, webhooks::Webhooks},
    graphql::{AppSchema, limits::DocumentLimits},
    oauth::ConnectFlows,
    providers::Registry,
    shutdown::Shutdown,
};

pub use playground::PlaygroundConfig;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    /// The schema's document limits, which the GraphQL handler checks off the async workers.
    pub document_limits: DocumentLimits,
    /// The provider adapters, for each request's own loaders.
    pub providers: Registry,
    /// The synced copy, for each request's own loaders.
    pub read_model: Arc<dyn nexus_core::ReadModel>,
    pub connect: ConnectFlows,
    pub webhooks: Webhooks,
    /// What each provider needs done right after a connection is made.
    pub hooks: ConnectionHooks,
    /// The origin providers call this gateway at (signatures cover the full URL).
    pub public_origin: String,
    pub auth: Authenticator,
    pub db: DatabaseConnection,
    pub body_limit: usize,
    pub playground: Option<Arc<PlaygroundConfig>>,
    /// The gateway's background tasks, which work a request starts joins.
    pub shutdown: Shutdown,
}

pub fn router(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/oauth/{provider}/callback", get(oauth::callback))
        .route("/webhooks/{provider}", post(webhooks::receive))
        .route(
            "/webhooks/{provider}/{endpoint}",
            post(webhooks::receive_at),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render));
    if state.playground.is_some() {
        router = router.merge(playground::routes());
    }
    router
        .with_state(state)
        .layer(CatchPanicLayer::new())
        // Spans name the path only: query strings carry OAuth codes and states (and a webhook
        // endpoint's path may carry its token, so endpoints are left out too).
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let path = webhooks::loggable(request.uri().path());
                tracing::info_span!("request", method = %request.method(), path = %path)
            }),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(SetSensitiveRequestHeadersLayer::new([AUTHORIZATION]))
}
