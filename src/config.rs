//! Settings: a TOML file plus `NEXUS_SECTION__KEY` environment variables, and the two variables
//! the spec names (`DATABASE_URL`, `INTEGRATION_TOKEN_ENCRYPTION_KEY`).
//!
//! This is the only module that reads the environment. Unknown keys are rejected with their name;
//! secrets are `SecretString`, so `Debug` cannot echo them. No error echoes any setting's value:
//! figment's errors carry the value they could not use (`found unsigned int \`1234\``), so they
//! are rewritten from their kind and key path, keeping the expected type and dropping the value.
//!
//! The environment's values are parsed (`NEXUS_SERVER__PORT=0` is a number, `[a, b]` a list),
//! except a secret's: it is taken as written, so a secret made only of digits (`007…`) stays the
//! string it is instead of becoming a number that drops its leading zeros or fails to be a
//! string. `NEXUS_VAULT__PREVIOUS_KEYS` is a comma-separated list, brackets and quotes optional.

use std::{collections::BTreeMap, net::IpAddr, path::PathBuf};

use figment::{
    Figment,
    error::{Actual, Kind},
    providers::{Env, Format, Serialized, Toml},
    value::Value,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// `NEXUS_TEST_*` variables belong to the test harness (`NEXUS_TEST_STRICT`, ...), not to settings.
const TEST_VARS: &str = "test_";

/// The settings whose values are secrets, by key path (`*` stands for any one key).
const SECRETS: [&str; 7] = [
    "vault.key",
    "server.metrics_token",
    "vault.previous_keys",
    "database.url",
    "auth.jwt.hs256_secret",
    "providers.*.client_secret",
    "providers.*.webhook_secret",
];

fn is_secret(path: &str) -> bool {
    SECRETS.iter().any(|pattern| {
        let (mut want, mut have) = (pattern.split('.'), path.split('.'));
        loop {
            match (want.next(), have.next()) {
                (None, None) => return true,
                (Some(w), Some(h)) if w == "*" || w == h => {}
                _ => return false,
            }
        }
    })
}

/// A secret variable's value as written: one string, or for `vault.previous_keys` the list of
/// its comma-separated items (`a,b`, `[a, b]` and `["a", "b"]` alike).
fn secret_value(path: &str, raw: String) -> Value {
    if path != "vault.previous_keys" {
        return raw.into();
    }
    let inner = raw.trim();
    let inner = inner
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(inner);
    inner
        .split(',')
        .map(|item| item.trim().trim_matches(['"', '\'']).trim())
        .filter(|item| !item.is_empty())
        .map(|item| Value::from(item.to_owned()))
        .collect::<Vec<_>>()
        .into()
}

/// `env` merged into `figment`, its secrets' values as written rather than parsed.
fn merge_env(figment: Figment, env: Env) -> Figment {
    let secrets: Vec<(String, Value)> = env
        .iter()
        .filter(|(key, _)| is_secret(key.as_str()))
        .map(|(key, raw)| {
            let value = secret_value(key.as_str(), raw);
            (key.as_str().to_owned(), value)
        })
        .collect();
    secrets
        .into_iter()
        .fold(figment.merge(env), |figment, (key, value)| {
            figment.merge(Serialized::default(&key, value))
        })
}

/// Everything the gateway needs to start.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub database: DatabaseSettings,
    #[serde(default)]
    pub graphql: GraphqlSettings,
    #[serde(default)]
    pub auth: AuthSettings,
    #[serde(default)]
    pub playground: PlaygroundSettings,
    #[serde(default)]
    pub vault: VaultSettings,
    #[serde(default)]
    pub oauth: OauthSettings,
    /// Per provider (by slug): the OAuth client and overrides of the catalog's URLs.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderSettings>,
    #[serde(default)]
    pub upstream: UpstreamSettings,
    #[serde(default)]
    pub changes: ChangesSettings,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub telemetry: TelemetrySettings,
    #[serde(default)]
    pub net: NetSettings,
    #[serde(default)]
    pub idempotency: IdempotencySettings,
    #[serde(default)]
    pub mcp: crate::agents::McpSettings,
    #[serde(default)]
    pub passthrough: crate::agents::PassthroughSettings,
    /// Where the rate limits count: this process, or Redis shared by every gateway.
    #[serde(default)]
    pub limits: crate::limits::settings::LimitsSettings,
    #[serde(default)]
    pub redis: crate::limits::settings::RedisSettings,
    #[serde(default)]
    pub webhooks: WebhooksSettings,
}

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `json` (one object a line, for a log pipeline) or `pretty` (for people); `pretty` when
    /// stderr is a terminal and `json` otherwise when unset.
    pub format: Option<LogFormat>,
}

