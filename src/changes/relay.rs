//! Fan-out across processes on PostgreSQL: every append also sends `pg_notify('nexus_changes',
//! '<project>:<seq>')` inside its transaction (PostgreSQL delivers it on commit, never for a
//! rollback), and each process LISTENs and announces what it hears on its own bus. After the
//! listening connection drops, the relay reconnects and wakes every follower, since
//! announcements may have been missed meanwhile; followers read the log itself, so nothing is
//! lost either way. SQLite serves one process, whose bus is all it needs.
//!
//! The same listening connection hears what other processes made stale in memory (`stale`'s
//! channel) and drops it from this process's caches; after the connection dropped, it drops
//! everything they keep, since notifications may have been missed meanwhile.

use std::time::Duration;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement,
    sqlx::postgres::PgListener,
};
use uuid::Uuid;

use super::{
    Bus,
    stale::{self, Caches},
};
use crate::shutdown::Shutdown;

/// The channel appends notify on.
pub const CHANNEL: &str = "nexus_changes";

/// How long the relay waits before listening again after a failure.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Queues the notification of `project_id`'s log reaching `seq`, sent when `txn` commits.
pub async fn notify(txn: &DatabaseTransaction, project_id: Uuid, seq: i64) -> Result<(), DbErr> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [CHANNEL.into(), format!("{project_id}:{seq}").into()],
    ))
    .await?;
    Ok(())
}

/// On PostgreSQL, relays other processes' appends to `bus` and what they made stale to `caches`
/// until shutdown. The relay holds no transaction, so it stops wherever it waits.
pub fn spawn(db: &DatabaseConnection, bus: Bus, caches: Caches, shutdown: &Shutdown) {
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let pool = db.get_postgres_connection_pool().clone();
    let stop = shutdown.clone();
    shutdown.spawn("change relay", async move {
        tokio::select! {
            () = stop.cancelled() => {}
            () = relay(&pool, &bus, &caches) => {}
        }
    });
}

/// Listens, and listens again after each failure.
async fn relay(pool: &sea_orm::sqlx::PgPool, bus: &Bus, caches: &Caches) {
    loop {
        match listen(pool, bus, caches).await {
            Ok(()) => return,
            Err(cause) => {
                tracing::warn!(%cause, "listening for changes of other processes; again shortly");
                tokio::time::sleep(RECONNECT_AFTER).await;
                bus.wake_all();
                caches.forget_all();
            }
        }
    }
}

async fn listen(
    pool: &sea_orm::sqlx::PgPool,
    bus: &Bus,
    caches: &Caches,
) -> Result<(), sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen_all([CHANNEL, stale::CHANNEL]).await?;
    loop {
        let notification = listener.recv().await?;
        if notification.channel() == stale::CHANNEL {
            if let Some(stale) = stale::heard(notification.payload()) {
                caches.drop_stale(stale);
            }
            continue;
        }
        let parsed = notification
            .payload()
            .split_once(':')
            .and_then(|(project, seq)| Some((project.parse::<Uuid>().ok()?, seq.parse().ok()?)));
        match parsed {
            Some((project_id, seq)) => bus.announce(project_id, seq),
            None => tracing::warn!(
                payload = notification.payload(),
                "an unreadable change notification"
            ),
        }
    }
}
