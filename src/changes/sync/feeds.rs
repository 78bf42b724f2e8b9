//! Passes over change feeds — Gmail's history, Google Calendar's sync tokens, Graph's delta
//! queries for Outlook mail and calendars and for Teams channel messages — and the copy of mail,
//! events and messages they keep (`comms`).
//!
//! A pass reads the feed after its cursor, then fetches each record the feed names as created
//! or updated as it is now (a feed entry names a record, it does not hold it whole: Gmail's
//! history gives ids) and appends, in one transaction, the changes, the records, the removals of
//! the records deleted or gone, the new cursor and the copy's new as-of time (the pass's start):
//! the copy, the change log and the checkpoint move together or not at all (kill -9 included).
//!
//! A copy not yet complete — the connection's first pass, or a feed that restarted (its cursor
//! expired, so the changes in between are unknown) — first reads the window whole through the
//! adapter's list (mail received in the last `window_days`, events from `window_past_days` back
//! to `window_future_days` ahead), one page a transaction, and removes what it held that the
//! listing lacks; the pass's last transaction then marks the copy complete. A pass cut short
//! leaves it incomplete, so reads stay live and the next pass lists again.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

use crate::{
    providers::{
        Provider,
        calendar::{Event, EventFilter, EventQuery},
        chat::{Message, MessageFilter, MessageQuery},
        mail::{EmailData, MailFilter, MailRequest},
        record::{ChangeKind, Feed, FeedChange, ListPage, Position, Record},
    },
    store::entities::copy_records,
    upstream::{ProviderError, Target},
};

use super::{
    Change, Op, PassReport, SyncError, Syncer,
    comms::{self, EMAIL, EVENT, MESSAGE},
    copy, memo, moved, overtaken,
    state::{self, Checkpoint, Resource},
    went_in,
};

/// Records asked for per page of a window's listing.
const PAGE: usize = 100;

/// Records fetched at once after a feed named them.
const FETCHES: usize = 4;

/// What a feed's changes came to, as the provider holds the records now.
#[derive(Default)]
struct Fetched {
    emails: Vec<Record<EmailData>>,
    events: Vec<Record<Event>>,
    messages: Vec<Record<Message>>,
    /// Deleted, or no longer listed (Gmail's trash and spam).
    gone: Vec<String>,
}

/// Whether a list shows `record` when asked for nothing in particular: Gmail's lists leave out
/// trash and spam.
fn listed(record: &Record<EmailData>) -> bool {
    record.provider != Provider::Gmail
        || !record
            .data
            .labels
            .iter()
            .any(|l| l.eq_ignore_ascii_case("TRASH") || l.eq_ignore_ascii_case("SPAM"))
}

/// The last change of each record a feed names, in the feed's order.
fn last_changes(changes: &[FeedChange]) -> Vec<(String, ChangeKind)> {
    let mut last: HashMap<&str, ChangeKind> = HashMap::new();
    let mut order = Vec::new();
    for change in changes {
        if last.insert(&change.remote_id, change.kind).is_none() {
            order.push(change.remote_id.as_str());
        }
    }
    order
        .into_iter()
        .map(|id| (id.to_owned(), last[id]))
        .collect()
}

/// The ids of `kind` records in `target`'s copy stored before `before` that `listed` lacks.
async fn unlisted(
    db: &impl ConnectionTrait,
    target: Target,
    kind: &str,
    before: DateTime<Utc>,
    listed: &HashSet<String>,
) -> Result<Vec<String>, DbErr> {
    let ids: Vec<String> = copy_records::Entity::find()
        .select_only()
        .column(copy_records::Column::RemoteId)
        .filter(copy::records_of(target))
        .filter(copy_records::Column::Type.eq(kind))
        .filter(copy_records::Column::StoredAt.lt(before))
        .into_tuple()
        .all(db)
        .await?;
    Ok(ids.into_iter().filter(|id| !listed.contains(id)).collect())
}

impl Syncer {
    /// The change feed of `kind` (`Email`, `Event`, `Message`) at `target`'s provider after
    /// `cursor`, where the provider has one this build reads.
    async fn feed(
        &self,
        target: Target,
        kind: &'static str,
        cursor: Option<&str>,
    ) -> Result<Option<Feed>, ProviderError> {
        let p = target.provider;
        match kind {
            EMAIL => match self.providers.mail(p) {
                Ok(mail) => mail.changes(target, cursor).await,
                Err(_) => Ok(None),
            },
            MESSAGE => match self.providers.chat(p) {
                Ok(chat) => chat.changes(target, cursor).await,
                Err(_) => Ok(None),
            },
            _ => match self.providers.calendar(p) {
                Ok(calendar) => calendar.changes(target, cursor).await,
                Err(_) => Ok(None),
            },
        }
    }

