//! Rate classes: the providers' limits, from the catalog (`[x.limits]`), kept per connection so
//! that calls wait their turn instead of drawing the provider's 429. A class is either a rolling
//! window (`rolling.rs`: exact, for providers that count one — HubSpot's secondly limit, Gmail's
//! units per second) or a steady rate with a small burst (governor's GCRA), sized so that no
//! window of the provider's length ever holds more than its capacity: with a burst `b` and a rate
//! `r`, a window `T` holds at most `b + r·T`, so `r = (capacity − b) / T`.
//!
//! A concurrency class (`concurrent.rs`) caps the calls in flight per connection (Outlook's four
//! per mailbox); its slots are taken after every window has admitted the call, so that a call
//! waiting for room never holds one.
//!
//! Daily quotas (`daily.rs`) are counted in the database, so a restart does not reset them; what
//! is left of each is the gauge `nexus_quota_remaining{provider,class}`. Quotas the provider
//! counts itself and reports in its answers (`reported.rs`) are read after every call and cap
//! all the others.
//!
//! A call waits for room up to the stack's longest wait; when it cannot fit by then it fails at
//! once with the time it would have to wait (`RATE_LIMITED` with `retryAfter`). An admitted call
//! holds a [`Permit`] until its answer is in: its place in a rolling window is held from then
//! on for one window more, so that however late the call reached the provider, the provider's
//! count of it is over before the place is given to another call.
//!
//! Metrics, by provider and class: `nexus_rate_checks_total` (calls checked),
//! `nexus_rate_waits_total` (waits for room), `nexus_rate_limited_total` (refused) and
//! `nexus_quota_remaining`; the stack adds the 429s received, retries and breakers.

mod backend;
mod concurrent;
mod daily;
mod local;
mod named;
mod reported;
mod rolling;
pub mod settings;
mod shared;

use std::{
    collections::{BTreeMap, HashSet},
    num::NonZeroU32,
    sync::Arc,
    time::{Duration, Instant},
};

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::{
    auth::Tenant,
    config::ProviderSettings,
    providers::{Cataloged, Provider, RateClassEntry, RateKind},
};

use backend::{Backend, Held, Taken};
use reported::Reports;
pub use reported::{ReadUsage, Usage};
pub use shared::{DEGRADED, Shared};

/// Whose allowance a call spends: one connection (a user's grant in a project).
type Key = (Uuid, Uuid);

/// One rate class of one provider.
pub struct Class {
    /// Its place among every class (the local backend's engines are in this order).
    id: usize,
    provider: Provider,
    /// The one connection (`<project>/<user email>`) it counts, for a connection's own
    /// capacity; every connection of the provider otherwise.
    connection: Option<Arc<str>>,
    name: String,
    kind: RateKind,
    window: Duration,
    capacity: u32,
    /// The adapter calls (by op name) it counts; every call when absent.
    ops: Option<Vec<String>>,
    weights: BTreeMap<String, u32>,
}

impl Class {
    fn new(
        id: usize,
        provider: Provider,
        name: &str,
        entry: &RateClassEntry,
        capacity: u32,
    ) -> Self {
        Self {
            id,
            provider,
            connection: None,
            name: name.to_owned(),
            kind: entry.kind,
            window: Duration::from_millis(entry.window_ms.max(1)),
            capacity: capacity.max(1),
            ops: entry.ops.clone(),
            weights: entry.weights.clone(),
        }
    }

    fn applies(&self, op: &str) -> bool {
        self.ops
            .as_ref()
            .is_none_or(|ops| ops.iter().any(|o| o == op))
    }

    /// What a call of `op` (a batch of `parts`) spends of this class.
    fn cost(&self, op: &str, parts: &[&str]) -> u32 {
        let weight = |o: &str| {
            self.weights
                .get(o)
                .or_else(|| self.weights.get(op))
                .copied()
                .unwrap_or(1)
        };
        if parts.is_empty() {
            weight(op)
        } else {
            parts.iter().map(|p| weight(p)).fold(0, u32::saturating_add)
        }
    }
}

/// The slack added to a GCRA class's window for the time between admitting a call and its
/// arrival at the provider (which is not always in the order admitted); 1% of HubSpot's 10 s.
/// Rolling classes need none: they hold a call's place from its answer on.
const MARGIN: Duration = Duration::from_millis(100);

