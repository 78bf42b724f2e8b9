//! `GET /crm/v3/properties/{objectType}` and `GET /crm/v3/properties/{objectType}/{name}`: the
//! portal's property definitions, shaped as HubSpot's Properties API answers them — `name`,
//! `label`, `type` (`string`, `number`, `date`, `datetime`, `enumeration`, `bool`), `fieldType`,
//! `groupName`, `options`, `calculated`, `hasUniqueValue`, `hidden`, `formField`,
//! `modificationMetadata {archivable, readOnlyDefinition, readOnlyValue}`, and `hubspotDefined:
//! true` on HubSpot's own properties only (custom ones lack it). Each portal defines custom
//! properties besides HubSpot's: contacts `customer_tier` (enumeration) and `nps_score`
//! (number), companies `segment`, deals `forecast_notes`, and one read-only calculated
//! property per object (`days_to_close`-like), which writes refuse.

use axum::{
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{
    Class, admit,
    api::object_type,
    error::{self},
    store::ObjectType,
};
use crate::Ctx;

/// One property definition: name, label, type, field type, group, read-only value, custom.
pub struct Property {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: &'static str,
    pub field_type: &'static str,
    pub group: &'static str,
    pub read_only: bool,
    pub custom: bool,
}

const fn p(
    name: &'static str,
    label: &'static str,
    kind: &'static str,
    field_type: &'static str,
    group: &'static str,
    read_only: bool,
    custom: bool,
) -> Property {
    Property {
        name,
        label,
        kind,
        field_type,
        group,
        read_only,
        custom,
    }
}

const CONTACTS: &[Property] = &[
    p(
        "createdate",
        "Create Date",
        "datetime",
        "date",
        "contactinformation",
        true,
        false,
    ),
    p(
        "email",
        "Email",
        "string",
        "text",
        "contactinformation",
        false,
        false,
    ),
    p(
        "firstname",
        "First Name",
        "string",
        "text",
        "contactinformation",
        false,
        false,
    ),
    p(
        "lastname",
        "Last Name",
        "string",
        "text",
        "contactinformation",
        false,
        false,
    ),
    p(
        "phone",
        "Phone Number",
        "string",
        "phonenumber",
        "contactinformation",
        false,
        false,
    ),
    p(
        "jobtitle",
        "Job Title",
        "string",
        "text",
        "contactinformation",
        false,
        false,
    ),
    p(
        "company",
        "Company Name",
        "string",
        "text",
        "contactinformation",
        false,
        false,
    ),
    p(
        "hubspot_owner_id",
        "Contact owner",
        "enumeration",
        "select",
        "sales_properties",
        false,
        false,
    ),
    p(
        "lifecyclestage",
        "Lifecycle Stage",
        "enumeration",
        "radio",
        "contactinformation",
        false,
        false,
    ),
    p(
        "hs_object_id",
        "Record ID",
        "number",
        "number",
        "contactinformation",
        true,
        false,
    ),
    p(
        "lastmodifieddate",
        "Last Modified Date",
        "datetime",
        "date",
        "contactinformation",
        true,
        false,
    ),
    p(
        "customer_tier",
        "Customer tier",
        "enumeration",
        "select",
        "contactinformation",
        false,
        true,
    ),
    p(
        "nps_score",
        "NPS score",
        "number",
        "number",
        "contactinformation",
        false,
        true,
    ),
    p(
        "days_as_contact",
        "Days as contact",
        "number",
        "calculation_equation",
        "contactinformation",
        true,
        true,
    ),
];

const COMPANIES: &[Property] = &[
    p(
        "createdate",
        "Create Date",
        "datetime",
        "date",
        "companyinformation",
        true,
        false,
    ),
    p(
        "name",
        "Company name",
        "string",
        "text",
        "companyinformation",
        false,
        false,
    ),
    p(
        "domain",
        "Company Domain Name",
        "string",
        "text",
        "companyinformation",
        false,
        false,
    ),
    p(
        "industry",
        "Industry",
        "enumeration",
        "select",
        "companyinformation",
        false,
        false,
    ),
    p(
        "website",
        "Website URL",
        "string",
        "text",
        "companyinformation",
        false,
        false,
    ),
    p(
        "phone",
        "Phone Number",
        "string",
        "phonenumber",
        "companyinformation",
        false,
        false,
    ),
    p(
        "hubspot_owner_id",
        "Company owner",
        "enumeration",
        "select",
        "companyinformation",
        false,
        false,
    ),
    p(
        "hs_object_id",
        "Record ID",
        "number",
        "number",
        "companyinformation",
        true,
        false,
    ),
    p(
        "hs_lastmodifieddate",
        "Last Modified Date",
        "datetime",
        "date",
        "companyinformation",
        true,
        false,
    ),
    p(
        "segment",
        "Segment",
        "string",
        "text",
        "companyinformation",
        false,
        true,
    ),
    p(
        "open_deal_total",
        "Open deal total",
        "number",
        "calculation_rollup",
        "companyinformation",
        true,
        true,
    ),
];

const DEALS: &[Property] = &[
    p(
        "createdate",
        "Create Date",
        "datetime",
        "date",
        "dealinformation",
        true,
        false,
    ),
    p(
        "dealname",
        "Deal Name",
        "string",
        "text",
        "dealinformation",
        false,
        false,
    ),
    p(
        "amount",
        "Amount",
        "number",
        "number",
        "dealinformation",
        false,
        false,
    ),
    p(
        "deal_currency_code",
        "Currency",
        "enumeration",
        "select",
        "dealinformation",
        false,
        false,
    ),
    p(
        "dealstage",
        "Deal Stage",
        "enumeration",
        "radio",
        "dealinformation",
        false,
        false,
    ),
    p(
        "pipeline",
        "Pipeline",
        "enumeration",
        "select",
        "dealinformation",
        false,
        false,
    ),
    p(
        "closedate",
        "Close Date",
        "datetime",
        "date",
        "dealinformation",
        false,
        false,
    ),
    p(
        "hubspot_owner_id",
        "Deal owner",
        "enumeration",
        "select",
        "dealinformation",
        false,
        false,
    ),
    p(
        "hs_is_closed",
        "Is Deal Closed?",
        "bool",
        "booleancheckbox",
        "dealinformation",
        true,
        false,
    ),
    p(
        "hs_is_closed_won",
        "Is Closed Won",
        "bool",
        "booleancheckbox",
        "dealinformation",
        true,
        false,
    ),
    p(
        "hs_object_id",
        "Record ID",
        "number",
        "number",
        "dealinformation",
        true,
        false,
    ),
    p(
        "hs_lastmodifieddate",
        "Last Modified Date",
        "datetime",
        "date",
        "dealinformation",
        true,
        false,
    ),
    p(
        "forecast_notes",
        "Forecast notes",
        "string",
        "textarea",
        "dealinformation",
        false,
        true,
    ),
    p(
        "days_to_close_estimate",
        "Days to close (estimate)",
        "number",
        "calculation_equation",
        "dealinformation",
        true,
        true,
    ),
];

/// The properties the portal defines for a type.
pub fn of(object: ObjectType) -> &'static [Property] {
    match object {
        ObjectType::Contacts => CONTACTS,
        ObjectType::Companies => COMPANIES,
        ObjectType::Deals => DEALS,
    }
}

