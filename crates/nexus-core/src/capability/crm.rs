//! The CRM capability (HubSpot, Salesforce).

use std::collections::HashMap;

use async_trait::async_trait;

use crate::{
    ProviderError, Target,
    records::{
        ListPage, Record,
        crm::{
            Created, CrmData, CrmObject, CrmWrite, FieldInfo, IdPage, ListRequest, ModifiedPage,
            ModifiedRequest,
        },
    },
};

/// A CRM: lists, reads and writes of the unified CRM types, and the sync's two hooks.
#[async_trait]
pub trait Crm: Send + Sync {
    /// One page of a list, newest first, filters pushed down.
    async fn list(
        &self,
        target: Target,
        request: &ListRequest,
    ) -> Result<ListPage<CrmData>, ProviderError>;

    /// Records of one type by their provider ids; ids the provider lacks are absent.
    async fn get_many(
        &self,
        target: Target,
        object: CrmObject,
        ids: &[String],
    ) -> Result<Vec<Record<CrmData>>, ProviderError>;

    /// The ids of `to` records related to each `from` record, where the relation is not a
    /// field of `from` (HubSpot associations; Salesforce contact roles and account children).
    async fn associated(
        &self,
        target: Target,
        from: CrmObject,
        to: CrmObject,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<String>>, ProviderError>;

    async fn create(
        &self,
        target: Target,
        write: &CrmWrite,
    ) -> Result<Record<CrmData>, ProviderError>;

    async fn update(
        &self,
        target: Target,
        id: &str,
        write: &CrmWrite,
    ) -> Result<Record<CrmData>, ProviderError>;

    /// Creates records of one type, each succeeding or failing on its own where the provider
    /// allows (Salesforce); HubSpot's batches succeed or fail whole.
    async fn create_many(
        &self,
        target: Target,
        writes: &[CrmWrite],
    ) -> Result<Vec<Created>, ProviderError>;

    /// The fields records of `object` have at this connection, standard and custom, as the CRM
    /// describes them (an adapter keeps the list for the catalog's `fields` cache lifetime).
    async fn fields(
        &self,
        target: Target,
        object: CrmObject,
    ) -> Result<std::sync::Arc<Vec<FieldInfo>>, ProviderError>;

    /// Sync hook: one page of the records of one type modified since a time, in (modification
    /// time, id) order (see [`ModifiedRequest`]).
    async fn modified(
        &self,
        target: Target,
        request: &ModifiedRequest,
    ) -> Result<ModifiedPage, ProviderError>;

    /// Sync hook: one page of the ids of every live record of `object`, after the cursor of the
    /// last (the reconciliation's listing, which tells deletions apart).
    async fn ids(
        &self,
        target: Target,
        object: CrmObject,
        after: Option<&str>,
    ) -> Result<IdPage, ProviderError>;
}
