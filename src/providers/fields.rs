//! A connection's CRM field lists (Salesforce describe, HubSpot properties), kept across
//! requests for the catalog's `fields` cache lifetime. The schema loads them (`fields`, and the
//! checks of `customFields` before any write or filter); the adapters' reads select the custom
//! fields of a list already kept (a list's SELECT or `properties` names them), so a read never
//! costs an extra call, and a record's custom values come back once its connection's list is
//! known.

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

    /// The connection's fields of `object` when kept, without loading them.
    pub async fn known(&self, target: Target, object: CrmObject) -> Option<Arc<Vec<FieldInfo>>> {
        self.inner
            .get(target.provider, &(target.tenant, object))
            .await
    }
}

/// The names of the custom fields among `fields` (none when the list is not known).
pub fn custom_names(fields: Option<&[FieldInfo]>) -> Vec<String> {
    fields
        .into_iter()
        .flatten()
        .filter(|f| f.custom)
        .map(|f| f.name.clone())
        .collect()
}
