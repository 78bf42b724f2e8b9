//! The CRM object endpoints: list, get, create, update, archive, batch, and v4 associations.

use std::collections::{BTreeMap, HashMap};

use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{
    Class, admit, emit,
    error::{self, ApiError},
    store::{ObjectType, Record, Store, iso},
};
use crate::Ctx;

/// Most records a list page or a batch takes.
const MAX_PAGE: usize = 100;
const MAX_BATCH: usize = 100;

/// Query parameters; HubSpot lets `properties` and `associations` repeat or be comma lists.
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(raw: Option<String>) -> Self {
        Params(
            url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    fn one(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn list(&self, name: &str) -> Option<Vec<String>> {
        let values: Vec<String> = self
            .0
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect();
        (!values.is_empty()).then_some(values)
    }
}

pub fn object_type(path: &str) -> Result<ObjectType, ApiError> {
    ObjectType::parse(path).ok_or_else(|| {
        error::respond(
            StatusCode::BAD_REQUEST,
            error::body(
                "VALIDATION_ERROR",
                &format!("Unable to infer object type from: {path}"),
            ),
        )
    })
}

/// A record with the associations asked for.
fn render(
    store: &Store,
    object: ObjectType,
    record: &Record,
    properties: Option<&[String]>,
    associations: &[ObjectType],
) -> Value {
    let mut json = record.to_json(object, properties);
    if !associations.is_empty() {
        let mut map = serde_json::Map::new();
        for to in associations {
            let results: Vec<Value> = store
                .associated(object, record.id, *to)
                .into_iter()
                .map(|id| json!({ "id": id.to_string(), "type": format!("{}_to_{}", object.singular(), to.singular()) }))
                .collect();
            if !results.is_empty() {
                let name = match to {
                    ObjectType::Contacts => "contacts",
                    ObjectType::Companies => "companies",
                    ObjectType::Deals => "deals",
                };
                map.insert(name.to_owned(), json!({ "results": results }));
            }
        }
        json["associations"] = Value::Object(map);
    }
    json
}

fn wanted_associations(params: &Params) -> Vec<ObjectType> {
    params
        .list("associations")
        .unwrap_or_default()
        .iter()
        .filter_map(|a| ObjectType::parse(a))
        .collect()
}

/// `GET /crm/v3/objects/{object}?limit&after&properties&associations&archived`.
pub async fn list(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(object): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let admitted = match admit(&ctx, &headers, Class::Standard) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let object = match object_type(&object) {
        Ok(o) => o,
        Err(r) => return admitted.finish(r),
    };
    let params = Params::parse(raw);
    let limit = match params.one("limit").map(str::parse::<usize>) {
        None => 10,
        Some(Ok(n)) if (1..=MAX_PAGE).contains(&n) => n,
        Some(_) => {
            return admitted.finish(error::validation(&format!(
                "limit must be between 1 and {MAX_PAGE}"
            )));
        }
    };
    let after = match params.one("after").map(str::parse::<u64>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return admitted.finish(error::validation(
                "after must be a paging cursor from a previous page",
            ));
        }
    };
    let archived = params.one("archived") == Some("true");
    let properties = params.list("properties");
    let associations = wanted_associations(&params);
    let store = ctx.state.hubspot.lock(&admitted.account);
    let mut page: Vec<&Record> = store
        .objects
        .get(&object)
        .into_iter()
        .flat_map(|m| m.range(after..))
        .map(|(_, r)| r)
        .filter(|r| r.archived_at.is_some() == archived)
        .take(limit + 1)
        .collect();
    let next = (page.len() > limit).then(|| page[limit].id);
    page.truncate(limit);
    let results: Vec<Value> = page
        .iter()
        .map(|r| render(&store, object, r, properties.as_deref(), &associations))
        .collect();
    let mut body = json!({ "results": results });
    if let Some(next) = next {
        body["paging"] =
            json!({ "next": { "after": next.to_string(), "link": format!("?after={next}") } });
    }
    admitted.respond(StatusCode::OK, body)
}

fn find<'a>(
    store: &'a Store,
    object: ObjectType,
    id: &str,
    id_property: Option<&str>,
) -> Option<&'a Record> {
    match id_property {
        Some("email") if object == ObjectType::Contacts => store.contact_by_email(id),
        Some(prop) if prop != "hs_object_id" => store
            .live(object)
            .find(|r| r.properties.get(prop).is_some_and(|v| v == id)),
        _ => id.parse().ok().and_then(|id| store.get(object, id)),
    }
}

