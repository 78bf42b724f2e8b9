//! The one path every unified list takes: validate paging, pick the tenant's connected providers
//! that feed the list, ask each for its page, merge. Provider adapters plug in here as they land;
//! a connected provider without an adapter in this build is reported per provider (UNSUPPORTED),
//! so a list is never silently short.
//!
//! Each provider's page comes from the first source young enough for the request's `maxAge`
//! (`freshness`): for CRM lists and records the synced copy (the read model), else the provider.
//! Both sources page on the same keyset (the list's key, then the provider's id), so a cursor's
//! position resumes either; the cursor also records which source each provider's position came
//! from, and a client paging across a change of source sees every record once.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::Arc,
};

use async_graphql::{Context, Result, connection::CursorType};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use futures_util::future::BoxFuture;

use nexus_core::{ProviderError, Synced, Target};

use crate::{
    auth::Tenant,
    providers::{
        Capability, Cataloged, Provider,
        crm::{CrmData, CrmFilter, CrmObject, ListRequest},
        record::{ListPage, Order, Position, Record, Sorted},
    },
    vault::ConnectionState,
};

use super::{
    AppContext,
    errors::{ErrorCode, bad_input, internal, provider_error, upstream_error},
    freshness::{self, DataSource, Fetched, MaxAge, Origin},
    types::{ProviderEnum, to_providers},
};

/// `first` when a client gives none, and the most it may ask for.
pub const DEFAULT_PAGE_SIZE: i32 = 20;
pub const MAX_PAGE_SIZE: i32 = 100;

/// Validated paging arguments, and how fresh the page must be.
#[derive(Debug, Clone)]
pub struct PageArgs {
    pub first: usize,
    pub after: Option<MergedCursor>,
    pub max_age: MaxAge,
}

impl PageArgs {
    pub fn parse(first: Option<i32>, after: Option<String>) -> Result<Self> {
        let first = first.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(0..=MAX_PAGE_SIZE).contains(&first) {
            return Err(bad_input(
                "first",
                format!("`first` must be between 0 and {MAX_PAGE_SIZE}"),
            ));
        }
        let after = after
            .map(|c| {
                MergedCursor::decode_cursor(&c)
                    .map_err(|_| bad_input("after", "`after` is not a cursor of this list"))
            })
            .transpose()?;
        Ok(Self {
            first: first as usize,
            after,
            max_age: MaxAge::default(),
        })
    }

    /// The same page, as fresh as `max_age` says (a list's argument, or the parent's for a
    /// nested connection).
    pub fn within(self, max_age: MaxAge) -> Self {
        Self { max_age, ..self }
    }
}

/// A cursor across providers: where each provider's list stands, opaque to clients.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MergedCursor {
    pub positions: BTreeMap<Provider, Resume>,
    /// Which source each provider's position came from. Positions are the same keyset for every
    /// source, so the next page may come from another one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sources: BTreeMap<Provider, DataSource>,
    /// The last record served, in the merged order: a provider with no position yet resumes
    /// after it, so a record that arrives at the top of its list meanwhile is not served late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<Bound>,
}

/// A place in a merged list: a key and the provider whose record had it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bound {
    pub at: chrono::DateTime<chrono::Utc>,
    pub provider: Provider,
}

impl Bound {
    /// Whether a record of `provider` with key `at` comes after this place in a list of `order`.
    fn precedes(
        &self,
        order: Order,
        at: chrono::DateTime<chrono::Utc>,
        provider: Provider,
    ) -> bool {
        let later = match order {
            Order::NewestFirst => at < self.at,
            Order::OldestFirst => at > self.at,
        };
        later || (at == self.at && provider > self.provider)
    }
}

/// Where one provider's list stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resume {
    /// After this record.
    At(Position),
    /// Nothing left: the provider is not asked again.
    Done,
}

impl CursorType for MergedCursor {
    type Error = base64::DecodeError;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        let bytes = URL_SAFE_NO_PAD.decode(s)?;
        serde_json::from_slice(&bytes).map_err(|_| base64::DecodeError::InvalidLength(bytes.len()))
    }

    fn encode_cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }
}

/// The request's tenant; resolvers run only for authenticated callers.
pub fn tenant(ctx: &Context<'_>) -> Result<Tenant> {
    ctx.data_opt::<Tenant>()
        .copied()
        .ok_or_else(|| ErrorCode::Unauthenticated.error("not authenticated"))
}

