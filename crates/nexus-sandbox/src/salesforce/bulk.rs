//! Bulk API 2.0 (CSV): query jobs (`/jobs/query`, results paged by `Sforce-Locator`, the literal
//! `"null"` on the last page) and ingest jobs (`/jobs/ingest`: create, upload CSV, close with
//! `UploadComplete`, poll, then successful, failed and unprocessed results). A job reports
//! `InProgress` at its first poll and is done from the second, so clients exercise their polling.

use std::collections::HashMap;

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    SfError, admit, apply, check_references, check_write, error, parse_query,
    store::{API, OWNER_ID, SObject, Store, sf_time},
};
use crate::Ctx;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Query,
    Ingest,
}

#[derive(Debug)]
pub struct Job {
    id: String,
    kind: Kind,
    operation: String,
    object: SObject,
    state: &'static str,
    polls: u32,
    created: String,
    /// Query: the result rows. Ingest: the uploaded CSV.
    rows: Vec<Map<String, Value>>,
    columns: Vec<String>,
    csv: Vec<u8>,
    succeeded: Vec<(String, bool, Vec<String>)>,
    failed: Vec<(String, Vec<String>)>,
}

impl Job {
    fn info(&self) -> Value {
        let path = match self.kind {
            Kind::Query => "query",
            Kind::Ingest => "ingest",
        };
        let mut info = json!({
            "id": self.id,
            "operation": self.operation,
            "object": self.object.name(),
            "createdById": OWNER_ID,
            "createdDate": self.created,
            "systemModstamp": self.created,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": 58.0,
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
            "jobType": if self.kind == Kind::Query { "V2Query" } else { "V2Ingest" },
            "retries": 0,
            "totalProcessingTime": 0,
        });
        if self.kind == Kind::Ingest {
            info["contentUrl"] = json!(format!(
                "services/data/v58.0/jobs/{path}/{}/batches",
                self.id
            ));
            info["apiActiveProcessingTime"] = json!(0);
            info["apexProcessingTime"] = json!(0);
        }
        if matches!(self.state, "JobComplete" | "InProgress") {
            let processed = match self.kind {
                Kind::Query => self.rows.len(),
                Kind::Ingest => self.succeeded.len() + self.failed.len(),
            };
            info["numberRecordsProcessed"] = json!(processed);
            info["numberRecordsFailed"] = json!(self.failed.len());
        }
        info
    }

    fn new(
        id: String,
        kind: Kind,
        operation: String,
        object: SObject,
        state: &'static str,
        created: String,
    ) -> Self {
        Self {
            id,
            kind,
            operation,
            object,
            state,
            polls: 0,
            created,
            rows: Vec::new(),
            columns: Vec::new(),
            csv: Vec::new(),
            succeeded: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// A poll: the first one finds the job running, later ones find it done.
    fn poll(&mut self) {
        if self.state == "UploadComplete" || self.state == "InProgress" {
            self.polls += 1;
            self.state = if self.polls > 1 {
                "JobComplete"
            } else {
                "InProgress"
            };
        }
    }
}

fn job_id(store: &mut Store) -> String {
    store.next_cursor += 1;
    format!("7505e{:010}AAA", store.next_cursor)
}

fn csv_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn write_csv(header: &[String], rows: impl Iterator<Item = Vec<String>>) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let _ = writer.write_record(header);
    for row in rows {
        let _ = writer.write_record(&row);
    }
    writer.into_inner().unwrap_or_default()
}

fn csv_response(body: Vec<u8>, headers: Vec<(&'static str, String)>) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/csv"));
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    response
}

fn invalid_job(message: &str) -> SfError {
    error(StatusCode::BAD_REQUEST, "INVALIDJOB", message)
}

#[derive(Deserialize)]
pub struct QueryJobRequest {
    operation: Option<String>,
    query: Option<String>,
}

/// `POST /jobs/query`.
pub async fn create_query(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Json(request): Json<QueryJobRequest>,
) -> Response {
    let admitted = match admit(&ctx, &headers, None) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let operation = request.operation.unwrap_or_else(|| "query".into());
    if operation != "query" && operation != "queryAll" {
        return admitted.finish(invalid_job("operation must be query or queryAll"));
    }
    let now = sf_time(ctx.state.clock.now());
    let mut store = ctx.state.salesforce.lock(&admitted.account);
    let (query, object) = match parse_query(request.query.as_deref().unwrap_or_default(), &store) {
        Ok(v) => v,
        Err(e) => return admitted.finish(e),
    };
    if !query.is_flat() {
        return admitted.finish(invalid_job(
            "Bulk API 2.0 query jobs take neither COUNT() nor parent-to-child subqueries",
        ));
    }
    let hits = query.select(
        &*store,
        object.name(),
        store.scan(object, operation == "queryAll"),
    );
    let rows: Vec<Map<String, Value>> = hits
        .into_iter()
        .map(|r| query.flat(&*store, object.name(), r))
        .collect();
    let id = job_id(&mut store);
    let mut job = Job::new(
        id.clone(),
        Kind::Query,
        operation,
        object,
        "UploadComplete",
        now,
    );
    job.rows = rows;
    job.columns = query.columns();
    let info = job.info();
    store.jobs.insert(id, job);
    admitted.finish(Json(info))
}

fn with_job<T>(
    ctx: &Ctx,
    org: &str,
    kind: Kind,
    id: &str,
    f: impl FnOnce(&mut Job, &mut Store) -> T,
) -> Result<T, SfError> {
    let mut store = ctx.state.salesforce.lock(org);
    let mut job = store.jobs.remove(id).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        )
    })?;
    if job.kind != kind {
        store.jobs.insert(id.to_owned(), job);
        return Err(error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        ));
    }
    let out = f(&mut job, &mut store);
    store.jobs.insert(id.to_owned(), job);
    Ok(out)
}

