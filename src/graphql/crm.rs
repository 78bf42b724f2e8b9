//! CRM records — contacts, leads, deals, companies — as Salesforce and HubSpot hold them.

use async_graphql::{
    ComplexObject, Context, ID, InputObject, Json, Object, Result, SimpleObject, connection::Edge,
};
use chrono::{DateTime, Utc};
use nexus_core::records::Raw;

use crate::providers::{
    Provider,
    crm::{
        self, ContactWrite, CrmData, CrmFilter, CrmObject, CrmWrite, CustomFields, DealWrite,
        LeadWrite, Record, full_name,
    },
};

use nexus_core::Target;

use super::{
    calendar::Event,
    chat::Message,
    fields,
    freshness::{DataSource, Fetched, MaxAge},
    ids::GlobalId,
    lists::{MergedCursor, MergedPage, PageArgs, crm_page},
    mail::Email,
    relations::{related, related_page},
    types::{Date, Money, ProviderEnum},
    validate,
    writes::{OnceKey, crm_once, crm_target, same_provider},
};

type Page<T> = async_graphql::connection::Connection<MergedCursor, T>;

/// A person at a customer, from a CRM.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct Contact {
    #[graphql(skip)]
    pub origin: Provider,
    pub remote_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The provider's payload as it came, for fields the unified model lacks.
    pub raw: Json<Raw>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub name: String,
    /// The primary address.
    pub email: Option<String>,
    pub email_addresses: Vec<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
    /// The company's id where the record names it (Salesforce `AccountId`).
    #[graphql(skip)]
    pub company_id: Option<String>,
    #[graphql(skip)]
    pub fetched: Fetched,
}

