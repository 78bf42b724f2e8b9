//! What the read model keeps in memory between writes to the copy: each type's status and the
//! list pages it answered, decoded, so that a burst of the same reads costs one database read
//! and one decode instead of one each.
//!
//! Every kept answer is stamped with its type's *version* ([`version`]) read before the database
//! was: the tick of the process-wide write clock at which the last write to that type's copy of
//! that connection was committed. Every writer of the copy — sync passes (records, completion,
//! reconciliation), webhook deletions, the gateway's own writes (write-through) and the erasure of
//! a disconnected connection's copy — calls [`changed`] (or [`erased`]) *after* its transaction
//! commits, which moves the version on; a kept answer whose stamp differs is never used again.
//! Moving the version after the commit is what makes this safe: a reader that read the version
//! before a write committed stamps its answer with the old version, whatever the rows it read.
//!
//! The versions live in each process. On PostgreSQL, a writer also tells the other processes on
//! the database (other gateways, `nexus sync`) which copy it changed (`changes::stale`), and each
//! moves its own version of that copy ([`moved`]) when it hears it; after its listening
//! connection was lost, a process moves every version ([`moved_all`]). A kept answer is also
//! dropped after `reads.copy_memo_secs` (default 2 s), which bounds how long a write stays unseen
//! should a notification be missed.

