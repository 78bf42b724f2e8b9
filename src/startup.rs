//! `Application::build`: from settings to a bound, ready-to-serve gateway.
//!
//! Binding happens in `build`, so port 0 works and `port()` tells the port that was picked.
//! `build` also starts the background work (the sync poller, the keepers, the change relay,
//! retention), each a task of one [`Shutdown`] that request handlers add their own tasks to.
//! `run_until_stopped` serves (through [`serve`], which holds connections to `[server]`'s limits,
//! and, with `server.metrics_addr`, `/metrics` on a second listener under the same signal)
//! until the shutdown future resolves, then stops in order within the configured grace period:
//! in-flight requests finish, the background tasks end at their next cancellation point, and the
//! database is closed last.

use std::{
    collections::BTreeMap, future::Future, net::SocketAddr, path::Path, sync::Arc, time::Duration,
};

use axum::Router;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::{net::TcpListener, time::Instant};

use crate::{
    agents::{audit::AuditLog, mcp::McpParts},
    auth::{Authenticator, CallerLimits, JwtConfigError, JwtVerifier, Tenants},
    changes::{
        Bus, ChangeLog,
        google_watch::GoogleWatches,
        hooks::ConnectionHooks,
        keeper::Keeper,
        outbound::{Bells, Deliverer, Endpoints},
        subscriptions::GraphSubscriptions,
        sync::{FirstPass, SyncedCopy, Syncer, comms::Windows, nudge::Nudge},
        webhooks::{Webhooks, endpoints::WebhookEndpoints, google},
    },
    config::{ProviderSettings, Settings},
    graphql::{self, AppContext, Loaders, limits::DocumentLimits},
    http::{self, AppState, MetricsAccess, Origins, PlaygroundConfig, serve},
    idempotency::IdempotencyKeys,
    oauth::ConnectFlows,
    providers::{Catalog, Provider, Registry},
    shutdown::Shutdown,
    store,
    upstream::Upstream,
    vault::{CredentialVault, KeyRing, KeyRingError, Vault},
};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot open the database: {0}")]
    Database(#[from] DbErr),
    #[error("cannot create the data folder {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Jwt(#[from] JwtConfigError),
    #[error(transparent)]
    Keys(#[from] KeyRingError),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Opens the database the settings name (SQLite in `data_dir` by default) and migrates it.
pub async fn open_database(
    settings: &Settings,
    data_dir: &Path,
) -> Result<DatabaseConnection, StartupError> {
    if settings.database.url.is_none() {
        std::fs::create_dir_all(data_dir).map_err(|source| StartupError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
    }
    let url = store::database_url(settings.database.url.as_ref(), data_dir);
    let db = store::connect(&url, settings.database.max_connections).await?;
    store::migrate(&db).await?;
    Ok(db)
}

/// The vault the settings describe; fails (naming what is wrong, never a key) without a key.
pub async fn vault(settings: &Settings) -> Result<Vault, StartupError> {
    let ring = KeyRing::from_settings(&settings.vault).await?;
    Ok(Vault::new(ring, settings.vault.write_format))
}

/// `[providers.<slug>]` by provider; a slug the catalog does not know, or a rate class it does
/// not have, is an error naming it, and so is a catalog whose rate classes disagree with the
/// adapters' ops.
fn provider_settings(
    settings: &Settings,
) -> Result<BTreeMap<Provider, ProviderSettings>, StartupError> {
    Catalog::get()
        .check_ops()
        .map_err(|e| StartupError::Config(format!("catalog.toml: {e}")))?;
    settings
        .providers
        .iter()
        .map(|(slug, p)| {
            let provider = slug
                .parse::<Provider>()
                .map_err(|e| StartupError::Config(format!("[providers.{slug}]: {e}")))?;
            crate::limits::validate(provider, p)
                .map_err(|e| StartupError::Config(format!("[providers.{slug}]: {e}")))?;
            Ok((provider, p.clone()))
        })
        .collect()
}

/// A bound gateway, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: Router,
    /// `/metrics`'s own listener and routes, with `server.metrics_addr`.
    metrics: Option<(TcpListener, Router)>,
    db: DatabaseConnection,
    grace: Duration,
    limits: serve::Limits,
    shutdown: Shutdown,
}

/// The shared limits' connection to Redis when `limits.backend = "redis"` (checked: it needs
/// `redis.url` and `limits.assumed_instances`).
fn shared_limits(settings: &Settings) -> Result<Option<Arc<crate::limits::Shared>>, StartupError> {
    crate::limits::settings::shared(&settings.limits, &settings.redis)
        .and_then(|shared| shared.map(crate::limits::Shared::new).transpose())
        .map_err(StartupError::Config)
}

/// The connect flows and the provider adapters behind the upstream stack.
fn adapters(
    settings: &Settings,
    db: &DatabaseConnection,
    vault: &Vault,
    providers: BTreeMap<Provider, ProviderSettings>,
    public_origin: &str,
    shared: Option<Arc<crate::limits::Shared>>,
    changes: &ChangeLog,
) -> Result<(ConnectFlows, Registry), StartupError> {
    let connect = ConnectFlows::new(
        db.clone(),
        vault.clone(),
        providers.clone(),
        &settings.oauth,
        public_origin.to_owned(),
    )
    .map_err(|e| StartupError::Config(format!("HTTP client: {e}")))?
    .with_lifecycle(changes.clone());
    let upstream = Upstream::new(
        connect.clone(),
        providers,
        settings.upstream.clone(),
        crate::providers::usage_readers(),
        db.clone(),
        shared,
    )
    .map_err(|e| StartupError::Config(format!("HTTP client: {e}")))?;
    let registry = Registry::new(upstream);
    registry
        .check()
        .map_err(|e| StartupError::Config(e.to_string()))?;
    registry.mail_cache().share_through(db.clone());
    Ok((connect, registry))
}

/// Slack's `conversations_history` capacity when the config overrides the catalog's (the pace
/// of Slack's backfill).
fn slack_capacity(settings: &Settings) -> Option<u32> {
    settings
        .providers
        .get(Provider::Slack.slug())
        .and_then(|p| p.rate_capacity.get("conversations_history").copied())
}

/// The partners' webhook endpoints, and their delivery worker started: targets pass the `[net]`
/// guard with `webhooks.allow_private_targets` as its rule for private addresses.
fn outbound_webhooks(
    settings: &Settings,
    db: &DatabaseConnection,
    vault: &Vault,
    changes: &ChangeLog,
    shutdown: &Shutdown,
) -> Result<Endpoints, StartupError> {
    let guard = crate::net::UrlGuard::from_settings(&crate::config::NetSettings {
        allow_private_targets: settings.webhooks.allow_private_targets,
        allowed_targets: settings.net.allowed_targets.clone(),
    })
    .map_err(|e| StartupError::Config(e.to_string()))?;
    let timeout = Duration::from_millis(settings.webhooks.timeout_ms.max(1));
    let client = guard
        .client_from(
            guard
                .client_builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(timeout)
                .connect_timeout(timeout),
        )
        .map_err(|e| StartupError::Config(format!("HTTP client: {e}")))?;
    let endpoints = Endpoints::new(
        db.clone(),
        vault.clone(),
        changes.clone(),
        guard,
        Bells::default(),
    );
    Deliverer::new(
        endpoints.clone(),
        client,
        settings.webhooks.clone(),
        shutdown.clone(),
    )
    .start();
    Ok(endpoints)
}

fn reconcile_every(settings: &Settings) -> std::time::Duration {
    std::time::Duration::from_secs(settings.changes.full_sync_interval_secs)
}

/// A syncer on its own (`nexus sync`): the adapters and the change log, without the server.
pub async fn syncer(settings: &Settings, db: DatabaseConnection) -> Result<Syncer, StartupError> {
    let vault = vault(settings).await?;
    let providers = provider_settings(settings)?;
    let origin = settings
        .oauth
        .public_url
        .clone()
        .unwrap_or_else(|| "http://localhost".into());
    let windows = Windows::new(&providers);
    let shared = shared_limits(settings)?;
    let log = ChangeLog::new(db.clone(), Bus::default());
    let (_, registry) = adapters(settings, &db, &vault, providers, &origin, shared, &log)?;
    Ok(Syncer::new(registry, log, db)
        .reconcile_every(reconcile_every(settings))
        .windows(windows)
        .slack_capacity(slack_capacity(settings)))
}

impl Application {
    /// Opens and migrates the database, then builds on it.
    pub async fn build(settings: &Settings, data_dir: &Path) -> Result<Self, StartupError> {
        let db = open_database(settings, data_dir).await?;
        Self::build_with(settings, db).await
    }

    /// Builds the gateway on an open, migrated database.
    pub async fn build_with(
        settings: &Settings,
        db: DatabaseConnection,
    ) -> Result<Self, StartupError> {
        let vault = vault(settings).await?;
        let providers = provider_settings(settings)?;
        let limits =
            serve::Limits::from_settings(&settings.server).map_err(StartupError::Config)?;
        let addr = SocketAddr::new(settings.server.host, settings.server.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { addr, source })?;
        let metrics_access = MetricsAccess::new(settings.server.metrics_token.as_ref())
            .map_err(StartupError::Config)?
            .with_sync_lag(db.clone());
        let metrics_listener = match settings.server.metrics_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartupError::Bind { addr, source })?,
            ),
            None => None,
        };
        let caller_limits = CallerLimits::from_settings(&settings.auth)
            .map_err(|e| StartupError::Config(e.to_string()))?;
        crate::net::UrlGuard::from_settings(&settings.net)
            .map_err(|e| StartupError::Config(e.to_string()))?;
        let public_origin = settings
            .oauth
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"));
        let origins = Origins::from_settings(&settings.server.cors, &public_origin)
            .map_err(|e| StartupError::Config(e.to_string()))?;
        let reads = graphql::ReadDefaults::new(&providers);
        let windows = Windows::new(&providers);
        let shared = shared_limits(settings)?;
        let changes = ChangeLog::new(db.clone(), Bus::default())
            .with_max_lag(settings.changes.subscriber_max_lag);
        let (connect, registry) = adapters(
            settings,
            &db,
            &vault,
            providers,
            &public_origin,
            shared.clone(),
            &changes,
        )?;
        let tenants = Tenants::new(db.clone());
        let shutdown = Shutdown::new();
        if let Some(limits) = &caller_limits {
            limits.keep(&shutdown);
        }
        let caches = crate::changes::stale::Caches {
            mail: registry.mail_cache().clone(),
        };
        crate::changes::relay::spawn(&db, changes.bus().clone(), caches, &shutdown);
        let syncer = Syncer::new(registry.clone(), changes.clone(), db.clone())
            .reconcile_every(reconcile_every(settings))
            .windows(windows.clone())
            .slack_capacity(slack_capacity(settings));
        syncer.start(settings.changes.sync_interval_secs, &shutdown);
        if settings.changes.first_pass {
            syncer.first_passes_at_start(&shutdown);
        }
        crate::changes::retention::keep(
            changes.clone(),
            settings.changes.retention_days,
            &shutdown,
        );
        let graph_subscriptions = GraphSubscriptions::new(
            db.clone(),
            vault.clone(),
            registry.clone(),
            public_origin.clone(),
        );
        graph_subscriptions
            .clone()
            .start(crate::changes::keeper::EVERY, &shutdown);
        let google_watches = GoogleWatches::new(
            db.clone(),
            vault.clone(),
            registry.clone(),
            syncer.clone(),
            public_origin.clone(),
            google::gmail_topic(settings),
            google::calendar_push(settings),
        );
        google_watches
            .clone()
            .start(crate::changes::keeper::EVERY, &shutdown);
        let first_pass = FirstPass::new(syncer.clone(), settings.changes.first_pass);
        let nudge = Nudge::new(
            syncer,
            db.clone(),
            crate::changes::sync::nudge::DELAY,
            shutdown.clone(),
        );
        let outbound = outbound_webhooks(settings, &db, &vault, &changes, &shutdown)?;
        let credentials = CredentialVault::new(db.clone(), vault);
        let webhooks = Webhooks::new(
            changes.clone(),
            tenants.clone(),
            credentials.clone(),
            db.clone(),
            settings,
        )
        .with_graph(graph_subscriptions.clone())
        .with_google(
            google_watches.clone(),
            google::push_auth(settings, &public_origin),
        )
        .with_mail_cache(registry.mail_cache().clone())
        .with_nudge(nudge);
        let hooks = ConnectionHooks::new(shutdown.clone())
            .with(graph_subscriptions)
            .with(google_watches)
            .with(first_pass);
        let jwt = settings
            .auth
            .jwt
            .as_ref()
            .map(JwtVerifier::from_settings)
            .transpose()?;
        let read_model: Arc<dyn nexus_core::ReadModel> =
            Arc::new(SyncedCopy::new(db.clone()).with_windows(windows).memo_for(
                std::time::Duration::from_secs(settings.changes.copy_memo_secs),
            ));
        let schema = graphql::build(
            &settings.graphql,
            Some(AppContext {
                tenants: tenants.clone(),
                credentials: credentials.clone(),
                changes: changes.clone(),
                idempotency: IdempotencyKeys::new(
                    db.clone(),
                    std::time::Duration::from_secs(settings.idempotency.lease_secs),
                    std::time::Duration::from_secs(settings.idempotency.retry_after_secs),
                ),
                connect: connect.clone(),
                loaders: Loaders::shared(registry.clone(), read_model.clone()),
                read_model: read_model.clone(),
                reads: reads.clone(),
                passthrough: registry.passthrough(),
                passthrough_settings: settings.passthrough,
                audit: AuditLog::new(db.clone()),
                providers: registry.clone(),
                hooks: hooks.clone(),
                endpoints: WebhookEndpoints::new(
                    credentials.clone(),
                    connect.public_origin().to_owned(),
                )
                .with_lifecycle(changes.clone()),
                outbound,
            }),
        );
        crate::telemetry::prometheus();
        let auth = Authenticator::new(tenants, jwt)
            .with_key_cache(
                settings
                    .auth
                    .key_cache_secs
                    .map_or(crate::auth::KEY_CACHE, std::time::Duration::from_secs),
            )
            .with_limits(caller_limits);
        let mcp = settings.mcp.enabled.then(|| {
            crate::agents::mcp::service(McpParts {
                schema: schema.clone(),
                providers: registry.clone(),
                read_model: read_model.clone(),
                auth: auth.clone(),
                audit: AuditLog::new(db.clone()),
                settings: settings.mcp.clone(),
            })
        });
        let state = AppState {
            schema,
            document_limits: DocumentLimits::new(&settings.graphql),
            providers: registry,
            read_model,
            connect,
            webhooks,
            hooks,
            public_origin,
            auth,
            db: db.clone(),
            body_limit: settings.server.body_limit_bytes,
            playground: settings.playground.enabled.then(|| {
                Arc::new(PlaygroundConfig {
                    api_key: settings.playground.api_key.clone(),
                })
            }),
            shutdown: shutdown.clone(),
            origins: Arc::new(origins),
            mcp,
            shared_limits: shared,
        };
        let (main_metrics, metrics) = match metrics_listener {
            Some(listener) => (None, Some((listener, http::metrics_router(metrics_access)))),
            None => (Some(metrics_access), None),
        };
        Ok(Self {
            listener,
            router: http::router(state, main_metrics),
            metrics,
            db,
            grace: Duration::from_secs(settings.server.shutdown_grace_secs),
            limits,
            shutdown,
        })
    }

    /// The address actually bound (the port is the picked one when configured as 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The address `/metrics` is served on when it has a listener of its own
    /// (`server.metrics_addr`; the port is the picked one when configured as 0).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(listener, _)| {
            listener
                .local_addr()
                .expect("a bound listener has an address")
        })
    }

    /// The gateway's background tasks: tests wait on it, or count what still runs.
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Serves until `shutdown` resolves, then stops in order within the grace period, which
    /// starts with the signal: in-flight requests finish first (no request then starts new
    /// background work), then the background tasks are cancelled and waited for, then the
    /// database is closed.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        // The grace period's end, once the signal has come.
        let (stopping_tx, stopping) = tokio::sync::watch::channel(None::<Instant>);
        let grace = self.grace;
        let draining = self.shutdown.clone();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
            draining.drain();
            stopping_tx.send_replace(Some(Instant::now() + grace));
        };
        // `/metrics`'s own listener stops accepting with the main one.
        let metrics = self.metrics.map(|(listener, router)| {
            let mut signalled = stopping.clone();
            let signal = async move {
                let _ = signalled.wait_for(Option::is_some).await;
            };
            serve::serve(listener, router, self.limits.clone(), signal)
        });
        let main = serve::serve(self.listener, self.router, self.limits, signal);
        let server = async move {
            match metrics {
                Some(metrics) => {
                    tokio::join!(main, metrics);
                }
                None => main.await,
            }
        };
        let mut signalled = stopping.clone();
        let grace_over = async move {
            match signalled.wait_for(Option::is_some).await.map(|d| *d) {
                Ok(Some(deadline)) => tokio::time::sleep_until(deadline).await,
                _ => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = server => {}
            () = grace_over => {
                tracing::warn!(?grace, "grace period over; closing open connections");
            }
        }
        let deadline = stopping.borrow().unwrap_or_else(|| Instant::now() + grace);
        tracing::info!(running = self.shutdown.len(), "stopping background tasks");
        if !self.shutdown.stop(deadline).await {
            tracing::warn!(
                running = self.shutdown.len(),
                "grace period over; background tasks still running are dropped"
            );
        }
        if let Err(cause) = self.db.close().await {
            tracing::warn!(%cause, "closing the database");
        }
        Ok(())
    }
}
