//! The sandbox: simulated providers speaking their real wire formats, for `nexus demo`, tests and
//! anyone pointing a client or an official SDK at it. Never used by production paths: the gateway
//! depends on this crate only behind its `demo` feature, and only `main.rs`, `cli.rs` and `demo.rs`
//! name it (`tests/it/walls.rs` checks).
//!
//! One loopback port serves every provider under its own prefix (`/hubspot/crm/v3/...`), with
//! the provider's own paths below it, plus the admin API under `/_sandbox/` (see `admin`). The
//! parts every simulator shares live here: the clock tests can advance, OAuth grants, rolling
//! windows, fault injection, call counters and arrival times, webhook targets and one seeded population of people.

// The Stripe objects are large `json!` literals.
#![recursion_limit = "512"]

mod accounts;
mod admin;
mod arrivals;
mod clock;
mod counters;
mod faults;
pub mod google;
pub mod hubspot;
pub mod microsoft;
mod oauth;
pub mod population;
pub mod salesforce;
pub mod slack;
pub mod stripe;
mod tokens;
mod unknown_path;
mod webhooks;
mod window;

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{Arc, Mutex, OnceLock},
};

use axum::{Router, middleware, response::Response};
use tokio::net::TcpListener;

pub use tokens::App;

use arrivals::Arrivals;
use clock::Clock;
use counters::Counters;
use faults::Faults;
use tokens::TokenStore;
use webhooks::WebhookTarget;

/// Everything the simulators share.
pub struct SandboxState {
    pub clock: Clock,
    tokens: Mutex<TokenStore>,
    counters: Counters,
    arrivals: Arrivals,
    faults: Faults,
    /// Providers whose limits are switched off (`POST /_sandbox/limits`).
    unlimited: Mutex<HashSet<String>>,
    webhooks: Mutex<HashMap<String, WebhookTarget>>,
    hubspot: accounts::Accounts<hubspot::Store>,
    salesforce: accounts::Accounts<salesforce::Store>,
    slack: slack::Slack,
    microsoft: microsoft::State,
    google: google::Google,
    http: reqwest::Client,
    /// The sandbox's own origin, once bound (Salesforce's `instance_url`).
    origin: OnceLock<String>,
}

impl SandboxState {
    fn new() -> Self {
        Self {
            clock: Clock::default(),
            tokens: Mutex::default(),
            counters: Counters::default(),
            arrivals: Arrivals::default(),
            faults: Faults::default(),
            unlimited: Mutex::default(),
            webhooks: Mutex::default(),
            hubspot: accounts::Accounts::new(hubspot::Store::seeded),
            salesforce: accounts::Accounts::new(salesforce::Store::seeded),
            slack: slack::Slack::default(),
            microsoft: microsoft::State::default(),
            google: google::Google::new(),
            http: reqwest::Client::new(),
            origin: OnceLock::new(),
        }
    }

    pub fn origin(&self) -> String {
        self.origin.get().cloned().unwrap_or_default()
    }

    /// Back to the seeded start: data, tokens, counters, faults, clock, webhooks.
    fn reset(&self) {
        self.clock.reset();
        self.tokens.lock().expect("tokens lock").clear();
        self.counters.clear();
        self.arrivals.clear();
        self.faults.clear();
        self.unlimited.lock().expect("limits lock").clear();
        self.webhooks.lock().expect("webhooks lock").clear();
        self.hubspot.clear();
        self.salesforce.clear();
        self.slack.clear();
        self.microsoft.clear();
        self.google.clear();
    }

    fn limits_enforced(&self, provider: &str) -> bool {
        !self
            .unlimited
            .lock()
            .expect("limits lock")
            .contains(provider)
    }
}

/// What a provider's middleware and handlers get: the shared state and who they are.
#[derive(Clone)]
pub struct Ctx {
    pub state: Arc<SandboxState>,
    pub provider: &'static str,
    /// The provider account that consents and tokens belong to (HubSpot's portal id, ...).
    pub account: &'static str,
    /// The provider's own error response for a status (used by faults).
    pub error: fn(u16, Option<u64>) -> Response,
}

/// The whole sandbox as one router.
pub fn router(state: Arc<SandboxState>) -> Router {
    let hubspot = Ctx {
        state: state.clone(),
        provider: hubspot::SLUG,
        account: hubspot::PORTAL_ID,
        error: hubspot::error::fault,
    };
    let salesforce = Ctx {
        state: state.clone(),
        provider: salesforce::SLUG,
        account: salesforce::store::ORG_ID,
        error: salesforce::fault,
    };
    let slack = Ctx {
        state: state.clone(),
        provider: slack::SLUG,
        account: slack::TEAM_ID,
        error: slack::error::fault,
    };
    let salesforce_routes = || {
        salesforce::routes()
            .route_layer(middleware::from_fn_with_state(
                salesforce.clone(),
                faults::layer,
            ))
            .with_state(salesforce.clone())
    };
    Router::new()
        .nest(
            "/hubspot",
            hubspot::routes()
                .route_layer(middleware::from_fn_with_state(
                    hubspot.clone(),
                    faults::layer,
                ))
                .with_state(hubspot),
        )
        .nest("/salesforce", salesforce_routes())
        .nest(
            "/slack",
            slack::routes()
                .route_layer(middleware::from_fn_with_state(slack.clone(), faults::layer))
                .with_state(slack),
        )
        // Salesforce's host-relative URLs (nextRecordsUrl, attributes.url) resolve at the root.
        .merge(salesforce_routes())
        .nest("/microsoft", microsoft::router(state.clone()))
        .merge(google::routes(state.clone()))
        .nest("/_sandbox", admin::routes().with_state(state))
        .fallback(unknown_path::answer)
}

/// Requests to a provider host's own paths (Google's `/gmail/v1/…`) go where the sandbox serves
/// them (`/google/gmail/v1/…`), before routing, so counters and faults name one path.
async fn at_provider_paths(mut request: axum::extract::Request) -> axum::extract::Request {
    let path = request.uri().path();
    if let Some(path) = google::host_path(path) {
        let target = match request.uri().query() {
            Some(query) => format!("{path}?{query}"),
            None => path,
        };
        if let Ok(uri) = target.parse() {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// A sandbox serving on a loopback port.
pub struct RunningSandbox {
    pub addr: SocketAddr,
    pub state: Arc<SandboxState>,
}

impl RunningSandbox {
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Binds `addr` (port 0 picks one) and serves the sandbox in the background.
pub async fn start(addr: SocketAddr) -> std::io::Result<RunningSandbox> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(SandboxState::new());
    let _ = state.origin.set(format!("http://{addr}"));
    let app = tower::Layer::layer(
        &axum::middleware::map_request(at_provider_paths),
        router(state.clone()),
    );
    tokio::spawn(async move {
        let app = axum::ServiceExt::<axum::extract::Request>::into_make_service(app);
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "the sandbox stopped");
        }
    });
    Ok(RunningSandbox { addr, state })
}
