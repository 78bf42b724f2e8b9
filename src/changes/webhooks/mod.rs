//! Webhook deliveries, verified before anything is stored: each provider's module checks its
//! signature scheme (in constant time, within the provider's timestamp window) and turns a
//! verified body into changes; its `ProviderWebhook` routes them to the projects whose connection
//! has the account the delivery names (HubSpot's portal, Slack's team; Stripe's endpoint serves
//! the default project) with the provider's event id as the receipt, so a redelivery is
//! acknowledged and stored once. A delivery finds its connections by the credentials' indexed
//! `account_id` (`Intake::connections_of`), never by reading every connection of its provider.
//! Graph's change notifications carry no signature: each is checked against the
//! `clientState` stored for its subscription (`changes::subscriptions`) and routed by it.
//! Google's pushes (`google`) carry no change: a Gmail push, proven by Google's signed token, is
//! routed by its mailbox address, a Calendar notification by its channel id and token
//! (`changes::google_watch`); each, stored once as a receipt, nudges its connection's sync.
//! Every delivery stored also nudges its connection's sync (`sync::nudge`), which catches what
//! the delivery only hinted at. A mailbox's delivery (a Gmail push, a Graph notification of an
//! Outlook message) also drops the tenant's cached mail lists, here and in the other processes
//! on the database (`MailCache::forget`), so that the next list reads the mailbox again. Once the sync lists a CRM type for the delivering account's
//! connection (a pass over it has completed), a delivery's creation or update of it is left to
//! the sync, so that each edit is logged once, as the whole record, and not once by the delivery
//! and again by the sync that follows it.
//! Salesforce's outbound messages carry no signature either: each connection has its own
//! endpoint path with a random token (`salesforce`), and the message's org must be its org.
//! Stripe's per-project endpoints and Salesforce's tokens are made by `endpoints`.
//!
//! Adding a provider's webhooks: a `ProviderWebhook` in `changes/webhooks/<provider>.rs`
//! (`receive` for `/webhooks/{provider}`, `receive_at` for a connection's own
//! `/webhooks/{provider}/{endpoint}`, `reply` when the provider expects its own answer format),
//! added to the table in `Webhooks::new`; the account its deliveries name is the catalog's
//! `account` (where the connection's metadata names it). What the provider needs done when a
//! connection is made or ends is a `changes::hooks::ConnectionHook`. The HTTP routes, the OAuth
//! callback and the GraphQL mutations stay as they are.

pub mod endpoints;
pub mod google;
pub mod graph;
pub mod hubspot;
pub mod salesforce;
pub mod slack;
pub mod stripe;

#[cfg(test)]
mod proptests;

use std::{collections::HashMap, sync::Arc};

use http::{HeaderMap, StatusCode};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::{
    auth::Tenants,
    config::Settings,
    providers::{Cataloged, Provider, mail::MailCache},
    store::entities::integration_credentials,
    upstream::Target,
    vault::CredentialVault,
};

use super::{
    Appended, Change, ChangeLog, Op, Receipt,
    google_watch::GoogleWatches,
    keeper::Keeper,
    subscriptions::GraphSubscriptions,
    sync::{self, nudge::Nudge},
};
use google::PushAuth;

/// The projects of `connections`, each once.
fn projects(connections: &[Target]) -> Vec<Uuid> {
    let mut projects: Vec<Uuid> = connections.iter().map(|t| t.tenant.project_id).collect();
    projects.sort();
    projects.dedup();
    projects
}

/// `change` as each user's whose connection in `project` among `connections` it came through:
/// once per user, so that each sees it as their own (`changes::Audience`).
fn for_each_user(connections: &[Target], project: Uuid, change: &Change) -> Vec<Change> {
    let mut users: Vec<Uuid> = connections
        .iter()
        .filter(|t| t.tenant.project_id == project)
        .map(|t| t.tenant.user_id)
        .collect();
    users.sort();
    users.dedup();
    users
        .into_iter()
        .map(|user| change.clone().of(Some(user)))
        .collect()
}

