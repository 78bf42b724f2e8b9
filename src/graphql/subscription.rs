//! Subscriptions. `heartbeat` proves the WebSocket path end to end (auth in `connection_init`,
//! events, completion); the change stream joins it here.

use std::time::Duration;

use async_graphql::{Context, Result, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt, stream};

use super::{errors::bad_input, lists::tenant};

#[derive(SimpleObject, Debug, Clone)]
pub struct Heartbeat {
    /// 1 for the first beat, then 2, 3, ...
    pub sequence: i32,
    pub at: DateTime<Utc>,
}

#[derive(Default)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// A beat every `intervalMs` milliseconds (10..=60000); completes after `count` beats
    /// when given, else runs until the client stops.
    async fn heartbeat(
        &self,
        ctx: &Context<'_>,
        count: Option<i32>,
        #[graphql(default = 1000)] interval_ms: i32,
    ) -> Result<impl Stream<Item = Heartbeat> + use<>> {
        tenant(ctx)?;
        if !(10..=60_000).contains(&interval_ms) {
            return Err(bad_input(
                "intervalMs",
                "intervalMs must be between 10 and 60000",
            ));
        }
        if count.is_some_and(|c| c < 1) {
            return Err(bad_input("count", "count must be at least 1"));
        }
        let mut interval = tokio::time::interval(Duration::from_millis(interval_ms as u64));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.reset();
        let beats = stream::unfold((interval, 0), |(mut interval, sequence)| async move {
            interval.tick().await;
            let beat = Heartbeat {
                sequence: sequence + 1,
                at: Utc::now(),
            };
            Some((beat, (interval, sequence + 1)))
        });
        Ok(beats.take(count.map_or(usize::MAX, |c| c as usize)))
    }
}
