//! Gmail's per-user quota: quota units per rolling second, each method weighted by its cost
//! (send 100, list and get 5, history 2, labels 1, ...). A call is refused when its units would
//! take the user's last second over the limit; refused calls cost nothing.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};

/// The spec's per-user limit: 250 units per user per second (moving average).
pub const UNITS_PER_SECOND: u32 = 250;

#[derive(Debug, Default)]
pub struct Quota {
    spent: HashMap<String, VecDeque<(DateTime<Utc>, u32)>>,
}

impl Quota {
    /// Spends `units` for `user` at `now`, or tells when the window frees enough of them.
    pub fn spend(
        &mut self,
        user: &str,
        units: u32,
        now: DateTime<Utc>,
    ) -> Result<(), DateTime<Utc>> {
        let window = Duration::seconds(1);
        let spent = self.spent.entry(user.to_owned()).or_default();
        while spent.front().is_some_and(|(t, _)| *t <= now - window) {
            spent.pop_front();
        }
        let total: u32 = spent.iter().map(|(_, u)| u).sum();
        if total + units <= UNITS_PER_SECOND {
            spent.push_back((now, units));
            return Ok(());
        }
        // The moment enough of the oldest spending has aged out.
        let mut freed = 0;
        for (t, u) in spent.iter() {
            freed += u;
            if total - freed + units <= UNITS_PER_SECOND {
                return Err(*t + window);
            }
        }
        Err(now + window)
    }

    pub fn clear(&mut self) {
        self.spent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_weighted_and_age_out_after_a_second() {
        let mut q = Quota::default();
        let t0 = Utc::now();
        assert!(q.spend("a", 100, t0).is_ok());
        assert!(q.spend("a", 100, t0 + Duration::milliseconds(100)).is_ok());
        let refused = q.spend("a", 100, t0 + Duration::milliseconds(200));
        assert_eq!(
            refused,
            Err(t0 + Duration::seconds(1)),
            "the first send frees room"
        );
        assert!(
            q.spend("a", 50, t0 + Duration::milliseconds(200)).is_ok(),
            "exactly 250"
        );
        assert!(
            q.spend("b", 100, t0 + Duration::milliseconds(200)).is_ok(),
            "per user"
        );
        assert!(q.spend("a", 100, t0 + Duration::seconds(1)).is_ok());
    }
}
