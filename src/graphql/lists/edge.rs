//! The window's edge: where a synced page of mail or messages runs out because the copy holds
//! only a window (90 days by default), not because the provider has nothing older.
//!
//! A request that does not bound the list inside the window (no `after` date) reaches past it:
//! when the copy's page ends (`more: false`) before it is full, the provider's older records
//! follow live in the same page, read from the copy's last record on the list's keyset, so that
//! the two parts meet exactly. A full page that ends at the window's edge says it has more, and
//! the next page (whose position is then at or past the edge) finds nothing in the copy and goes
//! live. Each record says where it came from (`Origin::Spliced`), and the cursor records the
//! source of each provider's last record, so paging from the copy into the provider never
//! repeats or skips a record. Should the live part fail, the page keeps what the copy gave and
//! says it has more: the next page asks the provider again and reports its error then, typed,
//! never a silently shorter list.

use std::{collections::HashSet, future::Future, sync::Arc};

use nexus_core::{AsOf, ProviderError};

use crate::providers::record::{ListPage, Position, Record, Sorted};

use super::super::freshness::Origin;

/// `copied` (the copy's answer to a page of at most `limit` records after `after`), continued
/// live past the window when the request `reaches_past` it (see the module's docs); `live`
/// reads the provider's page of at most the given count after the given position.
pub async fn past_the_window<T, F, Fut>(
    copied: ListPage<T>,
    as_of: AsOf,
    after: Option<Position>,
    limit: usize,
    reaches_past: bool,
    live: F,
) -> Result<(ListPage<T>, Origin), ProviderError>
where
    T: Sorted,
    F: FnOnce(Option<Position>, usize) -> Fut,
    Fut: Future<Output = Result<(ListPage<T>, Origin), ProviderError>>,
{
    let synced = Arc::new(as_of);
    if !reaches_past || copied.more {
        return Ok((copied, Origin::Synced(synced)));
    }
    let held = copied.records.len();
    if held >= limit {
        let page = ListPage {
            records: copied.records,
            more: true,
        };
        return Ok((page, Origin::Synced(synced)));
    }
    let resume = copied.records.last().map(Record::position).or(after);
    match live(resume, limit - held).await {
        Ok(rest) if held == 0 => Ok(rest),
        Ok((rest, origin)) => {
            let ids: HashSet<String> = copied.records.iter().map(|r| r.remote_id.clone()).collect();
            let mut records = copied.records;
            records.extend(rest.records);
            let page = ListPage {
                records,
                more: rest.more,
            };
            let origin = Origin::Spliced {
                synced,
                ids: Arc::new(ids),
                rest: Box::new(origin),
            };
            Ok((page, origin))
        }
        Err(error) if held == 0 => Err(error),
        Err(_) => {
            let page = ListPage {
                records: copied.records,
                more: true,
            };
            Ok((page, Origin::Synced(synced)))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{cell::Cell, collections::HashMap};

    use chrono::{Duration, Utc};
    use nexus_core::{
        ErrorKind,
        records::chat::{ChannelRef, Message},
    };

    use super::*;
    use crate::{
        graphql::freshness::{DataSource, MaxAge},
        providers::Provider,
    };

    /// Messages `ids`, newest first, an hour apart.
    fn messages(ids: &[u32]) -> Vec<Record<Message>> {
        let now = Utc::now();
        ids.iter()
            .map(|id| {
                let at = now - Duration::hours(i64::from(*id));
                Record {
                    provider: Provider::Slack,
                    remote_id: id.to_string(),
                    created_at: at,
                    updated_at: at,
                    raw: serde_json::Value::Null.into(),
                    data: Message {
                        text: String::new(),
                        channel: ChannelRef {
                            id: "C1".into(),
                            name: None,
                        },
                        author: None,
                        sent_at: at,
                        thread_id: None,
                        reply_count: 0,
                    },
                }
            })
            .collect()
    }

    fn as_of() -> AsOf {
        AsOf {
            pass: Utc::now(),
            records: HashMap::new(),
        }
    }

    fn ids(page: &ListPage<Message>) -> Vec<String> {
        page.records.iter().map(|r| r.remote_id.clone()).collect()
    }

    fn page(ids: &[u32], more: bool) -> ListPage<Message> {
        ListPage {
            records: messages(ids),
            more,
        }
    }

    #[tokio::test]
    async fn a_page_that_runs_out_at_the_edge_continues_live_after_the_copys_last_record() {
        let asked = Cell::new(None);
        let older = |after: Option<Position>, limit: usize| {
            asked.set(Some((after.map(|p| p.remote_id), limit)));
            async { Ok((page(&[3, 4], true), Origin::live())) }
        };
        let (found, origin) = past_the_window(page(&[1, 2], false), as_of(), None, 5, true, older)
            .await
            .unwrap();
        assert_eq!(asked.take(), Some((Some("2".to_owned()), 3)));
        assert_eq!(ids(&found), ["1", "2", "3", "4"]);
        assert!(found.more, "the provider's own `more`");
        let source = |id: &str| origin.fetched(id, MaxAge::default()).source;
        assert_eq!(source("2"), DataSource::Synced);
        assert_eq!(source("3"), DataSource::Live);
    }

    #[tokio::test]
    async fn a_copy_with_more_a_full_page_or_a_bound_inside_the_window_asks_no_provider() {
        let calls = Cell::new(0);
        let counted = |_: Option<Position>, _: usize| {
            calls.set(calls.get() + 1);
            async { Ok((ListPage::empty(), Origin::live())) }
        };
        let (found, _) = past_the_window(page(&[1], true), as_of(), None, 5, true, counted)
            .await
            .unwrap();
        assert!(found.more);
        let (found, _) = past_the_window(page(&[1, 2], false), as_of(), None, 2, true, counted)
            .await
            .unwrap();
        assert!(found.more, "the next page goes past the edge");
        let (found, origin) = past_the_window(page(&[1], false), as_of(), None, 5, false, counted)
            .await
            .unwrap();
        assert!(!found.more);
        assert_eq!(origin.source(), DataSource::Synced);
        assert_eq!(calls.get(), 0);
    }

    #[tokio::test]
    async fn a_live_part_that_fails_leaves_the_copys_records_and_more_to_ask() {
        let refused = |_: Option<Position>, _: usize| async {
            Err(ProviderError::new(
                ErrorKind::RateLimited,
                Provider::Slack,
                "conversations.history",
                "slow down",
            ))
        };
        let (found, _) = past_the_window(page(&[1], false), as_of(), None, 5, true, refused)
            .await
            .unwrap();
        assert_eq!(ids(&found), ["1"]);
        assert!(found.more, "asked again on the next page");
        let error = past_the_window(ListPage::empty(), as_of(), None, 5, true, refused)
            .await
            .unwrap_err();
        assert_eq!(error.kind, ErrorKind::RateLimited);
    }
}
