//! Registrations kept alive at providers that push changes only to whoever asked: Graph
//! subscriptions (`subscriptions`), Gmail watches and Calendar channels (`google_watch`). Each
//! kind says how to make one connection's registrations match what it should watch (`keep`) and
//! how to let one go (`forget`); `Keeper` runs them all alike — a pass over every connection of its
//! providers on a timer and right after a connect, `stop` on disconnect — one at a time, so a pass
//! never registers a connection again behind its `stop`. The timer and the passes are tasks of
//! the gateway's `Shutdown`: at shutdown the timer stops, and a pass under way stops before its
//! next connection. Rows live in `provider_subscriptions`.

use std::time::Duration;

use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder};
use secrecy::SecretString;
use tokio::sync::Mutex;

use crate::{
    auth::Tenant,
    providers::Provider,
    shutdown::Shutdown,
    store::entities::{integration_credentials, provider_subscriptions as row},
    upstream::{ProviderError, Target},
};

/// How often the keep-alive passes run.
pub const EVERY: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum KeepError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

/// What a pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Kept {
    pub created: usize,
    pub renewed: usize,
    pub deleted: usize,
}

impl std::ops::AddAssign for Kept {
    fn add_assign(&mut self, other: Kept) {
        self.created += other.created;
        self.renewed += other.renewed;
        self.deleted += other.deleted;
    }
}

/// A registration held for a connection.
pub type Held = row::Model;

/// A fresh random secret (a `clientState`, a channel token): 256 bits, hex.
pub fn random_secret() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    SecretString::from(hex::encode(bytes))
}

/// The connection a row belongs to.
pub fn target_of(held: &Held, provider: Provider) -> Target {
    Target {
        tenant: Tenant {
            user_id: held.user_id,
            project_id: held.project_id,
        },
        provider,
    }
}

pub trait Keeper: Clone + Send + Sync + 'static {
    /// The providers whose connections hold these registrations.
    const PROVIDERS: [Provider; 2];
    /// What the logs call them.
    const WHAT: &'static str;

    fn db(&self) -> &DatabaseConnection;

    /// Held while a pass or a `stop` runs.
    fn one_pass(&self) -> &Mutex<()>;

    /// Makes what one connection holds at its provider match what it should watch.
    fn keep(&self, target: Target) -> impl Future<Output = Result<Kept, KeepError>> + Send;

    /// Ends one registration at the provider (one it no longer knows is gone already) and here.
    fn forget(
        &self,
        target: Target,
        held: &Held,
    ) -> impl Future<Output = Result<(), KeepError>> + Send;

    /// A connection's registrations, the longest-lived first.
    fn held(&self, target: Target) -> impl Future<Output = Result<Vec<Held>, DbErr>> + Send {
        row::Entity::find()
            .filter(row::Column::ProjectId.eq(target.tenant.project_id))
            .filter(row::Column::UserId.eq(target.tenant.user_id))
            .filter(row::Column::Provider.eq(target.provider.slug()))
            .order_by_desc(row::Column::ExpiresAt)
            .all(self.db())
    }

    /// Ends every registration of a connection, at the provider and here (on disconnect).
    fn stop(&self, target: Target) -> impl Future<Output = Result<usize, KeepError>> + Send {
        async move {
            let _one = self.one_pass().lock().await;
            let held = self.held(target).await?;
            for h in &held {
                self.forget(target, h).await?;
            }
            Ok(held.len())
        }
    }

    /// One pass over every connection of `PROVIDERS`; a connection that fails is logged and the
    /// others go on. Once shutdown begins, the pass ends before its next connection.
    fn pass(&self, shutdown: &Shutdown) -> impl Future<Output = Result<Kept, DbErr>> + Send {
        async move {
            let _one = self.one_pass().lock().await;
            let rows = integration_credentials::Entity::find()
                .filter(
                    integration_credentials::Column::Provider
                        .is_in(Self::PROVIDERS.map(|p| p.slug())),
                )
                .all(self.db())
                .await?;
            let mut total = Kept::default();
            for r in rows {
                if shutdown.is_stopping() {
                    break;
                }
                let Ok(provider) = r.provider.parse::<Provider>() else {
                    continue;
                };
                let target = Target {
                    tenant: Tenant {
                        user_id: r.user_id,
                        project_id: r.project_id,
                    },
                    provider,
                };
                match self.keep(target).await {
                    Ok(kept) => total += kept,
                    Err(cause) => {
                        tracing::warn!(provider = provider.slug(), %cause, what = Self::WHAT, "not kept")
                    }
                }
            }
            Ok(total)
        }
    }

    /// Runs a pass now, in the background (after a connection is made).
    fn soon(&self, shutdown: &Shutdown) {
        let (this, stop) = (self.clone(), shutdown.clone());
        shutdown.spawn(Self::WHAT, async move {
            if let Err(cause) = this.pass(&stop).await {
                tracing::warn!(%cause, what = Self::WHAT, "not kept");
            }
        });
    }

    /// Runs a pass every `every`, until shutdown.
    fn start(self, every: Duration, shutdown: &Shutdown) {
        let stop = shutdown.clone();
        shutdown.spawn(Self::WHAT, async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                match self.pass(&stop).await {
                    Ok(kept) if kept != Kept::default() => tracing::info!(
                        created = kept.created,
                        renewed = kept.renewed,
                        deleted = kept.deleted,
                        what = Self::WHAT,
                        "kept"
                    ),
                    Ok(_) => {}
                    Err(cause) => tracing::warn!(%cause, what = Self::WHAT, "not kept"),
                }
            }
        });
    }
}
