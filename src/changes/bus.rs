//! The bus that wakes followers: each append announces `(project, last sequence number)`. It
//! carries no events — followers read those from the log — so a follower that misses
//! announcements (a lagging receiver) loses nothing: it reads the log again from its cursor.

use tokio::sync::broadcast;
use uuid::Uuid;

/// Announcements kept for receivers that have not read them yet; older ones are dropped for
/// that receiver, which then re-reads the log.
const CAPACITY: usize = 1024;

/// A project's log grew up to `seq`; the nil project wakes everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announcement {
    pub project_id: Uuid,
    pub seq: i64,
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
    /// Tells every follower in this process that `project_id`'s log reaches `seq`.
    pub fn announce(&self, project_id: Uuid, seq: i64) {
        // No receiver is not an error: nobody is following right now.
        let _ = self.sender.send(Announcement { project_id, seq });
    }

    /// Wakes every follower, whatever its project (after announcements may have been missed).
    pub fn wake_all(&self) {
        let _ = self.sender.send(Announcement {
            project_id: Uuid::nil(),
            seq: i64::MAX,
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Announcement> {
        self.sender.subscribe()
    }
}