/// `GET /crm/v3/objects/{object}/{id}?idProperty&properties&associations`.
pub async fn get(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((object, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let admitted = match admit(&ctx, &headers, Class::Standard) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let object = match object_type(&object) {
        Ok(o) => o,
        Err(r) => return admitted.finish(r),
    };
    let params = Params::parse(raw);
    let store = ctx.state.hubspot.lock(&admitted.account);
    match find(&store, object, &id, params.one("idProperty")) {
        Some(record) => {
            let body = render(
                &store,
                object,
                record,
                params.list("properties").as_deref(),
                &wanted_associations(&params),
            );
            admitted.respond(StatusCode::OK, body)
        }
        None => admitted.finish(error::not_found()),
    }
}

/// Property values from a request body: strings as they are, numbers and booleans stringified.
fn properties_of(
    object: ObjectType,
    value: Option<&Value>,
) -> Result<BTreeMap<String, String>, ApiError> {
    let Some(Value::Object(map)) = value else {
        return Err(error::validation("properties must be an object"));
    };
    let mut properties = BTreeMap::new();
    let mut unknown = Vec::new();
    let mut read_only = Vec::new();
    for (name, v) in map {
        if !object.known_properties().contains(&name.as_str()) || name == "hs_object_id" {
            unknown.push(name.clone());
            continue;
        }
        if super::properties::of(object)
            .iter()
            .any(|p| p.name == name && p.read_only && p.custom)
        {
            read_only.push(name.clone());
            continue;
        }
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        properties.insert(name.clone(), text);
    }
    if !unknown.is_empty() || !read_only.is_empty() {
        let errors: Vec<Value> = unknown
            .iter()
            .map(|p| json!({ "isValid": false, "message": format!("Property \"{p}\" does not exist"), "error": "PROPERTY_DOESNT_EXIST", "name": p }))
            .chain(read_only.iter().map(|p| json!({ "isValid": false, "message": format!("\"{p}\" is a read only property; its value cannot be set."), "error": "READ_ONLY_VALUE", "name": p })))
            .collect();
        return Err(error::respond(
            StatusCode::BAD_REQUEST,
            json!({
                "status": "error",
                "message": format!("Property values were not valid: {}", Value::Array(errors)),
                "correlationId": uuid::Uuid::new_v4().to_string(),
                "category": "VALIDATION_ERROR",
            }),
        ));
    }
    Ok(properties)
}

/// Change events as HubSpot's webhooks send them.
pub fn events(
    store: &mut Store,
    object: ObjectType,
    id: u64,
    change: Change<'_>,
    source: &str,
    at: DateTime<Utc>,
) -> Vec<Value> {
    let mut base = |kind: &str| {
        store.next_event_id += 1;
        json!({
            "eventId": store.next_event_id,
            "subscriptionId": 1,
            "portalId": store.portal.parse::<u64>().unwrap_or_default(),
            "appId": 1,
            "occurredAt": at.timestamp_millis(),
            "subscriptionType": format!("{}.{kind}", object.singular()),
            "attemptNumber": 0,
            "objectId": id,
            "changeSource": source,
        })
    };
    match change {
        Change::Created => {
            let mut e = base("creation");
            e["changeFlag"] = json!("CREATED");
            vec![e]
        }
        Change::Deleted => {
            let mut e = base("deletion");
            e["changeFlag"] = json!("DELETED");
            vec![e]
        }
        Change::Properties(values) => values
            .iter()
            .map(|(name, value)| {
                let mut e = base("propertyChange");
                e["propertyName"] = json!(name);
                e["propertyValue"] = json!(value);
                e
            })
            .collect(),
    }
}

/// What happened to a record, for its webhook events.
pub enum Change<'a> {
    Created,
    Properties(&'a [(String, String)]),
    Deleted,
}

/// Creates a record from `{"properties", "associations"}`; shared by create, batch and the admin API.
pub fn create_record(
    ctx: &Ctx,
    store: &mut Store,
    object: ObjectType,
    input: &Value,
    source: &str,
) -> Result<(u64, Vec<Value>), ApiError> {
    let properties = properties_of(object, input.get("properties"))?;
    if object == ObjectType::Contacts
        && let Some(email) = properties.get("email")
        && let Some(existing) = store.contact_by_email(email)
    {
        return Err(error::respond(
            StatusCode::CONFLICT,
            error::body(
                "CONFLICT",
                &format!("Contact already exists. Existing ID: {}", existing.id),
            ),
        ));
    }
    let now = ctx.state.clock.now();
    let id = store.create(object, properties, now);
    for association in input
        .get("associations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let to_id = association.pointer("/to/id").and_then(|v| {
            v.as_str()
                .map(str::to_owned)
                .or_else(|| v.as_u64().map(|n| n.to_string()))
        });
        let type_id = association
            .pointer("/types/0/associationTypeId")
            .and_then(Value::as_u64);
        let target = [
            ObjectType::Contacts,
            ObjectType::Companies,
            ObjectType::Deals,
        ]
        .into_iter()
        .find(|to| {
            type_id.is_some_and(|t| {
                t as u32 == object.association_type(*to) || (*to == ObjectType::Companies && t == 1)
            })
        });
        if let (Some(to), Some(to_id)) = (target, to_id.and_then(|s| s.parse().ok()))
            && store.get(to, to_id).is_some()
        {
            store.associate(object, id, to, to_id);
        }
    }
    let events = events(store, object, id, Change::Created, source, now);
    Ok((id, events))
}

