//! What a sync reads from Salesforce. Modified records come by REST query in the order of
//! (SystemModstamp, Id) ascending, each page strictly after the last (SystemModstamp, Id) seen,
//! so records sharing a SystemModstamp at a page boundary are neither skipped nor repeated.
//! SystemModstamp, not LastModifiedDate, because it also moves on system changes (and is indexed).
//!
//! An initial load (no `since`) whose first page comes back full goes through a Bulk API 2.0
//! query job instead, as the spec asks for loads over 200 records: the job is created, polled
//! until complete, and its CSV results read a page at a time by `Sforce-Locator`; each row is
//! turned back into the record the REST API would have rendered (typed values, `attributes`),
//! so a record hashes the same whichever way it came. The full first page is the cheapest
//! probe there is (SOQL's `COUNT()` costs a call too, and the sandbox, like a real org's
//! reporting of it, would still need the page after): one REST call decides, and loads of up
//! to 200 records never wait for a job.
//!
//! The reconciliation's listing reads ids only, 2,000 a query, in Id order.

use serde_json::{Map, Value, json};

use crate::{
    providers::{
        Provider,
        crm::{
            CrmData, CrmObject, Export, IdPage, ModifiedPage, ModifiedRequest, Position, Record,
        },
    },
    upstream::{Call, ErrorKind, ProviderError, Target},
};

use super::{
    API_VERSION, SalesforceProvider, error,
    jobs::{JobInfo, JobKind, job_path},
    map, soql,
};

/// Rows per page of a bulk job's results.
const EXPORT_PAGE: usize = 2_000;
/// Ids per page of the reconciliation's listing (a REST query's batch).
const ID_PAGE: usize = 2_000;

/// Fields the REST API renders as booleans and as numbers; CSV has only text.
const BOOLEANS: &[&str] = &["IsConverted", "IsClosed", "IsWon", "IsDeleted"];
const NUMBERS: &[&str] = &["Amount"];
const DATETIMES: &[&str] = &["CreatedDate", "LastModifiedDate", "SystemModstamp"];

/// Where a record stands in the sync's order: its SystemModstamp (its LastModifiedDate if the
/// row lacks one), then its id.
fn position(record: &Record<CrmData>) -> Position {
    let at = record
        .raw
        .get("SystemModstamp")
        .and_then(Value::as_str)
        .and_then(parse_time)
        .unwrap_or(record.updated_at);
    Position {
        at,
        remote_id: record.remote_id.clone(),
    }
}