/// Why a delivery was refused; nothing of it is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the signature does not match")]
    BadSignature,
    #[error("the signature is too old")]
    Stale,
    #[error("no {0} header")]
    MissingHeader(&'static str),
    #[error("{0}")]
    Malformed(&'static str),
    /// The delivery does not prove who sent it (a push token, a channel token).
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The delivery names another provider account than the connection it came to.
    #[error("the delivery is for another account than this endpoint's")]
    OtherAccount,
}

/// Why a delivery was not taken in.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// This gateway takes no webhooks of that provider (or has no secret configured for it).
    #[error("{0}")]
    NotServed(String),
    #[error("could not store the delivery: {0}")]
    Store(#[from] sea_orm::DbErr),
    /// The endpoint's stored secret does not open (a lost encryption key).
    #[error("the endpoint's secret cannot be read: {0}")]
    Unreadable(String),
}

/// What happened to a verified delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored for this many projects (0: no project has that account connected).
    Stored(usize),
    /// Seen before (the provider's event id): acknowledged, not stored again.
    Duplicate,
    /// A handshake: answer with this text.
    Challenge(String),
    /// Graph notifications, answered 202: this many stored, the others dropped (a `clientState`
    /// that does not match, a subscription not held) or seen before.
    Accepted(usize),
}

/// A delivery as it arrived.
pub struct Delivery<'a> {
    /// The URL the provider called, as the provider knows it (the public origin, path, query).
    pub url: String,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

impl Delivery<'_> {
    fn header(&self, name: &'static str) -> Result<&str, Refusal> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or(Refusal::MissingHeader(name))
    }
}

/// An answer in the provider's own format (Salesforce's SOAP), instead of the gateway's JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
}

/// One provider's webhooks: how its deliveries are verified and routed.
#[async_trait::async_trait]
pub trait ProviderWebhook: Send + Sync {
    /// A delivery to `/webhooks/{provider}`.
    async fn receive(
        &self,
        intake: &Intake,
        delivery: Delivery<'_>,
    ) -> Result<Outcome, WebhookError>;

    /// A delivery to `/webhooks/{provider}/{endpoint}`: one connection's or project's own
    /// endpoint. None by default.
    async fn receive_at(
        &self,
        _intake: &Intake,
        _endpoint: &str,
        _delivery: Delivery<'_>,
    ) -> Result<Outcome, WebhookError> {
        Err(WebhookError::NotServed("no such endpoint".into()))
    }

    /// The answer to a delivery, when the provider expects its own format; `None` answers in
    /// the gateway's JSON.
    fn reply(&self, _received: &Result<Outcome, WebhookError>) -> Option<Reply> {
        None
    }
}

/// What every provider's webhooks store deliveries with: the change log, the connections by
/// account, and the nudges that bring a connection's sync forward.
#[derive(Clone)]
pub struct Intake {
    log: ChangeLog,
    tenants: Tenants,
    credentials: CredentialVault,
    db: DatabaseConnection,
    default_project: Option<String>,
    nudge: Option<Nudge>,
    /// The cached mail lists a mailbox's delivery makes stale.
    mail: Option<MailCache>,
}

/// Tells the read model's memory, here and in the other processes on `db`, that `connections`'
/// copies of `kind` changed (after the transaction that changed them).
async fn copy_changed(db: &DatabaseConnection, connections: &[Target], kind: &str) {
    for target in connections {
        sync::memo::changed(db, *target, kind).await;
    }
}

impl Intake {
    /// A delivery says `tenant`'s mailbox changed: its cached lists are stale everywhere.
    async fn mail_changed(&self, tenant: crate::auth::Tenant) {
        if let Some(mail) = &self.mail {
            mail.forget(tenant).await;
        }
    }

    fn nudge_connection(&self, target: Target) {
        if let Some(nudge) = &self.nudge {
            nudge.connection(target);
        }
    }

    fn nudge_project(&self, project_id: Uuid, provider: Provider) {
        if let Some(nudge) = &self.nudge {
            nudge.project(project_id, provider);
        }
    }

