//! HubSpot objects ↔ the unified CRM records.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::providers::{
    Provider,
    crm::{Company, Contact, CrmData, CrmObject, Deal, DealStatus, Record},
};

use super::model::Object;

/// HubSpot's name for a unified type.
pub fn object_type(object: CrmObject) -> Option<&'static str> {
    match object {
        CrmObject::Contact => Some("contacts"),
        CrmObject::Company => Some("companies"),
        CrmObject::Deal => Some("deals"),
        CrmObject::Lead => None,
    }
}

/// The properties a list asks for (HubSpot returns only a few unless told).
pub fn properties(object: CrmObject) -> &'static [&'static str] {
    match object {
        CrmObject::Contact => &[
            "firstname",
            "lastname",
            "email",
            "hs_additional_emails",
            "phone",
            "jobtitle",
            "associatedcompanyid",
            "createdate",
            "lastmodifieddate",
            "hubspot_owner_id",
        ],
        CrmObject::Company => &[
            "name",
            "domain",
            "industry",
            "website",
            "createdate",
            "hs_lastmodifieddate",
            "hubspot_owner_id",
        ],
        CrmObject::Deal => &[
            "dealname",
            "amount",
            "deal_currency_code",
            "dealstage",
            "closedate",
            "hs_is_closed",
            "hs_is_closed_won",
            "createdate",
            "hs_lastmodifieddate",
            "hubspot_owner_id",
        ],
        CrmObject::Lead => &[],
    }
}

fn time(value: Option<String>) -> Option<DateTime<Utc>> {
    let value = value?;
    DateTime::parse_from_rfc3339(&value)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            value
                .parse::<i64>()
                .ok()
                .and_then(DateTime::from_timestamp_millis)
        })
}

fn flag(object: &Object, name: &str) -> bool {
    object.prop(name).as_deref() == Some("true")
}

/// Maps one object of `kind`; `None` when it lacks what every record has (an id and times).
pub fn record(kind: CrmObject, raw: Value) -> Option<Record<CrmData>> {
    // Read from the payload in place: the payload itself is kept whole as the record's `raw`.
    let object = Object::deserialize(&raw).ok()?;
    let created_at = time(object.created_at.clone()).or_else(|| time(object.prop("createdate")))?;
    let updated_at = time(object.updated_at.clone()).unwrap_or(created_at);
    let data = match kind {
        CrmObject::Contact => {
            let email = object.prop("email");
            let mut email_addresses: Vec<String> = email.iter().cloned().collect();
            email_addresses.extend(
                object
                    .prop("hs_additional_emails")
                    .iter()
                    .flat_map(|s| s.split(';'))
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            );
            CrmData::Contact(Contact {
                first_name: object.prop("firstname"),
                last_name: object.prop("lastname"),
                email,
                email_addresses,
                phone: object.prop("phone"),
                title: object.prop("jobtitle"),
                company_id: object.prop("associatedcompanyid"),
            })
        }
        CrmObject::Company => CrmData::Company(Company {
            name: object.prop("name").unwrap_or_default(),
            domain: object.prop("domain"),
            industry: object.prop("industry"),
            website: object.prop("website"),
        }),
        CrmObject::Deal => {
            let status = if flag(&object, "hs_is_closed_won") {
                DealStatus::Won
            } else if flag(&object, "hs_is_closed") {
                DealStatus::Lost
            } else {
                DealStatus::Open
            };
            CrmData::Deal(Deal {
                name: object.prop("dealname").unwrap_or_default(),
                amount: object
                    .prop("amount")
                    .and_then(|a| a.parse::<f64>().ok())
                    .map(|a| {
                        (
                            a,
                            object
                                .prop("deal_currency_code")
                                .unwrap_or_else(|| "USD".into()),
                        )
                    }),
                stage: object.prop("dealstage"),
                status,
                close_date: time(object.prop("closedate"))
                    .map(|t| t.date_naive())
                    .or_else(|| {
                        object
                            .prop("closedate")
                            .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
                    }),
                company_id: None,
            })
        }
        CrmObject::Lead => return None,
    };
    Some(Record {
        provider: Provider::Hubspot,
        remote_id: object.id,
        created_at,
        updated_at,
        raw: raw.into(),
        data,
    })
}
