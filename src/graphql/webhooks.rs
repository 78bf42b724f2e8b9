//! Outbound webhook endpoints (`changes::outbound`) as queries and mutations:
//! `createWebhookEndpoint` (the one answer that carries the signing secret),
//! `updateWebhookEndpoint`, `deleteWebhookEndpoint`, `rotateWebhookEndpointSecret`,
//! `replayWebhookEndpoint`, and the pages `webhookEndpoints` and `webhookDeliveries`.
//!
//! An endpoint is scoped like a `changes` subscription: it belongs to its project and its maker,
//! and receives the events its maker's key could read when it was made — its own and the
//! project's, or every member's with the `changes:project` scope — and the project's notices
//! (`webhook_endpoint.disabled`). That audience is fixed: `updateWebhookEndpoint`, whoever calls
//! it, changes the URL, filters and state, never whose events it receives. A caller sees and
//! changes the endpoints whose events it could read itself: all of the project's with
//! `changes:project`; without, those it made without it. Any other id is `NOT_FOUND`.

use async_graphql::{
    Context, ID, MaybeUndefined, Object, Result, SimpleObject,
    connection::{Connection, CursorType, Edge},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::changes::{
    Audience,
    outbound::{
        self, Delivery, Endpoint, EndpointChange, EndpointError, Endpoints, Owner, Position,
    },
};

use super::{
    changes::parse_cursor,
    errors::{ErrorCode, bad_input, internal},
    ids::GlobalId,
    lists::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, tenant},
    scopes::scopes,
    types::{ProviderEnum, to_providers},
};

const ENDPOINT: &str = "WebhookEndpoint";

/// A position in a page of endpoints or deliveries: the `(time, id)` of the last one seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookCursor(Position);

impl CursorType for WebhookCursor {
    type Error = &'static str;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| "not base64")?;
        let text = std::str::from_utf8(&bytes).map_err(|_| "not utf-8")?;
        let rest = text
            .strip_prefix("webhook:")
            .ok_or("not a webhook cursor")?;
        let (micros, id) = rest.split_once(':').ok_or("not a webhook cursor")?;
        let at = micros
            .parse()
            .ok()
            .and_then(DateTime::<Utc>::from_timestamp_micros)
            .ok_or("not a time")?;
        let id = id.parse().map_err(|_| "not an id")?;
        Ok(WebhookCursor((at, id)))
    }

    fn encode_cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "webhook:{}:{}",
            self.0.0.timestamp_micros(),
            self.0.1
        ))
    }
}

