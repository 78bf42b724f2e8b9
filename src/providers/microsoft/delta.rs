//! Microsoft Graph delta queries as change feeds for incremental sync, as Gmail's history and
//! Google Calendar's sync tokens are: Outlook mail (`/me/mailFolders/{folder}/messages/delta`,
//! for the inbox and sent items), events (`/me/calendarView/delta`) and Teams channel messages
//! (`/teams/{team}/channels/{channel}/messages/delta`, root messages of each joined channel).
//!
//! - A round follows `@odata.nextLink` pages until the page that carries `@odata.deltaLink`; that
//!   link is the cursor, and the next round starts from it and lists only what changed since.
//! - The first round (no cursor) pages through the whole folder or window only to reach its delta
//!   link: what already exists is not reported, the feed begins now (as Gmail's does).
//! - Mail pages carry the fields the mail adapter reads (`$select`, which Graph keeps in its
//!   links), 100 to a page (`$top`); calendar pages are Graph's default size.
//! - An entry with `@removed` is a deletion (for mail also a move out of the folder), and so is
//!   a Teams message with `deletedDateTime` set (Teams deletes softly: the message comes back
//!   marked, not removed); otherwise a record whose `createdDateTime` equals its
//!   `lastModifiedDateTime` is new, any other changed.
//!   Graph counts in whole seconds: a change in the second a record was made reads as its making.
//! - A delta state Graph no longer keeps (410 `SyncStateNotFound`, or the `resyncRequired` /
//!   `syncStateInvalid` codes) starts the feed again from now, and says so (`Feed::restarted`).
//! - Mail's cursor is a JSON object of one delta link per folder, Teams' one per channel
//!   (`{teamId}/{channelId}`; a channel joined since starts with a round that only takes its
//!   link, one left is dropped); the calendar's is its delta link. Its window (30 days back, a year ahead) is the one the first round chose: Graph keeps
//!   a delta's `startDateTime`/`endDateTime` in its links.

use std::collections::BTreeMap;

use chrono::{Duration, SecondsFormat, Utc};
use http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use crate::{
    providers::{
        Provider,
        chat::ChannelCache,
        record::{ChangeKind, Feed, FeedChange},
    },
    upstream::{Call, ErrorKind, ProviderError, Reply, Target, Verdict},
};

use super::{
    MicrosoftProvider, error,
    mail::SELECT,
    teams::{next_call, segment},
};

/// The mail folders whose changes are followed.
const MAIL_FOLDERS: &[&str] = &["inbox", "sentitems"];
/// Messages per delta page (Graph's default is 10).
const MAIL_PAGE: &str = "100";
/// The calendar window a feed follows, around the day it began.
const WINDOW_BEFORE: Duration = Duration::days(30);
const WINDOW_AFTER: Duration = Duration::days(365);

/// The error codes Graph answers a delta state it no longer keeps with.
const GONE_CODES: &[&str] = &["SyncStateNotFound", "resyncRequired", "syncStateInvalid"];

#[derive(Deserialize)]
struct DeltaPage {
    #[serde(default)]
    value: Vec<Value>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    delta_link: Option<String>,
}

/// Graph's verdicts, with a delta state it no longer keeps as `NotFound`.
fn classify(reply: &Reply) -> Verdict {
    if reply.status.is_success() {
        return Verdict::Success;
    }
    let code = serde_json::from_slice::<Value>(&reply.body)
        .ok()
        .and_then(|body| body["error"]["code"].as_str().map(str::to_owned));
    let gone = reply.status == StatusCode::GONE
        || code.is_some_and(|c| GONE_CODES.iter().any(|g| g.eq_ignore_ascii_case(&c)));
    if gone {
        return Verdict::failure(ErrorKind::NotFound, "the delta state is no longer kept");
    }
    error::classify(reply)
}

/// A next or delta link as a call.
fn link_call(provider: Provider, op: &'static str, link: &str) -> Result<Call, ProviderError> {
    next_call(op, link).ok_or_else(|| {
        ProviderError::new(
            ErrorKind::Upstream,
            provider,
            op,
            "a delta link outside Graph's API",
        )
    })
}

