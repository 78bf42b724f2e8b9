//! The CRM records: the unified records (contact, lead, deal, company) both CRMs map to, and
//! what a list asks of an adapter. Lists run newest first on keys that never change — created
//! time, then the provider's id — so a `Position` resumes a provider exactly where it stopped,
//! however many records are added or edited in between.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{Order, Position, Record, Sorted};
use crate::Capability;

/// The unified CRM types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CrmObject {
    Contact,
    Lead,
    Deal,
    Company,
}

impl CrmObject {
    /// The unified list of this type.
    pub fn capability(self) -> Capability {
        match self {
            CrmObject::Contact => Capability::Contacts,
            CrmObject::Lead => Capability::Leads,
            CrmObject::Deal => Capability::Deals,
            CrmObject::Company => Capability::Companies,
        }
    }

    /// The unified type's name (`Contact`), as the change log records it.
    pub fn name(self) -> &'static str {
        match self {
            CrmObject::Contact => "Contact",
            CrmObject::Lead => "Lead",
            CrmObject::Deal => "Deal",
            CrmObject::Company => "Company",
        }
    }

    /// Every unified CRM type.
    pub const ALL: [CrmObject; 4] = [
        CrmObject::Contact,
        CrmObject::Lead,
        CrmObject::Deal,
        CrmObject::Company,
    ];
}

/// CRM lists run newest first by created time.
impl Sorted for CrmData {
    const ORDER: Order = Order::NewestFirst;

    fn key(record: &Record<Self>) -> DateTime<Utc> {
        record.created_at
    }
}