/// Traces exported over OTLP/HTTP (see `crate::telemetry::traces`); off unless an endpoint is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    /// The collector's base URL (`http://otel-collector:4318`); spans go to `/v1/traces` below
    /// it, as `OTEL_EXPORTER_OTLP_ENDPOINT` means. Unset: no traces.
    pub otlp_endpoint: Option<String>,
    /// `service.name` on every span.
    pub service_name: String,
    /// The share of new traces kept (0.0..=1.0); a request that arrives with a `traceparent`
    /// follows its caller's sampling decision.
    pub sample_ratio: f64,
    /// How long one export to the collector may take.
    pub export_timeout_ms: u64,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "nexus-gateway".into(),
            sample_ratio: 1.0,
            export_timeout_ms: 10_000,
        }
    }
}

/// The shape of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Outbound calls to URLs a caller names (webhook destinations, agents' tools): which
/// addresses beyond the public internet they may reach (`net::UrlGuard`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetSettings {
    /// `true` lets such URLs reach loopback, private, link-local, CGNAT and other non-public
    /// addresses (a gateway and its targets on one private network, or tests); cloud metadata
    /// addresses stay refused unless `allowed_targets` names them.
    pub allow_private_targets: bool,
    /// Targets allowed whatever their address: CIDRs (`10.20.0.0/16`, `fd12::/48`, one address)
    /// and host names (`hooks.internal.example`, matched exactly, whatever they resolve to).
    pub allowed_targets: Vec<String>,
}

/// Outbound webhooks: the change log pushed to partners' endpoints (`changes::outbound`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksSettings {
    /// `true` lets endpoints be loopback, private or link-local addresses (a receiver on the
    /// gateway's own network, or tests); cloud metadata addresses stay refused unless
    /// `net.allowed_targets` names them, and `net.allowed_targets` applies here too.
    pub allow_private_targets: bool,
    /// How long an event is retried before its endpoint is disabled (with a
    /// `webhook_endpoint.disabled` event).
    pub retry_for_secs: u64,
    /// The wait before the first retry; each next wait doubles, with jitter.
    pub retry_min_delay_ms: u64,
    /// The longest wait between two retries.
    pub retry_max_delay_ms: u64,
    /// How long one delivery may take, answer included.
    pub timeout_ms: u64,
    /// How long a gateway holds an endpoint (renewed while it delivers); another gateway takes
    /// the endpoint over once a lease has run out.
    pub lease_secs: u64,
    /// Delivery attempts are kept this many days in the log `webhookDeliveries` reads.
    pub deliveries_kept_days: u32,
}

impl Default for WebhooksSettings {
    fn default() -> Self {
        Self {
            allow_private_targets: false,
            retry_for_secs: 86_400,
            retry_min_delay_ms: 1_000,
            retry_max_delay_ms: 3_600_000,
            timeout_ms: 10_000,
            lease_secs: 30,
            deliveries_kept_days: 7,
        }
    }
}

/// Writes run once per `idempotencyKey` (see `crate::idempotency`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdempotencySettings {
    /// How long a process holds a key's claim while its write runs; a repeat after that (the
    /// process died mid-write) takes the claim over and looks the write up. Longer than the
    /// slowest write with its retries.
    pub lease_secs: u64,
    /// The `retryAfter` given with a write whose outcome is not known yet
    /// (`PROVIDER_UNAVAILABLE`), when the provider named no wait.
    pub retry_after_secs: u64,
}

