//! SOQL text for the adapter's lists: quoted literals, pushed-down filters and the keyset that
//! starts a page after the last record seen (`ORDER BY CreatedDate DESC, Id DESC`).

use chrono::{DateTime, SecondsFormat, Utc};

use crate::providers::crm::{CrmFilter, CrmObject, DealStatus, Position};

/// A string literal, with SOQL's escapes.
pub fn quote(value: &str) -> String {
    literal(value, false)
}

/// A LIKE pattern matching `value` anywhere, its own `%` and `_` escaped.
fn contains(value: &str) -> String {
    let inner = literal(value, true);
    format!("'%{}%'", &inner[1..inner.len() - 1])
}

/// Quotes `value`; in a LIKE pattern its wildcards are escaped too (`\%`, `\_`).
fn literal(value: &str, like: bool) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '%' | '_' if like => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn datetime(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The sObject behind a unified type.
pub fn sobject(object: CrmObject) -> &'static str {
    match object {
        CrmObject::Contact => "Contact",
        CrmObject::Lead => "Lead",
        CrmObject::Deal => "Opportunity",
        CrmObject::Company => "Account",
    }
}

pub fn fields(object: CrmObject) -> &'static str {
    match object {
        CrmObject::Contact => {
            "Id, FirstName, LastName, Email, Phone, Title, AccountId, OwnerId, CreatedDate, LastModifiedDate, SystemModstamp"
        }
        CrmObject::Lead => {
            "Id, FirstName, LastName, Email, Company, Title, Status, LeadSource, IsConverted, ConvertedContactId, OwnerId, CreatedDate, LastModifiedDate, SystemModstamp"
        }
        CrmObject::Deal => {
            "Id, Name, Amount, StageName, CloseDate, IsClosed, IsWon, AccountId, OwnerId, CreatedDate, LastModifiedDate, SystemModstamp"
        }
        CrmObject::Company => {
            "Id, Name, Website, Industry, OwnerId, CreatedDate, LastModifiedDate, SystemModstamp"
        }
    }
}

/// The SELECT list of `object`: the fields the adapter maps, then the connection's custom
/// fields (from its describe).
fn select(object: CrmObject, custom: &[String]) -> String {
    let mut out = fields(object).to_owned();
    for name in custom {
        out.push_str(", ");
        out.push_str(name);
    }
    out
}

/// A JSON value as a SOQL literal: strings quoted, numbers and booleans bare, null as `null`
/// (arrays and objects, which no field holds, as quoted JSON text).
fn value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => quote(s),
        serde_json::Value::Null => "null".into(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        other => quote(&other.to_string()),
    }
}

/// The WHERE conditions of `filter` that apply to `object` (ANDed); `owners` are the ids of the
/// users `filter.owner` names.
fn conditions(object: CrmObject, filter: &CrmFilter, owners: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    if filter.owner.is_some() {
        let ids: Vec<String> = owners.iter().map(|id| quote(id)).collect();
        out.push(format!("OwnerId IN ({})", ids.join(", ")));
    }
    if let Some(after) = filter.updated_after {
        out.push(format!("LastModifiedDate > {}", datetime(after)));
    }
    for (name, v) in &filter.custom {
        out.push(format!("{name} = {}", value(v)));
    }
    match object {
        CrmObject::Contact | CrmObject::Lead => {
            if let Some(email) = &filter.email {
                out.push(format!("Email = {}", quote(email)));
            }
            if let Some(text) = &filter.name_contains {
                out.push(format!(
                    "(FirstName LIKE {0} OR LastName LIKE {0})",
                    contains(text)
                ));
            }
            if object == CrmObject::Lead
                && let Some(status) = &filter.stage
            {
                out.push(format!("Status = {}", quote(status)));
            }
        }
        CrmObject::Deal => {
            if let Some(stage) = &filter.stage {
                out.push(format!("StageName = {}", quote(stage)));
            }
            match filter.deal_status {
                Some(DealStatus::Open) => out.push("IsClosed = false".into()),
                Some(DealStatus::Won) => out.push("IsWon = true".into()),
                Some(DealStatus::Lost) => out.push("(IsClosed = true AND IsWon = false)".into()),
                None => {}
            }
            if let Some(text) = &filter.name_contains {
                out.push(format!("Name LIKE {}", contains(text)));
            }
        }
        CrmObject::Company => {
            if let Some(text) = &filter.name_contains {
                out.push(format!("Name LIKE {}", contains(text)));
            }
            if let Some(domain) = &filter.domain {
                out.push(format!("Website LIKE {}", contains(domain)));
            }
        }
    }
    out
}

/// One page of a list: newest first, after `after`, at most `limit` rows.
pub fn list(
    object: CrmObject,
    filter: &CrmFilter,
    owners: &[String],
    after: Option<&Position>,
    limit: usize,
    custom: &[String],
) -> String {
    let mut conditions = conditions(object, filter, owners);
    if let Some(p) = after {
        let at = datetime(p.at);
        conditions.push(format!(
            "(CreatedDate < {at} OR (CreatedDate = {at} AND Id < {}))",
            quote(&p.remote_id)
        ));
    }
    let mut soql = format!("SELECT {} FROM {}", select(object, custom), sobject(object));
    if !conditions.is_empty() {
        soql.push_str(" WHERE ");
        soql.push_str(&conditions.join(" AND "));
    }
    soql.push_str(&format!(
        " ORDER BY CreatedDate DESC, Id DESC LIMIT {limit}"
    ));
    soql
}

