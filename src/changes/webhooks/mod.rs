//! Webhook deliveries, verified before anything is stored: each provider's module checks its
//! signature scheme (in constant time, within the provider's timestamp window) and turns a
//! verified body into changes; `Webhooks` routes them to the projects whose connection has the
//! account the delivery names (HubSpot's portal, Slack's team; Stripe's endpoint serves the
//! default project) with the provider's event id as the receipt, so a redelivery is acknowledged
//! and stored once. Graph's change notifications carry no signature: each is checked against the
//! `clientState` stored for its subscription (`changes::subscriptions`) and routed by it.
//! Google's pushes (`google`) carry no change: a Gmail push, proven by Google's signed token, is
//! routed by its mailbox address, a Calendar notification by its channel id and token
//! (`changes::google_watch`); each, stored once as a receipt, nudges its connection's sync.
//! Every delivery stored also nudges its connection's sync (`sync::nudge`), which catches what
//! the delivery only hinted at. Once the sync lists a CRM type for the delivering account's
//! connection (a pass over it has completed), a delivery's creation or update of it is left to
//! the sync, so that each edit is logged once, as the whole record, and not once by the delivery
//! and again by the sync that follows it.
//! Salesforce's outbound messages carry no signature either: each connection has its own
//! endpoint path with a random token (`salesforce`), and the message's org must be its org.

pub mod google;
pub mod graph;
pub mod hubspot;
pub mod salesforce;
pub mod slack;
pub mod stripe;

use std::{collections::HashMap, sync::Arc};

use chrono::Utc;
use http::HeaderMap;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::{
    auth::Tenants,
    config::Settings,
    providers::{Cataloged, Provider},
    store::entities::{integration_credentials, webhook_receipts},
    upstream::Target,
    vault::CredentialVault,
};

use super::{
    Appended, Change, ChangeLog, Op, Receipt,
    google_watch::GoogleWatches,
    subscriptions::GraphSubscriptions,
    sync::{self, nudge::Nudge},
};
use google::{PushAuth, PushKeys, ResourceState};

