//! Reads of the comms copy (`comms`): pages of mail, events and chat messages, and the joins
//! behind `Contact.emails` and `Contact.events`, answered from the database when that is what
//! the provider would answer inside the copy's window, `NotSynced` otherwise.
//!
//! A type's copy answers when its window has been read whole (`complete`) and its as-of time is
//! within the request's `max_age`; Slack's messages when every channel the page reads is
//! backfilled (one channel: that channel's own status; no channel: all of them, `Message`).
//! A request bounded outside the window (mail received after a time older than the window,
//! events before its start or past its end) reads live; an unbounded one lists the window.
//!
//! | filter | Gmail | Outlook |
//! |---|---|---|
//! | `from` | sender equal, without case | sender equal, without case |
//! | `to`, participant | any of To, Cc, Bcc (and the sender) equal | never (Graph's KQL `$search`) |
//! | `subjectContains` | subject contains, without case | subject contains, without case |
//! | `label` | a label as Gmail's search writes it | never (folders and categories) |
//! | `unread`, `after`, `before` | yes | yes |
//!
//! Events: `timeMin`/`timeMax` by overlap and `attendee` (attendees and organizer); text search
//! reads live. Messages: `channel`, `after`, `before`, `textContains` (contains, without case),
//! `authors`; a thread's replies read live. A page that selects mail bodies reads live (the copy
//! keeps none).

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, Utc};
use nexus_core::{AsOf, Synced};
use sea_orm::{
    ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Condition, LikeExpr, Query},
};

use crate::{
    providers::{
        Provider,
        calendar::{Event, EventQuery},
        chat::{Message, MessageQuery},
        mail::{EmailData, MailRequest},
        record::{ListPage, Order, Position, Record},
    },
    store::entities::{copy_records, copy_terms},
    upstream::Target,
};

use super::{
    SyncedCopy,
    comms::{self, ATTENDEE, Comms, Kept, LABEL, PARTICIPANT, TO},
    copy::{self, TypeStatus},
};

/// `IN` lists at most this long.
const CHUNK: usize = 300;

/// The start of the last complete pass of `status` when it is complete and no older than
/// `max_age` at `now`.
fn fresh(status: TypeStatus, max_age: Duration, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let pass = status.pass_at.filter(|_| status.complete)?;
    let age = (now - pass).to_std().unwrap_or_default();
    (age <= max_age).then_some(pass)
}

/// A LIKE pattern matching `text` anywhere, lowercased, its wildcards escaped with `!`.
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

/// Records of `kind` in `target`'s copy holding `value` as a `term`.
fn with_term(target: Target, kind: &str, term: &str, value: &str) -> Condition {
    let ids = Query::select()
        .column(copy_terms::Column::RemoteId)
        .from(copy_terms::Entity)
        .cond_where(comms::term_rows(target, kind, term).add(copy_terms::Column::Value.eq(value)))
        .to_owned();
    Condition::all().add(copy_records::Column::RemoteId.in_subquery(ids))
}

/// The copy's condition for a mail request at `provider`; `None` when it cannot apply it as
/// the provider does.
pub(super) fn mail_condition(
    target: Target,
    request: &MailRequest,
    oldest: DateTime<Utc>,
) -> Option<Condition> {
    use copy_records::Column;
    let filter = &request.filter;
    let gmail = target.provider == Provider::Gmail;
    if request.bodies
        || (!gmail && (filter.to.is_some() || filter.participant.is_some()))
        || (!gmail && filter.label.is_some())
        || filter.after.is_some_and(|at| at < oldest)
        || filter.before.is_some_and(|at| at <= oldest)
    {
        return None;
    }
    let mut all = Condition::all();
    if let Some(at) = filter.after {
        all = all.add(Column::UpdatedMs.gte(at.timestamp_millis()));
    }
    if let Some(at) = filter.before {
        all = all.add(Column::UpdatedMs.lt(at.timestamp_millis()));
    }
    if let Some(from) = &filter.from {
        all = all.add(Column::Email.eq(from.to_lowercase()));
    }
    if let Some(text) = &filter.subject_contains {
        all = all.add(Column::Name.like(contains(text)));
    }
    if let Some(unread) = filter.unread {
        all = all.add(Column::Status.eq(if unread { "unread" } else { "read" }));
    }
    if let Some(to) = &filter.to {
        all = all.add(with_term(target, comms::EMAIL, TO, &to.to_lowercase()));
    }
    if let Some(who) = &filter.participant {
        all = all.add(with_term(
            target,
            comms::EMAIL,
            PARTICIPANT,
            &who.to_lowercase(),
        ));
    }
    if let Some(label) = &filter.label {
        all = all.add(with_term(
            target,
            comms::EMAIL,
            LABEL,
            &comms::label_term(label),
        ));
    }
    Some(all)
}

