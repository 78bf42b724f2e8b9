//! Gmail's change feed for incremental sync: `users.history.list` from a `startHistoryId`,
//! oldest first, page by page, then the mailbox's new `historyId` as the next start. A start that
//! Gmail no longer keeps answers 404: the feed starts again from the mailbox's current
//! `historyId` (`users.getProfile`) and says so, since changes in between cannot be listed.

use serde::Deserialize;
use serde_json::Value;

use crate::{
    providers::{
        Provider,
        record::{ChangeKind, Feed, FeedChange},
    },
    upstream::{Call, ErrorKind, ProviderError, Target},
};

use super::{GoogleProvider, error};

const HISTORY: &str = "/gmail/v1/users/me/history";
const PROFILE: &str = "/gmail/v1/users/me/profile";
/// Most records Gmail returns per history page.
const PAGE: &str = "500";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryPage {
    #[serde(default)]
    history: Vec<Value>,
    next_page_token: Option<String>,
    history_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    history_id: String,
}

/// The changes one history record names: added and deleted messages, label changes.
fn changes_of(record: &Value) -> Vec<FeedChange> {
    let kinds = [
        ("messagesAdded", ChangeKind::Created),
        ("messagesDeleted", ChangeKind::Deleted),
        ("labelsAdded", ChangeKind::Updated),
        ("labelsRemoved", ChangeKind::Updated),
    ];
    let mut out = Vec::new();
    for (field, kind) in kinds {
        for entry in record[field].as_array().into_iter().flatten() {
            if let Some(id) = entry["message"]["id"].as_str() {
                out.push(FeedChange {
                    kind,
                    remote_id: id.to_owned(),
                    raw: record.clone(),
                });
            }
        }
    }
    out
}

impl GoogleProvider {
    async fn gmail_history_id(&self, target: Target) -> Result<String, ProviderError> {
        let call = Call::get("profile", PROFILE);
        let reply = self.upstream.send(target, &call, error::classify).await?;
        Ok(reply.json::<Profile>(Provider::Gmail, call.op)?.history_id)
    }

    /// The mailbox's changes after `start` (none when `start` is `None`: the feed begins now).
    pub async fn gmail_changes(
        &self,
        target: Target,
        start: Option<&str>,
    ) -> Result<Feed, ProviderError> {
        let Some(start) = start else {
            return Ok(Feed {
                changes: Vec::new(),
                cursor: self.gmail_history_id(target).await?,
                restarted: false,
            });
        };
        let mut changes = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let mut call = Call::get("history.list", HISTORY)
                .query("startHistoryId", start)
                .query("maxResults", PAGE);
            if let Some(token) = &page_token {
                call = call.query("pageToken", token.as_str());
            }
            let page: HistoryPage = match self.upstream.send(target, &call, error::classify).await {
                Ok(reply) => reply.json(Provider::Gmail, call.op)?,
                Err(e) if e.kind == ErrorKind::NotFound => {
                    return Ok(Feed {
                        changes: Vec::new(),
                        cursor: self.gmail_history_id(target).await?,
                        restarted: true,
                    });
                }
                Err(e) => return Err(e),
            };
            changes.extend(page.history.iter().flat_map(changes_of));
            match page.next_page_token {
                Some(token) => page_token = Some(token),
                None => {
                    return Ok(Feed {
                        changes,
                        cursor: page.history_id,
                        restarted: false,
                    });
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
    fn a_record_names_each_message_it_changed() {
        let record = json!({ "id": "9", "messagesAdded": [{ "message": { "id": "m1" } }],
                             "labelsRemoved": [{ "message": { "id": "m2" }, "labelIds": ["UNREAD"] }] });
        let changes = changes_of(&record);
        let seen: Vec<(ChangeKind, &str)> = changes
            .iter()
            .map(|c| (c.kind, c.remote_id.as_str()))
            .collect();
        assert_eq!(
            seen,
            vec![(ChangeKind::Created, "m1"), (ChangeKind::Updated, "m2")]
        );
    }
}