/// What an entry of a delta page says happened to its record.
fn change_of(item: Value) -> Option<FeedChange> {
    let remote_id = item["id"].as_str()?.to_owned();
    let kind = if item.get("@removed").is_some() || item["deletedDateTime"].is_string() {
        ChangeKind::Deleted
    } else if item["createdDateTime"].is_string()
        && item["createdDateTime"] == item["lastModifiedDateTime"]
    {
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

/// A round's changes and the delta link it ended with, or `None` when Graph no longer keeps the
/// delta state the round resumed.
type Round = Option<(Vec<FeedChange>, String)>;

impl MicrosoftProvider {
    /// Follows `first` and its next links to the delta link. `report` keeps the entries (a first
    /// round only wants the link); `resumes` says `first` continues a delta state, whose loss
    /// restarts the feed (every page after the first does).
    async fn delta_round(
        &self,
        target: Target,
        first: Call,
        report: bool,
        mut resumes: bool,
    ) -> Result<Round, ProviderError> {
        let op = first.op;
        let provider = target.provider;
        let mut call = first;
        let mut changes = Vec::new();
        loop {
            let reply = match self.upstream.send(target, &call, classify).await {
                Ok(reply) => reply,
                Err(e) if resumes && e.kind == ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            let page: DeltaPage = reply.json(provider, op)?;
            if report {
                changes.extend(page.value.into_iter().filter_map(change_of));
            }
            match (page.next_link, page.delta_link) {
                (Some(next), _) => {
                    call = link_call(provider, op, &next)?;
                    resumes = true;
                }
                (None, Some(link)) => return Ok(Some((changes, link))),
                (None, None) => {
                    return Err(ProviderError::new(
                        ErrorKind::Upstream,
                        provider,
                        op,
                        "a delta page with neither a next nor a delta link",
                    ));
                }
            }
        }
    }

    /// One feed from `cursor` (a delta link), or from `begin` when there is none or Graph lost it.
    async fn delta_feed(
        &self,
        target: Target,
        cursor: Option<&str>,
        begin: Call,
    ) -> Result<Feed, ProviderError> {
        let op = begin.op;
        // A cursor that is no delta link of Graph's is as good as lost.
        if let Some(resume) = cursor.and_then(|link| next_call(op, link))
            && let Some((changes, cursor)) = self.delta_round(target, resume, true, true).await?
        {
            return Ok(Feed {
                changes,
                cursor,
                restarted: false,
            });
        }
        let (_, link) = self
            .delta_round(target, begin, false, false)
            .await?
            .ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::Unavailable,
                    target.provider,
                    op,
                    "Graph lost a delta state while it began",
                )
            })?;
        Ok(Feed {
            changes: Vec::new(),
            cursor: link,
            restarted: cursor.is_some(),
        })
    }

    /// The mailbox's changes after `cursor` (from now when `None`).
    pub async fn mail_changes(
        &self,
        target: Target,
        cursor: Option<&str>,
    ) -> Result<Feed, ProviderError> {
        let held: Option<BTreeMap<String, String>> =
            cursor.map(|c| serde_json::from_str(c).unwrap_or_default());
        // A cursor that does not read is lost: every folder starts again.
        let mut restarted = held.as_ref().is_some_and(BTreeMap::is_empty);
        let mut links = held.unwrap_or_default();
        let mut changes = Vec::new();
        for folder in MAIL_FOLDERS {
            let begin = Call::get(
                "messages.delta",
                format!("/v1.0/me/mailFolders/{folder}/messages/delta"),
            )
            .query(
                "$select",
                format!("{SELECT},createdDateTime,lastModifiedDateTime"),
            )
            .query("$top", MAIL_PAGE);
            let held = links.get(*folder).cloned();
            let feed = self.delta_feed(target, held.as_deref(), begin).await?;
            restarted |= feed.restarted;
            changes.extend(feed.changes);
            links.insert((*folder).to_owned(), feed.cursor);
        }
        Ok(Feed {
            changes,
            cursor: serde_json::to_string(&links).unwrap_or_default(),
            restarted,
        })
    }

    /// The root messages of every joined Teams channel changed after `cursor` (from now when
    /// `None`), with remote ids `{teamId}/{channelId}/{messageId}` as the chat adapter's.
    pub async fn teams_changes(
        &self,
        target: Target,
        cache: &ChannelCache,
        cursor: Option<&str>,
    ) -> Result<Feed, ProviderError> {
        let read = cursor.map(serde_json::from_str::<BTreeMap<String, String>>);
        // A cursor that does not read is lost: every channel starts again.
        let mut restarted = read.as_ref().is_some_and(Result::is_err);
        let held = read.and_then(Result::ok).unwrap_or_default();
        let mut links = BTreeMap::new();
        let mut changes = Vec::new();
        let channels = self.joined_channels(target, cache).await?;
        for channel in channels.iter() {
            let Some((team, id)) = channel.remote_id.split_once('/') else {
                continue;
            };
            let begin = Call::get(
                "teams.messages.delta",
                format!(
                    "/v1.0/teams/{}/channels/{}/messages/delta",
                    segment(team),
                    segment(id)
                ),
            )
            .query("$top", "50");
            let feed = self
                .delta_feed(
                    target,
                    held.get(&channel.remote_id).map(String::as_str),
                    begin,
                )
                .await?;
            restarted |= feed.restarted;
            changes.extend(feed.changes.into_iter().map(|mut c| {
                c.remote_id = format!("{}/{}", channel.remote_id, c.remote_id);
                c
            }));
            links.insert(channel.remote_id.clone(), feed.cursor);
        }
        Ok(Feed {
            changes,
            cursor: serde_json::to_string(&links).unwrap_or_default(),
            restarted,
        })
    }

    /// The calendar's changes after `cursor` (from now when `None`), in a window around the day
    /// the feed began.
    pub async fn calendar_changes(
        &self,
        target: Target,
        cursor: Option<&str>,
    ) -> Result<Feed, ProviderError> {
        let now = Utc::now();
        let at = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        let begin = Call::get("calendarView.delta", "/v1.0/me/calendarView/delta")
            .query("startDateTime", at(now - WINDOW_BEFORE))
            .query("endDateTime", at(now + WINDOW_AFTER));
        self.delta_feed(target, cursor, begin).await
    }
}
