//! Slack's copy of channel messages: Slack has no change feed a pass could poll, so the copy is
//! filled by a paced backfill of `conversations.history` and kept current by the Events API
//! (`webhooks::slack`, stored with the delivery's receipt).
//!
//! A pass reads the channels the app's bot is in, newest messages first, one page per channel
//! before any channel's second page (round by round), so that every channel has its latest
//! messages early. The backfill spends at most three quarters of the `conversations_history`
//! rate class (the catalog's capacity over its rolling window, or the config's `rate_capacity`
//! override) in any window, leaving the rest to live reads: with Slack's Tier 3 (50 a minute)
//! that is 37 channels a minute, the demo's 108 channels in a little over two minutes. Each
//! page is stored in its own transaction; the page that
//! reaches the window's start (or the channel's first message) marks the channel complete
//! (`copy_status` type `Message/<channel>`) in the same transaction, and the pass's end marks
//! the whole chat complete (`Message`) once every member channel is. A complete channel is read
//! again from its newest stored message only (one call when nothing much happened), so a pass
//! over a complete copy costs a call per channel. A pass cut short resumes from each channel's
//! oldest stored message.
//!
//! The copy answers for a channel once it is complete; a page over every channel once all are.
//! Until then the provider's part is read live (`comms_read`).

use std::{
    collections::{HashMap, VecDeque},
    time::Duration,
};

use chrono::Utc;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::time::Instant;

use crate::{
    providers::{
        Cataloged, Provider,
        chat::{ChannelQuery, MessageFilter, MessageQuery},
        record::{Position, Record},
    },
    store::entities::copy_records,
    upstream::{ErrorKind, Target},
};

use super::{
    PassReport, SyncError, Syncer,
    comms::{self, Kept, MESSAGE},
    copy, memo,
};

/// Messages asked for per history page (Slack's own default page).
const PAGE: usize = 100;

/// Channels asked for per `conversations.list` page.
const CHANNELS: usize = 100;

/// The rate class the backfill spends.
const CLASS: &str = "conversations_history";

/// Where one channel's backfill stands.
struct Channel {
    id: String,
    /// Keep reading older messages after this one.
    after: Option<Position>,
    /// The channel's window has been read whole.
    complete: bool,
}

/// The backfill's share of the `conversations_history` class: at most `calls` history calls in
/// any rolling `window`, counted from when each call was answered (no sooner than Slack counted
/// it), so the backfill can spend its share at once and then waits for the window to roll.
struct Budget {
    window: Duration,
    calls: usize,
    made: VecDeque<Instant>,
}

impl Budget {
    /// Three quarters of `capacity` calls per `window` (at least one).
    fn new(window: Duration, capacity: u32) -> Self {
        let calls = (capacity as usize * 3 / 4).max(1);
        Self {
            window,
            calls,
            made: VecDeque::with_capacity(calls),
        }
    }

    /// Waits until the budget has room for one more call.
    async fn room(&mut self) {
        while self.made.len() >= self.calls {
            let oldest = self.made[0];
            if oldest.elapsed() >= self.window {
                self.made.pop_front();
            } else {
                tokio::time::sleep_until(oldest + self.window).await;
            }
        }
    }

    /// A call was answered.
    fn spent(&mut self) {
        self.made.push_back(Instant::now());
    }
}

impl Syncer {
    /// The backfill's budget: three quarters of the class's capacity over its window (the
    /// catalog's, or the config's `rate_capacity` override).
    fn slack_budget(&self) -> Budget {
        let entry = Provider::Slack.entry().limits.get(CLASS);
        let (window_ms, capacity) = entry.map_or((60_000, 50), |c| (c.window_ms, c.capacity));
        let capacity = self.slack_capacity.unwrap_or(capacity);
        Budget::new(Duration::from_millis(window_ms), capacity)
    }

    /// The oldest and newest stored message of `channel` in `target`'s copy.
    async fn stored_ends(
        &self,
        target: Target,
        channel: &str,
    ) -> Result<(Option<Position>, Option<Position>), SyncError> {
        let ends = |newest: bool| {
            let query = copy_records::Entity::find()
                .select_only()
                .column(copy_records::Column::RemoteId)
                .column(copy_records::Column::Record)
                .filter(copy::records_of(target))
                .filter(copy_records::Column::Type.eq(MESSAGE))
                .filter(copy_records::Column::Channel.eq(channel));
            match newest {
                true => query.order_by_desc(copy_records::Column::SortKey),
                false => query.order_by_asc(copy_records::Column::SortKey),
            }
        };
        let mut found = Vec::new();
        for newest in [false, true] {
            let row: Option<(String, String)> = ends(newest).into_tuple().one(&self.db).await?;
            let position = match row {
                Some((remote_id, text)) => {
                    let kept: Kept<crate::providers::chat::Message> =
                        serde_json::from_str(&text)
                            .map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
                    Some(Position {
                        at: kept.data.sent_at,
                        remote_id,
                    })
                }
                None => None,
            };
            found.push(position);
        }
        let newest = found.pop().flatten();
        let oldest = found.pop().flatten();
        Ok((oldest, newest))
    }