#[ComplexObject]
impl Contact {
    pub async fn id(&self) -> ID {
        GlobalId::for_record("Contact", self.origin, &self.remote_id)
    }
    /// When this record was known to be as shown: when the provider answered (`LIVE`), when
    /// the cached answer was fetched (`CACHED`), or the copy's as-of time (`SYNCED`).
    async fn fetched_at(&self) -> DateTime<Utc> {
        self.fetched.at
    }
    /// Where this record came from.
    async fn source(&self) -> DataSource {
        self.fetched.source
    }
    async fn provider(&self) -> ProviderEnum {
        self.origin.into()
    }
    /// One field of the provider's record by its provider name (Salesforce `Industry` or a custom
    /// `Tier__c`, HubSpot `lifecyclestage` or a custom property); null when absent.
    async fn field(&self, name: String) -> Option<Json<serde_json::Value>> {
        raw_field(&self.raw.0, &name)
    }
    /// The contact's company (Salesforce `AccountId`, HubSpot's primary association).
    async fn company(&self, ctx: &Context<'_>) -> Result<Option<Company>> {
        let from = (CrmObject::Contact, self.remote_id.as_str());
        let record = related(
            ctx,
            (self.origin, self.fetched.max_age),
            from,
            self.company_id.as_deref(),
            CrmObject::Company,
        )
        .await?;
        Ok(record.and_then(|(r, f)| company(CrmNode::from_record(r, f))))
    }
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn deals(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<Deal>> {
        let page = PageArgs::parse(first, after)?.within(self.fetched.max_age);
        let from = (CrmObject::Contact, self.remote_id.as_str());
        let page = related_page(ctx, self.origin, from, CrmObject::Deal, page).await?;
        Ok(connection(page, deal))
    }
    /// Mail from or to this contact, from Gmail and Outlook.
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn emails(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<Email>> {
        let address = self
            .email
            .as_deref()
            .or(self.email_addresses.first().map(String::as_str));
        let page = PageArgs::parse(first, after)?.within(self.fetched.max_age);
        super::mail::contact_emails(ctx, address, page).await
    }
    /// Events this contact attends.
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<Event>> {
        let page = PageArgs::parse(first, after)?.within(self.fetched.max_age);
        super::calendar::attended(ctx, self.email.as_deref(), page).await
    }
    /// Slack and Teams messages by the user with this contact's email.
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<Message>> {
        let page = PageArgs::parse(first, after)?.within(self.fetched.max_age);
        match self.email.as_deref() {
            Some(email) => super::chat::contact_messages(ctx, email, page).await,
            None => Ok(Page::new(false, false)),
        }
    }
}

/// A prospect not yet qualified (Salesforce Lead).
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct Lead {
    #[graphql(skip)]
    pub origin: Provider,
    pub remote_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub raw: Json<Raw>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub name: String,
    pub email: Option<String>,
    pub company: Option<String>,
    pub title: Option<String>,
    pub status: Option<String>,
    /// Where the lead came from (Salesforce `LeadSource`).
    pub lead_source: Option<String>,
    #[graphql(skip)]
    pub converted_contact_id: Option<String>,
    #[graphql(skip)]
    pub fetched: Fetched,
}

#[ComplexObject]
impl Lead {
    pub async fn id(&self) -> ID {
        GlobalId::for_record("Lead", self.origin, &self.remote_id)
    }
    /// When this record was known to be as shown: when the provider answered (`LIVE`), when
    /// the cached answer was fetched (`CACHED`), or the copy's as-of time (`SYNCED`).
    async fn fetched_at(&self) -> DateTime<Utc> {
        self.fetched.at
    }
    /// Where this record came from.
    async fn source(&self) -> DataSource {
        self.fetched.source
    }
    async fn provider(&self) -> ProviderEnum {
        self.origin.into()
    }
    /// One field of the provider's record by its provider name (Salesforce `Industry` or a custom
    /// `Tier__c`, HubSpot `lifecyclestage` or a custom property); null when absent.
    async fn field(&self, name: String) -> Option<Json<serde_json::Value>> {
        raw_field(&self.raw.0, &name)
    }
    /// The contact a converted lead became.
    async fn converted_contact(&self, ctx: &Context<'_>) -> Result<Option<Contact>> {
        let Some(id) = self.converted_contact_id.as_deref() else {
            return Ok(None);
        };
        let from = (CrmObject::Lead, self.remote_id.as_str());
        let scope = (self.origin, self.fetched.max_age);
        let record = related(ctx, scope, from, Some(id), CrmObject::Contact).await?;
        Ok(record.and_then(|(r, f)| contact(CrmNode::from_record(r, f))))
    }
}

/// Whether a deal is still open, won or lost.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "crate::providers::crm::DealStatus")]
pub enum DealStatus {
    Open,
    Won,
    Lost,
}

/// An opportunity to sell (Salesforce Opportunity, HubSpot deal).
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct Deal {
    #[graphql(skip)]
    pub origin: Provider,
    pub remote_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub raw: Json<Raw>,
    pub name: String,
    pub amount: Option<Money>,
    pub stage: Option<String>,
    pub status: DealStatus,
    pub close_date: Option<Date>,
    #[graphql(skip)]
    pub company_id: Option<String>,
    #[graphql(skip)]
    pub fetched: Fetched,
}

#[ComplexObject]
impl Deal {
    pub async fn id(&self) -> ID {
        GlobalId::for_record("Deal", self.origin, &self.remote_id)
    }
    /// When this record was known to be as shown: when the provider answered (`LIVE`), when
    /// the cached answer was fetched (`CACHED`), or the copy's as-of time (`SYNCED`).
    async fn fetched_at(&self) -> DateTime<Utc> {
        self.fetched.at
    }
    /// Where this record came from.
    async fn source(&self) -> DataSource {
        self.fetched.source
    }
    async fn provider(&self) -> ProviderEnum {
        self.origin.into()
    }
    /// One field of the provider's record by its provider name (Salesforce `Industry` or a custom
    /// `Tier__c`, HubSpot `lifecyclestage` or a custom property); null when absent.
    async fn field(&self, name: String) -> Option<Json<serde_json::Value>> {
        raw_field(&self.raw.0, &name)
    }
    /// The deal's company (Salesforce `AccountId`, HubSpot's associated company).
    async fn company(&self, ctx: &Context<'_>) -> Result<Option<Company>> {
        let from = (CrmObject::Deal, self.remote_id.as_str());
        let record = related(
            ctx,
            (self.origin, self.fetched.max_age),
            from,
            self.company_id.as_deref(),
            CrmObject::Company,
        )
        .await?;
        Ok(record.and_then(|(r, f)| company(CrmNode::from_record(r, f))))
    }
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<Contact>> {
        let page = PageArgs::parse(first, after)?.within(self.fetched.max_age);
        let from = (CrmObject::Deal, self.remote_id.as_str());
        let page = related_page(ctx, self.origin, from, CrmObject::Contact, page).await?;
        Ok(connection(page, contact))
    }
}

/// An organisation (Salesforce Account, HubSpot company).
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct Company {
    #[graphql(skip)]
    pub origin: Provider,
    pub remote_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub raw: Json<Raw>,
    pub name: String,
    pub domain: Option<String>,
    pub industry: Option<String>,
    pub website: Option<String>,
    #[graphql(skip)]
    pub fetched: Fetched,
}

#[ComplexObject]
impl Company {
    pub async fn id(&self) -> ID {
        GlobalId::for_record("Company", self.origin, &self.remote_id)
    }
    /// When this record was known to be as shown: when the provider answered (`LIVE`), when
    /// the cached answer was fetched (`CACHED`), or the copy's as-of time (`SYNCED`).
    async fn fetched_at(&self) -> DateTime<Utc> {
        self.fetched.at
    }
    /// Where this record came from.
    async fn source(&self) -> DataSource {
        self.fetched.source
    }
    async fn provider(&self) -> ProviderEnum {
        self.origin.into()
    }
    /// One field of the provider's record by its provider name (Salesforce `Industry` or a custom
    /// `Tier__c`, HubSpot `lifecyclestage` or a custom property); null when absent.
    async fn field(&self, name: String) -> Option<Json<serde_json::Value>> {
        raw_field(&self.raw.0, &name)
    }
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<Contact>> {
        let page = PageArgs::parse(first, after)?.within(self.fetched.max_age);
        let from = (CrmObject::Company, self.remote_id.as_str());
        let page = related_page(ctx, self.origin, from, CrmObject::Contact, page).await?;
        Ok(connection(page, contact))
    }
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn deals(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<Deal>> {
        let page = PageArgs::parse(first, after)?.within(self.fetched.max_age);
        let from = (CrmObject::Company, self.remote_id.as_str());
        let page = related_page(ctx, self.origin, from, CrmObject::Deal, page).await?;
        Ok(connection(page, deal))
    }
}

/// A field of a provider record: Salesforce keeps fields at the top, HubSpot in `properties`.
fn raw_field(raw: &Raw, name: &str) -> Option<Json<serde_json::Value>> {
    raw.get(name)
        .or_else(|| raw.get("properties").and_then(|p| p.get(name)))
        .filter(|v| !v.is_null())
        .cloned()
        .map(Json)
}

impl Contact {
    pub fn from_record(r: Record<crm::Contact>, fetched: Fetched) -> Self {
        Self {
            fetched,
            origin: r.provider,
            name: full_name(r.data.first_name.as_deref(), r.data.last_name.as_deref()),
            remote_id: r.remote_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
            raw: Json(r.raw),
            first_name: r.data.first_name,
            last_name: r.data.last_name,
            email: r.data.email,
            email_addresses: r.data.email_addresses,
            phone: r.data.phone,
            title: r.data.title,
            company_id: r.data.company_id,
        }
    }
}

impl Lead {
    pub fn from_record(r: Record<crm::Lead>, fetched: Fetched) -> Self {
        Self {
            fetched,
            origin: r.provider,
            name: full_name(r.data.first_name.as_deref(), r.data.last_name.as_deref()),
            remote_id: r.remote_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
            raw: Json(r.raw),
            first_name: r.data.first_name,
            last_name: r.data.last_name,
            email: r.data.email,
            company: r.data.company,
            title: r.data.title,
            status: r.data.status,
            lead_source: r.data.source,
            converted_contact_id: r.data.converted_contact_id,
        }
    }
}

impl Deal {
    pub fn from_record(r: Record<crm::Deal>, fetched: Fetched) -> Self {
        Self {
            fetched,
            origin: r.provider,
            remote_id: r.remote_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
            raw: Json(r.raw),
            name: r.data.name,
            amount: r
                .data
                .amount
                .map(|(amount, currency)| Money { amount, currency }),
            stage: r.data.stage,
            status: r.data.status.into(),
            close_date: r.data.close_date.map(Date),
            company_id: r.data.company_id,
        }
    }
}

impl Company {
    pub fn from_record(r: Record<crm::Company>, fetched: Fetched) -> Self {
        Self {
            fetched,
            origin: r.provider,
            remote_id: r.remote_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
            raw: Json(r.raw),
            name: r.data.name,
            domain: r.data.domain,
            industry: r.data.industry,
            website: r.data.website,
        }
    }
}

/// Any unified CRM record as its GraphQL type.
pub enum CrmNode {
    Contact(Contact),
    Lead(Lead),
    Deal(Deal),
    Company(Company),
}

impl CrmNode {
    pub fn from_record(record: Record<CrmData>, fetched: Fetched) -> Self {
        let (record, data) = record.split();
        match data {
            CrmData::Contact(d) => CrmNode::Contact(Contact::from_record(record.with(d), fetched)),
            CrmData::Lead(d) => CrmNode::Lead(Lead::from_record(record.with(d), fetched)),
            CrmData::Deal(d) => CrmNode::Deal(Deal::from_record(record.with(d), fetched)),
            CrmData::Company(d) => CrmNode::Company(Company::from_record(record.with(d), fetched)),
        }
    }
}

/// The GraphQL object of a record of each type (an adapter answers with the type it was asked).
fn lead(node: CrmNode) -> Option<Lead> {
    match node {
        CrmNode::Lead(x) => Some(x),
        _ => None,
    }
}

fn contact(node: CrmNode) -> Option<Contact> {
    match node {
        CrmNode::Contact(x) => Some(x),
        _ => None,
    }
}

fn deal(node: CrmNode) -> Option<Deal> {
    match node {
        CrmNode::Deal(x) => Some(x),
        _ => None,
    }
}

fn company(node: CrmNode) -> Option<Company> {
    match node {
        CrmNode::Company(x) => Some(x),
        _ => None,
    }
}

/// A written record as its GraphQL object (`LIVE`: the provider's answer to the write), given
/// to the synced copy first so that reads from it have the record at once.
async fn written<T>(
    ctx: &Context<'_>,
    target: Target,
    record: Record<CrmData>,
    pick: fn(CrmNode) -> Option<T>,
) -> Result<T> {
    write_through(ctx, target, &record).await;
    pick(CrmNode::from_record(
        record,
        Fetched::live(MaxAge::default()),
    ))
    .ok_or_else(|| super::errors::internal("the provider answered a write with another type"))
}

/// Hands a record the gateway wrote to the synced copy (write-through).
async fn write_through(ctx: &Context<'_>, target: Target, record: &Record<CrmData>) {
    ctx.data_unchecked::<super::AppContext>()
        .read_model
        .written(target, record)
        .await;
}

/// One bulk outcome as (index, the record's object, the provider's reason).
fn outcome<T>(
    (index, result): (i32, Result<Record<CrmData>, String>),
    pick: fn(CrmNode) -> Option<T>,
) -> (i32, Option<T>, Option<String>) {
    match result {
        Ok(record) => {
            let node = CrmNode::from_record(record, Fetched::live(MaxAge::default()));
            (index, pick(node), None)
        }
        Err(error) => (index, None, Some(error)),
    }
}

/// A merged page as a connection of one GraphQL type.
fn connection<T: async_graphql::OutputType>(
    page: MergedPage,
    pick: fn(CrmNode) -> Option<T>,
) -> Page<T> {
    let mut connection = Page::new(page.has_previous, page.has_next);
    connection.edges.extend(
        page.edges
            .into_iter()
            .filter_map(|(cursor, record, fetched)| {
                Some(Edge::new(
                    cursor,
                    pick(CrmNode::from_record(record, fetched))?,
                ))
            }),
    );
    connection
}

#[derive(InputObject, Debug, Default)]
pub struct ContactFilter {
    pub email: Option<String>,
    pub name_contains: Option<String>,
    /// The owner's email (Salesforce OwnerId's user, HubSpot hubspot_owner_id's owner).
    pub owner: Option<String>,
    pub updated_after: Option<DateTime<Utc>>,
    /// Custom fields equal to these values (`{"Tier__c": "Gold"}`), with `providers` naming
    /// one CRM.
    pub custom_fields: Option<Json<serde_json::Value>>,
}

#[derive(InputObject, Debug, Default)]
pub struct LeadFilter {
    /// The owner's email (Salesforce OwnerId's user, HubSpot hubspot_owner_id's owner).
    pub owner: Option<String>,
    pub status: Option<String>,
    pub email: Option<String>,
    pub name_contains: Option<String>,
    pub updated_after: Option<DateTime<Utc>>,
    /// Custom fields equal to these values (`{"Tier__c": "Gold"}`), with `providers` naming
    /// one CRM.
    pub custom_fields: Option<Json<serde_json::Value>>,
}

#[derive(InputObject, Debug, Default)]
pub struct DealFilter {
    /// The owner's email (Salesforce OwnerId's user, HubSpot hubspot_owner_id's owner).
    pub owner: Option<String>,
    pub name_contains: Option<String>,
    pub stage: Option<String>,
    pub status: Option<DealStatus>,
    pub updated_after: Option<DateTime<Utc>>,
    /// Custom fields equal to these values (`{"Tier__c": "Gold"}`), with `providers` naming
    /// one CRM.
    pub custom_fields: Option<Json<serde_json::Value>>,
}

#[derive(InputObject, Debug, Default)]
pub struct CompanyFilter {
    /// The owner's email (Salesforce OwnerId's user, HubSpot hubspot_owner_id's owner).
    pub owner: Option<String>,
    pub name_contains: Option<String>,
    pub domain: Option<String>,
    pub updated_after: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct CrmQuery;

#[Object]
impl CrmQuery {
    /// Contacts across the connected CRMs, newest first. `maxAge`: how old, in seconds, each
    /// CRM's answer from its synced copy may be (0: live; omitted: the CRM's default, 900).
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<ContactFilter>,
        providers: Option<Vec<ProviderEnum>>,
        max_age: Option<i32>,
    ) -> Result<Page<Contact>> {
        let max_age = MaxAge::parse(max_age)?;
        let filter = filter.unwrap_or_default();
        validate::filter_texts(&[("filter.nameContains", filter.name_contains.as_deref())])?;
        if let Some(owner) = filter.owner.as_deref() {
            validate::email("filter.owner", owner)?;
        }
        if let Some(email) = filter.email.as_deref() {
            validate::email("filter.email", email)?;
        }
        let custom = fields::entries("filter.customFields", filter.custom_fields)?;
        let custom =
            fields::for_filter(ctx, CrmObject::Contact, providers.as_deref(), custom).await?;
        let filter = CrmFilter {
            email: filter.email,
            owner: filter.owner,
            name_contains: filter.name_contains,
            updated_after: filter.updated_after,
            custom,
            ..CrmFilter::default()
        };
        let page = PageArgs::parse(first, after)?.within(max_age);
        let page = crm_page(ctx, CrmObject::Contact, providers.as_deref(), filter, page).await?;
        Ok(connection(page, contact))
    }

    /// Leads (Salesforce), newest first. `maxAge` as on `contacts`.
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn leads(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<LeadFilter>,
        providers: Option<Vec<ProviderEnum>>,
        max_age: Option<i32>,
    ) -> Result<Page<Lead>> {
        let max_age = MaxAge::parse(max_age)?;
        let filter = filter.unwrap_or_default();
        validate::filter_texts(&[
            ("filter.nameContains", filter.name_contains.as_deref()),
            ("filter.status", filter.status.as_deref()),
        ])?;
        if let Some(owner) = filter.owner.as_deref() {
            validate::email("filter.owner", owner)?;
        }
        if let Some(email) = filter.email.as_deref() {
            validate::email("filter.email", email)?;
        }
        let custom = fields::entries("filter.customFields", filter.custom_fields)?;
        let custom = fields::for_filter(ctx, CrmObject::Lead, providers.as_deref(), custom).await?;
        let filter = CrmFilter {
            email: filter.email,
            owner: filter.owner,
            name_contains: filter.name_contains,
            updated_after: filter.updated_after,
            stage: filter.status,
            custom,
            ..CrmFilter::default()
        };
        let page = PageArgs::parse(first, after)?.within(max_age);
        let page = crm_page(ctx, CrmObject::Lead, providers.as_deref(), filter, page).await?;
        Ok(connection(page, lead))
    }

    /// Deals (Salesforce opportunities, HubSpot deals), newest first. `maxAge` as on `contacts`.
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn deals(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<DealFilter>,
        providers: Option<Vec<ProviderEnum>>,
        max_age: Option<i32>,
    ) -> Result<Page<Deal>> {
        let max_age = MaxAge::parse(max_age)?;
        let filter = filter.unwrap_or_default();
        validate::filter_texts(&[
            ("filter.nameContains", filter.name_contains.as_deref()),
            ("filter.stage", filter.stage.as_deref()),
        ])?;
        if let Some(owner) = filter.owner.as_deref() {
            validate::email("filter.owner", owner)?;
        }
        let custom = fields::entries("filter.customFields", filter.custom_fields)?;
        let custom = fields::for_filter(ctx, CrmObject::Deal, providers.as_deref(), custom).await?;
        let filter = CrmFilter {
            owner: filter.owner,
            name_contains: filter.name_contains,
            updated_after: filter.updated_after,
            stage: filter.stage,
            deal_status: filter.status.map(Into::into),
            custom,
            ..CrmFilter::default()
        };
        let page = PageArgs::parse(first, after)?.within(max_age);
        let page = crm_page(ctx, CrmObject::Deal, providers.as_deref(), filter, page).await?;
        Ok(connection(page, deal))
    }

    /// Companies (Salesforce accounts, HubSpot companies), newest first. `maxAge` as on
    /// `contacts`.
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn companies(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<CompanyFilter>,
        providers: Option<Vec<ProviderEnum>>,
        max_age: Option<i32>,
    ) -> Result<Page<Company>> {
        let max_age = MaxAge::parse(max_age)?;
        let filter = filter.unwrap_or_default();
        validate::filter_texts(&[
            ("filter.nameContains", filter.name_contains.as_deref()),
            ("filter.domain", filter.domain.as_deref()),
        ])?;
        if let Some(owner) = filter.owner.as_deref() {
            validate::email("filter.owner", owner)?;
        }
        let filter = CrmFilter {
            owner: filter.owner,
            name_contains: filter.name_contains,
            updated_after: filter.updated_after,
            domain: filter.domain,
            ..CrmFilter::default()
        };
        let page = PageArgs::parse(first, after)?.within(max_age);
        let page = crm_page(ctx, CrmObject::Company, providers.as_deref(), filter, page).await?;
        Ok(connection(page, company))
    }
}

#[derive(InputObject, Debug)]
pub struct CreateLeadInput {
    /// Leads live in Salesforce.
    #[graphql(default_with = "ProviderEnum::Salesforce")]
    pub provider: ProviderEnum,
    pub first_name: Option<String>,
    pub last_name: String,
    pub email: Option<String>,
    pub company: String,
    pub title: Option<String>,
    pub status: Option<String>,
    /// Where the lead came from (Salesforce `LeadSource`).
    pub lead_source: Option<String>,
    /// Custom field values by the provider's names (`fields` lists them): checked before any
    /// write; an unknown, standard or read-only field is refused.
    pub custom_fields: Option<Json<serde_json::Value>>,
    /// Repeating a create with the same key returns the first result and creates nothing.
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Debug)]
pub struct UpdateLeadInput {
    pub id: ID,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub title: Option<String>,
    pub status: Option<String>,
    /// Where the lead came from (Salesforce `LeadSource`).
    pub lead_source: Option<String>,
    /// Custom field values by the provider's names (`fields` lists them): checked before any
    /// write; an unknown, standard or read-only field is refused.
    pub custom_fields: Option<Json<serde_json::Value>>,
}

#[derive(InputObject, Debug)]
pub struct CreateContactInput {
    pub provider: ProviderEnum,
    pub first_name: Option<String>,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
    pub company_id: Option<ID>,
    /// Custom field values by the provider's names (`fields` lists them): checked before any
    /// write; an unknown, standard or read-only field is refused.
    pub custom_fields: Option<Json<serde_json::Value>>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Debug)]
pub struct UpdateContactInput {
    pub id: ID,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
    pub company_id: Option<ID>,
    /// Custom field values by the provider's names (`fields` lists them): checked before any
    /// write; an unknown, standard or read-only field is refused.
    pub custom_fields: Option<Json<serde_json::Value>>,
}

#[derive(InputObject, Debug)]
pub struct MoneyInput {
    pub amount: f64,
    pub currency: String,
}

#[derive(InputObject, Debug)]
pub struct CreateDealInput {
    pub provider: ProviderEnum,
    pub name: String,
    pub amount: Option<MoneyInput>,
    pub stage: Option<String>,
    pub close_date: Option<Date>,
    pub company_id: Option<ID>,
    pub contact_ids: Option<Vec<ID>>,
    /// Custom field values by the provider's names (`fields` lists them): checked before any
    /// write; an unknown, standard or read-only field is refused.
    pub custom_fields: Option<Json<serde_json::Value>>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Debug)]
