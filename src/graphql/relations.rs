//! Relations between CRM records — a contact's company and deals, a deal's company and
//! contacts, a company's contacts and deals, a lead's converted contact — resolved through the
//! request's loaders. A list prefetches the relations its query selects for every record of the
//! page at once (`prefetch`), so the resolvers below it find their answers in the loaders'
//! memory: a page of 100 contacts with their companies and deals costs one batch of provider
//! calls per relation and provider, whatever the page size — and none when the synced copy
//! answers. Relations inherit their parent's `maxAge`.

use std::collections::BTreeSet;

use async_graphql::{Context, Result};

use crate::{
    auth::Tenant,
    providers::{
        Provider,
        crm::{CrmData, CrmObject, Record},
        record::{Position, Sorted},
    },
};

use super::{
    AppContext,
    errors::upstream_error,
    freshness::{Fetched, MaxAge},
    lists::{MergedPage, PageArgs, Resume, tenant},
    loaders::{Loaders, RecordKey, RelationKey},
};

/// The request's loaders, or the shared ones outside an HTTP request.
fn loaders<'a>(ctx: &'a Context<'_>) -> &'a Loaders {
    ctx.data_opt::<Loaders>()
        .unwrap_or(&ctx.data_unchecked::<AppContext>().loaders)
}

/// The relations of a type that the schema exposes: (field, related type).
fn relations_of(object: CrmObject) -> &'static [(&'static str, CrmObject)] {
    match object {
        CrmObject::Contact => &[("company", CrmObject::Company), ("deals", CrmObject::Deal)],
        CrmObject::Deal => &[
            ("company", CrmObject::Company),
            ("contacts", CrmObject::Contact),
        ],
        CrmObject::Company => &[("contacts", CrmObject::Contact), ("deals", CrmObject::Deal)],
        CrmObject::Lead => &[("convertedContact", CrmObject::Contact)],
    }
}

/// The id of a related record that the record names itself (Salesforce lookups).
fn named(record: &Record<CrmData>, to: CrmObject) -> Option<&str> {
    match (&record.data, to) {
        (CrmData::Contact(c), CrmObject::Company) => c.company_id.as_deref(),
        (CrmData::Deal(d), CrmObject::Company) => d.company_id.as_deref(),
        (CrmData::Lead(l), CrmObject::Contact) => l.converted_contact_id.as_deref(),
        _ => None,
    }
}

/// How old a relation's answer from `provider` may be.
fn age(ctx: &Context<'_>, max_age: MaxAge, provider: Provider) -> std::time::Duration {
    max_age.of(&ctx.data_unchecked::<AppContext>().reads, provider)
}

fn relation_key(
    ctx: &Context<'_>,
    (tenant, max_age): (Tenant, MaxAge),
    provider: Provider,
    from: (CrmObject, &str),
    to: CrmObject,
) -> RelationKey {
    RelationKey {
        tenant,
        provider,
        from: from.0,
        to,
        remote_id: from.1.to_owned(),
        max_age: age(ctx, max_age, provider),
    }
}

fn record_key(
    ctx: &Context<'_>,
    (tenant, max_age): (Tenant, MaxAge),
    provider: Provider,
    object: CrmObject,
    remote_id: String,
) -> RecordKey {
    RecordKey {
        tenant,
        provider,
        object,
        remote_id,
        max_age: age(ctx, max_age, provider),
    }
}

/// Loads, for every record of a page, the relations the query selects below `nodes` (or
/// `edges.node`), in one batch per relation: first the relation ids the records do not name,
/// then the related records. Failures are left for the fields' own resolvers to report.
pub async fn prefetch(
    ctx: &Context<'_>,
    object: CrmObject,
    records: &[&Record<CrmData>],
    max_age: MaxAge,
) {
    let Ok(tenant) = tenant(ctx) else { return };
    let scope = (tenant, max_age);
    let look = ctx.look_ahead();
    let loaders = loaders(ctx);
    let selected: Vec<CrmObject> = relations_of(object)
        .iter()
        .filter(|(field, _)| {
            look.field("nodes").field(field).exists()
                || look.field("edges").field("node").field(field).exists()
        })
        .map(|(_, to)| *to)
        .collect();
    let relation_keys = selected.iter().flat_map(|to| {
        records
            .iter()
            .filter(|r| named(r, *to).is_none())
            .map(move |r| relation_key(ctx, scope, r.provider, (object, &r.remote_id), *to))
    });
    let found = loaders.relations(relation_keys.collect::<Vec<_>>()).await;
    let mut wanted = BTreeSet::new();
    for to in &selected {
        for record in records {
            if let Some(id) = named(record, *to) {
                wanted.insert((record.provider, *to, id.to_owned()));
            }
        }
    }
    for (key, ids) in found {
        for id in ids.unwrap_or_default() {
            wanted.insert((key.provider, key.to, id));
        }
    }
    let keys = wanted
        .into_iter()
        .map(|(provider, to, id)| record_key(ctx, scope, provider, to, id));
    loaders.records(keys.collect::<Vec<_>>()).await;
}

