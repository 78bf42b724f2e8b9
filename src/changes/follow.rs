//! Following a project's log: the events after a cursor, then each new one as it is appended.
//! One loop does both — read a page after the last sequence number delivered; when there is
//! none, wait for the bus to announce more — and the follower subscribes to the bus before its
//! first read, so an event appended at any moment is either in a page or announced after it.

use std::collections::VecDeque;

use futures_util::{Stream, stream};
use sea_orm::DbErr;
use tokio::sync::broadcast::{Receiver, error::RecvError};
use uuid::Uuid;

use crate::{providers::Provider, store::entities::change_events};

use super::{ChangeLog, LogError, Op, bus::Announcement};

/// Events read from the log per query.
const PAGE: u64 = 500;

/// Which events a follower wants; `None` takes all.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub providers: Option<Vec<Provider>>,
    pub kinds: Option<Vec<String>>,
    pub ops: Option<Vec<Op>>,
}

struct Follower {
    log: ChangeLog,
    project_id: Uuid,
    selection: Selection,
    last: i64,
    buffer: VecDeque<change_events::Model>,
    announcements: Receiver<Announcement>,
    failed: bool,
}

impl Follower {
    async fn next(&mut self) -> Option<Result<change_events::Model, DbErr>> {
        if self.failed {
            return None;
        }
        loop {
            if let Some(event) = self.buffer.pop_front() {
                self.last = event.seq;
                return Some(Ok(event));
            }
            let page = self
                .log
                .page(self.project_id, self.last, PAGE, &self.selection)
                .await;
            match page {
                Ok(rows) if !rows.is_empty() => {
                    self.buffer.extend(rows);
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
            loop {
                match self.announcements.recv().await {
                    Ok(a) if a.project_id.is_nil() => break,
                    Ok(a) if a.project_id == self.project_id && a.seq > self.last => break,
                    Ok(_) => {}
                    // Missed announcements: the log has them all; read it again.
                    Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return None,
                }
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
) -> Result<impl Stream<Item = Result<change_events::Model, DbErr>> + use<>, LogError> {
    let announcements = log.bus().subscribe();
    log.check_cursor(project_id, after).await?;
    let follower = Follower {
        log,
        project_id,
        selection,
        last: after,
        buffer: VecDeque::new(),
        announcements,
        failed: false,
    };
    Ok(stream::unfold(follower, |mut f| async move {
        let item = f.next().await?;
        Some((item, f))
    }))
}