    /// One pass over the channels of `target`'s Slack workspace the bot is in (see the module's
    /// docs).
    pub async fn slack_pass(&self, target: Target) -> Result<PassReport, SyncError> {
        let mut report = PassReport {
            provider: target.provider,
            resource: MESSAGE,
            seen: 0,
            changes: 0,
            reconciled: false,
            deleted: 0,
            overtaken: false,
        };
        let Ok(chat) = self.providers.chat(target.provider) else {
            return Ok(report);
        };
        let _turn = self.turns.take(target, MESSAGE).await;
        let started = Utc::now();
        // Known to be filling from now on, so that reads of every channel wait for it.
        copy::started(&self.db, target, MESSAGE).await?;
        let oldest = self.windows.of(target.provider).oldest(started);
        let mut members = Vec::new();
        let mut after = None;
        loop {
            let query = ChannelQuery {
                name_contains: None,
                after,
                limit: CHANNELS,
            };
            let page = chat.channels(target, &query).await?;
            members.extend(
                page.records
                    .iter()
                    .filter(|c| c.raw["is_member"].as_bool().unwrap_or(false))
                    .map(|c| c.remote_id.clone()),
            );
            match (page.more, page.records.last()) {
                (true, Some(last)) => after = Some(last.position()),
                _ => break,
            }
        }
        let statuses = copy::statuses(&self.db, target).await?;
        let mut channels = Vec::with_capacity(members.len());
        let mut since: HashMap<String, Position> = HashMap::new();
        for id in members {
            let done = statuses
                .get(&comms::channel_kind(&id))
                .is_some_and(|s| s.complete);
            let (stored_oldest, stored_newest) = self.stored_ends(target, &id).await?;
            if done && let Some(newest) = stored_newest {
                since.insert(id.clone(), newest);
            }
            channels.push(Channel {
                id,
                after: if done { None } else { stored_oldest },
                complete: false,
            });
        }
        let mut budget = self.slack_budget();
        while channels.iter().any(|c| !c.complete) {
            for channel in channels.iter_mut().filter(|c| !c.complete) {
                // A complete channel reads what came after its newest stored message.
                let from = since
                    .get(&channel.id)
                    .map(|p| p.at)
                    .unwrap_or(oldest)
                    .max(oldest);
                let query = MessageQuery {
                    filter: MessageFilter {
                        channel: Some(channel.id.clone()),
                        after: Some(from),
                        ..MessageFilter::default()
                    },
                    after: channel.after.clone(),
                    limit: PAGE,
                };
                // A call the gateway's limiter has no room for (live reads spent the class)
                // never reached Slack: it waits and is asked again, uncounted; the backfill never
                // gives up a channel to live reads.
                let page = loop {
                    budget.room().await;
                    match chat.messages(target, &query).await {
                        Err(e) if e.kind == ErrorKind::RateLimited => {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        page => {
                            budget.spent();
                            break page?;
                        }
                    }
                };
                let ends = !page.more || page.records.is_empty();
                // Through the log's writer, which takes the database's write lock first.
                self.log
                    .append_with(target.tenant.project_id, None, Vec::new(), async |txn| {
                        comms::store(txn, target, &page.records).await?;
                        if ends {
                            let kind = comms::channel_kind(&channel.id);
                            copy::completed(txn, target, &kind, started).await?;
                        }
                        Ok::<_, sea_orm::DbErr>(())
                    })
                    .await?;
                memo::changed(&self.db, target, MESSAGE).await;
                report.seen += page.records.len();
                channel.after = page.records.last().map(Record::position);
                channel.complete = ends;
            }
        }
        let window = self.windows.of(target.provider);
        self.log
            .append_with(target.tenant.project_id, None, Vec::new(), async |txn| {
                comms::prune(txn, target, MESSAGE, window, started).await?;
                copy::completed(txn, target, MESSAGE, started).await
            })
            .await?;
        memo::changed(&self.db, target, MESSAGE).await;
        Ok(report)
    }
}