/// A sync's page: the records modified at or after `since` (all of them without), strictly after
/// `after` in the order of (SystemModstamp, Id), in that order, at most `limit` rows. Records
/// sharing one SystemModstamp are ordered by Id, so a page boundary inside such a group loses
/// none of them.
pub fn modified(
    object: CrmObject,
    since: Option<DateTime<Utc>>,
    after: Option<&Position>,
    limit: usize,
    custom: &[String],
) -> String {
    format!(
        "{} ORDER BY SystemModstamp, Id LIMIT {limit}",
        export(object, since, after, custom)
    )
}

/// The records of [`modified`] in no order and without a limit, as a Bulk API 2.0 query job
/// takes them.
pub fn export(
    object: CrmObject,
    since: Option<DateTime<Utc>>,
    after: Option<&Position>,
    custom: &[String],
) -> String {
    let mut conditions = Vec::new();
    if let Some(since) = since {
        conditions.push(format!("SystemModstamp >= {}", datetime(since)));
    }
    if let Some(p) = after {
        let at = datetime(p.at);
        conditions.push(format!(
            "((SystemModstamp > {at}) OR (SystemModstamp = {at} AND Id > {}))",
            quote(&p.remote_id)
        ));
    }
    let mut soql = format!("SELECT {} FROM {}", select(object, custom), sobject(object));
    if !conditions.is_empty() {
        soql.push_str(" WHERE ");
        soql.push_str(&conditions.join(" AND "));
    }
    soql
}

/// The reconciliation's listing: ids only, in Id order, after `after`.
pub fn ids(object: CrmObject, after: Option<&str>, limit: usize) -> String {
    let mut soql = format!("SELECT Id FROM {}", sobject(object));
    if let Some(after) = after {
        soql.push_str(&format!(" WHERE Id > {}", quote(after)));
    }
    soql.push_str(&format!(" ORDER BY Id LIMIT {limit}"));
    soql
}

/// The ids of the users with this email.
pub fn users_by_email(email: &str) -> String {
    format!("SELECT Id FROM User WHERE Email = {}", quote(email))
}

/// Records by id.
pub fn by_ids(object: CrmObject, ids: &[String], custom: &[String]) -> String {
    let list: Vec<String> = ids.iter().map(|id| quote(id)).collect();
    format!(
        "SELECT {} FROM {} WHERE Id IN ({})",
        select(object, custom),
        sobject(object),
        list.join(", ")
    )
}

/// How a relation between two types is queried: (object to select from, the field naming the
/// `from` record, the field naming the `to` record). Lookups that are fields of `from` itself
/// (a contact's account) are not relations here.
pub fn relation(
    from: CrmObject,
    to: CrmObject,
) -> Option<(&'static str, &'static str, &'static str)> {
    match (from, to) {
        (CrmObject::Contact, CrmObject::Deal) => {
            Some(("OpportunityContactRole", "ContactId", "OpportunityId"))
        }
        (CrmObject::Deal, CrmObject::Contact) => {
            Some(("OpportunityContactRole", "OpportunityId", "ContactId"))
        }
        (CrmObject::Company, CrmObject::Contact) => Some(("Contact", "AccountId", "Id")),
        (CrmObject::Company, CrmObject::Deal) => Some(("Opportunity", "AccountId", "Id")),
        _ => None,
    }
}

/// The (`parent`, `child`) pairs of `object`'s rows whose `parent` is one of `ids`.
pub fn related(object: &str, parent: &str, child: &str, ids: &[String]) -> String {
    let list: Vec<String> = ids.iter().map(|id| quote(id)).collect();
    format!(
        "SELECT {parent}, {child} FROM {object} WHERE {parent} IN ({}) ORDER BY CreatedDate DESC, Id DESC",
        list.join(", ")
    )
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_escaped() {
        assert_eq!(quote("O'Brien \\ x"), "'O\\'Brien \\\\ x'");
        assert_eq!(contains("50%_off"), "'%50\\%\\_off%'");
    }

    #[test]
    fn a_page_after_a_position_uses_the_keyset() {
        let after = Position {
            at: DateTime::parse_from_rfc3339("2024-05-02T12:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            remote_id: "003A".into(),
        };
        let filter = CrmFilter {
            email: Some("a@b.test".into()),
            ..CrmFilter::default()
        };
        assert_eq!(
            list(CrmObject::Contact, &filter, &[], Some(&after), 21, &[]),
            "SELECT Id, FirstName, LastName, Email, Phone, Title, AccountId, OwnerId, CreatedDate, LastModifiedDate, SystemModstamp FROM Contact WHERE Email = 'a@b.test' AND (CreatedDate < 2024-05-02T12:00:00.000Z OR (CreatedDate = 2024-05-02T12:00:00.000Z AND Id < '003A')) ORDER BY CreatedDate DESC, Id DESC LIMIT 21"
        );
    }

    #[test]
    fn a_sync_page_runs_on_systemmodstamp_then_id() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let after = Position {
            at: at("2031-01-01T00:00:00Z"),
            remote_id: "0035e0000000200AAA".into(),
        };
        assert_eq!(
            modified(
                CrmObject::Company,
                Some(at("2030-12-31T23:58:00Z")),
                Some(&after),
                201,
                &[]
            ),
            "SELECT Id, Name, Website, Industry, OwnerId, CreatedDate, LastModifiedDate, SystemModstamp FROM Account WHERE SystemModstamp >= 2030-12-31T23:58:00.000Z AND ((SystemModstamp > 2031-01-01T00:00:00.000Z) OR (SystemModstamp = 2031-01-01T00:00:00.000Z AND Id > '0035e0000000200AAA')) ORDER BY SystemModstamp, Id LIMIT 201"
        );
        assert_eq!(
            ids(CrmObject::Deal, Some("006A"), 2000),
            "SELECT Id FROM Opportunity WHERE Id > '006A' ORDER BY Id LIMIT 2000"
        );
    }
}
