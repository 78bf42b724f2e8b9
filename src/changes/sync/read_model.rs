//! The read model (`nexus_core::ReadModel`) over the sync's copy (`copy`): lists, records and
//! relations of a connection's CRM records, answered from the database when that is exactly what
//! the provider would answer, `NotSynced` otherwise.
//!
//! A type's copy answers when it is complete (a full pass over it has ended) and fresh enough:
//! `now − pass_at ≤ max_age`, where `pass_at` is the start of its last complete pass — every
//! creation and update made at the provider before it is in the copy (deletions reach it by a
//! delivered webhook or at the next reconciliation). A record a write through the gateway
//! applied later carries its own time in [`AsOf::records`]. A relation answers when both of its
//! types do.
//!
//! Lists answer the filters the copy applies as the provider's search does, and no other:
//!
//! | filter | HubSpot | Salesforce |
//! |---|---|---|
//! | `updated_after` | every type (`> ` in milliseconds) | every type (`>` in milliseconds) |
//! | `email` | contacts (equal, without case) | contacts, leads (equal, without case) |
//! | `stage` | deals (equal, without case) | deals, leads' status (equal, without case) |
//! | `deal_status` | deals | deals |
//! | `domain` | companies (`domain` equal, without case) | companies (`Website` contains, without case) |
//! | `name_contains` | never (HubSpot's token search is not a substring match) | contacts and leads (first or last name contains, without case), deals, companies (name contains) |
//! | `owner` | never (an owner's email needs the provider's user directory) | never |
//! | `custom` | never (the copy keeps custom fields only in the raw record) | never |
//!
//! A filter a type does not take is ignored, as the adapters ignore it. Pages run in the live
//! list's order (created time, then id; see `copy::sort_key`), strictly after the request's
//! position. A read never fails: an error is logged and answered `NotSynced`.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use nexus_core::{AsOf, CopyStatus, ReadModel, Synced, Target};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
    sea_query::{Condition, LikeExpr},
};

use crate::{
    providers::{
        Provider,
        calendar::{Event, EventQuery},
        chat::{Message, MessageQuery},
        crm::{CrmData, CrmFilter, CrmObject, ListPage, ListRequest, Record},
        mail::{EmailData, MailRequest},
    },
    store::entities::{copy_links, copy_records},
};

use super::{
    comms::Windows,
    copy::{self, Stored, TypeStatus},
    memo::{self, KeptPage, Memo},
};

/// `IN` lists at most this long.
const CHUNK: usize = 300;

/// How long answers are kept in memory by default (`changes.copy_memo_secs`), and how many list
/// pages at most.
const MEMO_TTL: Duration = Duration::from_secs(2);
const MEMO_PAGES: u64 = 2_000;

/// The sync's copy, as a read model.
#[derive(Clone)]
pub struct SyncedCopy {
    pub(super) db: DatabaseConnection,
    memo: Memo,
    /// What the copies of mail, events and messages hold (`comms_read`).
    pub(super) windows: Windows,
}

