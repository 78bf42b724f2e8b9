//! Salesforce REST v58.0, simulated for one org: OAuth (no `expires_in`; sessions last the spec's
//! 3 hours and end with 401 INVALID_SESSION_ID), sObject CRUD for Lead, Contact, Account and
//! Opportunity (a delete moves the record to the recycle bin), describeGlobal, basic
//! information and limits (`org`), SOQL `query` and `queryAll` (which sees the recycle bin)
//! with `nextRecordsUrl` paging and `Sforce-Query-Options: batchSize`, error arrays,
//! `Sforce-Limit-Info` on every response, and the spec's daily limits answered with 403
//! REQUEST_LIMIT_EXCEEDED. Its paths are answered at the root too, since its
//! host-relative URLs (`nextRecordsUrl`, `attributes.url`) are used as they come and
//! `instance_url` is the sandbox's origin.

mod bulk;
mod collections;
mod describe;
mod org;
mod outbound;
pub mod soql;
pub mod store;

use axum::{
    Form, Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::Duration;
use hmac::{KeyInit, Mac};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::Sha256;

use super::{
    Ctx, SandboxState, oauth,
    tokens::{App, CodeExchange, GrantError, Issued, Policy},
};
use store::{API, OWNER_ID, SObject, render};

pub use store::Store;

pub const SLUG: &str = "salesforce";
/// The spec: "Refresh token every 2 hours (expires in 3 hours)". Refresh tokens do not rotate.
pub const POLICY: Policy = Policy {
    prefix: "00D5e0000000001!AR8AQ",
    access_lifetime: Duration::hours(3),
    rotates_refresh: false,
    issues_refresh: true,
};
/// The org's API requests per rolling 24 hours (Sforce-Limit-Info's second number).
pub const ORG_DAILY_LIMIT: u32 = 100_000;
/// The spec's per-endpoint daily limits.
const LEAD_DAILY_LIMIT: u32 = 1_000;
const QUERY_DAILY_LIMIT: u32 = 15_000;
/// Records per query page unless `Sforce-Query-Options: batchSize` says otherwise.
const DEFAULT_BATCH: usize = 2_000;

pub fn routes() -> Router<Ctx> {
    let data = |path: &str| format!("{API}{path}");
    Router::new()
        .route(
            "/services/oauth2/authorize",
            get(oauth::page).post(oauth::decide),
        )
        .route("/services/oauth2/token", axum::routing::post(token))
        .route("/services/oauth2/revoke", axum::routing::post(revoke))
        .route(
            &data("/sobjects/{object}"),
            get(org::basic_info).post(create),
        )
        .route(
            &data("/sobjects/{object}/{id}"),
            get(read).patch(update).delete(remove),
        )
        .route(&data("/sobjects/{object}/describe"), get(describe::get))
        .route(&data("/query"), get(query))
        .route(&data("/query/{locator}"), get(query_more))
        .route(&data("/queryAll"), get(query_all))
        .route(&data("/queryAll/{locator}"), get(query_more))
        .route(&data("/sobjects"), get(org::describe_global))
        .route(&data("/limits"), get(org::limits))
        .route(
            &data("/composite/sobjects"),
            axum::routing::post(collections::write)
                .patch(collections::write)
                .delete(collections::delete),
        )
        .route(
            &data("/composite/sobjects/{object}"),
            get(collections::retrieve).post(collections::retrieve_by_body),
        )
        .route(
            &bulk::path("/query"),
            axum::routing::post(bulk::create_query),
        )
        .route(
            &bulk::path("/query/{id}"),
            get(bulk::query_info).delete(bulk::delete),
        )
        .route(&bulk::path("/query/{id}/results"), get(bulk::query_results))
        .route(
            &bulk::path("/ingest"),
            axum::routing::post(bulk::create_ingest),
        )
        .route(
            &bulk::path("/ingest/{id}"),
            get(bulk::ingest_info)
                .patch(bulk::change_state)
                .delete(bulk::delete),
        )
        .route(
            &bulk::path("/ingest/{id}/batches"),
            axum::routing::put(bulk::upload),
        )
        .route(
            &bulk::path("/ingest/{id}/{which}"),
            get(bulk::ingest_results),
        )
        .route(
            &bulk::path("/ingest/{id}/{which}/"),
            get(bulk::ingest_results),
        )
}

/// Counts `calls` API requests the org's other apps made just now: the org-wide figure
/// (`Sforce-Limit-Info`'s api-usage, and its limit) is shared by every app of the org.
pub fn spend_elsewhere(state: &SandboxState, org: &str, calls: u32) {
    let now = state.clock.now();
    state
        .salesforce
        .lock(org)
        .windows
        .record(org, "api", calls, now);
}

/// An error answer: Salesforce's array of `{"message","errorCode","fields"?}`, and the org's
/// usage when the call was counted.
#[derive(Debug)]
pub struct SfError {
    status: StatusCode,
    body: Value,
    used: Option<u32>,
}

impl IntoResponse for SfError {
    fn into_response(self) -> Response {
        let response = (self.status, Json(self.body)).into_response();
        match self.used {
            Some(used) => with_usage(response, used),
            None => response,
        }
    }
}

pub fn error(status: StatusCode, code: &str, message: &str) -> SfError {
    SfError {
        status,
        body: json!([{ "message": message, "errorCode": code }]),
        used: None,
    }
}

fn not_found() -> SfError {
    error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "The requested resource does not exist",
    )
}

