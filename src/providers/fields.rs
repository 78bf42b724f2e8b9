//! A connection's CRM field lists (Salesforce describe, HubSpot properties), kept across
//! requests for the catalog's `fields` cache lifetime: the adapters read custom fields through
//! them (a list's SELECT or `properties` names the connection's custom fields), and the schema
//! checks `customFields` against them before any write.

use std::sync::Arc;

use crate::{
    auth::Tenant,
    providers::crm::{CrmObject, FieldInfo},
    upstream::{Cache, ProviderError, Target},
};

/// Field lists per (tenant, type), one per provider (clones share entries).
#[derive(Clone)]
pub struct FieldCache {
    inner: Cache<(Tenant, CrmObject), Arc<Vec<FieldInfo>>>,
}

impl Default for FieldCache {
    fn default() -> Self {
        Self {
            inner: Cache::new("fields"),
        }
    }
}

impl FieldCache {
    /// The connection's fields of `object`, loaded by `load` when not kept; concurrent misses
    /// share one load, and a failed load is not kept.
    pub async fn get_or_load(
        &self,
        target: Target,
        object: CrmObject,
        load: impl Future<Output = Result<Vec<FieldInfo>, ProviderError>>,
    ) -> Result<Arc<Vec<FieldInfo>>, ProviderError> {
        self.inner
            .try_get_with(target.provider, (target.tenant, object), async {
                load.await.map(Arc::new)
            })
            .await
            .map_err(|e| (*e).clone())
    }
}

/// The names of the custom fields among `fields`.
pub fn custom_names(fields: &[FieldInfo]) -> Vec<String> {
    fields
        .iter()
        .filter(|f| f.custom)
        .map(|f| f.name.clone())
        .collect()
}
