//! What a sync reads from HubSpot. Modified records come from the search API sorted by the
//! modification date ascending (`lastmodifieddate` for contacts, `hs_lastmodifieddate` for the
//! others), and every page is a new search strictly after the last (modification, id) seen —
//! filter groups `modified > t` OR (`modified = t` AND `hs_object_id > id`) — instead of the
//! search's `after` offset. HubSpot refuses offsets at or past 10,000 results (400), so a pass
//! that paged by offset would have to restart from its position near the cap anyway; restarting
//! at every page is the same number of calls, never comes near the cap, and leaves nothing to
//! remember but the position.
//!
//! HubSpot sorts by one property only and orders records of one millisecond as it likes, so the
//! page's order is made here ((modified, id), ids numerically) and a full page never ends inside
//! a millisecond: the trailing group is left for the next page, or, when one millisecond fills
//! the page, that millisecond is paged through by id.
//!
//! The reconciliation's listing reads ids only, through the list endpoint (100 a page, no
//! properties beyond the id; cheaper in HubSpot's rate classes than search).

use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    providers::{
        Provider,
        crm::{CrmData, CrmObject, IdPage, ModifiedPage, ModifiedRequest, Position, Record},
    },
    upstream::{Call, ProviderError, Target},
};

use super::{HubspotProvider, SEARCH_LIMIT, error, filter, map, numeric};

/// Records per page of the list endpoint, its maximum.
const LIST_LIMIT: usize = 100;

/// The property holding an object's last modification.
fn modified_property(object: CrmObject) -> &'static str {
    match object {
        CrmObject::Contact => "lastmodifieddate",
        _ => "hs_lastmodifieddate",
    }
}

/// Where a page starts: at or after `since`, or strictly after `after`.
fn keyset(property: &str, request: &ModifiedRequest) -> Vec<Vec<Value>> {
    match (&request.after, request.since) {
        (Some(Position { at, remote_id }), _) => {
            let at = at.timestamp_millis().to_string();
            vec![
                vec![filter(property, "GT", at.clone())],
                vec![
                    filter(property, "EQ", at),
                    filter("hs_object_id", "GT", remote_id.as_str()),
                ],
            ]
        }
        (None, Some(since)) => vec![vec![filter(
            property,
            "GTE",
            since.timestamp_millis().to_string(),
        )]],
        (None, None) => Vec::new(),
    }
}

fn body(properties: &[String], groups: Vec<Vec<Value>>, sort: &str, limit: usize) -> Value {
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|filters| json!({ "filters": filters }))
        .collect();
    json!({
        "filterGroups": groups,
        "sorts": [{ "propertyName": sort, "direction": "ASCENDING" }],
        "properties": properties,
        "limit": limit,
    })
}

fn position(record: &Record<CrmData>) -> Position {
    Position {
        at: record.updated_at,
        remote_id: record.remote_id.clone(),
    }
}

#[derive(Debug, Deserialize)]
struct IdList {
    results: Vec<IdOnly>,
    paging: Option<Paging>,
}

#[derive(Debug, Deserialize)]
struct IdOnly {
    id: String,
}

#[derive(Debug, Deserialize)]
struct Paging {
    next: Option<Next>,
}

#[derive(Debug, Deserialize)]
struct Next {
    after: String,
}

impl HubspotProvider {
    /// One page of the records of `request.object` modified since `request.since`.
    pub async fn modified(
        &self,
        target: Target,
        request: &ModifiedRequest,
    ) -> Result<ModifiedPage, ProviderError> {
        let Some(object_type) = map::object_type(request.object) else {
            return Ok(ModifiedPage::empty());
        };
        let property = modified_property(request.object);
        let limit = request.limit.clamp(1, SEARCH_LIMIT);
        let properties = self.read_properties(target, request.object).await?;
        let search = |groups, sort| body(&properties, groups, sort, limit);
        let mut records = self
            .modified_search(
                target,
                request.object,
                object_type,
                search(keyset(property, request), property),
            )
            .await?;
        let full = records.len() >= limit;
        if full && let Some(last) = records.last().map(|r| r.updated_at) {
            if records.iter().all(|r| r.updated_at == last) {
                let millis = last.timestamp_millis().to_string();
                let mut within = vec![filter(property, "EQ", millis)];
                if let Some(after) = request.after.as_ref().filter(|p| p.at == last) {
                    within.push(filter("hs_object_id", "GT", after.remote_id.as_str()));
                }
                records = self
                    .modified_search(
                        target,
                        request.object,
                        object_type,
                        search(vec![within], "hs_object_id"),
                    )
                    .await?;
            } else {
                records.retain(|r| r.updated_at != last);
            }
        }
        Ok(ModifiedPage {
            last: records.last().map(position),
            records,
            export: None,
            more: full,
        })
    }

    /// A search's records in the sync's order: (modified, id) ascending.
    async fn modified_search(
        &self,
        target: Target,
        kind: CrmObject,
        object: &str,
        body: Value,
    ) -> Result<Vec<Record<CrmData>>, ProviderError> {
        let mut records = self.search_records(target, kind, object, body).await?;
        records.sort_by_key(|r| (r.updated_at, numeric(&r.remote_id)));
        Ok(records)
    }

    /// One page of the ids of every live record of `object`, after the list's cursor `after`.
    pub async fn ids(
        &self,
        target: Target,
        object: CrmObject,
        after: Option<&str>,
    ) -> Result<IdPage, ProviderError> {
        let Some(object_type) = map::object_type(object) else {
            return Ok(IdPage::default());
        };
        let mut call = Call::get("list", format!("/crm/v3/objects/{object_type}"))
            .query("limit", LIST_LIMIT.to_string())
            .query("properties", "hs_object_id")
            .query("archived", "false");
        if let Some(after) = after {
            call = call.query("after", after);
        }
        let reply = self.upstream.send(target, &call, error::classify).await?;
        let page: IdList = reply.json(Provider::Hubspot, call.op)?;
        Ok(IdPage {
            ids: page.results.into_iter().map(|r| r.id).collect(),
            next: page.paging.and_then(|p| p.next).map(|n| n.after),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_after_a_position_is_a_fresh_search_from_it() {
        let at = chrono::DateTime::from_timestamp_millis(1_900_000_000_123).unwrap();
        let request = ModifiedRequest {
            object: CrmObject::Deal,
            since: Some(at),
            after: Some(Position {
                at,
                remote_id: "77".into(),
            }),
            export: None,
            limit: 200,
        };
        assert_eq!(
            json!(keyset("hs_lastmodifieddate", &request)),
            json!([
                [{ "propertyName": "hs_lastmodifieddate", "operator": "GT", "value": "1900000000123" }],
                [{ "propertyName": "hs_lastmodifieddate", "operator": "EQ", "value": "1900000000123" },
                 { "propertyName": "hs_object_id", "operator": "GT", "value": "77" }],
            ])
        );
    }
}