/// A fault's answer, shaped as Salesforce's.
pub fn fault(status: u16, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match status {
        StatusCode::FORBIDDEN => error(
            status,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        ),
        StatusCode::UNAUTHORIZED => {
            error(status, "INVALID_SESSION_ID", "Session expired or invalid")
        }
        StatusCode::NOT_FOUND => not_found(),
        StatusCode::SERVICE_UNAVAILABLE => error(
            status,
            "SERVER_UNAVAILABLE",
            "Server temporarily unavailable",
        ),
        _ => error(
            status,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you contact support.",
        ),
    }
    .into_response();
    if let Some(v) = retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
        response.headers_mut().insert("retry-after", v);
    }
    response
}

/// A call that passed authentication and the limits; `Sforce-Limit-Info` goes on its answer.
struct Admitted {
    used: u32,
    /// The org the session belongs to; the call sees that org's data.
    account: String,
}

impl Admitted {
    fn finish(&self, response: impl IntoResponse) -> Response {
        with_usage(response.into_response(), self.used)
    }
}

fn with_usage(mut response: Response, used: u32) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!("api-usage={used}/{ORG_DAILY_LIMIT}")) {
        response.headers_mut().insert("sforce-limit-info", v);
    }
    response
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("OAuth "))
}

/// Authenticates and counts the call: the org's rolling 24 hours, and the spec's per-endpoint
/// daily limit for `class` when it has one.
fn admit(
    ctx: &Ctx,
    headers: &HeaderMap,
    class: Option<(&'static str, u32)>,
) -> Result<Admitted, SfError> {
    let now = ctx.state.clock.now();
    let checked = ctx
        .state
        .tokens
        .lock()
        .expect("tokens lock")
        .check(SLUG, bearer(headers), now);
    // An invalid session names no org, so its answer carries no org's usage.
    let Ok(grant) = checked else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        ));
    };
    let account = grant.account;
    let mut store = ctx.state.salesforce.lock(&account);
    let day = Duration::hours(24);
    let used = store.windows.count(&account, "api", day, now);
    if !ctx.state.limits_enforced(SLUG) {
        return Ok(Admitted { used, account });
    }
    if let Some((name, limit)) = class
        && !store.windows.hit(&account, name, limit, day, now).allowed
    {
        return Err(SfError {
            used: Some(used),
            ..error(
                StatusCode::FORBIDDEN,
                "REQUEST_LIMIT_EXCEEDED",
                "TotalRequests Limit exceeded.",
            )
        });
    }
    let org = store
        .windows
        .hit(&account, "api", ORG_DAILY_LIMIT, day, now);
    if !org.allowed {
        return Err(SfError {
            used: Some(used),
            ..error(
                StatusCode::FORBIDDEN,
                "REQUEST_LIMIT_EXCEEDED",
                "TotalRequests Limit exceeded.",
            )
        });
    }
    drop(store);
    Ok(Admitted {
        used: ORG_DAILY_LIMIT - org.remaining,
        account,
    })
}