impl SyncedCopy {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            memo: Memo::new(MEMO_TTL, MEMO_PAGES),
            windows: Windows::default(),
        }
    }

    /// The copy with these windows of mail, events and messages.
    pub fn with_windows(self, windows: Windows) -> Self {
        Self { windows, ..self }
    }

    /// Answers kept in memory at most `ttl` (`changes.copy_memo_secs`; none when zero).
    pub fn memo_for(mut self, ttl: Duration) -> Self {
        self.memo = Memo::new(ttl, MEMO_PAGES);
        self
    }

    /// `object`'s status in `target`'s copy as of `version`.
    async fn status(
        &self,
        target: Target,
        object: CrmObject,
        version: u64,
    ) -> Result<TypeStatus, DbErr> {
        if let Some(status) = self.memo.status(target, object, version).await {
            return Ok(status);
        }
        let status = copy::status(&self.db, target, object).await?;
        self.memo.keep_status(target, object, version, status).await;
        Ok(status)
    }

    /// The start of the last complete pass over `object`, when the copy is complete and no older
    /// than `max_age`.
    async fn fresh(
        &self,
        target: Target,
        object: CrmObject,
        max_age: Duration,
    ) -> Result<Option<DateTime<Utc>>, DbErr> {
        let status = self
            .status(target, object, memo::version(target, object))
            .await?;
        Ok(fresh(status, max_age, Utc::now()))
    }

    async fn try_list(
        &self,
        target: Target,
        request: &ListRequest,
        max_age: Duration,
    ) -> Result<Synced<Arc<ListPage<CrmData>>>, DbErr> {
        let Some(condition) = condition(target.provider, request.object, &request.filter) else {
            return Ok(Synced::NotSynced);
        };
        let object = request.object;
        let version = memo::version(target, object);
        let status = self.status(target, object, version).await?;
        let Some(pass) = fresh(status, max_age, Utc::now()) else {
            return Ok(Synced::NotSynced);
        };
        let key = format!("{:?}|{:?}|{}", request.filter, request.after, request.limit);
        let kept = match self.memo.page(target, object, &key, version).await {
            Some(kept) => kept,
            None => {
                let kept = Arc::new(self.read_page(target, request, condition).await?);
                self.memo
                    .keep_page(target, object, key, version, kept.clone())
                    .await;
                kept
            }
        };
        let as_of = AsOf {
            pass,
            records: kept
                .applied
                .iter()
                .filter(|(_, at)| **at > pass)
                .map(|(id, at)| (id.clone(), *at))
                .collect(),
        };
        Ok(Synced::Synced {
            value: kept.page.clone(),
            as_of,
        })
    }

    /// A list page read from the database and decoded.
    async fn read_page(
        &self,
        target: Target,
        request: &ListRequest,
        condition: Condition,
    ) -> Result<KeptPage, DbErr> {
        let mut query = copy_records::Entity::find()
            .filter(copy::records_of(target))
            .filter(copy_records::Column::Type.eq(request.object.name()))
            .filter(condition);
        if let Some(after) = &request.after {
            query = query.filter(
                copy_records::Column::SortKey.lt(copy::sort_key(after.at, &after.remote_id)),
            );
        }
        let rows = query
            .order_by_desc(copy_records::Column::SortKey)
            .limit(request.limit as u64 + 1)
            .all(&self.db)
            .await?;
        let more = rows.len() > request.limit;
        let mut applied = HashMap::new();
        let mut records = Vec::with_capacity(request.limit.min(rows.len()));
        for row in rows.into_iter().take(request.limit) {
            if let Some(at) = row.applied_at {
                applied.insert(row.remote_id.clone(), at);
            }
            records.push(decode(target.provider, row)?);
        }
        Ok(KeptPage {
            page: Arc::new(ListPage { records, more }),
            applied,
        })
    }

    async fn try_get_many(
        &self,
        target: Target,
        object: CrmObject,
        ids: &[String],
        max_age: Duration,
    ) -> Result<Synced<Vec<Record<CrmData>>>, DbErr> {
        let Some(pass) = self.fresh(target, object, max_age).await? else {
            return Ok(Synced::NotSynced);
        };
        let mut rows = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            rows.extend(
                copy_records::Entity::find()
                    .filter(copy::records_of(target))
                    .filter(copy_records::Column::Type.eq(object.name()))
                    .filter(copy_records::Column::RemoteId.is_in(chunk.iter().cloned()))
                    .all(&self.db)
                    .await?,
            );
        }
        let place: HashMap<&String, usize> =
            ids.iter().enumerate().map(|(i, id)| (id, i)).collect();
        rows.sort_by_key(|row| place.get(&row.remote_id).copied());
        let (records, as_of) = records(target.provider, rows, pass)?;
        Ok(Synced::Synced {
            value: records,
            as_of,
        })
    }

    async fn try_related(
        &self,
        target: Target,
        from: CrmObject,
        to: CrmObject,
        ids: &[String],
        max_age: Duration,
    ) -> Result<Synced<HashMap<String, Vec<String>>>, DbErr> {
        let (Some(a), Some(b)) = (
            self.fresh(target, from, max_age).await?,
            self.fresh(target, to, max_age).await?,
        ) else {
            return Ok(Synced::NotSynced);
        };
        let as_of = AsOf {
            pass: a.min(b),
            records: HashMap::new(),
        };
        let forward = match (
            associates(target.provider, from, to),
            copy::stored_forward(from, to),
        ) {
            (true, Some(forward)) => forward,
            // The provider relates no such records (as its `associated` answers).
            _ => {
                return Ok(Synced::Synced {
                    value: HashMap::new(),
                    as_of,
                });
            }
        };
        let (from_type, to_type, side) = match forward {
            true => (from, to, copy_links::Column::FromId),
            false => (to, from, copy_links::Column::ToId),
        };
        let mut links = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            links.extend(
                copy_links::Entity::find()
                    .filter(copy::links_of(target))
                    .filter(copy_links::Column::FromType.eq(from_type.name()))
                    .filter(copy_links::Column::ToType.eq(to_type.name()))
                    .filter(side.is_in(chunk.iter().cloned()))
                    .order_by_asc(copy_links::Column::Ordinal)
                    .all(&self.db)
                    .await?,
            );
        }
        let mut found: HashMap<String, Vec<String>> = HashMap::new();
        for link in links {
            let (key, value) = match forward {
                true => (link.from_id, link.to_id),
                false => (link.to_id, link.from_id),
            };
            found.entry(key).or_default().push(value);
        }
        if !forward {
            // Reverse relations list the related records newest first, as the providers do.
            let wanted: Vec<String> = found
                .values()
                .flatten()
                .cloned()
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let mut keys: HashMap<String, Vec<u8>> = HashMap::new();
            for chunk in wanted.chunks(CHUNK) {
                let rows: Vec<(String, Vec<u8>)> = copy_records::Entity::find()
                    .select_only()
                    .column(copy_records::Column::RemoteId)
                    .column(copy_records::Column::SortKey)
                    .filter(copy::records_of(target))
                    .filter(copy_records::Column::Type.eq(to.name()))
                    .filter(copy_records::Column::RemoteId.is_in(chunk.iter().cloned()))
                    .into_tuple()
                    .all(&self.db)
                    .await?;
                keys.extend(rows);
            }
            for related in found.values_mut() {
                related.sort_by(|a, b| keys.get(b).cmp(&keys.get(a)));
            }
        }
        Ok(Synced::Synced {
            value: found,
            as_of,
        })
    }

    async fn try_written(&self, target: Target, record: &Record<CrmData>) -> Result<(), DbErr> {
        let object = match &record.data {
            CrmData::Contact(_) => CrmObject::Contact,
            CrmData::Lead(_) => CrmObject::Lead,
            CrmData::Deal(_) => CrmObject::Deal,
            CrmData::Company(_) => CrmObject::Company,
        };
        let txn = self.db.begin().await?;
        copy::store(
            &txn,
            target,
            object,
            std::slice::from_ref(record),
            &[],
            Some(Utc::now()),
        )
        .await?;
        let committed = txn.commit().await;
        memo::changed(&self.db, target, object.name()).await;
        committed
    }
}

