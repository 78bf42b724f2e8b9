//! The copy: every CRM record a connection's sync has seen, whole (the unified record and the
//! provider's payload), its relations and its multi-valued keys, and per type whether the copy
//! is complete. This module owns the writes and the rows; `read_model` reads them.
//!
//! Every row belongs to one connection (user, project, provider): two users of one project keep
//! two copies, and erasing one connection (`erase`) leaves the others. The sync writes a page's
//! records in the transaction that appends its changes and moves its checkpoint (`store`), a
//! reconciliation deletes what it found gone in the transaction of its Deleted changes
//! (`remove`, `unlisted`), a delivered deletion likewise; the gateway's own writes upsert at
//! once with `applied_at` (`store` with `applied`). A record is never replaced by an older
//! version of itself (a smaller modification time): a pass that read the provider before a
//! write through the gateway does not undo it.
//!
//! Tables (see the migration `m20261207_110001_create_copy_tables`):
//!
//! - `copy_records`: `record` holds the JSON of [`Stored`]; `sort_key` is the live list's order
//!   as bytes (see [`sort_key`]); `updated_ms` the modification time in milliseconds (what
//!   `updatedAfter` compares, as both CRMs do); `email`, `name`, `stage`, `domain` lowercased
//!   (both CRMs compare them without case); `owner` the provider's owner id; `status` the deal
//!   status (`open`, `won`, `lost`); `applied_at` when a write through the gateway last applied
//!   the record; `stored_at` when any writer last stored it.
//! - `copy_links`: `(from_type, from_id) → (to_type, to_id)` in four orientations only —
//!   Contact → Company, Contact → Deal, Deal → Company, Lead → Contact — from the record's fields
//!   (`company_id`, `converted_contact_id`) and from the provider's associations (HubSpot's, and
//!   Salesforce's contact roles), read per page of modified records; `ordinal` keeps the
//!   provider's order.
//! - `copy_terms`: `(type, remote_id, kind, value)`; kind `email` holds each of a contact's or
//!   lead's addresses, lowercased. Other kinds (mail participants, attendees, authors) join it.
//! - `copy_status`: per type, `complete` once a full pass is done and `pass_at`, the start of the
//!   last complete pass.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{Condition, OnConflict},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    providers::{
        Provider,
        crm::{CrmData, CrmObject, Raw, Record},
    },
    store::entities::{copy_links, copy_records, copy_status, copy_terms, integration_credentials},
    upstream::Target,
};

/// Rows per insert or `IN` list.
const CHUNK: usize = 300;

/// The kind of term holding a contact's or lead's email addresses.
pub const EMAIL: &str = "email";

/// What `copy_records.record` holds: the record as the adapter mapped it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    #[serde(rename = "c")]
    pub created_at: DateTime<Utc>,
    #[serde(rename = "u")]
    pub updated_at: DateTime<Utc>,
    #[serde(rename = "d")]
    pub data: CrmData,
    #[serde(rename = "r")]
    pub raw: Raw,
}

impl Stored {
    /// The record again, of `provider` with `remote_id`.
    pub fn record(self, provider: Provider, remote_id: String) -> Record<CrmData> {
        Record {
            provider,
            remote_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
            raw: self.raw,
            data: self.data,
        }
    }
}

/// The bytes that order records as the live lists do ([`Position::compare`], newest first
/// when descending): the created time in nanoseconds (big-endian, sign flipped, so bytes order
/// as numbers), then the id — zero-padded to 39 digits when it is a number, as HubSpot's are,
/// so that numbers compare as numbers; its own bytes otherwise (Salesforce's). Both databases
/// compare the column bytewise (BLOB, bytea). A connection's ids are all of one kind.
///
/// [`Position::compare`]: crate::providers::crm::Position::compare
pub fn sort_key(created_at: DateTime<Utc>, remote_id: &str) -> Vec<u8> {
    let nanos = i128::from(created_at.timestamp()) * 1_000_000_000
        + i128::from(created_at.timestamp_subsec_nanos());
    let mut key = ((nanos as u128) ^ (1 << 127)).to_be_bytes().to_vec();
    match remote_id.parse::<u128>() {
        Ok(n) => key.extend(format!("{n:039}").into_bytes()),
        Err(_) => key.extend(remote_id.as_bytes()),
    }
    key
}

