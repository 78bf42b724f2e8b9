//! The bus that wakes followers: each append announces `(project, first..=last sequence
//! number)` and, from this process, the events themselves, so a follower at the head of the log
//! takes them from the announcement without a query. A follower that is behind, that misses
//! announcements (a lagging receiver) or that hears another process's append (seq only, through
//! the relay) reads the log from its cursor instead: the log, not the bus, is the truth.

use std::sync::Arc;

use tokio::sync::broadcast;
use uuid::Uuid;

use super::LoggedChange;

/// Announcements kept for receivers that have not read them yet; older ones are dropped for
/// that receiver, which then re-reads the log.
const CAPACITY: usize = 1024;

/// A project's log grew to `last`; the nil project wakes everyone.
#[derive(Debug, Clone)]
pub struct Announcement {
    pub project_id: Uuid,
    /// The first sequence number appended (`last` when unknown).
    pub first: i64,
    pub last: i64,
    /// The events `first..=last`, when the append happened in this process.
    pub events: Option<Arc<Vec<LoggedChange>>>,
}

#[derive(Clone)]
pub struct Bus {
    sender: broadcast::Sender<Announcement>,
}

impl Default for Bus {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
        }
    }
}

impl Bus {
    /// Tells every follower in this process that `project_id`'s log now holds `events`.
    pub fn appended(&self, project_id: Uuid, events: Vec<LoggedChange>) {
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return;
        };
        let (first, last) = (first.seq, last.seq);
        self.send(Announcement {
            project_id,
            first,
            last,
            events: Some(Arc::new(events)),
        });
    }

    /// Tells every follower in this process that `project_id`'s log reaches `seq` (an append
    /// elsewhere, heard through the relay).
    pub fn announce(&self, project_id: Uuid, seq: i64) {
        self.send(Announcement {
            project_id,
            first: seq,
            last: seq,
            events: None,
        });
    }

    /// Wakes every follower, whatever its project (after announcements may have been missed).
    pub fn wake_all(&self) {
        self.send(Announcement {
            project_id: Uuid::nil(),
            first: i64::MAX,
            last: i64::MAX,
            events: None,
        });
    }

    fn send(&self, announcement: Announcement) {
        // No receiver is not an error: nobody is following right now.
        let _ = self.sender.send(announcement);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Announcement> {
        self.sender.subscribe()
    }
}