pub struct UpdateDealInput {
    pub id: ID,
    pub name: Option<String>,
    pub amount: Option<MoneyInput>,
    pub stage: Option<String>,
    pub close_date: Option<Date>,
    pub company_id: Option<ID>,
    /// Custom field values by the provider's names (`fields` lists them): checked before any
    /// write; an unknown, standard or read-only field is refused.
    pub custom_fields: Option<Json<serde_json::Value>>,
}

#[derive(SimpleObject)]
pub struct CreateLeadPayload {
    pub lead: Lead,
}

#[derive(SimpleObject)]
pub struct UpdateLeadPayload {
    pub lead: Lead,
}

#[derive(SimpleObject)]
pub struct CreateContactPayload {
    pub contact: Contact,
}

#[derive(SimpleObject)]
pub struct UpdateContactPayload {
    pub contact: Contact,
}

#[derive(SimpleObject)]
pub struct CreateDealPayload {
    pub deal: Deal,
}

#[derive(SimpleObject)]
pub struct UpdateDealPayload {
    pub deal: Deal,
}

fn check_money(field: &str, money: Option<&MoneyInput>) -> Result<()> {
    if let Some(m) = money {
        validate::currency(&format!("{field}.currency"), &m.currency)?;
        if !m.amount.is_finite() {
            return Err(super::errors::bad_input(
                &format!("{field}.amount"),
                "amount must be a finite number",
            ));
        }
    }
    Ok(())
}