/// The filter columns of one record.
#[derive(Debug, Default)]
struct Columns {
    email: Option<String>,
    name: Option<String>,
    owner: Option<String>,
    stage: Option<String>,
    status: Option<String>,
    domain: Option<String>,
}

fn lower(value: Option<&String>) -> Option<String> {
    value.map(|v| v.to_lowercase())
}

/// The name column of a record with first and last names: both, lowercased, around a line
/// feed, so that a text without one matches inside one of them only, as the CRMs match.
pub fn person_name(first: Option<&String>, last: Option<&String>) -> Option<String> {
    (first.is_some() || last.is_some()).then(|| {
        format!(
            "{}\n{}",
            first.map_or("", String::as_str),
            last.map_or("", String::as_str)
        )
        .to_lowercase()
    })
}

/// The word the `status` column holds for a deal status.
pub fn deal_status(status: crate::providers::crm::DealStatus) -> &'static str {
    use crate::providers::crm::DealStatus;
    match status {
        DealStatus::Open => "open",
        DealStatus::Won => "won",
        DealStatus::Lost => "lost",
    }
}

fn owner(provider: Provider, raw: &serde_json::Value) -> Option<String> {
    let value = match provider {
        Provider::Hubspot => raw.pointer("/properties/hubspot_owner_id"),
        _ => raw.get("OwnerId"),
    }?;
    value
        .as_str()
        .map(str::to_owned)
        .or_else(|| value.as_u64().map(|n| n.to_string()))
}

fn columns(record: &Record<CrmData>) -> Columns {
    let owner = owner(record.provider, record.raw.value());
    match &record.data {
        CrmData::Contact(c) => Columns {
            email: lower(c.email.as_ref()),
            name: person_name(c.first_name.as_ref(), c.last_name.as_ref()),
            owner,
            ..Columns::default()
        },
        CrmData::Lead(l) => Columns {
            email: lower(l.email.as_ref()),
            name: person_name(l.first_name.as_ref(), l.last_name.as_ref()),
            stage: lower(l.status.as_ref()),
            owner,
            ..Columns::default()
        },
        CrmData::Deal(d) => Columns {
            name: Some(d.name.to_lowercase()),
            stage: lower(d.stage.as_ref()),
            status: Some(deal_status(d.status).to_owned()),
            owner,
            ..Columns::default()
        },
        CrmData::Company(c) => Columns {
            name: Some(c.name.to_lowercase()),
            // What each CRM's domain filter compares: HubSpot's `domain`, Salesforce's `Website`.
            domain: match record.provider {
                Provider::Hubspot => lower(c.domain.as_ref()),
                _ => lower(c.website.as_ref()),
            },
            owner,
            ..Columns::default()
        },
    }
}

/// The relations a record names in its fields: (to type, id).
fn field_links(data: &CrmData) -> Vec<(CrmObject, String)> {
    let (to, id) = match data {
        CrmData::Contact(c) => (CrmObject::Company, &c.company_id),
        CrmData::Deal(d) => (CrmObject::Company, &d.company_id),
        CrmData::Lead(l) => (CrmObject::Contact, &l.converted_contact_id),
        CrmData::Company(_) => return Vec::new(),
    };
    id.iter().map(|id| (to, id.clone())).collect()
}

/// How a relation between two types is stored: `Some(true)` from the first to the second,
/// `Some(false)` the other way, `None` not at all.
pub fn stored_forward(from: CrmObject, to: CrmObject) -> Option<bool> {
    use CrmObject::{Company, Contact, Deal, Lead};
    match (from, to) {
        (Contact, Company) | (Contact, Deal) | (Deal, Company) | (Lead, Contact) => Some(true),
        (Company, Contact) | (Deal, Contact) | (Company, Deal) | (Contact, Lead) => Some(false),
        _ => None,
    }
}