/// The providers this tenant has connected, whether or not their tokens still open (read once
/// per request).
pub async fn connected(ctx: &Context<'_>) -> Result<Vec<ConnectionState>> {
    let tenant = tenant(ctx)?;
    let app = ctx.data_unchecked::<AppContext>();
    ctx.data_opt::<super::Loaders>()
        .unwrap_or(&app.loaders)
        .connections(
            app.credentials
                .connections(tenant.user_id, tenant.project_id),
        )
        .await
        .map_err(internal)
}

/// Whether the tenant has this provider connected (usable or not).
pub async fn has_connection(ctx: &Context<'_>, provider: Provider) -> Result<bool> {
    Ok(connected(ctx).await?.iter().any(|c| c.provider == provider))
}

/// The error for a connection whose stored tokens no longer open.
pub fn reauth_required(provider: Provider) -> async_graphql::Error {
    provider_error(
        ErrorCode::ReauthRequired,
        provider,
        format!("{} must be connected again", provider.entry().name),
    )
}

/// The tenant's connections that feed `capability`, narrowed to `providers` when given.
async fn sources(
    ctx: &Context<'_>,
    capability: Capability,
    providers: Option<&[ProviderEnum]>,
) -> Result<Vec<ConnectionState>> {
    let requested = providers.map(to_providers);
    if let Some(list) = &requested
        && let Some(p) = list.iter().find(|p| !p.feeds(capability))
    {
        return Err(bad_input(
            "providers",
            format!("{} has no {capability:?} list", p.entry().name),
        ));
    }
    Ok(connected(ctx)
        .await?
        .into_iter()
        .filter(|c| c.provider.feeds(capability))
        .filter(|c| requested.as_ref().is_none_or(|r| r.contains(&c.provider)))
        .collect())
}

/// Reports an error about one provider beside the data of the others.
fn report(ctx: &Context<'_>, error: async_graphql::Error) {
    ctx.add_error(ctx.set_error_path(error.into_server_error(ctx.item.pos)));
}

/// A merged page: each edge with the cursor that resumes after it and its record's freshness.
pub struct MergedPage<T = CrmData> {
    pub edges: Vec<(MergedCursor, Record<T>, Fetched)>,
    pub has_previous: bool,
    pub has_next: bool,
}

/// One provider's page being fetched for a merged list, and where it came from.
pub type Ask<'a, P> = BoxFuture<'a, Result<(P, Origin), ProviderError>>;

/// A provider's page as a merged list takes it: its own, or shared with other readers (a page
/// the copy keeps in memory), whose records are copied only as they are served.
pub enum Got<T> {
    Own(ListPage<T>),
    Shared(Arc<ListPage<T>>),
}

impl<T> From<ListPage<T>> for Got<T> {
    fn from(page: ListPage<T>) -> Self {
        Got::Own(page)
    }
}

impl<T> From<Arc<ListPage<T>>> for Got<T> {
    fn from(page: Arc<ListPage<T>>) -> Self {
        Got::Shared(page)
    }
}

/// What is left of one provider's page while its records are merged.
enum Left<T> {
    Own(VecDeque<Record<T>>),
    /// The shared page and the index of its next record.
    Shared(Arc<ListPage<T>>, usize),
}

impl<T: Clone> Left<T> {
    fn of(page: Got<T>) -> (Self, bool) {
        match page {
            Got::Own(page) => (Left::Own(page.records.into()), page.more),
            Got::Shared(page) => {
                let more = page.more;
                (Left::Shared(page, 0), more)
            }
        }
    }

    fn front(&self) -> Option<&Record<T>> {
        match self {
            Left::Own(records) => records.front(),
            Left::Shared(page, next) => page.records.get(*next),
        }
    }

    fn is_empty(&self) -> bool {
        self.front().is_none()
    }

    /// The next record, taken out (a copy of a shared one).
    fn pop_front(&mut self) -> Option<Record<T>> {
        match self {
            Left::Own(records) => records.pop_front(),
            Left::Shared(page, next) => {
                let record = page.records.get(*next).cloned();
                *next += 1;
                record
            }
        }
    }

    /// Passes over the next record, its position only kept.
    fn skip(&mut self) -> Option<Position>
    where
        T: Sorted,
    {
        let position = self.front().map(Record::position);
        match self {
            Left::Own(records) => {
                records.pop_front();
            }
            Left::Shared(_, next) => *next += 1,
        }
        position
    }
}

/// A page the provider just gave.
pub fn live<T>(page: ListPage<T>) -> (ListPage<T>, Origin) {
    (page, Origin::live())
}

