//! What one process tells the others on the same PostgreSQL database about the memory it made
//! stale: each process keeps answers in memory (the mail list cache, the read model's memory of
//! the copy, the API keys found), and a write in one of them makes the others' copies wrong.
//!
//! The process that writes drops its own entries at once, as before, and then sends
//! `pg_notify('nexus_caches', <json>)` naming what went stale ([`Stale`]): a tenant's mail lists,
//! a connection's copy of one type, or the API keys (after a revocation). Every process LISTENs
//! (`relay`) and drops the same entries when it hears it; its own notifications, recognised by
//! the process id they carry, it skips. The notification is sent after the write committed and
//! before the write's caller gets its answer, so a read that another gateway serves after that
//! answer finds the entries gone, unless the notification is still in flight to it (PostgreSQL
//! hands it to every listening session on commit; the gap is a scheduling delay, not a network
//! round trip). When a process's listening connection drops it may miss notifications, so on
//! listening again it drops everything it keeps ([`Caches::forget_all`]); the entries' own
//! lifetimes (`reads.copy_memo_secs`, `auth.key_cache_secs`, the mail cache's five minutes) bound
//! how long a missed one could matter while the connection is down.
//!
//! The channel is its own, not the change log's: a gateway of an older version listening on
//! `nexus_changes` never hears a payload it cannot read. SQLite serves one process: nothing is
//! sent there.

use std::sync::LazyLock;

use nexus_core::{Provider, Target, Tenant};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::providers::mail::MailCache;

/// The channel staleness is announced on.
pub const CHANNEL: &str = "nexus_caches";

/// This process, so that it can tell its own notifications from the others'.
static PROCESS: LazyLock<Uuid> = LazyLock::new(Uuid::new_v4);

/// What went stale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stale {
    /// Every cached mail list of this tenant (a send, a label change, a mailbox's push).
    Mail { user: Uuid, project: Uuid },
    /// The copy of this connection's type `kind` (every type when `kind` names none).
    Copy {
        user: Uuid,
        project: Uuid,
        provider: Provider,
        kind: String,
    },
    /// API keys: one was revoked, so every key found must be looked up again.
    Keys,
}

impl Stale {
    pub fn mail(tenant: Tenant) -> Self {
        Self::Mail {
            user: tenant.user_id,
            project: tenant.project_id,
        }
    }

    pub fn copy(target: Target, kind: &str) -> Self {
        Self::Copy {
            user: target.tenant.user_id,
            project: target.tenant.project_id,
            provider: target.provider,
            kind: kind.to_owned(),
        }
    }
}

/// A notification as sent: who sent it and what went stale.
#[derive(Debug, Serialize, Deserialize)]
struct Notice {
    from: Uuid,
    stale: Stale,
}

/// Tells the other processes on `db` that `stale` went stale. A failure is logged, not
/// returned: the write it follows has committed, and the others' entries still expire.
pub async fn tell(db: &impl ConnectionTrait, stale: Stale) {
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let notice = Notice {
        from: *PROCESS,
        stale,
    };
    let payload = serde_json::to_string(&notice).unwrap_or_default();
    let sent = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), payload.into()],
        ))
        .await;
    if let Err(cause) = sent {
        tracing::warn!(%cause, "telling other processes what went stale");
    }
}

/// What went stale according to another process's notification; `None` for this process's own
/// (already dropped) and for a payload that does not read.
pub fn heard(payload: &str) -> Option<Stale> {
    match serde_json::from_str::<Notice>(payload) {
        Ok(notice) if notice.from == *PROCESS => None,
        Ok(notice) => Some(notice.stale),
        Err(_) => {
            tracing::warn!(payload, "an unreadable staleness notification");
            None
        }
    }
}

/// The memory of this process that other processes' writes make stale.
#[derive(Clone)]
pub struct Caches {
    pub mail: MailCache,
}

impl Caches {
    /// Drops what `stale` names, here only.
    pub fn drop_stale(&self, stale: Stale) {
        match stale {
            Stale::Mail { user, project } => self.mail.forget_here(Tenant {
                user_id: user,
                project_id: project,
            }),
            Stale::Copy {
                user,
                project,
                provider,
                kind,
            } => {
                let tenant = Tenant {
                    user_id: user,
                    project_id: project,
                };
                super::sync::memo::moved(Target { tenant, provider }, &kind);
            }
            Stale::Keys => crate::auth::revoked_elsewhere(),
        }
    }

    /// Drops everything, after notifications may have been missed.
    pub fn forget_all(&self) {
        self.mail.forget_all();
        super::sync::memo::moved_all();
        crate::auth::revoked_elsewhere();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_from_another_process_reads_back_and_ours_is_skipped() {
        let stale = Stale::Copy {
            user: Uuid::new_v4(),
            project: Uuid::new_v4(),
            provider: Provider::Hubspot,
            kind: "Contact".into(),
        };
        let theirs = serde_json::to_string(&Notice {
            from: Uuid::new_v4(),
            stale: stale.clone(),
        })
        .unwrap();
        assert_eq!(heard(&theirs), Some(stale.clone()));
        let ours = serde_json::to_string(&Notice {
            from: *PROCESS,
            stale,
        })
        .unwrap();
        assert_eq!(heard(&ours), None);
        assert_eq!(heard("1f0e:12"), None);
    }
}
