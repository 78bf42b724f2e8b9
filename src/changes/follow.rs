//! Following a project's log: the events after a cursor, then each new one as it is appended.
//! One loop does both — read a page after the last sequence number considered; when there is
//! none, wait for the bus to announce more — and the follower subscribes to the bus before its
//! first read, so an event appended at any moment is either in a page or announced after it.
//! An announcement that starts right after the follower's position carries its events, which
//! are taken without a query; anything else (a gap, a missed announcement, another process's
//! append) sends the follower back to the log.
//!
//! A follower only moves as fast as its consumer reads, so a slow consumer delays no one else;
//! but once live, one that falls more than the log's `max_lag` events behind the head is told
//! so (`FollowError::Behind`, with its position) and stopped: it resumes from its last cursor and
//! replays from the log at its own pace, instead of being carried on as a live follower.

use std::collections::VecDeque;

use futures_util::{Stream, stream};
use sea_orm::DbErr;
use tokio::sync::broadcast::{Receiver, error::RecvError};
use uuid::Uuid;

use crate::providers::Provider;

use super::{Audience, ChangeLog, LogError, LoggedChange, Op, bus::Announcement};

/// Events read from the log per query.
const PAGE: u64 = 500;

/// Which events a reader may see (`audience`) and, of those, wants; a filter that is `None`
/// takes all.
#[derive(Debug, Clone)]
pub struct Selection {
    pub audience: Audience,
    pub providers: Option<Vec<Provider>>,
    pub kinds: Option<Vec<String>>,
    pub ops: Option<Vec<Op>>,
}

impl Selection {
    /// Every event `audience` may see.
    pub fn visible_to(audience: Audience) -> Self {
        Self {
            audience,
            providers: None,
            kinds: None,
            ops: None,
        }
    }

    /// Whether the follower wants `event`.
    fn takes(&self, event: &LoggedChange) -> bool {
        self.audience.sees(event.user_id)
            && self
                .providers
                .as_ref()
                .is_none_or(|ps| ps.contains(&event.provider))
            && self
                .kinds
                .as_ref()
                .is_none_or(|ks| ks.contains(&event.kind))
            && self.ops.as_ref().is_none_or(|os| os.contains(&event.op))
    }
}

/// Why a follower stopped.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    /// A live follower fell behind the head by more than the log allows; everything up to
    /// `last` was delivered.
    #[error("the subscriber fell {behind} events behind; resume from its last cursor")]
    Behind { last: i64, behind: i64 },
}

struct Follower {
    log: ChangeLog,
    project_id: Uuid,
    selection: Selection,
    /// Every event up to here has been delivered or passed over.
    last: i64,
    /// The highest sequence number announced so far: committed, so a read sees it.
    announced: i64,
    buffer: VecDeque<LoggedChange>,
    /// The position once `buffer` is delivered.
    after_buffer: i64,
    read_log: bool,
    /// Caught up with the head once: from then on, falling behind is the consumer's lag.
    live: bool,
    announcements: Receiver<Announcement>,
    failed: bool,
}

impl Follower {
    async fn next(&mut self) -> Option<Result<LoggedChange, FollowError>> {
        if self.failed {
            return None;
        }
        let item = self.step().await;
        self.failed = matches!(item, Some(Err(_)));
        item
    }

    /// The error that stops a live follower `head - last` events behind, if that is too many.
    fn behind(&self, head: i64) -> Option<FollowError> {
        let behind = head - self.last;
        (self.live && behind > self.log.max_lag()).then_some(FollowError::Behind {
            last: self.last,
            behind,
        })
    }

    async fn step(&mut self) -> Option<Result<LoggedChange, FollowError>> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                self.last = self.last.max(event.seq);
                return Some(Ok(event));
            }
            self.last = self.last.max(self.after_buffer);
            if self.read_log {
                // Everything announced before this read is committed, so the read sees it all.
                let announced = self.announced;
                match self
                    .log
                    .page(self.project_id, self.last, PAGE, &self.selection)
                    .await
                {
                    Ok(rows) => {
                        let full = rows.len() as u64 == PAGE;
                        self.after_buffer = if full {
                            rows.last().map_or(self.last, |r| r.seq)
                        } else {
                            announced.max(rows.last().map_or(self.last, |r| r.seq))
                        };
                        self.read_log = full;
                        self.live |= !full;
                        self.buffer.extend(rows);
                        continue;
                    }
                    Err(e) => return Some(Err(e.into())),
                }
            }
            match self.announcements.recv().await {
                Ok(a) if a.project_id.is_nil() => self.read_log = true,
                Ok(a) if a.project_id != self.project_id || a.last <= self.last => {}
                Ok(a) => {
                    // Measured before this append: one large append is not the consumer's lag.
                    if let Some(behind) = self.behind(a.first - 1) {
                        return Some(Err(behind));
                    }
                    self.announced = self.announced.max(a.last);
                    match a.events {
                        Some(events) if a.first == self.last + 1 => {
                            let selection = &self.selection;
                            self.buffer
                                .extend(events.iter().filter(|e| selection.takes(e)).cloned());
                            self.after_buffer = a.last;
                        }
                        _ => self.read_log = true,
                    }
                }
                // Missed announcements: the log has them all; read it again, unless the
                // consumer is too far behind to stay live.
                Err(RecvError::Lagged(_)) => {
                    let head = match self.log.head(self.project_id).await {
                        Ok(head) => head,
                        Err(e) => return Some(Err(e.into())),
                    };
                    if let Some(behind) = self.behind(head) {
                        return Some(Err(behind));
                    }
                    self.read_log = true;
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// The project's events after sequence number `after` that `selection` takes, then the new
/// ones as they come, until the caller drops the stream. Fails first with `LogError::Expired`
/// when retention has dropped events after `after`.
pub async fn follow(
    log: ChangeLog,
    project_id: Uuid,
    after: i64,
    selection: Selection,
) -> Result<impl Stream<Item = Result<LoggedChange, FollowError>> + use<>, LogError> {
    let announcements = log.bus().subscribe();
    log.check_cursor(project_id, after).await?;
    let follower = Follower {
        log,
        project_id,
        selection,
        last: after,
        announced: after,
        buffer: VecDeque::new(),
        after_buffer: after,
        read_log: true,
        live: false,
        announcements,
        failed: false,
    };
    Ok(stream::unfold(follower, |mut f| async move {
        let item = f.next().await?;
        Some((item, f))
    }))
}