/// The relations to read with a page of modified records of `object` at `provider`, as the
/// adapter's `associated` answers them: HubSpot's associations, Salesforce's contact roles.
/// Relations held in fields (Salesforce's `AccountId`) come with the records.
pub fn associations(provider: Provider, object: CrmObject) -> &'static [CrmObject] {
    match (provider, object) {
        (Provider::Hubspot, CrmObject::Contact) => &[CrmObject::Company, CrmObject::Deal],
        (Provider::Hubspot, CrmObject::Deal) => &[CrmObject::Company, CrmObject::Contact],
        (Provider::Salesforce, CrmObject::Contact) => &[CrmObject::Deal],
        (Provider::Salesforce, CrmObject::Deal) => &[CrmObject::Contact],
        _ => &[],
    }
}

/// One connection's rows.
fn scope<C: ColumnTrait>(target: Target, user: C, project: C, provider: C) -> Condition {
    Condition::all()
        .add(user.eq(target.tenant.user_id))
        .add(project.eq(target.tenant.project_id))
        .add(provider.eq(target.provider.slug()))
}

pub(super) fn records_of(target: Target) -> Condition {
    scope(
        target,
        copy_records::Column::UserId,
        copy_records::Column::ProjectId,
        copy_records::Column::Provider,
    )
}

pub(super) fn links_of(target: Target) -> Condition {
    scope(
        target,
        copy_links::Column::UserId,
        copy_links::Column::ProjectId,
        copy_links::Column::Provider,
    )
}

pub(super) fn terms_of(target: Target) -> Condition {
    scope(
        target,
        copy_terms::Column::UserId,
        copy_terms::Column::ProjectId,
        copy_terms::Column::Provider,
    )
}

fn status_rows(target: Target) -> Condition {
    scope(
        target,
        copy_status::Column::UserId,
        copy_status::Column::ProjectId,
        copy_status::Column::Provider,
    )
}

/// Whether `target`'s connection still exists; on PostgreSQL its row is share-locked until the
/// transaction ends, so a disconnection waits for a page being stored and then erases it too.
pub(super) async fn connected(db: &impl ConnectionTrait, target: Target) -> Result<bool, DbErr> {
    let found = integration_credentials::Entity::find()
        .select_only()
        .column(integration_credentials::Column::Id)
        .filter(integration_credentials::Column::UserId.eq(target.tenant.user_id))
        .filter(integration_credentials::Column::ProjectId.eq(target.tenant.project_id))
        .filter(integration_credentials::Column::Provider.eq(target.provider.slug()))
        .lock_shared()
        .into_tuple::<Uuid>()
        .one(db)
        .await?;
    Ok(found.is_some())
}

