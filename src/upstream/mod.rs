//! The upstream stack: every call to a provider goes through [`Upstream::send`], which wraps one
//! reqwest request in, outermost first: trace (a span and a log line per call, never a token) →
//! retry (`retry`: the provider's temporary failures only, never the gateway's own refusals) →
//! credentials (a live session from the vault; on the provider's expired-token answer, one
//! shared refresh and one more try) → rate limit (the catalog's classes, per connection: wait for
//! room, or fail with `retryAfter`; a quota the provider reports spent in its answers, read with
//! the reader startup hands over for it, fails calls at once) → timeout (per provider and call,
//! from config);
//! around them all, a circuit breaker per connection (`breaker`) that only an unavailable provider
//! trips, never its answer to a request of ours it refused; retries draw on a budget per
//! provider (`budget`). What adapters keep across requests lives in one facility (`cache`),
//! configured per provider by the catalog.
//!
//! Each call runs in an `upstream` span (provider, op, the rate classes that counted it, retries
//! and the time waited for backoff and for the rate limiter, outcome); with traces on, its
//! requests carry that span's `traceparent` to the provider.
//!
//! Adapters describe a call ([`Call`]) and read the provider's answer into a [`Verdict`]; they
//! never sleep, retry, refresh or count on their own.

mod breaker;
mod budget;
mod cache;
mod call;
mod error;
mod retry;

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use secrecy::ExposeSecret;
use tracing::Instrument;

use crate::{
    config::{ProviderSettings, UpstreamSettings},
    limits::{Limits, ReadUsage},
    oauth::{ConnectFlows, Session},
    providers::{self, Cataloged, Provider},
};

use breaker::Breakers;
use budget::RetryBudget;
pub use cache::Cache;
pub use call::{Body, Call, Reply};
pub use error::{ErrorKind, ProviderError, Verdict};
pub use nexus_core::Target;
use retry::{Attempt, RetryPolicy};

/// Reads a provider's answer: the adapter's knowledge of its error format.
pub type Classify = fn(&Reply) -> Verdict;

/// The stack, built once from the settings and the catalog, shared by every request.
#[derive(Clone)]
pub struct Upstream {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    flows: ConnectFlows,
    limits: Limits,
    breakers: Breakers,
    budget: RetryBudget,
    providers: BTreeMap<Provider, ProviderSettings>,
    settings: UpstreamSettings,
    /// How each provider that reports its own quota usage in its answers says it.
    usage: BTreeMap<Provider, ReadUsage>,
}

