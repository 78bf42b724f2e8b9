//! CRM records — contacts, leads, deals, companies — as Salesforce and HubSpot hold them.

use async_graphql::{ComplexObject, Context, ID, InputObject, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::providers::{Capability, Provider};

use super::{
    comms::{Email, Event, Message},
    ids::GlobalId,
    lists::{MergedCursor, PageArgs, merged, no_adapter, write_target},
    types::{Date, Money, ProviderEnum},
    validate,
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
    pub raw: Json<serde_json::Value>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub name: String,
    /// The primary address.
    pub email: Option<String>,
    pub email_addresses: Vec<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
}

#[ComplexObject]
impl Contact {
    pub async fn id(&self) -> ID {
        GlobalId::for_record("Contact", self.origin, &self.remote_id)
    }
    async fn provider(&self) -> ProviderEnum {
        self.origin.into()
    }
    async fn company(&self) -> Result<Option<Company>> {
        Err(no_adapter(self.origin))
    }
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn deals(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<Deal>> {
        merged(
            ctx,
            Capability::Deals,
            Some(&[self.origin.into()]),
            PageArgs::parse(first, after)?,
        )
        .await
    }
    /// Mail from or to this contact, from Gmail and Outlook.
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn emails(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<Email>> {
        merged(
            ctx,
            Capability::Emails,
            None,
            PageArgs::parse(first, after)?,
        )
        .await
    }
    /// Events this contact attends.
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<Event>> {
        merged(
            ctx,
            Capability::Events,
            None,
            PageArgs::parse(first, after)?,
        )
        .await
    }
    /// Slack and Teams messages by the user with this contact's email.
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<Message>> {
        merged(
            ctx,
            Capability::Messages,
            None,
            PageArgs::parse(first, after)?,
        )
        .await
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
    pub raw: Json<serde_json::Value>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub name: String,
    pub email: Option<String>,
    pub company: Option<String>,
    pub title: Option<String>,
    pub status: Option<String>,
    /// Where the lead came from (Salesforce `LeadSource`).
    pub source: Option<String>,
}

#[ComplexObject]
impl Lead {
    pub async fn id(&self) -> ID {
        GlobalId::for_record("Lead", self.origin, &self.remote_id)
    }
    async fn provider(&self) -> ProviderEnum {
        self.origin.into()
    }
    async fn converted_contact(&self) -> Result<Option<Contact>> {
        Err(no_adapter(self.origin))
    }
}

/// Whether a deal is still open, won or lost.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
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
    pub raw: Json<serde_json::Value>,
    pub name: String,
    pub amount: Option<Money>,
    pub stage: Option<String>,
    pub status: DealStatus,
    pub close_date: Option<Date>,
}

#[ComplexObject]
impl Deal {
    pub async fn id(&self) -> ID {
        GlobalId::for_record("Deal", self.origin, &self.remote_id)
    }
    async fn provider(&self) -> ProviderEnum {
        self.origin.into()
    }
    async fn company(&self) -> Result<Option<Company>> {
        Err(no_adapter(self.origin))
    }
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<Contact>> {
        merged(
            ctx,
            Capability::Contacts,
            Some(&[self.origin.into()]),
            PageArgs::parse(first, after)?,
        )
        .await
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
    pub raw: Json<serde_json::Value>,
    pub name: String,
    pub domain: Option<String>,
    pub industry: Option<String>,
    pub website: Option<String>,
}

#[ComplexObject]
impl Company {
    pub async fn id(&self) -> ID {
        GlobalId::for_record("Company", self.origin, &self.remote_id)
    }
    async fn provider(&self) -> ProviderEnum {
        self.origin.into()
    }
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<Contact>> {
        merged(
            ctx,
            Capability::Contacts,
            Some(&[self.origin.into()]),
            PageArgs::parse(first, after)?,
        )
        .await
    }
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn deals(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<Deal>> {
        merged(
            ctx,
            Capability::Deals,
            Some(&[self.origin.into()]),
            PageArgs::parse(first, after)?,
        )
        .await
    }
}

#[derive(InputObject, Debug, Default)]
pub struct ContactFilter {
    pub email: Option<String>,
    pub name_contains: Option<String>,
    /// The owner's email (Salesforce OwnerId's user, HubSpot hubspot_owner_id's owner).
    pub owner: Option<String>,
    pub updated_after: Option<DateTime<Utc>>,
}

#[derive(InputObject, Debug, Default)]
pub struct LeadFilter {
    pub status: Option<String>,
    pub email: Option<String>,
    pub name_contains: Option<String>,
    pub updated_after: Option<DateTime<Utc>>,
}

#[derive(InputObject, Debug, Default)]
pub struct DealFilter {
    pub stage: Option<String>,
    pub status: Option<DealStatus>,
    pub updated_after: Option<DateTime<Utc>>,
}

#[derive(InputObject, Debug, Default)]
pub struct CompanyFilter {
    pub name_contains: Option<String>,
    pub domain: Option<String>,
    pub updated_after: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct CrmQuery;

#[Object]
impl CrmQuery {
    /// Contacts across the connected CRMs, newest first.
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<ContactFilter>,
        providers: Option<Vec<ProviderEnum>>,
    ) -> Result<Page<Contact>> {
        if let Some(email) = filter.as_ref().and_then(|f| f.email.as_deref()) {
            validate::email("filter.email", email)?;
        }
        merged(
            ctx,
            Capability::Contacts,
            providers.as_deref(),
            PageArgs::parse(first, after)?,
        )
        .await
    }

    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn leads(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<LeadFilter>,
        providers: Option<Vec<ProviderEnum>>,
    ) -> Result<Page<Lead>> {
        if let Some(email) = filter.as_ref().and_then(|f| f.email.as_deref()) {
            validate::email("filter.email", email)?;
        }
        merged(
            ctx,
            Capability::Leads,
            providers.as_deref(),
            PageArgs::parse(first, after)?,
        )
        .await
    }

    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn deals(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(name = "filter")] _filter: Option<DealFilter>,
        providers: Option<Vec<ProviderEnum>>,
    ) -> Result<Page<Deal>> {
        merged(
            ctx,
            Capability::Deals,
            providers.as_deref(),
            PageArgs::parse(first, after)?,
        )
        .await
    }

    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn companies(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(name = "filter")] _filter: Option<CompanyFilter>,
        providers: Option<Vec<ProviderEnum>>,
    ) -> Result<Page<Company>> {
        merged(
            ctx,
            Capability::Companies,
            providers.as_deref(),
            PageArgs::parse(first, after)?,
        )
        .await
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
    pub source: Option<String>,
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
    pub source: Option<String>,
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

#[derive(Default)]
pub struct CrmMutation;

#[Object]
impl CrmMutation {
    async fn create_lead(
        &self,
        ctx: &Context<'_>,
        input: CreateLeadInput,
    ) -> Result<CreateLeadPayload> {
        validate::non_empty("input.lastName", &input.last_name)?;
        validate::non_empty("input.company", &input.company)?;
        validate::optional_email("input.email", input.email.as_deref())?;
        match write_target(ctx, Capability::Leads, input.provider.into()).await? {}
    }

    async fn update_lead(
        &self,
        ctx: &Context<'_>,
        input: UpdateLeadInput,
    ) -> Result<UpdateLeadPayload> {
        let provider = validate::record_id("input.id", &input.id, "Lead")?;
        validate::optional_email("input.email", input.email.as_deref())?;
        match write_target(ctx, Capability::Leads, provider).await? {}
    }

    async fn create_contact(
        &self,
        ctx: &Context<'_>,
        input: CreateContactInput,
    ) -> Result<CreateContactPayload> {
        validate::non_empty("input.lastName", &input.last_name)?;
        validate::optional_email("input.email", input.email.as_deref())?;
        if let Some(id) = &input.company_id {
            validate::record_id("input.companyId", id, "Company")?;
        }
        match write_target(ctx, Capability::Contacts, input.provider.into()).await? {}
    }

    async fn update_contact(
        &self,
        ctx: &Context<'_>,
        input: UpdateContactInput,
    ) -> Result<UpdateContactPayload> {
        let provider = validate::record_id("input.id", &input.id, "Contact")?;
        validate::optional_email("input.email", input.email.as_deref())?;
        match write_target(ctx, Capability::Contacts, provider).await? {}
    }

    async fn create_deal(
        &self,
        ctx: &Context<'_>,
        input: CreateDealInput,
    ) -> Result<CreateDealPayload> {
        validate::non_empty("input.name", &input.name)?;
        check_money("input.amount", input.amount.as_ref())?;
        for id in input.contact_ids.iter().flatten() {
            validate::record_id("input.contactIds", id, "Contact")?;
        }
        match write_target(ctx, Capability::Deals, input.provider.into()).await? {}
    }

    async fn update_deal(
        &self,
        ctx: &Context<'_>,
        input: UpdateDealInput,
    ) -> Result<UpdateDealPayload> {
        let provider = validate::record_id("input.id", &input.id, "Deal")?;
        check_money("input.amount", input.amount.as_ref())?;
        match write_target(ctx, Capability::Deals, provider).await? {}
    }
}
