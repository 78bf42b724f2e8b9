//! Rolling windows, counted as providers count them: a request is allowed when fewer than
//! `limit` requests fall in the last `window` (HubSpot's "ten secondly rolling" is this, not a
//! token bucket with a burst).

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};

/// Every rolling window of one provider, keyed by (account, rate class).
#[derive(Debug, Default)]
pub struct Windows {
    hits: HashMap<(String, &'static str), VecDeque<DateTime<Utc>>>,
}

/// The outcome of counting one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowState {
    pub allowed: bool,
    /// Requests left in the window after this one.
    pub remaining: u32,
    /// When the oldest counted request leaves the window.
    pub retry_after: Duration,
}

impl Windows {
    /// Counts a request at `now` if the window has room.
    pub fn hit(
        &mut self,
        account: &str,
        class: &'static str,
        limit: u32,
        window: Duration,
        now: DateTime<Utc>,
    ) -> WindowState {
        let hits = self.hits.entry((account.to_owned(), class)).or_default();
        while hits.front().is_some_and(|t| *t <= now - window) {
            hits.pop_front();
        }
        let retry_after = hits
            .front()
            .map_or(Duration::zero(), |oldest| *oldest + window - now);
        if hits.len() as u32 >= limit {
            return WindowState {
                allowed: false,
                remaining: 0,
                retry_after,
            };
        }
        hits.push_back(now);
        WindowState {
            allowed: true,
            remaining: limit - hits.len() as u32,
            retry_after,
        }
    }

    /// Counts `n` requests made at `now` elsewhere (another app of the same account), limits aside.
    pub fn record(&mut self, account: &str, class: &'static str, n: u32, now: DateTime<Utc>) {
        let hits = self.hits.entry((account.to_owned(), class)).or_default();
        hits.extend(std::iter::repeat_n(now, n as usize));
    }

    /// How many requests of a class fall in the window now, without counting one.
    pub fn count(
        &mut self,
        account: &str,
        class: &'static str,
        window: Duration,
        now: DateTime<Utc>,
    ) -> u32 {
        let hits = self.hits.entry((account.to_owned(), class)).or_default();
        while hits.front().is_some_and(|t| *t <= now - window) {
            hits.pop_front();
        }
        hits.len() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rolling_window_frees_slots_as_requests_age_out() {
        let mut w = Windows::default();
        let t0 = Utc::now();
        let ten = Duration::seconds(10);
        for i in 0..100 {
            assert!(
                w.hit("a", "x", 100, ten, t0 + Duration::milliseconds(i * 50))
                    .allowed
            );
        }
        let refused = w.hit("a", "x", 100, ten, t0 + Duration::seconds(9));
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, Duration::seconds(1));
        assert!(
            w.hit("b", "x", 100, ten, t0 + Duration::seconds(9)).allowed,
            "per account"
        );
        assert!(
            w.hit("a", "x", 100, ten, t0 + Duration::seconds(10))
                .allowed,
            "the first aged out"
        );
        assert!(
            !w.hit("a", "x", 100, ten, t0 + Duration::milliseconds(10_010))
                .allowed
        );
    }
}