/// A partner's endpoint the project's changes are delivered to, signed as Standard Webhooks.
#[derive(SimpleObject, Debug, Clone)]
pub struct WebhookEndpoint {
    pub id: ID,
    pub url: String,
    /// The event types it receives (`ChangeEvent.type`); null: all.
    pub types: Option<Vec<String>>,
    /// The providers whose events it receives; null: all.
    pub providers: Option<Vec<ProviderEnum>>,
    /// False once disabled, by a caller or after a day of failed deliveries.
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Endpoint> for WebhookEndpoint {
    fn from(e: Endpoint) -> Self {
        Self {
            id: GlobalId::encode(ENDPOINT, &e.id.to_string()),
            url: e.url,
            types: e.types,
            providers: e
                .providers
                .map(|ps| ps.into_iter().map(ProviderEnum::from).collect()),
            enabled: e.enabled,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// An endpoint with its signing secret, shown in this answer only.
#[derive(SimpleObject, Debug, Clone)]
pub struct WebhookEndpointWithSecret {
    pub endpoint: WebhookEndpoint,
    /// `whsec_` and base64: give it to a Standard Webhooks library to verify deliveries. It is
    /// never shown again; rotate to get a new one.
    pub secret: String,
}

/// One attempt to deliver an event to an endpoint.
#[derive(SimpleObject, Debug, Clone)]
pub struct WebhookDelivery {
    pub id: ID,
    /// The `webhook-id` header it carried: the same for every attempt of one event.
    pub webhook_id: String,
    /// The event's cursor in the change log.
    pub event_cursor: String,
    /// The endpoint's HTTP status; null when no answer came (see `error`).
    pub status: Option<i32>,
    /// Why no answer came (refused by the URL guard, timed out, could not connect).
    pub error: Option<String>,
    pub latency_ms: i64,
    /// The start of the answer's body, at most 1 KiB.
    pub response_excerpt: String,
    pub attempted_at: DateTime<Utc>,
}

impl From<Delivery> for WebhookDelivery {
    fn from(d: Delivery) -> Self {
        Self {
            id: ID(d.id.to_string()),
            webhook_id: format!("msg_{}", d.event_id.simple()),
            event_cursor: super::changes::ChangeCursor(d.seq).encode_cursor(),
            status: d.status,
            error: d.error,
            latency_ms: d.latency_ms,
            response_excerpt: d.response_excerpt,
            attempted_at: d.attempted_at,
        }
    }
}

/// The caller, as an endpoint's owner.
fn owner(ctx: &Context<'_>) -> Result<Owner> {
    let tenant = tenant(ctx)?;
    Ok(Owner {
        project_id: tenant.project_id,
        user_id: tenant.user_id,
        audience: Audience::of(tenant, scopes(ctx)),
    })
}

fn endpoints<'a>(ctx: &Context<'a>) -> &'a Endpoints {
    &ctx.data_unchecked::<super::AppContext>().outbound
}

/// An endpoint's id given as `field`.
fn endpoint_id(field: &str, id: &ID) -> Result<Uuid> {
    GlobalId::parse_as(field, id, ENDPOINT)?
        .uuid()
        .ok_or_else(|| bad_input(field, "not a webhook endpoint's id"))
}

/// The GraphQL error of an endpoint operation.
fn error(e: EndpointError) -> async_graphql::Error {
    match e {
        EndpointError::Refused(refused) => bad_input("url", refused.to_string()),
        EndpointError::NotFound => ErrorCode::NotFound.error(e.to_string()),
        EndpointError::Invalid { field, message } => bad_input(field, message),
        EndpointError::Expired => bad_input("from", e.to_string()),
        EndpointError::Db(_) | EndpointError::Vault(_) => internal(e),
    }
}

fn page_size(first: Option<i32>) -> Result<i32> {
    let first = first.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(0..=MAX_PAGE_SIZE).contains(&first) {
        return Err(bad_input(
            "first",
            format!("`first` must be between 0 and {MAX_PAGE_SIZE}"),
        ));
    }
    Ok(first)
}

fn position(after: Option<String>) -> Result<Option<Position>> {
    after
        .map(|c| {
            WebhookCursor::decode_cursor(&c)
                .map(|c| c.0)
                .map_err(|e| bad_input("after", format!("invalid cursor: {e}")))
        })
        .transpose()
}

#[derive(Default)]
pub struct WebhooksQuery;

#[Object]
impl WebhooksQuery {
    /// The caller's webhook endpoints (all of the project's with `changes:project`), oldest
    /// first.
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn webhook_endpoints(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<WebhookCursor, WebhookEndpoint>> {
        let owner = owner(ctx)?;
        let first = page_size(first)?;
        let after = position(after)?;
        let mut rows = endpoints(ctx)
            .list(owner, after, first as u64 + 1)
            .await
            .map_err(error)?;
        let more = rows.len() > first as usize;
        rows.truncate(first as usize);
        let mut connection = Connection::new(after.is_some(), more);
        for row in rows {
            let cursor = WebhookCursor((row.created_at, row.id));
            connection.edges.push(Edge::new(cursor, row.into()));
        }
        Ok(connection)
    }

    /// An endpoint's delivery attempts, newest first (kept `webhooks.deliveries_kept_days`).
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        endpoint_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<WebhookCursor, WebhookDelivery>> {
        let owner = owner(ctx)?;
        let id = self::endpoint_id("endpointId", &endpoint_id)?;
        let first = page_size(first)?;
        let after = position(after)?;
        let mut rows = endpoints(ctx)
            .deliveries(owner, id, after, first as u64 + 1)
            .await
            .map_err(error)?;
        let more = rows.len() > first as usize;
        rows.truncate(first as usize);
        let mut connection = Connection::new(after.is_some(), more);
        for row in rows {
            let cursor = WebhookCursor((row.attempted_at, row.id));
            connection.edges.push(Edge::new(cursor, row.into()));
        }
        Ok(connection)
    }
}

#[derive(Default)]
pub struct WebhooksMutation;

#[Object]
impl WebhooksMutation {
    /// Registers an endpoint that receives the project's changes from now on, as signed
    /// Standard Webhooks deliveries: the events the caller may read, of `types` and `providers`
    /// when given (omitted: all). The URL must pass the gateway's URL guard (no loopback,
    /// private or link-local address unless `webhooks.allow_private_targets`). The answer holds
    /// the signing secret, shown this once.
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        url: String,
        types: Option<Vec<String>>,
        providers: Option<Vec<ProviderEnum>>,
    ) -> Result<WebhookEndpointWithSecret> {
        let owner = owner(ctx)?;
        let (endpoint, secret) = endpoints(ctx)
            .create(owner, &url, types, providers.as_deref().map(to_providers))
            .await
            .map_err(error)?;
        Ok(WebhookEndpointWithSecret {
            endpoint: endpoint.into(),
            secret: outbound::reveal(&secret),
        })
    }

    /// Changes an endpoint: what is given changes (`types: null` or `providers: null`: all),
    /// what is omitted stays. `enabled: true` re-enables a disabled endpoint, which resumes
    /// from where its deliveries stopped.
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        id: ID,
        url: Option<String>,
        types: MaybeUndefined<Vec<String>>,
        providers: MaybeUndefined<Vec<ProviderEnum>>,
        enabled: Option<bool>,
    ) -> Result<WebhookEndpoint> {
        let owner = owner(ctx)?;
        let id = endpoint_id("id", &id)?;
        let change = EndpointChange {
            url,
            types: match types {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(types) => Some(Some(types)),
            },
            providers: match providers {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(ps) => Some(Some(to_providers(&ps))),
            },
            enabled,
        };
        endpoints(ctx)
            .update(owner, id, change)
            .await
            .map(Into::into)
            .map_err(error)
    }

    /// Deletes an endpoint and its delivery log; false when there was none.
    async fn delete_webhook_endpoint(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let owner = owner(ctx)?;
        let id = endpoint_id("id", &id)?;
        endpoints(ctx).delete(owner, id).await.map_err(error)
    }

    /// A new signing secret, shown this once. For `overlapSecs` (0 to a week; default 0) the
    /// previous secret signs too: deliveries carry both signatures, so receivers can switch
    /// secrets without refusing one.
    async fn rotate_webhook_endpoint_secret(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(default = 0)] overlap_secs: i64,
    ) -> Result<WebhookEndpointWithSecret> {
        let owner = owner(ctx)?;
        let id = endpoint_id("id", &id)?;
        let (endpoint, secret) = endpoints(ctx)
            .rotate(owner, id, overlap_secs)
            .await
            .map_err(error)?;
        Ok(WebhookEndpointWithSecret {
            endpoint: endpoint.into(),
            secret: outbound::reveal(&secret),
        })
    }

    /// Delivers again every event after the change-log cursor `from` (a `ChangeEvent.cursor`),
    /// in order and each with the `webhook-id` it had, then carries on with new ones.
    async fn replay_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        id: ID,
        from: String,
    ) -> Result<WebhookEndpoint> {
        let owner = owner(ctx)?;
        let id = endpoint_id("id", &id)?;
        let from = parse_cursor(Some(from))
            .map_err(|_| bad_input("from", "`from` is not a change cursor"))?
            .unwrap_or(0);
        endpoints(ctx)
            .replay(owner, id, from)
            .await
            .map(Into::into)
            .map_err(error)
    }
}
