//! Google push registrations kept alive for every Gmail and Google Calendar connection, the way
//! `subscriptions` keeps Graph's: a pass creates what is missing, renews what nears its expiry,
//! and `stop` ends a connection's registrations at Google and here on disconnect. Rows live in
//! `provider_subscriptions`.
//!
//! - Gmail (only when `providers.gmail.pubsub_topic` is set): one `users.watch` per mailbox,
//!   publishing to that topic. The row's `resource` is the mailbox address (pushes name the
//!   mailbox by it alone), its `remote_id` a UUID of ours (Gmail names no watch). A watch lasts
//!   seven days; Google advises watching again daily, so one with less than six days left is
//!   watched again (which replaces it). A push proves itself with Google's signed token, so the
//!   row's sealed secret is empty.
//! - Calendar (only when `providers.google_calendar.push` is on): one channel on the primary
//!   calendar's events, notifying
//!   `{public origin}/webhooks/google_calendar`. The row's `remote_id` is the channel id (a UUID),
//!   `resource` Google's `resourceId` (which `channels/stop` needs), and the channel's random
//!   token is sealed by the vault. Channels cannot be renewed: one with less than a day left is
//!   replaced — a new channel opened, then the old stopped, so no change falls between.
//!
//! Before a connection's first registration, its change feed is synced once, which sets the
//! feed's cursor when it has none: the pushes that follow then sync from there, and nothing
//! after the registration is missed.

use std::sync::Arc;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::{
    auth::Tenant,
    providers::{Provider, Registry, google::push::NewChannel},
    store::entities::provider_subscriptions as row,
    upstream::{ErrorKind, Target},
    vault::{Binding, Vault},
};

use super::{
    keeper::{Held, KeepError, Keeper, Kept, random_secret, target_of},
    sync::Syncer,
};

/// How long a Calendar channel is asked to live (Google's longest).
const CHANNEL_TTL: chrono::Duration = chrono::Duration::days(7);

/// A registration with less than this left is renewed: Gmail's daily re-watch of a seven-day
/// watch; a Calendar channel a day before it ends.
fn renew_within(provider: Provider) -> chrono::Duration {
    match provider {
        Provider::Gmail => chrono::Duration::days(6),
        _ => chrono::Duration::days(1),
    }
}

/// The part of the vault's binding that names a sealed channel token.
fn binding_name(provider: &str) -> String {
    format!("{provider}:channel_token")
}

#[derive(Clone)]
pub struct GoogleWatches {
    db: DatabaseConnection,
    vault: Vault,
    providers: Registry,
    syncer: Syncer,
    public_origin: String,
    /// Gmail's Pub/Sub topic; no Gmail watches without one.
    topic: Option<String>,
    /// Whether Calendar connections get channels.
    calendar: bool,
    one_pass: Arc<Mutex<()>>,
}

impl GoogleWatches {
    pub fn new(
        db: DatabaseConnection,
        vault: Vault,
        providers: Registry,
        syncer: Syncer,
        public_origin: String,
        topic: Option<String>,
        calendar: bool,
    ) -> Self {
        Self {
            db,
            vault,
            providers,
            syncer,
            public_origin,
            topic,
            calendar,
            one_pass: Arc::default(),
        }
    }