    /// Whether the sync lists `kind` for one of `connections`, in a gateway that syncs early on
    /// deliveries (and so can leave a change to the sync).
    async fn listed(&self, connections: &[Target], kind: &str) -> Result<bool, DbErr> {
        Ok(self.nudge.is_some() && sync::listed(&self.db, connections, kind).await?)
    }

    /// Appends a delivered change to `project`'s log once per receipt — unless the sync lists
    /// its type for one of `connections` (the project's connections to the account it came
    /// from). Then the sync alone logs creations and updates (the whole record, once per change),
    /// and the delivery is stored as its receipt and brings the sync's pass forward. A deletion,
    /// which the sync would see only at its next reconciliation, is logged, the record forgotten
    /// so that the reconciliation does not log it again, and the checkpoints touched so that a
    /// pass that read them before is overtaken rather than racing it. A deletion leaves the
    /// connections' copies in the same transaction, listed or not.
    async fn take_in(
        &self,
        project: Uuid,
        connections: &[Target],
        receipt: &Receipt,
        change: Change,
    ) -> Result<Appended, DbErr> {
        match (self.listed(connections, &change.kind).await?, change.op) {
            (false, Op::Deleted) => {
                let kind = change.kind.clone();
                let gone = [change.remote_id.clone()];
                let changes = for_each_user(connections, project, &change);
                let appended = self
                    .log
                    .append_with(project, Some(receipt), changes, async |txn| {
                        for target in connections {
                            sync::copy::remove(txn, *target, &kind, &gone).await?;
                        }
                        Ok::<_, DbErr>(())
                    })
                    .await;
                copy_changed(&self.db, connections, &kind).await;
                appended
            }
            (false, _) => {
                let changes = for_each_user(connections, project, &change);
                match slack::message_record(&change) {
                    // A Slack message posted or edited reaches the copy with its receipt.
                    Some(record) => {
                        let appended = self
                            .log
                            .append_with(project, Some(receipt), changes, async |txn| {
                                for target in connections {
                                    let one = std::slice::from_ref(&record);
                                    sync::comms::store(txn, *target, one).await?;
                                }
                                Ok::<_, DbErr>(())
                            })
                            .await;
                        copy_changed(&self.db, connections, &change.kind).await;
                        appended
                    }
                    None => self.log.append(project, Some(receipt), changes).await,
                }
            }
            (true, Op::Deleted) => {
                let (provider, kind) = (change.provider, change.kind.clone());
                let gone = [change.remote_id.clone()];
                let changes = for_each_user(connections, project, &change);
                let appended = self
                    .log
                    .append_with(project, Some(receipt), changes, async |txn| {
                        sync::forget(txn, project, provider, &kind, &gone).await?;
                        for target in connections {
                            sync::touch(txn, *target, &kind).await?;
                            sync::copy::remove(txn, *target, &kind, &gone).await?;
                        }
                        Ok::<_, DbErr>(())
                    })
                    .await;
                copy_changed(&self.db, connections, &kind).await;
                appended
            }
            (true, _) => self.log.append(project, Some(receipt), Vec::new()).await,
        }
    }

    /// The connections of `provider` to `account` (the credentials' indexed `account_id`:
    /// HubSpot's hub id, Slack's team id, a Stripe endpoint, a Salesforce org).
    async fn connections_of(
        &self,
        provider: Provider,
        account: &str,
    ) -> Result<Vec<Target>, DbErr> {
        let rows: Vec<(Uuid, Uuid)> = integration_credentials::Entity::find()
            .select_only()
            .column(integration_credentials::Column::UserId)
            .column(integration_credentials::Column::ProjectId)
            .filter(integration_credentials::Column::Provider.eq(provider.slug()))
            .filter(integration_credentials::Column::AccountId.eq(account))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(user_id, project_id)| Target {
                tenant: crate::auth::Tenant {
                    user_id,
                    project_id,
                },
                provider,
            })
            .collect())
    }
}

