//! Apollo Federation v2: the entity resolvers that make the schema a subgraph.
//!
//! Contact, Lead, Deal, Company, Email, Event and Message are entities keyed by `id`, their
//! global id (`base64url("Type:provider:remoteId")`, [`GlobalId`]), which names the provider a
//! representation belongs to, so `_entities` routes each one without asking anyone. A router
//! sends a page of representations at once; async-graphql resolves them concurrently, and they
//! meet in the request's loaders: CRM records in the record loader, which asks the synced copy
//! and then each provider once for all the ids of one type (100 contacts of two CRMs: one batch
//! per CRM); emails, events and chat messages in the items loaders (`items`), one `get_many` per
//! provider (Google's batch endpoint, Graph's `$batch`; Slack message by message).
//!
//! One representation that cannot be resolved does not fail the others: async-graphql resolves
//! `_entities` as one field, so each resolver settles its own representation — `null`, with its
//! error added to the response at `["_entities", index]` — and never returns an error itself.
//!
//! Lookups obey the default freshness rules of [`super::freshness`]: the type's default
//! `maxAge` per provider (`providers.<slug>.max_age_secs`, else the catalog's); a router cannot
//! pass one. A representation resolves within the caller's tenant only: a record of a provider
//! the caller has not connected, an id of another type, or one the caller's account does not
//! hold answers `null`, never another project's or user's record.
//!
//! async-graphql adds `_service` and `_entities` as soon as one entity resolver is in the
//! schema, so these resolvers live in their own object, merged into the query root of the
//! federated schema only (`FederatedQuery`, chosen by `graphql.federation`).

use async_graphql::{Any, Context, ID, Object, PathSegment, Result, ServerError, Value};

use crate::providers::{Capability, Cataloged, crm::CrmObject, record::Record};

use super::{
    AppContext, Loaders,
    calendar::Event,
    chat::Message,
    crm::{Company, Contact, CrmNode, Deal, Lead},
    errors::{ErrorCode, upstream_error},
    freshness::{Fetched, MaxAge, Origin},
    ids::GlobalId,
    items::ItemKey,
    lists::{connected, reauth_required, tenant},
    loaders::{Loaded, RecordKey},
    mail::Email,
};

/// `_entities`' resolvers, one per entity type, each keyed by `id`. Each answers `null` for a
/// representation it cannot resolve, with the reason as an error at its index ([`settle`]).
#[derive(Default)]
pub struct EntityQuery;

#[Object]
impl EntityQuery {
    #[graphql(entity)]
    async fn find_contact_by_id(&self, ctx: &Context<'_>, id: ID) -> Option<Contact> {
        let found = crm_entity(ctx, CrmObject::Contact, &id).await;
        settle(ctx, "Contact", &id, found).and_then(|node| match node {
            CrmNode::Contact(x) => Some(x),
            _ => None,
        })
    }

    #[graphql(entity)]
    async fn find_lead_by_id(&self, ctx: &Context<'_>, id: ID) -> Option<Lead> {
        let found = crm_entity(ctx, CrmObject::Lead, &id).await;
        settle(ctx, "Lead", &id, found).and_then(|node| match node {
            CrmNode::Lead(x) => Some(x),
            _ => None,
        })
    }

    #[graphql(entity)]
    async fn find_deal_by_id(&self, ctx: &Context<'_>, id: ID) -> Option<Deal> {
        let found = crm_entity(ctx, CrmObject::Deal, &id).await;
        settle(ctx, "Deal", &id, found).and_then(|node| match node {
            CrmNode::Deal(x) => Some(x),
            _ => None,
        })
    }

    #[graphql(entity)]
    async fn find_company_by_id(&self, ctx: &Context<'_>, id: ID) -> Option<Company> {
        let found = crm_entity(ctx, CrmObject::Company, &id).await;
        settle(ctx, "Company", &id, found).and_then(|node| match node {
            CrmNode::Company(x) => Some(x),
            _ => None,
        })
    }

    #[graphql(entity)]
    async fn find_email_by_id(&self, ctx: &Context<'_>, id: ID) -> Option<Email> {
        let found = async {
            let Some(key) = owned(ctx, "Email", Capability::Emails, &id).await? else {
                return Ok(None);
            };
            let loaded = loaders(ctx).email(key).await;
            Ok(live(loaded)?.map(|(r, fetched)| Email::from_record(r, fetched)))
        };
        settle(ctx, "Email", &id, found.await)
    }

    #[graphql(entity)]
    async fn find_event_by_id(&self, ctx: &Context<'_>, id: ID) -> Option<Event> {
        let found = async {
            let Some(key) = owned(ctx, "Event", Capability::Events, &id).await? else {
                return Ok(None);
            };
            let loaded = loaders(ctx).event(key).await;
            Ok(live(loaded)?.map(|(r, fetched)| Event::from_record(r, fetched)))
        };
        settle(ctx, "Event", &id, found.await)
    }

    #[graphql(entity)]
    async fn find_message_by_id(&self, ctx: &Context<'_>, id: ID) -> Option<Message> {
        let found = async {
            let Some(key) = owned(ctx, "Message", Capability::Messages, &id).await? else {
                return Ok(None);
            };
            let loaded = loaders(ctx).message(key).await;
            Ok(live(loaded)?.map(|(r, fetched)| Message::from_record(r, fetched)))
        };
        settle(ctx, "Message", &id, found.await)
    }
}