/// The spec's daily rate class of an sObject call: Lead GET, POST and PATCH have 1,000 each.
fn lead_class(object: SObject, method: &'static str) -> Option<(&'static str, u32)> {
    (object == SObject::Lead).then_some((method, LEAD_DAILY_LIMIT))
}

fn object_of(name: &str) -> Result<SObject, SfError> {
    SObject::parse(name).ok_or_else(not_found)
}

/// Checks a write's fields: known, writable, and (on create) the required ones present.
/// Lookup fields must name an existing record of their type, else Salesforce answers
/// INVALID_CROSS_REFERENCE_KEY.
fn check_references(store: &Store, fields: &Map<String, Value>) -> Result<(), SfError> {
    const LOOKUPS: [(&str, SObject); 4] = [
        ("AccountId", SObject::Account),
        ("ConvertedContactId", SObject::Contact),
        ("ContactId", SObject::Contact),
        ("OpportunityId", SObject::Opportunity),
    ];
    for (field, target) in LOOKUPS {
        let named = fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(field))
            .and_then(|(_, v)| v.as_str());
        if let Some(id) = named.filter(|id| store.get(target, id).is_none()) {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "INVALID_CROSS_REFERENCE_KEY",
                &format!("invalid cross reference id: {id}"),
            ));
        }
    }
    Ok(())
}

fn check_write(object: SObject, fields: &Map<String, Value>, create: bool) -> Result<(), SfError> {
    if let Some(unknown) = fields
        .keys()
        .find(|k| !object.fields().iter().any(|f| f.eq_ignore_ascii_case(k)))
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
            &format!(
                "No such column '{unknown}' on sobject of type {}",
                object.name()
            ),
        ));
    }
    let read_only: Vec<&String> = fields
        .keys()
        .filter(|k| object.read_only().iter().any(|f| f.eq_ignore_ascii_case(k)))
        .collect();
    if !read_only.is_empty() {
        let names = read_only
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            &format!(
                "Unable to create/update fields: {names}. Please check the security settings of this field and verify that it is read/write for your profile or permission set."
            ),
        ));
    }
    if create {
        let missing: Vec<&str> = object
            .required()
            .iter()
            .copied()
            .filter(|r| {
                !fields.iter().any(|(k, v)| {
                    k.eq_ignore_ascii_case(r)
                        && v.as_str().is_none_or(|s| !s.trim().is_empty())
                        && !v.is_null()
                })
            })
            .collect();
        if !missing.is_empty() {
            return Err(SfError {
                status: StatusCode::BAD_REQUEST,
                body: json!([{
                    "message": format!("Required fields are missing: [{}]", missing.join(", ")),
                    "errorCode": "REQUIRED_FIELD_MISSING",
                    "fields": missing,
                }]),
                used: None,
            });
        }
    }
    Ok(())
}

fn body_fields(body: &Bytes) -> Result<Map<String, Value>, SfError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(error(
            StatusCode::BAD_REQUEST,
            "JSON_PARSER_ERROR",
            "The body must be a JSON object",
        )),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            "JSON_PARSER_ERROR",
            &e.to_string(),
        )),
    }
}

/// Applies fields to a record by the org's casing of their names.
fn apply(object: SObject, record: &mut Map<String, Value>, fields: Map<String, Value>) {
    for (k, v) in fields {
        let name = object
            .fields()
            .iter()
            .find(|f| f.eq_ignore_ascii_case(&k))
            .map_or(k, |f| f.to_string());
        record.insert(name, v);
    }
}

async fn create(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(object): Path<String>,
    body: Bytes,
) -> Response {
    let object = match object_of(&object) {
        Ok(o) => o,
        Err(r) => return r.into_response(),
    };
    let admitted = match admit(&ctx, &headers, lead_class(object, "lead_post")) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let result = body_fields(&body).and_then(|fields| {
        check_write(object, &fields, true)?;
        let now = ctx.state.clock.now();
        let mut store = ctx.state.salesforce.lock(&admitted.account);
        check_references(&store, &fields)?;
        Ok(store.insert(object, Value::Object(fields), now))
    });
    match result {
        Ok(id) => {
            outbound::notify(
                &ctx.state,
                &admitted.account,
                object,
                std::slice::from_ref(&id),
            );
            admitted.finish((
                StatusCode::CREATED,
                Json(json!({ "id": id, "success": true, "errors": [] })),
            ))
        }
        Err(r) => admitted.finish(r),
    }
}