/// Takes webhook deliveries into the change log, each through its provider's `ProviderWebhook`.
#[derive(Clone)]
pub struct Webhooks {
    intake: Intake,
    handlers: HashMap<Provider, Arc<dyn ProviderWebhook>>,
}

impl Webhooks {
    pub fn new(
        log: ChangeLog,
        tenants: Tenants,
        credentials: CredentialVault,
        db: DatabaseConnection,
        settings: &Settings,
    ) -> Self {
        let handlers: [(Provider, Arc<dyn ProviderWebhook>); 4] = [
            (Provider::Stripe, Arc::new(stripe::Webhook::new(settings))),
            (Provider::Hubspot, Arc::new(hubspot::Webhook::new(settings))),
            (Provider::Slack, Arc::new(slack::Webhook::new(settings))),
            (Provider::Salesforce, Arc::new(salesforce::Webhook)),
        ];
        Self {
            intake: Intake {
                log,
                tenants,
                credentials,
                db,
                default_project: settings.changes.default_project.clone(),
                nudge: None,
                mail: None,
            },
            handlers: handlers.into_iter().collect(),
        }
    }

    /// Takes Google's pushes too: Calendar notifications checked against these channels, Gmail
    /// pushes (when `gmail` is given) against Google's signed token.
    pub fn with_google(mut self, watches: GoogleWatches, gmail: Option<PushAuth>) -> Self {
        let [mail, calendar] = GoogleWatches::PROVIDERS;
        self.handlers.insert(
            mail,
            Arc::new(google::GmailWebhook::new(watches.clone(), gmail)),
        );
        self.handlers
            .insert(calendar, Arc::new(google::CalendarWebhook { watches }));
        self
    }

    /// Takes Graph's change notifications too, checked against these subscriptions.
    pub fn with_graph(mut self, graph: GraphSubscriptions) -> Self {
        for provider in GraphSubscriptions::PROVIDERS {
            self.handlers.insert(
                provider,
                Arc::new(graph::Webhook {
                    provider,
                    subscriptions: graph.clone(),
                }),
            );
        }
        self
    }

    /// Drops a tenant's cached mail lists after each mailbox delivery stored for it.
    pub fn with_mail_cache(mut self, mail: MailCache) -> Self {
        self.intake.mail = Some(mail);
        self
    }

    /// Brings a connection's sync forward after each delivery stored for it.
    pub fn with_nudge(mut self, nudge: Nudge) -> Self {
        self.intake.nudge = Some(nudge);
        self
    }

    fn handler(&self, provider: Provider) -> Result<&dyn ProviderWebhook, WebhookError> {
        self.handlers
            .get(&provider)
            .map(Arc::as_ref)
            .ok_or_else(|| {
                WebhookError::NotServed(format!(
                    "this gateway takes no {} webhooks",
                    provider.entry().name
                ))
            })
    }

    /// Verifies a delivery to `/webhooks/{provider}` and stores its changes once.
    pub async fn receive(
        &self,
        provider: Provider,
        delivery: Delivery<'_>,
    ) -> Result<Outcome, WebhookError> {
        self.handler(provider)?
            .receive(&self.intake, delivery)
            .await
    }

    /// Verifies a delivery to `/webhooks/{provider}/{endpoint}` and stores its changes once.
    pub async fn receive_at(
        &self,
        provider: Provider,
        endpoint: &str,
        delivery: Delivery<'_>,
    ) -> Result<Outcome, WebhookError> {
        self.handler(provider)?
            .receive_at(&self.intake, endpoint, delivery)
            .await
    }

    /// The answer `provider` expects to a delivery, when not the gateway's JSON.
    pub fn reply(
        &self,
        provider: Provider,
        received: &Result<Outcome, WebhookError>,
    ) -> Option<Reply> {
        self.handlers.get(&provider)?.reply(received)
    }
}

/// The refusal of a provider whose signing secret is not configured.
fn no_secret(provider: Provider) -> WebhookError {
    WebhookError::NotServed(format!(
        "this gateway takes no {} webhooks (no secret configured)",
        provider.entry().name
    ))
}
