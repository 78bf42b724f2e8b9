//! Salesforce as the registry holds it: the [`Crm`] capability, each method the adapter's call
//! of the same name (reads and writes in `mod.rs`, the sync's in `sync.rs`).

use std::collections::HashMap;

use async_trait::async_trait;

use crate::{
    providers::crm::{
        Created, Crm, CrmData, CrmObject, CrmWrite, FieldInfo, IdPage, ListPage, ListRequest,
        ModifiedPage, ModifiedRequest, Record,
    },
    upstream::{ProviderError, Target},
};

use super::SalesforceProvider;

#[async_trait]
impl Crm for SalesforceProvider {
    async fn list(
        &self,
        target: Target,
        request: &ListRequest,
    ) -> Result<ListPage<CrmData>, ProviderError> {
        SalesforceProvider::list(self, target, request).await
    }

    async fn get_many(
        &self,
        target: Target,
        object: CrmObject,
        ids: &[String],
    ) -> Result<Vec<Record<CrmData>>, ProviderError> {
        SalesforceProvider::get_many(self, target, object, ids).await
    }

    async fn associated(
        &self,
        target: Target,
        from: CrmObject,
        to: CrmObject,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<String>>, ProviderError> {
        SalesforceProvider::associated(self, target, from, to, ids).await
    }

    async fn create(
        &self,
        target: Target,
        write: &CrmWrite,
    ) -> Result<Record<CrmData>, ProviderError> {
        SalesforceProvider::create(self, target, write).await
    }

    async fn update(
        &self,
        target: Target,
        id: &str,
        write: &CrmWrite,
    ) -> Result<Record<CrmData>, ProviderError> {
        SalesforceProvider::update(self, target, id, write).await
    }

    async fn create_many(
        &self,
        target: Target,
        writes: &[CrmWrite],
    ) -> Result<Vec<Created>, ProviderError> {
        SalesforceProvider::create_many(self, target, writes).await
    }

    async fn fields(
        &self,
        target: Target,
        object: CrmObject,
    ) -> Result<std::sync::Arc<Vec<FieldInfo>>, ProviderError> {
        SalesforceProvider::fields(self, target, object).await
    }

    async fn modified(
        &self,
        target: Target,
        request: &ModifiedRequest,
    ) -> Result<ModifiedPage, ProviderError> {
        SalesforceProvider::modified(self, target, request).await
    }

    async fn ids(
        &self,
        target: Target,
        object: CrmObject,
        after: Option<&str>,
    ) -> Result<IdPage, ProviderError> {
        SalesforceProvider::ids(self, target, object, after).await
    }
}
