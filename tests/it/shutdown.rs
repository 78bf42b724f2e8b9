//! Stopping the gateway ends its background work: every poller, keeper, relay and retention
//! loop watches the shutdown signal, so none outlives `run_until_stopped`.

use std::time::Duration;

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox_with},
    helpers::backends,
};

#[tokio::test]
async fn stopping_the_gateway_ends_every_background_task() {
    for (backend, url) in backends().await {
        let (mut app, _sandbox) = pointed_at_sandbox_with(false, |settings| {
            // Every loop on: pollers for each provider that syncs, keepers, retention (and the
            // relay on PostgreSQL); a loop that ignored the signal would hold the stop for
            // this grace period and still be running after it.
            settings.changes.sync_interval_secs = Some(3600);
            settings.server.shutdown_grace_secs = 5;
            settings.database.url = url;
        })
        .await;
        let back = consent(&connect_link(&app, "HUBSPOT", None).await, "approve").await;
        assert_eq!(callback(&back).await.0, 200, "{backend}: HubSpot connects");
        let background = app.background.clone();
        assert!(
            background.running("sync poller") > 0,
            "{backend}: the pollers run"
        );
        assert!(
            background.running("Graph subscriptions") > 0 && background.running("retention") == 1,
            "{backend}: the keepers and retention run"
        );
        if backend == "postgres" {
            assert_eq!(background.running("change relay"), 1, "the relay listens");
        }

        tokio::time::timeout(Duration::from_secs(4), app.stop())
            .await
            .unwrap_or_else(|_| panic!("{backend}: stopped within the grace period"));
        assert!(
            background.is_empty(),
            "{backend}: {} background tasks still run",
            background.len()
        );
    }
}
