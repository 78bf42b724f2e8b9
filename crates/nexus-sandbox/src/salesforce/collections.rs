//! sObject Collections (`/composite/sobjects`): up to 200 records a call, several types at once,
//! HTTP 200 with one result per input in input order; item errors carry `statusCode` (not
//! `errorCode`), and with `allOrNone` one failure rolls everything back. Retrieve takes ids and
//! fields (both required) in the query string (`GET`) or as `{"ids", "fields"}` (`POST`, up to
//! 2,000 ids, what jsforce sends for `retrieve(type, [ids])`); an unknown field is 400
//! `INVALID_FIELD`, an id of no record of the type `null` in its place.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    SfError, admit, apply, body_fields, check_references, check_write, error,
    store::{SObject, Store, render},
};
use crate::Ctx;

/// Most records one Collections call takes.
const MAX_RECORDS: usize = 200;

fn item_error(e: &SfError) -> Value {
    let first = &e.body[0];
    json!({
        "statusCode": first["errorCode"],
        "message": first["message"],
        "fields": first.get("fields").cloned().unwrap_or(json!([])),
    })
}

fn failure(errors: Vec<Value>) -> Value {
    json!({ "success": false, "errors": errors })
}

fn rolled_back() -> Value {
    failure(vec![json!({
        "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
        "fields": [],
    })])
}

/// An input that passed validation: its type, its fields, and its id on update.
struct Valid {
    object: SObject,
    fields: Map<String, Value>,
    id: Option<String>,
}

/// One input record: its type from `attributes.type`, its fields without `attributes`.
fn split(record: &Value) -> Result<(SObject, Map<String, Value>), Value> {
    let mut fields = record.as_object().cloned().unwrap_or_default();
    let kind = fields
        .remove("attributes")
        .and_then(|a| a.get("type").and_then(Value::as_str).map(str::to_owned))
        .and_then(|t| SObject::parse(&t));
    match kind {
        Some(object) => Ok((object, fields)),
        None => Err(failure(vec![
            json!({ "statusCode": "INVALID_TYPE", "message": "Must specify a valid type in attributes", "fields": [] }),
        ])),
    }
}

/// `POST` (create) and `PATCH` (update) with `{"allOrNone", "records": [...]}`.
pub async fn write(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    method: axum::http::Method,
    body: Bytes,
) -> Response {
    let admitted = match admit(&ctx, &headers, None) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let request = match body_fields(&body) {
        Ok(r) => r,
        Err(e) => return admitted.finish(e),
    };
    let all_or_none = request
        .get("allOrNone")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let Some(records) = request.get("records").and_then(Value::as_array) else {
        return admitted.finish(error(
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
            "records must be an array",
        ));
    };
    if records.len() > MAX_RECORDS {
        return admitted.finish(error(
            StatusCode::BAD_REQUEST,
            "EXCEEDED_ID_LIMIT",
            &format!("The number of records in the request exceeds the limit of {MAX_RECORDS}"),
        ));
    }
    let create = method == axum::http::Method::POST;
    let now = ctx.state.clock.now();
    let mut store = ctx.state.salesforce.lock(&admitted.account);
    // Validate everything first; write only what passed (all of it, with allOrNone).
    let checked: Vec<Result<Valid, Value>> = records
        .iter()
        .map(|record| {
            let (object, mut fields) = split(record)?;
            let id = fields.remove("id").or_else(|| fields.remove("Id")).and_then(|v| v.as_str().map(str::to_owned));
            match (create, &id) {
                (true, Some(_)) => return Err(failure(vec![json!({ "statusCode": "INVALID_FIELD", "message": "cannot specify Id in an insert call", "fields": ["Id"] })])),
                (false, None) => return Err(failure(vec![json!({ "statusCode": "MISSING_ARGUMENT", "message": "Id not specified in an update call", "fields": [] })])),
                (false, Some(id)) if store.get(object, id).is_none() => {
                    return Err(failure(vec![json!({ "statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": [] })]));
                }
                _ => {}
            }
            check_write(object, &fields, create)
                .and_then(|()| check_references(&store, &fields))
                .map_err(|e| failure(vec![item_error(&e)]))?;
            Ok(Valid { object, fields, id })
        })
        .collect();
    let any_failed = checked.iter().any(Result::is_err);
    let mut written: Vec<(SObject, String)> = Vec::new();
    let results: Vec<Value> = checked
        .into_iter()
        .map(|item| match item {
            Err(failed) => failed,
            Ok(_) if all_or_none && any_failed => rolled_back(),
            Ok(Valid {
                object,
                fields,
                id: None,
            }) => {
                let id = store.insert(object, Value::Object(fields), now);
                written.push((object, id.clone()));
                json!({ "id": id, "success": true, "errors": [] })
            }
            Ok(Valid {
                object,
                fields,
                id: Some(id),
            }) => {
                if let Some(record) = store.records.get_mut(&object).and_then(|m| m.get_mut(&id)) {
                    apply(object, record, fields);
                    Store::touch(object, record, now);
                }
                written.push((object, id.clone()));
                json!({ "id": id, "success": true, "errors": [] })
            }
        })
        .collect();
    drop(store);
    for object in SObject::ALL {
        let ids: Vec<String> = written
            .iter()
            .filter(|(o, _)| *o == object)
            .map(|(_, id)| id.clone())
            .collect();
        if !ids.is_empty() {
            super::outbound::notify(&ctx.state, &admitted.account, object, &ids);
        }
    }
    admitted.finish(Json(Value::Array(results)))
}