use std::{
    collections::HashMap,
    sync::{
        Arc, LazyLock, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use nexus_core::Target;
use sea_orm::DatabaseConnection;

use crate::providers::crm::{CrmData, CrmObject, ListPage};

use super::copy::TypeStatus;
use crate::changes::stale::{self, Stale};

/// The process-wide write clock: each committed write to a copy takes the next tick.
static CLOCK: AtomicU64 = AtomicU64::new(1);

/// The tick at which every kept answer was last given up (after notifications may have been
/// missed): no version is older.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// The tick of the last committed write to each connection's copy of each type (0: none seen).
static VERSIONS: LazyLock<RwLock<HashMap<Target, [u64; CrmObject::ALL.len()]>>> =
    LazyLock::new(RwLock::default);

fn slot(object: CrmObject) -> usize {
    CrmObject::ALL
        .iter()
        .position(|o| *o == object)
        .unwrap_or_default()
}

/// The version of `target`'s copy of `object`: read it before reading the database.
pub fn version(target: Target, object: CrmObject) -> u64 {
    let versions = VERSIONS.read().unwrap_or_else(|e| e.into_inner());
    let own = versions.get(&target).map_or(0, |v| v[slot(object)]);
    own.max(EPOCH.load(Ordering::SeqCst))
}

/// A write to `target`'s copy of the type named `kind` committed on `db` (any type when the name
/// is not a CRM type's: the safe side): moves the version here, then tells the other processes.
pub async fn changed(db: &DatabaseConnection, target: Target, kind: &str) {
    moved(target, kind);
    stale::tell(db, Stale::copy(target, kind)).await;
}

/// `target`'s whole copy was erased on `db` (its connection ended).
pub async fn erased(db: &DatabaseConnection, target: Target) {
    changed(db, target, "").await;
}

/// Moves every version: no answer kept so far is used again.
pub fn moved_all() {
    EPOCH.store(CLOCK.fetch_add(1, Ordering::SeqCst), Ordering::SeqCst);
}

/// Moves the version of `target`'s copy of the type named `kind` (every type when the name is
/// not a CRM type's), here only: a write committed, here or in another process.
pub fn moved(target: Target, kind: &str) {
    let objects: Vec<CrmObject> = match CrmObject::ALL.into_iter().find(|o| o.name() == kind) {
        Some(object) => vec![object],
        None => CrmObject::ALL.to_vec(),
    };
    let tick = CLOCK.fetch_add(1, Ordering::SeqCst);
    let mut versions = VERSIONS.write().unwrap_or_else(|e| e.into_inner());
    let held = versions.entry(target).or_default();
    for object in objects {
        held[slot(object)] = tick;
    }
}

/// A list page as the copy answered it, with what its freshness needs.
pub struct KeptPage {
    pub page: Arc<ListPage<CrmData>>,
    /// When a write through the gateway or a webhook applied each record, where it did.
    pub applied: HashMap<String, DateTime<Utc>>,
}

/// A kept page's key: the connection, the type, and the request (filter, position, limit).
type PageKey = (Target, CrmObject, String);

/// The answers kept, each with the version it was read at.
#[derive(Clone)]
pub struct Memo {
    statuses: moka::future::Cache<(Target, CrmObject), (u64, TypeStatus)>,
    pages: moka::future::Cache<PageKey, (u64, Arc<KeptPage>)>,
}

impl Memo {
    /// Answers kept at most `ttl` (none when zero), at most `pages` list pages.
    pub fn new(ttl: Duration, pages: u64) -> Self {
        let pages = if ttl.is_zero() { 0 } else { pages };
        Self {
            statuses: moka::future::Cache::builder()
                .max_capacity(if ttl.is_zero() { 0 } else { 10_000 })
                .time_to_live(ttl.max(Duration::from_millis(1)))
                .build(),
            pages: moka::future::Cache::builder()
                .max_capacity(pages)
                .time_to_live(ttl.max(Duration::from_millis(1)))
                .build(),
        }
    }

    /// The status kept for `target`'s `object` at `version`.
    pub async fn status(
        &self,
        target: Target,
        object: CrmObject,
        version: u64,
    ) -> Option<TypeStatus> {
        self.statuses
            .get(&(target, object))
            .await
            .filter(|(at, _)| *at == version)
            .map(|(_, status)| status)
    }

    pub async fn keep_status(
        &self,
        target: Target,
        object: CrmObject,
        version: u64,
        status: TypeStatus,
    ) {
        self.statuses
            .insert((target, object), (version, status))
            .await;
    }

    /// The page kept for request `key` of `target`'s `object` at `version`.
    pub async fn page(
        &self,
        target: Target,
        object: CrmObject,
        key: &str,
        version: u64,
    ) -> Option<Arc<KeptPage>> {
        self.pages
            .get(&(target, object, key.to_owned()))
            .await
            .filter(|(at, _)| *at == version)
            .map(|(_, page)| page)
    }

    pub async fn keep_page(
        &self,
        target: Target,
        object: CrmObject,
        key: String,
        version: u64,
        page: Arc<KeptPage>,
    ) {
        self.pages
            .insert((target, object, key), (version, page))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use nexus_core::{Provider, Tenant};
    use uuid::Uuid;

    use super::*;

    fn target() -> Target {
        Target {
            tenant: Tenant {
                user_id: Uuid::new_v4(),
                project_id: Uuid::new_v4(),
            },
            provider: Provider::Hubspot,
        }
    }

    #[test]
    fn a_write_moves_its_type_only_and_an_erasure_every_type() {
        let (a, b) = (target(), target());
        assert_eq!(version(a, CrmObject::Contact), 0);
        moved(a, "Contact");
        let contact = version(a, CrmObject::Contact);
        assert_ne!(contact, 0);
        assert_eq!(version(a, CrmObject::Deal), 0);
        assert_eq!(version(b, CrmObject::Contact), 0);
        moved(a, "");
        assert!(version(a, CrmObject::Contact) > contact);
        assert_ne!(version(a, CrmObject::Deal), 0);
    }

    #[tokio::test]
    async fn a_kept_answer_is_used_only_at_its_version() {
        let memo = Memo::new(Duration::from_secs(60), 100);
        let a = target();
        let status = TypeStatus {
            complete: true,
            pass_at: Some(Utc::now()),
        };
        let before = version(a, CrmObject::Contact);
        memo.keep_status(a, CrmObject::Contact, before, status)
            .await;
        assert!(memo.status(a, CrmObject::Contact, before).await.is_some());
        moved(a, "Contact");
        let after = version(a, CrmObject::Contact);
        assert!(memo.status(a, CrmObject::Contact, after).await.is_none());
    }
}
