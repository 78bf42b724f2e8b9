//! Fault injection: `POST /_sandbox/faults` makes a provider fail, slow down or hang, on every
//! path or one, for a share of requests or the next N, before or after it has acted. The same
//! middleware counts every answer for `GET /_sandbox/counters` and logs when it arrived and was
//! answered for `GET /_sandbox/arrivals`.

use std::{sync::Mutex, time::Duration};

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};
use rand::Rng;
use serde::Deserialize;

use super::Ctx;

/// A fault as the admin API takes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub provider: String,
    /// A path below the provider's prefix, or a route template; every path when absent.
    pub path: Option<String>,
    /// Only requests whose query string, decoded, contains this text (a SOQL `FROM Account`,
    /// to fail one kind of Salesforce query and not the others).
    pub query: Option<String>,
    /// The share of matching requests that fail (0–1; default 1).
    #[serde(default = "always")]
    pub error_rate: f64,
    /// The status a failing request gets (default 500).
    #[serde(default = "server_error")]
    pub status: u16,
    /// Added to every matching request.
    #[serde(default)]
    pub latency_ms: u64,
    /// A `Retry-After` header, in seconds, on the failure.
    pub retry_after: Option<u64>,
    /// The share of matching requests that never answer (the client times out).
    #[serde(default)]
    pub timeout_rate: f64,
    /// Stop after this many hits.
    pub count: Option<u64>,
    /// Fail only after the provider has acted (a sent mail stays sent).
    #[serde(default)]
    pub after_effect: bool,
}

fn always() -> f64 {
    1.0
}

fn server_error() -> u16 {
    500
}

impl FaultSpec {
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.error_rate) || !(0.0..=1.0).contains(&self.timeout_rate) {
            return Err("error_rate and timeout_rate must be between 0 and 1".into());
        }
        if !(100..=599).contains(&self.status) {
            return Err("status must be an HTTP status code".into());
        }
        Ok(())
    }

    fn matches(&self, provider: &str, path: &str, template: &str, query: &str) -> bool {
        self.provider == provider
            && self
                .path
                .as_deref()
                .is_none_or(|p| p == template || path.starts_with(p))
            && self.query.as_deref().is_none_or(|q| query.contains(q))
    }
}

/// What a matching fault does to one request.
#[derive(Debug, Clone, Copy)]
pub struct Decision {
    pub latency: Duration,
    pub hang: bool,
    /// The status to answer with, when the request fails.
    pub fail: Option<u16>,
    pub retry_after: Option<u64>,
    pub after_effect: bool,
}

#[derive(Debug, Default)]
pub struct Faults(Mutex<Vec<(FaultSpec, u64)>>);

impl Faults {
    pub fn add(&self, spec: FaultSpec) {
        self.0.lock().expect("faults lock").push((spec, 0));
    }

    pub fn clear(&self) {
        self.0.lock().expect("faults lock").clear();
    }

    /// The first live fault matching this request, counted as a hit.
    fn decide(&self, provider: &str, path: &str, template: &str, query: &str) -> Option<Decision> {
        let mut faults = self.0.lock().expect("faults lock");
        let (spec, hits) = faults.iter_mut().find(|(spec, hits)| {
            spec.matches(provider, path, template, query) && spec.count.is_none_or(|c| *hits < c)
        })?;
        *hits += 1;
        let mut rng = rand::rng();
        Some(Decision {
            latency: Duration::from_millis(spec.latency_ms),
            hang: rng.random::<f64>() < spec.timeout_rate,
            fail: (rng.random::<f64>() < spec.error_rate).then_some(spec.status),
            retry_after: spec.retry_after,
            after_effect: spec.after_effect,
        })
    }
}

/// The route a call is counted under: its template, with the object-type parameters filled in
/// (`/crm/v3/objects/contacts`, not `/crm/v3/objects/{object}`) and record ids left as `{id}`.
fn counted_route(template: &str, path: &str) -> String {
    const TYPE_PARAMS: &[&str] = &["{object}", "{from}", "{to}", "{kind}", "{which}"];
    template
        .split('/')
        .zip(path.split('/').chain(std::iter::repeat("")))
        .map(|(t, p)| if TYPE_PARAMS.contains(&t) { p } else { t })
        .collect::<Vec<_>>()
        .join("/")
}

/// A request's path and route template below the provider's prefix.
fn path_and_template(ctx: &Ctx, request: &Request) -> (String, String) {
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let prefix = format!("/{}", ctx.provider);
    let template = template
        .strip_prefix(&prefix)
        .unwrap_or(&template)
        .to_owned();
    let path = request.uri().path();
    let path = path.strip_prefix(&prefix).unwrap_or(path).to_owned();
    (path, template)
}

/// A request's query string with its values decoded (`q=SELECT Id FROM Account&…`).
pub fn decoded_query(request: &Request) -> String {
    let raw = request.uri().query().unwrap_or_default();
    url::form_urlencoded::parse(raw.as_bytes())
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The name a request is counted under: its method and counted route.
pub fn route(ctx: &Ctx, request: &Request) -> String {
    let (path, template) = path_and_template(ctx, request);
    format!("{} {}", request.method(), counted_route(&template, &path))
}

/// Counts an answer given by a middleware in front of this one (Outlook's concurrency refusals),
/// as if it had passed through here.
pub fn count(
    ctx: &Ctx,
    route: &str,
    status: u16,
    arrived: chrono::DateTime<chrono::Utc>,
    (query, traceparent): (String, Option<String>),
) {
    ctx.state.counters.record(ctx.provider, route, status);
    ctx.state.arrivals.record(
        ctx.provider,
        route,
        status,
        (arrived, ctx.state.clock.now()),
        (query, traceparent),
    );
}

/// The W3C `traceparent` a call came with, kept with its arrival.
pub fn traceparent(request: &Request) -> Option<String> {
    request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The middleware every provider's routes pass: faults first, then counting what was answered.
pub async fn layer(State(ctx): State<Ctx>, request: Request, next: Next) -> Response {
    let (path, template) = path_and_template(&ctx, &request);
    let route = route(&ctx, &request);
    let arrived = ctx.state.clock.now();
    let traceparent = traceparent(&request);

    let query = decoded_query(&request);
    let decision = ctx
        .state
        .faults
        .decide(ctx.provider, &path, &template, &query);
    let response = match decision {
        None => next.run(request).await,
        Some(d) => {
            if !d.latency.is_zero() {
                tokio::time::sleep(d.latency).await;
            }
            if d.hang {
                std::future::pending::<()>().await;
            }
            match d.fail {
                None => next.run(request).await,
                Some(status) => {
                    if d.after_effect {
                        next.run(request).await;
                    }
                    (ctx.error)(status, d.retry_after)
                }
            }
        }
    };
    count(
        &ctx,
        &route,
        response.status().as_u16(),
        arrived,
        (query, traceparent),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::counted_route;

    #[test]
    fn object_types_are_filled_in_and_ids_stay_templates() {
        assert_eq!(
            counted_route("/crm/v3/objects/{object}", "/crm/v3/objects/contacts"),
            "/crm/v3/objects/contacts"
        );
        assert_eq!(
            counted_route("/crm/v3/objects/{object}/{id}", "/crm/v3/objects/deals/451"),
            "/crm/v3/objects/deals/{id}"
        );
        assert_eq!(
            counted_route(
                "/crm/v4/objects/{from}/{id}/associations/{to}",
                "/crm/v4/objects/contacts/60/associations/companies"
            ),
            "/crm/v4/objects/contacts/{id}/associations/companies"
        );
    }
}