    /// What a connection's sealed token is bound to (`name`: the provider's token kind).
    fn binding(tenant: Tenant, name: &str) -> Binding<'_> {
        Binding {
            user_id: tenant.user_id,
            project_id: tenant.project_id,
            provider: name,
        }
    }

    async fn create(&self, target: Target) -> Result<(), KeepError> {
        let kind = match target.provider {
            Provider::Gmail => "Email",
            _ => "Event",
        };
        if let Err(cause) = self.syncer.feed_pass(target, kind).await {
            tracing::warn!(provider = target.provider.slug(), %cause, "syncing before watching");
        }
        match target.provider {
            Provider::Gmail => self.watch_mailbox(target, None).await,
            _ => self.open_channel(target).await,
        }
    }

    async fn renew(&self, target: Target, held: Held) -> Result<(), KeepError> {
        match target.provider {
            Provider::Gmail => self.watch_mailbox(target, Some(held)).await,
            _ => {
                self.open_channel(target).await?;
                self.forget(target, &held).await
            }
        }
    }

    /// Watches the mailbox (again, over `held`).
    async fn watch_mailbox(&self, target: Target, held: Option<Held>) -> Result<(), KeepError> {
        let Some(topic) = &self.topic else {
            return Ok(());
        };
        let google = self.providers.google();
        let watch = google.gmail_watch(target, topic).await?;
        if let Some(held) = held {
            let mut active: row::ActiveModel = held.into();
            active.expires_at = Set(watch.expiration);
            active.update(&self.db).await?;
            return Ok(());
        }
        let address = google.gmail_address(target).await?.to_ascii_lowercase();
        let name = binding_name(target.provider.slug());
        let binding = Self::binding(target.tenant, &name);
        row::ActiveModel {
            id: Set(Uuid::new_v4()),
            project_id: Set(target.tenant.project_id),
            user_id: Set(target.tenant.user_id),
            provider: Set(target.provider.slug().to_owned()),
            remote_id: Set(Uuid::new_v4().to_string()),
            resource: Set(address),
            client_state: Set(self.vault.seal(&binding, &SecretString::from(""))),
            expires_at: Set(watch.expiration),
            created_at: Set(Utc::now()),
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    async fn open_channel(&self, target: Target) -> Result<(), KeepError> {
        let id = Uuid::new_v4().to_string();
        let token = random_secret();
        let address = format!(
            "{}/webhooks/{}",
            self.public_origin.trim_end_matches('/'),
            target.provider.slug()
        );
        let channel = self
            .providers
            .google()
            .calendar_watch(
                target,
                &NewChannel {
                    id: &id,
                    address: &address,
                    token: &token,
                    ttl_secs: CHANNEL_TTL.num_seconds(),
                },
            )
            .await?;
        let name = binding_name(target.provider.slug());
        let binding = Self::binding(target.tenant, &name);
        row::ActiveModel {
            id: Set(Uuid::new_v4()),
            project_id: Set(target.tenant.project_id),
            user_id: Set(target.tenant.user_id),
            provider: Set(target.provider.slug().to_owned()),
            remote_id: Set(channel.id),
            resource: Set(channel.resource_id),
            client_state: Set(self.vault.seal(&binding, &token)),
            expires_at: Set(channel.expiration),
            created_at: Set(Utc::now()),
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    /// The connections watching the mailbox `address` (a Gmail push names no more).
    pub async fn mailbox(&self, address: &str) -> Result<Vec<Target>, DbErr> {
        Ok(row::Entity::find()
            .filter(row::Column::Provider.eq(Provider::Gmail.slug()))
            .filter(row::Column::Resource.eq(address.to_ascii_lowercase()))
            .all(&self.db)
            .await?
            .iter()
            .map(|h| target_of(h, Provider::Gmail))
            .collect())
    }

    /// The connection of Calendar channel `channel_id`, if `token` is the one stored for it
    /// (compared in constant time). A stored value that does not open verifies nothing.
    pub async fn channel(&self, channel_id: &str, token: &str) -> Result<Option<Target>, DbErr> {
        let Some(held) = row::Entity::find()
            .filter(row::Column::RemoteId.eq(channel_id))
            .filter(row::Column::Provider.eq(Provider::GoogleCalendar.slug()))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let name = binding_name(&held.provider);
        let target = target_of(&held, Provider::GoogleCalendar);
        let binding = Self::binding(target.tenant, &name);
        let Ok(stored) = self.vault.open(&binding, &held.client_state) else {
            return Ok(None);
        };
        let same: bool = stored
            .expose_secret()
            .as_bytes()
            .ct_eq(token.as_bytes())
            .into();
        Ok(same.then_some(target))
    }
}

impl Keeper for GoogleWatches {
    const PROVIDERS: [Provider; 2] = [Provider::Gmail, Provider::GoogleCalendar];
    const WHAT: &'static str = "Google watches";

    fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    fn one_pass(&self) -> &Mutex<()> {
        &self.one_pass
    }

    /// Makes what a connection holds at Google match what it should: one live registration.
    async fn keep(&self, target: Target) -> Result<Kept, KeepError> {
        let mut kept = Kept::default();
        let wanted = match target.provider {
            Provider::Gmail => self.topic.is_some(),
            Provider::GoogleCalendar => self.calendar,
            _ => false,
        };
        let mut held = self.held(target).await?.into_iter();
        let newest = held.next();
        // More than one is left from a replacement cut short: only the newest stays.
        for extra in held {
            self.forget(target, &extra).await?;
            kept.deleted += 1;
        }
        let Some(newest) = newest else {
            if wanted {
                self.create(target).await?;
                kept.created += 1;
            }
            return Ok(kept);
        };
        if !wanted {
            self.forget(target, &newest).await?;
            kept.deleted += 1;
        } else if newest.expires_at - Utc::now() < renew_within(target.provider) {
            self.renew(target, newest).await?;
            kept.renewed += 1;
        }
        Ok(kept)
    }

    /// The feed's cursor first (set when it has none), then the registration.
    /// Ends a registration at Google (one Google no longer knows is gone already) and here.
    async fn forget(&self, target: Target, held: &Held) -> Result<(), KeepError> {
        let google = self.providers.google();
        let stopped = match target.provider {
            Provider::Gmail => google.gmail_stop(target).await,
            _ => {
                google
                    .calendar_stop(target, &held.remote_id, &held.resource)
                    .await
            }
        };
        match stopped {
            Ok(()) => {}
            Err(e) if e.kind == ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        row::Entity::delete_by_id(held.id).exec(&self.db).await?;
        Ok(())
    }
}