impl Upstream {
    pub fn new(
        flows: ConnectFlows,
        providers: BTreeMap<Provider, ProviderSettings>,
        settings: UpstreamSettings,
        usage: BTreeMap<Provider, ReadUsage>,
        db: sea_orm::DatabaseConnection,
        shared_limits: Option<Arc<crate::limits::Shared>>,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
            .pool_max_idle_per_host(64)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                flows,
                limits: Limits::new(&providers, db, shared_limits),
                breakers: Breakers::new(
                    settings.breaker_failures,
                    Duration::from_millis(settings.breaker_cooldown_ms),
                ),
                budget: RetryBudget::new(
                    settings.retry_budget_ratio,
                    settings.retry_budget_reserve,
                ),
                providers,
                settings,
                usage,
            }),
        })
    }

    /// Sends `call` for `target`'s connection and returns the provider's successful answer.
    pub async fn send(
        &self,
        target: Target,
        call: &Call,
        classify: Classify,
    ) -> Result<Reply, ProviderError> {
        // An op the adapter does not declare would escape the catalog check (`check_ops`) and
        // so, perhaps, its rate classes: the tests trip on it here. A passthrough call is no
        // adapter's: only the classes that count every call count it.
        debug_assert!(
            std::iter::once(&call.op)
                .chain(&call.parts)
                .all(|op| *op == providers::passthrough::OP
                    || providers::ops(target.provider).contains(op)),
            "{}: op `{}` (parts {:?}) is missing from the adapter's declared ops",
            target.provider,
            call.op,
            call.parts
        );
        let span = tracing::debug_span!(
            "upstream",
            otel.name = %format_args!("{} {}", target.provider.slug(), call.op),
            otel.kind = "client",
            provider = target.provider.slug(),
            op = call.op,
            rate_class = tracing::field::Empty,
            retries = tracing::field::Empty,
            retry_wait_ms = tracing::field::Empty,
            rate_wait_ms = tracing::field::Empty,
            outcome = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        async {
            let started = std::time::Instant::now();
            let waits = Waits::default();
            let result = self.with_breaker(target, call, classify, &waits).await;
            let outcome = match &result {
                Ok(reply) => reply.status.as_str().to_owned(),
                Err(e) => format!("{:?}", e.kind),
            };
            waits.record(&tracing::Span::current(), &outcome, result.is_ok());
            tracing::debug!(%outcome, elapsed_ms = started.elapsed().as_millis() as u64, "upstream call");
            metrics::counter!(
                "nexus_upstream_calls_total",
                "provider" => target.provider.slug(),
                "op" => call.op,
                "outcome" => if result.is_ok() { "ok" } else { "error" },
            )
            .increment(1);
            result
        }
        .instrument(span)
        .await
    }

    fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_retries: self.inner.settings.max_retries,
            max_wait: Duration::from_millis(self.inner.settings.max_retry_wait_ms),
        }
    }

    /// Fails at once while the connection's breaker is open; records each call's outcome.
    async fn with_breaker(
        &self,
        target: Target,
        call: &Call,
        classify: Classify,
        waits: &Waits,
    ) -> Result<Reply, ProviderError> {
        let key = (
            target.provider,
            target.tenant.user_id,
            target.tenant.project_id,
        );
        let breakers = &self.inner.breakers;
        if let Err(wait) = breakers.admit(key, std::time::Instant::now()) {
            let mut error = ProviderError::new(
                ErrorKind::Unavailable,
                target.provider,
                call.op,
                "the provider failed repeatedly; calls pause until it recovers",
            );
            error.retry_after = Some(wait);
            error.never_sent = true;
            return Err(error);
        }
        let result = self.with_retries(target, call, classify, waits).await;
        let unavailable = matches!(&result, Err(e) if counts_against_breaker(e));
        breakers.record(key, unavailable, std::time::Instant::now());
        result
    }

    async fn with_retries(
        &self,
        target: Target,
        call: &Call,
        classify: Classify,
        waits: &Waits,
    ) -> Result<Reply, ProviderError> {
        let policy = self.policy();
        let mut backoff = policy.backoff();
        let budget = &self.inner.budget;
        budget.deposit(target.provider);
        loop {
            let mut attempt = match self.with_credentials(target, call, classify, waits).await {
                Ok(reply) => return Ok(reply),
                Err(attempt) => attempt,
            };
            attempt.error.never_sent = attempt.not_acted_on;
            let Some(wait) = policy.wait(&attempt, call.idempotent, backoff.next()) else {
                return Err(attempt.error);
            };
            if !budget.withdraw(target.provider) {
                metrics::counter!("nexus_upstream_retries_refused_total", "provider" => target.provider.slug())
                    .increment(1);
                return Err(attempt.error);
            }
            metrics::counter!("nexus_upstream_retries_total", "provider" => target.provider.slug(), "op" => call.op)
                .increment(1);
            tracing::debug!(wait_ms = wait.as_millis() as u64, kind = ?attempt.error.kind, "retrying");
            waits.retried(wait);
            tokio::time::sleep(wait).await;
        }
    }

    async fn with_credentials(
        &self,
        target: Target,
        call: &Call,
        classify: Classify,
        waits: &Waits,
    ) -> Result<Reply, Attempt> {
        let flows = &self.inner.flows;
        let token_failure =
            |e| Attempt::upstream(error::from_token(target.provider, call.op, e), true);
        let session = flows
            .session(target.tenant, target.provider)
            .await
            .map_err(token_failure)?;
        match self.once(target, &session, call, classify, waits).await {
            Err(Refused::Expired) => {
                let session = flows
                    .session_after_expired(target.tenant, target.provider, &session)
                    .await
                    .map_err(token_failure)?;
                match self.once(target, &session, call, classify, waits).await {
                    Ok(reply) => Ok(reply),
                    Err(Refused::Expired) => Err(Attempt::upstream(
                        ProviderError::new(
                            ErrorKind::ReauthRequired,
                            target.provider,
                            call.op,
                            "the provider refused a freshly refreshed token",
                        ),
                        true,
                    )),
                    Err(Refused::Failed(attempt)) => Err(attempt),
                }
            }
            Err(Refused::Failed(attempt)) => Err(attempt),
            Ok(reply) => Ok(reply),
        }
    }

    /// The base URL calls go to: the session's own host where the provider names one
    /// (Salesforce's `instance_url`), else config's override, else the catalog's.
    fn base_url(&self, provider: Provider, session: &Session) -> Option<String> {
        let entry = provider.entry();
        entry
            .base_url_metadata
            .as_deref()
            .and_then(|key| session.metadata.get(key)?.as_str().map(str::to_owned))
            .or_else(|| {
                self.inner
                    .providers
                    .get(&provider)
                    .and_then(|p| p.base_url.clone())
            })
            .or_else(|| entry.base_url.clone())
    }

    /// The call's own timeout, else its provider's, else every provider's.
    fn timeout(&self, provider: Provider, op: &str) -> Duration {
        let settings = self.inner.providers.get(&provider);
        Duration::from_millis(
            settings
                .and_then(|p| p.op_timeout_ms.get(op).copied().or(p.timeout_ms))
                .unwrap_or(self.inner.settings.timeout_ms),
        )
    }

    /// One request with one token, once the provider's limits have room, bounded by its timeout.
    async fn once(
        &self,
        target: Target,
        session: &Session,
        call: &Call,
        classify: Classify,
        waits: &Waits,
    ) -> Result<Reply, Refused> {
        let provider = target.provider;
        let max_wait = Duration::from_millis(self.inner.settings.max_retry_wait_ms);
        let asked = std::time::Instant::now();
        let acquired = self
            .inner
            .limits
            .acquire(provider, target.tenant, call.op, &call.parts, max_wait)
            .await;
        waits.rate_limited(asked.elapsed());
        let permit = match acquired {
            Ok(permit) => permit,
            Err(wait) => {
                let mut error = ProviderError::new(
                    ErrorKind::RateLimited,
                    provider,
                    call.op,
                    "the provider's rate limit has no room for this call in time",
                );
                error.retry_after = Some(wait);
                return Err(Refused::Failed(Attempt::refused_here(error)));
            }
        };
        let failed = |kind, message: &str, not_acted_on| {
            Refused::Failed(Attempt::upstream(
                ProviderError::new(kind, provider, call.op, message),
                not_acted_on,
            ))
        };
        let Some(base) = self.base_url(provider, session) else {
            return Err(failed(
                ErrorKind::NotConnected,
                "no API base URL is configured",
                true,
            ));
        };
        let url = format!("{}{}", base.trim_end_matches('/'), call.path);
        let mut traced = http::HeaderMap::new();
        crate::telemetry::traces::inject(&mut traced);
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), url)
            .bearer_auth(session.access_token.expose_secret())
            .headers(traced)
            .timeout(self.timeout(provider, call.op));
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        request = match &call.body {
            Some(Body::Json(value)) => request.json(value),
            Some(Body::Form(fields)) => request.form(fields),
            Some(Body::Csv(text)) => request
                .header(http::header::CONTENT_TYPE, "text/csv")
                .body(text.clone()),
            Some(Body::Bytes { content_type, data }) => request
                .header(http::header::CONTENT_TYPE, content_type.as_str())
                .body(data.clone()),
            None => request,
        };
        let sent = request.send().await;
        // The provider has counted the call by the time it answers: its places in the rolling
        // windows run a window from now.
        drop(permit);
        let response = match sent {
            Ok(response) => response,
            Err(e) if e.is_timeout() => {
                return Err(failed(ErrorKind::Unavailable, "timed out", false));
            }
            // A request that could not be built (an invalid URL or header of ours) never left.
            Err(e) if e.is_builder() => {
                return Err(failed(
                    ErrorKind::Invalid,
                    "the request could not be built",
                    true,
                ));
            }
            Err(e) => {
                let never_sent = e.is_connect();
                return Err(failed(
                    ErrorKind::Unavailable,
                    "could not reach the provider",
                    never_sent,
                ));
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(e) if e.is_timeout() => {
                return Err(failed(ErrorKind::Unavailable, "timed out", false));
            }
            Err(_) => {
                return Err(failed(
                    ErrorKind::Unavailable,
                    "the answer broke off",
                    false,
                ));
            }
        };
        let reply = Reply {
            status,
            headers,
            body,
        };
        if let Some(usage) = (self.inner.usage.get(&provider)).and_then(|read| read(&reply.headers))
        {
            self.inner.limits.report(provider, target.tenant, usage);
        }
        if status == http::StatusCode::TOO_MANY_REQUESTS {
            metrics::counter!("nexus_upstream_429_total", "provider" => provider.slug(), "op" => call.op)
                .increment(1);
        }
        match classify(&reply) {
            Verdict::Success => Ok(reply),
            Verdict::TokenExpired => Err(Refused::Expired),
            Verdict::Failure {
                kind,
                retry_after,
                message,
            } => {
                let mut error = ProviderError::new(kind, provider, call.op, message);
                // The provider's own `Retry-After` wins over what the adapter reads elsewhere.
                error.retry_after = reply.retry_after().or(retry_after);
                Err(Refused::Failed(Attempt::upstream(
                    error,
                    kind == ErrorKind::RateLimited,
                )))
            }
        }
    }
}

