//! The sandbox's clock: real time plus an offset that `POST /_sandbox/clock` advances, so token
//! expiry, rolling windows and daily quotas can be crossed without waiting.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

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