#[derive(Deserialize)]
pub struct IdsParams {
    ids: Option<String>,
    fields: Option<String>,
    #[serde(rename = "allOrNone")]
    all_or_none: Option<bool>,
}

fn ids_of(params: &IdsParams) -> Vec<String> {
    split_list(params.ids.as_deref())
}

/// Most ids one POST retrieve takes.
const MAX_RETRIEVE: usize = 2000;

/// The records of `ids` in order with `fields`, `null` for an id of no record of the type.
fn retrieved(
    ctx: &Ctx,
    account: &str,
    object: &str,
    ids: &[String],
    fields: &[String],
) -> Result<Value, SfError> {
    let Some(object) = SObject::parse(object) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        ));
    };
    if ids.is_empty() || fields.is_empty() {
        let missing = if ids.is_empty() { "ids" } else { "fields" };
        return Err(error(
            StatusCode::BAD_REQUEST,
            "MISSING_ARGUMENT",
            &format!("{missing} parameter is required"),
        ));
    }
    if ids.len() > MAX_RETRIEVE {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "EXCEEDED_ID_LIMIT",
            &format!("The number of ids in the request exceeds the limit of {MAX_RETRIEVE}"),
        ));
    }
    if let Some(bad) = fields
        .iter()
        .find(|f| !object.fields().iter().any(|k| k.eq_ignore_ascii_case(f)))
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
            &format!(
                "No such column '{bad}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
                object.name()
            ),
        ));
    }
    let store = ctx.state.salesforce.lock(account);
    Ok(Value::Array(
        ids.iter()
            .map(|id| {
                store
                    .get(object, id)
                    .map_or(Value::Null, |r| render(object, r, Some(fields)))
            })
            .collect(),
    ))
}

fn split_list(list: Option<&str>) -> Vec<String> {
    list.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `GET /composite/sobjects/{object}?ids=a,b&fields=…`.
pub async fn retrieve(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(object): Path<String>,
    Query(params): Query<IdsParams>,
) -> Response {
    let admitted = match admit(&ctx, &headers, None) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let ids = ids_of(&params);
    let fields = split_list(params.fields.as_deref());
    match retrieved(&ctx, &admitted.account, &object, &ids, &fields) {
        Ok(records) => admitted.finish(Json(records)),
        Err(e) => admitted.finish(e),
    }
}

/// `POST /composite/sobjects/{object}` with `{"ids": [...], "fields": [...]}`.
pub async fn retrieve_by_body(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(object): Path<String>,
    body: Bytes,
) -> Response {
    let admitted = match admit(&ctx, &headers, None) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let request = match body_fields(&body) {
        Ok(r) => r,
        Err(e) => return admitted.finish(e),
    };
    let strings = |name: &str| -> Vec<String> {
        request
            .get(name)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    match retrieved(
        &ctx,
        &admitted.account,
        &object,
        &strings("ids"),
        &strings("fields"),
    ) {
        Ok(records) => admitted.finish(Json(records)),
        Err(e) => admitted.finish(e),
    }
}

/// `DELETE /composite/sobjects?ids=a,b&allOrNone=false`.
pub async fn delete(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Query(params): Query<IdsParams>,
) -> Response {
    let admitted = match admit(&ctx, &headers, None) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let ids = ids_of(&params);
    let now = ctx.state.clock.now();
    let mut store = ctx.state.salesforce.lock(&admitted.account);
    let owner = |store: &Store, id: &str| {
        store
            .records
            .iter()
            .find(|(_, m)| m.contains_key(id))
            .map(|(o, _)| *o)
    };
    let found: Vec<Option<SObject>> = ids.iter().map(|id| owner(&store, id)).collect();
    let any_missing = found.iter().any(Option::is_none);
    let results: Vec<Value> = ids
        .iter()
        .zip(found)
        .map(|(id, object)| match object {
            None => json!({ "id": id, "success": false, "errors": [{ "statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": [] }] }),
            Some(_) if params.all_or_none == Some(true) && any_missing => {
                let mut r = rolled_back();
                r["id"] = json!(id);
                r
            }
            Some(object) => {
                store.delete(object, id, now);
                json!({ "id": id, "success": true, "errors": [] })
            }
        })
        .collect();
    admitted.finish(Json(Value::Array(results)))
}