impl Default for IdempotencySettings {
    fn default() -> Self {
        Self {
            lease_secs: 120,
            retry_after_secs: 1,
        }
    }
}

/// The change log: the project that provider-wide webhooks feed, and how long events are kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChangesSettings {
    /// The project `/webhooks/stripe` serves (the demo's, in `nexus demo`).
    pub default_project: Option<String>,
    /// Events older than this many days are dropped; a cursor before them is refused.
    pub retention_days: u32,
    /// How often incremental sync polls each provider, over the catalog's interval; 0 turns
    /// polling off.
    pub sync_interval_secs: Option<u64>,
    /// How many events a live subscriber may fall behind its project's head before it is told
    /// so (`SUBSCRIBER_BEHIND`) and resumes from its cursor.
    pub subscriber_max_lag: i64,
    /// How old a CRM sync's last reconciliation (the full pass that decides deletions) may grow
    /// before a pass runs one.
    pub full_sync_interval_secs: u64,
    /// Whether a CRM connection's copy is filled by a first full pass as soon as the connection
    /// is made, and at startup for connections whose copy is not complete (independent of
    /// `sync_interval_secs`).
    pub first_pass: bool,
    /// How long the copy's answers are kept in memory between writes (0: not kept). The
    /// gateway's own writers drop them at once; a write by another process is seen within
    /// this time.
    pub copy_memo_secs: u64,
}

impl Default for ChangesSettings {
    fn default() -> Self {
        Self {
            default_project: None,
            retention_days: 30,
            sync_interval_secs: None,
            subscriber_max_lag: crate::changes::MAX_LAG,
            full_sync_interval_secs: 24 * 60 * 60,
            first_pass: true,
            copy_memo_secs: 2,
        }
    }
}

/// Calls to providers: timeouts and retries (every provider; `providers.<slug>.timeout_ms`
/// overrides the timeout for one).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamSettings {
    /// How long one request may take, answer included.
    pub timeout_ms: u64,
    pub connect_timeout_ms: u64,
    /// Retries of a temporary failure (429, 502, 503, timeouts of idempotent calls).
    pub max_retries: usize,
    /// The longest wait before a retry; a provider asking for more gets RATE_LIMITED back.
    pub max_retry_wait_ms: u64,
    /// Calls in a row that find a provider unavailable before its breaker opens.
    pub breaker_failures: u32,
    /// How long an open breaker fails calls at once before one probes the provider.
    pub breaker_cooldown_ms: u64,
    /// Retries a provider may get per call made to it (0.2: at most a fifth more calls).
    pub retry_budget_ratio: f64,
    /// Retries available before any call has paid into the budget.
    pub retry_budget_reserve: u32,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self {
            timeout_ms: 10_000,
            connect_timeout_ms: 2_000,
            max_retries: 2,
            max_retry_wait_ms: 5_000,
            breaker_failures: 5,
            breaker_cooldown_ms: 30_000,
            retry_budget_ratio: 0.2,
            retry_budget_reserve: 10,
        }
    }
}

/// Connect flows: where providers send the browser back, and where it may go after.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OauthSettings {
    /// The gateway's public origin (redirect URIs are `<public_url>/oauth/<slug>/callback`);
    /// the bound address when absent.
    pub public_url: Option<String>,
    /// Origins `redirectAfter` may point to (the gateway's own is always allowed).
    pub allowed_redirect_origins: Vec<String>,
    /// How long a connect link (its `state`) stays valid, in seconds.
    pub state_ttl_secs: u64,
}

impl Default for OauthSettings {
    fn default() -> Self {
        Self {
            public_url: None,
            allowed_redirect_origins: Vec::new(),
            state_ttl_secs: 600,
        }
    }
}

