//! When a failed call is tried again, and after how long: only temporary failures (429, 502, 503,
//! 504, connection errors, timeouts), only when repeating cannot do harm (an idempotent call, or a
//! refusal that proves the provider did nothing: 429, or a connection never made), honouring the
//! provider's `Retry-After`, else exponential backoff with full jitter (backon). A wait that would
//! go past the call's budget is not taken: the error goes up with its `retryAfter`.
//!
//! The gateway's own refusals are never retried: a call its rate classes could not fit within
//! the longest wait has already waited that long, and trying again would only wait out the same
//! limit once more. It goes up at once as `RATE_LIMITED` with its `retryAfter`.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

use super::error::{ErrorKind, ProviderError};

/// How a failure came about, as far as repeating it goes.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub error: ProviderError,
    /// The provider certainly did not act on the request (it refused it, or it never arrived).
    pub not_acted_on: bool,
    /// The gateway's own limits refused the call before it was sent: final, never retried.
    pub refused_here: bool,
}

impl Attempt {
    /// A failure of the call at the provider (or on the way to it): retried by the rules.
    pub fn upstream(error: ProviderError, not_acted_on: bool) -> Self {
        Self {
            error,
            not_acted_on,
            refused_here: false,
        }
    }

    /// The gateway's own refusal of the call (its rate classes had no room in time).
    pub fn refused_here(error: ProviderError) -> Self {
        Self {
            error,
            not_acted_on: true,
            refused_here: true,
        }
    }
}

/// The retry rules of one provider.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_retries: usize,
    /// The longest the stack waits before one retry, Retry-After included.
    pub max_wait: Duration,
}

impl RetryPolicy {
    /// The backoff schedule: 100 ms doubling, full jitter.
    pub fn backoff(&self) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(self.max_wait)
            .with_jitter()
            .with_max_times(self.max_retries)
            .build()
    }

    /// How long to wait before trying `attempt`'s call again, or `None` to give up.
    pub fn wait(
        &self,
        attempt: &Attempt,
        idempotent: bool,
        backoff: Option<Duration>,
    ) -> Option<Duration> {
        let error = &attempt.error;
        if attempt.refused_here || !error.temporary() {
            return None;
        }
        let harmless = idempotent || attempt.not_acted_on || error.kind == ErrorKind::RateLimited;
        if !harmless {
            return None;
        }
        let backoff = backoff?;
        let wait = error.retry_after.unwrap_or(backoff);
        (wait <= self.max_wait).then_some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Provider;

    fn attempt(kind: ErrorKind, retry_after: Option<u64>, not_acted_on: bool) -> Attempt {
        let mut error = ProviderError::new(kind, Provider::Hubspot, "test", "x");
        error.retry_after = retry_after.map(Duration::from_secs);
        Attempt::upstream(error, not_acted_on)
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 2,
            max_wait: Duration::from_secs(10),
        }
    }

    #[test]
    fn retry_after_is_honoured_exactly() {
        let wait = policy().wait(
            &attempt(ErrorKind::RateLimited, Some(2), true),
            true,
            Some(Duration::from_millis(150)),
        );
        assert_eq!(wait, Some(Duration::from_secs(2)));
    }

    #[test]
    fn a_wait_past_the_budget_is_not_taken() {
        let wait = policy().wait(
            &attempt(ErrorKind::RateLimited, Some(60), true),
            true,
            Some(Duration::from_millis(150)),
        );
        assert_eq!(wait, None);
    }

    #[test]
    fn permanent_failures_and_unsafe_writes_are_not_retried() {
        let p = policy();
        let some = Some(Duration::from_millis(100));
        assert_eq!(
            p.wait(&attempt(ErrorKind::Invalid, None, true), true, some),
            None
        );
        assert_eq!(
            p.wait(&attempt(ErrorKind::Unavailable, None, false), false, some),
            None,
            "a 503 to a create may have created"
        );
        assert!(
            p.wait(&attempt(ErrorKind::Unavailable, None, true), false, some)
                .is_some()
        );
        assert!(
            p.wait(&attempt(ErrorKind::RateLimited, None, false), false, some)
                .is_some()
        );
        assert_eq!(
            p.wait(&attempt(ErrorKind::Unavailable, None, false), true, None),
            None
        );
    }

    #[test]
    fn the_gateways_own_refusal_is_final_even_with_a_short_wait() {
        let mut error = ProviderError::new(ErrorKind::RateLimited, Provider::Hubspot, "test", "x");
        error.retry_after = Some(Duration::from_millis(300));
        let some = Some(Duration::from_millis(100));
        assert_eq!(
            policy().wait(&Attempt::refused_here(error.clone()), true, some),
            None
        );
        assert!(
            policy()
                .wait(&Attempt::upstream(error, true), true, some)
                .is_some(),
            "the provider's own 429 with the same wait is retried"
        );
    }

    #[test]
    fn the_backoff_schedule_is_bounded() {
        let delays: Vec<_> = policy().backoff().collect();
        assert_eq!(delays.len(), 2);
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(10)));
    }
}
