//! The Salesforce adapter: contacts, leads, opportunities (deals) and accounts (companies)
//! through the REST API's query endpoint. Lists are SOQL ordered by `CreatedDate DESC, Id DESC`
//! with the last position as a WHERE condition, so every page starts exactly after the last
//! record seen; lookups by id are one `IN (...)` query per batch. What a sync reads is in
//! `sync` (modified records by SystemModstamp, initial loads through Bulk API 2.0 query jobs),
//! bulk jobs' polling in `jobs`.

mod adapter;
mod error;
mod fields;
mod jobs;
mod map;
mod soql;
mod sync;
pub(super) mod usage;
mod write;

/// How this provider's error answers read (the registry hands it to the passthrough).
pub use error::classify;

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use crate::{
    providers::fields::FieldCache,
    upstream::{Call, ProviderError, Target, Upstream},
};

/// Every op the adapter's calls use (`Call::op`), for the catalog check: each is counted by a
/// rate class or listed as uncounted.
pub const OPS: &[&str] = &[
    "query",
    "query.more",
    "describe",
    "lead.create",
    "lead.update",
    "sobject.create",
    "sobject.update",
    "composite.sobjects.create",
    "bulk.query.create",
    "bulk.query.poll",
    "bulk.query.results",
    "bulk.query.delete",
    "bulk.ingest.create",
    "bulk.ingest.upload",
    "bulk.ingest.close",
    "bulk.ingest.poll",
    "bulk.ingest.results",
];

use super::{
    Provider,
    crm::{Created, CrmData, CrmObject, CrmWrite, ListPage, ListRequest, Record},
};

/// The REST API version the spec names.
pub const API_VERSION: &str = "v58.0";
/// Ids per `IN (...)` query, well inside SOQL's 100,000-character limit.
const IDS_PER_QUERY: usize = 200;

#[derive(Clone)]
pub struct SalesforceProvider {
    upstream: Upstream,
    /// Each connection's describe, for its custom fields.
    fields: FieldCache,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryPage {
    records: Vec<Value>,
    /// The rest of the result, host-relative, when it did not fit one batch.
    next_records_url: Option<String>,
}

impl SalesforceProvider {
    pub fn new(upstream: Upstream) -> Self {
        Self {
            upstream,
            fields: FieldCache::default(),
        }
    }

    /// Every row of a query, following `nextRecordsUrl` when the result spans batches.
    async fn rows(&self, target: Target, soql: String) -> Result<Vec<Value>, ProviderError> {
        let mut call =
            Call::get("query", format!("/services/data/{API_VERSION}/query")).query("q", soql);
        let mut rows = Vec::new();
        loop {
            let reply = self.upstream.send(target, &call, error::classify).await?;
            let page: QueryPage = reply.json(Provider::Salesforce, call.op)?;
            rows.extend(page.records);
            match page.next_records_url {
                Some(next) => call = Call::get("query.more", next),
                None => return Ok(rows),
            }
        }
    }

    async fn query(
        &self,
        target: Target,
        kind: CrmObject,
        soql: String,
    ) -> Result<Vec<Record<CrmData>>, ProviderError> {
        Ok(self
            .rows(target, soql)
            .await?
            .into_iter()
            .filter_map(|raw| map::record(kind, raw))
            .collect())
    }

    /// The ids of `to` records related to each `from` record, where the relation is not a field
    /// of `from` itself: contact roles between contacts and opportunities, and an account's
    /// contacts and opportunities by their `AccountId`. One query per 200 ids.
    pub async fn associated(
        &self,
        target: Target,
        from: CrmObject,
        to: CrmObject,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<String>>, ProviderError> {
        let Some((select, parent, child)) = soql::relation(from, to) else {
            return Ok(HashMap::new());
        };
        let mut found: HashMap<String, Vec<String>> = HashMap::new();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let soql = soql::related(select, parent, child, chunk);
            for row in self.rows(target, soql).await? {
                let key = row.get(parent).and_then(Value::as_str);
                let value = row.get(child).and_then(Value::as_str);
                if let (Some(key), Some(value)) = (key, value) {
                    found
                        .entry(key.to_owned())
                        .or_default()
                        .push(value.to_owned());
                }
            }
        }
        Ok(found)
    }