/// `GET /jobs/query/{id}`.
pub async fn query_info(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    info(&ctx, &headers, Kind::Query, &id)
}

/// `GET /jobs/ingest/{id}`.
pub async fn ingest_info(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    info(&ctx, &headers, Kind::Ingest, &id)
}

fn info(ctx: &Ctx, headers: &HeaderMap, kind: Kind, id: &str) -> Response {
    let admitted = match admit(ctx, headers, None) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    match with_job(ctx, &admitted.account, kind, id, |job, _| {
        job.poll();
        job.info()
    }) {
        Ok(info) => admitted.finish(Json(info)),
        Err(e) => admitted.finish(e),
    }
}

#[derive(Deserialize)]
pub struct ResultsParams {
    #[serde(rename = "maxRecords")]
    max_records: Option<usize>,
    locator: Option<String>,
}

/// `GET /jobs/query/{id}/results?maxRecords&locator`: CSV with `Sforce-NumberOfRecords` and
/// `Sforce-Locator` (`null` on the last page).
pub async fn query_results(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<ResultsParams>,
) -> Response {
    let admitted = match admit(&ctx, &headers, None) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let offset = match params
        .locator
        .as_deref()
        .filter(|l| !l.is_empty() && *l != "null")
    {
        None => 0,
        Some(l) => match URL_SAFE_NO_PAD
            .decode(l)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse().ok())
        {
            Some(n) => n,
            None => {
                return admitted.finish(error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_LOCATOR",
                    "invalid locator",
                ));
            }
        },
    };
    let result = with_job(&ctx, &admitted.account, Kind::Query, &id, |job, _| {
        if job.state != "JobComplete" {
            return Err(invalid_job(
                "The job is not complete; poll it until its state is JobComplete",
            ));
        }
        let max = params.max_records.unwrap_or(usize::MAX).max(1);
        let page: Vec<Vec<String>> = job
            .rows
            .iter()
            .skip(offset)
            .take(max)
            .map(|r| {
                job.columns
                    .iter()
                    .map(|c| {
                        csv_text(
                            r.iter()
                                .find(|(k, _)| k.eq_ignore_ascii_case(c))
                                .map_or(&Value::Null, |(_, v)| v),
                        )
                    })
                    .collect()
            })
            .collect();
        let next = offset + page.len();
        let locator = if next < job.rows.len() {
            URL_SAFE_NO_PAD.encode(next.to_string())
        } else {
            "null".to_owned()
        };
        let count = page.len();
        Ok((write_csv(&job.columns, page.into_iter()), count, locator))
    });
    match result {
        Ok(Ok((body, count, locator))) => admitted.finish(csv_response(
            body,
            vec![
                ("sforce-numberofrecords", count.to_string()),
                ("sforce-locator", locator),
            ],
        )),
        Ok(Err(e)) | Err(e) => admitted.finish(e),
    }
}