/// The copy's condition for an event query; `None` when it cannot apply it.
pub(super) fn event_condition(
    target: Target,
    query: &EventQuery,
    window: (DateTime<Utc>, DateTime<Utc>),
) -> Option<Condition> {
    use copy_records::Column;
    let filter = &query.filter;
    if filter.text.is_some()
        || filter.time_min.is_some_and(|at| at < window.0)
        || filter.time_max.is_some_and(|at| at > window.1)
    {
        return None;
    }
    let mut all = Condition::all();
    if let Some(at) = filter.time_min {
        all = all.add(Column::UpdatedMs.gt(at.timestamp_millis()));
    }
    if let Some(at) = filter.time_max {
        all = all.add(Column::SortKey.lt(copy::sort_key(at, "")));
    }
    if let Some(who) = &filter.attendee {
        all = all.add(with_term(
            target,
            comms::EVENT,
            ATTENDEE,
            &who.to_lowercase(),
        ));
    }
    Some(all)
}

/// The copy's condition for a message query; `None` when it cannot apply it.
pub(super) fn message_condition(query: &MessageQuery, oldest: DateTime<Utc>) -> Option<Condition> {
    use copy_records::Column;
    let filter = &query.filter;
    if filter.thread.is_some()
        || filter.after.is_some_and(|at| at < oldest)
        || filter.before.is_some_and(|at| at <= oldest)
    {
        return None;
    }
    let mut all = Condition::all();
    if let Some(channel) = &filter.channel {
        all = all.add(Column::Channel.eq(channel.as_str()));
    }
    if let Some(at) = filter.after {
        all = all.add(Column::UpdatedMs.gt(at.timestamp_millis()));
    }
    if let Some(at) = filter.before {
        all = all.add(Column::UpdatedMs.lt(at.timestamp_millis()));
    }
    if let Some(text) = &filter.text_contains {
        all = all.add(Column::Name.like(contains(text)));
    }
    if !filter.authors.is_empty() {
        all = all.add(Column::Owner.is_in(filter.authors.iter().cloned()));
    }
    Some(all)
}

/// Decodes rows of `T`.
fn decode<T: Comms>(
    provider: Provider,
    rows: impl IntoIterator<Item = copy_records::Model>,
) -> Result<Vec<Record<T>>, DbErr> {
    rows.into_iter()
        .map(|row| {
            let kept: Kept<T> = serde_json::from_str(&row.record)
                .map_err(|e| DbErr::Custom(format!("copy record {}: {e}", row.id)))?;
            Ok(kept.record(provider, row.remote_id))
        })
        .collect()
}

impl SyncedCopy {
    /// When `kind`'s copy of `target` was last complete, if within `max_age`.
    async fn fresh_kind(
        &self,
        target: Target,
        kind: &str,
        max_age: Duration,
    ) -> Result<Option<DateTime<Utc>>, DbErr> {
        let status = copy::status_of(&self.db, target, kind).await?;
        Ok(fresh(status, max_age, Utc::now()))
    }

