//! The HubSpot adapter: contacts, companies and deals through CRM v3. Lists are searches sorted
//! by `createdate` descending with the position as a filter, so each page starts exactly after
//! the last record seen; HubSpot sorts by one property only, so records created in the same
//! millisecond are ordered here by id, and a page never ends inside such a group unless the
//! group alone fills it. What a sync reads (modified records, ids) is in `sync`.

mod adapter;
mod error;
mod fields;
mod map;
mod model;
mod sync;
mod write;

/// How this provider's error answers read (the registry hands it to the passthrough).
pub use error::classify;

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::{
    providers::fields::FieldCache,
    upstream::{Call, ProviderError, Target, Upstream},
};

/// Every op the adapter's calls use (`Call::op`), for the catalog check: each is counted by a
/// rate class or listed as uncounted.
pub const OPS: &[&str] = &[
    "search",
    "list",
    "owners",
    "properties",
    "batch.read",
    "associations.batch.read",
    "associations.default",
    "create",
    "update",
    "batch.create",
];

use super::{
    Provider,
    crm::{CrmData, CrmFilter, CrmObject, DealStatus, ListPage, ListRequest, Position, Record},
};

/// Most results a HubSpot search returns per call.
const SEARCH_LIMIT: usize = 200;

#[derive(Clone)]
pub struct HubspotProvider {
    upstream: Upstream,
    /// Each connection's properties, for its custom ones.
    fields: FieldCache,
}

fn filter(property: &str, operator: &str, value: impl Into<Value>) -> Value {
    json!({ "propertyName": property, "operator": operator, "value": value.into() })
}

/// The filters of `filter` that apply to `object`, as HubSpot search filters (ANDed); `owners`
/// are the owner ids of the user `filter.owner` names.
fn pushed_down(object: CrmObject, filter: &CrmFilter, owners: &[String]) -> Vec<Value> {
    let mut filters = Vec::new();
    if filter.owner.is_some() {
        filters.push(
            json!({ "propertyName": "hubspot_owner_id", "operator": "IN", "values": owners }),
        );
    }
    let modified = match object {
        CrmObject::Contact => "lastmodifieddate",
        _ => "hs_lastmodifieddate",
    };
    if let Some(after) = filter.updated_after {
        filters.push(filter_gt(modified, after.timestamp_millis()));
    }
    for (name, value) in &filter.custom {
        let value = match value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        filters.push(self::filter(name, "EQ", value));
    }
    match object {
        CrmObject::Contact => {
            if let Some(email) = &filter.email {
                filters.push(self::filter("email", "EQ", email.to_lowercase()));
            }
        }
        CrmObject::Deal => {
            if let Some(stage) = &filter.stage {
                filters.push(self::filter("dealstage", "EQ", stage.as_str()));
            }
            match filter.deal_status {
                Some(DealStatus::Open) => filters.push(self::filter("hs_is_closed", "EQ", "false")),
                Some(DealStatus::Won) => {
                    filters.push(self::filter("hs_is_closed_won", "EQ", "true"));
                }
                Some(DealStatus::Lost) => {
                    filters.push(self::filter("hs_is_closed", "EQ", "true"));
                    filters.push(self::filter("hs_is_closed_won", "EQ", "false"));
                }
                None => {}
            }
        }
        CrmObject::Company => {
            if let Some(domain) = &filter.domain {
                filters.push(self::filter("domain", "EQ", domain.to_lowercase()));
            }
        }
        CrmObject::Lead => {}
    }
    filters
}

fn filter_gt(property: &str, millis: i64) -> Value {
    filter(property, "GT", millis.to_string())
}

