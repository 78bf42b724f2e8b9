//! The change log and what feeds and serves it. Webhooks and sync append changes (`log`), each
//! append in one transaction with what it depends on (a webhook's receipt, a sync's checkpoint),
//! numbered by a per-project sequence that becomes visible in order. Appends announce themselves
//! on the `bus`; a subscriber (`follow`) reads the log from its cursor and sleeps on the bus when
//! it has caught up, so replay and live tail are one loop over the database — no gap and no
//! duplicate at the switch, and a slow reader only ever delays itself. On PostgreSQL, the
//! `relay` carries announcements between processes through LISTEN/NOTIFY. An event from a
//! connection is its user's (`audience`): readers see their own events and the project's, or
//! all of them with the `changes:project` scope. `outbound` pushes the log to partners'
//! webhook endpoints.

mod audience;
mod bus;
mod follow;
pub mod google_watch;
pub mod hooks;
pub mod keeper;
pub mod lifecycle;
mod log;
pub mod outbound;
pub mod relay;
pub mod retention;
pub mod stale;
pub mod subscriptions;
pub mod sync;
pub mod webhooks;

pub use audience::Audience;
pub use bus::Bus;
pub use follow::{FollowError, Selection, follow};
pub use log::{Appended, Change, ChangeLog, LogError, LoggedChange, MAX_LAG, Op, Receipt};
