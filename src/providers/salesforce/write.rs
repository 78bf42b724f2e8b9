//! Writes to Salesforce: one record through the sObject endpoints (the spec's POST and PATCH),
//! up to 200 through sObject Collections (`allOrNone: false`, a result per record), more through
//! a Bulk API 2.0 ingest job (the spec: bulk for over 200 records).

use std::collections::{HashMap, VecDeque};

use http::Method;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::{
    providers::{
        Provider,
        crm::{CrmObject, CrmWrite},
    },
    upstream::{Body, Call, ErrorKind, ProviderError, Target},
};

use super::{
    API_VERSION, SalesforceProvider, error,
    jobs::{JobInfo, JobKind},
    soql::sobject,
};

/// Records per sObject Collections call.
pub const COLLECTION_LIMIT: usize = 200;

/// The sObject fields of a write: the mapped ones, then its custom fields as given.
pub fn fields(write: &CrmWrite) -> Map<String, Value> {
    let mut out = Map::new();
    let mut put = |name: &str, value: Option<Value>| {
        if let Some(value) = value {
            out.insert(name.to_owned(), value);
        }
    };
    let text = |v: &Option<String>| v.clone().map(Value::String);
    match write {
        CrmWrite::Contact(c) => {
            put("FirstName", text(&c.first_name));
            put("LastName", text(&c.last_name));
            put("Email", text(&c.email));
            put("Phone", text(&c.phone));
            put("Title", text(&c.title));
            put("AccountId", text(&c.company_id));
        }
        CrmWrite::Lead(l) => {
            put("FirstName", text(&l.first_name));
            put("LastName", text(&l.last_name));
            put("Email", text(&l.email));
            put("Company", text(&l.company));
            put("Title", text(&l.title));
            put("Status", text(&l.status));
            put("LeadSource", text(&l.source));
        }
        CrmWrite::Deal(d) => {
            put("Name", text(&d.name));
            put("Amount", d.amount.as_ref().map(|(a, _)| json!(a)));
            put("StageName", text(&d.stage));
            put(
                "CloseDate",
                d.close_date
                    .map(|d| json!(d.format("%Y-%m-%d").to_string())),
            );
            put("AccountId", text(&d.company_id));
        }
    }
    for (name, value) in write.custom() {
        out.insert(name.clone(), value.clone());
    }
    out
}

/// One record's answer from a create (`{"id","success","errors"}`).
#[derive(Debug, Deserialize)]
pub struct SaveResult {
    pub id: Option<String>,
    #[serde(default)]
    pub success: bool,
    #[serde(default)]
    pub errors: Vec<SaveError>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SaveError {
    #[serde(default)]
    pub status_code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub fields: Vec<String>,
}

impl SaveResult {
    /// The new id, or the provider's reasons.
    pub fn outcome(self) -> Result<String, String> {
        match self.id {
            Some(id) if self.success => Ok(id),
            _ => Err(self
                .errors
                .iter()
                .map(|e| {
                    if e.fields.is_empty() {
                        format!("{}: {}", e.status_code, e.message)
                    } else {
                        format!("{}: {} ({})", e.status_code, e.message, e.fields.join(", "))
                    }
                })
                .collect::<Vec<_>>()
                .join("; ")),
        }
    }
}

fn data(path: &str) -> String {
    format!("/services/data/{API_VERSION}{path}")
}

impl SalesforceProvider {
    /// Creates one record; returns its id.
    pub(super) async fn insert(
        &self,
        target: Target,
        object: &str,
        fields: Map<String, Value>,
    ) -> Result<String, ProviderError> {
        // Lead writes have their own daily quota (the catalog's `lead_post`).
        let op = if object == "Lead" {
            "lead.create"
        } else {
            "sobject.create"
        };
        let call = Call::write(
            op,
            Method::POST,
            data(&format!("/sobjects/{object}")),
            Value::Object(fields),
        );
        let reply = self.upstream.send(target, &call, error::classify).await?;
        let saved: SaveResult = reply.json(Provider::Salesforce, call.op)?;
        saved
            .outcome()
            .map_err(|m| ProviderError::new(ErrorKind::Invalid, Provider::Salesforce, call.op, m))
    }

    /// Changes one record.
    pub(super) async fn patch(
        &self,
        target: Target,
        object: CrmObject,
        id: &str,
        fields: Map<String, Value>,
    ) -> Result<(), ProviderError> {
        let op = if object == CrmObject::Lead {
            "lead.update"
        } else {
            "sobject.update"
        };
        let mut call = Call::write(
            op,
            Method::PATCH,
            data(&format!("/sobjects/{}/{id}", sobject(object))),
            Value::Object(fields),
        );
        // Setting the same fields twice leaves the same record.
        call.idempotent = true;
        self.upstream.send(target, &call, error::classify).await?;
        Ok(())
    }

