//! What a client asks of the org as a whole: `GET /sobjects` (describeGlobal: every object with
//! its capabilities and URLs, `encoding`, `maxBatchSize`), `GET /sobjects/{type}` (an object's
//! basic information: `objectDescribe` and its `recentItems`) and `GET /limits` (each limit as
//! `{"Max", "Remaining"}`; `DailyApiRequests` is the org's rolling 24-hour count that
//! `Sforce-Limit-Info` also reports, this call included; the others are a Developer Edition org's
//! figures, untouched by the sandbox).

use axum::{
    Json,
    extract::{Path, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

use super::{
    ORG_DAILY_LIMIT, admit, not_found,
    store::{API, SObject},
};
use crate::Ctx;

/// An object's entry in describeGlobal (and `objectDescribe`): name, labels, key prefix, what
/// a client may do with it, and its URLs.
pub fn summary(object: SObject) -> Value {
    let name = object.name();
    let base = format!("{API}/sobjects/{name}");
    // Users are not created, deleted or undeleted through the API as other records are.
    let user = object == SObject::User;
    json!({
        "activateable": false,
        "createable": !user,
        "custom": false,
        "customSetting": false,
        "deepCloneable": false,
        "deletable": !user,
        "deprecatedAndHidden": false,
        "feedEnabled": !matches!(object, SObject::OpportunityContactRole),
        "hasSubtypes": false,
        "isInterface": false,
        "isSubtype": false,
        "keyPrefix": object.key_prefix(),
        "label": super::describe::object_label(object),
        "labelPlural": super::describe::object_label_plural(object),
        "layoutable": true,
        "mergeable": matches!(object, SObject::Lead | SObject::Contact | SObject::Account),
        "mruEnabled": true,
        "name": name,
        "queryable": true,
        "replicateable": true,
        "retrieveable": true,
        "searchable": !matches!(object, SObject::OpportunityContactRole),
        "triggerable": true,
        "undeletable": !user,
        "updateable": true,
        "urls": {
            "rowTemplate": format!("{base}/{{ID}}"),
            "defaultValues": format!("{base}/defaultValues?recordTypeId&fields"),
            "describe": format!("{base}/describe"),
            "sobject": base,
        },
    })
}

/// `GET /services/data/v58.0/sobjects`.
pub async fn describe_global(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    let admitted = match admit(&ctx, &headers, None) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let mut objects = SObject::ALL;
    objects.sort_by_key(|o| o.name());
    admitted.finish(Json(json!({
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": objects.iter().map(|o| summary(*o)).collect::<Vec<_>>(),
    })))
}

/// `GET /services/data/v58.0/sobjects/{type}`: `objectDescribe` and the records most recently
/// changed (up to 10, newest first), each with `attributes`, `Id` and `Name` where it has one.
pub async fn basic_info(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(object): Path<String>,
) -> Response {
    let admitted = match admit(&ctx, &headers, None) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let Some(object) = SObject::parse(&object) else {
        return admitted.finish(not_found());
    };
    let store = ctx.state.salesforce.lock(&admitted.account);
    let mut recent: Vec<&Map<String, Value>> = store.scan(object, false);
    let stamp = |r: &Map<String, Value>| {
        r.get("LastModifiedDate")
            .and_then(Value::as_str)
            .and_then(super::soql::parse_datetime)
    };
    recent.sort_by_key(|r| std::cmp::Reverse(stamp(r)));
    let items: Vec<Value> = recent
        .into_iter()
        .take(10)
        .map(|r| {
            let id = r.get("Id").and_then(Value::as_str).unwrap_or_default();
            let mut item = json!({
                "attributes": { "type": object.name(), "url": format!("{API}/sobjects/{}/{id}", object.name()) },
                "Id": id,
            });
            if let Some(name) = r.get("Name") {
                item["Name"] = name.clone();
            }
            item
        })
        .collect();
    admitted.finish(Json(
        json!({ "objectDescribe": summary(object), "recentItems": items }),
    ))
}

/// `GET /services/data/v58.0/limits`.
pub async fn limits(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    let admitted = match admit(&ctx, &headers, None) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let api = admitted.used;
    let limit =
        |max: u32, spent: u32| json!({ "Max": max, "Remaining": max.saturating_sub(spent) });
    admitted.finish(Json(json!({
        "ConcurrentAsyncGetReportInstances": limit(200, 0),
        "ConcurrentSyncReportRuns": limit(20, 0),
        "DailyApiRequests": limit(ORG_DAILY_LIMIT, api),
        "DailyAsyncApexExecutions": limit(250_000, 0),
        "DailyBulkApiBatches": limit(15_000, 0),
        "DailyBulkV2QueryFileStorageMB": limit(976_562, 0),
        "DailyBulkV2QueryJobs": limit(10_000, 0),
        "DailyStreamingApiEvents": limit(10_000, 0),
        "DataStorageMB": limit(5, 0),
        "FileStorageMB": limit(20, 0),
        "HourlyODataCallout": limit(10_000, 0),
        "SingleEmail": limit(15, 0),
        "MassEmail": limit(10, 0),
    })))
}