/// A provider's OAuth client and URL overrides (the catalog's URLs otherwise).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderSettings {
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub base_url: Option<String>,
    /// The revocation endpoint (`{token}` where the provider takes it in the URL).
    pub revoke_url: Option<String>,
    /// This provider's request timeout, over `upstream.timeout_ms`.
    pub timeout_ms: Option<u64>,
    /// Timeouts of single calls, by the adapter's op name (`query`, `messages.send`), over
    /// `timeout_ms`: a call that is slow by nature gets longer than the provider's lists.
    pub op_timeout_ms: BTreeMap<String, u64>,
    /// `false` switches the gateway's own limiting of this provider off (benchmarks, higher tiers
    /// enforced elsewhere).
    pub rate_limits: Option<bool>,
    /// Capacities over the catalog's, by rate class (an account on a higher tier).
    pub rate_capacity: BTreeMap<String, u32>,
    /// How old a synced copy or cached page of this provider's records may be for a read that
    /// gives no `maxAge`, over the catalog's `[<slug>.reads] max_age_secs`.
    pub max_age_secs: Option<u64>,
    /// How many days of mail or chat messages the synced copy holds, over the catalog's
    /// `[<slug>.reads] window_days` (90).
    pub sync_window_days: Option<u64>,
    /// How many days back and ahead the synced copy of a calendar reaches, over the catalog's
    /// `window_past_days` (30) and `window_future_days` (365).
    pub sync_window_past_days: Option<u64>,
    pub sync_window_future_days: Option<u64>,
    /// Overrides for single connections, by `<project>/<user email>`: an account on its own tier.
    pub connections: BTreeMap<String, ConnectionSettings>,
    /// The secret the provider signs webhooks with (Stripe's endpoint `whsec_…`, Slack's signing
    /// secret); HubSpot signs with the client secret.
    pub webhook_secret: Option<SecretString>,
    /// Gmail push: the Cloud Pub/Sub topic `users.watch` publishes mailbox changes to
    /// (`projects/<project>/topics/<topic>`); without one, Gmail is not watched (sync polls).
    pub pubsub_topic: Option<String>,
    /// Gmail push: the `aud` of the push subscription's OIDC token; the gateway's own
    /// `{public origin}/webhooks/gmail` by default.
    pub push_audience: Option<String>,
    /// Gmail push: the service account the push subscription authenticates as; any when unset.
    pub push_service_account: Option<String>,
    /// Gmail push: where Google publishes the keys its OIDC tokens are signed with (a JWKS).
    pub certs_url: Option<String>,
    /// Google Calendar: `true` opens a push channel per connection (off by default: Google
    /// notifies only an HTTPS address on a domain verified for the Cloud project).
    pub push: Option<bool>,
}

/// One connection's overrides of its provider's settings.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionSettings {
    /// Capacities over the provider's, by rate class.
    pub rate_capacity: BTreeMap<String, u32>,
}

/// Where the token encryption keys come from, and which format new values are written in.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct VaultSettings {
    /// The current key, 64 hex characters; `INTEGRATION_TOKEN_ENCRYPTION_KEY` sets it.
    pub key: Option<SecretString>,
    /// A file holding the current key (as `nexus demo` writes `<data-dir>/encryption-key`).
    pub key_file: Option<PathBuf>,
    /// Earlier keys, still accepted for reading until `nexus keys rotate-encryption` has run.
    pub previous_keys: Vec<SecretString>,
    /// Fetch the current key from AWS Secrets Manager (cargo feature `aws-secrets`).
    pub aws_secret_id: Option<String>,
    /// The Secrets Manager endpoint (a local one in tests); the SDK's default otherwise.
    pub aws_endpoint_url: Option<String>,
    pub aws_region: Option<String>,
    /// `v2` (key id + row binding; the default) or `v1` (the spec's format, for tables shared
    /// with code that follows the spec).
    pub write_format: WriteFormat,
}