/// The start of the last complete pass of `status` when it is complete and no older than
/// `max_age` at `now`.
fn fresh(status: TypeStatus, max_age: Duration, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let pass = status.pass_at.filter(|_| status.complete)?;
    let age = (now - pass).to_std().unwrap_or_default();
    (age <= max_age).then_some(pass)
}

/// Whether `provider`'s `associated` relates records of `from` to records of `to`.
fn associates(provider: Provider, from: CrmObject, to: CrmObject) -> bool {
    use CrmObject::{Company, Contact, Deal};
    match provider {
        Provider::Hubspot => {
            from != to
                && [from, to]
                    .iter()
                    .all(|o| [Contact, Company, Deal].contains(o))
        }
        Provider::Salesforce => matches!(
            (from, to),
            (Contact, Deal) | (Deal, Contact) | (Company, Contact) | (Company, Deal)
        ),
        _ => false,
    }
}

/// A LIKE pattern matching `text` anywhere, its wildcards escaped with `!`.
fn contains(text: &str) -> LikeExpr {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '!') {
            pattern.push('!');
        }
        pattern.push(c);
    }
    pattern.push('%');
    LikeExpr::new(pattern).escape('!')
}

/// The copy's condition for `filter` on `object` at `provider`, as the provider's search applies
/// it; `None` when the copy cannot apply it exactly.
fn condition(provider: Provider, object: CrmObject, filter: &CrmFilter) -> Option<Condition> {
    use CrmObject::{Company, Contact, Deal, Lead};
    use copy_records::Column;
    if filter.owner.is_some() || !filter.custom.is_empty() {
        return None;
    }
    let mut all = Condition::all();
    if let Some(after) = filter.updated_after {
        all = all.add(Column::UpdatedMs.gt(after.timestamp_millis()));
    }
    let email = filter
        .email
        .as_ref()
        .map(|e| Column::Email.eq(e.to_lowercase()));
    let stage = filter
        .stage
        .as_ref()
        .map(|s| Column::Stage.eq(s.to_lowercase()));
    let status = filter
        .deal_status
        .map(|s| Column::Status.eq(copy::deal_status(s)));
    let name = match &filter.name_contains {
        // A line feed separates first and last names in the column: a text holding one could
        // match across them.
        Some(text) if text.contains('\n') => return None,
        Some(text) => Some(Column::Name.like(contains(text))),
        None => None,
    };
    let add = |all: Condition, e: Option<sea_orm::sea_query::SimpleExpr>| match e {
        Some(e) => all.add(e),
        None => all,
    };
    match provider {
        Provider::Hubspot => {
            if name.is_some() && object != Lead {
                return None;
            }
            match object {
                Contact => all = add(all, email),
                Deal => all = add(add(all, stage), status),
                Company => {
                    let domain = filter
                        .domain
                        .as_ref()
                        .map(|d| Column::Domain.eq(d.to_lowercase()));
                    all = add(all, domain);
                }
                Lead => {}
            }
        }
        Provider::Salesforce => match object {
            Contact => all = add(add(all, email), name),
            Lead => all = add(add(add(all, email), name), stage),
            Deal => all = add(add(add(all, stage), status), name),
            Company => {
                let domain = filter
                    .domain
                    .as_ref()
                    .map(|d| Column::Domain.like(contains(d)));
                all = add(add(all, name), domain);
            }
        },
        _ => return None,
    }
    Some(all)
}

