//! Sync lag for `/metrics`, read from `copy_status` when the metrics are rendered: for each
//! provider and type, how many connections have a complete copy (`nexus_sync_connections`) and
//! the seconds since the start of the last complete pass of the one furthest behind
//! (`nexus_sync_lag_seconds`). A pass's start bounds what the copy may lack, so the lag is how
//! stale an answer from the copy may be; it grows while passes fail, restarts included, since
//! it is read from the database rather than kept in memory.
//!
//! The labels are the provider and the type only: one connection's lag is not a label (series
//! per user would grow without bound), the worst connection's is the figure to alert on. A pair
//! whose last connection went away reads 0 connections and 0 seconds.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Mutex, OnceLock},
};

use chrono::Utc;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use crate::{
    store::entities::copy_status,
    telemetry::described::{SYNC_LAG, SYNCED_CONNECTIONS},
};

/// Sets the gauges from the database's `copy_status`.
pub async fn refresh(db: &DatabaseConnection) -> Result<(), DbErr> {
    let rows = copy_status::Entity::find()
        .filter(copy_status::Column::Complete.eq(true))
        .filter(copy_status::Column::PassAt.is_not_null())
        .all(db)
        .await?;
    let now = Utc::now();
    // (provider, type) → (connections, oldest pass start)
    let mut pairs: BTreeMap<(String, String), (usize, chrono::DateTime<Utc>)> = BTreeMap::new();
    for row in rows {
        let Some(pass_at) = row.pass_at else { continue };
        pairs
            .entry((row.provider, row.r#type))
            .and_modify(|(n, oldest)| {
                *n += 1;
                *oldest = (*oldest).min(pass_at);
            })
            .or_insert((1, pass_at));
    }
    static SHOWN: OnceLock<Mutex<BTreeSet<(String, String)>>> = OnceLock::new();
    let mut shown = SHOWN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for gone in shown.iter().filter(|key| !pairs.contains_key(*key)) {
        set(gone, 0, 0.0);
    }
    for (key, (connections, oldest)) in &pairs {
        let lag = (now - *oldest).num_milliseconds().max(0) as f64 / 1000.0;
        set(key, *connections, lag);
    }
    shown.extend(pairs.into_keys());
    Ok(())
}

fn set((provider, kind): &(String, String), connections: usize, lag: f64) {
    let labels = [("provider", provider.clone()), ("type", kind.clone())];
    metrics::gauge!(SYNCED_CONNECTIONS, &labels).set(connections as f64);
    metrics::gauge!(SYNC_LAG, &labels).set(lag);
}
