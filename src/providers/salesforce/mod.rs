//! The Salesforce adapter: contacts, leads, opportunities (deals) and accounts (companies)
//! through the REST API's query endpoint. Lists are SOQL ordered by `CreatedDate DESC, Id DESC`
//! with the last position as a WHERE condition, so every page starts exactly after the last
//! record seen; lookups by id are one `IN (...)` query per batch.

mod error;
mod map;
mod soql;

use serde::Deserialize;
use serde_json::Value;

use crate::upstream::{Call, ProviderError, Target, Upstream};

use super::{
    Provider,
    crm::{CrmData, CrmObject, ListPage, ListRequest, Record},
};

/// The REST API version the spec names.
pub const API_VERSION: &str = "v58.0";
/// Ids per `IN (...)` query, well inside SOQL's 100,000-character limit.
const IDS_PER_QUERY: usize = 200;

#[derive(Clone)]
pub struct SalesforceProvider {
    upstream: Upstream,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryPage {
    records: Vec<Value>,
}

impl SalesforceProvider {
    pub fn new(upstream: Upstream) -> Self {
        Self { upstream }
    }

    async fn query(
        &self,
        target: Target,
        kind: CrmObject,
        soql: String,
    ) -> Result<Vec<Record<CrmData>>, ProviderError> {
        let call =
            Call::get("query", format!("/services/data/{API_VERSION}/query")).query("q", soql);
        let reply = self.upstream.send(target, &call, error::classify).await?;
        let page: QueryPage = reply.json(Provider::Salesforce, call.op)?;
        Ok(page
            .records
            .into_iter()
            .filter_map(|raw| map::record(kind, raw))
            .collect())
    }

    /// One page of a list, newest first.
    pub async fn list(
        &self,
        target: Target,
        request: &ListRequest,
    ) -> Result<ListPage, ProviderError> {
        let soql = soql::list(
            request.object,
            &request.filter,
            request.after.as_ref(),
            request.limit + 1,
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
        let mut records = Vec::new();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            records.extend(
                self.query(target, object, soql::by_ids(object, chunk))
                    .await?,
            );
        }
        Ok(records)
    }
}
