//! The adapters this build has, by provider and capability.

use std::collections::HashMap;

use crate::upstream::{ProviderError, Target, Upstream};

use super::{
    Provider,
    chat::{ChatAdapter, ChatCaches},
    crm::{Created, CrmData, CrmObject, CrmWrite, ListPage, ListRequest, Record},
    google::GoogleProvider,
    hubspot::HubspotProvider,
    mail::{Mail, MailAdapter, MailCache},
    microsoft::MicrosoftProvider,
    salesforce::SalesforceProvider,
    slack::SlackProvider,
};

/// Every adapter, sharing one upstream stack.
#[derive(Clone)]
pub struct Registry {
    hubspot: HubspotProvider,
    salesforce: SalesforceProvider,
    google: GoogleProvider,
    microsoft: MicrosoftProvider,
    slack: SlackProvider,
    chat: ChatCaches,
    mail_cache: MailCache,
}

/// A CRM adapter.
#[derive(Clone, Copy)]
pub enum CrmAdapter<'a> {
    Hubspot(&'a HubspotProvider),
    Salesforce(&'a SalesforceProvider),
}

impl Registry {
    pub fn new(upstream: Upstream) -> Self {
        Self {
            hubspot: HubspotProvider::new(upstream.clone()),
            salesforce: SalesforceProvider::new(upstream.clone()),
            google: GoogleProvider::new(upstream.clone()),
            microsoft: MicrosoftProvider::new(upstream.clone()),
            slack: SlackProvider::new(upstream),
            chat: ChatCaches::default(),
            mail_cache: MailCache::default(),
        }
    }

    /// Microsoft Graph's adapter, for what is Graph's own (change-notification subscriptions).
    pub fn microsoft(&self) -> &MicrosoftProvider {
        &self.microsoft
    }

    /// Google's adapter, for what is Google's own (Gmail watches, Calendar channels).
    pub fn google(&self) -> &GoogleProvider {
        &self.google
    }

    /// The CRM adapter of `provider`, if it is a CRM this build speaks to.
    pub fn crm(&self, provider: Provider) -> Option<CrmAdapter<'_>> {
        match provider {
            Provider::Hubspot => Some(CrmAdapter::Hubspot(&self.hubspot)),
            Provider::Salesforce => Some(CrmAdapter::Salesforce(&self.salesforce)),
            _ => None,
        }
    }

    /// The calendar adapter of `provider`, if it is a calendar this build speaks to.
    pub fn calendar(&self, provider: Provider) -> Option<super::CalendarAdapter<'_>> {
        match provider {
            Provider::GoogleCalendar => Some(super::CalendarAdapter::Google(&self.google)),
            Provider::Outlook => Some(super::CalendarAdapter::Outlook(&self.microsoft)),
            _ => None,
        }
    }

    /// The chat adapter of `provider`, if it is a chat provider this build speaks to.
    pub fn chat(&self, provider: Provider) -> Option<ChatAdapter<'_>> {
        match provider {
            Provider::Slack => Some(ChatAdapter::Slack(&self.slack, &self.chat)),
            Provider::Teams => Some(ChatAdapter::Teams(&self.microsoft, &self.chat)),
            _ => None,
        }
    }

    /// The mail adapter of `provider` (Gmail, Outlook) behind the shared list cache.
    pub fn mail(&self, provider: Provider) -> Option<Mail<'_>> {
        let adapter = match provider {
            Provider::Gmail => MailAdapter::Gmail(&self.google),
            Provider::Outlook => MailAdapter::Outlook(&self.microsoft),
            _ => return None,
        };
        Some(Mail {
            adapter,
            cache: &self.mail_cache,
        })
    }
}

impl CrmAdapter<'_> {
    pub async fn list(
        &self,
        target: Target,
        request: &ListRequest,
    ) -> Result<ListPage<CrmData>, ProviderError> {
        match self {
            CrmAdapter::Hubspot(a) => a.list(target, request).await,
            CrmAdapter::Salesforce(a) => a.list(target, request).await,
        }
    }

    /// The ids of `to` records related to each `from` record, where the relation is not a
    /// field of `from` (HubSpot associations; Salesforce contact roles and account children).
    pub async fn associated(
        &self,
        target: Target,
        from: CrmObject,
        to: CrmObject,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<String>>, ProviderError> {
        match self {
            CrmAdapter::Hubspot(a) => a.associated(target, from, to, ids).await,
            CrmAdapter::Salesforce(a) => a.associated(target, from, to, ids).await,
        }
    }

    pub async fn get_many(
        &self,
        target: Target,
        object: CrmObject,
        ids: &[String],
    ) -> Result<Vec<Record<CrmData>>, ProviderError> {
        match self {
            CrmAdapter::Hubspot(a) => a.get_many(target, object, ids).await,
            CrmAdapter::Salesforce(a) => a.get_many(target, object, ids).await,
        }
    }

    pub async fn create(
        &self,
        target: Target,
        write: &CrmWrite,
    ) -> Result<Record<CrmData>, ProviderError> {
        match self {
            CrmAdapter::Hubspot(a) => a.create(target, write).await,
            CrmAdapter::Salesforce(a) => a.create(target, write).await,
        }
    }

    pub async fn update(
        &self,
        target: Target,
        id: &str,
        write: &CrmWrite,
    ) -> Result<Record<CrmData>, ProviderError> {
        match self {
            CrmAdapter::Hubspot(a) => a.update(target, id, write).await,
            CrmAdapter::Salesforce(a) => a.update(target, id, write).await,
        }
    }

    /// Creates records of one type, each succeeding or failing on its own where the provider
    /// allows (Salesforce); HubSpot's batches succeed or fail whole.
    pub async fn create_many(
        &self,
        target: Target,
        writes: &[CrmWrite],
    ) -> Result<Vec<Created>, ProviderError> {
        match self {
            CrmAdapter::Hubspot(a) => a.create_many(target, writes).await,
            CrmAdapter::Salesforce(a) => a.create_many(target, writes).await,
        }
    }
}
