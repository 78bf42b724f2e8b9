//! The shared backend: every rate class counted in one Redis, so that several gateways spend
//! one provider account's allowance together instead of each spending all of it. Each decision
//! is one round trip: a Lua script (`scripts/*.lua`) that reads the class's state, decides and
//! writes atomically, with Redis's clock as the one clock of every gateway. Scripts are sent by
//! their SHA (`EVALSHA`) and loaded only when Redis does not know them yet — once, and again
//! after Redis restarts. Keys are `nexus:limits:<provider>:<class>:<user id>:<project id>`: one
//! provider account's allowance (a connection's own capacity, where config sets one, stands in
//! for its provider's class of that name, so the key is the same).
//!
//! Redis counts as unreachable when its connection fails (refused, closed) or when it has sent
//! no answer at all for [`SILENT_TIMEOUTS`] × `redis.timeout_ms` while a call waited. A slow
//! answer is not an outage: on a loaded machine a round trip can take longer than the timeout,
//! and a call that waits out one timeout keeps waiting as long as Redis answers anything (its
//! answers come in order on the one connection, so this call's comes too). Flipping on every slow
//! answer would cost far more than the wait: each flip holds window classes for a window. Once
//! unreachable, the gateway logs it once, sets `nexus_limits_degraded` to 1, tells `/readyz`,
//! and counts in its own memory with each capacity divided by `limits.assumed_instances` — so
//! the gateways together stay within the allowance, never unlimited. A window class's local
//! share starts one window after Redis was lost: the window Redis counted last may be full. While degraded, one call a
//! second (or a `/readyz`) tries Redis again; the first answer puts the limits back on Redis.
//! Places held in flight carry a lease ([`LEASE`]), so that a gateway that dies mid-call does
//! not hold them for ever.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;
use redis::{Script, aio::ConnectionManager, aio::ConnectionManagerConfig};

use crate::providers::RateKind;

use super::{
    Class, Key, MARGIN,
    backend::{Backend, Held, Taken},
    gcra,
    local::Local,
    settings::SharedSettings,
};

/// How long a call in flight may hold its place or slots before they are given back without it.
pub const LEASE: Duration = Duration::from_secs(120);

/// How many timeouts (`redis.timeout_ms`) without any answer from Redis make it unreachable.
pub const SILENT_TIMEOUTS: u32 = 3;

/// How often a degraded gateway tries Redis again.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// How long a waiting call sleeps between tries for a concurrency class's slot.
const SLOT_POLL: Duration = Duration::from_millis(20);

/// The gauge that says this gateway counts its limits locally because Redis is unreachable.
pub const DEGRADED: &str = "nexus_limits_degraded";

struct Scripts {
    gcra: Script,
    rolling_admit: Script,
    rolling_finish: Script,
    slots_take: Script,
}

/// The connection to Redis and whether it answers: one per gateway, shared by the limiter and
/// `/readyz`.
pub struct Shared {
    redis: ConnectionManager,
    timeout: Duration,
    assumed_instances: u32,
    scripts: Scripts,
    degraded: AtomicBool,
    /// When Redis was last found unreachable.
    lost_at: Mutex<Instant>,
    next_probe: Mutex<Instant>,
    /// When Redis last answered anything.
    heard_at: Mutex<Instant>,
}

impl Shared {
    /// A connection that is made on first use (an unreachable Redis at startup only degrades).
    pub fn new(settings: SharedSettings) -> Result<Arc<Self>, String> {
        // No response timeout in the manager: one would drop the connection, and every call on
        // it, at the first slow answer. Each call's own timeout decides instead.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(None)
            .set_number_of_retries(1)
            .set_max_delay(PROBE_EVERY);
        let redis = settings
            .client
            .get_connection_manager_lazy(config)
            .map_err(|e| format!("Redis connection: {}", e.category()))?;
        Ok(Arc::new(Self {
            redis,
            timeout: settings.timeout,
            assumed_instances: settings.assumed_instances,
            scripts: Scripts {
                gcra: Script::new(include_str!("scripts/gcra.lua")),
                rolling_admit: Script::new(include_str!("scripts/rolling_admit.lua")),
                rolling_finish: Script::new(include_str!("scripts/rolling_finish.lua")),
                slots_take: Script::new(include_str!("scripts/slots_take.lua")),
            },
            degraded: AtomicBool::new(false),
            lost_at: Mutex::new(Instant::now()),
            next_probe: Mutex::new(Instant::now()),
            heard_at: Mutex::new(Instant::now()),
        }))
    }

