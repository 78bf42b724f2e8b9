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