/// The ids of `to` records related to `from`.
async fn related_ids(
    ctx: &Context<'_>,
    (provider, max_age): (Provider, MaxAge),
    from: (CrmObject, &str),
    to: CrmObject,
) -> Result<Vec<String>> {
    let key = relation_key(ctx, (tenant(ctx)?, max_age), provider, from, to);
    match loaders(ctx).relations([key]).await.into_values().next() {
        Some(Ok(ids)) => Ok(ids),
        Some(Err(error)) => Err(upstream_error(&error)),
        None => Ok(Vec::new()),
    }
}

/// Records by id, in one batch, with their freshness; ids the provider does not know are left
/// out.
async fn records(
    ctx: &Context<'_>,
    (provider, max_age): (Provider, MaxAge),
    object: CrmObject,
    ids: Vec<String>,
) -> Result<Vec<(Record<CrmData>, Fetched)>> {
    let scope = (tenant(ctx)?, max_age);
    let keys: Vec<RecordKey> = ids
        .into_iter()
        .map(|id| record_key(ctx, scope, provider, object, id))
        .collect();
    let mut found = Vec::new();
    for loaded in loaders(ctx).records(keys).await.into_values() {
        let (record, origin) = loaded.map_err(|e| upstream_error(&e))?;
        let fetched = origin.fetched(&record.remote_id, max_age);
        found.push((record, fetched));
    }
    Ok(found)
}

/// The one record of type `to` that `from` points to: by the id its record names (`named`),
/// else by the provider's relation; as fresh as `from`'s `maxAge` asks.
pub async fn related(
    ctx: &Context<'_>,
    from_provider: (Provider, MaxAge),
    from: (CrmObject, &str),
    named: Option<&str>,
    to: CrmObject,
) -> Result<Option<(Record<CrmData>, Fetched)>> {
    let id = match named {
        Some(id) => Some(id.to_owned()),
        None => related_ids(ctx, from_provider, from, to)
            .await?
            .into_iter()
            .next(),
    };
    let Some(id) = id else { return Ok(None) };
    Ok(records(ctx, from_provider, to, vec![id])
        .await?
        .into_iter()
        .next())
}

/// A page of the `to` records related to one record, newest first, after the cursor.
pub async fn related_page(
    ctx: &Context<'_>,
    provider: Provider,
    from: (CrmObject, &str),
    to: CrmObject,
    page: PageArgs,
) -> Result<MergedPage> {
    let scope = (provider, page.max_age);
    let ids = related_ids(ctx, scope, from, to).await?;
    let mut list = records(ctx, scope, to, ids).await?;
    list.sort_by(|a, b| Position::compare(CrmData::ORDER, &a.0.position(), &b.0.position()));
    let mut cursor = page.after.clone().unwrap_or_default();
    if let Some(Resume::At(after)) = cursor.positions.get(&provider) {
        list.retain(|(r, _)| after.precedes(r));
    }
    let has_next = list.len() > page.first;
    let mut edges = Vec::new();
    for (record, fetched) in list.into_iter().take(page.first) {
        cursor
            .positions
            .insert(provider, Resume::At(record.position()));
        cursor.sources.insert(provider, fetched.source);
        edges.push((cursor.clone(), record, fetched));
    }
    let records: Vec<_> = edges.iter().map(|(_, r, _)| r).collect();
    prefetch(ctx, to, &records, page.max_age).await;
    Ok(MergedPage {
        edges,
        has_previous: page.after.is_some(),
        has_next,
    })
}