/// Stores records of `object` for `target`'s connection, with their terms and the relations
/// their fields name, and replaces the relations in `associated` (by related type, as the
/// adapter's `associated` answered for these records) — unless the connection is gone (a
/// disconnection erases its copy; nothing is stored after it). A record the copy holds in a
/// later version (modified later) is kept. `applied`: the time a write through the gateway
/// applied the records (`None` for a sync's page, whose records are as of its pass).
pub async fn store(
    db: &impl ConnectionTrait,
    target: Target,
    object: CrmObject,
    records: &[Record<CrmData>],
    associated: &[(CrmObject, HashMap<String, Vec<String>>)],
    applied: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    if (records.is_empty() && associated.is_empty()) || !connected(db, target).await? {
        return Ok(());
    }
    let kind = object.name();
    let ids: Vec<String> = records.iter().map(|r| r.remote_id.clone()).collect();
    let mut newer: HashMap<String, i64> = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let rows: Vec<(String, i64)> = copy_records::Entity::find()
            .select_only()
            .column(copy_records::Column::RemoteId)
            .column(copy_records::Column::UpdatedMs)
            .filter(records_of(target))
            .filter(copy_records::Column::Type.eq(kind))
            .filter(copy_records::Column::RemoteId.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        newer.extend(rows);
    }
    let mut latest: HashMap<&str, &Record<CrmData>> = HashMap::new();
    for record in records {
        let ms = record.updated_at.timestamp_millis();
        if newer.get(&record.remote_id).is_some_and(|held| *held > ms) {
            continue;
        }
        match latest.get(record.remote_id.as_str()) {
            Some(seen) if seen.updated_at > record.updated_at => {}
            _ => {
                latest.insert(&record.remote_id, record);
            }
        }
    }
    let kept: Vec<&Record<CrmData>> = latest.into_values().collect();
    let now = Utc::now();
    let mut rows = Vec::with_capacity(kept.len());
    for record in &kept {
        let columns = columns(record);
        let stored = Stored {
            created_at: record.created_at,
            updated_at: record.updated_at,
            data: record.data.clone(),
            raw: record.raw.clone(),
        };
        let text = serde_json::to_string(&stored).map_err(|e| DbErr::Custom(e.to_string()))?;
        rows.push(copy_records::ActiveModel {
            id: Set(Uuid::new_v4()),
            user_id: Set(target.tenant.user_id),
            project_id: Set(target.tenant.project_id),
            provider: Set(target.provider.slug().to_owned()),
            r#type: Set(kind.to_owned()),
            remote_id: Set(record.remote_id.clone()),
            sort_key: Set(sort_key(record.created_at, &record.remote_id)),
            updated_ms: Set(record.updated_at.timestamp_millis()),
            email: Set(columns.email),
            name: Set(columns.name),
            owner: Set(columns.owner),
            stage: Set(columns.stage),
            status: Set(columns.status),
            domain: Set(columns.domain),
            channel: Set(None),
            thread: Set(None),
            record: Set(text),
            applied_at: Set(applied),
            stored_at: Set(now),
        });
    }
    let mut updated = vec![
        copy_records::Column::SortKey,
        copy_records::Column::UpdatedMs,
        copy_records::Column::Email,
        copy_records::Column::Name,
        copy_records::Column::Owner,
        copy_records::Column::Stage,
        copy_records::Column::Status,
        copy_records::Column::Domain,
        copy_records::Column::Record,
        copy_records::Column::StoredAt,
    ];
    if applied.is_some() {
        updated.push(copy_records::Column::AppliedAt);
    }
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(CHUNK).collect();
        copy_records::Entity::insert_many(chunk)
            .on_conflict(
                OnConflict::columns([
                    copy_records::Column::UserId,
                    copy_records::Column::ProjectId,
                    copy_records::Column::Provider,
                    copy_records::Column::Type,
                    copy_records::Column::RemoteId,
                ])
                .update_columns(updated.clone())
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    let kept_ids: Vec<String> = kept.iter().map(|r| r.remote_id.clone()).collect();
    // Terms and field relations follow the record as stored.
    delete_terms(db, target, kind, &kept_ids).await?;
    let terms: Vec<(String, String)> = kept
        .iter()
        .flat_map(|r| {
            let addresses: Vec<String> = match &r.data {
                CrmData::Contact(c) => c.email.iter().chain(&c.email_addresses).cloned().collect(),
                CrmData::Lead(l) => l.email.iter().cloned().collect(),
                _ => Vec::new(),
            };
            addresses
                .into_iter()
                .map(|a| (r.remote_id.clone(), a.to_lowercase()))
                .collect::<Vec<_>>()
        })
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    insert_terms(db, target, kind, EMAIL, &terms).await?;
    let mut fields: HashMap<CrmObject, Vec<(String, String)>> = HashMap::new();
    for record in &kept {
        for (to, id) in field_links(&record.data) {
            fields
                .entry(to)
                .or_default()
                .push((record.remote_id.clone(), id));
        }
    }
    for to in field_targets(object) {
        let pairs = fields.remove(&to).unwrap_or_default();
        relink(db, target, object, to, &kept_ids, &pairs).await?;
    }
    for (to, found) in associated {
        let mut pairs = Vec::new();
        for id in &ids {
            for other in found.get(id).into_iter().flatten() {
                pairs.push((id.clone(), other.clone()));
            }
        }
        relink(db, target, object, *to, &ids, &pairs).await?;
    }
    Ok(())
}

/// The types a record of `object` may name in its fields.
fn field_targets(object: CrmObject) -> Vec<CrmObject> {
    match object {
        CrmObject::Contact | CrmObject::Deal => vec![CrmObject::Company],
        CrmObject::Lead => vec![CrmObject::Contact],
        CrmObject::Company => Vec::new(),
    }
}

/// Replaces the relations between the records `ids` of `from` and the records of `to` with
/// `pairs` (from id, to id), in their order.
async fn relink(
    db: &impl ConnectionTrait,
    target: Target,
    from: CrmObject,
    to: CrmObject,
    ids: &[String],
    pairs: &[(String, String)],
) -> Result<(), DbErr> {
    let Some(forward) = stored_forward(from, to) else {
        return Ok(());
    };
    let (from_type, to_type) = if forward { (from, to) } else { (to, from) };
    let side = if forward {
        copy_links::Column::FromId
    } else {
        copy_links::Column::ToId
    };
    for chunk in ids.chunks(CHUNK) {
        copy_links::Entity::delete_many()
            .filter(links_of(target))
            .filter(copy_links::Column::FromType.eq(from_type.name()))
            .filter(copy_links::Column::ToType.eq(to_type.name()))
            .filter(side.is_in(chunk.iter().cloned()))
            .exec(db)
            .await?;
    }
    let mut seen = HashSet::new();
    let mut ordinals: HashMap<&str, i32> = HashMap::new();
    let mut rows = Vec::new();
    for (a, b) in pairs {
        if !seen.insert((a, b)) {
            continue;
        }
        let ordinal = ordinals.entry(a.as_str()).or_default();
        let (from_id, to_id) = if forward { (a, b) } else { (b, a) };
        rows.push(copy_links::ActiveModel {
            id: Set(Uuid::new_v4()),
            user_id: Set(target.tenant.user_id),
            project_id: Set(target.tenant.project_id),
            provider: Set(target.provider.slug().to_owned()),
            from_type: Set(from_type.name().to_owned()),
            from_id: Set(from_id.clone()),
            to_type: Set(to_type.name().to_owned()),
            to_id: Set(to_id.clone()),
            ordinal: Set(*ordinal),
        });
        *ordinal += 1;
    }
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(CHUNK).collect();
        copy_links::Entity::insert_many(chunk)
            .on_conflict(
                OnConflict::columns([
                    copy_links::Column::UserId,
                    copy_links::Column::ProjectId,
                    copy_links::Column::Provider,
                    copy_links::Column::FromType,
                    copy_links::Column::FromId,
                    copy_links::Column::ToType,
                    copy_links::Column::ToId,
                ])
                .update_column(copy_links::Column::Ordinal)
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

async fn delete_terms(
    db: &impl ConnectionTrait,
    target: Target,
    kind: &str,
    ids: &[String],
) -> Result<(), DbErr> {
    for chunk in ids.chunks(CHUNK) {
        copy_terms::Entity::delete_many()
            .filter(terms_of(target))
            .filter(copy_terms::Column::Type.eq(kind))
            .filter(copy_terms::Column::RemoteId.is_in(chunk.iter().cloned()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Adds terms of `term` kind: (remote id of a record of `kind`, value).
pub async fn insert_terms(
    db: &impl ConnectionTrait,
    target: Target,
    kind: &str,
    term: &str,
    values: &[(String, String)],
) -> Result<(), DbErr> {
    for chunk in values.chunks(CHUNK) {
        let rows = chunk.iter().map(|(id, value)| copy_terms::ActiveModel {
            id: Set(Uuid::new_v4()),
            user_id: Set(target.tenant.user_id),
            project_id: Set(target.tenant.project_id),
            provider: Set(target.provider.slug().to_owned()),
            r#type: Set(kind.to_owned()),
            remote_id: Set(id.clone()),
            kind: Set(term.to_owned()),
            value: Set(value.clone()),
        });
        copy_terms::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    copy_terms::Column::UserId,
                    copy_terms::Column::ProjectId,
                    copy_terms::Column::Provider,
                    copy_terms::Column::Type,
                    copy_terms::Column::RemoteId,
                    copy_terms::Column::Kind,
                    copy_terms::Column::Value,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(db)
            .await
            .or_else(|e| match e {
                DbErr::RecordNotInserted => Ok(0),
                e => Err(e),
            })?;
    }
    Ok(())
}

/// Removes records of `kind` (a unified type's name) from `target`'s copy, with their terms and
/// every relation to or from them.
pub async fn remove(
    db: &impl ConnectionTrait,
    target: Target,
    kind: &str,
    ids: &[String],
) -> Result<(), DbErr> {
    if CrmObject::ALL.into_iter().all(|o| o.name() != kind) && !super::comms::is_comms(kind) {
        return Ok(());
    }
    for chunk in ids.chunks(CHUNK) {
        copy_records::Entity::delete_many()
            .filter(records_of(target))
            .filter(copy_records::Column::Type.eq(kind))
            .filter(copy_records::Column::RemoteId.is_in(chunk.iter().cloned()))
            .exec(db)
            .await?;
        copy_links::Entity::delete_many()
            .filter(links_of(target))
            .filter(
                Condition::any()
                    .add(
                        Condition::all()
                            .add(copy_links::Column::FromType.eq(kind))
                            .add(copy_links::Column::FromId.is_in(chunk.iter().cloned())),
                    )
                    .add(
                        Condition::all()
                            .add(copy_links::Column::ToType.eq(kind))
                            .add(copy_links::Column::ToId.is_in(chunk.iter().cloned())),
                    ),
            )
            .exec(db)
            .await?;
    }
    delete_terms(db, target, kind, ids).await
}

/// The records of `object` in `target`'s copy stored before `before` whose ids `live` lacks: what
/// a complete listing of live ids, started at `before`, found gone.
pub async fn unlisted(
    db: &impl ConnectionTrait,
    target: Target,
    object: CrmObject,
    before: DateTime<Utc>,
    live: &HashSet<String>,
) -> Result<Vec<String>, DbErr> {
    let ids: Vec<String> = copy_records::Entity::find()
        .select_only()
        .column(copy_records::Column::RemoteId)
        .filter(records_of(target))
        .filter(copy_records::Column::Type.eq(object.name()))
        .filter(copy_records::Column::StoredAt.lt(before))
        .into_tuple()
        .all(db)
        .await?;
    Ok(ids.into_iter().filter(|id| !live.contains(id)).collect())
}

/// Erases `target`'s copy: records, relations, terms and status, each statement committed on
/// its own (no transaction, so that the read model's memory is told after the last one).
pub async fn erase(db: &DatabaseConnection, target: Target) -> Result<(), DbErr> {
    copy_records::Entity::delete_many()
        .filter(records_of(target))
        .exec(db)
        .await?;
    copy_links::Entity::delete_many()
        .filter(links_of(target))
        .exec(db)
        .await?;
    copy_terms::Entity::delete_many()
        .filter(terms_of(target))
        .exec(db)
        .await?;
    let erased = copy_status::Entity::delete_many()
        .filter(status_rows(target))
        .exec(db)
        .await;
    super::memo::erased(db, target).await;
    erased.map(drop)
}

/// A type's copy of one connection: complete or not, and the start of its last complete pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct TypeStatus {
    pub complete: bool,
    pub pass_at: Option<DateTime<Utc>>,
}

/// Every type's status in `target`'s copy, by type name.
pub async fn statuses(
    db: &impl ConnectionTrait,
    target: Target,
) -> Result<HashMap<String, TypeStatus>, DbErr> {
    Ok(copy_status::Entity::find()
        .filter(status_rows(target))
        .all(db)
        .await?
        .into_iter()
        .map(|row| {
            (
                row.r#type,
                TypeStatus {
                    complete: row.complete,
                    pass_at: row.pass_at,
                },
            )
        })
        .collect())
}

/// `object`'s status in `target`'s copy.
pub async fn status(
    db: &impl ConnectionTrait,
    target: Target,
    object: CrmObject,
) -> Result<TypeStatus, DbErr> {
    status_of(db, target, object.name()).await
}

/// The status of `kind` (a type's name, or a part of one: `Message/C123`) in `target`'s copy.
pub async fn status_of(
    db: &impl ConnectionTrait,
    target: Target,
    kind: &str,
) -> Result<TypeStatus, DbErr> {
    Ok(copy_status::Entity::find()
        .filter(status_rows(target))
        .filter(copy_status::Column::Type.eq(kind))
        .one(db)
        .await?
        .map(|row| TypeStatus {
            complete: row.complete,
            pass_at: row.pass_at,
        })
        .unwrap_or_default())
}

/// Records that a pass over `kind` (a type's name, or a part of one) started at `started`
/// completed: the copy holds every creation and update made before then — unless the
/// connection is gone.
pub async fn completed(
    db: &impl ConnectionTrait,
    target: Target,
    kind: &str,
    started: DateTime<Utc>,
) -> Result<(), DbErr> {
    if !connected(db, target).await? {
        return Ok(());
    }
    copy_status::Entity::insert(copy_status::ActiveModel {
        id: Set(Uuid::new_v4()),
        user_id: Set(target.tenant.user_id),
        project_id: Set(target.tenant.project_id),
        provider: Set(target.provider.slug().to_owned()),
        r#type: Set(kind.to_owned()),
        complete: Set(true),
        pass_at: Set(Some(started)),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([
            copy_status::Column::UserId,
            copy_status::Column::ProjectId,
            copy_status::Column::Provider,
            copy_status::Column::Type,
        ])
        .update_columns([
            copy_status::Column::Complete,
            copy_status::Column::PassAt,
            copy_status::Column::UpdatedAt,
        ])
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Whether a backfill of `kind` began in `target`'s copy ([`started`]) and has not completed.
pub async fn filling(db: &impl ConnectionTrait, target: Target, kind: &str) -> Result<bool, DbErr> {
    Ok(copy_status::Entity::find()
        .filter(status_rows(target))
        .filter(copy_status::Column::Type.eq(kind))
        .one(db)
        .await?
        .is_some_and(|row| !row.complete))
}

/// Records that a backfill of `kind` began, when its copy has no status yet: the copy is
/// then known to be filling (`complete` false) until [`completed`] marks it.
pub async fn started(db: &impl ConnectionTrait, target: Target, kind: &str) -> Result<(), DbErr> {
    if !connected(db, target).await? {
        return Ok(());
    }
    copy_status::Entity::insert(copy_status::ActiveModel {
        id: Set(Uuid::new_v4()),
        user_id: Set(target.tenant.user_id),
        project_id: Set(target.tenant.project_id),
        provider: Set(target.provider.slug().to_owned()),
        r#type: Set(kind.to_owned()),
        complete: Set(false),
        pass_at: Set(None),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([
            copy_status::Column::UserId,
            copy_status::Column::ProjectId,
            copy_status::Column::Provider,
            copy_status::Column::Type,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering;

    use chrono::TimeZone;

    use super::*;
    use crate::providers::{crm::Position, record::Order};

    #[test]
    fn sort_keys_order_as_the_live_lists_do() {
        let at = |s: i64, n: u32| Utc.timestamp_opt(s, n).unwrap();
        let positions = [
            (at(-5, 0), "9"),
            (at(0, 0), "10"),
            (at(0, 0), "9"),
            (at(0, 1), "2"),
            (at(1_700_000_000, 123_000_000), "100"),
            (at(1_700_000_000, 123_000_000), "99"),
            (at(1_700_000_000, 123_000_000), "003Ab"),
            (at(1_700_000_000, 123_000_000), "003aB"),
            (at(1_700_000_000, 123_000_000), "003a"),
            (at(1_800_000_000, 0), "x"),
        ];
        for (a_at, a_id) in positions {
            for (b_at, b_id) in positions {
                let numeric = a_id.parse::<u128>().is_ok() == b_id.parse::<u128>().is_ok();
                if !numeric {
                    continue; // a connection's ids are all numbers or none
                }
                let a = Position {
                    at: a_at,
                    remote_id: a_id.into(),
                };
                let b = Position {
                    at: b_at,
                    remote_id: b_id.into(),
                };
                let live = Position::compare(Order::OldestFirst, &a, &b);
                let bytes = sort_key(a_at, a_id).cmp(&sort_key(b_at, b_id));
                assert_eq!(live, bytes, "{a:?} vs {b:?}");
            }
        }
        assert_eq!(
            sort_key(at(0, 0), "9").cmp(&sort_key(at(0, 0), "10")),
            Ordering::Less
        );
    }
}