    /// One page of `T` after `after`, in the live list's order.
    async fn page<T: Comms>(
        &self,
        target: Target,
        condition: Condition,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<ListPage<T>, DbErr> {
        use copy_records::Column;
        let mut query = copy_records::Entity::find()
            .filter(copy::records_of(target))
            .filter(Column::Type.eq(T::KIND))
            .filter(condition);
        let newest_first = T::ORDER == Order::NewestFirst;
        if let Some(after) = after {
            let key = copy::sort_key(after.at, &after.remote_id);
            query = query.filter(match newest_first {
                true => Column::SortKey.lt(key),
                false => Column::SortKey.gt(key),
            });
        }
        query = match newest_first {
            true => query.order_by_desc(Column::SortKey),
            false => query.order_by_asc(Column::SortKey),
        };
        let rows = query.limit(limit as u64 + 1).all(&self.db).await?;
        let more = rows.len() > limit;
        let records = decode(target.provider, rows.into_iter().take(limit))?;
        Ok(ListPage { records, more })
    }

    pub(super) async fn try_emails(
        &self,
        target: Target,
        request: &MailRequest,
        max_age: Duration,
    ) -> Result<Synced<ListPage<EmailData>>, DbErr> {
        let window = self.windows.of(target.provider);
        let Some(condition) = mail_condition(target, request, window.oldest(Utc::now())) else {
            return Ok(Synced::NotSynced);
        };
        let Some(pass) = self.fresh_kind(target, comms::EMAIL, max_age).await? else {
            return Ok(Synced::NotSynced);
        };
        let page = self
            .page(target, condition, request.after.as_ref(), request.limit)
            .await?;
        Ok(synced(page, pass))
    }

    pub(super) async fn try_events(
        &self,
        target: Target,
        query: &EventQuery,
        max_age: Duration,
    ) -> Result<Synced<ListPage<Event>>, DbErr> {
        let window = self.windows.of(target.provider).events(Utc::now());
        let Some(condition) = event_condition(target, query, window) else {
            return Ok(Synced::NotSynced);
        };
        let Some(pass) = self.fresh_kind(target, comms::EVENT, max_age).await? else {
            return Ok(Synced::NotSynced);
        };
        let page = self
            .page(target, condition, query.after.as_ref(), query.limit)
            .await?;
        Ok(synced(page, pass))
    }

    pub(super) async fn try_messages(
        &self,
        target: Target,
        query: &MessageQuery,
        max_age: Duration,
    ) -> Result<Synced<ListPage<Message>>, DbErr> {
        let window = self.windows.of(target.provider);
        let Some(condition) = message_condition(query, window.oldest(Utc::now())) else {
            return Ok(Synced::NotSynced);
        };
        // A Slack channel answers once it is backfilled; the whole chat once every channel is.
        let kind = match (&query.filter.channel, target.provider) {
            (Some(channel), Provider::Slack) => comms::channel_kind(channel),
            _ => comms::MESSAGE.to_owned(),
        };
        let Some(pass) = self.fresh_kind(target, &kind, max_age).await? else {
            return Ok(Synced::NotSynced);
        };
        let page = self
            .page(target, condition, query.after.as_ref(), query.limit)
            .await?;
        Ok(synced(page, pass))
    }

    /// Every record of `T` holding one of `values` as a `term`, by value, in the list's order:
    /// two queries for the whole set (the terms, then the records), not one per value.
    async fn joined<T: Comms>(
        &self,
        target: Target,
        term: &str,
        values: &[String],
    ) -> Result<HashMap<String, Vec<Record<T>>>, DbErr> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for chunk in values.chunks(CHUNK) {
            let found: Vec<(String, String)> = copy_terms::Entity::find()
                .select_only()
                .column(copy_terms::Column::Value)
                .column(copy_terms::Column::RemoteId)
                .filter(comms::term_rows(target, T::KIND, term))
                .filter(copy_terms::Column::Value.is_in(chunk.iter().cloned()))
                .into_tuple()
                .all(&self.db)
                .await?;
            pairs.extend(found);
        }
        let ids: Vec<String> = pairs
            .iter()
            .map(|(_, id)| id.clone())
            .collect::<std::collections::HashSet<_>>()
            .into_iter()
            .collect();
        let mut rows = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            rows.extend(
                copy_records::Entity::find()
                    .filter(copy::records_of(target))
                    .filter(copy_records::Column::Type.eq(T::KIND))
                    .filter(copy_records::Column::RemoteId.is_in(chunk.iter().cloned()))
                    .all(&self.db)
                    .await?,
            );
        }
        let records: HashMap<String, Record<T>> = decode::<T>(target.provider, rows)?
            .into_iter()
            .map(|r| (r.remote_id.clone(), r))
            .collect();
        let mut out: HashMap<String, Vec<Record<T>>> =
            values.iter().map(|v| (v.clone(), Vec::new())).collect();
        for (value, id) in &pairs {
            if let (Some(list), Some(record)) = (out.get_mut(value), records.get(id)) {
                list.push(record.clone());
            }
        }
        for list in out.values_mut() {
            list.sort_by(|a, b| Position::compare(T::ORDER, &a.position(), &b.position()));
        }
        Ok(out)
    }

    pub(super) async fn try_emails_of(
        &self,
        target: Target,
        participants: &[String],
        max_age: Duration,
    ) -> Result<Synced<HashMap<String, Vec<Record<EmailData>>>>, DbErr> {
        if target.provider != Provider::Gmail {
            // Outlook finds a participant through KQL `$search` only.
            return Ok(Synced::NotSynced);
        }
        let Some(pass) = self.fresh_kind(target, comms::EMAIL, max_age).await? else {
            return Ok(Synced::NotSynced);
        };
        let found = self.joined(target, PARTICIPANT, participants).await?;
        Ok(Synced::Synced {
            value: found,
            as_of: AsOf {
                pass,
                records: HashMap::new(),
            },
        })
    }

    pub(super) async fn try_events_of(
        &self,
        target: Target,
        attendees: &[String],
        max_age: Duration,
    ) -> Result<Synced<HashMap<String, Vec<Record<Event>>>>, DbErr> {
        let Some(pass) = self.fresh_kind(target, comms::EVENT, max_age).await? else {
            return Ok(Synced::NotSynced);
        };
        let found = self.joined(target, ATTENDEE, attendees).await?;
        Ok(Synced::Synced {
            value: found,
            as_of: AsOf {
                pass,
                records: HashMap::new(),
            },
        })
    }
}