/// The format new ciphertexts are written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteFormat {
    V1,
    #[default]
    V2,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub host: IpAddr,
    /// 0 picks a free port; the bound address is reported by `Application::port`.
    pub port: u16,
    /// Largest request body accepted on `/graphql`, in bytes.
    pub body_limit_bytes: usize,
    /// How long a graceful shutdown waits for in-flight requests, in seconds.
    pub shutdown_grace_secs: u64,
    /// How long a connection may take to send a whole request head (request line and headers),
    /// counted from when it is accepted or has had its last answer; it is closed after that, so
    /// an idle kept-alive connection is closed too. 0 turns the timeout off.
    pub header_read_timeout_ms: u64,
    /// Connections held at once, WebSockets included; further ones wait in the listen backlog
    /// until one closes.
    pub max_connections: usize,
    /// Largest request head (request line and headers) accepted, in bytes; a larger one gets
    /// 431 and the connection is closed.
    pub max_header_bytes: usize,
    /// Where `/metrics` is served instead of the main listener (which then answers 404 there):
    /// an address only the scraper reaches. Port 0 picks a free port.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// When set, `/metrics` answers only requests with `Authorization: Bearer <token>`.
    #[serde(skip_serializing)]
    pub metrics_token: Option<SecretString>,
    /// Which browser pages on other origins may call the API.
    pub cors: CorsSettings,
}

/// Cross-origin calls from browser pages: the origins allowed besides the gateway's own.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsSettings {
    /// Exact origins (`https://app.example`, as browsers send them in `Origin`) whose pages may
    /// call `/graphql` and open its WebSocket; none by default.
    pub allowed_origins: Vec<String>,
    /// How long a browser may reuse a preflight's answer, in seconds.
    pub max_age_secs: u64,
}

impl Default for CorsSettings {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            max_age_secs: 600,
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 4000,
            body_limit_bytes: 1024 * 1024,
            shutdown_grace_secs: 30,
            header_read_timeout_ms: 10_000,
            max_connections: 16_384,
            max_header_bytes: 32 * 1024,
            cors: CorsSettings::default(),
            metrics_addr: None,
            metrics_token: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://path?mode=rwc` or `postgres://...`; `DATABASE_URL` wins over the file.
    pub url: Option<SecretString>,
    /// The folder for the embedded SQLite database when no URL is given.
    pub data_dir: Option<PathBuf>,
    /// The most connections this process opens to the database (16 to PostgreSQL, 8 to
    /// SQLite when unset); every instance opens its own pool.
    pub max_connections: Option<std::num::NonZeroU32>,
}

/// Abuse limits, checked before execution. GraphQL Armor's defaults, with a depth that lets
/// nested Relay queries through (a contact's deals' company is depth 8).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GraphqlSettings {
    pub introspection: bool,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_recursive_depth: usize,
    pub max_directives: usize,
    pub max_aliases: usize,
    pub max_tokens: usize,
    /// Field selections with fragment spreads expanded, counted before validation.
    pub max_fields: usize,
    /// Serve the schema as an Apollo Federation v2 subgraph (`_service`, `_entities`, `@key`
    /// on the record types); off, the plain schema has neither (docs/federation.md).
    pub federation: bool,
}

