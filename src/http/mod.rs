//! The HTTP face: axum routes for GraphQL (HTTP, WebSocket, and Server-Sent Events on
//! `/graphql/stream`), OAuth callbacks, health,
//! metrics and the playground, wrapped in the layers every request passes (request id, trace,
//! access log, CORS, compression, panic guard).
//!
//! Answers are compressed (gzip or br, by `Accept-Encoding`) when they are larger than a packet
//! and not already compressed; a WebSocket's `101 Switching Protocols` and event streams are
//! left alone (a compressed stream would be held back until the encoder's buffer fills).

mod access;
mod cors;
mod graphql;
mod health;
mod intake;
mod media;
mod metrics;
mod oauth;
mod playground;
pub mod serve;
mod sse;
mod webhooks;
mod ws;

use std::sync::Arc;

use axum::{
    Router,
    extract::Request,
    routing::{get, post},
};
use http::{Extensions, HeaderMap, StatusCode, Version, header::AUTHORIZATION};
use sea_orm::DatabaseConnection;
use tower_http::{
    catch_panic::CatchPanicLayer,
    compression::{
        CompressionLayer, CompressionLevel,
        predicate::{DefaultPredicate, Predicate},
    },
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

pub use cors::{NotAnOrigin, Origins};
pub use metrics::MetricsAccess;
pub use playground::PlaygroundConfig;

/// Compression quality for gzip and br alike. Brotli's default (11) is meant for compressing
/// once ahead of time and is many times slower; 4 is the usual level for answers compressed as
/// they are sent (the playground's largest script, 998 KB, goes out as 327 KB).
const COMPRESSION: CompressionLevel = CompressionLevel::Precise(4);

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
    /// The origins whose pages may call the API (the WebSocket handshake checks them).
    pub origins: Arc<Origins>,
    /// The MCP server at `/mcp`, when `mcp.enabled`.
    pub mcp: Option<Router>,
    /// The shared limits' Redis, when `limits.backend = "redis"` (`/readyz` says when it is
    /// unreachable).
    pub shared_limits: Option<Arc<crate::limits::Shared>>,
}

/// The gateway's routes; `/metrics` among them under `metrics`, or not at all when it is `None`
/// (it has a listener of its own, [`metrics_router`]).
pub fn router(state: AppState, metrics: Option<MetricsAccess>) -> Router {
    let mut router = Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphql/stream", post(sse::post))
        .route("/oauth/{provider}/callback", get(oauth::callback))
        .route("/webhooks/{provider}", post(webhooks::receive))
        .route(
            "/webhooks/{provider}/{endpoint}",
            post(webhooks::receive_at),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    if let Some(access) = metrics {
        router = router.merge(metrics::routes(access));
    }
    if state.playground.is_some() {
        router = router.merge(playground::routes());
    }
    let cors = state.origins.layer();
    let mcp = state.mcp.clone();
    let mut router = router.with_state(state);
    if let Some(mcp) = mcp {
        router = router.merge(mcp);
    }
    layered(router.layer(cors))
}

/// `/metrics` alone, for the listener `server.metrics_addr` names.
pub fn metrics_router(access: MetricsAccess) -> Router {
    layered(metrics::routes(access))
}

/// The layers every request passes.
fn layered(router: Router) -> Router {
    let compression =
        CompressionLayer::new()
            .quality(COMPRESSION)
            .compress_when(DefaultPredicate::new().and(
                |status: StatusCode, _: Version, _: &HeaderMap, _: &Extensions| {
                    status != StatusCode::SWITCHING_PROTOCOLS
                },
            ));
    router
        .layer(CatchPanicLayer::new())
        .layer(compression)
        .layer(axum::middleware::from_fn(access::log))
        // Spans name the path only: query strings carry OAuth codes and states (and a webhook
        // endpoint's path may carry its token, so endpoints are left out too). The request id
        // is in the span, so every line logged for the request carries it. Exported as a
        // trace's server span, it continues the caller's trace (`traceparent`).
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let path = webhooks::loggable(request.uri().path());
                let request_id = access::request_id(request.headers()).unwrap_or_default();
                let span = tracing::info_span!(
                    "request",
                    otel.name = %format_args!("{} {path}", request.method()),
                    otel.kind = "server",
                    request_id,
                    method = %request.method(),
                    path = %path,
                    http.response.status_code = tracing::field::Empty,
                    otel.status_code = tracing::field::Empty,
                );
                crate::telemetry::traces::continue_trace(&span, request.headers());
                span
            }),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(axum::middleware::map_request(access::fit_request_id))
        .layer(SetSensitiveRequestHeadersLayer::new([AUTHORIZATION]))
}
