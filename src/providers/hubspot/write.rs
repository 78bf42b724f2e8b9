//! Writes to HubSpot: create and update through CRM v3 objects (associations to companies and
//! contacts given at creation), a contact's company through v4's default association, and
//! batch create (≤ 100 per call, all or nothing per call, as HubSpot does).

use http::Method;
use serde_json::{Map, Value, json};

use crate::{
    providers::{
        Provider,
        crm::{Created, CrmData, CrmWrite, Record},
    },
    upstream::{Call, ErrorKind, ProviderError, Target},
};

use super::{HubspotProvider, error, map, model};

/// Inputs per batch call.
const BATCH_LIMIT: usize = 100;
/// HubSpot's default association type ids.
const CONTACT_TO_COMPANY: u32 = 279;
const DEAL_TO_COMPANY: u32 = 341;
const DEAL_TO_CONTACT: u32 = 3;

/// The properties of a write: the mapped ones, then its custom properties as given.
fn properties(write: &CrmWrite) -> Map<String, Value> {
    let mut out = Map::new();
    let mut put = |name: &str, value: &Option<String>| {
        if let Some(value) = value {
            out.insert(name.to_owned(), Value::String(value.clone()));
        }
    };
    match write {
        CrmWrite::Contact(c) => {
            put("firstname", &c.first_name);
            put("lastname", &c.last_name);
            put("email", &c.email.as_ref().map(|e| e.to_lowercase()));
            put("phone", &c.phone);
            put("jobtitle", &c.title);
        }
        CrmWrite::Deal(d) => {
            put("dealname", &d.name);
            put("amount", &d.amount.as_ref().map(|(a, _)| a.to_string()));
            put(
                "deal_currency_code",
                &d.amount.as_ref().map(|(_, c)| c.clone()),
            );
            put("dealstage", &d.stage);
            put(
                "closedate",
                &d.close_date
                    .map(|d| format!("{}T00:00:00.000Z", d.format("%Y-%m-%d"))),
            );
        }
        CrmWrite::Lead(_) => {}
    }
    for (name, value) in write.custom() {
        out.insert(name.clone(), value.clone());
    }
    out
}

fn association(to: &str, type_id: u32) -> Value {
    json!({ "to": { "id": to }, "types": [{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id }] })
}

/// Associations a new record gets.
fn associations(write: &CrmWrite) -> Vec<Value> {
    match write {
        CrmWrite::Contact(c) => c
            .company_id
            .iter()
            .map(|id| association(id, CONTACT_TO_COMPANY))
            .collect(),
        CrmWrite::Deal(d) => d
            .company_id
            .iter()
            .map(|id| association(id, DEAL_TO_COMPANY))
            .chain(
                d.contact_ids
                    .iter()
                    .map(|id| association(id, DEAL_TO_CONTACT)),
            )
            .collect(),
        CrmWrite::Lead(_) => Vec::new(),
    }
}

fn input(write: &CrmWrite) -> Value {
    json!({ "properties": properties(write), "associations": associations(write) })
}

fn unsupported(op: &'static str) -> ProviderError {
    ProviderError::new(
        ErrorKind::Invalid,
        Provider::Hubspot,
        op,
        "HubSpot has no leads",
    )
}

