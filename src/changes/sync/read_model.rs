//! The read model (`nexus_core::ReadModel`) over the sync's copy, `synced_records`.
//!
//! Today that table holds what a sync needs to tell created, updated and deleted apart: per
//! project, provider, type and remote id, the hash of the record's payload and when it was seen.
//! It holds no record itself and no relation, and no time the copy of a type was last complete,
//! so nothing can be answered from it exactly: [`SyncedCopy`] answers
//! [`Synced::NotSynced`] to every read, and every read goes live, as before. The [readmodel]
//! issue stores the unified record (and its relations) beside the hash in the same transaction
//! that moves the checkpoint; this type is where those reads then answer `Synced`.

use std::{collections::HashMap, time::Duration};

use async_trait::async_trait;
use nexus_core::{CopyStatus, ReadModel, Synced, Target};

use crate::providers::crm::{CrmData, CrmObject, ListPage, ListRequest, Record};

/// The sync's copy, as a read model: until it stores records, it can answer nothing.
pub struct SyncedCopy;

#[async_trait]
impl ReadModel for SyncedCopy {
    async fn list(
        &self,
        _target: Target,
        _request: &ListRequest,
        _max_age: Duration,
    ) -> Synced<ListPage<CrmData>> {
        Synced::NotSynced
    }

    async fn get_many(
        &self,
        _target: Target,
        _object: CrmObject,
        _ids: &[String],
        _max_age: Duration,
    ) -> Synced<Vec<Record<CrmData>>> {
        Synced::NotSynced
    }

    async fn related(
        &self,
        _target: Target,
        _from: CrmObject,
        _to: CrmObject,
        _ids: &[String],
        _max_age: Duration,
    ) -> Synced<HashMap<String, Vec<String>>> {
        Synced::NotSynced
    }

    async fn status(&self, _target: Target) -> Vec<CopyStatus> {
        CrmObject::ALL
            .into_iter()
            .map(|object| CopyStatus {
                object,
                complete: false,
                as_of: None,
            })
            .collect()
    }

    async fn written(&self, _target: Target, _record: &Record<CrmData>) {}
}

#[cfg(test)]
mod tests {
    use nexus_core::{Provider, Tenant};
    use uuid::Uuid;

    use super::*;
    use crate::providers::crm::CrmFilter;

    #[tokio::test]
    async fn a_copy_of_hashes_answers_nothing_and_every_read_goes_live() {
        let target = Target {
            tenant: Tenant {
                user_id: Uuid::new_v4(),
                project_id: Uuid::new_v4(),
            },
            provider: Provider::Hubspot,
        };
        let request = ListRequest {
            object: CrmObject::Contact,
            filter: CrmFilter::default(),
            after: None,
            limit: 20,
        };
        let age = Duration::from_secs(3600);
        let copy = SyncedCopy;
        assert!(matches!(
            copy.list(target, &request, age).await,
            Synced::NotSynced
        ));
        let ids = ["1".to_owned()];
        assert!(matches!(
            copy.get_many(target, CrmObject::Contact, &ids, age).await,
            Synced::NotSynced
        ));
        assert!(matches!(
            copy.related(target, CrmObject::Deal, CrmObject::Contact, &ids, age)
                .await,
            Synced::NotSynced
        ));
    }
}