    /// Creates up to 200 records of one type in one call, each succeeding or failing alone.
    pub(super) async fn insert_collection(
        &self,
        target: Target,
        object: &str,
        records: Vec<Map<String, Value>>,
    ) -> Result<Vec<Result<String, String>>, ProviderError> {
        let records: Vec<Value> = records
            .into_iter()
            .map(|mut fields| {
                fields.insert("attributes".into(), json!({ "type": object }));
                Value::Object(fields)
            })
            .collect();
        let call = Call::write(
            "composite.sobjects.create",
            Method::POST,
            data("/composite/sobjects"),
            json!({ "allOrNone": false, "records": records }),
        );
        let reply = self.upstream.send(target, &call, error::classify).await?;
        let saved: Vec<SaveResult> = reply.json(Provider::Salesforce, call.op)?;
        Ok(saved.into_iter().map(SaveResult::outcome).collect())
    }

    /// Creates records through a Bulk API 2.0 ingest job: open it, upload the CSV, close it,
    /// poll until it is done, then read which rows succeeded (with their ids) and which failed.
    pub(super) async fn insert_bulk(
        &self,
        target: Target,
        object: &str,
        records: &[Map<String, Value>],
    ) -> Result<Vec<Result<String, String>>, ProviderError> {
        let failed = |op: &'static str, message: String| {
            ProviderError::new(ErrorKind::Upstream, Provider::Salesforce, op, message)
        };
        let mut columns: Vec<String> = records.iter().flat_map(|r| r.keys().cloned()).collect();
        columns.sort();
        columns.dedup();
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        let cell = |r: &Map<String, Value>, c: &str| match r.get(c) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        let write_err = |e: csv::Error| failed("bulk.upload", e.to_string());
        writer.write_record(&columns).map_err(write_err)?;
        for record in records {
            writer
                .write_record(columns.iter().map(|c| cell(record, c)))
                .map_err(write_err)?;
        }
        let body = writer
            .into_inner()
            .map_err(|e| failed("bulk.upload", e.to_string()))?;

        let open = Call::write(
            "bulk.ingest.create",
            Method::POST,
            data("/jobs/ingest"),
            json!({ "object": object, "operation": "insert", "contentType": "CSV", "lineEnding": "LF" }),
        );
        let job: JobInfo = self
            .upstream
            .send(target, &open, error::classify)
            .await?
            .json(Provider::Salesforce, open.op)?;
        // Uploading the same batch to an open job again replaces it: harmless to repeat.
        let upload = Call {
            method: Method::PUT,
            body: Some(Body::Csv(String::from_utf8_lossy(&body).into_owned())),
            ..Call::get(
                "bulk.ingest.upload",
                data(&format!("/jobs/ingest/{}/batches", job.id)),
            )
        };
        self.upstream.send(target, &upload, error::classify).await?;
        let mut close = Call::write(
            "bulk.ingest.close",
            Method::PATCH,
            data(&format!("/jobs/ingest/{}", job.id)),
            json!({ "state": "UploadComplete" }),
        );
        close.idempotent = true;
        self.upstream.send(target, &close, error::classify).await?;

        self.finished(target, JobKind::Ingest, &job.id).await?;
        // Rows come back in no promised order: each goes to the first unanswered input with the
        // same values, found through an index of the inputs by their cells.
        let mut waiting: HashMap<Vec<String>, VecDeque<usize>> = HashMap::new();
        for (i, record) in records.iter().enumerate() {
            let cells = columns.iter().map(|c| cell(record, c)).collect();
            waiting.entry(cells).or_default().push_back(i);
        }
        let mut outcomes: Vec<Option<Result<String, String>>> = vec![None; records.len()];
        for (which, ok) in [("successfulResults", true), ("failedResults", false)] {
            let call = Call::get(
                "bulk.ingest.results",
                data(&format!("/jobs/ingest/{}/{which}", job.id)),
            );
            let reply = self.upstream.send(target, &call, error::classify).await?;
            let mut reader = csv::Reader::from_reader(reply.body.as_ref());
            let headers = reader
                .headers()
                .map_err(|e| failed(call.op, e.to_string()))?
                .clone();
            let at = |name: &str| headers.iter().position(|h| h == name);
            let positions: Vec<Option<usize>> = columns.iter().map(|c| at(c)).collect();
            let (id_at, error_at) = (at("sf__Id"), at("sf__Error"));
            for row in reader.records() {
                let row = row.map_err(|e| failed(call.op, e.to_string()))?;
                let get = |i: Option<usize>| i.and_then(|i| row.get(i));
                let cells: Vec<String> = positions
                    .iter()
                    .map(|p| get(*p).unwrap_or_default().to_owned())
                    .collect();
                if let Some(i) = waiting.get_mut(&cells).and_then(VecDeque::pop_front) {
                    outcomes[i] = Some(if ok {
                        Ok(get(id_at).unwrap_or_default().to_owned())
                    } else {
                        Err(get(error_at).unwrap_or("failed").to_owned())
                    });
                }
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Err("not processed".into())))
            .collect())
    }
}