    /// Whether the limits count in Redis now (else in this gateway's share), asking Redis
    /// (while degraded, only when a try is due).
    pub async fn on_redis(&self) -> bool {
        if self.usable() {
            let mut redis = self.redis.clone();
            let command = redis::cmd("PING");
            self.ask(command.query_async::<String>(&mut redis)).await;
        }
        !self.degraded.load(Ordering::Relaxed)
    }

    /// Whether to ask Redis: always when it answers; once a second (this call claims the try)
    /// while it does not.
    fn usable(&self) -> bool {
        if !self.degraded.load(Ordering::Relaxed) {
            return true;
        }
        let mut next = self.next_probe.lock().expect("probe lock");
        let now = Instant::now();
        if now < *next {
            return false;
        }
        *next = now + PROBE_EVERY;
        true
    }

    /// Takes in whether Redis answered: logs and flags the change, once each way.
    fn outcome(&self, answer: Result<(), String>) {
        // Set on every answer, not only on a change: the gauge exists once `/metrics` does.
        metrics::gauge!(DEGRADED).set(if answer.is_ok() { 0.0 } else { 1.0 });
        match answer {
            Ok(()) => {
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!("Redis answers again: rate limits are shared again");
                }
            }
            Err(reason) => {
                *self.next_probe.lock().expect("probe lock") = Instant::now() + PROBE_EVERY;
                if !self.degraded.swap(true, Ordering::Relaxed) {
                    *self.lost_at.lock().expect("lost lock") = Instant::now();
                    tracing::error!(
                        %reason,
                        assumed_instances = self.assumed_instances,
                        "Redis unreachable: rate limits fall back to this gateway's share of each allowance"
                    );
                }
            }
        }
    }

    /// Runs `script` with `key` and `args`; `None` when Redis is unreachable (and the gateway
    /// is degraded from then on).
    async fn run(&self, script: &Script, key: &str, args: &[String]) -> Option<i64> {
        if !self.usable() {
            return None;
        }
        let mut invocation = script.key(key);
        for arg in args {
            invocation.arg(arg);
        }
        let mut redis = self.redis.clone();
        self.ask(invocation.invoke_async(&mut redis)).await
    }

    /// Waits for Redis's answer to `request`; `None` when its connection failed, or when Redis
    /// has been silent for [`SILENT_TIMEOUTS`] timeouts since the request was sent (a degraded
    /// gateway's try waits one timeout only).
    async fn ask<T>(&self, request: impl Future<Output = redis::RedisResult<T>>) -> Option<T> {
        let sent = Instant::now();
        let silence = self.timeout * SILENT_TIMEOUTS;
        tokio::pin!(request);
        loop {
            match tokio::time::timeout(self.timeout, &mut request).await {
                Ok(Ok(value)) => {
                    *self.heard_at.lock().expect("heard lock") = Instant::now();
                    self.outcome(Ok(()));
                    return Some(value);
                }
                Ok(Err(error)) => {
                    self.outcome(Err(error.category().to_owned()));
                    return None;
                }
                Err(_) => {
                    let heard = (*self.heard_at.lock().expect("heard lock")).max(sent);
                    if self.degraded.load(Ordering::Relaxed) || heard.elapsed() >= silence {
                        self.outcome(Err(format!("no answer for {:?}", heard.elapsed())));
                        return None;
                    }
                }
            }
        }
    }
}

/// The shared backend, with its local fallback.
pub struct Redis {
    shared: Arc<Shared>,
    fallback: Local,
}

impl Redis {
    pub fn new(shared: Arc<Shared>, classes: &[Class]) -> Self {
        let fallback = Local::new(classes, shared.assumed_instances);
        Self { shared, fallback }
    }
}

