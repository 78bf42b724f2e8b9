//! Who sees which events of a project's log. An event from a connection carries the user whose
//! connection it is, and is that user's: mail, chat and calendar changes, but also CRM records
//! synced through a member's connection. An event without a user (the default project's Stripe
//! webhooks) is the whole project's. A reader sees the project's events and its own, or —
//! holding the `changes:project` scope — every event of the project. The filter runs where
//! events are read (the log's pages, a follower's announcements); cursors stay positions in the
//! whole log, so a reader that cannot see some events still resumes exactly after the last one
//! it was given.
//!
//! One more kind of event is the project's notice to those who run its integration: an event
//! written with the nil user (an endpoint's `webhook_endpoint.disabled`, see `lifecycle`), which
//! no caller is. `changes:project` readers see it as they see everything; a member does not; a
//! member's webhook endpoint does (`Audience::Webhook`), since webhooks are where an
//! integration's server learns that its delivery stopped.

use uuid::Uuid;

use crate::auth::{Scope, Scopes, Tenant};

/// Whose events a reader sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Every event of the project.
    Project,
    /// The project's own events and this user's.
    Member(Uuid),
    /// A member's webhook endpoint: what `Member` sees, and the project's notices (events of
    /// the nil user).
    Webhook(Uuid),
}

impl Audience {
    /// What a caller sees: the whole project with `changes:project`, else its own and the
    /// project's.
    pub fn of(tenant: Tenant, scopes: Scopes) -> Self {
        if scopes.allows(Scope::ChangesProject) {
            Audience::Project
        } else {
            Audience::Member(tenant.user_id)
        }
    }

    /// Whether the reader sees an event of `user` (none: the project's).
    pub fn sees(self, user: Option<Uuid>) -> bool {
        match (self, user) {
            (Audience::Project, _) | (_, None) => true,
            (Audience::Member(me), Some(user)) => me == user,
            (Audience::Webhook(me), Some(user)) => me == user || user.is_nil(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_of_the_nil_user_reaches_project_readers_and_webhooks_only() {
        let (me, other) = (Uuid::new_v4(), Uuid::new_v4());
        let notice = Some(Uuid::nil());
        assert!(Audience::Project.sees(notice));
        assert!(Audience::Webhook(me).sees(notice));
        assert!(!Audience::Member(me).sees(notice));
        for audience in [Audience::Member(me), Audience::Webhook(me)] {
            assert!(audience.sees(Some(me)) && audience.sees(None));
            assert!(!audience.sees(Some(other)));
        }
    }
}