/// Whether a failed call says the provider is unavailable (a timeout, a connection error, a 5xx,
/// a token endpoint that did not answer): only these count towards the breaker. An answer to
/// our own request — refused as invalid, forbidden or not found, rate limited, or a connection
/// that needs its grant again — proves the provider up, so it resets the count instead: a
/// caller's bad input must never pause the connection for every other caller.
fn counts_against_breaker(error: &ProviderError) -> bool {
    error.kind == ErrorKind::Unavailable
}

/// What one call waited for, for its span: retries and their backoff, and the rate limiter.
#[derive(Default)]
struct Waits {
    retries: AtomicU64,
    retry_wait_ms: AtomicU64,
    rate_wait_ms: AtomicU64,
}

impl Waits {
    fn retried(&self, wait: Duration) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        self.retry_wait_ms
            .fetch_add(wait.as_millis() as u64, Ordering::Relaxed);
    }

    fn rate_limited(&self, waited: Duration) {
        self.rate_wait_ms
            .fetch_add(waited.as_millis() as u64, Ordering::Relaxed);
    }

    /// Puts the totals, and the call's outcome, on its span.
    fn record(&self, span: &tracing::Span, outcome: &str, ok: bool) {
        span.record("retries", self.retries.load(Ordering::Relaxed));
        span.record("retry_wait_ms", self.retry_wait_ms.load(Ordering::Relaxed));
        span.record("rate_wait_ms", self.rate_wait_ms.load(Ordering::Relaxed));
        span.record("outcome", outcome);
        if !ok {
            span.record("otel.status_code", "ERROR");
        }
    }
}

/// Why one try did not succeed.
enum Refused {
    Expired,
    Failed(Attempt),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_unavailable_provider_counts_against_the_breaker() {
        let error = |kind| ProviderError::new(kind, Provider::Salesforce, "query", "x");
        assert!(counts_against_breaker(&error(ErrorKind::Unavailable)));
        for kind in [
            ErrorKind::Invalid,
            ErrorKind::NotFound,
            ErrorKind::Forbidden,
            ErrorKind::RateLimited,
            ErrorKind::NotConnected,
            ErrorKind::ReauthRequired,
            ErrorKind::Upstream,
        ] {
            assert!(!counts_against_breaker(&error(kind)), "{kind:?}");
        }
    }
}
