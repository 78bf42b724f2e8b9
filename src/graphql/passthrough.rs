//! `Query.passthrough` and `Mutation.passthrough`: a raw call to a connected provider's own
//! API, for what the unified model lacks. Reads (GET, HEAD) are queries and need the
//! `passthrough:read` scope; other methods are mutations and need `passthrough:write` (and, as
//! every mutation, `write`). The path is checked before anything is sent (`agents::path`); the
//! call goes through the upstream stack with the connection's credentials, which the caller
//! never sees, and counts against the provider's `passthrough` rate class. The answer comes
//! back as `{ status headers body }`: headers from an allowlist, the body cut at
//! `passthrough.max_body_bytes`. Every call, refused or not, is written to the audit log.

use std::time::Instant;

use async_graphql::{Context, Error, ErrorExtensions, Json, Object, Result, SimpleObject};
use http::{HeaderMap, Method};
use nexus_core::{RawRequest, RawResponse, Target};
use serde_json::Value;

use super::{
    AppContext,
    errors::{ErrorCode, bad_input, upstream_error},
    lists::tenant,
    scopes::scopes,
    types::ProviderEnum,
};
use crate::{
    agents::{
        audit::{Entry, Kind},
        path,
    },
    auth::{KeyId, Scope},
    providers::{Cataloged, Provider},
};

/// The provider's answer.
#[derive(SimpleObject)]
pub struct PassthroughResponse {
    /// The provider's HTTP status.
    pub status: i32,
    /// The answer's headers that may be shown (content type, caching validators, paging links,
    /// rate-limit counters); never cookies or credentials.
    pub headers: Vec<PassthroughHeader>,
    /// The body: its JSON when it is JSON and whole, else its text (cut when too long); null
    /// for an empty body.
    pub body: Option<Json<Value>>,
    /// Whether the body was longer than `passthrough.max_body_bytes` and was cut.
    pub truncated: bool,
}

/// One header of a provider's answer.
#[derive(SimpleObject)]
pub struct PassthroughHeader {
    pub name: String,
    pub value: String,
}

/// Which root a call came through: it decides the methods and the scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    Query,
    Mutation,
}

impl Root {
    fn scope(self) -> Scope {
        match self {
            Root::Query => Scope::PassthroughRead,
            Root::Mutation => Scope::PassthroughWrite,
        }
    }

    fn allows(self, method: &Method) -> bool {
        let read = *method == Method::GET || *method == Method::HEAD;
        match self {
            Root::Query => read,
            Root::Mutation => {
                !read && [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(method)
            }
        }
    }

    fn methods(self) -> &'static str {
        match self {
            Root::Query => "GET or HEAD (other methods are `Mutation.passthrough`)",
            Root::Mutation => "POST, PUT, PATCH or DELETE (reads are `Query.passthrough`)",
        }
    }
}

/// The arguments both roots take.
struct Args {
    provider: Provider,
    method: String,
    path: String,
    query: Option<Value>,
    body: Option<Value>,
}

#[derive(Default)]
pub struct PassthroughQuery;

#[Object]
impl PassthroughQuery {
    /// A raw GET or HEAD below a connected provider's API base (`path` relative to it, e.g.
    /// `/crm/v3/owners`), with the connection's credentials. `query`: an object of query
    /// parameters (a list repeats the name). Needs the `passthrough:read` scope.
    async fn passthrough(
        &self,
        ctx: &Context<'_>,
        provider: ProviderEnum,
        method: String,
        path: String,
        query: Option<Json<Value>>,
        body: Option<Json<Value>>,
    ) -> Result<PassthroughResponse> {
        let args = Args {
            provider: provider.into(),
            method,
            path,
            query: query.map(|q| q.0),
            body: body.map(|b| b.0),
        };
        audited(ctx, Root::Query, args).await
    }
}

#[derive(Default)]
pub struct PassthroughMutation;

#[Object]
impl PassthroughMutation {
    /// A raw POST, PUT, PATCH or DELETE below a connected provider's API base, with a JSON
    /// `body`. Needs the `passthrough:write` scope. Never repeated by the gateway once it may
    /// have reached the provider (a PUT or DELETE is, as they are idempotent).
    async fn passthrough(
        &self,
        ctx: &Context<'_>,
        provider: ProviderEnum,
        method: String,
        path: String,
        query: Option<Json<Value>>,
        body: Option<Json<Value>>,
    ) -> Result<PassthroughResponse> {
        let args = Args {
            provider: provider.into(),
            method,
            path,
            query: query.map(|q| q.0),
            body: body.map(|b| b.0),
        };
        audited(ctx, Root::Mutation, args).await
    }
}

/// Runs the call and writes its audit entry, whatever the outcome.
async fn audited(ctx: &Context<'_>, root: Root, args: Args) -> Result<PassthroughResponse> {
    let tenant = tenant(ctx)?;
    let app = ctx.data_unchecked::<AppContext>();
    let started_at = chrono::Utc::now();
    let started = Instant::now();
    let action = format!(
        "{} {}",
        args.method.to_ascii_uppercase(),
        printable(&args.path)
    );
    let provider = args.provider;
    let result = call(ctx, app, root, args).await;
    let (outcome, status) = match &result {
        Ok(response) => ("ok".to_owned(), u16::try_from(response.status).ok()),
        Err(error) => (code_of(error), None),
    };
    app.audit
        .record(Entry {
            tenant,
            key: ctx.data_opt::<KeyId>().copied(),
            kind: Kind::Passthrough,
            action,
            provider: Some(provider.slug().to_owned()),
            outcome,
            status,
            started: started_at,
            duration: started.elapsed(),
        })
        .await;
    result
}