#[derive(Deserialize)]
pub struct IngestJobRequest {
    object: Option<String>,
    operation: Option<String>,
}

/// `POST /jobs/ingest`: an Open job that takes CSV at its `contentUrl`.
pub async fn create_ingest(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Json(request): Json<IngestJobRequest>,
) -> Response {
    let admitted = match admit(&ctx, &headers, None) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let Some(object) = request.object.as_deref().and_then(SObject::parse) else {
        return admitted.finish(invalid_job("object must name a supported sObject"));
    };
    let operation = request.operation.unwrap_or_default();
    if !matches!(operation.as_str(), "insert" | "update" | "delete") {
        return admitted.finish(invalid_job("operation must be insert, update or delete"));
    }
    let now = sf_time(ctx.state.clock.now());
    let mut store = ctx.state.salesforce.lock(&admitted.account);
    let id = job_id(&mut store);
    let job = Job::new(id.clone(), Kind::Ingest, operation, object, "Open", now);
    let info = job.info();
    store.jobs.insert(id, job);
    admitted.finish(Json(info))
}

/// `PUT /jobs/ingest/{id}/batches` with `Content-Type: text/csv`: 201, no body.
pub async fn upload(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let admitted = match admit(&ctx, &headers, None) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let result = with_job(&ctx, &admitted.account, Kind::Ingest, &id, |job, _| {
        if job.state != "Open" {
            return Err(invalid_job("Data can only be uploaded to an Open job"));
        }
        job.csv.extend_from_slice(&body);
        Ok(())
    });
    match result {
        Ok(Ok(())) => admitted.finish(StatusCode::CREATED),
        Ok(Err(e)) | Err(e) => admitted.finish(e),
    }
}

#[derive(Deserialize)]
pub struct StateChange {
    state: String,
}