fn parse_time(value: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(value)
        .or_else(|_| chrono::DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// One CSV cell as the REST API renders the field: empty is null, booleans and numbers typed,
/// datetimes in Salesforce's `+0000` notation.
fn typed(field: &str, cell: &str) -> Value {
    if cell.is_empty() {
        return Value::Null;
    }
    if BOOLEANS.contains(&field) {
        return Value::Bool(cell.eq_ignore_ascii_case("true"));
    }
    if NUMBERS.contains(&field) {
        if let Ok(n) = cell.parse::<i64>() {
            return json!(n);
        }
        if let Ok(n) = cell.parse::<f64>() {
            return json!(n);
        }
    }
    if DATETIMES.contains(&field)
        && let Some(t) = parse_time(cell)
    {
        return json!(t.format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string());
    }
    json!(cell)
}

/// A CSV row of `object` as the REST API's record.
fn row_to_raw(object: CrmObject, headers: &csv::StringRecord, row: &csv::StringRecord) -> Value {
    let mut raw = Map::new();
    for (field, cell) in headers.iter().zip(row.iter()) {
        raw.insert(field.to_owned(), typed(field, cell));
    }
    let id = raw.get("Id").and_then(Value::as_str).unwrap_or_default();
    let name = soql::sobject(object);
    let url = format!("/services/data/{API_VERSION}/sobjects/{name}/{id}");
    raw.insert("attributes".into(), json!({ "type": name, "url": url }));
    Value::Object(raw)
}

impl SalesforceProvider {
    /// One page of the records of `request.object` modified since `request.since`.
    pub async fn modified(
        &self,
        target: Target,
        request: &ModifiedRequest,
    ) -> Result<ModifiedPage, ProviderError> {
        let object = request.object;
        if let Some(export) = &request.export {
            return self.export_page(target, object, export).await;
        }
        let custom = self.custom_fields(target, object).await?;
        let soql = soql::modified(
            object,
            request.since,
            request.after.as_ref(),
            request.limit + 1,
            &custom,
        );
        let mut records = self.query(target, object, soql).await?;
        let more = records.len() > request.limit;
        if more && request.since.is_none() && request.after.is_none() {
            let job = self
                .open_export(target, soql::export(object, None, None, &custom))
                .await?;
            return self
                .export_page(target, object, &Export { job, locator: None })
                .await;
        }
        records.truncate(request.limit);
        Ok(ModifiedPage {
            last: records.last().map(position),
            records,
            export: None,
            more,
        })
    }

    /// Creates a Bulk API 2.0 query job and waits until its results are ready; returns its id.
    async fn open_export(&self, target: Target, soql: String) -> Result<String, ProviderError> {
        let mut open = Call::write(
            "bulk.query.create",
            http::Method::POST,
            format!("/services/data/{API_VERSION}/jobs/query"),
            json!({ "operation": "query", "query": soql, "contentType": "CSV", "lineEnding": "LF", "columnDelimiter": "COMMA" }),
        );
        // A query job only reads: a second one after a lost answer does no harm.
        open.idempotent = true;
        let job: JobInfo = self
            .upstream
            .send(target, &open, error::classify)
            .await?
            .json(Provider::Salesforce, open.op)?;
        self.finished(target, JobKind::Query, &job.id).await?;
        Ok(job.id)
    }

    /// One page of a finished query job's results, from `export`'s locator; the job is deleted
    /// once its last page is read.
    async fn export_page(
        &self,
        target: Target,
        object: CrmObject,
        export: &Export,
    ) -> Result<ModifiedPage, ProviderError> {
        let mut call = Call::get(
            "bulk.query.results",
            job_path(JobKind::Query, &export.job, "/results"),
        )
        .query("maxRecords", EXPORT_PAGE.to_string());
        if let Some(locator) = &export.locator {
            call = call.query("locator", locator.clone());
        }
        let reply = self.upstream.send(target, &call, error::classify).await?;
        let unreadable = |e: csv::Error| {
            ProviderError::new(
                ErrorKind::Upstream,
                Provider::Salesforce,
                call.op,
                format!("unreadable results: {e}"),
            )
        };
        let mut reader = csv::Reader::from_reader(reply.body.as_ref());
        let headers = reader.headers().map_err(unreadable)?.clone();
        let mut records = Vec::new();
        for row in reader.records() {
            let row = row.map_err(unreadable)?;
            records.extend(map::record(object, row_to_raw(object, &headers, &row)));
        }
        let locator = reply
            .headers
            .get("sforce-locator")
            .and_then(|v| v.to_str().ok())
            .filter(|l| !l.is_empty() && *l != "null")
            .map(str::to_owned);
        if locator.is_none() {
            let mut delete = Call::get(
                "bulk.query.delete",
                job_path(JobKind::Query, &export.job, ""),
            );
            delete.method = http::Method::DELETE;
            if let Err(cause) = self.upstream.send(target, &delete, error::classify).await {
                tracing::debug!(%cause, "a finished query job was not deleted");
            }
        }
        let last = records
            .iter()
            .map(position)
            .max_by(|a, b| Position::compare(crate::providers::record::Order::OldestFirst, a, b));
        Ok(ModifiedPage {
            records,
            last,
            more: locator.is_some(),
            export: locator.map(|locator| Export {
                job: export.job.clone(),
                locator: Some(locator),
            }),
        })
    }

    /// One page of the ids of every record of `object`, after the id `after`.
    pub async fn ids(
        &self,
        target: Target,
        object: CrmObject,
        after: Option<&str>,
    ) -> Result<IdPage, ProviderError> {
        let ids: Vec<String> = self
            .rows(target, soql::ids(object, after, ID_PAGE))
            .await?
            .iter()
            .filter_map(|row| row.get("Id")?.as_str().map(str::to_owned))
            .collect();
        let next = (ids.len() == ID_PAGE)
            .then(|| ids.last().cloned())
            .flatten();
        Ok(IdPage { ids, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_row_becomes_the_rest_record() {
        let headers = csv::StringRecord::from(vec![
            "Id",
            "Amount",
            "IsWon",
            "CloseDate",
            "SystemModstamp",
            "AccountId",
        ]);
        let row = csv::StringRecord::from(vec![
            "0065e0000000001AAA",
            "2000",
            "false",
            "2031-03-01",
            "2031-01-01T00:00:00.000Z",
            "",
        ]);
        let raw = row_to_raw(CrmObject::Deal, &headers, &row);
        assert_eq!(
            raw,
            json!({
                "attributes": { "type": "Opportunity", "url": "/services/data/v58.0/sobjects/Opportunity/0065e0000000001AAA" },
                "Id": "0065e0000000001AAA", "Amount": 2000, "IsWon": false, "CloseDate": "2031-03-01",
                "SystemModstamp": "2031-01-01T00:00:00.000+0000", "AccountId": null,
            })
        );
    }
}