    /// The records `changes` name as created or updated, fetched as they are now, and the ids
    /// deleted or gone meanwhile.
    async fn fetch_changed(
        &self,
        target: Target,
        kind: &'static str,
        changes: &[FeedChange],
    ) -> Result<Fetched, SyncError> {
        let mut fetched = Fetched::default();
        let mut wanted = Vec::new();
        for (id, change) in last_changes(changes) {
            match change {
                ChangeKind::Deleted => fetched.gone.push(id),
                _ => wanted.push(id),
            }
        }
        let p = target.provider;
        match kind {
            EMAIL => {
                let Ok(mail) = self.providers.mail(p) else {
                    return Ok(fetched);
                };
                let mut found = Vec::new();
                for chunk in wanted.chunks(FETCHES) {
                    let got = join_all(chunk.iter().map(|id| mail.get(target, id))).await;
                    found.extend(chunk.iter().cloned().zip(got));
                }
                for (id, record) in found {
                    match record? {
                        Some(record) if listed(&record) => fetched.emails.push(record),
                        _ => fetched.gone.push(id),
                    }
                }
            }
            EVENT => {
                let Ok(calendar) = self.providers.calendar(p) else {
                    return Ok(fetched);
                };
                let mut found = Vec::new();
                for chunk in wanted.chunks(FETCHES) {
                    let got = join_all(chunk.iter().map(|id| calendar.get(target, id))).await;
                    found.extend(chunk.iter().cloned().zip(got));
                }
                for (id, record) in found {
                    match record? {
                        Some(record) => fetched.events.push(record),
                        None => fetched.gone.push(id),
                    }
                }
            }
            _ => {
                let Ok(chat) = self.providers.chat(p) else {
                    return Ok(fetched);
                };
                let mut found = Vec::new();
                for chunk in wanted.chunks(FETCHES) {
                    let got = join_all(chunk.iter().map(|id| chat.message(target, id))).await;
                    found.extend(chunk.iter().cloned().zip(got));
                }
                for (id, record) in found {
                    match record? {
                        Some(record) => fetched.messages.push(record),
                        None => fetched.gone.push(id),
                    }
                }
            }
        }
        Ok(fetched)
    }

    /// Reads `kind`'s window at `target`'s provider whole into the copy, a page a transaction;
    /// returns the ids listed.
    async fn backfill(
        &self,
        target: Target,
        kind: &'static str,
    ) -> Result<HashSet<String>, SyncError> {
        let window = self.windows.of(target.provider);
        let now = Utc::now();
        let p = target.provider;
        let mut listed = HashSet::new();
        let mut after: Option<Position> = None;
        loop {
            let (ids, last, more) = match kind {
                EMAIL => {
                    let Ok(mail) = self.providers.mail(p) else {
                        break;
                    };
                    let request = MailRequest {
                        filter: MailFilter {
                            after: Some(window.oldest(now)),
                            ..MailFilter::default()
                        },
                        after: after.clone(),
                        limit: PAGE,
                        bodies: false,
                    };
                    let (page, _) = mail
                        .list_within(target, &request, std::time::Duration::ZERO)
                        .await?;
                    self.store_page(target, &page).await?
                }
                EVENT => {
                    let Ok(calendar) = self.providers.calendar(p) else {
                        break;
                    };
                    let (time_min, time_max) = window.events(now);
                    let query = EventQuery {
                        filter: EventFilter {
                            time_min: Some(time_min),
                            time_max: Some(time_max),
                            ..EventFilter::default()
                        },
                        after: after.clone(),
                        limit: PAGE,
                    };
                    let page = calendar.list(target, &query).await?;
                    self.store_page(target, &page).await?
                }
                _ => {
                    let Ok(chat) = self.providers.chat(p) else {
                        break;
                    };
                    let query = MessageQuery {
                        filter: MessageFilter {
                            after: Some(window.oldest(now)),
                            ..MessageFilter::default()
                        },
                        after: after.clone(),
                        limit: PAGE,
                    };
                    let page = chat.messages(target, &query).await?;
                    self.store_page(target, &page).await?
                }
            };
            listed.extend(ids);
            match (more, last) {
                (true, Some(last)) => after = Some(last),
                _ => break,
            }
        }
        Ok(listed)
    }