/// The records of `rows`, and when each was true: the pass, or the later time a write through
/// the gateway applied it.
fn records(
    provider: Provider,
    rows: impl IntoIterator<Item = copy_records::Model>,
    pass: DateTime<Utc>,
) -> Result<(Vec<Record<CrmData>>, AsOf), DbErr> {
    let mut as_of = AsOf {
        pass,
        records: HashMap::new(),
    };
    let mut records = Vec::new();
    for row in rows {
        if let Some(applied) = row.applied_at.filter(|at| *at > pass) {
            as_of.records.insert(row.remote_id.clone(), applied);
        }
        records.push(decode(provider, row)?);
    }
    Ok((records, as_of))
}

/// The record a row of the copy holds.
fn decode(provider: Provider, row: copy_records::Model) -> Result<Record<CrmData>, DbErr> {
    let stored: Stored = serde_json::from_str(&row.record)
        .map_err(|e| DbErr::Custom(format!("copy record {}: {e}", row.id)))?;
    Ok(stored.record(provider, row.remote_id))
}

/// An answer, or `NotSynced` with the error logged.
fn answer<T>(what: &str, target: Target, result: Result<Synced<T>, DbErr>) -> Synced<T> {
    result.unwrap_or_else(|cause| {
        tracing::warn!(provider = target.provider.slug(), %cause, what, "the copy did not answer; reading live");
        Synced::NotSynced
    })
}

#[async_trait]
impl ReadModel for SyncedCopy {
    async fn list(
        &self,
        target: Target,
        request: &ListRequest,
        max_age: Duration,
    ) -> Synced<Arc<ListPage<CrmData>>> {
        answer(
            "list",
            target,
            self.try_list(target, request, max_age).await,
        )
    }

    async fn get_many(
        &self,
        target: Target,
        object: CrmObject,
        ids: &[String],
        max_age: Duration,
    ) -> Synced<Vec<Record<CrmData>>> {
        answer(
            "records",
            target,
            self.try_get_many(target, object, ids, max_age).await,
        )
    }

