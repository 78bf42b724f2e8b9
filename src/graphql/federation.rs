//! Apollo Federation v2: the entity resolvers that make the schema a subgraph.
//!
//! Contact, Lead, Deal, Company, Email, Event and Message are entities keyed by `id`, their
//! global id (`base64url("Type:provider:remoteId")`, [`GlobalId`]), which names the provider a
//! representation belongs to, so `_entities` routes each one without asking anyone. A router
//! sends a page of representations at once; async-graphql resolves them concurrently, and the
//! CRM records among them meet in the request's record loader, which asks the synced copy and
//! then each provider once for all the ids of one type (100 contacts of two CRMs: one batch per
//! CRM). Email, Event and Message are fetched one by one: their providers' adapters have no
//! read by many ids yet.
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

use async_graphql::{Context, ID, Object, Result};

use crate::providers::{Capability, Cataloged, Provider, crm::CrmObject};

use super::{
    AppContext, Loaders,
    calendar::{Event, event_node},
    chat::{Message, message_node},
    crm::{Company, Contact, CrmNode, Deal, Lead},
    errors::upstream_error,
    freshness::MaxAge,
    ids::GlobalId,
    lists::{connected, reauth_required, tenant},
    loaders::RecordKey,
    mail::{Email, email_node},
};

/// `_entities`' resolvers, one per entity type, each keyed by `id`.
#[derive(Default)]
pub struct EntityQuery;

#[Object]
impl EntityQuery {
    #[graphql(entity)]
    async fn find_contact_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Contact>> {
        Ok(crm_entity(ctx, CrmObject::Contact, &id)
            .await?
            .and_then(|node| match node {
                CrmNode::Contact(x) => Some(x),
                _ => None,
            }))
    }

    #[graphql(entity)]
    async fn find_lead_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Lead>> {
        Ok(crm_entity(ctx, CrmObject::Lead, &id)
            .await?
            .and_then(|node| match node {
                CrmNode::Lead(x) => Some(x),
                _ => None,
            }))
    }

    #[graphql(entity)]
    async fn find_deal_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Deal>> {
        Ok(crm_entity(ctx, CrmObject::Deal, &id)
            .await?
            .and_then(|node| match node {
                CrmNode::Deal(x) => Some(x),
                _ => None,
            }))
    }

    #[graphql(entity)]
    async fn find_company_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Company>> {
        Ok(crm_entity(ctx, CrmObject::Company, &id)
            .await?
            .and_then(|node| match node {
                CrmNode::Company(x) => Some(x),
                _ => None,
            }))
    }

    #[graphql(entity)]
    async fn find_email_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Email>> {
        match owned(ctx, "Email", Capability::Emails, &id).await? {
            Some((provider, remote_id)) => {
                email_node(ctx, provider, &remote_id, MaxAge::default()).await
            }
            None => Ok(None),
        }
    }

    #[graphql(entity)]
    async fn find_event_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Event>> {
        match owned(ctx, "Event", Capability::Events, &id).await? {
            Some((provider, remote_id)) => {
                event_node(ctx, provider, &remote_id, MaxAge::default()).await
            }
            None => Ok(None),
        }
    }

    #[graphql(entity)]
    async fn find_message_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Message>> {
        match owned(ctx, "Message", Capability::Messages, &id).await? {
            Some((provider, remote_id)) => {
                message_node(ctx, provider, &remote_id, MaxAge::default()).await
            }
            None => Ok(None),
        }
    }
}

/// The provider and remote id of a representation's `id` when it is a `type_name` of a
/// provider that feeds `capability` and that the caller has connected; `None` otherwise (an id
/// of another type or of no record, a provider the caller's tenant has not connected).
async fn owned(
    ctx: &Context<'_>,
    type_name: &str,
    capability: Capability,
    id: &ID,
) -> Result<Option<(Provider, String)>> {
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
    Ok(Some((provider, remote_id.to_owned())))
}

/// A CRM record by its global id through the request's record loader (the copy first within
/// the provider's default `maxAge`, then one provider call for every id of the batch).
async fn crm_entity(ctx: &Context<'_>, object: CrmObject, id: &ID) -> Result<Option<CrmNode>> {
    let Some((provider, remote_id)) = owned(ctx, object.name(), object.capability(), id).await?
    else {
        return Ok(None);
    };
    let app = ctx.data_unchecked::<AppContext>();
    let key = RecordKey {
        tenant: tenant(ctx)?,
        provider,
        object,
        remote_id,
        max_age: MaxAge::default().of(&app.reads, provider),
    };
    let loaders = ctx.data_opt::<Loaders>().unwrap_or(&app.loaders);
    let Some(loaded) = loaders.records([key.clone()]).await.remove(&key) else {
        return Ok(None);
    };
    let (record, origin) = loaded.map_err(|e| upstream_error(&e))?;
    let fetched = origin.fetched(&key.remote_id, MaxAge::default());
    Ok(Some(CrmNode::from_record(record, fetched)))
}