/// Runs an ingest job's rows against the org; each row succeeds or fails on its own.
fn process(job: &mut Job, store: &mut Store, now: chrono::DateTime<chrono::Utc>) {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(job.csv.as_slice());
    job.columns = reader
        .headers()
        .map(|h| h.iter().map(str::to_owned).collect())
        .unwrap_or_default();
    let records: Vec<Vec<String>> = reader
        .records()
        .filter_map(Result::ok)
        .map(|r| r.iter().map(str::to_owned).collect())
        .collect();
    for values in records {
        let mut fields = Map::new();
        let mut id = None;
        for (column, value) in job.columns.iter().zip(&values) {
            if column.eq_ignore_ascii_case("Id") {
                id = Some(value.clone());
            } else if value == "#N/A" {
                fields.insert(column.clone(), Value::Null);
            } else if !value.is_empty() {
                fields.insert(column.clone(), Value::String(value.clone()));
            }
        }
        let outcome: Result<(String, bool), SfError> = match job.operation.as_str() {
            "insert" => check_write(job.object, &fields, true)
                .and_then(|()| check_references(store, &fields))
                .map(|()| (store.insert(job.object, Value::Object(fields), now), true)),
            "update" => match id.filter(|i| store.get(job.object, i).is_some()) {
                None => Err(error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_CROSS_REFERENCE_KEY",
                    "invalid cross reference id",
                )),
                Some(id) => check_write(job.object, &fields, false).map(|()| {
                    if let Some(record) = store
                        .records
                        .get_mut(&job.object)
                        .and_then(|m| m.get_mut(&id))
                    {
                        apply(job.object, record, fields);
                        Store::touch(job.object, record, now);
                    }
                    (id, false)
                }),
            },
            _ => match id.filter(|i| store.delete(job.object, i, now)) {
                Some(id) => Ok((id, false)),
                None => Err(error(
                    StatusCode::BAD_REQUEST,
                    "ENTITY_IS_DELETED",
                    "entity is deleted",
                )),
            },
        };
        match outcome {
            Ok((id, created)) => job.succeeded.push((id, created, values)),
            Err(e) => {
                let code = e.body[0]["errorCode"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let message = e.body[0]["message"].as_str().unwrap_or_default().to_owned();
                let fields = e.body[0]["fields"]
                    .as_array()
                    .map(|f| {
                        f.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                let mut row = vec![format!("{code}:{message}:{fields} --")];
                row.extend(values);
                job.failed.push((String::new(), row));
            }
        }
    }
}

/// `PATCH /jobs/ingest/{id}` with `{"state":"UploadComplete"|"Aborted"}`.
pub async fn change_state(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(change): Json<StateChange>,
) -> Response {
    let admitted = match admit(&ctx, &headers, None) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let now = ctx.state.clock.now();
    let result = with_job(&ctx, &admitted.account, Kind::Ingest, &id, |job, store| {
        match (job.state, change.state.as_str()) {
            ("Open", "UploadComplete") => {
                process(job, store, now);
                job.state = "UploadComplete";
            }
            ("Open" | "UploadComplete" | "InProgress", "Aborted") => job.state = "Aborted",
            _ => {
                return Err(invalid_job(&format!(
                    "Cannot change a job from {} to {}",
                    job.state, change.state
                )));
            }
        }
        Ok(job.info())
    });
    match result {
        Ok(Ok(info)) => admitted.finish(Json(info)),
        Ok(Err(e)) | Err(e) => admitted.finish(e),
    }
}

/// `GET /jobs/ingest/{id}/{successfulResults|failedResults|unprocessedrecords}/`.
pub async fn ingest_results(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((id, which)): Path<(String, String)>,
) -> Response {
    let admitted = match admit(&ctx, &headers, None) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let result = with_job(&ctx, &admitted.account, Kind::Ingest, &id, |job, _| {
        let header = |first: &[&str]| {
            first
                .iter()
                .map(|s| s.to_string())
                .chain(job.columns.iter().cloned())
                .collect::<Vec<_>>()
        };
        match which.trim_end_matches('/') {
            "successfulResults" => Ok(write_csv(
                &header(&["sf__Id", "sf__Created"]),
                job.succeeded.iter().map(|(id, created, values)| {
                    [id.clone(), created.to_string()]
                        .into_iter()
                        .chain(values.iter().cloned())
                        .collect()
                }),
            )),
            "failedResults" => Ok(write_csv(
                &header(&["sf__Id", "sf__Error"]),
                job.failed.iter().map(|(id, row)| {
                    std::iter::once(id.clone())
                        .chain(row.iter().cloned())
                        .collect()
                }),
            )),
            "unprocessedrecords" => {
                let processed = !job.succeeded.is_empty() || !job.failed.is_empty();
                let rows: Vec<Vec<String>> = if processed {
                    Vec::new()
                } else {
                    csv::ReaderBuilder::new()
                        .from_reader(job.csv.as_slice())
                        .records()
                        .filter_map(Result::ok)
                        .map(|r| r.iter().map(str::to_owned).collect())
                        .collect()
                };
                let columns: Vec<String> = csv::ReaderBuilder::new()
                    .from_reader(job.csv.as_slice())
                    .headers()
                    .map(|h| h.iter().map(str::to_owned).collect())
                    .unwrap_or_default();
                Ok(write_csv(&columns, rows.into_iter()))
            }
            _ => Err(error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "The requested resource does not exist",
            )),
        }
    });
    match result {
        Ok(Ok(body)) => admitted.finish(csv_response(body, Vec::new())),
        Ok(Err(e)) | Err(e) => admitted.finish(e),
    }
}

/// `DELETE /jobs/ingest/{id}` (and query jobs alike): 204.
pub async fn delete(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let admitted = match admit(&ctx, &headers, None) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let removed = ctx
        .state
        .salesforce
        .lock(&admitted.account)
        .jobs
        .remove(&id);
    match removed {
        Some(_) => admitted.finish(StatusCode::NO_CONTENT),
        None => admitted.finish(error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        )),
    }
}

/// Where the Bulk API 2.0 routes live under the data API.
pub fn path(suffix: &str) -> String {
    format!("{API}/jobs{suffix}")
}

/// The org's Bulk API 2.0 jobs by id.
pub type Jobs = HashMap<String, Job>;
