//! The sandbox's clock: real time plus an offset that `POST /_sandbox/clock` advances, so token
//! expiry, rolling windows and daily quotas can be crossed without waiting.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, NaiveTime, Utc};

#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::milliseconds(self.offset_ms.load(Ordering::Acquire))
    }

    /// Moves the clock forward (never back: windows and expiries only move one way).
    pub fn advance(&self, seconds: f64) {
        let ms = (seconds.max(0.0) * 1000.0) as i64;
        self.offset_ms.fetch_add(ms, Ordering::AcqRel);
    }

    pub fn reset(&self) {
        self.offset_ms.store(0, Ordering::Release);
    }
}

/// The latest `hour`:00 UTC that is not in the future: where seeded mail and messages end, so a
/// mailbox seeded before that hour of the day holds no mail from later today.
pub fn seed_anchor(hour: u32) -> DateTime<Utc> {
    let now = Utc::now();
    let at = NaiveTime::from_hms_opt(hour % 24, 0, 0).unwrap_or_default();
    let today = now.date_naive().and_time(at).and_utc();
    if today > now {
        today - Duration::days(1)
    } else {
        today
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_anchor_is_never_in_the_future_nor_a_day_old() {
        let now = Utc::now();
        for hour in 0..24 {
            let anchor = seed_anchor(hour);
            assert!(anchor <= Utc::now(), "{hour}");
            assert!(now - anchor < Duration::days(1), "{hour}");
            assert_eq!(
                anchor.format("%H:%M:%S").to_string(),
                format!("{hour:02}:00:00")
            );
        }
    }
}