/// Checks `[providers.<slug>]`'s limits against the catalog: every class it sets a capacity of
/// exists, and every connection is named `<project>/<user email>`.
pub fn validate(provider: Provider, settings: &ProviderSettings) -> Result<(), String> {
    let limits = &provider.entry().limits;
    let known = |capacities: &BTreeMap<String, u32>| {
        capacities
            .keys()
            .try_for_each(|name| match limits.contains_key(name) {
                true => Ok(()),
                false => Err(format!(
                    "rate_capacity: {} has no rate class `{name}` (it has {})",
                    provider.entry().name,
                    limits.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
            })
    };
    known(&settings.rate_capacity)?;
    for (name, connection) in &settings.connections {
        named::parse(name)?;
        known(&connection.rate_capacity)?;
    }
    Ok(())
}

/// The burst and the period between cells of a GCRA that never puts more than `capacity` calls
/// in a `window`: a burst of 5% of the capacity (at least 1), the rest spread evenly.
fn gcra(window: Duration, capacity: u32) -> (NonZeroU32, Duration) {
    let burst = (capacity / 20).max(1);
    let steady = u64::from((capacity - burst).max(1));
    // Rounded up, so that the window never holds a fraction of a call too many.
    let period = Duration::from_nanos((window.as_nanos() as u64).div_ceil(steady));
    (NonZeroU32::new(burst).expect("at least 1"), period)
}

/// A call's admission: what it holds in each class (places in rolling windows, slots of
/// concurrency classes), given back when its answer is in (when the permit is dropped); a
/// rolling window's place is held from then on for one window more.
pub struct Permit<'a> {
    limits: &'a Limits,
    key: Key,
    held: Vec<(usize, Held)>,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        for (index, held) in self.held.drain(..) {
            let class = &self.limits.classes[index];
            self.limits.backend.give_back(class, &self.key, held);
        }
    }
}

/// Every provider's rate classes.
pub struct Limits {
    classes: Vec<Class>,
    /// Where the window and concurrency classes count.
    backend: Box<dyn Backend>,
    /// Providers with classes of single connections, whose callers' names are looked up.
    named: HashSet<Provider>,
    names: named::Names,
    reports: Reports,
    daily: daily::Blocks,
    db: DatabaseConnection,
}

impl Limits {
    /// The catalog's classes, with config's capacities over them, and a class of its own for
    /// each connection config gives a capacity of its own; a provider whose `rate_limits` is off
    /// gets none. They count in Redis when `shared` is given, else in this process.
    pub fn new(
        settings: &BTreeMap<Provider, ProviderSettings>,
        db: DatabaseConnection,
        shared: Option<Arc<Shared>>,
    ) -> Self {
        let mut classes = Vec::new();
        let mut named = HashSet::new();
        for provider in Provider::ALL {
            let overrides = settings.get(&provider);
            if overrides.and_then(|s| s.rate_limits) == Some(false) {
                continue;
            }
            let limits = &provider.entry().limits;
            for (name, entry) in limits {
                let capacity = overrides
                    .and_then(|s| s.rate_capacity.get(name).copied())
                    .unwrap_or(entry.capacity);
                classes.push(Class::new(classes.len(), provider, name, entry, capacity));
            }
            for (connection, own) in overrides.iter().flat_map(|s| &s.connections) {
                let connection: Arc<str> = named::normalized(connection).into();
                for (name, capacity) in &own.rate_capacity {
                    if let Some(entry) = limits.get(name) {
                        named.insert(provider);
                        classes.push(Class {
                            connection: Some(connection.clone()),
                            ..Class::new(classes.len(), provider, name, entry, *capacity)
                        });
                    }
                }
            }
        }
        let backend: Box<dyn Backend> = match shared {
            Some(shared) => Box::new(shared::Redis::new(shared, &classes)),
            None => Box::new(local::Local::new(&classes, 1)),
        };
        Self {
            classes,
            backend,
            named,
            names: named::Names::new(db.clone()),
            reports: Reports::default(),
            daily: daily::Blocks::default(),
            db,
        }
    }