/// A record of any unified CRM type.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum CrmData {
    Contact(Contact),
    Lead(Lead),
    Deal(Deal),
    Company(Company),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Contact {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub email_addresses: Vec<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
    /// The remote id of the contact's company (Salesforce AccountId), where the record names it.
    pub company_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Lead {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub title: Option<String>,
    pub status: Option<String>,
    pub source: Option<String>,
    pub converted_contact_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum DealStatus {
    #[default]
    Open,
    Won,
    Lost,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Deal {
    pub name: String,
    /// Amount and ISO 4217 currency.
    pub amount: Option<(f64, String)>,
    pub stage: Option<String>,
    pub status: DealStatus,
    pub close_date: Option<NaiveDate>,
    pub company_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Company {
    pub name: String,
    pub domain: Option<String>,
    pub industry: Option<String>,
    pub website: Option<String>,
}

/// "First Last", or whichever part there is.
pub fn full_name(first: Option<&str>, last: Option<&str>) -> String {
    [first, last]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Filters every CRM can apply at the source. Each list takes the ones that fit its type.
#[derive(Debug, Clone, Default)]
pub struct CrmFilter {
    pub email: Option<String>,
    /// The owning user's email (a CRM user, resolved to the provider's owner id first).
    pub owner: Option<String>,
    pub name_contains: Option<String>,
    pub updated_after: Option<DateTime<Utc>>,
    /// Deal stage, or lead status.
    pub stage: Option<String>,
    pub deal_status: Option<DealStatus>,
    pub domain: Option<String>,
    /// Custom fields equal to these values, by their provider names (checked against the
    /// connection's [`FieldInfo`] list before the adapter sees them).
    pub custom: CustomFields,
}

/// Custom field values by their provider names (Salesforce `Tier__c`, HubSpot `customer_tier`).
pub type CustomFields = serde_json::Map<String, serde_json::Value>;

/// One field of a connection's records, as its CRM describes it (Salesforce describe, HubSpot
/// properties).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldInfo {
    /// The provider's name, as writes and `field(name:)` take it.
    pub name: String,
    pub label: String,
    /// The provider's type (`string`, `picklist`, `double`, `enumeration`, `number`, …).
    pub kind: String,
    /// Whether a client may write it (not a formula, calculated or system field).
    pub writable: bool,
    /// Defined by the customer rather than the CRM.
    pub custom: bool,
}

/// One page of a list, asked of one provider.
#[derive(Debug, Clone)]
pub struct ListRequest {
    pub object: CrmObject,
    pub filter: CrmFilter,
    /// Records strictly after this position (older, or as old with a smaller id).
    pub after: Option<Position>,
    pub limit: usize,
}

/// What a sync asks of a CRM: one page of the records of one type modified since a time, in
/// the order of (modification time, id) ascending, strictly after a position in that order.
#[derive(Debug, Clone)]
pub struct ModifiedRequest {
    pub object: CrmObject,
    /// Records modified at or after this time (the provider's clock); `None` for every record,
    /// an initial load.
    pub since: Option<DateTime<Utc>>,
    /// Records strictly after this (modification time, id).
    pub after: Option<Position>,
    /// A provider-side export under way (a Salesforce Bulk API 2.0 query job), read on from.
    pub export: Option<Export>,
    pub limit: usize,
}

/// Where the reading of a provider-side export stands: the job, and the provider's locator of
/// the next page of its results (`None`: the first page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    pub job: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locator: Option<String>,
}

/// A page of modified records, with where the next one starts.
#[derive(Debug, Clone)]
pub struct ModifiedPage {
    pub records: Vec<Record<CrmData>>,
    /// The greatest (modification time, id) among `records`.
    pub last: Option<Position>,
    /// The export to read on from, while one is being read.
    pub export: Option<Export>,
    /// Whether the provider has more.
    pub more: bool,
}

impl ModifiedPage {
    pub fn empty() -> Self {
        Self {
            records: Vec::new(),
            last: None,
            export: None,
            more: false,
        }
    }
}

/// A page of the ids of every live record of one type (the reconciliation's listing), and the
/// provider's cursor of the next one.
#[derive(Debug, Clone, Default)]
pub struct IdPage {
    pub ids: Vec<String>,
    pub next: Option<String>,
}

/// Fields to write to a record: on create, what the new record gets; on update, only what
/// changes (`None` leaves a field as it is).
#[derive(Debug, Clone)]
pub enum CrmWrite {
    Contact(ContactWrite),
    Lead(LeadWrite),
    Deal(DealWrite),
}

impl CrmWrite {
    /// The write's custom field values.
    pub fn custom(&self) -> &CustomFields {
        match self {
            CrmWrite::Contact(w) => &w.custom,
            CrmWrite::Lead(w) => &w.custom,
            CrmWrite::Deal(w) => &w.custom,
        }
    }

    /// Replaces the write's custom field values.
    pub fn set_custom(&mut self, custom: CustomFields) {
        match self {
            CrmWrite::Contact(w) => w.custom = custom,
            CrmWrite::Lead(w) => w.custom = custom,
            CrmWrite::Deal(w) => w.custom = custom,
        }
    }

    pub fn object(&self) -> CrmObject {
        match self {
            CrmWrite::Contact(_) => CrmObject::Contact,
            CrmWrite::Lead(_) => CrmObject::Lead,
            CrmWrite::Deal(_) => CrmObject::Deal,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ContactWrite {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
    /// The remote id of the contact's company.
    pub company_id: Option<String>,
    /// Custom field values, checked against the connection's field list.
    pub custom: CustomFields,
}

#[derive(Debug, Clone, Default)]
pub struct LeadWrite {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub title: Option<String>,
    pub status: Option<String>,
    pub source: Option<String>,
    /// Custom field values, checked against the connection's field list.
    pub custom: CustomFields,
}

#[derive(Debug, Clone, Default)]
pub struct DealWrite {
    pub name: Option<String>,
    pub amount: Option<(f64, String)>,
    pub stage: Option<String>,
    pub close_date: Option<NaiveDate>,
    pub company_id: Option<String>,
    /// Remote ids of contacts to relate the deal to (on create).
    pub contact_ids: Vec<String>,
    /// Custom field values, checked against the connection's field list.
    pub custom: CustomFields,
}

/// One record of a bulk create: the created record, or why the provider refused it.
pub type Created = Result<Record<CrmData>, String>;