/// The key of a class's count for one provider account.
fn key_of(class: &Class, key: &Key) -> String {
    format!(
        "nexus:limits:{}:{}:{}:{}",
        class.provider.slug(),
        class.name,
        key.0.simple(),
        key.1.simple()
    )
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// A script's verdict: 0 admitted, -1 never, else the wait in microseconds.
fn verdict(value: i64, held: Held) -> Result<Held, Option<Duration>> {
    match value {
        0 => Ok(held),
        v if v < 0 => Err(None),
        wait => Err(Some(Duration::from_micros(wait.unsigned_abs()))),
    }
}

#[async_trait]
impl Backend for Redis {
    async fn admit(&self, class: &Class, key: &Key, cost: u32) -> Result<Held, Option<Duration>> {
        let scripts = &self.shared.scripts;
        let redis_key = key_of(class, key);
        let id = uuid::Uuid::new_v4().simple().to_string();
        let answer = match class.kind {
            RateKind::Gcra => {
                if cost == 0 {
                    return Ok(Held::Nothing);
                }
                let (burst, period) = gcra(class.window + MARGIN, class.capacity.max(1));
                let args = [
                    micros(period).max(1).to_string(),
                    burst.get().to_string(),
                    cost.to_string(),
                ];
                self.shared
                    .run(&scripts.gcra, &redis_key, &args)
                    .await
                    .map(|v| verdict(v, Held::Nothing))
            }
            RateKind::Rolling => {
                let args = [
                    micros(class.window).to_string(),
                    class.capacity.max(1).to_string(),
                    cost.to_string(),
                    id.clone(),
                    micros(LEASE).to_string(),
                ];
                self.shared
                    .run(&scripts.rolling_admit, &redis_key, &args)
                    .await
                    .map(|v| {
                        verdict(
                            v,
                            Held::Shared {
                                key: redis_key.clone(),
                                id,
                                cost,
                            },
                        )
                    })
            }
            RateKind::Daily | RateKind::Concurrent => return Ok(Held::Nothing),
        };
        match answer {
            Some(verdict) => verdict,
            None => {
                // The window Redis last counted may be full: the local share starts when it
                // has passed, so that the switch does not spend the allowance twice.
                let lost = self.shared.lost_at.lock().expect("lost lock").elapsed();
                match class.window.checked_sub(lost) {
                    Some(left) if !left.is_zero() => Err(Some(left)),
                    _ => self.fallback.admit(class, key, cost).await,
                }
            }
        }
    }

    async fn take(&self, class: &Class, key: &Key, n: u32, max_wait: Duration) -> Taken {
        let started = Instant::now();
        let redis_key = key_of(class, key);
        let n = n.clamp(1, class.capacity.max(1));
        let mut waited = false;
        loop {
            let id = uuid::Uuid::new_v4().simple().to_string();
            let args = [
                class.capacity.max(1).to_string(),
                n.to_string(),
                id.clone(),
                micros(LEASE).to_string(),
            ];
            match self
                .shared
                .run(&self.shared.scripts.slots_take, &redis_key, &args)
                .await
            {
                Some(1) => {
                    let held = Held::Shared {
                        key: redis_key,
                        id,
                        cost: n,
                    };
                    return if waited {
                        Taken::Waited(held)
                    } else {
                        Taken::Free(held)
                    };
                }
                Some(_) => {}
                None => {
                    let left = max_wait.saturating_sub(started.elapsed());
                    return self.fallback.take(class, key, n, left).await;
                }
            }
            if started.elapsed() + SLOT_POLL > max_wait {
                return Taken::TimedOut;
            }
            waited = true;
            tokio::time::sleep(SLOT_POLL).await;
        }
    }

    fn give_back(&self, class: &Class, key: &Key, held: Held) {
        let Held::Shared {
            key: redis_key,
            id,
            cost,
        } = held
        else {
            return self.fallback.give_back(class, key, held);
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Without a runtime the lease gives it back.
            return;
        };
        let shared = self.shared.clone();
        let kind = class.kind;
        let window = class.window;
        let answered = Instant::now();
        runtime.spawn(async move {
            let mut redis = shared.redis.clone();
            let given = async {
                match kind {
                    // The window runs from the answer, not from when this task gets to run:
                    // on a loaded host that can be a good part of a one-second window later.
                    RateKind::Rolling => shared
                        .scripts
                        .rolling_finish
                        .key(&redis_key)
                        .arg(&id)
                        .arg(cost)
                        .arg(micros(window.saturating_sub(answered.elapsed())))
                        .invoke_async::<i64>(&mut redis)
                        .await
                        .map(drop),
                    _ => redis::cmd("ZREM")
                        .arg(&redis_key)
                        .arg(format!("{id}:{cost}"))
                        .query_async::<i64>(&mut redis)
                        .await
                        .map(drop),
                }
            };
            // Unanswered, the lease gives it back.
            let _ = tokio::time::timeout(shared.timeout, given).await;
        });
    }

    fn retain_recent(&self) {
        // Redis expires its keys itself.
        self.fallback.retain_recent();
    }
}
