//! Connection hooks: what a provider needs done when one of its connections is made, is about
//! to end or has ended, so that the OAuth callback and `disconnectProvider` call them alike and
//! name no provider (the CRMs' `sync::FirstPass` fills a new connection's copy and erases an
//! ended one's). A `Keeper` (Graph subscriptions for Outlook and Teams, Google watches for Gmail and
//! Calendar) is a hook as it is: a connection made brings its pass forward, one ending has its
//! registrations stopped while its tokens still open. `ConnectionHooks` holds the hooks by
//! provider, built once at startup; a provider without one has nothing done.
//!
//! A new provider that registers something at connect time implements `ConnectionHook` (or
//! `Keeper`) next to what it registers and is added with `ConnectionHooks::with` in
//! `startup`; its webhook deliveries go to a `webhooks::ProviderWebhook` in
//! `changes/webhooks/<provider>.rs`, added in `Webhooks::new`.

use std::{collections::HashMap, sync::Arc};

use crate::{providers::Provider, shutdown::Shutdown, upstream::Target};

use super::keeper::Keeper;

/// What one kind of provider registration does around a connection's life.
#[async_trait::async_trait]
pub trait ConnectionHook: Send + Sync {
    /// The providers whose connections it follows.
    fn providers(&self) -> &[Provider];

    /// After a connection is stored (made or made again). It runs in the request: slow work is
    /// only scheduled, as a task of `shutdown`.
    async fn after_connect(&self, _target: Target, _shutdown: &Shutdown) {}

    /// Before a connection is forgotten, while its tokens still open. A failure is the hook's
    /// to log: the connection goes anyway.
    async fn before_disconnect(&self, _target: Target) {}

    /// After a connection is forgotten (its credentials deleted): what the gateway kept of it
    /// goes. A failure is the hook's to log.
    async fn after_disconnect(&self, _target: Target) {}
}

#[async_trait::async_trait]
impl<K: Keeper> ConnectionHook for K {
    fn providers(&self) -> &[Provider] {
        &K::PROVIDERS
    }

    async fn after_connect(&self, _target: Target, shutdown: &Shutdown) {
        self.soon(shutdown);
    }

    /// Deleting at the provider needs the tokens. One that fails is logged; the provider lets
    /// an orphaned registration expire on its own (Graph's in days, Google's in a week).
    async fn before_disconnect(&self, target: Target) {
        if let Err(cause) = self.stop(target).await {
            tracing::warn!(provider = target.provider.slug(), %cause, what = K::WHAT, "not stopped");
        }
    }
}

/// The hooks of every provider that has some, and the tasks they schedule.
#[derive(Clone)]
pub struct ConnectionHooks {
    by_provider: HashMap<Provider, Vec<Arc<dyn ConnectionHook>>>,
    shutdown: Shutdown,
}

impl ConnectionHooks {
    /// No hooks yet; what they schedule runs as tasks of `shutdown`.
    pub fn new(shutdown: Shutdown) -> Self {
        Self {
            by_provider: HashMap::new(),
            shutdown,
        }
    }

    /// Adds `hook` for each provider it follows.
    pub fn with(mut self, hook: impl ConnectionHook + 'static) -> Self {
        let hook: Arc<dyn ConnectionHook> = Arc::new(hook);
        for provider in hook.providers() {
            self.by_provider
                .entry(*provider)
                .or_default()
                .push(hook.clone());
        }
        self
    }

    fn of(&self, provider: Provider) -> &[Arc<dyn ConnectionHook>] {
        self.by_provider
            .get(&provider)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Runs the hooks of `target`'s provider after it was connected.
    pub async fn after_connect(&self, target: Target) {
        for hook in self.of(target.provider) {
            hook.after_connect(target, &self.shutdown).await;
        }
    }

    /// Runs the hooks of `target`'s provider before it is disconnected.
    pub async fn before_disconnect(&self, target: Target) {
        for hook in self.of(target.provider) {
            hook.before_disconnect(target).await;
        }
    }

    /// Runs the hooks of `target`'s provider after it was disconnected.
    pub async fn after_disconnect(&self, target: Target) {
        for hook in self.of(target.provider) {
            hook.after_disconnect(target).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use uuid::Uuid;

    use super::*;
    use crate::auth::Tenant;

    /// Records what it was asked to do.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<(&'static str, Provider)>>>);

    #[async_trait::async_trait]
    impl ConnectionHook for Recorder {
        fn providers(&self) -> &[Provider] {
            &[Provider::Outlook, Provider::Teams]
        }

        async fn after_connect(&self, target: Target, _shutdown: &Shutdown) {
            self.0.lock().unwrap().push(("connected", target.provider));
        }

        async fn before_disconnect(&self, target: Target) {
            self.0
                .lock()
                .unwrap()
                .push(("disconnecting", target.provider));
        }
    }

    fn target(provider: Provider) -> Target {
        Target {
            tenant: Tenant {
                user_id: Uuid::new_v4(),
                project_id: Uuid::new_v4(),
            },
            provider,
        }
    }

    #[tokio::test]
    async fn a_provider_runs_its_own_hooks_and_one_without_any_nothing() {
        let recorder = Recorder::default();
        let hooks = ConnectionHooks::new(Shutdown::new()).with(recorder.clone());
        hooks.after_connect(target(Provider::Teams)).await;
        hooks.before_disconnect(target(Provider::Outlook)).await;
        hooks.after_connect(target(Provider::Hubspot)).await;
        hooks.before_disconnect(target(Provider::Hubspot)).await;
        assert_eq!(
            *recorder.0.lock().unwrap(),
            [
                ("connected", Provider::Teams),
                ("disconnecting", Provider::Outlook)
            ]
        );
    }
}
