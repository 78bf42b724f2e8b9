//! `GET /sobjects/{type}/describe`: an object's metadata as Salesforce's describe answers it —
//! `name`, `label`, `keyPrefix`, `custom`, `createable`/`updateable`/`queryable`, `urls`, and a
//! field list, each field with `name`, `label`, `type` (`id`, `reference`, `string`, `email`,
//! `phone`, `url`, `picklist`, `textarea`, `double`, `currency`, `boolean`, `date`,
//! `datetime`), `custom` (its name ends in `__c`), `calculated` (a formula), `createable`,
//! `updateable`, `nillable`, `length`, `referenceTo`, `relationshipName` and
//! `picklistValues`, and the object's `childRelationships` (what a SOQL subquery names). An
//! object the org lacks answers 404 `NOT_FOUND` ("The requested resource
//! does not exist"), as Salesforce does.
//!
//! The fields are the org's (`SObject::fields`); which of them no client writes is
//! `SObject::read_only`. Each type comes from the field's name: the org's naming is regular
//! enough that a table of exceptions is all the sandbox needs.

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{
    admit, error,
    store::{API, SObject},
};
use crate::Ctx;

/// A field's describe type, and its picklist values where it has them.
fn kind(name: &str) -> (&'static str, &'static [&'static str]) {
    match name {
        "Id" => ("id", &[]),
        "Email" | "Username" => ("email", &[]),
        "Phone" => ("phone", &[]),
        "Website" => ("url", &[]),
        "Amount" | "Lifetime_Value__c" | "Open_Deal_Total__c" => ("currency", &[]),
        "NPS_Score__c" | "Lead_Score__c" | "Days_Open__c" | "Days_To_Close__c" => ("double", &[]),
        "CloseDate" => ("date", &[]),
        "CreatedDate" | "LastModifiedDate" | "SystemModstamp" => ("datetime", &[]),
        "Forecast_Notes__c" => ("textarea", &[]),
        "Tier__c" => ("picklist", &["Gold", "Silver", "Bronze"]),
        "Segment__c" => ("picklist", &["Enterprise", "Mid-Market", "SMB"]),
        "Region__c" => ("picklist", &["AMER", "EMEA", "APAC"]),
        "Status" => (
            "picklist",
            &[
                "Open - Not Contacted",
                "Working - Contacted",
                "Closed - Converted",
                "Closed - Not Converted",
            ],
        ),
        "LeadSource" => (
            "picklist",
            &["Web", "Phone Inquiry", "Partner Referral", "Trade Show"],
        ),
        "StageName" => (
            "picklist",
            &[
                "Prospecting",
                "Qualification",
                "Needs Analysis",
                "Proposal/Price Quote",
                "Negotiation/Review",
                "Closed Won",
                "Closed Lost",
            ],
        ),
        "Industry" | "Role" => ("picklist", &[]),
        n if n.starts_with("Is") => ("boolean", &[]),
        n if n.ends_with("Id") => ("reference", &[]),
        _ => ("string", &[]),
    }
}

/// What a reference field points to.
fn reference_to(name: &str) -> Option<SObject> {
    match name {
        "AccountId" => Some(SObject::Account),
        "OwnerId" => Some(SObject::User),
        "ContactId" | "ConvertedContactId" => Some(SObject::Contact),
        "OpportunityId" => Some(SObject::Opportunity),
        _ => None,
    }
}

/// A field's label: custom fields by their API name without `__c` and with spaces, standard
/// ones split at their capitals (`LastModifiedDate` → `Last Modified Date`, `AccountId` →
/// `Account ID`).
fn label(name: &str) -> String {
    if let Some(base) = name.strip_suffix("__c") {
        return base.replace('_', " ");
    }
    if name == "Id" {
        return "Record ID".into();
    }
    let base = name
        .strip_suffix("Id")
        .map_or(name.to_owned(), |b| format!("{b} ID"));
    let mut out = String::new();
    let chars: Vec<char> = base.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if i > 0 && c.is_uppercase() && chars[i - 1].is_lowercase() {
            out.push(' ');
        }
        out.push(*c);
    }
    out
}

/// One field's describe entry.
fn field(object: SObject, name: &str) -> Value {
    let (kind, picklist) = kind(name);
    let read_only = object.read_only().contains(&name);
    let custom = name.ends_with("__c");
    let required = object.required().contains(&name);
    let reference = reference_to(name).filter(|_| kind == "reference");
    json!({
        "name": name,
        "label": label(name),
        "type": kind,
        "custom": custom,
        "calculated": custom && read_only,
        "createable": !read_only,
        "updateable": !read_only,
        "nillable": !required && !matches!(kind, "id" | "boolean"),
        "filterable": kind != "textarea",
        "sortable": kind != "textarea",
        "length": if matches!(kind, "string" | "email" | "phone" | "url" | "picklist") { 255 } else if kind == "textarea" { 32768 } else { 0 },
        "referenceTo": reference.map(|o| vec![o.name()]).unwrap_or_default(),
        "relationshipName": reference.and(name.strip_suffix("Id")),
        "picklistValues": picklist.iter().enumerate().map(|(i, v)| json!({
            "active": true, "defaultValue": i == 0 && name == "Status", "label": v, "validFor": null, "value": v,
        })).collect::<Vec<_>>(),
    })
}

/// An object's label, as the org shows it.
pub fn object_label(object: SObject) -> &'static str {
    match object {
        SObject::OpportunityContactRole => "Contact Role",
        other => other.name(),
    }
}

/// An object's plural label.
pub fn object_label_plural(object: SObject) -> &'static str {
    match object {
        SObject::Lead => "Leads",
        SObject::Contact => "Contacts",
        SObject::Account => "Accounts",
        SObject::Opportunity => "Opportunities",
        SObject::OpportunityContactRole => "Contact Roles",
        SObject::User => "Users",
    }
}

/// An object's describe answer.
pub fn describe(object: SObject) -> Value {
    let name = object.name();
    let base = format!("{API}/sobjects/{name}");
    json!({
        "name": name,
        "label": object_label(object),
        "labelPlural": object_label_plural(object),
        "keyPrefix": object.key_prefix(),
        "custom": false,
        "createable": true,
        "updateable": true,
        "deletable": true,
        "queryable": true,
        "retrieveable": true,
        "searchable": true,
        "fields": object.fields().iter().map(|f| field(object, f)).collect::<Vec<_>>(),
        "childRelationships": object.children().iter().map(|c| json!({
            "cascadeDelete": c.object == "OpportunityContactRole",
            "childSObject": c.object,
            "deprecatedAndHidden": false,
            "field": c.field,
            "junctionIdListNames": [],
            "junctionReferenceTo": [],
            "relationshipName": c.name,
            "restrictedDelete": false,
        })).collect::<Vec<_>>(),
        "recordTypeInfos": [],
        "urls": {
            "sobject": base,
            "describe": format!("{base}/describe"),
            "rowTemplate": format!("{base}/{{ID}}"),
        },
    })
}

/// `GET /services/data/v58.0/sobjects/{type}/describe`.
pub async fn get(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(object): Path<String>,
) -> Response {
    let admitted = match admit(&ctx, &headers, None) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    match SObject::parse(&object) {
        Some(object) => admitted.finish(Json(describe(object))),
        None => admitted.finish(error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        )),
    }
}
