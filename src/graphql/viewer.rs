//! The caller: `viewer { user project connections }`, and `node(id:)` for every Node.

use async_graphql::{ComplexObject, Context, Enum, ID, Interface, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use nexus_core::Target;

use crate::{
    changes::Audience,
    providers::{Cataloged, Provider, crm::CrmObject},
};

use super::{
    AppContext,
    calendar::{Event, event_node},
    changes::ChangeEvent,
    chat::{Channel, Message, message_node},
    crm::{Company, Contact, CrmNode, Deal, Lead},
    errors::{ErrorCode, internal, provider_error},
    freshness::MaxAge,
    ids::GlobalId,
    lists::{crm_record, has_connection, not_connected, tenant},
    mail::{Email, email_node},
    types::ProviderEnum,
};

/// Anything with a global id that `node(id:)` resolves.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    User(User),
    Project(Project),
    Contact(Contact),
    Lead(Lead),
    Deal(Deal),
    Company(Company),
    Email(Email),
    Event(Event),
    Message(Message),
    Channel(Channel),
    ChangeEvent(ChangeEvent),
}

#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct User {
    #[graphql(skip)]
    pub uuid: Uuid,
    pub email: String,
}

#[ComplexObject]
impl User {
    pub async fn id(&self) -> ID {
        GlobalId::encode("User", &self.uuid.to_string())
    }
}

#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct Project {
    #[graphql(skip)]
    pub uuid: Uuid,
    pub name: String,
}

#[ComplexObject]
impl Project {
    pub async fn id(&self) -> ID {
        GlobalId::encode("Project", &self.uuid.to_string())
    }
}

/// Where a provider connection stands.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStatus {
    NotConnected,
    Connected,
    Refreshing,
    ReauthRequired,
}

/// One provider of the catalog and this caller's connection to it. Never a token.
#[derive(SimpleObject, Debug, Clone)]
pub struct ProviderConnection {
    pub provider: ProviderEnum,
    pub status: ConnectionStatus,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The synced copy of each type the connection's reads may come from (CRM types; empty
    /// for other providers and for a provider not connected).
    pub copies: Vec<CopyStatus>,
}

/// How complete and how old one type's synced copy of a connection is.
#[derive(SimpleObject, Debug, Clone)]
pub struct CopyStatus {
    /// The unified type (`Contact`).
    #[graphql(name = "type")]
    pub object: String,
    /// Whether a first full pass over the type is done: only then do reads come from the copy.
    pub complete: bool,
    /// Seconds since the copy's last complete pass began (every change before it is in the
    /// copy); null before the first.
    pub age_seconds: Option<i32>,
}

impl CopyStatus {
    fn of(provider: Provider, status: nexus_core::CopyStatus) -> Self {
        let type_name = status.object.name();
        if let Some(as_of) = status.as_of {
            super::freshness::copy_age(provider, type_name, as_of);
        }
        Self {
            object: type_name.to_owned(),
            complete: status.complete,
            age_seconds: status.as_of.map(|at| {
                i32::try_from((Utc::now() - at).num_seconds().max(0)).unwrap_or(i32::MAX)
            }),
        }
    }
}

/// The authenticated caller.
pub struct Viewer;

#[Object]
impl Viewer {
    async fn user(&self, ctx: &Context<'_>) -> Result<User> {
        let tenant = tenant(ctx)?;
        let user = app(ctx)
            .tenants
            .user(tenant.user_id)
            .await
            .map_err(internal)?
            .ok_or_else(|| ErrorCode::NotFound.error("the caller's user no longer exists"))?;
        Ok(User {
            uuid: user.id,
            email: user.email,
        })
    }

    async fn project(&self, ctx: &Context<'_>) -> Result<Project> {
        let tenant = tenant(ctx)?;
        let project = app(ctx)
            .tenants
            .project(tenant.project_id)
            .await
            .map_err(internal)?
            .ok_or_else(|| ErrorCode::NotFound.error("the caller's project no longer exists"))?;
        Ok(Project {
            uuid: project.id,
            name: project.name,
        })
    }