/// The projects of `connections`, each once.
fn projects(connections: &[Target]) -> Vec<Uuid> {
    let mut projects: Vec<Uuid> = connections.iter().map(|t| t.tenant.project_id).collect();
    projects.sort();
    projects.dedup();
    projects
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

/// Takes webhook deliveries into the change log.
#[derive(Clone)]
pub struct Webhooks {
    log: ChangeLog,
    tenants: Tenants,
    credentials: CredentialVault,
    db: DatabaseConnection,
    secrets: HashMap<Provider, SecretString>,
    default_project: Option<String>,
    graph: Option<GraphSubscriptions>,
    google: Option<GooglePush>,
    nudge: Option<Nudge>,
}

/// What Google's pushes are checked against.
#[derive(Clone)]
struct GooglePush {
    watches: GoogleWatches,
    /// Who may push Gmail notifications; none without a Pub/Sub topic configured.
    gmail: Option<PushAuth>,
    keys: Arc<PushKeys>,
}

impl Webhooks {
    pub fn new(
        log: ChangeLog,
        tenants: Tenants,
        credentials: CredentialVault,
        db: DatabaseConnection,
        settings: &Settings,
    ) -> Self {
        let secret = |provider: Provider| {
            let p = settings.providers.get(provider.slug())?;
            match provider {
                // HubSpot signs with the app's client secret.
                Provider::Hubspot => p.client_secret.clone(),
                _ => p.webhook_secret.clone(),
            }
        };
        Self {
            log,
            tenants,
            credentials,
            db,
            secrets: [Provider::Stripe, Provider::Hubspot, Provider::Slack]
                .into_iter()
                .filter_map(|p| Some((p, secret(p)?)))
                .collect(),
            default_project: settings.changes.default_project.clone(),
            graph: None,
            google: None,
            nudge: None,
        }
    }

    /// Takes Google's pushes too: Calendar notifications checked against these channels, Gmail
    /// pushes (when `gmail` is given) against Google's signed token.
    pub fn with_google(mut self, watches: GoogleWatches, gmail: Option<PushAuth>) -> Self {
        self.google = Some(GooglePush {
            watches,
            gmail,
            keys: Arc::new(PushKeys::new(reqwest::Client::new())),
        });
        self
    }

    /// Brings a connection's sync forward after each delivery stored for it.
    pub fn with_nudge(mut self, nudge: Nudge) -> Self {
        self.nudge = Some(nudge);
        self
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
    /// pass that read them before is overtaken rather than racing it.
    async fn take_in(
        &self,
        project: Uuid,
        connections: &[Target],
        receipt: &Receipt,
        change: Change,
    ) -> Result<Appended, DbErr> {
        match (self.listed(connections, &change.kind).await?, change.op) {
            (false, _) => self.log.append(project, Some(receipt), vec![change]).await,
            (true, Op::Deleted) => {
                let (provider, kind) = (change.provider, change.kind.clone());
                let gone = [change.remote_id.clone()];
                self.log
                    .append_with(project, Some(receipt), vec![change], async |txn| {
                        sync::forget(txn, project, provider, &kind, &gone).await?;
                        for target in connections {
                            sync::touch(txn, *target, &kind).await?;
                        }
                        Ok::<_, DbErr>(())
                    })
                    .await
            }
            (true, _) => self.log.append(project, Some(receipt), Vec::new()).await,
        }
    }

    /// Takes Graph's change notifications too, checked against these subscriptions.
    pub fn with_graph(mut self, graph: GraphSubscriptions) -> Self {
        self.graph = Some(graph);
        self
    }

    /// Verifies a delivery to `/webhooks/{provider}` and stores its changes once.
    pub async fn receive(
        &self,
        provider: Provider,
        delivery: Delivery<'_>,
    ) -> Result<Outcome, WebhookError> {
        match provider {
            Provider::Outlook | Provider::Teams => return self.graph(provider, delivery).await,
            Provider::Gmail => return self.gmail(delivery).await,
            Provider::GoogleCalendar => return self.calendar(delivery).await,
            _ => {}
        }
        if provider == Provider::Salesforce {
            return Err(WebhookError::NotServed(
                "Salesforce delivers to each connection's own endpoint (salesforceOutboundUrl)"
                    .into(),
            ));
        }
        let served = matches!(
            provider,
            Provider::Stripe | Provider::Hubspot | Provider::Slack
        );
        let Some(secret) = self.secrets.get(&provider).filter(|_| served) else {
            return Err(WebhookError::NotServed(format!(
                "this gateway takes no {} webhooks (no secret configured)",
                provider.entry().name
            )));
        };
        let secret = secret.expose_secret();
        match provider {
            Provider::Stripe => self.stripe(secret, delivery).await,
            Provider::Hubspot => self.hubspot(secret, delivery).await,
            _ => self.slack(secret, delivery).await,
        }
    }

    async fn stripe(&self, secret: &str, delivery: Delivery<'_>) -> Result<Outcome, WebhookError> {
        let Some(project) = &self.default_project else {
            return Err(WebhookError::NotServed(
                "Stripe webhooks need changes.default_project".into(),
            ));
        };
        let project = self.tenants.ensure_project(project).await?;
        self.stripe_for(project.id, secret, delivery).await
    }

    /// A delivery to `/webhooks/stripe/{endpoint}`: a project's own endpoint (`connectStripe`),
    /// verified with that project's secret.
    pub async fn receive_stripe_endpoint(
        &self,
        endpoint: &str,
        delivery: Delivery<'_>,
    ) -> Result<Outcome, WebhookError> {
        let unknown = || WebhookError::NotServed("no such Stripe endpoint".into());
        let row = integration_credentials::Entity::find()
            .filter(integration_credentials::Column::Provider.eq(Provider::Stripe.slug()))
            .all(&self.db)
            .await?
            .into_iter()
            .find(|r| r.metadata["endpoint_id"].as_str() == Some(endpoint))
            .ok_or_else(unknown)?;
        let credential = self
            .credentials
            .read(row.user_id, row.project_id, Provider::Stripe)
            .await
            .map_err(|e| WebhookError::Unreadable(e.to_string()))?
            .ok_or_else(unknown)?;
        let secret = credential.tokens.access_token;
        self.stripe_for(row.project_id, secret.expose_secret(), delivery)
            .await
    }

    async fn stripe_for(
        &self,
        project_id: Uuid,
        secret: &str,
        delivery: Delivery<'_>,
    ) -> Result<Outcome, WebhookError> {
        let signature = delivery.header("stripe-signature")?;
        stripe::verify(secret, signature, delivery.body, Utc::now())?;
        let (mut receipt, change) = stripe::change(delivery.body)?;
        receipt.event_id = format!("{project_id}:{}", receipt.event_id);
        Ok(
            match self
                .log
                .append(project_id, Some(&receipt), vec![change])
                .await?
            {
                Appended::Stored { .. } => Outcome::Stored(1),
                Appended::Duplicate => Outcome::Duplicate,
            },
        )
    }

    async fn hubspot(&self, secret: &str, delivery: Delivery<'_>) -> Result<Outcome, WebhookError> {
        hubspot::verify(
            secret,
            &delivery.url,
            delivery.body,
            delivery.header("x-hubspot-signature-v3")?,
            delivery.header("x-hubspot-request-timestamp")?,
            Utc::now(),
        )?;
        let mut stored = 0;
        // A delivery batches events, mostly of one portal: its connections are read once.
        let mut portals: HashMap<String, Vec<Target>> = HashMap::new();
        for event in hubspot::changes(delivery.body)? {
            if !portals.contains_key(&event.portal_id) {
                let connections = self
                    .connections_of(Provider::Hubspot, "/hub_id", &event.portal_id)
                    .await?;
                portals.insert(event.portal_id.clone(), connections);
            }
            let connections = &portals[&event.portal_id];
            for project in projects(connections) {
                let receipt = Receipt {
                    provider: Provider::Hubspot,
                    event_id: format!("{project}:{}", event.event_key),
                };
                let in_project: Vec<Target> = connections
                    .iter()
                    .filter(|t| t.tenant.project_id == project)
                    .copied()
                    .collect();
                let appended = self
                    .take_in(project, &in_project, &receipt, event.change.clone())
                    .await?;
                if appended != Appended::Duplicate {
                    stored += 1;
                    self.nudge_project(project, Provider::Hubspot);
                }
            }
        }
        Ok(Outcome::Stored(stored))
    }

    async fn slack(&self, secret: &str, delivery: Delivery<'_>) -> Result<Outcome, WebhookError> {
        slack::verify(
            secret,
            delivery.body,
            delivery.header("x-slack-signature")?,
            delivery.header("x-slack-request-timestamp")?,
            Utc::now(),
        )?;
        let (team_id, event_id, change) = match slack::read(delivery.body)? {
            slack::Delivery::Verification(challenge) => return Ok(Outcome::Challenge(challenge)),
            slack::Delivery::Event {
                team_id,
                event_id,
                change,
            } => (team_id, event_id, change),
        };
        let mut stored = 0;
        let mut duplicate = false;
        for project in projects(
            &self
                .connections_of(Provider::Slack, "/team/id", &team_id)
                .await?,
        ) {
            let receipt = Receipt {
                provider: Provider::Slack,
                event_id: format!("{project}:{event_id}"),
            };
            match self
                .log
                .append(project, Some(&receipt), vec![change.clone()])
                .await?
            {
                Appended::Stored { .. } => {
                    stored += 1;
                    self.nudge_project(project, Provider::Slack);
                }
                Appended::Duplicate => duplicate = true,
            }
        }
        Ok(if duplicate && stored == 0 {
            Outcome::Duplicate
        } else {
            Outcome::Stored(stored)
        })
    }

    async fn graph(
        &self,
        provider: Provider,
        delivery: Delivery<'_>,
    ) -> Result<Outcome, WebhookError> {
        let Some(subscriptions) = &self.graph else {
            return Err(WebhookError::NotServed(format!(
                "this gateway takes no {} notifications",
                provider.entry().name
            )));
        };
        if let Some(token) = graph::validation_token(&delivery.url) {
            return Ok(Outcome::Challenge(token));
        }
        let mut stored = 0;
        for notification in graph::read(delivery.body)? {
            let Some(held) = subscriptions
                .verify(
                    provider,
                    &notification.subscription_id,
                    &notification.client_state,
                )
                .await?
            else {
                tracing::warn!(
                    provider = provider.slug(),
                    "a Graph notification for no subscription of ours, or with another clientState: dropped"
                );
                continue;
            };
            let receipt = Receipt {
                provider,
                event_id: format!(
                    "{}:{}:{}",
                    held.project_id, notification.subscription_id, notification.key
                ),
            };
            let change = graph::change(provider, &held.resource, notification);
            if let Appended::Stored { .. } = self
                .log
                .append(held.project_id, Some(&receipt), vec![change])
                .await?
            {
                stored += 1;
                self.nudge_connection(Target {
                    tenant: crate::auth::Tenant {
                        user_id: held.user_id,
                        project_id: held.project_id,
                    },
                    provider,
                });
            }
        }
        Ok(Outcome::Accepted(stored))
    }

    fn google(&self, name: &str) -> Result<&GooglePush, WebhookError> {
        self.google
            .as_ref()
            .ok_or_else(|| WebhookError::NotServed(format!("this gateway takes no {name} pushes")))
    }

    /// A Gmail push: verified by its token, routed by its mailbox, stored once per connection by
    /// its Pub/Sub message id, and the connection's history synced.
    async fn gmail(&self, delivery: Delivery<'_>) -> Result<Outcome, WebhookError> {
        let google = self.google("Gmail")?;
        let Some(auth) = &google.gmail else {
            return Err(WebhookError::NotServed(
                "this gateway takes no Gmail pushes (no providers.gmail.pubsub_topic)".into(),
            ));
        };
        let header = delivery
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        google.keys.verify(auth, header).await?;
        let push = google::gmail_push(delivery.body)?;
        let mut fresh = 0;
        let mut duplicate = false;
        for target in google.watches.mailbox(&push.address).await? {
            let receipt = Receipt {
                provider: Provider::Gmail,
                event_id: format!(
                    "{}:{}:{}",
                    target.tenant.project_id, target.tenant.user_id, push.message_id
                ),
            };
            match self
                .log
                .append(target.tenant.project_id, Some(&receipt), Vec::new())
                .await?
            {
                Appended::Stored { .. } => {
                    fresh += 1;
                    self.nudge_connection(target);
                }
                Appended::Duplicate => duplicate = true,
            }
        }
        Ok(if duplicate && fresh == 0 {
            Outcome::Duplicate
        } else {
            Outcome::Stored(fresh)
        })
    }

    /// A Calendar notification: its channel and token checked, stored once by channel and
    /// message number, and the connection's events synced.
    async fn calendar(&self, delivery: Delivery<'_>) -> Result<Outcome, WebhookError> {
        let google = self.google("Google Calendar")?;
        let channel = delivery.header("x-goog-channel-id")?;
        let token = delivery
            .header("x-goog-channel-token")
            .map_err(|_| Refusal::Unauthenticated("no channel token"))?;
        let Some(target) = google.watches.channel(channel, token).await? else {
            return Err(Refusal::Unauthenticated("no channel of ours with that token").into());
        };
        let state = ResourceState::parse(delivery.header("x-goog-resource-state")?)
            .ok_or(Refusal::Malformed("an unknown X-Goog-Resource-State"))?;
        if state == ResourceState::Sync {
            return Ok(Outcome::Stored(0));
        }
        let number = delivery.header("x-goog-message-number")?;
        let receipt = Receipt {
            provider: Provider::GoogleCalendar,
            event_id: format!("{}:{channel}:{number}", target.tenant.project_id),
        };
        Ok(
            match self
                .log
                .append(target.tenant.project_id, Some(&receipt), Vec::new())
                .await?
            {
                Appended::Stored { .. } => {
                    self.nudge_connection(target);
                    Outcome::Stored(0)
                }
                Appended::Duplicate => Outcome::Duplicate,
            },
        )
    }

    /// A delivery to `/webhooks/salesforce/{token}`: an outbound message for the connection the
    /// token belongs to, from its org; each notification not stored before is stored, all in one
    /// transaction with their receipts.
    pub async fn receive_salesforce(
        &self,
        token: &str,
        delivery: Delivery<'_>,
    ) -> Result<Outcome, WebhookError> {
        let rows: Vec<(Uuid, Uuid, serde_json::Value)> = integration_credentials::Entity::find()
            .select_only()
            .column(integration_credentials::Column::UserId)
            .column(integration_credentials::Column::ProjectId)
            .column(integration_credentials::Column::Metadata)
            .filter(integration_credentials::Column::Provider.eq(Provider::Salesforce.slug()))
            .into_tuple()
            .all(&self.db)
            .await?;
        // Every connection's hash is compared, in constant time: the match takes no shortcut.
        let held = rows
            .into_iter()
            .fold(None, |found, (user, project, metadata)| {
                let stored = metadata[salesforce::TOKEN_HASH]
                    .as_str()
                    .unwrap_or_default();
                let matches = salesforce::token_matches(token, stored);
                found.or(matches.then_some((user, project, metadata)))
            });
        let Some((user, project, metadata)) = held else {
            return Err(WebhookError::NotServed(
                "no such Salesforce endpoint".into(),
            ));
        };
        let message = salesforce::read(delivery.body)?;
        let org = metadata["id"]
            .as_str()
            .and_then(salesforce::org_of_identity);
        if !org.is_some_and(|org| salesforce::same_org(org, &message.organization_id)) {
            return Err(Refusal::OtherAccount.into());
        }
        let receipt = |n: &salesforce::Notification| format!("{project}:{}", n.id);
        let ids: Vec<String> = message.notifications.iter().map(receipt).collect();
        let seen: Vec<String> = webhook_receipts::Entity::find()
            .select_only()
            .column(webhook_receipts::Column::EventId)
            .filter(webhook_receipts::Column::Provider.eq(Provider::Salesforce.slug()))
            .filter(webhook_receipts::Column::EventId.is_in(ids))
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut fresh: Vec<salesforce::Notification> = Vec::new();
        for notification in message.notifications {
            let id = receipt(&notification);
            // A message may name one notification twice; it is stored once.
            if !seen.contains(&id) && !fresh.iter().any(|f| receipt(f) == id) {
                fresh.push(notification);
            }
        }
        if fresh.is_empty() {
            return Ok(Outcome::Duplicate);
        }
        let now = Utc::now();
        let receipts: Vec<webhook_receipts::ActiveModel> = fresh
            .iter()
            .map(|n| webhook_receipts::ActiveModel {
                id: Set(Uuid::new_v4()),
                provider: Set(Provider::Salesforce.slug().to_owned()),
                event_id: Set(receipt(n)),
                project_id: Set(Some(project)),
                received_at: Set(now),
            })
            .collect();
        let stored = fresh.len();
        let connection = [Target {
            tenant: crate::auth::Tenant {
                user_id: user,
                project_id: project,
            },
            provider: Provider::Salesforce,
        }];
        // The sync logs what it lists, the whole record once; this message brings it forward.
        let mut listed: HashMap<String, bool> = HashMap::new();
        let mut changes = Vec::new();
        for change in fresh.into_iter().map(salesforce::change) {
            if !listed.contains_key(&change.kind) {
                let synced = self.listed(&connection, &change.kind).await?;
                listed.insert(change.kind.clone(), synced);
            }
            if !listed[&change.kind] {
                changes.push(change);
            }
        }
        // A redelivery racing this one fails on the receipts' uniqueness and is answered 503:
        // Salesforce delivers it again and finds it stored.
        self.log
            .append_with(project, None, changes, async |txn| {
                webhook_receipts::Entity::insert_many(receipts)
                    .exec_without_returning(txn)
                    .await
                    .map(|_| ())
            })
            .await?;
        self.nudge_connection(connection[0]);
        Ok(Outcome::Stored(stored))
    }

    /// The connections of `provider` whose metadata holds `value` at `pointer` (the provider's
    /// account id: HubSpot's hub id, Slack's team id).
    async fn connections_of(
        &self,
        provider: Provider,
        pointer: &str,
        value: &str,
    ) -> Result<Vec<Target>, DbErr> {
        let rows: Vec<(Uuid, Uuid, serde_json::Value)> = integration_credentials::Entity::find()
            .select_only()
            .column(integration_credentials::Column::UserId)
            .column(integration_credentials::Column::ProjectId)
            .column(integration_credentials::Column::Metadata)
            .filter(integration_credentials::Column::Provider.eq(provider.slug()))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .filter(|(_, _, metadata)| match metadata.pointer(pointer) {
                Some(serde_json::Value::String(s)) => s == value,
                Some(serde_json::Value::Number(n)) => n.to_string() == value,
                _ => false,
            })
            .map(|(user_id, project_id, _)| Target {
                tenant: crate::auth::Tenant {
                    user_id,
                    project_id,
                },
                provider,
            })
            .collect())
    }
}
