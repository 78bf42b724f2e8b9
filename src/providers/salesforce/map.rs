//! Salesforce records ↔ the unified CRM records. Salesforce writes datetimes as
//! `2024-05-02T12:00:00.000+0000`.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use crate::providers::{
    Provider,
    crm::{Company, Contact, CrmData, CrmObject, Deal, DealStatus, Lead, Record},
};

/// The org's currency when a record does not name one (single-currency orgs).
const ORG_CURRENCY: &str = "USD";

fn text(raw: &Value, field: &str) -> Option<String> {
    raw.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn time(raw: &Value, field: &str) -> Option<DateTime<Utc>> {
    let value = raw.get(field)?.as_str()?;
    DateTime::parse_from_rfc3339(value)
        .or_else(|_| DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn flag(raw: &Value, field: &str) -> bool {
    raw.get(field).and_then(Value::as_bool).unwrap_or(false)
}

/// Maps one record of `kind`; `None` when it lacks an id or a creation time.
pub fn record(kind: CrmObject, raw: Value) -> Option<Record<CrmData>> {
    let remote_id = text(&raw, "Id")?;
    let created_at = time(&raw, "CreatedDate")?;
    let updated_at = time(&raw, "LastModifiedDate").unwrap_or(created_at);
    let data = match kind {
        CrmObject::Contact => {
            let email = text(&raw, "Email");
            CrmData::Contact(Contact {
                first_name: text(&raw, "FirstName"),
                last_name: text(&raw, "LastName"),
                email_addresses: email.iter().cloned().collect(),
                email,
                phone: text(&raw, "Phone"),
                title: text(&raw, "Title"),
                company_id: text(&raw, "AccountId"),
            })
        }
        CrmObject::Lead => CrmData::Lead(Lead {
            first_name: text(&raw, "FirstName"),
            last_name: text(&raw, "LastName"),
            email: text(&raw, "Email"),
            company: text(&raw, "Company"),
            title: text(&raw, "Title"),
            status: text(&raw, "Status"),
            source: text(&raw, "LeadSource"),
            converted_contact_id: text(&raw, "ConvertedContactId"),
        }),
        CrmObject::Deal => CrmData::Deal(Deal {
            name: text(&raw, "Name").unwrap_or_default(),
            amount: raw.get("Amount").and_then(Value::as_f64).map(|a| {
                (
                    a,
                    text(&raw, "CurrencyIsoCode").unwrap_or_else(|| ORG_CURRENCY.into()),
                )
            }),
            stage: text(&raw, "StageName"),
            status: if flag(&raw, "IsWon") {
                DealStatus::Won
            } else if flag(&raw, "IsClosed") {
                DealStatus::Lost
            } else {
                DealStatus::Open
            },
            close_date: text(&raw, "CloseDate")
                .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
            company_id: text(&raw, "AccountId"),
        }),
        CrmObject::Company => {
            let website = text(&raw, "Website");
            CrmData::Company(Company {
                name: text(&raw, "Name").unwrap_or_default(),
                domain: website.as_deref().map(domain_of),
                industry: text(&raw, "Industry"),
                website,
            })
        }
    };
    Some(Record {
        provider: Provider::Salesforce,
        remote_id,
        created_at,
        updated_at,
        raw: raw.into(),
        data,
    })
}

/// `https://www.acme.test/about` → `acme.test`.
fn domain_of(website: &str) -> String {
    let host = website
        .split("://")
        .last()
        .unwrap_or(website)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    host.trim_start_matches("www.").to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_come_from_websites() {
        assert_eq!(domain_of("https://www.Acme.test/about"), "acme.test");
        assert_eq!(domain_of("acme.test"), "acme.test");
    }
}
