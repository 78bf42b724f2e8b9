//! One pass at a time per connection and resource. A pass reads its checkpoint and the hashes
//! of what it saw last, then appends what differs: two passes over the same resource at once
//! (a nudge from a webhook while the timer's pass runs) would both see a change as new and
//! log it twice. Each pass takes its resource's turn first and reads its checkpoint after, so
//! the second pass starts where the first one left off. Passes in another process (`nexus
//! sync` beside a running server, a second gateway) are not held back by this; there the
//! checkpoint decides: each page moves it only from where its pass read it (`state::advance`),
//! so the pass that stores second stores nothing and stops. Turns spare that wasted pass.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

use crate::upstream::Target;

/// A connection (user, project, provider) and a resource.
type Key = (Uuid, Uuid, &'static str, &'static str);

#[derive(Clone, Default)]
pub struct Turns {
    locks: Arc<Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>>,
}

impl Turns {
    /// Waits until no other pass over `resource` of `target`'s connection runs; the turn lasts
    /// as long as the guard.
    pub async fn take(&self, target: Target, resource: &'static str) -> OwnedMutexGuard<()> {
        let key = (
            target.tenant.user_id,
            target.tenant.project_id,
            target.provider.slug(),
            resource,
        );
        let lock = self
            .locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(key)
            .or_default()
            .clone();
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::poll;

    use super::*;
    use crate::{auth::Tenant, providers::Provider};

    fn target(provider: Provider) -> Target {
        Target {
            tenant: Tenant {
                user_id: Uuid::nil(),
                project_id: Uuid::nil(),
            },
            provider,
        }
    }

    #[tokio::test]
    async fn a_second_pass_over_a_resource_waits_for_the_first_and_others_do_not() {
        let turns = Turns::default();
        let first = turns.take(target(Provider::Hubspot), "Contact").await;
        let mut waiting = std::pin::pin!(turns.take(target(Provider::Hubspot), "Contact"));
        // Another resource and another connection go ahead.
        drop(turns.take(target(Provider::Hubspot), "Deal").await);
        drop(turns.take(target(Provider::Salesforce), "Contact").await);
        // Polled, it queues behind the first.
        assert!(poll!(&mut waiting).is_pending(), "the second pass waits");
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the second pass goes once the first ends");
    }
}