#[derive(Deserialize)]
struct FieldsParam {
    fields: Option<String>,
}

async fn read(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((object, id)): Path<(String, String)>,
    Query(params): Query<FieldsParam>,
) -> Response {
    let object = match object_of(&object) {
        Ok(o) => o,
        Err(r) => return r.into_response(),
    };
    let admitted = match admit(&ctx, &headers, lead_class(object, "lead_get")) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let fields: Option<Vec<String>> = params.fields.map(|f| {
        f.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    });
    if let Some(bad) = fields
        .iter()
        .flatten()
        .find(|f| !object.fields().iter().any(|k| k.eq_ignore_ascii_case(f)))
    {
        return admitted.finish(error(
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
            &format!("No such column '{bad}' on entity '{}'.", object.name()),
        ));
    }
    let store = ctx.state.salesforce.lock(&admitted.account);
    match store.get(object, &id) {
        Some(record) => admitted.finish(Json(render(object, record, fields.as_deref()))),
        None => admitted.finish(not_found()),
    }
}

async fn update(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((object, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let object = match object_of(&object) {
        Ok(o) => o,
        Err(r) => return r.into_response(),
    };
    let admitted = match admit(&ctx, &headers, lead_class(object, "lead_patch")) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let result = body_fields(&body).and_then(|fields| {
        check_write(object, &fields, false)?;
        let now = ctx.state.clock.now();
        let mut store = ctx.state.salesforce.lock(&admitted.account);
        check_references(&store, &fields)?;
        let record = store
            .records
            .get_mut(&object)
            .and_then(|m| m.get_mut(&id))
            .ok_or_else(not_found)?;
        apply(object, record, fields);
        Store::touch(object, record, now);
        Ok(())
    });
    match result {
        Ok(()) => {
            outbound::notify(&ctx.state, &admitted.account, object, &[id]);
            admitted.finish(StatusCode::NO_CONTENT)
        }
        Err(r) => admitted.finish(r),
    }
}

async fn remove(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((object, id)): Path<(String, String)>,
) -> Response {
    let object = match object_of(&object) {
        Ok(o) => o,
        Err(r) => return r.into_response(),
    };
    let admitted = match admit(&ctx, &headers, None) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let now = ctx.state.clock.now();
    let mut store = ctx.state.salesforce.lock(&admitted.account);
    if store.delete(object, &id, now) {
        admitted.finish(StatusCode::NO_CONTENT)
    } else {
        admitted.finish(not_found())
    }
}

/// `Sforce-Query-Options: batchSize=N` (200–2000), else 2000.
fn batch_size(headers: &HeaderMap) -> usize {
    headers
        .get("sforce-query-options")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .find_map(|p| p.trim().strip_prefix("batchSize="))
        })
        .and_then(|n| n.parse::<usize>().ok())
        .map_or(DEFAULT_BATCH, |n| n.clamp(200, DEFAULT_BATCH))
}

/// A page of rendered query results; the rest waits under a locator for `nextRecordsUrl`.
fn page(store: &mut Store, mut rows: Vec<Value>, total: usize, batch: usize) -> Value {
    let rest = if rows.len() > batch {
        rows.split_off(batch)
    } else {
        Vec::new()
    };
    let mut body = json!({ "totalSize": total, "done": rest.is_empty(), "records": rows });
    if !rest.is_empty() {
        store.next_cursor += 1;
        let locator = format!("01g5e{:013}", store.next_cursor);
        let fetched = total - rest.len();
        body["nextRecordsUrl"] = json!(format!("{API}/query/{locator}-{fetched}"));
        store.cursors.insert(format!("{locator}-{fetched}"), rest);
    }
    body
}

/// Parses SOQL and checks it against the org's objects, fields and relationships; errors are
/// Salesforce's 400 answers.
fn parse_query(soql: &str, store: &Store) -> Result<(soql::Query, SObject), SfError> {
    soql::parse(soql)
        .and_then(|query| {
            let name = query.check(store)?;
            let object = SObject::parse(name)
                .ok_or_else(|| soql::SoqlError::InvalidType(query.object.clone()))?;
            Ok((query, object))
        })
        .map_err(|e| error(StatusCode::BAD_REQUEST, e.error_code(), &e.to_string()))
}