/// Applies property changes; shared by update, batch update and the admin API.
pub fn update_record(
    ctx: &Ctx,
    store: &mut Store,
    object: ObjectType,
    id: u64,
    input: &Value,
    source: &str,
) -> Result<Vec<Value>, ApiError> {
    let properties = properties_of(object, input.get("properties"))?;
    let now = ctx.state.clock.now();
    let changed = store
        .update(object, id, properties.clone(), now)
        .ok_or_else(error::not_found)?;
    let values: Vec<(String, String)> = changed
        .into_iter()
        .map(|name| {
            let value = properties.get(&name).cloned().unwrap_or_default();
            (name, value)
        })
        .collect();
    Ok(events(
        store,
        object,
        id,
        Change::Properties(&values),
        source,
        now,
    ))
}

fn json_body(bytes: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| error::validation(&format!("Invalid input JSON: {e}")))
}

/// `POST /crm/v3/objects/{object}`: 201 with the record.
pub async fn create(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(object): Path<String>,
    body: Bytes,
) -> Response {
    let admitted = match admit(&ctx, &headers, Class::Standard) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let result = (|| {
        let object = object_type(&object)?;
        let input = json_body(&body)?;
        let mut store = ctx.state.hubspot.lock(&admitted.account);
        let (id, events) = create_record(&ctx, &mut store, object, &input, "API")?;
        let record = store.get(object, id).ok_or_else(error::not_found)?;
        let json = record.to_json(object, None);
        drop(store);
        emit(&ctx.state, events);
        Ok::<_, ApiError>(json)
    })();
    match result {
        Ok(json) => admitted.respond(StatusCode::CREATED, json),
        Err(r) => admitted.finish(r),
    }
}