fn synced<T>(page: ListPage<T>, pass: DateTime<Utc>) -> Synced<ListPage<T>> {
    Synced::Synced {
        value: page,
        as_of: AsOf {
            pass,
            records: HashMap::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        auth::Tenant,
        providers::{calendar::EventFilter, chat::MessageFilter, mail::MailFilter},
    };

    fn target(provider: Provider) -> Target {
        Target {
            tenant: Tenant {
                user_id: uuid::Uuid::nil(),
                project_id: uuid::Uuid::nil(),
            },
            provider,
        }
    }

    #[test]
    fn mail_outside_the_window_or_beyond_the_copy_reads_live() {
        let now = Utc::now();
        let oldest = now - chrono::Duration::days(90);
        let request = |filter: MailFilter, bodies: bool| MailRequest {
            filter,
            after: None,
            limit: 10,
            bodies,
        };
        let old = MailFilter {
            after: Some(now - chrono::Duration::days(120)),
            ..MailFilter::default()
        };
        let to = MailFilter {
            to: Some("ann@x.example".into()),
            ..MailFilter::default()
        };
        let gmail = target(Provider::Gmail);
        let outlook = target(Provider::Outlook);
        assert!(mail_condition(gmail, &request(old, false), oldest).is_none());
        assert!(mail_condition(gmail, &request(MailFilter::default(), true), oldest).is_none());
        assert!(mail_condition(gmail, &request(to.clone(), false), oldest).is_some());
        assert!(mail_condition(outlook, &request(to, false), oldest).is_none());
        assert!(mail_condition(outlook, &request(MailFilter::default(), false), oldest).is_some());
    }

    #[test]
    fn events_and_messages_outside_the_window_read_live() {
        let now = Utc::now();
        let window = (
            now - chrono::Duration::days(30),
            now + chrono::Duration::days(365),
        );
        let query = |filter: EventFilter| EventQuery {
            filter,
            after: None,
            limit: 5,
        };
        let early = EventFilter {
            time_min: Some(now - chrono::Duration::days(40)),
            ..EventFilter::default()
        };
        let text = EventFilter {
            text: Some("review".into()),
            ..EventFilter::default()
        };
        let calendar = target(Provider::GoogleCalendar);
        assert!(event_condition(calendar, &query(early), window).is_none());
        assert!(event_condition(calendar, &query(text), window).is_none());
        assert!(event_condition(calendar, &query(EventFilter::default()), window).is_some());
        let thread = MessageQuery {
            filter: MessageFilter {
                channel: Some("C1".into()),
                thread: Some("1.2".into()),
                ..MessageFilter::default()
            },
            after: None,
            limit: 5,
        };
        assert!(message_condition(&thread, window.0).is_none());
    }
}