#[derive(Deserialize)]
struct QueryParam {
    q: Option<String>,
}

/// `GET /query?q=`: live records.
async fn query(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Query(params): Query<QueryParam>,
) -> Response {
    run_query(&ctx, &headers, params.q, false)
}

/// `GET /queryAll?q=`: live records and the recycle bin's (`IsDeleted` true).
async fn query_all(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Query(params): Query<QueryParam>,
) -> Response {
    run_query(&ctx, &headers, params.q, true)
}

fn run_query(ctx: &Ctx, headers: &HeaderMap, q: Option<String>, all: bool) -> Response {
    let admitted = match admit(ctx, headers, Some(("query", QUERY_DAILY_LIMIT))) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let Some(q) = q else {
        return admitted.finish(error(
            StatusCode::BAD_REQUEST,
            "MALFORMED_QUERY",
            "A query string must be provided",
        ));
    };
    let mut store = ctx.state.salesforce.lock(&admitted.account);
    let (query, object) = match parse_query(&q, &store) {
        Ok(v) => v,
        Err(e) => return admitted.finish(e),
    };
    let hits = query.select(&*store, object.name(), store.scan(object, all));
    if query.count {
        let total = hits.len();
        return admitted.finish(Json(
            json!({ "totalSize": total, "done": true, "records": [] }),
        ));
    }
    let rows: Vec<Value> = hits
        .into_iter()
        .map(|r| query.project(&*store, object.name(), r))
        .collect();
    let total = rows.len();
    let body = page(&mut store, rows, total, batch_size(headers));
    admitted.finish(Json(body))
}

async fn query_more(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(locator): Path<String>,
) -> Response {
    let admitted = match admit(&ctx, &headers, Some(("query", QUERY_DAILY_LIMIT))) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let mut store = ctx.state.salesforce.lock(&admitted.account);
    let Some(rows) = store.cursors.remove(&locator) else {
        return admitted.finish(error(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY_LOCATOR",
            "invalid query locator",
        ));
    };
    let fetched: usize = locator
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let total = fetched + rows.len();
    let body = page(&mut store, rows, total, batch_size(&headers));
    admitted.finish(Json(body))
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    redirect_uri: Option<String>,
    code: Option<String>,
    refresh_token: Option<String>,
    code_verifier: Option<String>,
}

fn oauth_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// Salesforce's token response: no `expires_in`; `issued_at` in ms as a string; `signature` the
/// Base64 HMAC-SHA256 of `id + issued_at` keyed with the client secret.
pub fn token_body(state: &SandboxState, issued: &Issued, with_refresh: bool) -> Value {
    let origin = state.origin();
    let id = format!("{origin}/id/{}/{OWNER_ID}", issued.account);
    let issued_at = state.clock.now().timestamp_millis().to_string();
    let mut mac =
        hmac::Hmac::<Sha256>::new_from_slice(App::for_provider(SLUG).client_secret.as_bytes())
            .expect("HMAC takes any key");
    mac.update(format!("{id}{issued_at}").as_bytes());
    let mut body = json!({
        "access_token": issued.access_token,
        "instance_url": origin,
        "id": id,
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": STANDARD.encode(mac.finalize().into_bytes()),
        "scope": issued.scopes.join(" "),
    });
    if with_refresh && let Some(refresh) = &issued.refresh_token {
        body["refresh_token"] = json!(refresh);
    }
    body
}