/// The call itself: scope, method, path, query and body checked before anything is sent.
async fn call(
    ctx: &Context<'_>,
    app: &AppContext,
    root: Root,
    args: Args,
) -> Result<PassthroughResponse> {
    let scope = root.scope();
    if !scopes(ctx).allows(scope) {
        return Err(ErrorCode::Forbidden
            .error(format!(
                "this credential lacks the `{scope}` scope raw provider calls need"
            ))
            .extend_with(|_, e| e.set("scope", scope.as_str())));
    }
    let method = Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
        .ok()
        .filter(|m| root.allows(m))
        .ok_or_else(|| bad_input("method", format!("the method must be {}", root.methods())))?;
    let path = path::check(&args.path).map_err(|refused| bad_input("path", refused.to_string()))?;
    let query = query_pairs(args.query)?;
    if args.body.is_some() && root == Root::Query {
        return Err(bad_input("body", "a GET or HEAD has no body"));
    }
    if !app.passthrough.supports(args.provider) {
        return Err(ErrorCode::Unsupported.error(format!(
            "this gateway makes no raw calls to {}",
            args.provider.entry().name
        )));
    }
    let request = RawRequest {
        method,
        path: path.to_owned(),
        query,
        body: args.body,
    };
    let target = Target {
        tenant: tenant(ctx)?,
        provider: args.provider,
    };
    let response = app
        .passthrough
        .send(target, &request)
        .await
        .map_err(|e| upstream_error(&e))?;
    Ok(answer(response, app.passthrough_settings.max_body_bytes))
}

/// The `query` argument as name–value pairs: an object whose values are strings, numbers,
/// booleans or lists of them (a list repeats the name).
fn query_pairs(query: Option<Value>) -> Result<Vec<(String, String)>> {
    let Some(query) = query else {
        return Ok(Vec::new());
    };
    let Value::Object(map) = query else {
        return Err(bad_input(
            "query",
            "`query` must be an object of parameters",
        ));
    };
    let scalar = |name: &str, value: &Value| match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(bad_input(
            "query",
            format!("parameter `{name}` must be a string, number, boolean or a list of them"),
        )),
    };
    let mut pairs = Vec::new();
    for (name, value) in &map {
        match value {
            Value::Array(items) => {
                for item in items {
                    pairs.push((name.clone(), scalar(name, item)?));
                }
            }
            other => pairs.push((name.clone(), scalar(name, other)?)),
        }
    }
    Ok(pairs)
}

/// Headers a caller may see: what describes the body, its caching and paging, and the
/// provider's rate-limit counters.
fn shown(name: &str) -> bool {
    const EXACT: [&str; 8] = [
        "content-type",
        "content-language",
        "etag",
        "last-modified",
        "link",
        "location",
        "retry-after",
        "date",
    ];
    const PREFIXES: [&str; 4] = [
        "x-ratelimit-",
        "ratelimit",
        "x-hubspot-ratelimit-",
        "sforce-limit-info",
    ];
    EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

fn headers(map: &HeaderMap) -> Vec<PassthroughHeader> {
    map.iter()
        .filter(|(name, _)| shown(name.as_str()))
        .filter_map(|(name, value)| {
            Some(PassthroughHeader {
                name: name.as_str().to_owned(),
                value: value.to_str().ok()?.to_owned(),
            })
        })
        .collect()
}

/// The answer as the schema gives it, its body cut at `max` bytes.
fn answer(response: RawResponse, max: usize) -> PassthroughResponse {
    let bytes = &response.body;
    let truncated = bytes.len() > max;
    let body = if bytes.is_empty() {
        None
    } else if !truncated && let Ok(json) = serde_json::from_slice::<Value>(bytes) {
        Some(Json(json))
    } else {
        let mut end = bytes.len().min(max);
        let text = loop {
            match std::str::from_utf8(&bytes[..end]) {
                Ok(text) => break text,
                Err(e) if e.error_len().is_none() => end = e.valid_up_to(),
                Err(_) => break "",
            }
        };
        Some(Json(Value::String(text.to_owned())))
    };
    PassthroughResponse {
        status: i32::from(response.status.as_u16()),
        headers: headers(&response.headers),
        body,
        truncated,
    }
}

/// A path as the audit log keeps it: control characters dropped, at most 512 bytes.
fn printable(path: &str) -> String {
    path.chars()
        .filter(|c| !c.is_control())
        .scan(0usize, |len, c| {
            *len += c.len_utf8();
            (*len <= 512).then_some(c)
        })
        .collect()
}

/// The code an error carries (`extensions.code`).
pub fn code_of(error: &Error) -> String {
    error
        .extensions
        .as_ref()
        .and_then(|e| e.get("code"))
        .and_then(|v| match v {
            async_graphql::Value::String(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(|| ErrorCode::Internal.as_str().to_owned())
}