/// `PATCH /crm/v3/objects/{object}/{id}`: 200 with the record; an empty string clears.
pub async fn update(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((object, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let admitted = match admit(&ctx, &headers, Class::Standard) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let params = Params::parse(raw);
    let result = (|| {
        let object = object_type(&object)?;
        let input = json_body(&body)?;
        let mut store = ctx.state.hubspot.lock(&admitted.account);
        let id = find(&store, object, &id, params.one("idProperty"))
            .map(|r| r.id)
            .ok_or_else(error::not_found)?;
        let events = update_record(&ctx, &mut store, object, id, &input, "API")?;
        let json = store
            .get(object, id)
            .ok_or_else(error::not_found)?
            .to_json(object, None);
        drop(store);
        emit(&ctx.state, events);
        Ok::<_, ApiError>(json)
    })();
    match result {
        Ok(json) => admitted.respond(StatusCode::OK, json),
        Err(r) => admitted.finish(r),
    }
}

/// `DELETE /crm/v3/objects/{object}/{id}`: archives; 204.
pub async fn archive(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((object, id)): Path<(String, String)>,
) -> Response {
    let admitted = match admit(&ctx, &headers, Class::Standard) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let object = match object_type(&object) {
        Ok(o) => o,
        Err(r) => return admitted.finish(r),
    };
    let now = ctx.state.clock.now();
    let mut store = ctx.state.hubspot.lock(&admitted.account);
    let Some(id) = id.parse().ok().filter(|id| store.archive(object, *id, now)) else {
        return admitted.finish(error::not_found());
    };
    let events = events(&mut store, object, id, Change::Deleted, "API", now);
    drop(store);
    emit(&ctx.state, events);
    admitted.finish(StatusCode::NO_CONTENT.into_response())
}

/// `POST /crm/v3/objects/{object}/batch/{read|create|update|archive}`: at most 100 inputs; 207
/// with `errors` when some inputs fail.
pub async fn batch(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((object, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let admitted = match admit(&ctx, &headers, Class::Batch) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let result = (|| {
        let object = object_type(&object)?;
        let input = json_body(&body)?;
        let inputs = input
            .get("inputs")
            .and_then(Value::as_array)
            .ok_or_else(|| error::validation("inputs must be an array"))?;
        if inputs.len() > MAX_BATCH {
            return Err(error::validation(&format!(
                "Batch input can contain at most {MAX_BATCH} inputs"
            )));
        }
        let started = iso(ctx.state.clock.now());
        let mut store = ctx.state.hubspot.lock(&admitted.account);
        let properties: Option<Vec<String>> =
            input.get("properties").and_then(Value::as_array).map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            });
        let id_property = input
            .get("idProperty")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let (mut results, mut missing, mut all_events) = (Vec::new(), Vec::new(), Vec::new());
        let id_of = |v: &Value| {
            v.get("id")
                .and_then(|id| {
                    id.as_str()
                        .map(str::to_owned)
                        .or_else(|| id.as_u64().map(|n| n.to_string()))
                })
                .unwrap_or_default()
        };
        let status = match action.as_str() {
            "read" => {
                for i in inputs {
                    let id = id_of(i);
                    match find(&store, object, &id, id_property.as_deref()) {
                        Some(r) => results.push(r.to_json(object, properties.as_deref())),
                        None => missing.push(id),
                    }
                }
                StatusCode::OK
            }
            "create" => {
                for i in inputs {
                    let (id, events) = create_record(&ctx, &mut store, object, i, "API")?;
                    all_events.extend(events);
                    if let Some(r) = store.get(object, id) {
                        results.push(r.to_json(object, None));
                    }
                }
                StatusCode::CREATED
            }
            "update" => {
                for i in inputs {
                    let id = id_of(i);
                    let Some(found) = find(
                        &store,
                        object,
                        &id,
                        i.get("idProperty").and_then(Value::as_str),
                    )
                    .map(|r| r.id) else {
                        missing.push(id);
                        continue;
                    };
                    all_events.extend(update_record(&ctx, &mut store, object, found, i, "API")?);
                    if let Some(r) = store.get(object, found) {
                        results.push(r.to_json(object, None));
                    }
                }
                StatusCode::OK
            }
            "archive" => {
                let now = ctx.state.clock.now();
                for i in inputs {
                    if let Ok(id) = id_of(i).parse::<u64>()
                        && store.archive(object, id, now)
                    {
                        all_events.extend(events(
                            &mut store,
                            object,
                            id,
                            Change::Deleted,
                            "API",
                            now,
                        ));
                    }
                }
                drop(store);
                emit(&ctx.state, all_events);
                return Ok((StatusCode::NO_CONTENT, Value::Null));
            }
            _ => return Err(error::not_found()),
        };
        drop(store);
        emit(&ctx.state, all_events);
        let mut body = json!({
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": iso(ctx.state.clock.now()),
        });
        if missing.is_empty() {
            return Ok((status, body));
        }
        body["numErrors"] = json!(1);
        body["errors"] = json!([{
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": format!("Could not get some {} objects, they may be deleted or not exist. Check that ids are valid.", object.singular().to_uppercase()),
            "context": { "ids": missing },
            "errors": [],
            "links": {},
        }]);
        Ok((StatusCode::MULTI_STATUS, body))
    })();
    match result {
        Ok((StatusCode::NO_CONTENT, _)) => admitted.finish(StatusCode::NO_CONTENT.into_response()),
        Ok((status, body)) => admitted.respond(status, body),
        Err(r) => admitted.finish(r),
    }
}

fn association_result(from: ObjectType, to: ObjectType, to_id: u64) -> Value {
    json!({
        "toObjectId": to_id,
        "associationTypes": [{ "category": "HUBSPOT_DEFINED", "typeId": from.association_type(to), "label": null }],
    })
}

/// `GET /crm/v4/objects/{from}/{id}/associations/{to}?limit&after`.
pub async fn associations(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((from, id, to)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let admitted = match admit(&ctx, &headers, Class::Standard) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let (from, to) = match (object_type(&from), object_type(&to)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(r), _) | (_, Err(r)) => return admitted.finish(r),
    };
    let params = Params::parse(raw);
    let limit = params
        .one("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(500usize)
        .clamp(1, 500);
    let after: u64 = params
        .one("after")
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let store = ctx.state.hubspot.lock(&admitted.account);
    let Some(record) = id.parse().ok().and_then(|id| store.get(from, id)) else {
        return admitted.finish(error::not_found());
    };
    let ids: Vec<u64> = store
        .associated(from, record.id, to)
        .into_iter()
        .filter(|i| *i > after)
        .collect();
    let mut body = json!({ "results": ids.iter().take(limit).map(|i| association_result(from, to, *i)).collect::<Vec<_>>() });
    if ids.len() > limit {
        body["paging"] = json!({ "next": { "after": ids[limit - 1].to_string() } });
    }
    admitted.respond(StatusCode::OK, body)
}

/// `PUT /crm/v4/objects/{from}/{id}/associations/default/{to}/{toId}`.
pub async fn associate_default(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((from, id, to, to_id)): Path<(String, String, String, String)>,
) -> Response {
    let admitted = match admit(&ctx, &headers, Class::Standard) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let (from, to) = match (object_type(&from), object_type(&to)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(r), _) | (_, Err(r)) => return admitted.finish(r),
    };
    let mut store = ctx.state.hubspot.lock(&admitted.account);
    let ids = (id.parse::<u64>(), to_id.parse::<u64>());
    let (Ok(id), Ok(to_id)) = ids else {
        return admitted.finish(error::not_found());
    };
    if store.get(from, id).is_none() || store.get(to, to_id).is_none() {
        return admitted.finish(error::not_found());
    }
    store.associate(from, id, to, to_id);
    let now = iso(ctx.state.clock.now());
    admitted.respond(
        StatusCode::OK,
        json!({
            "status": "COMPLETE",
            "results": [{
                "from": { "id": id.to_string() },
                "to": { "id": to_id.to_string() },
                "associationSpec": { "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": from.association_type(to) },
            }],
            "startedAt": now,
            "completedAt": now,
        }),
    )
}

/// `DELETE /crm/v4/objects/{from}/{id}/associations/{to}/{toId}`: 204.
pub async fn dissociate(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((from, id, to, to_id)): Path<(String, String, String, String)>,
) -> Response {
    let admitted = match admit(&ctx, &headers, Class::Standard) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let (from, to) = match (object_type(&from), object_type(&to)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(r), _) | (_, Err(r)) => return admitted.finish(r),
    };
    if let (Ok(id), Ok(to_id)) = (id.parse(), to_id.parse()) {
        ctx.state
            .hubspot
            .lock(&admitted.account)
            .dissociate(from, id, to, to_id);
    }
    admitted.finish(StatusCode::NO_CONTENT.into_response())
}

/// `POST /crm/v4/associations/{from}/{to}/batch/read` with `{"inputs":[{"id"}]}`.
pub async fn associations_batch(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((from, to)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let admitted = match admit(&ctx, &headers, Class::Batch) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let (from, to) = match (object_type(&from), object_type(&to)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(r), _) | (_, Err(r)) => return admitted.finish(r),
    };
    let input = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return admitted.finish(r),
    };
    let ids: Vec<String> = input
        .get("inputs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| {
            i.get("id").and_then(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .or_else(|| v.as_u64().map(|n| n.to_string()))
            })
        })
        .collect();
    if ids.len() > MAX_BATCH * 10 {
        return admitted.finish(error::validation("too many inputs"));
    }
    let store = ctx.state.hubspot.lock(&admitted.account);
    let started = iso(ctx.state.clock.now());
    let mut seen: HashMap<String, ()> = HashMap::new();
    let results: Vec<Value> = ids
        .iter()
        .filter(|id| seen.insert((*id).clone(), ()).is_none())
        .filter_map(|id| {
            let record = id.parse().ok().and_then(|n| store.get(from, n))?;
            let to_ids = store.associated(from, record.id, to);
            Some(json!({
                "from": { "id": id },
                "to": to_ids.iter().map(|t| association_result(from, to, *t)).collect::<Vec<_>>(),
            }))
        })
        .collect();
    admitted.respond(
        StatusCode::OK,
        json!({ "status": "COMPLETE", "results": results, "startedAt": started, "completedAt": iso(ctx.state.clock.now()) }),
    )
}