/// The company id of a write, checked to be in the provider written to.
fn company_of(provider: Provider, id: Option<&ID>) -> Result<Option<String>> {
    id.map(|id| {
        let record = validate::record_id("input.companyId", id, "Company")?;
        same_provider("input.companyId", provider, &record)?;
        Ok(record.1)
    })
    .transpose()
}

fn lead_write(
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    company: Option<String>,
    title: Option<String>,
    status: Option<String>,
    source: Option<String>,
) -> CrmWrite {
    CrmWrite::Lead(LeadWrite {
        first_name,
        last_name,
        email,
        company,
        title,
        status,
        source,
        custom: CustomFields::new(),
    })
}

/// Checks a write's custom fields against the connection's (before any write call) and puts
/// them in the provider's spelling.
async fn check_custom(
    adapter: &std::sync::Arc<dyn crm::Crm>,
    target: Target,
    path: &str,
    write: &mut CrmWrite,
) -> Result<()> {
    let custom = fields::for_write(adapter, target, write.object(), path, write.custom()).await?;
    write.set_custom(custom);
    Ok(())
}

/// A validated create of a lead.
fn new_lead(field: &str, input: CreateLeadInput) -> Result<(Provider, CrmWrite, Option<String>)> {
    validate::non_empty(&format!("{field}.lastName"), &input.last_name)?;
    validate::non_empty(&format!("{field}.company"), &input.company)?;
    validate::optional_email(&format!("{field}.email"), input.email.as_deref())?;
    let mut write = lead_write(
        input.first_name,
        Some(input.last_name),
        input.email,
        Some(input.company),
        input.title,
        input.status,
        input.lead_source,
    );
    write.set_custom(fields::entries(
        &format!("{field}.customFields"),
        input.custom_fields,
    )?);
    Ok((input.provider.into(), write, input.idempotency_key))
}