/// One page of a unified list across the tenant's providers that feed `capability`: every
/// provider asked in parallel (`ask`: its page of at most `limit` records strictly after the
/// position, or `None` when this build has no adapter for it) from where the cursor left it,
/// merged in the list's order (its key, then provider, then the provider's own order). A provider
/// that fails is reported in `errors` with its code, and the others' records still come back; its
/// position stays, so the next page asks it again. Each answer is counted by its source
/// (`nexus_reads_total`).
pub async fn merged_page<'a, T: Sorted + Clone, P: Into<Got<T>>>(
    ctx: &Context<'_>,
    capability: Capability,
    providers: Option<&[ProviderEnum]>,
    page: &PageArgs,
    ask: impl Fn(Target, Option<Position>, usize) -> Option<Ask<'a, P>>,
) -> Result<MergedPage<T>> {
    let tenant = tenant(ctx)?;
    let mut cursor = page.after.clone().unwrap_or_default();
    let mut asks = Vec::new();
    for source in sources(ctx, capability, providers).await? {
        let provider = source.provider;
        if source.reauth_required {
            report(ctx, reauth_required(provider));
            continue;
        }
        let after = match cursor.positions.get(&provider) {
            Some(Resume::Done) => continue,
            Some(Resume::At(position)) => Some(position.clone()),
            None => None,
        };
        match ask(Target { tenant, provider }, after, page.first) {
            Some(answer) => asks.push(async move { (provider, answer.await) }),
            None => report(ctx, no_adapter(provider)),
        }
    }
    let type_name = freshness::type_of(capability);
    let mut queues: BTreeMap<Provider, (Left<T>, bool)> = BTreeMap::new();
    let mut origins: BTreeMap<Provider, Origin> = BTreeMap::new();
    for (provider, answer) in futures_util::future::join_all(asks).await {
        match answer {
            Ok((list, origin)) => {
                freshness::count(provider, type_name, &origin);
                origins.insert(provider, origin);
                let (mut records, more) = Left::of(list.into());
                // Asked from its top: what lies before the last record served arrived since.
                if let (None, Some(bound)) = (cursor.positions.get(&provider), cursor.last) {
                    while let Some(first) = records.front() {
                        if bound.precedes(T::ORDER, T::key(first), provider) {
                            break;
                        }
                        if let Some(position) = records.skip() {
                            cursor.positions.insert(provider, Resume::At(position));
                        }
                    }
                }
                queues.insert(provider, (records, more));
            }
            Err(error) => report(ctx, upstream_error(&error)),
        }
    }
    let mut edges = Vec::with_capacity(page.first);
    while edges.len() < page.first {
        // A provider with more to give but nothing left in hand bounds what may come next.
        if queues.values().any(|(q, more)| q.is_empty() && *more) {
            break;
        }
        let next = queues
            .iter()
            .filter_map(|(p, (q, _))| q.front().map(|r| (*p, T::key(r))))
            .min_by(|a, b| {
                let by_key = match T::ORDER {
                    Order::NewestFirst => b.1.cmp(&a.1),
                    Order::OldestFirst => a.1.cmp(&b.1),
                };
                by_key.then_with(|| a.0.cmp(&b.0))
            });
        let Some((provider, _)) = next else { break };
        let Some(record) = queues.get_mut(&provider).and_then(|(q, _)| q.pop_front()) else {
            break;
        };
        cursor
            .positions
            .insert(provider, Resume::At(record.position()));
        let fetched = match origins.get(&provider) {
            Some(origin) => origin.fetched(&record.remote_id, page.max_age),
            None => Fetched::live(page.max_age),
        };
        cursor.sources.insert(provider, fetched.source);
        cursor.last = Some(Bound {
            at: T::key(&record),
            provider,
        });
        edges.push((cursor.clone(), record, fetched));
    }
    for (provider, (queue, more)) in &queues {
        if queue.is_empty() && !more {
            cursor.positions.insert(*provider, Resume::Done);
        }
    }
    if let Some(last) = edges.last_mut() {
        last.0 = cursor.clone();
    }
    let has_next = queues.values().any(|(q, more)| !q.is_empty() || *more);
    Ok(MergedPage {
        edges,
        has_previous: page.after.is_some(),
        has_next,
    })
}