    /// One page of a list, newest first.
    pub async fn list(
        &self,
        target: Target,
        request: &ListRequest,
    ) -> Result<ListPage<CrmData>, ProviderError> {
        let owners = match &request.filter.owner {
            Some(email) => {
                let ids: Vec<String> = self
                    .rows(target, soql::users_by_email(email))
                    .await?
                    .iter()
                    .filter_map(|row| row.get("Id")?.as_str().map(str::to_owned))
                    .collect();
                if ids.is_empty() {
                    return Ok(ListPage {
                        records: Vec::new(),
                        more: false,
                    });
                }
                ids
            }
            None => Vec::new(),
        };
        let custom = self.custom_fields(target, request.object).await?;
        let soql = soql::list(
            request.object,
            &request.filter,
            &owners,
            request.after.as_ref(),
            request.limit + 1,
            &custom,
        );
        let mut records = self.query(target, request.object, soql).await?;
        let more = records.len() > request.limit;
        records.truncate(request.limit);
        Ok(ListPage { records, more })
    }

    /// Records by id.
    pub async fn get_many(
        &self,
        target: Target,
        object: CrmObject,
        ids: &[String],
    ) -> Result<Vec<Record<CrmData>>, ProviderError> {
        let custom = self.custom_fields(target, object).await?;
        let mut records = Vec::new();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            records.extend(
                self.query(target, object, soql::by_ids(object, chunk, &custom))
                    .await?,
            );
        }
        Ok(records)
    }

    async fn fetch(
        &self,
        target: Target,
        object: CrmObject,
        id: &str,
    ) -> Result<Record<CrmData>, ProviderError> {
        self.get_many(target, object, &[id.to_owned()])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| {
                ProviderError::new(
                    crate::upstream::ErrorKind::NotFound,
                    Provider::Salesforce,
                    "sobject.read",
                    format!("{id} is gone"),
                )
            })
    }

    /// Creates a record (for a deal, with a contact role per contact); returns it as stored.
    pub async fn create(
        &self,
        target: Target,
        write: &CrmWrite,
    ) -> Result<Record<CrmData>, ProviderError> {
        let object = write.object();
        let id = self
            .insert(target, soql::sobject(object), write::fields(write))
            .await?;
        if let CrmWrite::Deal(deal) = write {
            for contact in &deal.contact_ids {
                let role = serde_json::json!({ "OpportunityId": id, "ContactId": contact });
                let Value::Object(role) = role else { continue };
                self.insert(target, "OpportunityContactRole", role).await?;
            }
        }
        self.fetch(target, object, &id).await
    }

    /// Changes a record; returns it as stored.
    pub async fn update(
        &self,
        target: Target,
        id: &str,
        write: &CrmWrite,
    ) -> Result<Record<CrmData>, ProviderError> {
        self.patch(target, write.object(), id, write::fields(write))
            .await?;
        self.fetch(target, write.object(), id).await
    }

    /// Creates records of one type: through sObject Collections up to 200, else a Bulk API 2.0
    /// job. Each record succeeds or fails on its own.
    pub async fn create_many(
        &self,
        target: Target,
        writes: &[CrmWrite],
    ) -> Result<Vec<Created>, ProviderError> {
        let Some(object) = writes.first().map(CrmWrite::object) else {
            return Ok(Vec::new());
        };
        let name = soql::sobject(object);
        let records: Vec<_> = writes.iter().map(write::fields).collect();
        let outcomes = if records.len() > write::COLLECTION_LIMIT {
            self.insert_bulk(target, name, &records).await?
        } else {
            self.insert_collection(target, name, records).await?
        };
        let ids: Vec<String> = outcomes.iter().filter_map(|o| o.clone().ok()).collect();
        let mut created: std::collections::HashMap<String, Record<CrmData>> = self
            .get_many(target, object, &ids)
            .await?
            .into_iter()
            .map(|r| (r.remote_id.clone(), r))
            .collect();
        Ok(outcomes
            .into_iter()
            .map(|o| {
                let id = o?;
                created
                    .remove(&id)
                    .ok_or_else(|| format!("{id} was created but cannot be read"))
            })
            .collect())
    }
}
