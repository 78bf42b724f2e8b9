//! Retention: events older than `changes.retention_days` are dropped, once at start and then
//! every hour, with the receipts of deliveries as old, so neither grows without bound. A
//! follower or page whose cursor lies before what is left is refused (`LogError::Expired`)
//! rather than silently skipping events.

use std::time::Duration;

use chrono::Utc;

use super::ChangeLog;
use crate::shutdown::Shutdown;

/// How often the log is trimmed.
const EVERY: Duration = Duration::from_secs(3600);

/// Trims `log` to the last `days` days now and every hour after, until shutdown (a trim under
/// way finishes first).
pub fn keep(log: ChangeLog, days: u32, shutdown: &Shutdown) {
    let stop = shutdown.clone();
    shutdown.spawn("retention", async move {
        let mut ticks = tokio::time::interval(EVERY);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let before = Utc::now() - chrono::Duration::days(i64::from(days));
            match log.retain_after(before).await {
                Ok(0) => {}
                Ok(dropped) => tracing::info!(dropped, days, "change log trimmed"),
                Err(cause) => tracing::warn!(%cause, "trimming the change log"),
            }
        }
    });
}
