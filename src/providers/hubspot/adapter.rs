//! HubSpot as the registry holds it: the [`Crm`] capability, each method the adapter's call of
//! the same name (reads in `mod.rs`, writes in `write.rs`, the sync's in `sync.rs`).

use std::collections::HashMap;

use async_trait::async_trait;

use crate::{
    providers::crm::{
        Created, Crm, CrmData, CrmObject, CrmWrite, FieldInfo, IdPage, ListPage, ListRequest,
        ModifiedPage, ModifiedRequest, Record,
    },
    upstream::{ProviderError, Target},
};

use super::HubspotProvider;

#[async_trait]
impl Crm for HubspotProvider {
    async fn list(
        &self,
        target: Target,
        request: &ListRequest,
    ) -> Result<ListPage<CrmData>, ProviderError> {
        HubspotProvider::list(self, target, request).await
    }

    async fn get_many(
        &self,
        target: Target,
        object: CrmObject,
        ids: &[String],
    ) -> Result<Vec<Record<CrmData>>, ProviderError> {
        HubspotProvider::get_many(self, target, object, ids).await
    }

    async fn associated(
        &self,
        target: Target,
        from: CrmObject,
        to: CrmObject,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<String>>, ProviderError> {
        HubspotProvider::associated(self, target, from, to, ids).await
    }

    async fn create(
        &self,
        target: Target,
        write: &CrmWrite,
    ) -> Result<Record<CrmData>, ProviderError> {
        HubspotProvider::create(self, target, write).await
    }

    async fn update(
        &self,
        target: Target,
        id: &str,
        write: &CrmWrite,
    ) -> Result<Record<CrmData>, ProviderError> {
        HubspotProvider::update(self, target, id, write).await
    }

    async fn create_many(
        &self,
        target: Target,
        writes: &[CrmWrite],
    ) -> Result<Vec<Created>, ProviderError> {
        HubspotProvider::create_many(self, target, writes).await
    }

    async fn fields(
        &self,
        target: Target,
        object: CrmObject,
    ) -> Result<std::sync::Arc<Vec<FieldInfo>>, ProviderError> {
        HubspotProvider::fields(self, target, object).await
    }

    async fn modified(
        &self,
        target: Target,
        request: &ModifiedRequest,
    ) -> Result<ModifiedPage, ProviderError> {
        HubspotProvider::modified(self, target, request).await
    }

    async fn ids(
        &self,
        target: Target,
        object: CrmObject,
        after: Option<&str>,
    ) -> Result<IdPage, ProviderError> {
        HubspotProvider::ids(self, target, object, after).await
    }
}