    /// Waits until a call of `op` (a batch of `parts`: their ops) fits every class of
    /// `provider` it counts against, for at most `max_wait`; else returns how long the caller
    /// would have to wait. Keep the permit until the call's answer is in.
    pub async fn acquire(
        &self,
        provider: Provider,
        tenant: Tenant,
        op: &str,
        parts: &[&str],
        max_wait: Duration,
    ) -> Result<Permit<'_>, Duration> {
        let key = (tenant.user_id, tenant.project_id);
        let mut permit = Permit {
            limits: self,
            key,
            held: Vec::new(),
        };
        if let Some(spent) = self.reports.spent(provider, key) {
            metrics::counter!("nexus_rate_limited_total", "provider" => provider.slug(), "class" => spent.class)
                .increment(1);
            return Err(daily::until_tomorrow());
        }
        let started = Instant::now();
        let connection = self.connection_name(provider, key).await;
        // A connection's own class of a name stands in for the provider's.
        let own: HashSet<&str> = self
            .classes
            .iter()
            .filter(|c| c.provider == provider && c.connection.is_some())
            .filter(|c| c.connection == connection)
            .map(|c| c.name.as_str())
            .collect();
        let mut classes: Vec<(usize, &Class)> = self
            .classes
            .iter()
            .enumerate()
            .filter(|(_, c)| c.provider == provider && c.applies(op))
            .filter(|(_, c)| match &c.connection {
                Some(_) => c.connection == connection,
                None => !own.contains(c.name.as_str()),
            })
            .collect();
        // Slots in flight last: a call waiting for a window's room must not hold one.
        classes.sort_by_key(|(_, c)| c.kind == RateKind::Concurrent);
        // The upstream call's span (for traces) names the classes that count it.
        let names: Vec<&str> = classes.iter().map(|(_, c)| c.name.as_str()).collect();
        tracing::Span::current().record("rate_class", names.join(","));
        for (index, class) in classes {
            let cost = class.cost(op, parts);
            metrics::counter!("nexus_rate_checks_total", "provider" => provider.slug(), "class" => class.name.clone())
                .increment(1);
            if class.kind == RateKind::Concurrent {
                let left = max_wait.saturating_sub(started.elapsed());
                match self.backend.take(class, &key, cost, left).await {
                    Taken::Free(slots) => permit.held.push((index, slots)),
                    Taken::Waited(slots) => {
                        metrics::counter!("nexus_rate_waits_total", "provider" => provider.slug(), "class" => class.name.clone())
                            .increment(1);
                        permit.held.push((index, slots));
                    }
                    Taken::TimedOut => {
                        metrics::counter!("nexus_rate_limited_total", "provider" => provider.slug(), "class" => class.name.clone())
                            .increment(1);
                        return Err(Duration::from_secs(1));
                    }
                }
                continue;
            }
            if class.kind == RateKind::Daily {
                let capacity = class.capacity;
                let scope = format!("{}:{}:{}", provider.slug(), key.0, key.1);
                match self
                    .daily
                    .spend(&self.db, &scope, &class.name, cost, capacity)
                    .await
                {
                    Ok(Some(used)) => {
                        metrics::gauge!("nexus_quota_remaining", "provider" => provider.slug(), "class" => class.name.clone())
                            .set(u64::from(capacity).saturating_sub(used) as f64);
                        continue;
                    }
                    Ok(None) => {
                        metrics::gauge!("nexus_quota_remaining", "provider" => provider.slug(), "class" => class.name.clone())
                            .set(0.0);
                        metrics::counter!("nexus_rate_limited_total", "provider" => provider.slug(), "class" => class.name.clone())
                            .increment(1);
                        return Err(daily::until_tomorrow());
                    }
                    // The provider still counts: a failing store must not stop every call.
                    Err(error) => {
                        tracing::warn!(%error, class = %class.name, "daily quota not counted");
                        continue;
                    }
                }
            }
            loop {
                match self.backend.admit(class, &key, cost).await {
                    Ok(held) => {
                        permit.held.push((index, held));
                        break;
                    }
                    Err(wait) => {
                        let wait = wait.unwrap_or(class.window);
                        if started.elapsed() + wait > max_wait {
                            metrics::counter!("nexus_rate_limited_total", "provider" => provider.slug(), "class" => class.name.clone())
                                .increment(1);
                            return Err(wait);
                        }
                        metrics::counter!("nexus_rate_waits_total", "provider" => provider.slug(), "class" => class.name.clone())
                            .increment(1);
                        // At least a millisecond: the timer's grain.
                        tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
                    }
                }
            }
        }
        Ok(permit)
    }

    /// The name of the connection `key` when `provider` has classes of single connections.
    async fn connection_name(&self, provider: Provider, key: Key) -> Option<Arc<str>> {
        if !self.named.contains(&provider) {
            return None;
        }
        match self.names.of(key).await {
            Ok(name) => Some(name),
            Err(error) => {
                tracing::warn!(%error, "a connection's own limits not looked up");
                None
            }
        }
    }

    /// Takes in what the provider reported of a connection's usage in an answer.
    pub fn report(&self, provider: Provider, tenant: Tenant, usage: Usage) {
        metrics::gauge!("nexus_quota_remaining", "provider" => provider.slug(), "class" => usage.class)
            .set(usage.remaining() as f64);
        self.reports
            .record(provider, (tenant.user_id, tenant.project_id), usage);
    }

    /// Forgets connections that have been quiet for a window (call from time to time).
    pub fn retain_recent(&self) {
        self.backend.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gcra_never_overfills_the_providers_window() {
        // (Small capacities in short windows are what the rolling window is for.)
        for (window_s, capacity) in [(10, 100), (60, 20), (60, 50)] {
            let window = Duration::from_secs(window_s);
            let (burst, period) = gcra(window + MARGIN, capacity);
            let most = burst.get() as f64 + window.as_secs_f64() / period.as_secs_f64();
            assert!(most <= capacity as f64, "{capacity}/{window_s}s: {most}");
            let long_run = window.as_secs_f64() / period.as_secs_f64();
            assert!(
                long_run / capacity as f64 >= 0.9,
                "{capacity}/{window_s}s uses {long_run}"
            );
        }
        let (burst, period) = gcra(Duration::from_secs(10) + MARGIN, 100);
        assert_eq!(burst.get(), 5);
        let share = 10.0 / period.as_secs_f64() / 100.0;
        assert!(share > 0.94, "about 95% of HubSpot's rate: {share}");
    }
}