impl Default for GraphqlSettings {
    fn default() -> Self {
        Self {
            introspection: false,
            max_depth: 12,
            max_complexity: 10_000,
            max_recursive_depth: 32,
            max_directives: 50,
            max_aliases: 15,
            max_tokens: 1_000,
            max_fields: 5_000,
            federation: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    pub jwt: Option<JwtSettings>,
    /// Requests per second each caller (an API key, or a JWT's subject) may make; unset, there
    /// is no per-caller limit (one server-side key may carry a whole frontend's traffic).
    pub rate_limit_per_key: Option<u32>,
    /// Requests a caller may make at once above the steady rate; `rate_limit_per_key` when unset.
    pub rate_limit_burst: Option<u32>,
    /// How long an API key found is remembered (5 when unset; 0: read on every request). A key
    /// revoked by another process (`nexus keys revoke`) is refused within this time.
    pub key_cache_secs: Option<u64>,
}

/// JWT callers: HS256 with a shared secret, or RS256 against a JWKS document.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    pub hs256_secret: Option<SecretString>,
    /// Path to a JWKS document (`{"keys":[...]}`) for RS256.
    pub jwks_path: Option<PathBuf>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// The claim that holds the user's id (a UUID of `users`).
    #[serde(default = "default_user_claim")]
    pub user_claim: String,
    /// The claim that holds the project's id (a UUID of `projects`).
    #[serde(default = "default_project_claim")]
    pub project_claim: String,
    /// The claim that holds the caller's scopes, space-delimited (`read write changes:project`).
    #[serde(default = "default_scope_claim")]
    pub scope_claim: String,
}

fn default_user_claim() -> String {
    "sub".into()
}

fn default_project_claim() -> String {
    "project_id".into()
}

fn default_scope_claim() -> String {
    "scope".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlaygroundSettings {
    pub enabled: bool,
    /// Pre-fills the playground's Authorization header (the demo sets it to its own key).
    #[serde(skip)]
    pub api_key: Option<SecretString>,
}

impl Default for PlaygroundSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            api_key: None,
        }
    }
}

/// A settings file or variable that could not be read, naming the key at fault.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Settings {
    /// Reads defaults, then the TOML file (if any), then `NEXUS_*` variables, then the spec's two variables.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::new()
            .merge(Serialized::default("server", ServerSettings::default()))
            .merge(Serialized::default("graphql", GraphqlSettings::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "config file {} not found",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        for env in [
            Env::prefixed("NEXUS_")
                .filter(|key| !key.as_str().to_ascii_lowercase().starts_with(TEST_VARS))
                .split("__"),
            Env::raw()
                .only(&["DATABASE_URL"])
                .map(|_| "database.url".into()),
            Env::raw()
                .only(&["INTEGRATION_TOKEN_ENCRYPTION_KEY"])
                .map(|_| "vault.key".into()),
        ] {
            figment = merge_env(figment, env);
        }
        figment.extract().map_err(|err| ConfigError(describe(err)))
    }
}

/// One line per error, naming the key and what it should be, never the value found: figment's
/// own messages quote it (`invalid type: found string "…", expected a sequence`).
fn describe(err: figment::Error) -> String {
    err.into_iter()
        .map(|e| {
            let path = e.path.join(".");
            let what = safe_message(&e.kind);
            if path.is_empty() {
                what
            } else {
                format!("`{path}`: {what}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What is wrong, from an error's kind, without the values it carries.
fn safe_message(kind: &Kind) -> String {
    match kind {
        Kind::InvalidType(actual, expected) => {
            format!("expected {expected}, found {}", type_of(actual))
        }
        Kind::InvalidValue(actual, expected) => {
            format!("this {} is not {expected}", type_of(actual))
        }
        Kind::InvalidLength(len, expected) => format!("{len} items, expected {expected}"),
        Kind::UnknownVariant(_, expected) => format!("expected one of {}", expected.join(", ")),
        Kind::UnknownField(field, _) => format!("unknown key `{field}`"),
        Kind::MissingField(field) => format!("missing key `{field}`"),
        Kind::DuplicateField(field) => format!("duplicate key `{field}`"),
        Kind::ISizeOutOfRange(_) | Kind::USizeOutOfRange(_) => "a number out of range".into(),
        Kind::Unsupported(actual) => format!("{} is not supported here", type_of(actual)),
        Kind::UnsupportedKey(actual, expected) => {
            format!(
                "a key that is {} where {expected} is needed",
                type_of(actual)
            )
        }
        // TOML's syntax errors quote the offending line under a `|` gutter; the position and the
        // description around it are kept.
        Kind::Message(message) => message
            .lines()
            .filter(|line| !line.contains('|') && !line.trim().is_empty())
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// The kind of a value, without the value.
fn type_of(actual: &Actual) -> &'static str {
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a decimal number",
        Actual::Char(_) => "a character",
        Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Unit => "nothing",
        Actual::Option => "an option",
        Actual::Seq => "a list",
        Actual::Map => "a table",
        _ => "another kind of value",
    }
}
