//! Graph change-notification subscriptions kept alive for every Outlook and Teams connection.
//!
//! A pass over a connection makes what it holds at Graph match what it should watch — Outlook:
//! `me/messages` and `me/events`; Teams: the messages of every channel of the teams the user
//! joined. It creates what is missing (notifications to `{public origin}/webhooks/{outlook|teams}`,
//! a fresh random `clientState`, sealed by the vault in `provider_subscriptions`), renews what
//! expires within a quarter of its lifetime (`PATCH expirationDateTime`; one Graph no longer
//! knows is created again) and deletes what is no longer watched. The passes, and `stop` on
//! disconnect, run as every `keeper::Keeper` does. `verify` tells whether a
//! notification's `clientState` is the one stored for its subscription, in constant time.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;
use tokio::sync::Mutex;
use uuid::Uuid;

use super::keeper::{Held, KeepError, Keeper, Kept, random_secret};
use crate::{
    providers::{
        Provider, Registry, chat::ChannelQuery, microsoft::subscriptions::NewSubscription,
    },
    store::entities::provider_subscriptions as row,
    upstream::{ErrorKind, ProviderError, Target},
    vault::{Binding, Vault},
};

/// Channels a Teams connection watches at most.
const CHANNELS: usize = 100;

/// How long Graph lets a subscription to a provider's resources live, a little under its maximum
/// (10,080 minutes for Outlook mail and events, 60 for Teams messages).
fn lifetime(provider: Provider) -> chrono::Duration {
    match provider {
        Provider::Teams => chrono::Duration::minutes(55),
        _ => chrono::Duration::minutes(10_000),
    }
}

/// The part of the vault's binding that names a sealed `clientState`.
fn binding_name(provider: &str) -> String {
    format!("{provider}:client_state")
}

#[derive(Clone)]
pub struct GraphSubscriptions {
    db: DatabaseConnection,
    vault: Vault,
    providers: Registry,
    public_origin: String,
    one_pass: Arc<Mutex<()>>,
}

impl GraphSubscriptions {
    pub fn new(
        db: DatabaseConnection,
        vault: Vault,
        providers: Registry,
        public_origin: String,
    ) -> Self {
        Self {
            db,
            vault,
            providers,
            public_origin,
            one_pass: Arc::default(),
        }
    }

    /// What a connection should watch.
    async fn wanted(&self, target: Target) -> Result<Vec<String>, ProviderError> {
        match target.provider {
            Provider::Teams => {
                let Ok(chat) = self.providers.chat(Provider::Teams) else {
                    return Ok(Vec::new());
                };
                let query = ChannelQuery {
                    name_contains: None,
                    after: None,
                    limit: CHANNELS,
                };
                Ok(chat
                    .channels(target, &query)
                    .await?
                    .records
                    .into_iter()
                    .filter_map(|c| {
                        let (team, channel) = c.remote_id.split_once('/')?;
                        Some(format!("teams/{team}/channels/{channel}/messages"))
                    })
                    .collect())
            }
            _ => Ok(vec!["me/messages".into(), "me/events".into()]),
        }
    }

    async fn create(
        &self,
        target: Target,
        resource: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), KeepError> {
        let client_state = random_secret();
        let notification_url = format!(
            "{}/webhooks/{}",
            self.public_origin.trim_end_matches('/'),
            target.provider.slug()
        );
        let created = self
            .providers
            .microsoft()
            .create_subscription(
                target,
                &NewSubscription {
                    resource,
                    notification_url: &notification_url,
                    client_state: &client_state,
                    expires_at,
                },
            )
            .await?;
        let name = binding_name(target.provider.slug());
        let binding = Binding {
            user_id: target.tenant.user_id,
            project_id: target.tenant.project_id,
            provider: &name,
        };
        row::ActiveModel {
            id: Set(Uuid::new_v4()),
            project_id: Set(target.tenant.project_id),
            user_id: Set(target.tenant.user_id),
            provider: Set(target.provider.slug().to_owned()),
            remote_id: Set(created.id),
            resource: Set(resource.to_owned()),
            client_state: Set(self.vault.seal(&binding, &client_state)),
            expires_at: Set(created.expiration_date_time),
            created_at: Set(Utc::now()),
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    /// The subscription `remote_id` of `provider`, if `client_state` is the one stored for it
    /// (compared in constant time). A stored value that does not open verifies nothing.
    pub async fn verify(
        &self,
        provider: Provider,
        remote_id: &str,
        client_state: &str,
    ) -> Result<Option<Held>, DbErr> {
        let Some(held) = row::Entity::find()
            .filter(row::Column::RemoteId.eq(remote_id))
            .filter(row::Column::Provider.eq(provider.slug()))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let name = binding_name(&held.provider);
        let binding = Binding {
            user_id: held.user_id,
            project_id: held.project_id,
            provider: &name,
        };
        let Ok(stored) = self.vault.open(&binding, &held.client_state) else {
            return Ok(None);
        };
        let same: bool = stored
            .expose_secret()
            .as_bytes()
            .ct_eq(client_state.as_bytes())
            .into();
        Ok(same.then_some(held))
    }
}

impl Keeper for GraphSubscriptions {
    const PROVIDERS: [Provider; 2] = [Provider::Outlook, Provider::Teams];
    const WHAT: &'static str = "Graph subscriptions";

    fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    fn one_pass(&self) -> &Mutex<()> {
        &self.one_pass
    }

    /// Makes what a connection holds at Graph match what it should watch.
    async fn keep(&self, target: Target) -> Result<Kept, KeepError> {
        let wanted = self.wanted(target).await?;
        let now = Utc::now();
        let life = lifetime(target.provider);
        let graph = self.providers.microsoft();
        let mut kept = Kept::default();
        let mut watched = Vec::new();
        for held in self.held(target).await? {
            if !wanted.contains(&held.resource) {
                self.forget(target, &held).await?;
                kept.deleted += 1;
                continue;
            }
            if held.expires_at - now > life / 4 {
                watched.push(held.resource);
                continue;
            }
            match graph
                .renew_subscription(target, &held.remote_id, now + life)
                .await
            {
                Ok(renewed) => {
                    let resource = held.resource.clone();
                    let mut active: row::ActiveModel = held.into();
                    active.expires_at = Set(renewed.expiration_date_time);
                    active.update(&self.db).await?;
                    kept.renewed += 1;
                    watched.push(resource);
                }
                Err(e) if e.kind == ErrorKind::NotFound => {
                    row::Entity::delete_by_id(held.id).exec(&self.db).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        for resource in wanted.iter().filter(|r| !watched.contains(r)) {
            self.create(target, resource, now + life).await?;
            kept.created += 1;
        }
        Ok(kept)
    }

    /// Deletes a subscription at Graph (one Graph no longer knows is gone already) and here.
    async fn forget(&self, target: Target, held: &row::Model) -> Result<(), KeepError> {
        match self
            .providers
            .microsoft()
            .delete_subscription(target, &held.remote_id)
            .await
        {
            Ok(()) => {}
            Err(e) if e.kind == ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        row::Entity::delete_by_id(held.id).exec(&self.db).await?;
        Ok(())
    }
}