impl HubspotProvider {
    fn mapped(
        &self,
        write: &CrmWrite,
        op: &'static str,
        raw: Value,
    ) -> Result<Record<CrmData>, ProviderError> {
        map::record(write.object(), raw).ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Upstream,
                Provider::Hubspot,
                op,
                "unexpected answer",
            )
        })
    }

    /// Creates a record with its associations; returns it as stored.
    pub async fn create(
        &self,
        target: Target,
        write: &CrmWrite,
    ) -> Result<Record<CrmData>, ProviderError> {
        let object = map::object_type(write.object()).ok_or_else(|| unsupported("create"))?;
        let call = Call::write(
            "create",
            Method::POST,
            format!("/crm/v3/objects/{object}"),
            input(write),
        );
        let raw: Value = self
            .upstream
            .send(target, &call, error::classify)
            .await?
            .json(Provider::Hubspot, call.op)?;
        self.mapped(write, call.op, raw)
    }

    /// Changes a record (a contact's company through its default association); returns it as
    /// stored.
    pub async fn update(
        &self,
        target: Target,
        id: &str,
        write: &CrmWrite,
    ) -> Result<Record<CrmData>, ProviderError> {
        let object = map::object_type(write.object()).ok_or_else(|| unsupported("update"))?;
        let company = match write {
            CrmWrite::Contact(c) => c.company_id.as_deref(),
            CrmWrite::Deal(d) => d.company_id.as_deref(),
            CrmWrite::Lead(_) => None,
        };
        if let Some(company) = company {
            // A PUT of the same association twice leaves one.
            let link = Call {
                method: Method::PUT,
                ..Call::get(
                    "associations.default",
                    format!(
                        "/crm/v4/objects/{object}/{id}/associations/default/companies/{company}"
                    ),
                )
            };
            self.upstream.send(target, &link, error::classify).await?;
        }
        let mut call = Call::write(
            "update",
            Method::PATCH,
            format!("/crm/v3/objects/{object}/{id}"),
            json!({ "properties": properties(write) }),
        );
        call.idempotent = true;
        self.upstream.send(target, &call, error::classify).await?;
        // The answer carries only the properties written: read the record whole.
        self.get_many(target, write.object(), &[id.to_owned()])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::NotFound,
                    Provider::Hubspot,
                    call.op,
                    format!("{id} is gone"),
                )
            })
    }

    /// Creates records of one type, 100 per batch call; a refused batch fails its records.
    pub async fn create_many(
        &self,
        target: Target,
        writes: &[CrmWrite],
    ) -> Result<Vec<Created>, ProviderError> {
        let Some(first) = writes.first() else {
            return Ok(Vec::new());
        };
        let object = map::object_type(first.object()).ok_or_else(|| unsupported("batch.create"))?;
        let mut out = Vec::with_capacity(writes.len());
        for chunk in writes.chunks(BATCH_LIMIT) {
            let call = Call::write(
                "batch.create",
                Method::POST,
                format!("/crm/v3/objects/{object}/batch/create"),
                json!({ "inputs": chunk.iter().map(input).collect::<Vec<_>>() }),
            );
            let answer = match self.upstream.send(target, &call, error::classify).await {
                Ok(reply) => reply.json::<model::Results>(Provider::Hubspot, call.op)?,
                Err(e) if e.kind == ErrorKind::Invalid => {
                    out.extend(chunk.iter().map(|_| Err(e.message.clone())));
                    continue;
                }
                Err(e) => return Err(e),
            };
            // Results come in no promised order: each goes to the first unanswered input whose
            // properties it carries.
            let mut outcomes: Vec<Option<Created>> = vec![None; chunk.len()];
            let written: Vec<Map<String, Value>> = chunk.iter().map(properties).collect();
            for raw in answer.results {
                let Some(record) = map::record(first.object(), raw) else {
                    continue;
                };
                let carries = |props: &Map<String, Value>| {
                    props.iter().all(|(k, v)| {
                        let stored = record
                            .raw
                            .value()
                            .pointer(&format!("/properties/{k}"))
                            .and_then(Value::as_str);
                        stored
                            .zip(v.as_str())
                            .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b) || numbers_equal(a, b))
                    })
                };
                if let Some(i) =
                    (0..chunk.len()).find(|i| outcomes[*i].is_none() && carries(&written[*i]))
                {
                    outcomes[i] = Some(Ok(record));
                }
            }
            out.extend(
                outcomes
                    .into_iter()
                    .map(|o| o.unwrap_or_else(|| Err("not created".into()))),
            );
        }
        Ok(out)
    }
}

/// HubSpot may write `1000` back as `1000.0`, and dates in another notation.
fn numbers_equal(a: &str, b: &str) -> bool {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => matches!(
            (chrono::DateTime::parse_from_rfc3339(a), chrono::DateTime::parse_from_rfc3339(b)),
            (Ok(x), Ok(y)) if x == y
        ),
    }
}