    /// Every provider of the catalog, connected or not.
    async fn connections(&self, ctx: &Context<'_>) -> Result<Vec<ProviderConnection>> {
        let tenant = tenant(ctx)?;
        let rows = app(ctx)
            .credentials
            .connections(tenant.user_id, tenant.project_id)
            .await
            .map_err(internal)?;
        let mut connections = Vec::with_capacity(Provider::ALL.len());
        for provider in Provider::ALL {
            let row = rows.iter().find(|r| r.provider == provider);
            let status = match row {
                None => ConnectionStatus::NotConnected,
                Some(r) if r.reauth_required => ConnectionStatus::ReauthRequired,
                Some(_) if app(ctx).connect.is_refreshing(tenant, provider).await => {
                    ConnectionStatus::Refreshing
                }
                Some(_) => ConnectionStatus::Connected,
            };
            let copies = match row {
                Some(_)
                    if CrmObject::ALL
                        .iter()
                        .any(|o| provider.feeds(o.capability())) =>
                {
                    let target = Target { tenant, provider };
                    let statuses = app(ctx).read_model.status(target).await;
                    statuses
                        .into_iter()
                        .filter(|s| provider.feeds(s.object.capability()))
                        .map(|s| CopyStatus::of(provider, s))
                        .collect()
                }
                _ => Vec::new(),
            };
            connections.push(ProviderConnection {
                provider: provider.into(),
                status,
                scopes: row.map(|r| r.scopes.clone()).unwrap_or_default(),
                expires_at: row.and_then(|r| r.expires_at),
                copies,
            });
        }
        Ok(connections)
    }
}

fn app<'a>(ctx: &Context<'a>) -> &'a AppContext {
    ctx.data_unchecked::<AppContext>()
}

#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// The caller: user, project and provider connections.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<Viewer> {
        tenant(ctx)?;
        Ok(Viewer)
    }

    /// Any object by its global id, within the caller's project. `maxAge`: how old, in seconds,
    /// a record from the synced copy may be (0: live; omitted: the provider's default).
    async fn node(&self, ctx: &Context<'_>, id: ID, max_age: Option<i32>) -> Result<Option<Node>> {
        let tenant = tenant(ctx)?;
        let max_age = MaxAge::parse(max_age)?;
        let parsed = GlobalId::parse("id", &id)?;
        let not_found = || {
            ErrorCode::NotFound.error(format!(
                "could not resolve to a node with the global id `{}`",
                id.as_str()
            ))
        };
        match parsed.type_name.as_str() {
            "User" if parsed.uuid() == Some(tenant.user_id) => {
                Ok(Some(Node::User(Viewer.user(ctx).await?)))
            }
            "Project" if parsed.uuid() == Some(tenant.project_id) => {
                Ok(Some(Node::Project(Viewer.project(ctx).await?)))
            }
            "Contact" | "Lead" | "Deal" | "Company" => {
                let (provider, remote_id) = parsed.record().ok_or_else(not_found)?;
                let object = match parsed.type_name.as_str() {
                    "Contact" => CrmObject::Contact,
                    "Lead" => CrmObject::Lead,
                    "Deal" => CrmObject::Deal,
                    _ => CrmObject::Company,
                };
                let (record, fetched) = crm_record(ctx, object, provider, remote_id, max_age)
                    .await?
                    .ok_or_else(not_found)?;
                Ok(Some(match CrmNode::from_record(record, fetched) {
                    CrmNode::Contact(c) => Node::Contact(c),
                    CrmNode::Lead(l) => Node::Lead(l),
                    CrmNode::Deal(d) => Node::Deal(d),
                    CrmNode::Company(c) => Node::Company(c),
                }))
            }
            "Email" | "Event" | "Message" => {
                let (provider, remote_id) = parsed.record().ok_or_else(not_found)?;
                let node = match parsed.type_name.as_str() {
                    "Email" => email_node(ctx, provider, remote_id, max_age)
                        .await?
                        .map(Node::Email),
                    "Event" => event_node(ctx, provider, remote_id, max_age)
                        .await?
                        .map(Node::Event),
                    _ => message_node(ctx, provider, remote_id, max_age)
                        .await?
                        .map(Node::Message),
                };
                node.map(Some).ok_or_else(not_found)
            }
            "Channel" => {
                let (provider, _) = parsed.record().ok_or_else(not_found)?;
                if !has_connection(ctx, provider).await? {
                    return Err(not_connected(provider));
                }
                Err(provider_error(
                    ErrorCode::Unsupported,
                    provider,
                    "channels are listed with `channels`; `node` does not fetch one by id yet",
                ))
            }
            "ChangeEvent" => {
                let audience = Audience::of(tenant, super::scopes::scopes(ctx));
                let event = app(ctx)
                    .changes
                    .by_id(tenant.project_id, parsed.uuid().ok_or_else(not_found)?)
                    .await
                    .map_err(internal)?
                    .filter(|event| audience.sees(event.user_id))
                    .ok_or_else(not_found)?;
                Ok(Some(Node::ChangeEvent(event.into())))
            }
            _ => Err(not_found()),
        }
    }
}
