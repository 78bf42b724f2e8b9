//! `POST /crm/v3/objects/{object}/search`: filter groups (ORed) of filters (ANDed), sorts, a
//! free-text `query`, paging by offset, and HubSpot's caps — 5 groups, 10 filters a group,
//! 25 in all (the limits since the August 2024 changelog), one sort rule (CRM search docs, "Sort
//! search results"), 200 a page, 10,000 results in all: a page reaching past the cap is refused
//! with 400 (the cap is the portal's `search_cap`, which tests may lower).

use std::cmp::Ordering;

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::DateTime;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Class, admit,
    api::object_type,
    error::{self, ApiError},
    store::Record,
};
use crate::Ctx;

const MAX_GROUPS: usize = 5;
const MAX_FILTERS_PER_GROUP: usize = 10;
const MAX_FILTERS: usize = 25;
const MAX_LIMIT: usize = 200;
const MAX_SORTS: usize = 1;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    #[serde(default)]
    filter_groups: Vec<Group>,
    #[serde(default)]
    sorts: Vec<Sort>,
    query: Option<String>,
    properties: Option<Vec<String>>,
    limit: Option<usize>,
    after: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Group {
    #[serde(default)]
    filters: Vec<Filter>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    property_name: String,
    operator: String,
    value: Option<Value>,
    high_value: Option<Value>,
    values: Option<Vec<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Sort {
    property_name: String,
    #[serde(default)]
    direction: Option<String>,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A property value as something comparable: dates (ISO or epoch ms) and numbers as numbers.
fn number(value: &str) -> Option<f64> {
    if let Ok(n) = value.parse::<f64>() {
        return Some(n);
    }
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|t| t.timestamp_millis() as f64)
}

fn compare(a: &str, b: &str) -> Ordering {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.to_lowercase().cmp(&b.to_lowercase()),
    }
}

impl Filter {
    fn matches(&self, record: &Record) -> Result<bool, String> {
        let actual = record
            .properties
            .get(&self.property_name)
            .map(String::as_str);
        let value = self.value.as_ref().map(text);
        let cmp = |f: fn(Ordering) -> bool| -> Result<bool, String> {
            let v = value
                .as_deref()
                .ok_or_else(|| format!("{} needs a value", self.operator))?;
            Ok(actual.is_some_and(|a| f(compare(a, v))))
        };
        match self.operator.as_str() {
            "EQ" => cmp(|o| o == Ordering::Equal),
            "NEQ" => Ok(!cmp(|o| o == Ordering::Equal)?),
            "LT" => cmp(|o| o == Ordering::Less),
            "LTE" => cmp(|o| o != Ordering::Greater),
            "GT" => cmp(|o| o == Ordering::Greater),
            "GTE" => cmp(|o| o != Ordering::Less),
            "BETWEEN" => {
                let high = self
                    .high_value
                    .as_ref()
                    .map(text)
                    .ok_or("BETWEEN needs a highValue")?;
                Ok(cmp(|o| o != Ordering::Less)?
                    && actual.is_some_and(|a| compare(a, &high) != Ordering::Greater))
            }
            "IN" | "NOT_IN" => {
                let values = self
                    .values
                    .as_ref()
                    .ok_or_else(|| format!("{} needs values", self.operator))?;
                let found = actual.is_some_and(|a| {
                    values
                        .iter()
                        .any(|v| compare(a, &text(v)) == Ordering::Equal)
                });
                Ok(found == (self.operator == "IN"))
            }
            "HAS_PROPERTY" => Ok(actual.is_some_and(|a| !a.is_empty())),
            "NOT_HAS_PROPERTY" => Ok(actual.is_none_or(str::is_empty)),
            "CONTAINS_TOKEN" | "NOT_CONTAINS_TOKEN" => {
                let token = value
                    .as_deref()
                    .ok_or("CONTAINS_TOKEN needs a value")?
                    .to_lowercase();
                let token = token.trim_matches('*');
                let found = actual.is_some_and(|a| a.to_lowercase().contains(token));
                Ok(found == (self.operator == "CONTAINS_TOKEN"))
            }
            other => Err(format!("Unsupported operator: {other}")),
        }
    }
}