/// Name filters: any of the name properties containing the text (each one a filter group).
fn name_alternatives(object: CrmObject, filter: &CrmFilter) -> Vec<Option<Value>> {
    let Some(text) = filter.name_contains.as_deref() else {
        return vec![None];
    };
    let wildcard = format!("*{}*", text.trim().to_lowercase());
    let properties: &[&str] = match object {
        CrmObject::Contact => &["firstname", "lastname"],
        CrmObject::Company => &["name"],
        CrmObject::Deal => &["dealname"],
        CrmObject::Lead => &[],
    };
    properties
        .iter()
        .map(|p| Some(self::filter(p, "CONTAINS_TOKEN", wildcard.clone())))
        .collect()
}

/// Where a page starts: after the position (older, or as old with a smaller id).
fn after_position(after: Option<&Position>) -> Vec<Vec<Value>> {
    match after {
        None => vec![vec![]],
        Some(Position { at, remote_id }) => {
            let at = at.timestamp_millis().to_string();
            vec![
                vec![filter("createdate", "LT", at.clone())],
                vec![
                    filter("createdate", "EQ", at),
                    filter("hs_object_id", "LT", remote_id.as_str()),
                ],
            ]
        }
    }
}

/// Only the records created at `millis`, after the position if it lies there.
fn within_millisecond(millis: i64, after: Option<&Position>) -> Vec<Vec<Value>> {
    let mut filters = vec![filter("createdate", "EQ", millis.to_string())];
    if let Some(position) = after.filter(|p| p.at.timestamp_millis() == millis) {
        filters.push(filter("hs_object_id", "LT", position.remote_id.as_str()));
    }
    vec![filters]
}

/// A search body: (keyset and filters) in OR-ed groups, sorted descending by `sort`, asking for
/// `properties`.
fn search_body(
    request: &ListRequest,
    properties: &[String],
    owners: &[String],
    keyset: &[Vec<Value>],
    sort: &str,
    fetch: usize,
) -> Value {
    let base = pushed_down(request.object, &request.filter, owners);
    let mut groups = Vec::new();
    for name in name_alternatives(request.object, &request.filter) {
        for position in keyset {
            let mut filters = base.clone();
            filters.extend(position.iter().cloned());
            filters.extend(name.iter().cloned());
            groups.push(json!({ "filters": filters }));
        }
    }
    json!({
        "filterGroups": groups,
        "sorts": [{ "propertyName": sort, "direction": "DESCENDING" }],
        "properties": properties,
        "limit": fetch,
    })
}

fn numeric(id: &str) -> u128 {
    id.parse().unwrap_or(0)
}

impl HubspotProvider {
    pub fn new(upstream: Upstream) -> Self {
        Self {
            upstream,
            fields: FieldCache::default(),
        }
    }

    /// One page of a list, newest first.
    pub async fn list(
        &self,
        target: Target,
        request: &ListRequest,
    ) -> Result<ListPage<CrmData>, ProviderError> {
        let Some(object) = map::object_type(request.object) else {
            return Ok(ListPage {
                records: Vec::new(),
                more: false,
            });
        };
        let fetch = (request.limit + 1).min(SEARCH_LIMIT);
        let after = request.after.as_ref();
        let owners = match &request.filter.owner {
            Some(email) => {
                let owners = self.owners(target, email).await?;
                if owners.is_empty() {
                    return Ok(ListPage {
                        records: Vec::new(),
                        more: false,
                    });
                }
                owners
            }
            None => Vec::new(),
        };
        let properties = self.read_properties(target, request.object).await?;
        let body = search_body(
            request,
            &properties,
            &owners,
            &after_position(after),
            "createdate",
            fetch,
        );
        let mut records = self.search(target, request.object, object, body).await?;
        let full = records.len() >= fetch;
        if full && let Some(last) = records.last().map(|r| r.created_at) {
            if records.iter().all(|r| r.created_at == last) {
                // One millisecond fills the page: page through it by id instead.
                let keyset = within_millisecond(last.timestamp_millis(), after);
                let body = search_body(
                    request,
                    &properties,
                    &owners,
                    &keyset,
                    "hs_object_id",
                    fetch,
                );
                records = self.search(target, request.object, object, body).await?;
            } else {
                // HubSpot orders records of one millisecond arbitrarily: a group cut by the
                // page's end is left whole for the next page.
                records.retain(|r| r.created_at != last);
            }
        }
        records.truncate(request.limit);
        Ok(ListPage {
            more: full,
            records,
        })
    }