/// A validated create of a contact.
fn new_contact(
    field: &str,
    input: CreateContactInput,
) -> Result<(Provider, CrmWrite, Option<String>)> {
    validate::non_empty(&format!("{field}.lastName"), &input.last_name)?;
    validate::optional_email(&format!("{field}.email"), input.email.as_deref())?;
    let provider: Provider = input.provider.into();
    let write = CrmWrite::Contact(ContactWrite {
        first_name: input.first_name,
        last_name: Some(input.last_name),
        email: input.email,
        phone: input.phone,
        title: input.title,
        company_id: company_of(provider, input.company_id.as_ref())?,
        custom: fields::entries(&format!("{field}.customFields"), input.custom_fields)?,
    });
    Ok((provider, write, input.idempotency_key))
}

/// The outcome of one record of a bulk create.
#[derive(SimpleObject)]
pub struct LeadResult {
    /// The input's position in `inputs`.
    pub index: i32,
    pub lead: Option<Lead>,
    /// Why the provider refused this record.
    pub error: Option<String>,
}

#[derive(SimpleObject)]
pub struct ContactResult {
    pub index: i32,
    pub contact: Option<Contact>,
    pub error: Option<String>,
}

#[derive(SimpleObject)]
pub struct CreateLeadsPayload {
    pub results: Vec<LeadResult>,
}