impl Property {
    fn to_json(&self) -> Value {
        let options = if self.name == "customer_tier" {
            json!([
                { "label": "Gold", "value": "gold", "displayOrder": 0, "hidden": false },
                { "label": "Silver", "value": "silver", "displayOrder": 1, "hidden": false },
                { "label": "Bronze", "value": "bronze", "displayOrder": 2, "hidden": false }
            ])
        } else {
            json!([])
        };
        let mut body = json!({
            "updatedAt": "2024-01-15T10:00:00.000Z",
            "createdAt": "2020-06-30T15:57:37.277Z",
            "name": self.name,
            "label": self.label,
            "type": self.kind,
            "fieldType": self.field_type,
            "description": "",
            "groupName": self.group,
            "options": options,
            "displayOrder": -1,
            "calculated": self.field_type.starts_with("calculation_"),
            "externalOptions": false,
            "hasUniqueValue": self.name == "hs_object_id",
            "hidden": false,
            "formField": !self.read_only,
            "dataSensitivity": "non_sensitive",
            "modificationMetadata": {
                "archivable": self.custom,
                "readOnlyDefinition": !self.custom,
                "readOnlyValue": self.read_only,
            },
        });
        if !self.custom {
            body["hubspotDefined"] = json!(true);
        }
        body
    }
}

/// `GET /crm/v3/properties/{objectType}?archived`: `{"results": [...]}`, every property of the
/// type; with `archived=true` the archived ones, of which the portal has none. `properties`
/// (the property attributes to return) is accepted and every attribute returned.
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
    let archived = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .any(|(k, v)| k == "archived" && v == "true");
    match object_type(&object) {
        Ok(object) => {
            let results: Vec<Value> = of(object)
                .iter()
                .filter(|_| !archived)
                .map(Property::to_json)
                .collect();
            admitted.respond(StatusCode::OK, json!({ "results": results }))
        }
        Err(r) => admitted.finish(r),
    }
}

/// `GET /crm/v3/properties/{objectType}/{propertyName}`: one definition, or 404.
pub async fn get(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((object, name)): Path<(String, String)>,
) -> Response {
    let admitted = match admit(&ctx, &headers, Class::Standard) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let object = match object_type(&object) {
        Ok(o) => o,
        Err(r) => return admitted.finish(r),
    };
    match of(object).iter().find(|p| p.name == name) {
        Some(property) => admitted.respond(StatusCode::OK, property.to_json()),
        None => admitted.finish(error::respond(
            StatusCode::NOT_FOUND,
            error::body(
                "OBJECT_NOT_FOUND",
                &format!(
                    "Unable to find property {name} for object type {}",
                    object.singular()
                ),
            ),
        )),
    }
}
