//! The CRM capability: the unified records (contact, lead, deal, company) both CRMs map to, and
//! what a list asks of an adapter. Lists run newest first on keys that never change — created
//! time, then the provider's id — so a `Position` resumes a provider exactly where it stopped,
//! however many records are added or edited in between.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{Capability, Provider};

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
}

/// One provider record, mapped, with the provider's payload as it came.
#[derive(Debug, Clone)]
pub struct Record<T> {
    pub provider: Provider,
    pub remote_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub raw: serde_json::Value,
    pub data: T,
}

impl<T> Record<T> {
    /// Where a list stands after this record.
    pub fn position(&self) -> Position {
        Position {
            created_at: self.created_at,
            remote_id: self.remote_id.clone(),
        }
    }

    /// The record's data apart from the rest, to map each to another type.
    pub fn split(self) -> (Record<()>, T) {
        let Record {
            provider,
            remote_id,
            created_at,
            updated_at,
            raw,
            data,
        } = self;
        let rest = Record {
            provider,
            remote_id,
            created_at,
            updated_at,
            raw,
            data: (),
        };
        (rest, data)
    }

    pub fn with<U>(self, data: U) -> Record<U> {
        Record {
            provider: self.provider,
            remote_id: self.remote_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
            raw: self.raw,
            data,
        }
    }
}

/// A record of any unified CRM type.
#[derive(Debug, Clone)]
pub enum CrmData {
    Contact(Contact),
    Lead(Lead),
    Deal(Deal),
    Company(Company),
}

#[derive(Debug, Clone, Default)]
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

#[derive(Debug, Clone, Default)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DealStatus {
    #[default]
    Open,
    Won,
    Lost,
}

#[derive(Debug, Clone, Default)]
pub struct Deal {
    pub name: String,
    /// Amount and ISO 4217 currency.
    pub amount: Option<(f64, String)>,
    pub stage: Option<String>,
    pub status: DealStatus,
    pub close_date: Option<NaiveDate>,
    pub company_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
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
}

/// A place in a provider's newest-first list: the last record already seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    #[serde(rename = "t")]
    pub created_at: DateTime<Utc>,
    #[serde(rename = "i")]
    pub remote_id: String,
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

/// A provider's page: records newest first (created time, then id, both descending), and
/// whether the provider has more.
#[derive(Debug, Clone)]
pub struct ListPage {
    pub records: Vec<Record<CrmData>>,
    pub more: bool,
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
}

/// One record of a bulk create: the created record, or why the provider refused it.
pub type Created = Result<Record<CrmData>, String>;