#[derive(SimpleObject)]
pub struct CreateContactsPayload {
    pub results: Vec<ContactResult>,
}

/// Most records one bulk create takes.
const MAX_BULK: usize = 10_000;

/// Creates validated records, grouped by provider (each group in the provider's bulk form);
/// the outcomes come back in input order.
async fn create_all(
    ctx: &Context<'_>,
    object: CrmObject,
    writes: Vec<(Provider, CrmWrite)>,
) -> Result<Vec<(i32, Result<Record<CrmData>, String>)>> {
    if writes.is_empty() || writes.len() > MAX_BULK {
        return Err(super::errors::bad_input(
            "inputs",
            format!("give 1 to {MAX_BULK} records"),
        ));
    }
    let mut groups: std::collections::BTreeMap<Provider, Vec<(usize, CrmWrite)>> =
        Default::default();
    for (i, (provider, write)) in writes.into_iter().enumerate() {
        groups.entry(provider).or_default().push((i, write));
    }
    let mut out = Vec::new();
    for (provider, group) in groups {
        let (adapter, target) = crm_target(ctx, object, provider).await?;
        let (indexes, mut writes): (Vec<usize>, Vec<CrmWrite>) = group.into_iter().unzip();
        for (i, write) in indexes.iter().zip(&mut writes) {
            check_custom(&adapter, target, &format!("inputs.{i}.customFields"), write).await?;
        }
        let created = adapter
            .create_many(target, &writes)
            .await
            .map_err(|e| super::errors::upstream_error(&e))?;
        for record in created.iter().filter_map(|r| r.as_ref().ok()) {
            write_through(ctx, target, record).await;
        }
        out.extend(indexes.into_iter().map(|i| i as i32).zip(created));
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out)
}