/// The request's loaders (the shared ones outside an HTTP request).
fn loaders<'a>(ctx: &Context<'a>) -> &'a Loaders {
    ctx.data_opt::<Loaders>()
        .unwrap_or(&ctx.data_unchecked::<AppContext>().loaders)
}

/// An item loader's answer as a record with its freshness (default `maxAge`), or the error of
/// its provider's batch.
fn live<T>(loaded: Option<Loaded<(Record<T>, Origin)>>) -> Result<Option<(Record<T>, Fetched)>> {
    let Some(loaded) = loaded else {
        return Ok(None);
    };
    let (record, origin) = loaded.map_err(|e| upstream_error(&e))?;
    let fetched = origin.fetched(&record.remote_id, MaxAge::default());
    Ok(Some((record, fetched)))
}

/// One representation's answer as `_entities` gives it: the entity, or `null` with an error at
/// the representation's index — `NOT_FOUND` for an id that resolves to no record the caller
/// may read (unknown, another type's, another project's: the message is the same, so it says
/// nothing about other tenants), the provider's error when its batch failed.
fn settle<T>(ctx: &Context<'_>, type_name: &str, id: &ID, found: Result<Option<T>>) -> Option<T> {
    let error = match found {
        Ok(Some(entity)) => return Some(entity),
        Ok(None) => ErrorCode::NotFound.error(format!("no {type_name} with this id")),
        Err(error) => error,
    };
    report_at_index(ctx, type_name, id, error.into_server_error(ctx.item.pos));
    None
}

/// Adds `error` to the response at `[<_entities' response key>, index]`, the index of the
/// representation `{__typename: type_name, id}`. async-graphql resolves every representation
/// with the same context (no index in its path), so the index is found among the field's
/// `representations`; when the same representation comes more than once, each of its
/// resolutions takes the next index that has no error yet.
fn report_at_index(ctx: &Context<'_>, type_name: &str, id: &ID, mut error: ServerError) {
    let key = ctx.item.node.response_key().node.to_string();
    let indexes: Vec<usize> = ctx
        .param_value::<Vec<Any>>("representations", None)
        .map(|(_, representations)| {
            representations
                .iter()
                .enumerate()
                .filter(|(_, r)| represents(&r.0, type_name, id))
                .map(|(i, _)| i)
                .collect()
        })
        .unwrap_or_default();
    // The response's errors, which `Context::add_error` appends to: read and extended under one
    // lock, so concurrent resolutions of one representation take distinct indexes.
    let mut errors = ctx
        .query_env
        .errors
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let path_of = |i: usize| vec![PathSegment::Field(key.clone()), PathSegment::Index(i)];
    let free = indexes
        .iter()
        .copied()
        .find(|i| !errors.iter().any(|e| e.path == path_of(*i)));
    error.path = match free.or(indexes.first().copied()) {
        Some(i) => path_of(i),
        None => vec![PathSegment::Field(key.clone())],
    };
    errors.push(error);
}

/// Whether a representation is `{__typename: type_name, id}`.
fn represents(representation: &Value, type_name: &str, id: &ID) -> bool {
    let Value::Object(fields) = representation else {
        return false;
    };
    matches!(fields.get("__typename"), Some(Value::String(t)) if t == type_name)
        && matches!(fields.get("id"), Some(Value::String(v)) if v.as_str() == id.as_str())
}

/// The loader key of a representation's `id` when it is a `type_name` of a provider that feeds
/// `capability` and that the caller has connected; `None` otherwise (an id of another type or
/// of no record, a provider the caller's tenant has not connected).
async fn owned(
    ctx: &Context<'_>,
    type_name: &str,
    capability: Capability,
    id: &ID,
) -> Result<Option<ItemKey>> {
    let Ok(parsed) = GlobalId::parse("id", id) else {
        return Ok(None);
    };
    if parsed.type_name != type_name {
        return Ok(None);
    }
    let Some((provider, remote_id)) = parsed.record() else {
        return Ok(None);
    };
    if !provider.feeds(capability) {
        return Ok(None);
    }
    let Some(connection) = connected(ctx)
        .await?
        .into_iter()
        .find(|c| c.provider == provider)
    else {
        return Ok(None);
    };
    if connection.reauth_required {
        return Err(reauth_required(provider));
    }
    Ok(Some(ItemKey {
        tenant: tenant(ctx)?,
        provider,
        remote_id: remote_id.to_owned(),
    }))
}

/// A CRM record by its global id through the request's record loader (the copy first within
/// the provider's default `maxAge`, then one provider call for every id of the batch).
async fn crm_entity(ctx: &Context<'_>, object: CrmObject, id: &ID) -> Result<Option<CrmNode>> {
    let Some(item) = owned(ctx, object.name(), object.capability(), id).await? else {
        return Ok(None);
    };
    let app = ctx.data_unchecked::<AppContext>();
    let key = RecordKey {
        tenant: item.tenant,
        provider: item.provider,
        object,
        remote_id: item.remote_id,
        max_age: MaxAge::default().of(&app.reads, item.provider),
    };
    let Some(loaded) = loaders(ctx).records([key.clone()]).await.remove(&key) else {
        return Ok(None);
    };
    let (record, origin) = loaded.map_err(|e| upstream_error(&e))?;
    let fetched = origin.fetched(&key.remote_id, MaxAge::default());
    Ok(Some(CrmNode::from_record(record, fetched)))
}