async fn token(State(ctx): State<Ctx>, Form(form): Form<TokenForm>) -> Response {
    let app = App::for_provider(SLUG);
    if form.client_id.as_deref() != Some(&app.client_id) {
        return oauth_error("invalid_client_id", "client identifier invalid");
    }
    if form
        .client_secret
        .as_deref()
        .is_some_and(|s| s != app.client_secret)
    {
        return oauth_error("invalid_client", "invalid client credentials");
    }
    let now = ctx.state.clock.now();
    let mut tokens = ctx.state.tokens.lock().expect("tokens lock");
    let (result, with_refresh) = match form.grant_type.as_deref() {
        Some("authorization_code") => (
            tokens.exchange(
                SLUG,
                &CodeExchange {
                    code: form.code.as_deref().unwrap_or_default(),
                    client_id: &app.client_id,
                    redirect_uri: form.redirect_uri.as_deref(),
                    verifier: form.code_verifier.as_deref(),
                },
                POLICY,
                now,
            ),
            true,
        ),
        Some("refresh_token") => (
            tokens.refresh(
                SLUG,
                form.refresh_token.as_deref().unwrap_or_default(),
                POLICY,
                now,
            ),
            false,
        ),
        _ => return oauth_error("unsupported_grant_type", "grant type not supported"),
    };
    drop(tokens);
    match result {
        Ok(issued) => Json(token_body(&ctx.state, &issued, with_refresh)).into_response(),
        Err(GrantError::Revoked | GrantError::UnknownRefresh) => {
            oauth_error("invalid_grant", "expired access/refresh token")
        }
        Err(GrantError::RedirectMismatch) => oauth_error(
            "redirect_uri_mismatch",
            "redirect_uri must match configuration",
        ),
        Err(GrantError::UnknownCode | GrantError::PkceMismatch) => {
            oauth_error("invalid_grant", "authentication failure")
        }
    }
}

#[derive(Deserialize)]
struct RevokeForm {
    token: Option<String>,
}

/// `POST /services/oauth2/revoke` (form `token=`): 200, or 400 `unsupported_token_type`.
async fn revoke(State(ctx): State<Ctx>, Form(form): Form<RevokeForm>) -> Response {
    let now = ctx.state.clock.now();
    let token = form.token.unwrap_or_default();
    if ctx
        .state
        .tokens
        .lock()
        .expect("tokens lock")
        .revoke_token(SLUG, &token, now)
    {
        StatusCode::OK.into_response()
    } else {
        oauth_error("unsupported_token_type", "this token type is not supported")
    }
}

/// Tokens for an org without consent (`POST /_sandbox/tokens`), as the token endpoint answers.
pub fn mint(state: &SandboxState, org: &str) -> Value {
    let now = state.clock.now();
    let scopes = ["api", "refresh_token", "offline_access"]
        .map(str::to_owned)
        .to_vec();
    let issued = state
        .tokens
        .lock()
        .expect("tokens lock")
        .mint(SLUG, org, scopes, POLICY, now);
    token_body(state, &issued, true)
}

/// `POST /_sandbox/records` for Salesforce: a change made in Salesforce's UI (system fields
/// such as SystemModstamp may be set).
pub fn change_record(
    state: &std::sync::Arc<SandboxState>,
    org: &str,
    object: &str,
    op: &str,
    id: Option<&str>,
    fields: &Value,
) -> Response {
    let Some(object) = SObject::parse(object) else {
        return not_found().into_response();
    };
    let fields = fields.as_object().cloned().unwrap_or_default();
    let now = state.clock.now();
    let mut store = state.salesforce.lock(org);
    let (status, id) = match (op, id) {
        ("create", _) => {
            let writable = fields
                .iter()
                .filter(|(k, _)| !object.read_only().contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if let Err(r) = check_write(object, &writable, true) {
                return r.into_response();
            }
            (
                StatusCode::CREATED,
                store.insert(object, Value::Object(Map::new()), now),
            )
        }
        ("update", Some(id)) if store.get(object, id).is_some() => (StatusCode::OK, id.to_owned()),
        ("delete", Some(id)) => {
            return if store.delete(object, id, now) {
                StatusCode::NO_CONTENT.into_response()
            } else {
                not_found().into_response()
            };
        }
        ("update", Some(_)) => return not_found().into_response(),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_OPERATION",
                "op must be create, or update/delete with an id",
            )
            .into_response();
        }
    };
    let Some(record) = store.records.get_mut(&object).and_then(|m| m.get_mut(&id)) else {
        return not_found().into_response();
    };
    // System fields given by the test win over the ones the write would set.
    let stamp = fields.get("SystemModstamp").cloned();
    apply(object, record, fields);
    Store::touch(object, record, now);
    if let Some(stamp) = stamp {
        record.insert("SystemModstamp".into(), stamp.clone());
        record.insert("LastModifiedDate".into(), stamp);
    }
    let body = render(object, record, None);
    drop(store);
    outbound::notify(state, org, object, &[id]);
    (status, Json(body)).into_response()
}