    async fn related(
        &self,
        target: Target,
        from: CrmObject,
        to: CrmObject,
        ids: &[String],
        max_age: Duration,
    ) -> Synced<HashMap<String, Vec<String>>> {
        answer(
            "relations",
            target,
            self.try_related(target, from, to, ids, max_age).await,
        )
    }

    async fn status(&self, target: Target) -> Vec<CopyStatus> {
        let statuses = copy::statuses(&self.db, target)
            .await
            .unwrap_or_else(|cause| {
                tracing::warn!(provider = target.provider.slug(), %cause, "reading the copy's status");
                HashMap::new()
            });
        CrmObject::ALL
            .into_iter()
            .map(|object| {
                let status = statuses.get(object.name()).copied().unwrap_or_default();
                CopyStatus {
                    object,
                    complete: status.complete,
                    as_of: status.pass_at.filter(|_| status.complete),
                }
            })
            .collect()
    }

    async fn written(&self, target: Target, record: &Record<CrmData>) {
        if let Err(cause) = self.try_written(target, record).await {
            tracing::warn!(provider = target.provider.slug(), %cause, "a write did not reach the copy; the next pass brings it");
        }
    }

    async fn backfilling(&self, target: Target, kind: &str) -> bool {
        copy::filling(&self.db, target, kind)
            .await
            .unwrap_or_else(|cause| {
                tracing::warn!(provider = target.provider.slug(), %cause, "reading a copy's status");
                false
            })
    }

    async fn emails(
        &self,
        target: Target,
        request: &MailRequest,
        max_age: Duration,
    ) -> Synced<ListPage<EmailData>> {
        answer(
            "emails",
            target,
            self.try_emails(target, request, max_age).await,
        )
    }

    async fn emails_of(
        &self,
        target: Target,
        participants: &[String],
        max_age: Duration,
    ) -> Synced<HashMap<String, Vec<Record<EmailData>>>> {
        answer(
            "contact emails",
            target,
            self.try_emails_of(target, participants, max_age).await,
        )
    }

    async fn events(
        &self,
        target: Target,
        query: &EventQuery,
        max_age: Duration,
    ) -> Synced<ListPage<Event>> {
        answer(
            "events",
            target,
            self.try_events(target, query, max_age).await,
        )
    }

    async fn events_of(
        &self,
        target: Target,
        attendees: &[String],
        max_age: Duration,
    ) -> Synced<HashMap<String, Vec<Record<Event>>>> {
        answer(
            "contact events",
            target,
            self.try_events_of(target, attendees, max_age).await,
        )
    }

    async fn messages(
        &self,
        target: Target,
        query: &MessageQuery,
        max_age: Duration,
    ) -> Synced<ListPage<Message>> {
        answer(
            "messages",
            target,
            self.try_messages(target, query, max_age).await,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_answers_only_when_complete_and_young_enough() {
        let now = Utc::now();
        let pass = now - chrono::Duration::seconds(100);
        let done = TypeStatus {
            complete: true,
            pass_at: Some(pass),
        };
        assert_eq!(fresh(done, Duration::from_secs(100), now), Some(pass));
        assert_eq!(fresh(done, Duration::from_secs(99), now), None);
        let under_way = TypeStatus {
            complete: false,
            pass_at: None,
        };
        assert_eq!(fresh(under_way, Duration::from_secs(3600), now), None);
    }

    #[test]
    fn filters_the_copy_cannot_apply_exactly_go_live() {
        let owner = CrmFilter {
            owner: Some("owner@example.com".into()),
            ..CrmFilter::default()
        };
        let name = CrmFilter {
            name_contains: Some("ann".into()),
            ..CrmFilter::default()
        };
        let across = CrmFilter {
            name_contains: Some("ann\nlee".into()),
            ..CrmFilter::default()
        };
        for provider in [Provider::Hubspot, Provider::Salesforce] {
            assert!(condition(provider, CrmObject::Contact, &owner).is_none());
            assert!(condition(provider, CrmObject::Contact, &across).is_none());
        }
        assert!(condition(Provider::Hubspot, CrmObject::Contact, &name).is_none());
        assert!(condition(Provider::Salesforce, CrmObject::Contact, &name).is_some());
        assert!(condition(Provider::Hubspot, CrmObject::Contact, &CrmFilter::default()).is_some());
    }
}