/// A CRM write's input, normalized for its idempotency key: the provider and the write as its
/// debug form (every field, in declaration order).
fn crm_input(provider: Provider, write: &CrmWrite) -> serde_json::Value {
    serde_json::json!({ "provider": provider.slug(), "write": format!("{write:?}") })
}

#[derive(Default)]
pub struct CrmMutation;

#[Object]
impl CrmMutation {
    /// Creates a Salesforce lead (sObject Lead POST).
    async fn create_lead(
        &self,
        ctx: &Context<'_>,
        input: CreateLeadInput,
    ) -> Result<CreateLeadPayload> {
        let (provider, mut write, key) = new_lead("input", input)?;
        let (adapter, target) = crm_target(ctx, CrmObject::Lead, provider).await?;
        check_custom(&adapter, target, "input.customFields", &mut write).await?;
        let key = OnceKey::new(
            ctx,
            "createLead",
            key.as_deref(),
            &crm_input(provider, &write),
        )?;
        let record = crm_once(ctx, key, CrmObject::Lead, adapter.create(target, &write)).await?;
        Ok(CreateLeadPayload {
            lead: written(ctx, target, record, lead).await?,
        })
    }

    /// Creates many leads: up to 200 per sObject Collections call, more through Bulk API 2.0;
    /// each record succeeds or fails on its own.
    async fn create_leads(
        &self,
        ctx: &Context<'_>,
        inputs: Vec<CreateLeadInput>,
    ) -> Result<CreateLeadsPayload> {
        let writes = inputs
            .into_iter()
            .enumerate()
            .map(|(i, input)| new_lead(&format!("inputs.{i}"), input).map(|(p, w, _)| (p, w)))
            .collect::<Result<Vec<_>>>()?;
        let results = create_all(ctx, CrmObject::Lead, writes).await?;
        Ok(CreateLeadsPayload {
            results: results
                .into_iter()
                .map(|o| outcome(o, lead))
                .map(|(index, lead, error)| LeadResult { index, lead, error })
                .collect(),
        })
    }

    /// Changes a Salesforce lead (sObject Lead PATCH); fields left out stay as they are.
    async fn update_lead(
        &self,
        ctx: &Context<'_>,
        input: UpdateLeadInput,
    ) -> Result<UpdateLeadPayload> {
        let (provider, id) = validate::record_id("input.id", &input.id, "Lead")?;
        validate::optional_email("input.email", input.email.as_deref())?;
        if let Some(last) = &input.last_name {
            validate::non_empty("input.lastName", last)?;
        }
        let mut write = lead_write(
            input.first_name,
            input.last_name,
            input.email,
            input.company,
            input.title,
            input.status,
            input.lead_source,
        );
        write.set_custom(fields::entries("input.customFields", input.custom_fields)?);
        let (adapter, target) = crm_target(ctx, CrmObject::Lead, provider).await?;
        check_custom(&adapter, target, "input.customFields", &mut write).await?;
        let record = adapter
            .update(target, &id, &write)
            .await
            .map_err(|e| super::errors::upstream_error(&e))?;
        Ok(UpdateLeadPayload {
            lead: written(ctx, target, record, lead).await?,
        })
    }

    /// Creates a contact in either CRM.
    async fn create_contact(
        &self,
        ctx: &Context<'_>,
        input: CreateContactInput,
    ) -> Result<CreateContactPayload> {
        let (provider, mut write, key) = new_contact("input", input)?;
        let (adapter, target) = crm_target(ctx, CrmObject::Contact, provider).await?;
        check_custom(&adapter, target, "input.customFields", &mut write).await?;
        let key = OnceKey::new(
            ctx,
            "createContact",
            key.as_deref(),
            &crm_input(provider, &write),
        )?;
        let record = crm_once(ctx, key, CrmObject::Contact, adapter.create(target, &write)).await?;
        Ok(CreateContactPayload {
            contact: written(ctx, target, record, contact).await?,
        })
    }