pub async fn search(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(object): Path<String>,
    body: Bytes,
) -> Response {
    let admitted = match admit(&ctx, &headers, Class::Search) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    match run(&ctx, &admitted.account, &object, &body) {
        Ok(json) => admitted.respond(StatusCode::OK, json),
        Err(r) => admitted.finish(r),
    }
}

fn run(ctx: &Ctx, portal: &str, object: &str, body: &Bytes) -> Result<Value, ApiError> {
    let object = object_type(object)?;
    let request: Request = serde_json::from_slice(body)
        .map_err(|e| error::validation(&format!("Invalid input JSON on line 1: {e}")))?;
    let total_filters: usize = request.filter_groups.iter().map(|g| g.filters.len()).sum();
    if request.filter_groups.len() > MAX_GROUPS
        || request
            .filter_groups
            .iter()
            .any(|g| g.filters.len() > MAX_FILTERS_PER_GROUP)
        || total_filters > MAX_FILTERS
    {
        return Err(error::validation(&format!(
            "Too many filters: at most {MAX_GROUPS} filterGroups, {MAX_FILTERS_PER_GROUP} filters in a group and {MAX_FILTERS} in all"
        )));
    }
    if request.sorts.len() > MAX_SORTS {
        return Err(error::validation(&format!(
            "Too many sorts: at most {MAX_SORTS} sort is allowed in a search request"
        )));
    }
    let limit = request.limit.unwrap_or(10);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(error::validation(&format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let offset: usize = match &request.after {
        None => 0,
        Some(v) => text(v)
            .parse()
            .map_err(|_| error::validation("after must be a number"))?,
    };
    let store = ctx.state.hubspot.lock(portal);
    let cap = store.search_cap;
    if offset + limit > cap {
        return Err(error::validation(&format!(
            "Search results are limited to {cap}: page past them with a narrower filter"
        )));
    }
    let query = request.query.as_deref().map(str::to_lowercase);
    let mut hits: Vec<&Record> = Vec::new();
    for record in store.live(object) {
        let groups_match = if request.filter_groups.is_empty() {
            true
        } else {
            let mut any = false;
            for group in &request.filter_groups {
                let mut all = true;
                for filter in &group.filters {
                    all &= filter.matches(record).map_err(|m| error::validation(&m))?;
                }
                any |= all;
            }
            any
        };
        let query_matches = query.as_deref().is_none_or(|q| {
            object.searchable().iter().any(|p| {
                record
                    .properties
                    .get(*p)
                    .is_some_and(|v| v.to_lowercase().contains(q))
            })
        });
        if groups_match && query_matches {
            hits.push(record);
        }
    }
    let sort_by: Vec<(String, bool)> = request
        .sorts
        .iter()
        .map(|s| {
            (
                s.property_name.clone(),
                s.direction.as_deref() == Some("DESCENDING"),
            )
        })
        .collect();
    hits.sort_by(|a, b| {
        for (property, descending) in &sort_by {
            let ord = match (a.properties.get(property), b.properties.get(property)) {
                (Some(x), Some(y)) => compare(x, y),
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            let ord = if *descending { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        a.id.cmp(&b.id)
    });
    let total = hits.len();
    let properties = request.properties.as_deref();
    let results: Vec<Value> = hits
        .iter()
        .skip(offset)
        .take(limit)
        .map(|r| r.to_json(object, properties))
        .collect();
    let mut json = json!({ "total": total, "results": results });
    if offset + limit < total.min(cap) {
        json["paging"] = json!({ "next": { "after": (offset + limit).to_string() } });
    }
    Ok(json)
}
