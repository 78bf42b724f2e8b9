//! Per-caller limits: how many requests each authenticated caller may make, counted by the
//! credential rather than by the address it comes from.
//!
//! A caller is an API key (by its id) or a JWT's subject (the user its token names); every
//! request that authenticates spends from its caller's allowance, whatever route it takes
//! (GraphQL over HTTP, a WebSocket's `connection_init`). The allowance is governor's GCRA: a
//! steady `auth.rate_limit_per_key` requests per second, and `auth.rate_limit_burst` at once
//! above it. A request over it is refused with the time until the caller's next request would
//! be admitted. Limits are off unless the operator sets a rate: one server-side key may carry a
//! whole frontend's traffic.
//!
//! governor keeps a cell per caller it has seen; [`CallerLimits::keep`] runs a task that, once a
//! minute, drops the cells of callers whose allowance has refilled (they are indistinguishable
//! from a caller never seen) and gives the memory back, so the store holds only recent callers.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};
use uuid::Uuid;

use crate::{config::AuthSettings, shutdown::Shutdown};

/// How often callers whose allowance has refilled are forgotten.
const TRIM_EVERY: Duration = Duration::from_secs(60);

/// Whose allowance a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Caller {
    /// An API key, by its id.
    ApiKey(Uuid),
    /// A JWT's subject: the user its token names.
    Subject(Uuid),
}

/// `auth.rate_limit_*` settings that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum LimitConfigError {
    #[error("auth.rate_limit_per_key must be at least 1 (leave it unset for no limit)")]
    ZeroRate,
    #[error("auth.rate_limit_burst must be at least 1")]
    ZeroBurst,
    #[error("auth.rate_limit_burst needs auth.rate_limit_per_key")]
    BurstWithoutRate,
}

/// The allowance of every caller.
#[derive(Clone)]
pub struct CallerLimits {
    limiter: Arc<DefaultKeyedRateLimiter<Caller>>,
}

impl CallerLimits {
    /// The limits `[auth]` sets; `None` when no rate is set.
    pub fn from_settings(auth: &AuthSettings) -> Result<Option<Self>, LimitConfigError> {
        let Some(rate) = auth.rate_limit_per_key else {
            return match auth.rate_limit_burst {
                Some(_) => Err(LimitConfigError::BurstWithoutRate),
                None => Ok(None),
            };
        };
        let rate = NonZeroU32::new(rate).ok_or(LimitConfigError::ZeroRate)?;
        let burst = match auth.rate_limit_burst {
            Some(burst) => NonZeroU32::new(burst).ok_or(LimitConfigError::ZeroBurst)?,
            None => rate,
        };
        let quota = Quota::per_second(rate).allow_burst(burst);
        Ok(Some(Self {
            limiter: Arc::new(RateLimiter::keyed(quota)),
        }))
    }

    /// Spends one request of `caller`'s allowance; when it is spent, how long until the next
    /// request would be admitted.
    pub fn admit(&self, caller: Caller) -> Result<(), Duration> {
        self.limiter
            .check_key(&caller)
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }

    /// Callers currently remembered.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    /// Whether no caller is remembered.
    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }

    /// Forgets callers whose allowance has refilled, and gives their memory back.
    pub fn trim(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Trims the store every minute, as a task of `shutdown`.
    pub fn keep(&self, shutdown: &Shutdown) {
        let limits = self.clone();
        let stop = shutdown.clone();
        shutdown.spawn("caller_limits", async move {
            let mut every = tokio::time::interval(TRIM_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = every.tick() => limits.trim(),
                }
            }
        });
    }
}

/// Seconds a client should wait, as `Retry-After` says it: whole seconds, rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rate: u32, burst: Option<u32>) -> CallerLimits {
        CallerLimits::from_settings(&AuthSettings {
            rate_limit_per_key: Some(rate),
            rate_limit_burst: burst,
            ..AuthSettings::default()
        })
        .unwrap()
        .unwrap()
    }

    #[test]
    fn a_caller_over_its_burst_waits_and_others_do_not() {
        let limits = limits(1, Some(3));
        let (a, b) = (
            Caller::ApiKey(Uuid::new_v4()),
            Caller::Subject(Uuid::new_v4()),
        );
        for _ in 0..3 {
            limits.admit(a).unwrap();
        }
        let wait = limits.admit(a).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        limits.admit(b).unwrap();
        assert_eq!(limits.len(), 2);
    }

    #[test]
    fn trimming_forgets_callers_whose_allowance_refilled() {
        let limits = limits(1_000_000, Some(1));
        limits.admit(Caller::ApiKey(Uuid::new_v4())).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        limits.trim();
        assert!(limits.is_empty());
    }

    #[test]
    fn settings_that_cannot_work_are_refused() {
        let settings = |rate, burst| AuthSettings {
            rate_limit_per_key: rate,
            rate_limit_burst: burst,
            ..AuthSettings::default()
        };
        assert!(
            CallerLimits::from_settings(&settings(None, None))
                .unwrap()
                .is_none()
        );
        assert!(CallerLimits::from_settings(&settings(Some(0), None)).is_err());
        assert!(CallerLimits::from_settings(&settings(Some(5), Some(0))).is_err());
        assert!(CallerLimits::from_settings(&settings(None, Some(5))).is_err());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2_001)), 3);
    }
}