    /// Stores one listed page in its own transaction; its ids, its last position, and whether
    /// the list has more.
    async fn store_page<T: comms::Comms>(
        &self,
        target: Target,
        page: &ListPage<T>,
    ) -> Result<(Vec<String>, Option<Position>, bool), SyncError> {
        // Through the log's writer, which takes the database's write lock first (SQLite).
        self.log
            .append_with(target.tenant.project_id, None, Vec::new(), async |txn| {
                comms::store(txn, target, &page.records).await
            })
            .await?;
        memo::changed(&self.db, target, T::KIND).await;
        Ok((
            page.records.iter().map(|r| r.remote_id.clone()).collect(),
            page.records.last().map(Record::position),
            page.more,
        ))
    }

    /// A pass over a change feed: the changes since the feed's cursor with the records they
    /// name, appended in one transaction with the new cursor and the copy's as-of time. A copy
    /// not yet complete reads the window whole first (see the module's docs); a cursor the
    /// provider no longer keeps starts the feed again from now and the window is read again.
    pub async fn feed_pass(
        &self,
        target: Target,
        kind: &'static str,
    ) -> Result<PassReport, SyncError> {
        let mut report = PassReport {
            provider: target.provider,
            resource: kind,
            seen: 0,
            changes: 0,
            reconciled: false,
            deleted: 0,
            overtaken: false,
        };
        let resource = Resource { target, name: kind };
        let _turn = self.turns.take(target, kind).await;
        let mut held = state::load(&self.db, resource).await?;
        let complete = copy::status_of(&self.db, target, kind).await?.complete;
        let started = Utc::now();
        let Some(feed) = self
            .feed(target, kind, held.checkpoint.feed.as_deref())
            .await?
        else {
            return Ok(report);
        };
        if feed.restarted {
            tracing::warn!(
                provider = target.provider.slug(),
                resource = kind,
                "the change feed restarted from now; changes in between are not listed, the window is read again"
            );
        }
        let listed = match !complete || feed.restarted {
            true => Some(self.backfill(target, kind).await?),
            false => None,
        };
        let fetched = self.fetch_changed(target, kind, &feed.changes).await?;
        let changes: Vec<Change> = feed
            .changes
            .into_iter()
            .map(|c| Change {
                user_id: Some(target.tenant.user_id),
                op: match c.kind {
                    ChangeKind::Created => Op::Created,
                    ChangeKind::Updated => Op::Updated,
                    ChangeKind::Deleted => Op::Deleted,
                },
                provider: target.provider,
                kind: kind.to_owned(),
                remote_id: c.remote_id,
                data: c.raw,
                occurred_at: started,
            })
            .collect();
        let appended = changes.len();
        let next = Checkpoint {
            feed: Some(feed.cursor),
            ..held.checkpoint.clone()
        };
        let window = self.windows.of(target.provider);
        let stored = self
            .log
            .append_with(target.tenant.project_id, None, changes, async |txn| {
                if let Some(listed) = &listed {
                    let gone = unlisted(txn, target, kind, started, listed).await?;
                    copy::remove(txn, target, kind, &gone).await?;
                }
                comms::store(txn, target, &fetched.emails).await?;
                comms::store(txn, target, &fetched.events).await?;
                comms::store(txn, target, &fetched.messages).await?;
                copy::remove(txn, target, kind, &fetched.gone).await?;
                comms::prune(txn, target, kind, window, started).await?;
                copy::completed(txn, target, kind, started).await?;
                moved(state::advance(txn, resource, &mut held, next).await?)
            })
            .await;
        memo::changed(&self.db, target, kind).await;
        if !went_in(stored)? {
            return Ok(overtaken(report));
        }
        report.seen = appended + listed.map_or(0, |l| l.len());
        report.changes = appended;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_change_of_a_record_decides() {
        let change = |kind, id: &str| FeedChange {
            kind,
            remote_id: id.into(),
            raw: serde_json::json!({}),
        };
        let changes = [
            change(ChangeKind::Created, "a"),
            change(ChangeKind::Updated, "b"),
            change(ChangeKind::Deleted, "a"),
        ];
        assert_eq!(
            last_changes(&changes),
            vec![
                ("a".to_owned(), ChangeKind::Deleted),
                ("b".to_owned(), ChangeKind::Updated)
            ]
        );
    }
}