/// One page of a CRM list across the tenant's CRMs, filters pushed down, newest first, each
/// CRM's part from its synced copy when that is complete and young enough, else live; the
/// relations the query selects are prefetched for the whole page.
pub async fn crm_page(
    ctx: &Context<'_>,
    object: CrmObject,
    providers: Option<&[ProviderEnum]>,
    filter: CrmFilter,
    page: PageArgs,
) -> Result<MergedPage> {
    let app = ctx.data_unchecked::<AppContext>();
    let max_age = page.max_age;
    let page = merged_page(
        ctx,
        object.capability(),
        providers,
        &page,
        |target, after, limit| {
            let adapter = app.providers.crm(target.provider).ok()?;
            let request = ListRequest {
                object,
                filter: filter.clone(),
                after,
                limit,
            };
            let max_age = page.max_age.of(&app.reads, target.provider);
            let copy = app.read_model.clone();
            Some(Box::pin(async move {
                if !max_age.is_zero()
                    && let Synced::Synced { value, as_of } =
                        copy.list(target, &request, max_age).await
                {
                    return Ok((Got::Shared(value), Origin::Synced(Arc::new(as_of))));
                }
                let page = adapter.list(target, &request).await?;
                Ok((Got::Own(page), Origin::live()))
            }))
        },
    )
    .await?;
    let records: Vec<_> = page.edges.iter().map(|(_, r, _)| r).collect();
    super::relations::prefetch(ctx, object, &records, max_age).await;
    Ok(page)
}

/// One CRM record by its provider id: from the connection's synced copy when it is young
/// enough for `max_age` and has the record, else through the connection's adapter; `None` when
/// the provider has no such record.
pub async fn crm_record(
    ctx: &Context<'_>,
    object: CrmObject,
    provider: Provider,
    remote_id: &str,
    max_age: MaxAge,
) -> Result<Option<(Record<CrmData>, Fetched)>> {
    let app = ctx.data_unchecked::<AppContext>();
    let tenant = tenant(ctx)?;
    let Some(connection) = connected(ctx)
        .await?
        .into_iter()
        .find(|c| c.provider == provider)
    else {
        return Err(not_connected(provider));
    };
    if connection.reauth_required {
        return Err(reauth_required(provider));
    }
    let adapter = app
        .providers
        .crm(provider)
        .map_err(|e| no_adapter(e.provider))?;
    let target = Target { tenant, provider };
    let ids = [remote_id.to_owned()];
    let age = max_age.of(&app.reads, provider);
    if !age.is_zero()
        && let Synced::Synced { value, as_of } =
            app.read_model.get_many(target, object, &ids, age).await
        && let Some(record) = value.into_iter().find(|r| r.remote_id == remote_id)
    {
        let origin = Origin::Synced(Arc::new(as_of));
        freshness::count(provider, object.name(), &origin);
        let fetched = origin.fetched(remote_id, max_age);
        return Ok(Some((record, fetched)));
    }
    let records = adapter
        .get_many(target, object, &ids)
        .await
        .map_err(|e| upstream_error(&e))?;
    let origin = Origin::live();
    freshness::count(provider, object.name(), &origin);
    Ok(records
        .into_iter()
        .find(|r| r.remote_id == remote_id)
        .map(|r| (r, origin.fetched(remote_id, max_age))))
}

/// The error for a provider the project has not connected.
pub fn not_connected(provider: Provider) -> async_graphql::Error {
    provider_error(
        ErrorCode::NotConnected,
        provider,
        format!(
            "{} is not connected for this project",
            provider.entry().name
        ),
    )
}

/// The cost of a page for the complexity limit: each of `first` items costs its selection.
pub fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let first = first.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE) as usize;
    first.saturating_mul(child_complexity.max(1))
}

/// The error for a read that needs a provider adapter this build does not have.
pub fn no_adapter(provider: Provider) -> async_graphql::Error {
    provider_error(
        ErrorCode::Unsupported,
        provider,
        format!("this build has no {} adapter", provider.entry().name),
    )
}

/// The connection a write to `provider` goes through: the provider must feed `capability`, be
/// connected, and its tokens must still open.
pub async fn write_target(
    ctx: &Context<'_>,
    capability: Capability,
    provider: Provider,
) -> Result<Target> {
    if !provider.feeds(capability) {
        return Err(bad_input(
            "input.provider",
            format!("{} has no {capability:?}", provider.entry().name),
        ));
    }
    let Some(connection) = connected(ctx)
        .await?
        .into_iter()
        .find(|c| c.provider == provider)
    else {
        return Err(not_connected(provider));
    };
    if connection.reauth_required {
        return Err(reauth_required(provider));
    }
    Ok(Target {
        tenant: tenant(ctx)?,
        provider,
    })
}

#[cfg(test)]
mod cursor_versions;
pub mod edge;
