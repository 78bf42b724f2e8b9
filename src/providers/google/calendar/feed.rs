//! Google Calendar's change feed for incremental sync: `events.list` with the `syncToken` the
//! last pass ended with gives every event changed since (cancelled ones included), page by page,
//! and the next token on the last page. The first pass reads the calendar once to get a token and
//! reports nothing; a token Google no longer accepts (410 `fullSyncRequired`) starts the feed
//! again the same way and says so.

use serde::Deserialize;
use serde_json::Value;

use crate::{
    providers::{
        Provider,
        record::{ChangeKind, Feed, FeedChange},
    },
    upstream::{Call, ErrorKind, ProviderError, Target},
};

use super::{EVENTS, GoogleProvider, MAX_RESULTS, error};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FeedPage {
    #[serde(default)]
    items: Vec<Value>,
    next_page_token: Option<String>,
    next_sync_token: Option<String>,
}

/// What a changed event's entry says happened to it.
fn change_of(item: Value) -> Option<FeedChange> {
    let remote_id = item["id"].as_str()?.to_owned();
    let kind = if item["status"] == "cancelled" {
        ChangeKind::Deleted
    } else if item["created"].is_string() && item["created"] == item["updated"] {
        ChangeKind::Created
    } else {
        ChangeKind::Updated
    };
    Some(FeedChange {
        kind,
        remote_id,
        raw: item,
    })
}

impl GoogleProvider {
    /// The calendar's changes after `cursor` (a sync token); from now when `None`.
    pub async fn calendar_changes(
        &self,
        target: Target,
        cursor: Option<&str>,
    ) -> Result<Feed, ProviderError> {
        let Some(token) = cursor else {
            let (_, cursor) = self.read_feed(target, None).await?;
            return Ok(Feed {
                changes: Vec::new(),
                cursor,
                restarted: false,
            });
        };
        match self.read_feed(target, Some(token)).await {
            Ok((changes, cursor)) => Ok(Feed {
                changes,
                cursor,
                restarted: false,
            }),
            Err(e) if e.kind == ErrorKind::NotFound => {
                let (_, cursor) = self.read_feed(target, None).await?;
                Ok(Feed {
                    changes: Vec::new(),
                    cursor,
                    restarted: true,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Every page of `events.list` from `sync_token` (the whole calendar without one): the
    /// changed events, and the token to continue from.
    async fn read_feed(
        &self,
        target: Target,
        sync_token: Option<&str>,
    ) -> Result<(Vec<FeedChange>, String), ProviderError> {
        let mut changes = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let mut call =
                Call::get("events.list", EVENTS).query("maxResults", MAX_RESULTS.to_string());
            if let Some(token) = sync_token {
                call = call.query("syncToken", token);
            }
            if let Some(token) = &page_token {
                call = call.query("pageToken", token.as_str());
            }
            let reply = self.upstream.send(target, &call, error::classify).await?;
            let page: FeedPage = reply.json(Provider::GoogleCalendar, call.op)?;
            if sync_token.is_some() {
                changes.extend(page.items.into_iter().filter_map(change_of));
            }
            match (page.next_page_token, page.next_sync_token) {
                (Some(next), _) => page_token = Some(next),
                (None, Some(token)) => return Ok((changes, token)),
                (None, None) => {
                    return Err(ProviderError::new(
                        ErrorKind::Upstream,
                        Provider::GoogleCalendar,
                        call.op,
                        "the last page of a sync carried no nextSyncToken",
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn entries_say_what_happened() {
        let kind = |item: Value| change_of(item).map(|c| c.kind);
        let at = "2026-11-26T10:00:00.000Z";
        assert_eq!(
            kind(json!({ "id": "a", "created": at, "updated": at })),
            Some(ChangeKind::Created)
        );
        assert_eq!(
            kind(json!({ "id": "b", "created": at, "updated": "2026-11-26T11:00:00.000Z" })),
            Some(ChangeKind::Updated)
        );
        assert_eq!(
            kind(json!({ "id": "c", "status": "cancelled" })),
            Some(ChangeKind::Deleted)
        );
        assert_eq!(kind(json!({ "status": "confirmed" })), None);
    }
}
