//! Retention: events older than `changes.retention_days` are dropped, once at start and then
//! every hour, with the receipts of deliveries as old, so neither grows without bound. A
//! follower or page whose cursor lies before what is left is refused (`LogError::Expired`)
//! rather than silently skipping events.

use std::time::Duration;

use chrono::Utc;

use super::ChangeLog;

/// How often the log is trimmed.
const EVERY: Duration = Duration::from_secs(3600);

/// Trims `log` to the last `days` days now and every hour after, until the runtime stops.
pub fn keep(log: ChangeLog, days: u32) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(EVERY);
        loop {
            ticks.tick().await;
            let before = Utc::now() - chrono::Duration::days(i64::from(days));
            match log.retain_after(before).await {
                Ok(0) => {}
                Ok(dropped) => tracing::info!(dropped, days, "change log trimmed"),
                Err(cause) => tracing::warn!(%cause, "trimming the change log"),
            }
        }
    })
}