    /// The owner ids of the portal user with this email (Owners API).
    async fn owners(&self, target: Target, email: &str) -> Result<Vec<String>, ProviderError> {
        let call = Call::get("owners", "/crm/v3/owners").query("email", email);
        let reply = self.upstream.send(target, &call, error::classify).await?;
        let owners: model::Owners = reply.json(Provider::Hubspot, call.op)?;
        Ok(owners.results.into_iter().map(|o| o.id).collect())
    }

    /// A search's records, newest first (the lists' order); `sync` reads them oldest first.
    async fn search(
        &self,
        target: Target,
        kind: CrmObject,
        object: &str,
        body: Value,
    ) -> Result<Vec<Record<CrmData>>, ProviderError> {
        let mut records = self.search_records(target, kind, object, body).await?;
        records.sort_by_key(|r| std::cmp::Reverse((r.created_at, numeric(&r.remote_id))));
        Ok(records)
    }

    /// A search's records, in no particular order.
    async fn search_records(
        &self,
        target: Target,
        kind: CrmObject,
        object: &str,
        body: Value,
    ) -> Result<Vec<Record<CrmData>>, ProviderError> {
        let call = Call::post_read("search", format!("/crm/v3/objects/{object}/search"), body);
        let reply = self.upstream.send(target, &call, error::classify).await?;
        let results: model::Results = reply.json(Provider::Hubspot, call.op)?;
        Ok(results
            .results
            .into_iter()
            .filter_map(|raw| map::record(kind, raw))
            .collect())
    }

    /// The ids of `to` records associated with each `from` record, one v4 batch read per 100 ids.
    pub async fn associated(
        &self,
        target: Target,
        from: CrmObject,
        to: CrmObject,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<String>>, ProviderError> {
        let (Some(from_type), Some(to_type)) = (map::object_type(from), map::object_type(to))
        else {
            return Ok(HashMap::new());
        };
        let mut found = HashMap::new();
        for chunk in ids.chunks(100) {
            let call = Call::post_read(
                "associations.batch.read",
                format!("/crm/v4/associations/{from_type}/{to_type}/batch/read"),
                json!({ "inputs": chunk.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>() }),
            );
            let reply = self.upstream.send(target, &call, error::classify).await?;
            let answer: model::Associations = reply.json(Provider::Hubspot, call.op)?;
            for result in answer.results {
                found.insert(
                    result.from.id,
                    result
                        .to
                        .into_iter()
                        .map(|t| t.to_object_id.to_string())
                        .collect(),
                );
            }
        }
        Ok(found)
    }

    /// Records by id, in one batch read per 100 ids.
    pub async fn get_many(
        &self,
        target: Target,
        object: CrmObject,
        ids: &[String],
    ) -> Result<Vec<Record<CrmData>>, ProviderError> {
        let Some(object_type) = map::object_type(object) else {
            return Ok(Vec::new());
        };
        let properties = self.read_properties(target, object).await?;
        let mut records = Vec::new();
        for chunk in ids.chunks(100) {
            let call = Call::post_read(
                "batch.read",
                format!("/crm/v3/objects/{object_type}/batch/read"),
                json!({
                    "properties": properties,
                    "inputs": chunk.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>(),
                }),
            );
            let reply = self.upstream.send(target, &call, error::classify).await?;
            let results: model::Results = reply.json(Provider::Hubspot, call.op)?;
            records.extend(
                results
                    .results
                    .into_iter()
                    .filter_map(|raw| map::record(object, raw)),
            );
        }
        Ok(records)
    }
}