    /// Creates many contacts: Salesforce through Collections or Bulk API 2.0, HubSpot through
    /// batch create (100 per call, each call all or nothing).
    async fn create_contacts(
        &self,
        ctx: &Context<'_>,
        inputs: Vec<CreateContactInput>,
    ) -> Result<CreateContactsPayload> {
        let writes = inputs
            .into_iter()
            .enumerate()
            .map(|(i, input)| new_contact(&format!("inputs.{i}"), input).map(|(p, w, _)| (p, w)))
            .collect::<Result<Vec<_>>>()?;
        let results = create_all(ctx, CrmObject::Contact, writes).await?;
        Ok(CreateContactsPayload {
            results: results
                .into_iter()
                .map(|o| outcome(o, contact))
                .map(|(index, contact, error)| ContactResult {
                    index,
                    contact,
                    error,
                })
                .collect(),
        })
    }

    /// Changes a contact; fields left out stay as they are.
    async fn update_contact(
        &self,
        ctx: &Context<'_>,
        input: UpdateContactInput,
    ) -> Result<UpdateContactPayload> {
        let (provider, id) = validate::record_id("input.id", &input.id, "Contact")?;
        validate::optional_email("input.email", input.email.as_deref())?;
        if let Some(last) = &input.last_name {
            validate::non_empty("input.lastName", last)?;
        }
        let mut write = CrmWrite::Contact(ContactWrite {
            first_name: input.first_name,
            last_name: input.last_name,
            email: input.email,
            phone: input.phone,
            title: input.title,
            company_id: company_of(provider, input.company_id.as_ref())?,
            custom: fields::entries("input.customFields", input.custom_fields)?,
        });
        let (adapter, target) = crm_target(ctx, CrmObject::Contact, provider).await?;
        check_custom(&adapter, target, "input.customFields", &mut write).await?;
        let record = adapter
            .update(target, &id, &write)
            .await
            .map_err(|e| super::errors::upstream_error(&e))?;
        Ok(UpdateContactPayload {
            contact: written(ctx, target, record, contact).await?,
        })
    }

    /// Creates a deal (HubSpot deal, Salesforce Opportunity) with its company and contacts.
    async fn create_deal(
        &self,
        ctx: &Context<'_>,
        input: CreateDealInput,
    ) -> Result<CreateDealPayload> {
        validate::non_empty("input.name", &input.name)?;
        check_money("input.amount", input.amount.as_ref())?;
        let provider: Provider = input.provider.into();
        let Some(stage) = input.stage.filter(|s| !s.trim().is_empty()) else {
            return Err(super::errors::bad_input(
                "input.stage",
                "a deal needs its stage",
            ));
        };
        if provider == Provider::Salesforce && input.close_date.is_none() {
            return Err(super::errors::bad_input(
                "input.closeDate",
                "a Salesforce opportunity needs its close date",
            ));
        }
        let mut contact_ids = Vec::new();
        for id in input.contact_ids.iter().flatten() {
            let record = validate::record_id("input.contactIds", id, "Contact")?;
            same_provider("input.contactIds", provider, &record)?;
            contact_ids.push(record.1);
        }
        let mut write = CrmWrite::Deal(DealWrite {
            name: Some(input.name),
            amount: input.amount.map(|m| (m.amount, m.currency.to_uppercase())),
            stage: Some(stage),
            close_date: input.close_date.map(|d| d.0),
            company_id: company_of(provider, input.company_id.as_ref())?,
            contact_ids,
            custom: fields::entries("input.customFields", input.custom_fields)?,
        });
        let (adapter, target) = crm_target(ctx, CrmObject::Deal, provider).await?;
        check_custom(&adapter, target, "input.customFields", &mut write).await?;
        let key = OnceKey::new(
            ctx,
            "createDeal",
            input.idempotency_key.as_deref(),
            &crm_input(provider, &write),
        )?;
        let record = crm_once(ctx, key, CrmObject::Deal, adapter.create(target, &write)).await?;
        Ok(CreateDealPayload {
            deal: written(ctx, target, record, deal).await?,
        })
    }

    /// Changes a deal; fields left out stay as they are.
    async fn update_deal(
        &self,
        ctx: &Context<'_>,
        input: UpdateDealInput,
    ) -> Result<UpdateDealPayload> {
        let (provider, id) = validate::record_id("input.id", &input.id, "Deal")?;
        check_money("input.amount", input.amount.as_ref())?;
        if let Some(name) = &input.name {
            validate::non_empty("input.name", name)?;
        }
        let mut write = CrmWrite::Deal(DealWrite {
            name: input.name,
            amount: input.amount.map(|m| (m.amount, m.currency.to_uppercase())),
            stage: input.stage,
            close_date: input.close_date.map(|d| d.0),
            company_id: company_of(provider, input.company_id.as_ref())?,
            contact_ids: Vec::new(),
            custom: fields::entries("input.customFields", input.custom_fields)?,
        });
        let (adapter, target) = crm_target(ctx, CrmObject::Deal, provider).await?;
        check_custom(&adapter, target, "input.customFields", &mut write).await?;
        let record = adapter
            .update(target, &id, &write)
            .await
            .map_err(|e| super::errors::upstream_error(&e))?;
        Ok(UpdateDealPayload {
            deal: written(ctx, target, record, deal).await?,
        })
    }
}
